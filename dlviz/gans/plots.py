"""Plotly figures for the GAN page, pure functions of :mod:`dlviz.gans.views` arrays and run histories."""

from __future__ import annotations

import warnings

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.gans.views import LOGIT_LOSSES, Snapshot, arrow_segments

REAL, FAKE, GRID, ARROW = "#1f77b4", "#ff7f0e", "rgba(255,255,255,0.45)", "#2ca02c"
LAYERS = ("real samples", "fake samples", "D's surface", "G's warped grid", "gradient arrows")


def layered_figure(snap: Snapshot, real: np.ndarray, loss: str, bounds, layers=LAYERS, modes: np.ndarray | None = None,
                   height: int = 520) -> go.Figure:
    """The game at one step: D's surface, G's warped noise grid, real and fake samples, G's gradient arrows."""
    x0, x1, y0, y1 = bounds
    fig = go.Figure()
    if "D's surface" in layers:
        logit = loss in LOGIT_LOSSES
        zmin, zmax = (0.0, 1.0) if logit else (float(np.nanmin(snap.heat)), float(np.nanmax(snap.heat)))
        fig.add_trace(go.Heatmap(x=snap.xs, y=snap.ys, z=snap.heat, colorscale="RdBu", zmin=zmin, zmax=zmax,
                                 reversescale=False, opacity=0.75, name="D",
                                 colorbar=dict(title="D(x) real?" if logit else "D(x)", thickness=12, len=0.7),
                                 hovertemplate="x %{x:.2f}, y %{y:.2f}<br>D %{z:.3f}<extra></extra>"))
    if "G's warped grid" in layers:
        w = snap.warp                                                      # (2L, P, 2)
        pad = np.full((len(w), 1, 2), np.nan)
        seg = np.concatenate([w, pad], 1).reshape(-1, 2)
        fig.add_trace(go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", line=dict(color=GRID, width=1),
                                   name="G(noise grid)", hoverinfo="skip"))
    if "real samples" in layers:
        fig.add_trace(go.Scatter(x=real[:, 0], y=real[:, 1], mode="markers", name="real",
                                   marker=dict(color=REAL, size=4, opacity=0.6)))
    if modes is not None:
        fig.add_trace(go.Scatter(x=modes[:, 0], y=modes[:, 1], mode="markers", name="modes",
                                   marker=dict(symbol="x-thin", color="black", size=7, line=dict(width=1.5))))
    if "fake samples" in layers:
        fig.add_trace(go.Scatter(x=snap.fake[:, 0], y=snap.fake[:, 1], mode="markers", name="fake (fixed z)",
                                   marker=dict(color=FAKE, size=4, opacity=0.8)))
    if "gradient arrows" in layers and len(snap.arrows):
        ax, ay = arrow_segments(snap.fake[:len(snap.arrows)], snap.arrows, 0.08 * (x1 - x0))
        fig.add_trace(go.Scatter(x=ax, y=ay, mode="lines", line=dict(color=ARROW, width=1.5),
                                   name="−∂L_G/∂x", hoverinfo="skip"))
    fig.update_xaxes(range=[x0, x1], constrain="domain", showgrid=False, zeroline=False)
    fig.update_yaxes(range=[y0, y1], scaleanchor="x", scaleratio=1, showgrid=False, zeroline=False)
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=30, b=4), title=f"step {snap.step:,}",
                      legend=dict(orientation="h", y=-0.06), plot_bgcolor="white")
    return fig


