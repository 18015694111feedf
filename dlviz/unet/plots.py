"""Plotly figures for the U-Net page, pure functions of arrays: the U itself (each level's tensor shape and
channel count; a click on a level selects it), images side by side, feature maps of one level, per-class
IoU bars, and the weight map."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.plots.common import PALETTE


def u_figure(levels: list[dict], selected: int | None = None, title: str = "", height: int = 340,
             in_channels: int = 3, out_label: str = "") -> go.Figure:
    """The U: encoder boxes down the left, decoder boxes up the right, the bottleneck at the bottom, a
    dashed arrow for each skip connection (grey and crossed out where it is switched off). Box height
    grows with the resolution, width with the channels. Each box is a clickable point whose
    ``customdata`` is its level."""
    fig = go.Figure()
    depth = len(levels) - 1
    cmax = max(lv["enc"] for lv in levels)
    xs, ys, text, cd, colors = [], [], [], [], []

    def box(x: float, y: float, ch: int, size: int, color: str, lvl: int, label: str) -> None:
        w = 0.25 + 0.55 * ch / cmax
        h = 0.25 + 0.55 * size / levels[0]["size"]
        sel = lvl == selected
        fig.add_shape(type="rect", x0=x - w / 2, x1=x + w / 2, y0=y - h / 2, y1=y + h / 2, fillcolor=color,
                      opacity=0.9 if sel else 0.55, line=dict(color="black" if sel else "white", width=3 if sel else 1))
        xs.append(x)
        ys.append(y)
        text.append(label)
        cd.append(lvl)
        colors.append(color)

    n_dec = sum(lv["dec"] is not None for lv in levels)
    for lv in levels:
        i, y = lv["level"], -lv["level"]
        shape = f"{lv['enc']}×{lv['size']}×{lv['size']}"
        if lv["dec"] is None:                                    # bottom of the U
            box(n_dec + 0.0, y, lv["enc"], lv["size"], PALETTE[3], i, f"{'middle' if lv.get('middle') else 'bottleneck'}<br>{shape}")
            continue
        xe, xd = i, 2 * n_dec - i
        box(xe, y, lv["enc"], lv["size"], PALETTE[0], i, f"enc {i}<br>{shape}")
        box(xd, y, lv["dec"], lv["size"], PALETTE[1], i, f"dec {i}<br>{lv['dec']}×{lv['size']}×{lv['size']}")
        on = lv["skip"]
        fig.add_annotation(x=xd - 0.45, y=y + 0.08, ax=xe + 0.45, ay=y + 0.08, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=2, arrowwidth=2, arrowcolor=PALETTE[2] if on else "#bbbbbb",
                           text="")
        fig.add_annotation(x=(xe + xd) / 2, y=y + 0.25, text=("skip: concat" if on else "✗ no skip"),
                           showarrow=False, font=dict(size=11, color=PALETTE[2] if on else "#999999"))
    for i in range(depth):                                       # the pooling / upsampling arrows
        if levels[i + 1]["dec"] is None and levels[i + 1].get("middle"):
            continue
        fig.add_annotation(x=i + 1 - 0.1, y=-(i + 1) + 0.35, ax=i + 0.1, ay=-i - 0.35, xref="x", yref="y", axref="x",
                           ayref="y", showarrow=True, arrowhead=2, arrowcolor="#555", text="")
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers+text", text=text, customdata=cd, textposition="middle center",
                             textfont=dict(size=11, color="black"), marker=dict(size=36, color=colors, opacity=0.01),
                             hovertemplate="level %{customdata}: %{text}<extra>click to show its maps</extra>"))
    fig.add_annotation(x=-0.7, y=0.0, text=f"in<br>{in_channels}×{levels[0]['size']}×{levels[0]['size']}",
                       showarrow=False, font=dict(size=11))
    if out_label:
        fig.add_annotation(x=2 * n_dec + 0.75, y=0.0, text=out_label, showarrow=False, font=dict(size=11))
    fig.update_xaxes(visible=False, range=[-1.2, 2 * n_dec + 1.2])
    fig.update_yaxes(visible=False, range=[-depth - 0.7, 0.7])
    fig.update_layout(height=height, margin=dict(l=4, r=4, t=30 if title else 6, b=4), showlegend=False,
                      title=dict(text=title, font=dict(size=14)), plot_bgcolor="white", dragmode=False)
    return fig


def images_figure(images: list[np.ndarray], titles: list[str], height: int = 260) -> go.Figure:
    """RGB uint8 arrays ``(H, W, 3)`` side by side."""
    fig = make_subplots(rows=1, cols=len(images), subplot_titles=titles, horizontal_spacing=0.01)
    for j, im in enumerate(images):
        fig.add_trace(go.Image(z=im, hoverinfo="skip"), 1, j + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=2, r=2, t=28, b=2))
    return fig


def feature_maps_figure(rows: dict[str, np.ndarray], channels: dict[str, np.ndarray], height_per_row: int = 120,
                        cols: int = 8) -> go.Figure:
    """One row of heatmaps per entry of ``rows`` (e.g. encoder / decoder of one level): maps ``(C, h, w)``,
    showing the channels listed in ``channels``; each map scaled on its own."""
    names = list(rows)
    n = max(len(channels[k]) for k in names)
    cols = min(cols, n)
    titles = [f"{k} · ch {c}" for k in names for c in list(channels[k])[:cols]
              ] if len(names) else []
    fig = make_subplots(rows=len(names), cols=cols, horizontal_spacing=0.008, vertical_spacing=0.12,
                        subplot_titles=titles)
    for r, k in enumerate(names):
        for j, c in enumerate(list(channels[k])[:cols]):
            fig.add_trace(go.Heatmap(z=rows[k][c][::-1], colorscale="Viridis", showscale=False,
                                     hovertemplate=f"{k} ch {c}: %{{z:.3g}}<extra></extra>"), r + 1, j + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_annotations(font_size=10)
    fig.update_layout(height=height_per_row * len(names) + 30, margin=dict(l=2, r=2, t=24, b=2))
    return fig


def iou_bars(class_names: list[str], results: dict[str, np.ndarray], height: int = 300) -> go.Figure:
    """Grouped bars: per-class IoU of each model in ``results`` (NaN bars are left out)."""
    fig = go.Figure()
    for k, (name, iou) in enumerate(results.items()):
        fig.add_trace(go.Bar(x=class_names, y=np.nan_to_num(np.asarray(iou, float), nan=0.0), name=name,
                             marker_color=PALETTE[k % len(PALETTE)],
                             hovertemplate="%{x}: IoU %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(barmode="group", height=height, yaxis=dict(range=[0, 1], title="IoU"),
                      margin=dict(l=4, r=4, t=10, b=4), legend=dict(orientation="h", y=1.12))
    return fig


def weight_map_figure(w: np.ndarray, title: str = "", height: int = 300) -> go.Figure:
    """The weight map ``(H, W)`` as a heatmap (hot = heavy)."""
    fig = go.Figure(go.Heatmap(z=w, colorscale="Inferno", colorbar=dict(title="w(x)", thickness=12),
                               hovertemplate="row %{y}, col %{x}: w = %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_xaxes(visible=False)
    fig.update_layout(height=height, margin=dict(l=2, r=2, t=28 if title else 4, b=2),
                      title=dict(text=title, font=dict(size=14)))
    return fig
