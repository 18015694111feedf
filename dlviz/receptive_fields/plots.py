"""Figures for the receptive-fields page: growth per layer, a unit's field on the photo, a clickable
feature map, the effective receptive field with its theoretical box, and both sizes against depth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

from dlviz.receptive_fields.effective import mass_window, sqrt_fit
from dlviz.imaging import quantize
from dlviz.plotting import PALETTE, png_image, to_hwc, to_numpy

THEORY = "#E45756"
# Inferno without its first colour "#000004": Streamlit's front end treats "#0000xx" colours as theme
# placeholders and repaints them (zeros came out pink)
INFERNO = ["#000000", *pc.sequential.Inferno[1:]]
EFFECTIVE = "#4C78A8"


def _box(fig: go.Figure, t, lft, b, r, color: str, dash: str = "solid", width: int = 3, name: str = "") -> None:
    """A rectangle around pixels t..b, lft..r (inclusive), on a pixel-centred image axis."""
    fig.add_shape(type="rect", x0=lft - 0.5, x1=r + 0.5, y0=t - 0.5, y1=b + 0.5,
                  line={"color": color, "width": width, "dash": dash}, name=name)


def growth_figure(rows: Sequence, highlight: str | None = None, height: int = 330) -> go.Figure:
    """Receptive-field size and jump after each layer (log scale), merges marked."""
    rows = [r for r in rows if r.name != "input"]
    x = list(range(1, len(rows) + 1))
    names = [r.name for r in rows]
    rf = [r.rf[0] for r in rows]
    jump = [max(r.jump[0], 0.0) for r in rows]
    hover = [f"{r.name} ({r.type})<br>output {'x'.join(map(str, r.out_shape))}<br>rf {r.rf[0]:g} px, "
             f"jump {r.jump[0]:g}{'<br>branches merged: largest path' if r.merged else ''}" for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=rf, mode="lines+markers", name="receptive field (px)", text=hover,
                             hoverinfo="text", line={"color": THEORY, "width": 2}, marker={"size": 5}))
    fig.add_trace(go.Scatter(x=x, y=[j if j > 0 else None for j in jump], mode="lines+markers",
                             name="jump = effective stride (px)", text=hover, hoverinfo="text",
                             line={"color": EFFECTIVE, "width": 2, "dash": "dot"}, marker={"size": 4}))
    merged = [i for i, r in zip(x, rows) if r.merged and r.note]
    if merged:
        fig.add_trace(go.Scatter(x=merged, y=[rf[i - 1] for i in merged], mode="markers", name="branches merge here",
                                 marker={"symbol": "diamond-open", "size": 8, "color": "rgba(60,60,60,0.6)"},
                                 hoverinfo="skip"))
    if highlight in names:
        i = names.index(highlight) + 1
        fig.add_vline(x=i, line={"color": "#999", "dash": "dash"})
    ticks = x if len(x) <= 16 else x[:: -(-len(x) // 16)]
    fig.update_xaxes(tickvals=ticks, ticktext=[names[i - 1] for i in ticks], tickangle=-45, tickfont={"size": 9},
                     title="layer (hover for details)")
    top = max(max(rf), 2.0)
    vals = [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if v <= top * 2]
    fig.update_yaxes(type="log", title="pixels of the input", tickvals=vals, ticktext=[str(v) for v in vals])
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 10, "b": 4}, legend={"orientation": "h", "y": 1.12},
                      hovermode="closest")
    return fig


def field_on_image_figure(image, row, unit: tuple[int, int], title: str = "", show_grid: bool = True,
                          height: int = 420) -> go.Figure:
    """The photo with unit ``(i, j)``'s receptive field: solid where it lies on the image, dashed where
    it runs into the padding; dots mark the centres of all units of the layer (the jump between them)."""
    img = to_hwc(image)
    h, w = img.shape[:2]
    fig = go.Figure(png_image(quantize(img)))
    t, lft, b, r = row.region(*unit)
    _box(fig, t, lft, b, r, THEORY, dash="dash", width=2)
    ct, cl, cb, cr = row.clipped_region(*unit, (h, w))
    _box(fig, ct, cl, cb, cr, THEORY, width=3)
    cy, cx = (t + b) / 2, (lft + r) / 2
    if show_grid and row.jump[0] > 0 and row.size[0] * row.size[1] <= 4096:
        ii, jj = np.meshgrid(np.arange(row.size[0]), np.arange(row.size[1]), indexing="ij")
        ys = row.start[0] + (row.rf[0] - 1) / 2 + ii.ravel() * row.jump[0]
        xs = row.start[1] + (row.rf[1] - 1) / 2 + jj.ravel() * row.jump[1]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker={"size": 3, "color": "rgba(255,255,255,0.8)",
                                 "line": {"width": 0.5, "color": "#222"}}, hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=[cx], y=[cy], mode="markers", marker={"symbol": "x", "size": 10, "color": THEORY},
                             hoverinfo="skip", showlegend=False))
    pad = max(0.0, -t, -lft, b - (h - 1), r - (w - 1))
    fig.update_xaxes(visible=False, range=[-0.5 - pad - 1, w - 0.5 + pad + 1])
    fig.update_yaxes(visible=False, range=[h - 0.5 + pad + 1, -0.5 - pad - 1], scaleanchor="x")
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height,
                      margin={"l": 4, "r": 4, "t": 30, "b": 4}, plot_bgcolor="#f4f4f4")
    return fig


def pick_map_figure(fmap, unit: tuple[int, int], title: str = "", height: int = 420,
                    colorscale: str = "Viridis") -> go.Figure:
    """A feature map ``(H', W')`` to click on: every cell is a (near-invisible) marker, so a click
    selects it; the chosen unit is outlined."""
    a = to_numpy(fmap).astype(np.float64)
    hh, ww = a.shape
    fig = go.Figure(go.Heatmap(z=a, colorscale=colorscale, showscale=True, hoverinfo="skip",
                               colorbar={"thickness": 10, "len": 0.8}))
    ii, jj = np.meshgrid(np.arange(hh), np.arange(ww), indexing="ij")
    fig.add_trace(go.Scatter(x=jj.ravel(), y=ii.ravel(), mode="markers", showlegend=False,
                             marker={"size": max(4, min(24, 360 // max(hh, ww))), "color": "rgba(0,0,0,0.01)",
                                     "symbol": "square"},
                             customdata=np.stack([ii.ravel(), jj.ravel(), a.ravel()], 1),
                             hovertemplate="unit (%{customdata[0]}, %{customdata[1]}): %{customdata[2]:.3g}"
                                           "<extra></extra>"))
    _box(fig, unit[0], unit[1], unit[0], unit[1], THEORY, width=3)
    fig.update_xaxes(visible=False, range=[-0.5, ww - 0.5])
    fig.update_yaxes(visible=False, range=[hh - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height, margin={"l": 4, "r": 4, "t": 30, "b": 4},
                      clickmode="event+select", dragmode=False)
    return fig


def erf_figure(erf, title: str = "", height: int = 420, fraction: float = 0.95, gamma: float = 0.5) -> go.Figure:
    """The ERF heatmap (shown as ``grad ** gamma`` so the tails are visible), the theoretical box (red)
    and the square holding ``fraction`` of the gradient mass (blue)."""
    g = np.asarray(erf.grad)
    h, w = g.shape
    z = (g / (g.max() or 1.0)) ** gamma
    fig = go.Figure(go.Heatmap(z=z, colorscale=INFERNO, showscale=False,
                               customdata=g, hovertemplate="(%{y}, %{x}): %{customdata:.3g}<extra></extra>"))
    t, lft, b, r = erf.row.clipped_region(*erf.unit, (h, w))
    _box(fig, t, lft, b, r, THEORY, width=3)
    mt, ml, mb, mr = mass_window(g, erf.center, fraction)
    _box(fig, max(0, mt), max(0, ml), min(h - 1, mb), min(w - 1, mr), "#7FDBFF", dash="dot", width=3)
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height, margin={"l": 4, "r": 4, "t": 30, "b": 4})
    return fig


def erf_profile_figure(erfs: dict[str, object], height: int = 300) -> go.Figure:
    """The ERF's horizontal profile through the unit's centre, normalised to a peak of 1."""
    fig = go.Figure()
    for i, (name, e) in enumerate(erfs.items()):
        g = np.asarray(e.grad)
        row = g[round(e.center[0])]
        x = np.arange(len(row)) - e.center[1]
        fig.add_trace(go.Scatter(x=x, y=row / (row.max() or 1.0), mode="lines", name=name,
                                 line={"color": PALETTE[i % len(PALETTE)], "width": 2}))
        half = (e.row.rf[1] - 1) / 2
        fig.add_vrect(x0=-half, x1=half, line_width=0, fillcolor=PALETTE[i % len(PALETTE)], opacity=0.06)
    fig.update_xaxes(title="pixels from the unit's centre")
    fig.update_yaxes(title="|gradient| (peak = 1)")
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 10, "b": 4}, legend={"orientation": "h", "y": 1.15})
    return fig


def depth_figure(curve, height: int = 340) -> go.Figure:
    """Theoretical and effective size against depth, with the fits ``a + b n`` and ``c sqrt(n)``."""
    d = np.asarray(curve.depths, dtype=float)
    eff = np.asarray(curve.effective, dtype=float)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=d, y=curve.theoretical, mode="lines+markers", name="theoretical (grows ∝ n)",
                             line={"color": THEORY, "width": 2}))
    fig.add_trace(go.Scatter(x=d, y=eff, mode="lines+markers",
                             name=f"effective: side holding {curve.fraction:.0%} of |grad|",
                             line={"color": EFFECTIVE, "width": 2}))
    c, _ = sqrt_fit(d, eff)
    dd = np.linspace(d.min(), d.max(), 100)
    fig.add_trace(go.Scatter(x=dd, y=c * np.sqrt(dd), mode="lines", name=f"{c:.2f}·√n fit",
                             line={"color": EFFECTIVE, "width": 1, "dash": "dash"}))
    fig.update_xaxes(title="depth n (conv layers)")
    fig.update_yaxes(title="size (px)")
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 10, "b": 4}, legend={"orientation": "h", "y": 1.15})
    return fig

