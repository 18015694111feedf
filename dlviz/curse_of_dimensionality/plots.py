"""Figures for the curse-of-dimensionality page: distances concentrating, volume leaving the centre,
k-NN collapsing, and the parameter bill of a dense layer on an image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from dlviz.plotting import PALETTE

_M = {"l": 4, "r": 4, "t": 30, "b": 4}


def distance_histogram_figure(stats: Sequence, height: int = 330, bins: int = 60) -> go.Figure:
    """Pairwise distances divided by their mean, one histogram per dimension (binned here, so the
    figure stays small however many pairs there are): the peak narrows around 1 as d grows."""
    fig = go.Figure()
    edges = np.linspace(0, 2.5, bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    for i, s in enumerate(stats):
        dens, _ = np.histogram(s.distances / s.mean, bins=edges, density=True)
        fig.add_trace(go.Bar(x=centers, y=dens, width=edges[1] - edges[0], name=f"d = {s.dim:,}", opacity=0.6,
                             marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="overlay", bargap=0, height=height, margin=_M, legend={"orientation": "h", "y": 1.12})
    fig.update_xaxes(title="distance / mean distance", range=[0, 2.5])
    fig.update_yaxes(title="density")
    return fig


def ratio_figure(curve: dict[str, np.ndarray], current: int | None = None, height: int = 330) -> go.Figure:
    """max/min distance ratio and the relative spread std/mean (with its sqrt(7d/180)/(d/3) law), both on
    one log axis: both fall towards 'every distance is the same'."""
    d = curve["dims"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=d, y=curve["ratio"], mode="lines+markers", name="max / min distance",
                             line={"color": PALETTE[3], "width": 2}))
    fig.add_trace(go.Scatter(x=d, y=curve["spread"], mode="lines+markers", name="std / mean distance",
                             line={"color": PALETTE[0], "width": 2}))
    fig.add_trace(go.Scatter(x=d, y=curve["theory_spread"], mode="lines", name="theory: √(7d/180) / (d/3)",
                             line={"color": "#222", "width": 1, "dash": "dash"}))
    if current is not None:
        fig.add_vline(x=current, line={"color": "#999", "dash": "dot"})
    fig.update_xaxes(type="log", title="dimension d")
    fig.update_yaxes(type="log", exponentformat="power", dtick=1)
    fig.update_layout(height=height, margin=_M, legend={"orientation": "h", "y": 1.18})
    return fig


def volume_figure(dims: np.ndarray, log10_ball: np.ndarray, shells: dict[float, np.ndarray],
                  current: int | None = None, height: int = 330) -> go.Figure:
    """log10 of the cube's volume inside its inscribed ball (left axis), and the fraction of a ball's
    volume in thin outer shells (right axis)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=dims, y=log10_ball, mode="lines", name="log₁₀(cube volume inside the ball)",
                             line={"color": PALETTE[3], "width": 3}))
    for i, (eps, frac) in enumerate(shells.items()):
        fig.add_trace(go.Scatter(x=dims, y=frac, mode="lines", name=f"volume in the outer {eps:.0%} shell",
                                 line={"color": PALETTE[(i + 1) % len(PALETTE)], "width": 2}, yaxis="y2"))
    if current is not None:
        fig.add_vline(x=current, line={"color": "#999", "dash": "dot"})
    fig.update_xaxes(type="log", title="dimension d")
    fig.update_layout(height=height, margin=_M, legend={"orientation": "h", "y": 1.2},
                      yaxis={"title": "log₁₀(ball / cube)"},
                      yaxis2={"title": "shell fraction", "overlaying": "y", "side": "right", "range": [0, 1.02],
                              "showgrid": False})
    return fig


def knn_figure(dims: Sequence[int], acc: np.ndarray, chance: float = 0.5, current: int | None = None,
               height: int = 330) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(dims), y=acc, mode="lines+markers", name="k-NN test accuracy",
                             line={"color": PALETTE[2], "width": 3}))
    fig.add_hline(y=chance, line={"color": "#999", "dash": "dash"}, annotation_text="chance")
    if current is not None:
        fig.add_vline(x=current, line={"color": "#999", "dash": "dot"})
    fig.update_xaxes(type="log", title="total dimension d (signal always in the first 2)")
    fig.update_yaxes(title="accuracy", range=[0.4, 1.02])
    fig.update_layout(height=height, margin=_M, showlegend=False)
    return fig


def scatter_2d_figure(x: np.ndarray, y: np.ndarray, height: int = 330) -> go.Figure:
    """The two informative coordinates of the k-NN data: the classes are cleanly separable there."""
    fig = go.Figure()
    for c in (0, 1):
        m = y == c
        fig.add_trace(go.Scatter(x=x[m, 0], y=x[m, 1], mode="markers", name=f"class {c}",
                                 marker={"size": 5, "color": PALETTE[c], "opacity": 0.7}))
    fig.update_xaxes(title="x₁", range=[0, 1])
    fig.update_yaxes(title="x₂", range=[0, 1], scaleanchor="x")
    fig.update_layout(height=height, margin=_M, legend={"orientation": "h", "y": 1.12})
    return fig


def params_figure(sizes: Sequence[int], dense: Sequence[int], conv: Sequence[int], height: int = 330) -> go.Figure:
    """Parameters of a dense layer vs a conv layer as the image grows (log)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(sizes), y=list(dense), mode="lines+markers", name="fully connected layer",
                             line={"color": PALETTE[3], "width": 3}))
    fig.add_trace(go.Scatter(x=list(sizes), y=list(conv), mode="lines+markers", name="conv layer",
                             line={"color": PALETTE[0], "width": 3}))
    fig.update_xaxes(title="image side (pixels)", type="log")
    fig.update_yaxes(title="parameters", type="log", exponentformat="power")
    fig.update_layout(height=height, margin=_M, legend={"orientation": "h", "y": 1.12})
    return fig
