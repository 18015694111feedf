"""Figures for the residual-connections page: gradient and activation profiles, layer x step heatmaps,
training curves of shallow/deep plain/residual nets, and loss-landscape slices (Li et al., 2018)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.plotting import PALETTE, ema

# One colour per net on the whole page (issue 15), the colours the shared training monitor gives the run's nets
# in their order (core.degradation_nets): residual cool, plain warm; the deeper net of a family the stronger colour.
# Section 1's "plain" / "residual" (one depth) take their family's deep colour.
NET_COLORS = {("residual", True): PALETTE[0], ("plain", True): PALETTE[1],
              ("residual", False): PALETTE[2], ("plain", False): PALETTE[3]}
FAMILY_COLORS = {"residual": PALETTE[0], "plain": PALETTE[1]}
_MARGIN = {"l": 4, "r": 4, "t": 40, "b": 4}


def _is_deep(name: str, depths: list[int] | None) -> bool:
    d = name.partition("-")[2]
    return not depths or not d.isdigit() or int(d) >= max(depths)


def net_color(name: str, depths: list[int] | None = None) -> str:
    """The page's colour of a net (``plain-10``, ``residual-2``, or a family name), given the run's depths."""
    fam = name.partition("-")[0]
    return NET_COLORS.get((fam, _is_deep(name, depths)), "#555555")


def net_style(name: str, depths: list[int] | None = None) -> dict:
    """:func:`net_color`, and dash by depth (shallow dotted, deep solid)."""
    deep = _is_deep(name, depths)
    return {"color": net_color(name, depths), "dash": "solid" if deep else "dot", "width": 2.5 if deep else 2}


def _depths(names) -> list[int]:
    return sorted({int(n.rsplit("-", 1)[1]) for n in names if n.rsplit("-", 1)[-1].isdigit()})


def init_profile_figure(profiles: list, height: int = 340) -> go.Figure:
    """Left: ||dL/dW|| per weight layer (log); right: activation variance per block output (log)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.09,
                        subplot_titles=("gradient norm ‖∂L/∂W‖ per layer (input → output)",
                                        "activation variance after the stem and each block"))
    for p in profiles:
        style = {"color": FAMILY_COLORS.get(p.name, "#555555"), "width": 2}
        g = np.where(p.grad_norms > 0, p.grad_norms, np.nan)
        fig.add_trace(go.Scatter(x=list(range(len(p.layers))), y=g, mode="lines+markers", name=p.name,
                                 line=style, marker={"size": 4}, customdata=p.layers, legendgroup=p.name,
                                 hovertemplate="%{customdata}: %{y:.3g}<extra>" + p.name + "</extra>"), 1, 1)
        fig.add_trace(go.Scatter(x=list(range(len(p.reps))), y=np.where(p.act_var > 0, p.act_var, np.nan),
                                 mode="lines+markers", name=p.name, line=style, marker={"size": 4},
                                 customdata=p.reps, legendgroup=p.name, showlegend=False,
                                 hovertemplate="%{customdata}: %{y:.3g}<extra>" + p.name + "</extra>"), 1, 2)
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(title_text="layer index", row=1, col=1)
    fig.update_xaxes(title_text="block", row=1, col=2)
    fig.update_layout(height=height, margin=_MARGIN, legend={"orientation": "h", "y": -0.2})
    for a in fig.layout.annotations:
        a.font.size = 13
    return fig


