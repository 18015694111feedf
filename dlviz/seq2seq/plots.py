"""Figures of the seq2seq page (pure functions of results): the decoder's attention beside the true
alignment, and exact-match accuracy against input length with and without attention on one chart --
Bahdanau, Cho & Bengio (2015) Fig. 2 in miniature."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.plotting import PALETTE
from dlviz.seq2seq.core import LengthCurve
from dlviz.seq2seq.views import AttentionView


def alignment_figure(v: AttentionView, height: int | None = None) -> go.Figure:
    """Two heatmaps: the attention alpha_tj (rows: output steps, columns: source tokens) and the truth."""
    S = len(v.src_labels)
    h = height or int(min(720, 160 + 22 * max(len(v.out_labels), len(v.true_labels), 4)))
    fig = make_subplots(1, 2, subplot_titles=("the decoder's attention α<sub>tj</sub>", "the true alignment"),
                        horizontal_spacing=0.08)
    for col, (z, rows) in enumerate(((v.alpha, v.out_labels), (v.truth, v.true_labels)), start=1):
        z = np.asarray(z)
        if not len(rows):
            continue
        ys = [r.replace("\u200b", "") for r in rows]                     # numeric axes: repeats may stay
        xs = [c.replace("\u200b", "") for c in v.src_labels]
        hover = [[f"output {i} '{ys[i]}' ← source {j} '{xs[j]}'" for j in range(S)] for i in range(len(ys))]
        fig.add_trace(go.Heatmap(z=z, zmin=0, zmax=1, colorscale="Blues", text=hover,
                                 showscale=col == 1, colorbar=dict(title="weight", len=0.8),
                                 hovertemplate="%{text}: %{z:.3f}<extra></extra>"), 1, col)
        fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=list(range(len(ys))), ticktext=ys,
                         row=1, col=col, tickfont=dict(size=12))
        fig.update_xaxes(tickmode="array", tickvals=list(range(S)), ticktext=xs, tickangle=0,
                         row=1, col=col, tickfont=dict(size=12 if S <= 24 else 9))
    fig.update_xaxes(title_text="source token", row=1, col=1)
    fig.update_yaxes(title_text="output token", row=1, col=1)
    fig.update_layout(height=h, margin=dict(l=8, r=8, t=40, b=8))
    return fig


def length_curve_figure(curves: dict[str, LengthCurve], title: str = "") -> go.Figure:
    """Exact match (%) per input-length bucket, one line per model."""
    fig = go.Figure()
    for i, (name, c) in enumerate(curves.items()):
        dash = "dot" if "no attention" in name else "solid"
        fig.add_trace(go.Scatter(x=c.labels(), y=100 * c.accuracy, name=name, mode="lines+markers",
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=3, dash=dash),
                                 customdata=c.counts, marker=dict(size=9),
                                 hovertemplate="length %{x}: %{y:.1f} % exact (%{customdata} examples)"
                                               "<extra>" + name + "</extra>"))
    fig.update_layout(title=dict(text=title, font=dict(size=14)), height=380,
                      xaxis_title="input length (tokens)", yaxis_title="exact match (%)",
                      yaxis=dict(range=[-3, 103]), margin=dict(l=8, r=8, t=40, b=8),
                      legend=dict(orientation="h", y=-0.25))
    return fig
