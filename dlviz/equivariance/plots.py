"""Figures for the equivariance page: f(Tx) beside T'f(x) and their difference, the error per layer
for several models, the output as a function of shift or angle, and the consistency bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.plotting import PALETTE, to_numpy

FLOOR = 1e-9      # errors below this are float rounding: drawn at the floor of the log axis


def _as_map(t, channel: int, rotation: int = 0) -> np.ndarray:
    """One 2-D slice of a layer output for display: ``(C, H, W)`` -> channel; ``(C, 4, H, W)`` ->
    channel at one rotation; a vector ``(F,)`` -> a near-square tile."""
    a = to_numpy(t).astype(np.float64)
    if a.ndim == 3:
        return a[min(channel, a.shape[0] - 1)]
    if a.ndim == 4:
        return a[min(channel, a.shape[0] - 1), rotation % a.shape[1]]
    n = a.size
    cols = int(np.ceil(np.sqrt(n)))
    out = np.full(cols * int(np.ceil(n / cols)), np.nan)
    out[:n] = a.ravel()
    return out.reshape(-1, cols)


def triple_figure(res, channel: int = 0, rotation: int = 0, height: int = 300, title: str = "") -> go.Figure:
    """``f(Tx)``, ``T'f(x)`` and their difference for one layer (one channel), on one colour scale."""
    a, b = _as_map(res.f_tx, channel, rotation), _as_map(res.t_fx, channel, rotation)
    d = a - b
    m = float(np.nanmax(np.abs(np.concatenate([a.ravel(), b.ravel()])))) or 1.0
    heads = ["f(T x)", "T′ f(x)", f"difference (max {np.nanmax(np.abs(d)):.2g})"]
    fig = make_subplots(rows=1, cols=3, subplot_titles=heads, horizontal_spacing=0.03)
    for i, z in enumerate((a, b, d), 1):
        fig.add_trace(go.Heatmap(z=z, zmin=-m, zmax=m, zmid=0, colorscale="RdBu_r", showscale=i == 3,
                                 hovertemplate="(%{y}, %{x}): %{z:.3g}<extra></extra>",
                                 colorbar={"len": 0.9, "thickness": 10}), 1, i)
        fig.update_xaxes(visible=False, row=1, col=i)
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 60 if title else 24, "b": 4},
                      title={"text": title, "font": {"size": 13}, "y": 0.98} if title else None)
    return fig


def errors_figure(results: dict[str, Sequence], height: int = 340, title: str = "") -> go.Figure:
    """Relative equivariance error against layer depth (1 = first layer, the last point = the logits),
    one line per model, log scale; the green band is float rounding (exact). Hollow markers: layers
    where no exact T' exists (a shift the stride does not divide; the nearest shift is used)."""
    fig = go.Figure()
    for i, (model, res) in enumerate(results.items()):
        color = PALETTE[i % len(PALETTE)]
        x = list(range(1, len(res) + 1))
        err = [max(r.error, FLOOR) for r in res]
        symbols = ["circle" if r.exact_transform else "circle-open" for r in res]
        symbols[-1] = "star" if res[-1].name == "logits" else symbols[-1]
        hover = [f"<b>{model}</b><br>{r.name} ({r.kind}, stride {r.stride})<br>error {r.error:.3g}"
                 + ("" if r.exact_transform else "<br>no exact T′: nearest shift used") for r in res]
        fig.add_trace(go.Scatter(x=x, y=err, mode="lines+markers", name=model, text=hover, hoverinfo="text",
                                 line={"color": color, "width": 2},
                                 marker={"symbol": symbols, "size": 9, "color": color, "line": {"width": 2, "color": color}}))
    fig.add_hrect(y0=FLOOR / 2, y1=1e-5, fillcolor="#54A24B", opacity=0.10, line_width=0)
    fig.update_yaxes(type="log", title="‖f(Tx) − T′f(x)‖ / ‖f(x)‖", range=[np.log10(FLOOR / 2), 0.5],
                     exponentformat="power")
    fig.update_xaxes(title="layer, in order (★ = logits; hover for names)", dtick=1)
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 30 if title else 10, "b": 4},
                      legend={"orientation": "h", "y": -0.3}, hovermode="closest",
                      title={"text": title, "font": {"size": 13}} if title else None)
    return fig


def sweep_figure(probs: dict[str, np.ndarray], values: Sequence[float], cls: int, class_name: str,
                 xlabel: str, height: int = 330) -> go.Figure:
    """Probability of class ``cls`` as the input is shifted / rotated, one line per model; a cross
    marks every value where the model's prediction is another class."""
    fig = go.Figure()
    v = np.asarray(values, dtype=float)
    for i, (model, p) in enumerate(probs.items()):
        color = PALETTE[i % len(PALETTE)]
        pred = p.argmax(1)
        fig.add_trace(go.Scatter(x=v, y=p[:, cls], mode="lines+markers", name=model,
                                 line={"color": color, "width": 2}, marker={"size": 5},
                                 customdata=pred, hovertemplate="%{x}: p=%{y:.3f}, predicts %{customdata}"
                                                                "<extra></extra>"))
        wrong = pred != cls
        if wrong.any():
            fig.add_trace(go.Scatter(x=v[wrong], y=p[wrong, cls], mode="markers", showlegend=False,
                                     marker={"symbol": "x", "size": 9, "color": color}, hoverinfo="skip"))
    fig.update_xaxes(title=xlabel)
    fig.update_yaxes(title=f"p(“{class_name}”)", range=[-0.03, 1.03])
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 10, "b": 4},
                      legend={"orientation": "h", "y": -0.3})
    return fig


def grid_figure(grid: np.ndarray, cls: int, title: str = "", height: int = 300) -> go.Figure:
    """p(class) for every shift (dy, dx) in [-m, m]^2 (centre = no shift)."""
    n = grid.shape[0]
    m = (n - 1) // 2
    r = list(range(-m, m + 1))
    fig = go.Figure(go.Heatmap(z=grid[..., cls], x=r, y=r, zmin=0, zmax=1, colorscale="Viridis",
                               colorbar={"thickness": 10, "len": 0.9},
                               hovertemplate="dy %{y}, dx %{x}: p=%{z:.3f}<extra></extra>"))
    fig.update_xaxes(title="dx", constrain="domain")
    fig.update_yaxes(title="dy", autorange="reversed", scaleanchor="x")
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 30, "b": 4},
                      title={"text": title, "font": {"size": 13}})
    return fig


def bars_figure(values: dict[str, float], title: str, ytitle: str, height: int = 300,
                ymin: float = 0.0) -> go.Figure:
    names = list(values)
    fig = go.Figure(go.Bar(x=names, y=[values[n] for n in names],
                           marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(names))],
                           text=[f"{values[n]:.3f}" for n in names], textposition="outside"))
    fig.update_yaxes(title=ytitle, range=[ymin, 1.18])
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 30, "b": 4},
                      title={"text": title, "font": {"size": 13}})
    return fig


def accuracy_curves_figure(curves: dict[str, np.ndarray], values: Sequence[float], xlabel: str,
                           height: int = 320) -> go.Figure:
    """Test accuracy as a function of shift / angle, one line per model."""
    fig = go.Figure()
    for i, (model, acc) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=list(values), y=acc, mode="lines+markers", name=model,
                                 line={"color": PALETTE[i % len(PALETTE)], "width": 2}, marker={"size": 5}))
    fig.update_xaxes(title=xlabel)
    fig.update_yaxes(title="test accuracy", range=[0, 1.02])
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 10, "b": 4},
                      legend={"orientation": "h", "y": -0.3})
    return fig
