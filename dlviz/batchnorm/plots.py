"""Figures for the BatchNorm page: Ioffe & Szegedy's percentile plot, activation histograms, internal
covariate shift and smoothness (Santurkar et al., 2018), the learning-rate sweep, batch vs running
statistics, and accuracy under domain shift with and without AdaBN."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.plotting import PALETTE

_MARGIN = {"l": 4, "r": 4, "t": 40, "b": 4}


def color(name: str, order: list[str]) -> str:
    """The colour of a variant: the palette in the order the variants are listed -- the order the shared
    training monitor colours its runs in, so a variant has one colour on the whole page."""
    return PALETTE[(order.index(name) if name in order else len(order)) % len(PALETTE)]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def percentile_figure(series: dict[str, tuple[np.ndarray, np.ndarray]], title: str, height: int = 320) -> go.Figure:
    """Ioffe & Szegedy (2015) Fig. 1(b, c): the 15th/50th/85th percentiles of one unit's input to its
    nonlinearity over training, one panel per variant (each with its own y-axis)."""
    names = list(series)
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=names, horizontal_spacing=0.06)
    for i, n in enumerate(names, 1):
        steps, pct = series[n]
        if not len(steps):
            continue
        c = color(n, names)
        fig.add_trace(go.Scatter(x=steps, y=pct[:, 2], mode="lines", line={"width": 0.5, "color": c},
                                 showlegend=False, hovertemplate="85th: %{y:.3g}<extra></extra>"), 1, i)
        fig.add_trace(go.Scatter(x=steps, y=pct[:, 0], mode="lines", line={"width": 0.5, "color": c},
                                 fill="tonexty", fillcolor=_rgba(c, 0.25), showlegend=False,
                                 hovertemplate="15th: %{y:.3g}<extra></extra>"), 1, i)
        fig.add_trace(go.Scatter(x=steps, y=pct[:, 1], mode="lines", line={"width": 2.5, "color": c},
                                 showlegend=False, hovertemplate="step %{x} · median: %{y:.3g}<extra></extra>"), 1, i)
        fig.update_xaxes(title_text="step", row=1, col=i)
    fig.update_layout(height=height, margin=_MARGIN, title={"text": title, "font": {"size": 14}})
    return fig


def histograms_figure(values: dict[str, list[np.ndarray]], layer_names: list[str], title: str = "",
                      bins: int = 40, height_per_row: int = 150) -> go.Figure:
    """Rows: variants; columns: layers; each panel a histogram (density) of the layer's values."""
    names = list(values)
    cols = max(1, len(layer_names))
    fig = make_subplots(rows=max(1, len(names)), cols=cols, horizontal_spacing=0.025, vertical_spacing=0.07,
                        column_titles=layer_names, row_titles=names)
    for r, n in enumerate(names, 1):
        for c, v in enumerate(values[n][:cols], 1):
            v = v[np.isfinite(v)]
            if not len(v):
                continue
            lo, hi = np.percentile(v, [0.5, 99.5])
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            h, edges = np.histogram(np.clip(v, lo, hi), bins=bins, range=(lo, hi), density=True)
            fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=h, width=edges[1] - edges[0], showlegend=False,
                                 marker={"color": color(n, names), "line": {"width": 0}},
                                 hovertemplate="%{x:.3g}: density %{y:.3g}<extra></extra>"), r, c)
    fig.update_yaxes(showticklabels=False)
    fig.update_xaxes(tickfont={"size": 10}, nticks=4)
    for a in fig.layout.annotations:
        a.font.size = 12
    fig.update_layout(height=max(1, len(names)) * height_per_row + 50, margin={"l": 4, "r": 30, "t": 50, "b": 4},
                      bargap=0, title={"text": title, "font": {"size": 14}})
    return fig


