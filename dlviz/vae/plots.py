"""Plotly figures for the VAE page (Kingma & Welling 2014): reconstructions with their ELBO, the latent
map with an interpolation path, the decoded manifold, interpolation strips and norm profiles, KL per
dimension, and the beta trade-off. Pure functions of arrays from :mod:`dlviz.vae`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from dlviz.imaging import png_uri

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
PATH_COLORS = {"linear": "#111111", "spherical": "#d6008f"}


def _png_uri(img: np.ndarray) -> str:
    return png_uri(img)


def _image_layout(fig: go.Figure, height: int, title: str | None) -> go.Figure:
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
                      title=title, plot_bgcolor="white")
    fig.update_xaxes(showgrid=False, zeroline=False, showticklabels=False)
    fig.update_yaxes(showgrid=False, zeroline=False, showticklabels=False, scaleanchor="x")
    return fig


def mosaic_figure(mosaic: np.ndarray, title: str | None = None, height: int = 320,
                  col_labels: Sequence[str] | None = None, row_labels: Sequence[str] | None = None,
                  ncols: int | None = None, nrows: int | None = None, hover: bool = False) -> go.Figure:
    """A ``(H, W, 3)`` uint8 mosaic as one PNG-backed image, optionally with column/row labels
    (the labels sit on the cells' centres; ``ncols``/``nrows`` say how many cells there are)."""
    fig = go.Figure(go.Image(source=_png_uri(mosaic), hoverinfo="skip" if not hover else None))
    h, w = mosaic.shape[:2]
    _image_layout(fig, height, title)
    if col_labels is not None and ncols:
        cw = w / ncols
        fig.update_xaxes(showticklabels=True, tickvals=[cw * (i + 0.5) for i in range(ncols)],
                         ticktext=list(col_labels), side="bottom", tickfont={"size": 11})
    if row_labels is not None and nrows:
        ch = h / nrows
        fig.update_yaxes(showticklabels=True, tickvals=[ch * (i + 0.5) for i in range(nrows)],
                         ticktext=list(row_labels), tickfont={"size": 11})
    return fig


def reconstruction_figure(mosaic: np.ndarray, n: int, elbos: Sequence[float], labels: Sequence[str],
                          height: int = 300) -> go.Figure:
    """Originals (top row) over reconstructions (bottom row); each column says its class and ELBO."""
    cols = [f"{lab}<br>{e:.0f}" for lab, e in zip(labels, elbos)]
    fig = mosaic_figure(mosaic, None, height, col_labels=cols, ncols=n,
                        row_labels=["original", "decode(encode(x))"], nrows=2)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 50})
    return fig


SVG_MAX_POINTS = 3000


def latent_map_figure(xy: np.ndarray, labels: np.ndarray, class_names: Sequence[str], hover: Sequence[str],
                      *, color: np.ndarray | None = None, color_name: str = "", axis_names: tuple[str, str] = ("z1", "z2"),
                      paths: dict[str, np.ndarray] | None = None, endpoints: dict[str, tuple[float, float]] | None = None,
                      marker: tuple[float, float] | None = None, thumbnails: list[tuple[float, float, np.ndarray]] | None = None,
                      thumb_size: float = 0.0, title: str | None = None, height: int = 520) -> go.Figure:
    """Every code as a point. Coloured by class (one legend entry each) or by ``color`` (a colour bar);
    ``paths`` (M, 2) drawn as lines with dots; ``endpoints`` {"A": (x, y), "B": ...}; ``marker``: a star
    (the code the sliders edit); ``thumbnails``: images drawn at their points."""
    fig = go.Figure()
    idx = np.arange(len(xy))
    hover = np.asarray(hover, dtype=object)
    # SVG up to a few thousand points: this map is redrawn live while a run trains and on every slider move, and
    # WebGL redraws cost a browser without a GPU most of a core (tests/test_live_views.py says why).
    scatter = go.Scatter if len(xy) <= SVG_MAX_POINTS else go.Scattergl
    if color is not None:
        fig.add_trace(scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", customdata=idx, text=hover,
                                   hovertemplate="%{text}<extra></extra>", name=color_name,
                                   marker={"size": 6, "color": color, "colorscale": "Viridis", "showscale": True,
                                           "colorbar": {"title": color_name, "thickness": 12}}))
    else:
        for c, name in enumerate(class_names):
            m = labels == c
            if not m.any():
                continue
            fig.add_trace(scatter(x=xy[m, 0], y=xy[m, 1], mode="markers", name=str(name), customdata=idx[m],
                                       text=hover[m], hovertemplate="%{text}<extra></extra>",
                                       marker={"size": 6, "color": PALETTE[c % len(PALETTE)], "opacity": 0.75}))
    for name, p in (paths or {}).items():
        fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", name=f"{name} path",
                                 line={"color": PATH_COLORS.get(name, "#000"), "width": 3},
                                 marker={"size": 7, "color": PATH_COLORS.get(name, "#000")},
                                 hovertemplate=f"{name}: step %{{pointNumber}}<extra></extra>"))
    for name, (x, y) in (endpoints or {}).items():
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers+text", text=[name], textposition="top center",
                                 textfont={"size": 16, "color": "#000"}, showlegend=False, hoverinfo="skip",
                                 marker={"size": 16, "color": "white", "line": {"color": "#000", "width": 3}}))
    if marker is not None:
        fig.add_trace(go.Scatter(x=[marker[0]], y=[marker[1]], mode="markers", name="slider code",
                                 marker={"symbol": "star", "size": 20, "color": "gold", "line": {"color": "#000", "width": 1.5}}))
    if thumbnails:
        fig.update_layout(images=[{"source": _png_uri(img), "xref": "x", "yref": "y", "x": x, "y": y,
                                   "sizex": thumb_size, "sizey": thumb_size, "xanchor": "center", "yanchor": "middle",
                                   "layer": "below"} for x, y, img in thumbnails])
    fig.update_layout(height=height, title=title, margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
                      legend={"itemsizing": "constant"}, hovermode="closest", dragmode="pan",
                      xaxis_title=axis_names[0], yaxis_title=axis_names[1], clickmode="event+select")
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def strips_figure(strips: dict[str, np.ndarray], steps: int, height: int = 230) -> go.Figure:
    """One row per interpolation mode: a mosaic ``(rows*H, W, 3)`` with labelled columns t = 0 .. 1."""
    rows = list(strips)
    mosaic = np.concatenate([strips[r] for r in rows], axis=0)
    ts = [f"{t:.2f}".rstrip("0").rstrip(".") for t in np.linspace(0, 1, steps)]
    return mosaic_figure(mosaic, None, height, col_labels=[f"t={t}" for t in ts], ncols=steps,
                         row_labels=rows, nrows=len(rows))


