"""Figures for the classifier lab: confusion matrix (clickable), per-class accuracy, the feature embedding,
the learning-rate schedule, train-vs-validation curves and the with/without-augmentation comparison."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dlviz.plotting import PALETTE, to_numpy

CLASS_COLORS = PALETTE + ["#EECA3B", "#BAB0AC", "#1F77B4", "#8C564B", "#17BECF", "#BCBD22"]


def _base(title: str = "", height: int | None = None, **extra) -> dict:
    """A layout dict. Figures are built as ``go.Figure(traces, layout)``: passing the layout to the
    constructor is several times cheaper than ``update_layout``/``update_xaxes`` calls (reruns stay fast)."""
    return {"title": {"text": title, "font": {"size": 14}}, "height": height,
            "margin": {"l": 4, "r": 4, "t": 36 if title else 8, "b": 4}, **extra}


def _layout(fig: go.Figure, title: str = "", height: int | None = None) -> go.Figure:
    fig.update_layout(**_base(title, height))
    return fig


def confusion_figure(confusion, class_names: list[str], normalise: bool = True, selected: tuple[int, int] | None = None,
                     height: int = 460) -> go.Figure:
    """Rows: true class; columns: predicted class. Colour is the row-normalised rate (or the count); every
    cell shows its count. An invisible marker sits on each cell so a click selects it (Streamlit's
    selection events do not fire on heatmaps): the point's ``customdata`` is ``(true, predicted)``."""
    cm = to_numpy(confusion).astype(np.float64)
    k = len(class_names)
    rate = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    z = rate if normalise else cm
    text = [[f"{int(cm[i, j])}" if cm[i, j] else "" for j in range(k)] for i in range(k)]
    hover = [[f"true <b>{class_names[i]}</b><br>predicted <b>{class_names[j]}</b><br>{int(cm[i, j])} images "
              f"({100 * rate[i, j]:.1f}% of the row)" for j in range(k)] for i in range(k)]
    heat = go.Heatmap(z=z, x=list(range(k)), y=list(range(k)), colorscale="Blues", text=text,
                      texttemplate="%{text}", hoverinfo="skip", showscale=False, zmin=0, zmax=1 if normalise else None)
    ii, jj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    hits = go.Scatter(x=jj.ravel(), y=ii.ravel(), mode="markers",
                      marker={"size": max(8, 300 // k), "symbol": "square", "opacity": 0.01, "color": "#000"},
                      customdata=np.stack([ii.ravel(), jj.ravel()], 1),
                      hovertext=[hover[i][j] for i, j in zip(ii.ravel(), jj.ravel())],
                      hovertemplate="%{hovertext}<extra></extra>", showlegend=False)
    shapes = []
    if selected is not None:
        i, j = selected
        shapes.append({"type": "rect", "x0": j - 0.5, "x1": j + 0.5, "y0": i - 0.5, "y1": i + 0.5,
                       "line": {"color": "#E45756", "width": 3}})
    ticks = {"tickmode": "array", "tickvals": list(range(k)), "ticktext": class_names}
    layout = _base(height=height, shapes=shapes, clickmode="event+select", dragmode=False,
                   yaxis={"autorange": "reversed", "title": {"text": "true class"}, **ticks},
                   xaxis={"title": {"text": "predicted class"}, "tickangle": -40, **ticks})
    return go.Figure([heat, hits], layout)


def per_class_figure(per_class, class_names: list[str], height: int = 320) -> go.Figure:
    acc = to_numpy(per_class).astype(float)
    order = np.argsort(np.nan_to_num(acc, nan=2.0))
    bar = go.Bar(x=acc[order], y=[class_names[i] for i in order], orientation="h",
                 marker_color=[CLASS_COLORS[i % len(CLASS_COLORS)] for i in order],
                 text=[f"{100 * a:.1f}%" if np.isfinite(a) else "no images" for a in acc[order]],
                 textposition="auto", hovertemplate="%{y}: %{x:.1%}<extra></extra>")
    return go.Figure(bar, _base("Per-class accuracy (worst first)", height, yaxis={"autorange": "reversed"}, xaxis={
        "range": [0, 1.0], "tickformat": ".0%", "title": {"text": "accuracy on the class's validation images"}}))


def embedding_figure(points, labels, preds, confidence, class_names: list[str], method: str,
                     height: int = 480) -> go.Figure:
    """Penultimate features in 2-D, coloured by true class; wrong predictions drawn as crosses.
    Each point's ``customdata[0]`` is its index in the validation set (for click-to-inspect)."""
    p, y, yh, conf = to_numpy(points), to_numpy(labels), to_numpy(preds), to_numpy(confidence)
    traces = []
    for c, name in enumerate(class_names):
        for wrong in (False, True):
            idx = np.nonzero((y == c) & ((yh != y) == wrong))[0]
            if len(idx) == 0:
                continue
            traces.append(go.Scattergl(
                x=p[idx, 0], y=p[idx, 1], mode="markers", name=name if not wrong else f"{name} (wrong)",
                legendgroup=name, showlegend=not wrong,
                marker={"color": CLASS_COLORS[c % len(CLASS_COLORS)], "size": 10 if wrong else 6,
                        "symbol": "x" if wrong else "circle", "opacity": 1.0 if wrong else 0.75,
                        "line": {"width": 1, "color": "#222"} if wrong else {"width": 0}},
                customdata=np.stack([idx, yh[idx], conf[idx]], 1),
                hovertemplate=f"#%{{customdata[0]}} · true <b>{name}</b><br>predicted %{{text}} "
                              f"(%{{customdata[2]:.0%}})<extra></extra>",
                text=[class_names[int(k)] for k in yh[idx]]))
    return go.Figure(traces, _base(f"Penultimate-layer features, {method} (crosses: misclassified)", height,
                                   xaxis={"showticklabels": False, "title": {"text": f"{method} 1"}},
                                   yaxis={"showticklabels": False, "title": {"text": f"{method} 2"}},
                                   legend={"itemsizing": "constant"}, dragmode="pan"))


def schedule_figure(curve, title: str = "Learning rate per step", height: int = 180) -> go.Figure:
    c = to_numpy(curve)
    line = go.Scatter(x=np.arange(len(c)), y=c, mode="lines", line={"color": PALETTE[0], "width": 2},
                      hovertemplate="step %{x}: lr %{y:.3g}<extra></extra>")
    return go.Figure(line, _base(title, height, xaxis={"title": {"text": "step"}}, yaxis={"exponentformat": "e"}))


def curves_figure(histories: dict[str, dict], metric_pairs: tuple[tuple[str, str], ...] = (("train_acc", "val_acc"),
                                                                                          ("train_loss", "val_loss")),
                  height: int = 300) -> go.Figure:
    """Train (dashed) vs validation (solid) curves per run: where they part is where over-fitting starts."""
    from plotly.subplots import make_subplots

    titles = [f"{a.split('_')[1]}: train (dashed) vs validation" for a, _ in metric_pairs]
    fig = make_subplots(rows=1, cols=len(metric_pairs), subplot_titles=titles)
    for ri, (run, hist) in enumerate(histories.items()):
        color = PALETTE[ri % len(PALETTE)]
        for ci, pair in enumerate(metric_pairs, 1):
            for m, dash in zip(pair, ("dash", "solid")):
                steps, vals = hist.get(m, ([], []))
                if not steps:
                    continue
                label = f"{run} · {m}" if run else m
                fig.add_trace(go.Scatter(x=steps, y=vals, mode="lines+markers", name=label,
                                         line={"color": color, "dash": dash, "width": 2}, marker={"size": 4},
                                         showlegend=ci == 1, legendgroup=label, cliponaxis=False), 1, ci)
    for ci, pair in enumerate(metric_pairs, 1):
        if any(m.endswith("acc") for m in pair):   # accuracy spans [0, 1] (issue 15: an empty axis read -1..1)
            fig.update_yaxes(tickformat=".0%", range=[0, 1], row=1, col=ci)
    fig.update_xaxes(title_text="step")
    fig.update_layout(legend={"orientation": "h", "y": -0.3}, height=height,
                      margin={"l": 4, "r": 4, "t": 30, "b": 4})          # room for the subplot titles
    for ann in fig.layout.annotations:
        ann.font.size = 13
    return fig


def comparison_figure(results: dict[str, float], title: str = "Validation accuracy", height: int = 260) -> go.Figure:
    names = list(results)
    vals = [results[n] for n in names]
    bar = go.Bar(x=names, y=vals, marker_color=PALETTE[:len(names)], text=[f"{v:.1%}" for v in vals],
                 textposition="outside", hovertemplate="%{x}: %{y:.2%}<extra></extra>")
    lo = max(0.0, min(vals) - 0.15) if vals else 0.0
    return go.Figure(bar, _base(title, height, yaxis={"range": [lo, 1.05], "tickformat": ".0%"}))
