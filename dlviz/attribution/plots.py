"""Figures for attribution: the maps side by side, the cascading-randomisation curves, and the grid of maps
as the model is destroyed layer by layer (Adebayo et al. 2018, Fig. 2 style)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.imaging import to_uint8
from dlviz.plotting import PALETTE, to_numpy

# Inferno, except its first colour: Streamlit's plotly theme uses "#000001".."#0000NN" as placeholders that
# its frontend swaps for theme colours, so Inferno's "#000004" would be drawn pink.
INFERNO = [[i / 9, c] for i, c in enumerate(["#03010a", "#1b0c41", "#4a0c6b", "#781c6d", "#a52c60", "#cf4446",
                                             "#ed6925", "#fb9b06", "#f7d13d", "#fcffa4"])]


def _map_trace(m: np.ndarray, signed: bool, showscale: bool = False) -> go.Heatmap:
    if float(m.max()) == float(m.min()):          # e.g. Grad-CAM all zero: no ranking at all, drawn grey
        return go.Heatmap(z=m, showscale=False, colorscale=[[0, "#d9d9d9"], [1, "#d9d9d9"]], zmin=0, zmax=1,
                          hovertemplate="constant map (every pixel %{z:.3g})<extra></extra>")
    if signed:
        lim = float(np.percentile(np.abs(m), 99.5)) or 1.0
        kw = {"zmin": -lim, "zmax": lim, "zmid": 0, "colorscale": "RdBu_r"}
    else:
        kw = {"zmin": 0, "zmax": float(np.percentile(m, 99.5)) or 1.0, "colorscale": INFERNO}
    return go.Heatmap(z=m, showscale=showscale, hovertemplate="x %{x}, y %{y}: %{z:.3g}<extra></extra>", **kw)


def maps_figure(image, maps: dict[str, np.ndarray], signed: dict[str, bool], overlay: float = 0.0,
                height: int = 250) -> go.Figure:
    """The input and one map per method in a row. Signed maps use a diverging scale (red: raises the
    logit, blue: lowers it); magnitudes use Inferno. ``overlay`` > 0 blends the image under each map."""
    names = list(maps)
    fig = make_subplots(rows=1, cols=len(names) + 1, subplot_titles=["input"] + names, horizontal_spacing=0.012)
    img = to_uint8(image)
    fig.add_trace(go.Image(z=img), 1, 1)
    for i, name in enumerate(names, 2):
        m = to_numpy(maps[name]).astype(np.float64)
        if overlay > 0:
            fig.add_trace(go.Image(z=img, opacity=1.0, hoverinfo="skip"), 1, i)
        tr = _map_trace(m, signed.get(name, False))
        tr.opacity = 1.0 - overlay if overlay > 0 else 1.0
        fig.add_trace(tr, 1, i)
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, constrain="domain")
    for i in range(1, len(names) + 2):
        fig.update_yaxes(scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 30, "b": 4})
    for ann in fig.layout.annotations:
        ann.font.size = 12
    return fig


def sanity_curves_figure(layers: list[str], correlation: dict[str, np.ndarray], threshold: float = 0.5,
                         height: int = 340) -> go.Figure:
    """Mean Spearman rank correlation with the original map (band: min..max over the images) as more
    layers are re-initialised from the top. A method that explains the model falls towards 0."""
    x = ["none"] + [f"{i}: {n}" for i, n in enumerate(layers, 1)]
    fig = go.Figure()
    for k, (name, corr) in enumerate(correlation.items()):
        c = np.asarray(corr)
        color = PALETTE[k % len(PALETTE)]
        if c.shape[1] > 1:
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(c.max(1)) + list(c.min(1))[::-1], fill="toself",
                                     fillcolor=color, opacity=0.08, line={"width": 0}, hoverinfo="skip",
                                     showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=c.mean(1), mode="lines+markers", name=name, legendgroup=name,
                                 line={"color": color, "width": 2},
                                 hovertemplate=f"{name}<br>%{{x}}: rank corr. %{{y:.2f}}<extra></extra>"))
    fig.add_hline(y=threshold, line={"dash": "dot", "color": "#888"},
                  annotation_text=f"pass below {threshold:g}", annotation_position="bottom right")
    fig.add_hline(y=0, line={"color": "#bbb", "width": 1})
    fig.update_yaxes(range=[-0.3, 1.05], title_text="Spearman rank correlation with the original map")
    fig.update_xaxes(title_text="layers re-initialised, from the output down (cumulative)", tickangle=-25)
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 10, "b": 4}, legend={"orientation": "h", "y": 1.12})
    return fig


def sanity_grid_figure(maps: dict[str, np.ndarray], layers: list[str], signed: dict[str, bool], image_index: int = 0,
                       width: int = 1100) -> go.Figure:
    """Rows: methods; columns: the intact model, then each further layer re-initialised. ``maps[m]`` is
    ``(L + 1, B, H, W)``; each map is scaled on its own (ranks are what the correlation compares)."""
    names = list(maps)
    cols = len(layers) + 1
    titles = ["original"] + [f"+ {n}" for n in layers]
    fig = make_subplots(rows=len(names), cols=cols, column_titles=titles, row_titles=names,
                        horizontal_spacing=0.008, vertical_spacing=0.02)
    for r, name in enumerate(names, 1):
        for c in range(cols):
            fig.add_trace(_map_trace(np.asarray(maps[name][c, image_index], dtype=np.float64), signed.get(name, False)),
                          r, c + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    cell = min(190, (width - 60) / cols)                      # square-ish cells for a main area ~``width`` wide
    fig.update_layout(height=int(len(names) * cell + 50), margin={"l": 4, "r": 60, "t": 40, "b": 4})
    for ann in fig.layout.annotations:
        ann.font.size = 11
    return fig


def probs_figure(probs, class_names: list[str], target: int, height: int = 220) -> go.Figure:
    p = to_numpy(probs).astype(float)
    order = np.argsort(-p)[:min(5, len(p))][::-1]
    colors = [PALETTE[3] if i == target else PALETTE[0] for i in order]
    fig = go.Figure(go.Bar(x=p[order], y=[class_names[i] for i in order], orientation="h", marker_color=colors,
                           text=[f"{v:.1%}" for v in p[order]], textposition="auto",
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 30, "b": 4},
                      title={"text": "Top-5 probabilities (red: the explained class)", "font": {"size": 13}})
    return fig
