"""Figures for the Activations and losses page: activation curves with their derivatives and saturation
regions, losses and their gradients along the prediction, robust line fits, and dead units.

Pure functions of :mod:`dlviz.activations_losses.core` results.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.activations_losses.core import ACTIVATIONS, TASKS, Curve, LayerActivity, losses_for
from dlviz.plotting import PALETTE

_MARGIN = {"l": 8, "r": 8, "t": 40, "b": 8}

# One palette for the page (issue 15): a colour belongs to a name, not to a position in whatever is selected.
_MORE = ["#EECA3B", "#79706E", "#17BECF", "#BCBD22", "#393B79"]
ACT_COLORS = {n: (PALETTE + _MORE)[i] for i, n in enumerate(ACTIVATIONS)}
# losses: one colour per loss within its task (a loss chart shows one task; the line fits use the regression losses)
LOSS_COLORS = {n: PALETTE[i % len(PALETTE)] for t in TASKS for i, n in enumerate(losses_for(t))}
LR_OK, LR_OTHER = PALETTE[0], PALETTE[1]
_MARK = "#444444"          # thresholds, targets, inspected points: no series colour


def lr_color(label: str) -> str:
    """The dead-ReLU models' colour: the baseline learning rate 0.001 blue, any other learning rate orange, in the
    shipped charts and in the user's run (whose baseline is listed first, so the shared monitor agrees)."""
    return LR_OK if label.split("(")[0].strip().endswith("lr 0.001") else LR_OTHER


def _color(name: str, i: int) -> str:
    return ACT_COLORS.get(name) or LOSS_COLORS.get(name) or PALETTE[i % len(PALETTE)]
SAT_COLOR = "rgba(228, 87, 86, 0.13)"
# exactly 0 (dead) is black; anything alive starts at Viridis' dark purple
_DEAD_SCALE = [[0.0, "#000000"], [1e-6, "#000000"], [2e-6, "#440154"], [0.25, "#3B528B"], [0.5, "#21918C"],
               [0.75, "#5EC962"], [1.0, "#FDE725"]]


MAX_DRAWN = 400      # points per drawn curve: 1,201 per curve made the figure ~280 kB of JSON for the browser