def grad_heatmaps_figure(tables: dict[str, tuple[np.ndarray, np.ndarray, list[str]]], height: int = 360) -> go.Figure:
    """One heatmap per net: log10 ||dL/dW|| with layers (input at the bottom) x training steps.

    ``tables``: ``{net: (steps (S,), norms (S, L), layer names)}``. One colour scale for all panels; an
    exactly zero gradient is left blank.
    """
    names = list(tables)
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=names, horizontal_spacing=0.06)
    with np.errstate(divide="ignore"):
        logs = {n: np.where(t[1] > 0, np.log10(np.where(t[1] > 0, t[1], 1.0)), np.nan)   # 0 -> blank
                for n, t in tables.items() if t[1].size}
    allv = np.concatenate([v.ravel() for v in logs.values()]) if logs else np.zeros(0)
    allv = allv[np.isfinite(allv)]
    lo, hi = (float(np.percentile(allv, 1)), float(np.percentile(allv, 99))) if allv.size else (-3.0, 1.0)
    for i, n in enumerate(names, 1):
        steps, norms, layers = tables[n]
        if not norms.size:
            continue
        fig.add_trace(go.Heatmap(z=logs[n].T, x=steps, y=list(range(len(layers))), zmin=lo, zmax=hi,
                                 colorscale="Viridis", customdata=np.repeat(np.array(layers)[:, None], len(steps), 1),
                                 colorbar={"title": "log₁₀ ‖∂L/∂W‖", "len": 0.9}, showscale=i == len(names),
                                 hovertemplate="%{customdata} · step %{x}: 10^%{z:.2f}<extra></extra>"), 1, i)
        fig.update_xaxes(title_text="step", row=1, col=i)
        ticks = sorted({0, (len(layers) - 1) // 2, len(layers) - 1})
        fig.update_yaxes(tickvals=ticks, ticktext=[layers[t] for t in ticks], tickfont={"size": 9}, row=1, col=i)
    fig.update_layout(height=height, margin=_MARGIN)
    for a in fig.layout.annotations:
        a.font.size = 12
    return fig


def curves_figure(histories: dict[str, dict], metric: str = "loss", height: int = 330,
                  max_points: int = 600) -> go.Figure:
    """He et al. (2016) Fig. 4 layout: plain nets left, residual nets right; the shallower net dotted, the
    deeper solid. The minibatch loss is smoothed (EMA); evaluated metrics are drawn as they are. At most
    ``max_points`` points per curve are drawn (evenly thinned after smoothing)."""
    depths = _depths(histories)
    label = {"loss": "training loss (minibatch, smoothed)", "train_loss": "training-set loss (eval mode)",
             "train_acc": "training-set accuracy"}.get(metric, metric)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=(f"plain nets · {label}", f"residual nets · {label}"))
    for name, hist in histories.items():
        col = 2 if name.startswith("residual") else 1
        steps, vals = hist.get(metric, ([], []))
        if not steps:
            continue
        y = ema(vals, 0.05) if metric == "loss" and len(vals) > 30 else np.asarray(vals)
        keep = np.unique(np.linspace(0, len(y) - 1, min(len(y), max_points)).astype(int))
        fig.add_trace(go.Scatter(x=np.asarray(steps)[keep], y=y[keep], mode="lines", name=name,
                                 line=net_style(name, depths or None),
                                 hovertemplate="step %{x}: %{y:.4g}<extra>" + name + "</extra>"), 1, col)
    if metric.endswith("loss"):
        fig.update_yaxes(type="log", exponentformat="power")
    fig.update_xaxes(title_text="step")
    fig.update_layout(height=height, margin=_MARGIN, legend={"orientation": "h", "y": -0.22})
    return fig


def ratio_figure(series: dict[str, tuple[np.ndarray, np.ndarray]], healthy: float, height: int = 300) -> go.Figure:
    """First-layer / head gradient-norm ratio over training, per net, with the 'healthy' band shaded."""
    depths = _depths(series)
    fig = go.Figure()
    # shapes on a log axis take log10 coordinates
    fig.add_hrect(y0=-np.log10(healthy), y1=np.log10(healthy), fillcolor="rgba(84,162,75,0.12)", line_width=0,
                  annotation_text=f"within {healthy:g}×", annotation_position="top left")
    for name, (steps, r) in series.items():
        ok = np.isfinite(r) & (r > 0)
        fig.add_trace(go.Scatter(x=steps[ok], y=r[ok], mode="lines", name=name, line=net_style(name, depths or None),
                                 hovertemplate="step %{x}: %{y:.3g}<extra>" + name + "</extra>"))
    fig.update_yaxes(type="log", exponentformat="power", title_text="‖∂L/∂W‖ first layer / head")
    fig.update_layout(height=height, margin=_MARGIN, xaxis_title="step", legend={"orientation": "h", "y": -0.3})
    return fig


def slice_1d_figure(alphas: np.ndarray, curves: dict[str, np.ndarray], height: int = 320,
                    depths: list[int] | None = None) -> go.Figure:
    """``depths``: the run's two depths (the nets shown may be a subset), for each net's page colour."""
    fig = go.Figure()
    depths = depths or _depths(curves)
    for name, losses in curves.items():
        fig.add_trace(go.Scatter(x=alphas, y=losses, mode="lines", name=name, line=net_style(name, depths),
                                 hovertemplate="α = %{x:.2f}: loss %{y:.4g}<extra>" + name + "</extra>"))
    fig.update_layout(height=height, margin=_MARGIN, title="1-D slice: L(θ + α d)",
                      xaxis_title="α (filter-normalised direction d)", yaxis_title="training loss",
                      yaxis_type="log", legend={"orientation": "h", "y": -0.25})
    return fig


def slice_2d_figure(alphas: np.ndarray, betas: np.ndarray, surfaces: dict[str, np.ndarray],
                    height: int = 380) -> go.Figure:
    """Contours of log10 L(θ + α d1 + β d2), one panel per net, one colour scale."""
    names = list(surfaces)
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=names, horizontal_spacing=0.06)
    logs = {n: np.log10(np.clip(z, 1e-8, None)) for n, z in surfaces.items()}
    lo = min(float(v.min()) for v in logs.values()) if logs else 0.0
    hi = max(float(np.percentile(v, 95)) for v in logs.values()) if logs else 1.0
    for i, n in enumerate(names, 1):
        fig.add_trace(go.Contour(z=logs[n], x=alphas, y=betas, zmin=lo, zmax=hi, colorscale="Viridis",
                                 ncontours=24, showscale=i == len(names), colorbar={"title": "log₁₀ loss"},
                                 hovertemplate="α %{x:.2f}, β %{y:.2f}: 10^%{z:.2f}<extra></extra>"), 1, i)
        fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", marker={"color": "white", "size": 8,
                                 "line": {"color": "black", "width": 1}}, showlegend=False, hoverinfo="skip"), 1, i)
        fig.update_xaxes(title_text="α", row=1, col=i)
        fig.update_yaxes(title_text="β" if i == 1 else None, scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    fig.update_layout(height=height, margin=_MARGIN)
    return fig