def measurements_figure(histories: dict[str, dict], metrics: tuple[str, ...], titles: dict[str, str] | None = None,
                        height: int = 280) -> go.Figure:
    """Each metric over steps: one faint line per run and, with several runs, their mean ± standard error."""
    titles = titles or {}
    metrics = tuple(m for m in metrics if any(m in h for h in histories.values()))
    fig = make_subplots(rows=1, cols=max(1, len(metrics)), subplot_titles=[titles.get(m, m) for m in metrics])
    for ci, m in enumerate(metrics, 1):
        runs = [h[m] for h in histories.values() if m in h and h[m][0]]
        for s, v in runs:
            fig.add_trace(go.Scatter(x=s, y=v, mode="lines", line=dict(width=1, color="rgba(100,100,100,0.35)"
                                     if len(runs) > 1 else "#1f77b4"), showlegend=False, hoverinfo="skip"), 1, ci)
        if len(runs) > 1:
            n = min(len(s) for s, _ in runs)
            steps = np.asarray(runs[0][0][:n])
            vals = np.array([v[:n] for _, v in runs], dtype=float)                    # (runs, n)
            k = np.isfinite(vals).sum(0)                                              # finite runs per step
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)                    # a step no run measured: nan
                mean = np.nanmean(vals, 0)
                se = np.where(k > 1, np.nanstd(vals, 0, ddof=1) / np.sqrt(np.maximum(k, 1)), 0.0)
            fig.add_trace(go.Scatter(x=np.r_[steps, steps[::-1]], y=np.r_[mean + se, (mean - se)[::-1]], fill="toself",
                                     fillcolor="rgba(31,119,180,0.25)", line=dict(width=0), showlegend=False,
                                     hoverinfo="skip"), 1, ci)
            fig.add_trace(go.Scatter(x=steps, y=mean, mode="lines+markers", line=dict(color="#1f77b4", width=2),
                                     name="mean ± s.e.", showlegend=ci == 1), 1, ci)
    fig.update_xaxes(title_text="step")
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=30, b=4), legend=dict(orientation="h", y=-0.3))
    return fig


def mode_histogram_figure(counts: np.ndarray, modes: np.ndarray, min_count: int, height: int = 260) -> go.Figure:
    """High-quality samples registered to each mode; the dashed line is the 'captured' threshold."""
    k = np.arange(len(counts))
    colors = [REAL if c >= min_count else "#d62728" for c in counts]
    hover = [f"mode {i} at ({x:.1f}, {y:.1f}): {c} samples" for i, ((x, y), c) in enumerate(zip(modes, counts))]
    fig = go.Figure(go.Bar(x=k, y=counts, marker_color=colors, hovertext=hover, hoverinfo="text"))
    fig.add_hline(y=min_count, line_dash="dash", annotation_text=f"captured: ≥ {min_count}")
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=10, b=4), xaxis_title="mode", yaxis_title="samples")
    return fig


def image_grid_figure(grid: np.ndarray, title: str = "", height: int = 320) -> go.Figure:
    """An (H, W, 3) uint8 mosaic as a figure (no axes). The pixels travel as one embedded PNG, as on the VAE and
    DDPM pages: the food DCGAN's 32-sample grid is 160 KB instead of 806 KB of JSON pixels (measured 2026-12-04)."""
    from dlviz.imaging import png_uri

    fig = go.Figure(go.Image(source=png_uri(np.ascontiguousarray(grid, dtype=np.uint8)), hoverinfo="skip"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0), title=title)
    return fig


def canvas_figure(targets: np.ndarray, drawn: np.ndarray | None, height: int = 300) -> go.Figure:
    """The drawing canvas: faint click targets (trace 0) and the points drawn so far (trace 1)."""
    fig = go.Figure(go.Scatter(x=targets[:, 0], y=targets[:, 1], mode="markers", name="lasso to add",
                               marker=dict(size=7, color="rgba(120,120,120,0.12)"),
                               hovertemplate="add a blob at (%{x:.1f}, %{y:.1f})<extra></extra>"))
    if drawn is not None and len(drawn):
        fig.add_trace(go.Scatter(x=drawn[:, 0], y=drawn[:, 1], mode="markers", name="your points",
                                 marker=dict(size=4, color=REAL), hoverinfo="skip"))
    lo, hi = float(targets.min()) - 0.3, float(targets.max()) + 0.3
    fig.update_xaxes(range=[lo, hi], constrain="domain", showgrid=False, zeroline=False)
    fig.update_yaxes(range=[lo, hi], scaleanchor="x", scaleratio=1, showgrid=False, zeroline=False)
    fig.update_layout(height=height, margin=dict(l=2, r=2, t=2, b=2), showlegend=False, plot_bgcolor="white",
                      clickmode="event+select", dragmode="lasso")
    return fig
