"""The Convolutions page's figures. One colour meaning on the whole page: every signed quantity (kernel weights,
feature maps, learned filters) uses one diverging map centred on 0 -- red positive, white zero, blue negative --
with a colour bar; accuracy axes span [0, 1]."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.plotting import heatmap_figure, metrics_figure, to_numpy

SIGNED = "RdBu_r"        # red > 0, white = 0, blue < 0: the page's one colour scale for signed values


def signed_heatmap(arr, title: str = "", height: int = 320, annotate: bool = False, robust: bool = False,
                   colorbar_title: str = "value") -> go.Figure:
    """One signed map on the page's diverging scale, centred on 0, with a colour bar."""
    fig = heatmap_figure(arr, title, colorscale=SIGNED, symmetric=True, height=height, annotate=annotate,
                         showscale=True, robust=robust)
    fig.data[0].colorbar = dict(title=dict(text=colorbar_title, side="right"), thickness=12)
    return fig


def signed_grid_figure(maps, titles: list[str] | None = None, cols: int = 8, height_per_row: int = 115,
                       colorbar_title: str = "value") -> go.Figure:
    """Maps ``(N, H, W)`` (or ``(N, 1, H, W)``) in a grid sharing **one** colour axis centred on 0 (so colours
    compare across maps), with one colour bar."""
    arr = to_numpy(maps).astype(np.float64)
    if arr.ndim == 4:
        arr = arr[:, 0]
    n = len(arr)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    lim = float(np.abs(arr).max()) or 1.0
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.01,
                        vertical_spacing=0.08 if titles else 0.01)
    for i in range(n):
        fig.add_trace(go.Heatmap(z=arr[i], coloraxis="coloraxis", hovertemplate="%{z:.3g}<extra></extra>"),
                      i // cols + 1, i % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=None)
    for ann in fig.layout.annotations:
        ann.font.size = 11
    fig.update_layout(coloraxis=dict(colorscale=SIGNED, cmin=-lim, cmax=lim, cmid=0,
                                     colorbar=dict(title=dict(text=colorbar_title, side="right"), thickness=12)),
                      margin=dict(l=4, r=4, t=30, b=4), height=rows * height_per_row + (20 if titles else 0))
    return fig


def accuracy_figure(histories: dict, metrics: tuple[str, ...] = ("acc", "test_acc"), height: int = 260) -> go.Figure:
    """Live accuracy curves on a fixed [0, 1] axis: a run stuck at chance (0.1) is a flat line at the bottom,
    not a zoomed-in V."""
    fig = metrics_figure(histories, metrics, log_y=False, height=height)
    fig.update_yaxes(range=[0, 1.02], autorange=False)
    return fig
