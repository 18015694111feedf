"""Figures for the Transformer-attention page: heads as heatmaps, scores, arcs, entropy, ablation, positions.

Pure functions of :mod:`dlviz.attention.core` results (numpy arrays in, plotly figures out). Token axes are
numeric with the tokens as tick labels, so a token that occurs twice keeps two rows.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.plotting import PALETTE

MASK_GREY = "#d9d9d9"


def _ticks(tokens: list[str]) -> tuple[list[int], list[str]]:
    shown = [t.replace("\n", "⏎").replace(" ", "␣") for t in tokens]
    return list(range(len(tokens))), shown


def token_table_html(tokens: list[str], predictions: list[str], scored: np.ndarray, correct: np.ndarray) -> str:
    """Two rows of HTML: the tokens read, and the prediction at each scored position (green right, red wrong)."""
    def show(t: str) -> str:
        return html.escape({"\n": "⏎", " ": "␣"}.get(t, t))

    style = "text-align:center;padding:2px 5px;font-family:monospace"
    cells = []
    for tok, pred, s, ok in zip(tokens, predictions, scored, correct):
        if s:
            color = "#2e7d32" if ok else "#c62828"
            cells.append(f"<td style='{style}'>{show(tok)}<br><b style='color:{color}'>{show(pred)}</b></td>")
        else:
            cells.append(f"<td style='{style};color:#999'>{show(tok)}<br>·</td>")
    return ("<div style='overflow-x:auto'><table style='border:none'><tr><td style='padding:2px 5px'>in<br>out</td>"
            + "".join(cells) + "</tr></table></div>")


def _domains(n: int, gap: float) -> list[tuple[float, float]]:
    size = (1 - gap * (n - 1)) / n
    return [(i * (size + gap), i * (size + gap) + size) for i in range(n)]


def heads_grid(weights: np.ndarray, tokens: list[str], scores: bool = False, pattern: np.ndarray | None = None,
               height_per_row: int = 300, titles: list[str] | None = None) -> go.Figure:
    """Every head as a query x key heatmap: ``weights`` ``(L, H, T, T)``, rows = layers, columns = heads.

    ``scores=True`` shows pre-softmax scores on a diverging scale (NaN = hidden by the causal mask, grey);
    ``pattern`` ``(T, T)`` bool outlines the keys the algorithm says each query must read.
    (Built as one dict, not with ``make_subplots`` + ``update_*axes``: 5-10x faster on a slider move.)
    """
    L, H, T, _ = weights.shape
    titles = titles or [f"layer {i + 1} · head {h + 1}" for i in range(L) for h in range(H)]
    ticks, labels = _ticks(tokens)
    finite = weights[np.isfinite(weights)]
    lim = float(np.abs(finite).max()) if scores and finite.size else 1.0
    color = dict(zmin=-lim, zmax=lim, colorscale="RdBu_r") if scores else dict(zmin=0, zmax=1, colorscale="Blues")
    hover = "query %{y} · key %{x}<br>" + ("score %{z:.2f}" if scores else "weight %{z:.3f}") + "<extra></extra>"
    font = dict(size=8 if T > 24 else 11)
    height = height_per_row * L + 40
    xdom = _domains(H, 0.04 if H > 1 else 0.0)
    ydom = _domains(L, min(0.12, 0.3 / L) if L > 1 else 0.0)[::-1]          # layer 1 on top
    marks = np.nonzero(pattern) if pattern is not None and pattern.any() else None
    data, layout, notes = [], {}, []
    for i in range(L):
        for h in range(H):
            n = i * H + h + 1
            ax = "" if n == 1 else str(n)
            data.append(dict(type="heatmap", z=weights[i, h], x=ticks, y=ticks, xaxis=f"x{ax}", yaxis=f"y{ax}",
                             showscale=(i == 0 and h == H - 1), hoverongaps=False, hovertemplate=hover,
                             colorbar=dict(title=dict(text="score" if scores else "weight"), thickness=12, len=0.6),
                             **color))
            if marks is not None:
                data.append(dict(type="scatter", x=marks[1], y=marks[0], xaxis=f"x{ax}", yaxis=f"y{ax}",
                                 mode="markers", hoverinfo="skip", name="algorithm's key", legendgroup="alg",
                                 showlegend=n == 1, marker=dict(symbol="square-open", size=9, color="#E45756",
                                                                line=dict(width=2))))
            # tokens label the bottom row's keys and the first column's queries only: every head shares them, and
            # the browser lays out each tick label one by one (a 2x4 grid of 20 tokens had 320 of them)
            bottom, left = i == L - 1, h == 0
            layout[f"xaxis{ax}"] = dict(domain=xdom[h], anchor=f"y{ax}", tickvals=ticks, ticktext=labels,
                                        showticklabels=bottom, tickangle=0, tickfont=font, showgrid=False,
                                        title=dict(text="key (attended to)" if bottom else "", font=dict(size=11),
                                                   standoff=2))
            layout[f"yaxis{ax}"] = dict(domain=ydom[i], anchor=f"x{ax}", tickvals=ticks, ticktext=labels,
                                        showticklabels=left, autorange="reversed", tickfont=font, showgrid=False,
                                        title=dict(text="query" if left else "", font=dict(size=11)))
            notes.append(dict(text=titles[n - 1], x=sum(xdom[h]) / 2, y=ydom[i][1], xref="paper", yref="paper",
                              xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=12)))
    layout.update(annotations=notes, plot_bgcolor=MASK_GREY if scores else "white", height=height,
                  margin=dict(l=4, r=4, t=40, b=4), legend=dict(orientation="h", y=1.06, x=1, xanchor="right"))
    return go.Figure(dict(data=data, layout=layout))


def arcs_figure(weights: np.ndarray, tokens: list[str], heads: list[int] | None = None, query: int | None = None,
                min_weight: float = 0.1, height: int = 330) -> go.Figure:
    """Attention of one layer as arcs over the sentence: ``weights`` ``(H, T, T)``; one colour per head.

    An arc joins query q to key k (drawn above the line, height growing with the distance); its opacity
    is the weight. ``query`` keeps only that query's arcs; arcs lighter than ``min_weight`` are left out.
    """
    H, T, _ = weights.shape
    heads = list(range(H)) if heads is None else heads
    fig = go.Figure()
    bins = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.01)]
    top = 1.2   # the highest arc drawn sets the height, so one query's short arcs are not lost
    t = np.linspace(0, 1, 24)[None, :]                                        # (1, 24) points along an arc
    ang = np.linspace(0, 2 * np.pi, 24)[None, :]
    for j, h in enumerate(heads):
        color = PALETTE[h % len(PALETTE)]
        w = weights[h]
        lift = 1 + 0.08 * j   # heads that agree would hide each other: lift each a little
        for lo, hi in bins:
            qs, ks = np.nonzero((w >= max(lo, min_weight)) & (w < hi))
            if query is not None:
                qs, ks = qs[qs == query], ks[qs == query]
            if not len(qs):
                continue
            q, k, self_loop = qs[:, None], ks[:, None], (qs == ks)[:, None]    # (n, 1)
            span = np.abs(q - k)
            xs = np.where(self_loop, q + 0.18 * np.sin(ang), k + (q - k) * t)  # (n, 24); a query reading itself: a loop
            ys = np.where(self_loop, 0.25 + 0.125 * (1 - np.cos(ang)), 0.3 + 4 * t * (1 - t) * (0.6 + 0.35 * span) * lift)
            top = max(top, float(ys.max()))
            gap = np.full((len(qs), 1), np.nan)                                 # NaN ends one arc's line
            fig.add_trace(go.Scatter(x=np.hstack([xs, gap]).ravel(), y=np.hstack([ys, gap]).ravel(), mode="lines",
                                     hoverinfo="skip", showlegend=False, line=dict(color=color, width=1 + 4 * hi),
                                     opacity=min(1.0, 0.15 + hi * 0.85)))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=color, width=4),
                                 name=f"head {h + 1}"))
    ticks, labels = _ticks(tokens)
    colors = ["#E45756" if query is not None and i == query else "#333" for i in ticks]
    fig.add_trace(go.Scatter(x=ticks, y=[0] * len(ticks), mode="text", text=labels, showlegend=False,
                             textfont=dict(size=16 if T <= 32 else 11, color=colors),
                             hovertemplate="position %{x}: %{text}<extra></extra>"))
    fig.update_xaxes(visible=False, range=[-1, T])
    fig.update_yaxes(visible=False, range=[-0.5, top + 0.3])
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=10, b=4), plot_bgcolor="white",
                      legend=dict(orientation="h", y=1.02, x=0))
    return fig


def head_matrix(values: np.ndarray, title: str, fmt: str = ".0%", colorscale: str = "Blues",
                zmin: float | None = 0.0, zmax: float | None = 1.0, height: int | None = None) -> go.Figure:
    """A ``(L, H)`` number per head (match score, entropy, accuracy), written in each cell."""
    L, H = values.shape
    text = [[("–" if not np.isfinite(v) else format(v, fmt)) for v in row] for row in values]
    fig = go.Figure(go.Heatmap(z=values, x=[f"head {h + 1}" for h in range(H)], y=[f"layer {i + 1}" for i in range(L)],
                               text=text, texttemplate="%{text}", textfont=dict(size=14), colorscale=colorscale,
                               zmin=zmin, zmax=zmax, showscale=False, xgap=3, ygap=3,
                               hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=dict(text=title, font=dict(size=14)), height=height or 90 + 60 * L,
                      margin=dict(l=4, r=4, t=36, b=4), plot_bgcolor="white")
    return fig


def entropy_figure(entropy: np.ndarray, uniform: float, height: int = 280) -> go.Figure:
    """Mean attention entropy per head (bits) as bars, with the entropy of uniform attention as a line."""
    L, H = entropy.shape
    fig = go.Figure()
    for h in range(H):   # one colour per head, as in the arcs
        fig.add_trace(go.Bar(x=[f"L{i + 1}H{h + 1}" for i in range(L)], y=entropy[:, h], name=f"head {h + 1}",
                             marker_color=PALETTE[h % len(PALETTE)],
                             hovertemplate="%{x}: %{y:.2f} bits<extra></extra>"))
    fig.update_xaxes(categoryorder="array", categoryarray=[f"L{i + 1}H{h + 1}" for i in range(L) for h in range(H)])
    fig.add_hline(y=uniform, line_dash="dash", line_color="#555",
                  annotation_text=f"uniform: {uniform:.2f} bits", annotation_position="top left")
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=20, b=4), yaxis_title="bits",
                      yaxis_range=[0, max(uniform, float(np.nanmax(entropy))) * 1.15 + 1e-6],
                      legend=dict(orientation="h", y=-0.2), plot_bgcolor="white")
    return fig


def positions_figure(pe: np.ndarray, sim: np.ndarray, title: str, sim_label: str = "cosine") -> go.Figure:
    """Left: the position vectors ``(P, C)``; right: their ``(P, P)`` similarity."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.08,
                        subplot_titles=[f"{title}: one row per position", f"{sim_label} similarity of positions"])
    lim = float(np.abs(pe).max()) or 1.0
    fig.add_trace(go.Heatmap(z=pe, colorscale="RdBu_r", zmin=-lim, zmax=lim, showscale=False,
                             hovertemplate="position %{y}, dim %{x}: %{z:.3f}<extra></extra>"), 1, 1)
    slim = float(np.abs(sim).max()) or 1.0
    fig.add_trace(go.Heatmap(z=sim, colorscale="RdBu_r", zmin=-slim, zmax=slim,
                             colorbar=dict(thickness=12, len=0.8),
                             hovertemplate="positions %{y} and %{x}: %{z:.3f}<extra></extra>"), 1, 2)
    fig.update_yaxes(autorange="reversed", title_text="position", row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig.update_xaxes(title_text="embedding dimension", row=1, col=1)
    fig.update_xaxes(title_text="position", row=1, col=2)
    fig.update_layout(height=360, margin=dict(l=4, r=4, t=36, b=4))
    return fig


def similarity_by_offset(sims: dict[str, np.ndarray], height: int = 270) -> go.Figure:
    """Mean similarity of positions p and p + d against the offset d, one line per ``{name: (P, P)}``.

    The error bars span the spread over p: zero when the similarity depends on the offset alone (sinusoids).
    """
    fig = go.Figure()
    for i, (name, sim) in enumerate(sims.items()):
        d = np.arange(len(sim))
        diag = [np.diagonal(sim, k) for k in d]
        mean = np.array([float(x.mean()) for x in diag])
        lo = mean - np.array([float(x.min()) for x in diag])
        hi = np.array([float(x.max()) for x in diag]) - mean
        fig.add_trace(go.Scatter(x=d, y=mean, mode="lines+markers", name=name,
                                 line=dict(color=PALETTE[i % len(PALETTE)], dash="dash" if i else "solid"),
                                 error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=1),
                                 hovertemplate="offset %{x}: mean %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=20, b=4), xaxis_title="offset d = q − p",
                      yaxis_title="similarity of p and p + d", plot_bgcolor="white",
                      legend=dict(orientation="h", y=1.1))
    return fig


def match_over_training(steps: list[int], values: list[float], accs: tuple[list[int], list[float]] | None = None,
                        pattern: str = "", height: int = 260) -> go.Figure:
    """The best head's algorithm match (and the held-out accuracy) against the training step."""
    fig = go.Figure(go.Scatter(x=steps, y=values, mode="lines+markers", name=f"best head matches '{pattern}'",
                               line=dict(color="#E45756", width=2)))
    if accs is not None and accs[0]:
        fig.add_trace(go.Scatter(x=accs[0], y=accs[1], mode="lines", name="held-out token accuracy",
                                 line=dict(color="#4C78A8", width=2, dash="dot")))
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=20, b=4), xaxis_title="step",
                      yaxis=dict(range=[0, 1.05], tickformat=".0%"), legend=dict(orientation="h", y=-0.3),
                      plot_bgcolor="white")
    return fig