def activation_figure(curves: dict[str, Curve], focus: str | None = None, pre_act: tuple[float, float] | None = None,
                      height: int = 520) -> go.Figure:
    """f(x) (left) and f'(x) (right) for several activations; the saturation regions of ``focus``
    (|f'| < threshold) shaded red; optionally the density of pre-activations N(mean, std^2) under f'."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.07,
                        subplot_titles=("activation f(x)", "derivative f'(x)  (autograd)"))
    for i, (name, c) in enumerate(curves.items()):
        color = ACT_COLORS.get(name, PALETTE[i % len(PALETTE)])
        width = 3.5 if name == focus else 2
        k = slice(None, None, max(1, (len(c.x) - 1) // MAX_DRAWN))   # the numbers use every point; ~400 are drawn
        fig.add_trace(go.Scatter(x=c.x[k], y=c.y[k], name=name, legendgroup=name, line={"color": color, "width": width},
                                 hovertemplate=f"{name}<br>x=%{{x:.2f}}<br>f=%{{y:.4f}}<extra></extra>"), 1, 1)
        fig.add_trace(go.Scatter(x=c.x[k], y=c.dy[k], name=name, legendgroup=name, showlegend=False,
                                 line={"color": color, "width": width},
                                 hovertemplate=f"{name}<br>x=%{{x:.2f}}<br>f'=%{{y:.4f}}<extra></extra>"), 1, 2)
    if focus in curves:
        c = curves[focus]
        for lo, hi in c.regions:
            for col in (1, 2):
                fig.add_vrect(x0=lo, x1=hi, fillcolor=SAT_COLOR, line_width=0, layer="below", row=1, col=col)
        fig.add_hline(y=c.threshold, line={"dash": "dot", "color": _MARK, "width": 1}, row=1, col=2,
                      annotation_text=f"|f'| = {c.threshold:g}", annotation_position="top right")
        if c.regions:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", marker={"color": SAT_COLOR, "size": 14,
                          "symbol": "square"}, name=f"{focus}: saturated (|f'| < {c.threshold:g})"), 1, 1)
    if pre_act is not None and curves:
        mean, std = pre_act
        x = next(iter(curves.values())).x
        dens = np.exp(-0.5 * ((x - mean) / max(std, 1e-6)) ** 2)
        top = max(1.0, max(float(np.nanmax(c.dy)) for c in curves.values()))
        fig.add_trace(go.Scatter(x=x, y=dens * top * 0.5, fill="tozeroy", mode="none", name=f"pre-activations "
                                 f"N({mean:g}, {std:g}²) (shape)", fillcolor="rgba(120,120,120,0.18)",
                                 hoverinfo="skip"), 1, 2)
    fig.update_xaxes(title_text="x (pre-activation)", zeroline=True, zerolinecolor="#bbb")
    fig.update_yaxes(zeroline=True, zerolinecolor="#bbb")
    fig.update_layout(height=height, margin=_MARGIN, legend={"orientation": "h", "y": -0.18})
    return fig


def loss_figure(x: np.ndarray, curves: dict[str, tuple[np.ndarray, np.ndarray]], xlabel: str,
                point: float | None = None, target: float | None = None, ylim: float | None = None,
                glim: float | None = None, height: int = 480) -> go.Figure:
    """Loss (left) and its gradient with respect to the prediction (right), one colour per loss."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.07,
                        subplot_titles=("loss", "gradient  ∂loss/∂prediction  (autograd)"))
    for i, (name, (loss, grad)) in enumerate(curves.items()):
        color = LOSS_COLORS.get(name, PALETTE[i % len(PALETTE)])
        fig.add_trace(go.Scatter(x=x, y=loss, name=name, legendgroup=name, line={"color": color, "width": 2.5},
                                 hovertemplate=f"{name}<br>%{{x:.3f}} → loss %{{y:.4f}}<extra></extra>"), 1, 1)
        fig.add_trace(go.Scatter(x=x, y=grad, name=name, legendgroup=name, showlegend=False,
                                 line={"color": color, "width": 2.5},
                                 hovertemplate=f"{name}<br>%{{x:.3f}} → grad %{{y:.4f}}<extra></extra>"), 1, 2)
        if point is not None:
            i_pt = int(np.argmin(np.abs(x - point)))
            for col, arr in ((1, loss), (2, grad)):
                fig.add_trace(go.Scatter(x=[x[i_pt]], y=[arr[i_pt]], mode="markers", showlegend=False,
                                         marker={"color": color, "size": 10, "line": {"color": "white", "width": 1}},
                                         hoverinfo="skip"), 1, col)
    if point is not None:
        for col in (1, 2):
            fig.add_vline(x=point, line={"color": "#444", "dash": "dot", "width": 1}, row=1, col=col)
    if target is not None:
        fig.add_vline(x=target, line={"color": _MARK, "width": 1}, row=1, col=1,
                      annotation_text="target", annotation_position="top")
    if ylim is not None:
        fig.update_yaxes(range=[-0.05 * ylim, ylim], row=1, col=1)
    if glim is not None:
        fig.update_yaxes(range=[-glim, glim], row=1, col=2)
    fig.update_xaxes(title_text=xlabel, zeroline=True, zerolinecolor="#bbb")
    fig.update_yaxes(zeroline=True, zerolinecolor="#bbb")
    fig.update_layout(height=height, margin=_MARGIN, legend={"orientation": "h", "y": -0.2})
    return fig


def line_fit_figure(x: np.ndarray, y: np.ndarray, fits: dict[str, tuple[float, float]],
                    truth: tuple[float, float], height: int = 380) -> go.Figure:
    """The data (outliers and all), the true line, and the line each loss fits."""
    fig = go.Figure(go.Scatter(x=x, y=y, mode="markers", name="data", marker={"color": "#555", "size": 7}))
    xs = np.array([x.min(), x.max()])
    fig.add_trace(go.Scatter(x=xs, y=truth[0] * xs + truth[1], mode="lines", name="true line",
                             line={"color": "#999", "dash": "dash", "width": 2}))
    for i, (name, (a, b)) in enumerate(fits.items()):
        fig.add_trace(go.Scatter(x=xs, y=a * xs + b, mode="lines", name=f"{name}: y = {a:.2f}x + {b:.2f}",
                                 line={"color": _color(name, i), "width": 2.5}))
    fig.update_layout(height=height, margin=_MARGIN, legend={"orientation": "h", "y": -0.15},
                      title={"text": "fitting a line with each loss (exact minimiser, IRLS)", "font": {"size": 14}})
    return fig


