"""Figure builders shared by every page: images, image grids, kernels and live metric curves.

Pure functions: arrays in, ``plotly.graph_objects.Figure`` out. Images are ``(C, H, W)`` or
``(H, W)`` arrays/tensors; values are shown on hover.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D"]


def to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def to_hwc(img) -> np.ndarray:
    """``(C, H, W)`` / ``(H, W)`` -> ``(H, W, 3)`` float in [0, 1] (greyscale repeated)."""
    a = to_numpy(img).astype(np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = np.transpose(a, (1, 2, 0))
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.clip(a, 0, 1)


def _tight(fig: go.Figure, height: int | None) -> go.Figure:
    fig.update_layout(margin=dict(l=4, r=4, t=30, b=4), height=height)
    return fig


def png_image(pixels: np.ndarray, min_size: int = 256) -> go.Image:
    """An ``(H, W, 3)`` uint8 picture as one PNG inside the figure, in the same pixel coordinates as
    ``go.Image(z=pixels)`` (pixel (i, j) centred at x = j, y = i). ``z=`` sends every pixel as JSON numbers (a
    256x256 picture is ~200,000 of them) and the browser draws them one by one; a PNG is a few kB. Small pictures
    are upscaled (nearest neighbour, to at least ``min_size`` px) so the browser does not blur them. No hover."""
    pixels = np.asarray(pixels)
    s = max(1, math.ceil(min_size / max(pixels.shape[:2])))
    from dlviz.imaging import png_uri

    return go.Image(source=png_uri(pixels, s), dx=1 / s, dy=1 / s, x0=(1 / s - 1) / 2, y0=(1 / s - 1) / 2,
                    hoverinfo="skip")


def image_figure(img, title: str = "", height: int | None = 320) -> go.Figure:
    """An RGB/greyscale image in [0, 1], pixel values on hover."""
    fig = go.Figure(go.Image(z=(to_hwc(img) * 255).astype(np.uint8)))
    fig.update_layout(title=dict(text=title, font=dict(size=14)))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _tight(fig, height)


def heatmap_figure(arr, title: str = "", colorscale: str = "RdBu", symmetric: bool = True,
                   height: int | None = 320, annotate: bool = False, showscale: bool = True,
                   robust: bool = False) -> go.Figure:
    """A 2-D array as a heatmap (rows top to bottom, like an image); ``annotate`` writes the values;
    ``robust`` scales colours to the 99th percentile so a few extreme values (borders) don't wash it out."""
    a = to_numpy(arr).astype(np.float64)
    kw = {}
    if symmetric:
        m = float(np.percentile(np.abs(a), 99) if robust else np.abs(a).max()) or 1.0
        kw = dict(zmin=-m, zmax=m, zmid=0)
    fig = go.Figure(go.Heatmap(z=a, colorscale=colorscale, showscale=showscale,
                               text=np.round(a, 3) if annotate else None,
                               texttemplate="%{text}" if annotate else None,
                               hovertemplate="row %{y}, col %{x}: %{z:.4g}<extra></extra>", **kw))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showticklabels=annotate)
    fig.update_xaxes(constrain="domain", showticklabels=annotate)
    fig.update_layout(title=dict(text=title, font=dict(size=14)))
    return _tight(fig, height)


def grid_figure(images, titles: list[str] | None = None, cols: int = 8, colorscale: str | None = None,
                height_per_row: int = 110, symmetric: bool = False) -> go.Figure:
    """A grid of small images (``(N, C, H, W)`` RGB/grey in [0, 1]) or of maps shown as heatmaps
    when ``colorscale`` is given (each map scaled on its own)."""
    arr = to_numpy(images)
    n = len(arr)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.01,
                        vertical_spacing=0.06 if titles else 0.01)
    for i in range(n):
        r, c = i // cols + 1, i % cols + 1
        if colorscale is None:
            fig.add_trace(go.Image(z=(to_hwc(arr[i]) * 255).astype(np.uint8)), r, c)
        else:
            m = arr[i][0] if arr[i].ndim == 3 else arr[i]
            kw = {}
            if symmetric:
                lim = float(np.abs(m).max()) or 1.0
                kw = dict(zmin=-lim, zmax=lim, zmid=0)
            fig.add_trace(go.Heatmap(z=m, colorscale=colorscale, showscale=False,
                                     hovertemplate="%{z:.3g}<extra></extra>", **kw), r, c)
            fig.update_yaxes(autorange="reversed", row=r, col=c)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor=None)
    for ann in fig.layout.annotations:
        ann.font.size = 11
    return _tight(fig, rows * height_per_row + (20 if titles else 0))


def ema(values: list[float], alpha: float = 0.1) -> np.ndarray:
    """Exponential moving average (with bias correction), for readable noisy curves."""
    out, m = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        m = (1 - alpha) * m + alpha * v
        out[i] = m / (1 - (1 - alpha) ** (i + 1))
    return out


# SVG traces, not WebGL (Scattergl): a live chart is redrawn every second, and where the browser has no GPU (a
# headless or software-rendered browser, many laptops' remote desktops) each WebGL redraw of a small chart cost the
# browser ~0.8 of a core (measured: benchmarks/latency_timeline.py, docs/live-training.md). A few hundred points per
# curve draw as SVG in milliseconds.
MAX_CURVE_POINTS = 600


def metrics_figure(histories: dict[str, dict[str, tuple[list[int], list[float]]]], metrics: tuple[str, ...],
                   log_y: bool = True, height: int = 300, colors: dict[str, str] | None = None) -> go.Figure:
    """Live training curves: one panel per metric, one colour per run (``colors`` pins a run's colour, so a page
    whose runs have a meaning -- a learning rate, a net -- keeps one colour per meaning); raw (faint) and
    smoothed."""
    metrics = tuple(m for m in metrics if any(m in h for h in histories.values())) or metrics[:1]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics))
    for ri, (run, hist) in enumerate(histories.items()):
        color = (colors or {}).get(run) or PALETTE[ri % len(PALETTE)]
        for ci, m in enumerate(metrics, 1):
            steps, vals = hist.get(m, ([], []))
            if not steps:
                continue
            step_arr, val_arr = np.asarray(steps), np.asarray(vals, dtype=float)
            if len(step_arr) > MAX_CURVE_POINTS:  # keep the payload and the SVG small: thin long histories
                idx = np.linspace(0, len(step_arr) - 1, MAX_CURVE_POINTS).astype(int)
            else:
                idx = slice(None)
            name = run or m
            dense = len(step_arr) > 30
            if dense:
                fig.add_trace(go.Scatter(x=step_arr[idx], y=val_arr[idx], mode="lines", line=dict(color=color, width=1),
                                         opacity=0.25, showlegend=False, hoverinfo="skip"), 1, ci)
            smooth = ema(list(val_arr)) if dense else val_arr
            fig.add_trace(go.Scatter(x=step_arr[idx], y=smooth[idx], mode="lines+markers" if not dense else "lines",
                                     line=dict(color=color, width=2), name=name, legendgroup=name,
                                     showlegend=ci == 1 and bool(run)), 1, ci)
            if log_y and m.lower().endswith("loss") and np.all(val_arr[np.isfinite(val_arr)] > 0):
                fig.update_yaxes(type="log", row=1, col=ci)
    for ci, m in enumerate(metrics, 1):
        if "acc" in m.lower():             # an accuracy spans [0, 1]: an auto-zoomed 0.098-0.1 axis draws noise as a V
            fig.update_yaxes(range=[0, 1.02], row=1, col=ci)
    fig.update_xaxes(title_text="step")
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=30, b=4), legend=dict(orientation="h", y=-0.25))
    return fig