def view_grid(view, scores: bool, outline: str, layer: int, head: int) -> go.Figure:
    """The heads grid of one analysed input: every head (``layer``/``head`` = -1) or one; weights or scores."""
    w = view.scores if scores else view.weights                              # (L, H, T, T)
    layers = list(range(w.shape[0])) if layer < 0 else [layer]
    heads = list(range(w.shape[1])) if head < 0 else [head]
    titles = [f"layer {i + 1} · head {h + 1}" for i in layers for h in heads]
    big = head >= 0 and len(view.tokens) > 40                                # one long input, one big map
    return heads_grid(w[np.ix_(layers, heads)], view.tokens, scores=scores, pattern=view.patterns.get(outline),
                      titles=titles, height_per_row=720 if big else 330)


def positions_figures(model, kind: str, reference: bool) -> tuple[list[go.Figure], go.Figure | None]:
    """The model's position vectors and their similarity (and the sinusoidal table of the same size when
    ``reference``), plus similarity against offset for all of them (None when there is nothing to compare)."""
    from dlviz.attention.core import position_similarity, similarity
    from dlviz.models.transformer import sinusoidal_positions

    c = model.config
    figs, sims = [], {}
    if c.positions != "none":
        sim = position_similarity(model, kind=kind)
        figs.append(positions_figure(model.position_embeddings().detach().numpy(), sim, f"{c.positions} positions",
                                     kind))
        sims[f"this model ({c.positions})"] = sim
    if reference and c.positions != "sinusoidal":
        spe = sinusoidal_positions(c.block_size, c.n_embd).double().numpy()
        ssim = similarity(spe, kind)
        figs.append(positions_figure(spe, ssim, "sinusoidal positions (same size)", kind))
        sims["sinusoidal"] = ssim
    return figs, (similarity_by_offset(sims) if sims else None)