def dead_units_figure(models: dict[str, list[LayerActivity]], height: int = 320) -> go.Figure:
    """Per layer: the fraction of units that pass no gradient on any training input; one bar per model."""
    fig = go.Figure()
    for label, acts in models.items():
        fig.add_trace(go.Bar(x=[f"layer {j + 1}" for j in range(len(acts))], y=[100 * a.dead_fraction for a in acts],
                             name=label, marker_color=lr_color(label),
                             text=[f"{a.dead}/{a.units}" for a in acts], textposition="outside",
                             hovertemplate="%{x}: %{text} dead (%{y:.0f}%)<extra>" + label + "</extra>"))
    fig.update_layout(barmode="group", height=height, margin=_MARGIN, yaxis={"title": "dead units (%)",
                      "range": [0, 110]}, legend={"orientation": "h", "y": -0.2},
                      title={"text": "dead units per layer", "font": {"size": 14}})
    return fig


def activity_figure(models: dict[str, list[LayerActivity]], height_per_model: int = 150) -> go.Figure:
    """One strip per layer: every unit's active fraction (share of inputs on which it passes gradient),
    units sorted; black cells are dead units."""
    labels = list(models)
    fig = make_subplots(rows=len(labels), cols=1, subplot_titles=labels, shared_xaxes=True,
                        vertical_spacing=0.25 / max(1, len(labels)))
    for r, label in enumerate(labels, 1):
        acts = models[label]
        width = max(a.units for a in acts)
        z = np.full((len(acts), width), np.nan)
        for j, a in enumerate(acts):
            z[j, :a.units] = np.sort(a.active_fraction)
        fig.add_trace(go.Heatmap(z=z, y=[f"layer {j + 1}" for j in range(len(acts))], zmin=0, zmax=1,
                                 colorscale=_DEAD_SCALE, showscale=r == 1,
                                 colorbar={"title": "active<br>fraction", "len": 0.8},
                                 hovertemplate="%{y}, unit rank %{x}: active on %{z:.0%} of inputs<extra></extra>"),
                      r, 1)
        fig.update_yaxes(autorange="reversed", row=r, col=1)
        fig.update_xaxes(title_text="units (sorted by activity)" if r == len(labels) else None, row=r, col=1)
    fig.update_layout(height=60 + height_per_model * len(labels), margin=_MARGIN)
    return fig


def dead_trajectory_figure(runs: dict[str, list[tuple[int, list[float]]]], height: int = 320) -> go.Figure:
    """Dead fraction of every layer over training, one colour per run, one dash per layer."""
    fig = go.Figure()
    dashes = ["solid", "dash", "dot", "dashdot"]
    for label, snaps in runs.items():
        if not snaps:
            continue
        steps = [s for s, _ in snaps]
        layers = len(snaps[0][1])
        for j in range(layers):
            fig.add_trace(go.Scatter(x=steps, y=[100 * v[j] for _, v in snaps], mode="lines",
                                     name=f"{label} · layer {j + 1}", legendgroup=label,
                                     line={"color": lr_color(label), "dash": dashes[j % 4], "width": 2}))
    fig.update_layout(height=height, margin=_MARGIN, xaxis={"title": "step"},
                      yaxis={"title": "dead units (%)", "range": [0, 105]}, legend={"orientation": "h", "y": -0.25},
                      title={"text": "dead units during training", "font": {"size": 14}})
    return fig


def thumbnail() -> np.ndarray:
    """Landing-card picture: sigmoid, tanh and ReLU with sigmoid's saturation regions shaded."""
    from PIL import Image, ImageDraw

    from dlviz.activations_losses.core import curve

    w, h = 300, 150
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)

    def px(x: float, y: float) -> tuple[float, float]:
        return (x + 6) / 12 * w, h - 10 - (y + 1.2) / 7.4 * (h - 20)

    for lo, hi in curve("sigmoid", threshold=0.05).regions:
        d.rectangle([px(lo, 0)[0], 0, px(hi, 0)[0], h], fill=(250, 222, 222))
    d.line([px(-6, 0), px(6, 0)], fill=(190, 190, 190), width=1)
    for name, color in (("ReLU", (84, 162, 75)), ("tanh", (245, 133, 24)), ("sigmoid", (76, 120, 168))):
        c = curve(name, n=241)
        d.line([px(x, y) for x, y in zip(c.x, c.y)], fill=color, width=3)
    return np.asarray(im)