def lines_figure(series: dict[str, tuple[np.ndarray, np.ndarray]], title: str, y_title: str,
                 log_y: bool = True, height: int = 300) -> go.Figure:
    """One line per variant over training steps (e.g. a shift or smoothness measure)."""
    fig = go.Figure()
    names = list(series)
    for n, (x, y) in series.items():
        ok = np.isfinite(y) & ((y > 0) if log_y else True)
        fig.add_trace(go.Scatter(x=np.asarray(x)[ok], y=np.asarray(y)[ok], mode="lines+markers", name=n,
                                 line={"color": color(n, names), "width": 2}, marker={"size": 4},
                                 hovertemplate="step %{x}: %{y:.3g}<extra>" + n + "</extra>"))
    fig.update_layout(height=height, margin=_MARGIN, title={"text": title, "font": {"size": 14}},
                      xaxis_title="step", yaxis_title=y_title, legend={"orientation": "h", "y": -0.3})
    if log_y:
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def sweep_figure(rows: list, lrs: list[float], largest: dict[str, float | None], height: int = 360) -> go.Figure:
    """Final training loss against the learning rate for each variant; a diverged run is an ✕ on the top
    edge, a run that did not halve its loss an open marker; the dashed lines mark each variant's largest
    learning rate that trained."""
    fig = go.Figure()
    names = list(dict.fromkeys(r.variant for r in rows))
    finite = [r.final_loss for r in rows if math.isfinite(r.final_loss) and r.final_loss > 0]
    top = max(finite + [3.0]) * 2
    for n in names:
        rs = sorted((r for r in rows if r.variant == n), key=lambda r: r.lr)
        c = color(n, names)
        y = [r.final_loss if math.isfinite(r.final_loss) else top for r in rs]
        symbols = ["x" if r.status == "diverged" else "circle-open" if r.status == "did not train" else "circle"
                   for r in rs]
        text = [f"{r.status} · {r.steps} steps" for r in rs]
        fig.add_trace(go.Scatter(x=[r.lr for r in rs], y=y, mode="lines+markers", name=n, text=text,
                                 line={"color": c, "width": 1.5}, marker={"symbol": symbols, "size": 11, "color": c},
                                 hovertemplate="lr %{x:g}: final loss %{y:.3g}<br>%{text}<extra>" + n + "</extra>"))
        if largest.get(n):
            fig.add_vline(x=largest[n], line={"color": c, "dash": "dash", "width": 1.5})
    lo, hi = math.log10(min(lrs)), math.log10(max(lrs))
    fig.update_xaxes(type="log", title_text="learning rate", tickvals=lrs, ticktext=[f"{v:g}" for v in lrs],
                     range=[lo - 0.15, hi + 0.15])
    fig.update_yaxes(type="log", title_text="final training loss (✕ = diverged)", exponentformat="power")
    fig.update_layout(height=height, margin=_MARGIN, legend={"orientation": "h", "y": -0.25})
    return fig


def mode_figure(results: dict[str, dict[str, float]], height: int = 300) -> go.Figure:
    """Test accuracy in eval mode and in train mode with batches of each size, one group per model."""
    fig = go.Figure()
    names = list(results)
    for n, acc in results.items():
        keys = list(acc)
        fig.add_trace(go.Bar(x=[k.replace("train, ", "train · ") for k in keys], y=[acc[k] for k in keys], name=n,
                             marker_color=color(n, names), text=[f"{acc[k]:.1%}" for k in keys], textposition="outside",
                             hovertemplate="%{x}: %{y:.1%}<extra>" + n + "</extra>"))
    fig.update_layout(barmode="group", height=height, margin=_MARGIN, yaxis={"range": [0, 1.12], "tickformat": ".0%"},
                      yaxis_title="test accuracy", legend={"orientation": "h", "y": -0.25})
    return fig


