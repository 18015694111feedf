"""Plotly figures of the ViT page: pure functions of arrays from :mod:`dlviz.vit.core` and
:mod:`dlviz.vit.views`."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dlviz.imaging import quantize
from dlviz.plotting import PALETTE, png_image


def _bare(fig: go.Figure, height: int | None, title: str = "") -> go.Figure:
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(margin=dict(l=4, r=4, t=30 if title else 4, b=4), height=height,
                      title=dict(text=title, font=dict(size=14)))
    return fig


def rgb_figure(img: np.ndarray, title: str = "", height: int | None = 300) -> go.Figure:
    """An ``(H, W, 3)`` uint8 image."""
    return _bare(go.Figure(png_image(img)), height, title)


def tokens_figure(z: np.ndarray, title: str = "", height: int = 300) -> go.Figure:
    """The token sequence ``(T, D)`` as a heatmap: row 0 is [CLS], row ``k`` patch ``k``."""
    labels = ["[CLS]"] + [f"patch {k}" for k in range(1, len(z))]
    m = float(np.abs(z).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=z.T, x=labels, colorscale="RdBu", zmid=0, zmin=-m, zmax=m,
                               hovertemplate="%{x}, dim %{y}: %{z:.3f}<extra></extra>"))
    fig.update_xaxes(showticklabels=len(z) <= 20, tickangle=-60)
    fig.update_yaxes(title="embedding dim", autorange="reversed")
    fig.update_layout(margin=dict(l=4, r=4, t=30, b=4), height=height, title=dict(text=title, font=dict(size=14)))
    return fig


def filters_figure(imgs: np.ndarray, var: np.ndarray, cols: int = 6, height: int = 260) -> go.Figure:
    """Principal components ``(k, p, p, 3)`` of the embedding filters on a grid of ``cols`` columns, each
    labelled with the share of variance it holds."""
    k, p = imgs.shape[:2]
    gap = max(1, p // 3)
    rows = -(-k // cols)
    lab = max(2, p // 2)                                   # room under each tile for its label
    canvas = np.full((rows * (p + gap + lab), cols * (p + gap) - gap, 3), 1.0)
    fig = go.Figure()
    for i in range(k):
        r, c = divmod(i, cols)
        y, x = r * (p + gap + lab), c * (p + gap)
        canvas[y:y + p, x:x + p] = imgs[i]
        fig.add_annotation(x=x + (p - 1) / 2, y=y + p - 0.3, yanchor="top", text=f"{var[i]:.0%}", showarrow=False,
                           font=dict(size=10))
    fig.add_trace(png_image(quantize(canvas)))
    return _bare(fig, height)


def mosaic_figure(m: np.ndarray, row_labels: list[str], col_labels: list[str], tile: int, gap: int = 1,
                  colorscale: str = "Viridis", zmin: float | None = None, zmax: float | None = None,
                  height: int = 360, title: str = "", hover: str = "%{z:.3f}") -> go.Figure:
    """A mosaic (from :func:`dlviz.vit.views.mosaic`) of ``tile x tile`` maps with labels per row and column."""
    fig = go.Figure(go.Heatmap(z=m, colorscale=colorscale, zmin=zmin, zmax=zmax, hoverongaps=False,
                               hovertemplate=hover + "<extra></extra>"))
    ticks = [r * (tile + gap) + (tile - 1) / 2 for r in range(len(row_labels))]
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", tickvals=ticks,
                     ticktext=row_labels, showgrid=False, zeroline=False)
    ticks = [c * (tile + gap) + (tile - 1) / 2 for c in range(len(col_labels))]
    fig.update_xaxes(constrain="domain", tickvals=ticks, ticktext=col_labels, side="top", showgrid=False,
                     zeroline=False)
    fig.update_layout(margin=dict(l=4, r=4, t=40 if title else 24, b=4), height=height, plot_bgcolor="white",
                      title=dict(text=title, font=dict(size=14), y=0.99))
    return fig


def efficiency_figure(sizes: np.ndarray, vit: np.ndarray, cnn: np.ndarray, vit_label: str, cnn_label: str,
                      height: int = 360) -> go.Figure:
    """Test accuracy against the number of training images (log x): the mean over seeds (rows of ``vit`` /
    ``cnn``), the band ± one standard error of that mean (none for one seed)."""
    fig = go.Figure()
    for acc, name, colour in ((cnn, cnn_label, PALETTE[0]), (vit, vit_label, PALETTE[1])):
        k = acc.shape[0]
        mean = acc.mean(0)
        se = acc.std(0, ddof=1) / np.sqrt(k) if k > 1 else np.zeros_like(mean)
        if k > 1:
            fig.add_trace(go.Scatter(x=np.r_[sizes, sizes[::-1]], y=np.r_[mean + se, (mean - se)[::-1]], fill="toself",
                                     mode="none", fillcolor=colour, opacity=0.2, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=sizes, y=mean, mode="lines+markers", name=name, line=dict(color=colour),
                                 customdata=se, hovertemplate="%{x} images: %{y:.1%} ± %{customdata:.1%} (s.e., "
                                 + f"{k} seed{'s' * (k > 1)})<extra>" + name.split(" (")[0] + "</extra>"))
    fig.update_xaxes(type="log", title="training images", tickvals=list(sizes))
    lo = float(min(vit.min(), cnn.min()))
    fig.update_yaxes(title="test accuracy", tickformat=".0%", range=[max(0.0, lo - 0.05), 1.005])
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=10, b=4), legend=dict(x=0.45, y=0.08))
    return fig


def equivariance_figure(errors: dict[int, dict[str, float]], patch: int, height: int = 340) -> go.Figure:
    """Relative equivariance error per stage (x) for each shift (one bar group per shift)."""
    fig = go.Figure()
    for i, (s, per) in enumerate(errors.items()):
        kind = "multiple of the patch" if s % patch == 0 else "not a multiple"
        fig.add_trace(go.Bar(x=list(per), y=list(per.values()), name=f"{s} px ({kind})",
                             marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate="%{x}: %{y:.3g}<extra>" + f"shift {s} px</extra>"))
    fig.update_yaxes(title="‖f(Tx) − T′f(x)‖ / ‖f(x)‖")
    fig.update_layout(barmode="group", height=height, margin=dict(l=4, r=4, t=10, b=4),
                      legend=dict(orientation="h", y=1.08))
    return fig


def prediction_figure(probs: np.ndarray, names: list[str], height: int = 220) -> go.Figure:
    fig = go.Figure(go.Bar(x=names, y=probs, marker_color=PALETTE[0], hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=10, b=4))
    return fig