def norm_profile_figure(t: np.ndarray, norms: dict[str, np.ndarray], typical: float, height: int = 260) -> go.Figure:
    """|z| along each interpolation path, against the norm of a typical prior sample (sqrt(D))."""
    fig = go.Figure()
    for name, n in norms.items():
        fig.add_trace(go.Scatter(x=t, y=n, mode="lines+markers", name=name, line={"color": PATH_COLORS.get(name)}))
    fig.add_trace(go.Scatter(x=[float(t[0]), float(t[-1])], y=[typical, typical], mode="lines",
                             line={"color": "#888", "dash": "dot"}, name="typical prior |z| ≈ √D", hoverinfo="skip"))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="t",
                      yaxis_title="|z|", title="Norm of the code along the path", yaxis_rangemode="tozero")
    return fig


def kl_per_dim_figure(kl: np.ndarray, activity: np.ndarray, threshold: float, height: int = 280) -> go.Figure:
    """Mean KL of each latent dimension, coloured by Burda et al.'s activity test."""
    active = activity > threshold
    d = np.arange(len(kl))
    fig = go.Figure(go.Bar(x=d, y=kl, marker_color=np.where(active, "#2ca02c", "#bbbbbb"),
                           customdata=np.stack([activity, active], 1),
                           hovertemplate="z%{x}: KL %{y:.3f} nats<br>Var_x E[z] = %{customdata[0]:.3g}<extra></extra>"))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, xaxis_title="latent dimension",
                      yaxis_title="mean KL (nats)", showlegend=False,
                      title=f"{int(active.sum())} of {len(kl)} units active (green: Var_x E[z_d] > {threshold})")
    fig.update_xaxes(tickmode="linear" if len(kl) <= 32 else "auto")
    return fig


def rate_distortion_figure(points: list[dict], current: dict | None = None, height: int = 320) -> go.Figure:
    """Each run as (rate = KL, distortion = -recon term), labelled by beta; lower-left is better.

    ``points``: dicts with ``beta``, ``kl``, ``recon`` (nats, as positive -E log p(x|z)) and ``source``."""
    fig = go.Figure()
    for source in dict.fromkeys(p.get("source", "") for p in points):
        ps = sorted((p for p in points if p.get("source", "") == source), key=lambda p: p["beta"])
        fig.add_trace(go.Scatter(x=[p["kl"] for p in ps], y=[p["recon"] for p in ps], mode="lines+markers+text",
                                 name=source, text=[f"β={p['beta']:g}" for p in ps], textposition="top right",
                                 cliponaxis=False,
                                 hovertemplate="KL %{x:.1f}, recon %{y:.1f} nats<extra>%{text}</extra>"))
    if current is not None:
        fig.add_trace(go.Scatter(x=[current["kl"]], y=[current["recon"]], mode="markers",
                                 name=current.get("name", "this model"),
                                 marker={"symbol": "star", "size": 18, "color": "gold", "line": {"color": "#000", "width": 1}}))
    fig.update_layout(height=height, margin={"l": 10, "r": 40, "t": 40, "b": 10},
                      xaxis_title="rate: KL(q(z|x) || p(z)) (nats)", yaxis_title="distortion: -E log p(x|z) (nats)",
                      title="The β trade-off: bits spent on the code vs. reconstruction")
    return fig