def batch_stats_figure(stats: list, unit: int, height: int = 320) -> go.Figure:
    """For one unit: the batch means (dots) and batch std (right) over many batches of each size, against
    the running estimate (dashed) and the population value (solid)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("batch mean of the unit's input", "batch std"))
    for s in stats:
        x = np.full(len(s.batch_mean), f"B = {s.batch_size}")
        fig.add_trace(go.Box(x=x, y=s.batch_mean[:, unit], boxpoints="all", jitter=0.5, pointpos=0, showlegend=False,
                             marker={"size": 3, "color": "#4C78A8"}, line={"color": "#4C78A8"}, fillcolor="rgba(0,0,0,0)",
                             hovertemplate="%{y:.3g}<extra></extra>"), 1, 1)
        fig.add_trace(go.Box(x=x, y=np.sqrt(s.batch_var[:, unit]), boxpoints="all", jitter=0.5, pointpos=0,
                             showlegend=False, marker={"size": 3, "color": "#F58518"}, line={"color": "#F58518"},
                             fillcolor="rgba(0,0,0,0)", hovertemplate="%{y:.3g}<extra></extra>"), 1, 2)
    if stats:
        s = stats[0]
        for col, run, pop in ((1, s.running_mean[unit], s.pop_mean[unit]),
                              (2, math.sqrt(s.running_var[unit]), math.sqrt(s.pop_var[unit]))):
            fig.add_hline(y=run, line={"dash": "dash", "color": "black", "width": 1.5}, row=1, col=col)
            fig.add_hline(y=pop, line={"color": "#54A24B", "width": 2}, row=1, col=col)
        for label, line in (("running estimate (eval mode)", {"dash": "dash", "color": "black", "width": 1.5}),
                            ("whole training set", {"color": "#54A24B", "width": 2})):
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=line, name=label), 1, 1)
    fig.update_layout(height=height, margin=_MARGIN, legend={"orientation": "h", "y": -0.15})
    return fig


def shift_curve_figure(curves: dict[str, list], height: int = 330) -> go.Figure:
    """Test accuracy against shift severity: shifted (solid), after AdaBN (dashed), clean (dotted)."""
    fig = go.Figure()
    names = list(curves)
    for n, res in curves.items():
        c = color(n, names)
        sev = [r.severity for r in res]
        fig.add_trace(go.Scatter(x=sev, y=[r.shifted for r in res], mode="lines+markers", name=f"{n}: shifted",
                                 line={"color": c, "width": 2.5}, hovertemplate="severity %{x}: %{y:.1%}<extra></extra>"))
        if res and res[0].adapted is not None:
            fig.add_trace(go.Scatter(x=sev, y=[r.adapted for r in res], mode="lines+markers",
                                     name=f"{n}: after AdaBN", line={"color": c, "dash": "dash", "width": 2.5},
                                     marker={"symbol": "diamond"},
                                     hovertemplate="severity %{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(height=height, margin=_MARGIN, xaxis_title="shift severity", yaxis_title="test accuracy",
                      yaxis={"tickformat": ".0%", "range": [0, 1.02]}, legend={"orientation": "h", "y": -0.28})
    return fig


# Same as dlviz.imaging.tile, except it returns float (3, H', W') for plotting.image_figure, upscales each
# image, and puts a white gap after every image and row (its test pins this layout):
def mosaic(rows: list[np.ndarray], scale: int = 6, gap: int = 2) -> np.ndarray:
    """Rows of ``(N, C, H, W)`` images in [0, 1] as one ``(3, H', W')`` image (nearest upscaling, white gaps)."""
    out_rows = []
    for r in rows:
        r = np.asarray(r, dtype=np.float32)
        r = np.repeat(r, 3, axis=1) if r.shape[1] == 1 else r
        r = r.repeat(scale, axis=2).repeat(scale, axis=3)                        # (N, 3, sH, sW)
        pad = np.ones((r.shape[0], 3, r.shape[2], gap), dtype=np.float32)
        out_rows.append(np.concatenate([np.concatenate([a, p], axis=2) for a, p in zip(r, pad)], axis=2))
    hgap = np.ones((3, gap, out_rows[0].shape[2]), dtype=np.float32)
    return np.concatenate([np.concatenate([row, hgap], axis=1) for row in out_rows], axis=1)
