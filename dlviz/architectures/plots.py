"""Figures for the Architectures page: where the parameters and the compute live, layer by layer; the
architectures side by side; and drawings of an Inception module / residual block with their shapes.

Pure functions of :mod:`dlviz.architectures.core` / :mod:`dlviz.architectures.blocks` results.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.architectures.blocks import BlockGraph
from dlviz.architectures.core import Analysis, human
from dlviz.plotting import PALETTE

KIND_COLORS = {"Conv2d": PALETTE[0], "Linear": PALETTE[1]}
FAMILY_COLORS = {"LeNet": PALETTE[5], "AlexNet": PALETTE[3], "VGG": PALETTE[1], "Inception": PALETTE[2],
                 "ResNet": PALETTE[0], "MobileNet": PALETTE[4], "app": PALETTE[7]}
_MARGIN = {"l": 8, "r": 8, "t": 40, "b": 8}


def _shape(s: tuple) -> str:
    return "×".join(map(str, s))


def layer_profile_figure(a: Analysis, log_y: bool = True, height: int = 560) -> go.Figure:
    """Three aligned panels along the network: multiply-adds and parameters of every weight layer, and
    the receptive field growing while the feature map shrinks."""
    w = [r for r in a.rows if r.macs and (r.kind.startswith("Conv") or r.kind == "Linear")]
    x = list(range(1, len(w) + 1))
    names = [r.name for r in w]
    hover = [f"<b>{r.name}</b><br>{r.kind} {r.detail}<br>output {_shape(r.output_shape)}<br>"
             f"MACs {r.macs:,}<br>params {r.params:,}<br>receptive field {r.rf}" for r in w]
    colors = [KIND_COLORS.get(r.kind, PALETTE[7]) for r in w]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=(f"multiply-adds per layer (total {human(a.total_macs)})",
                                        f"parameters per layer (total {human(a.total_params)})",
                                        "receptive field vs feature-map size"),
                        specs=[[{}], [{}], [{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=x, y=[r.macs for r in w], marker_color=colors, hovertext=hover, hoverinfo="text",
                         showlegend=False), 1, 1)
    fig.add_trace(go.Bar(x=x, y=[r.params for r in w], marker_color=colors, hovertext=hover, hoverinfo="text",
                         showlegend=False), 2, 1)
    rf = [r.rf if r.rf is not None else np.nan for r in w]
    side = [r.output_shape[-1] if len(r.output_shape) == 3 else 1 for r in w]
    fig.add_trace(go.Scatter(x=x, y=rf, mode="lines+markers", name="receptive field (px)",
                             line={"color": PALETTE[3]}, hovertext=hover, hoverinfo="text"), 3, 1)
    fig.add_trace(go.Scatter(x=x, y=side, mode="lines", name="feature map side (px)", line={"color": PALETTE[4],
                             "dash": "dot", "shape": "hv"}), 3, 1, secondary_y=True)
    fig.add_hline(y=a.input_size[-1], line={"color": "#999", "dash": "dash", "width": 1},
                  annotation_text=f"input {a.input_size[-1]} px", annotation_position="top left", row=3, col=1)
    for name, c in KIND_COLORS.items():   # legend entries for the bar colours
        fig.add_trace(go.Bar(x=[None], y=[None], marker_color=c, name=name), 1, 1)
    if log_y:
        fig.update_yaxes(type="log", row=1, col=1)
        fig.update_yaxes(type="log", row=2, col=1)
    fig.update_yaxes(title_text="px", row=3, col=1)
    fig.update_yaxes(title_text="map side", row=3, col=1, secondary_y=True, showgrid=False)
    fig.update_xaxes(title_text="weight layer (in execution order)", row=3, col=1)
    fig.update_xaxes(tickvals=x if len(x) <= 25 else None, ticktext=names if len(x) <= 25 else None,
                     tickangle=-45, row=3, col=1)
    fig.update_layout(height=height, margin={**_MARGIN, "t": 70}, bargap=0.15,
                      legend={"orientation": "h", "y": 1.0, "yref": "container", "x": 1, "xanchor": "right"})
    return fig


def share_figure(stages: list[dict], height: int = 220) -> go.Figure:
    """Two 100 % bars: how the parameters and the multiply-adds split over the network's stages."""
    tot_p = sum(s["params"] for s in stages) or 1
    tot_m = sum(s["macs"] for s in stages) or 1
    fig = go.Figure()
    for i, s in enumerate([s for s in stages if s["params"] or s["macs"]]):
        c = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Bar(
            y=["parameters", "multiply-adds"], x=[100 * s["params"] / tot_p, 100 * s["macs"] / tot_m],
            orientation="h", name=s["stage"], marker_color=c,
            text=[f"{s['stage']} {100 * v:.0f}%" if 100 * v > 8 else "" for v in (s["params"] / tot_p,
                                                                                   s["macs"] / tot_m)],
            textposition="inside", insidetextanchor="middle",
            hovertemplate=f"<b>{s['stage']}</b> (output {_shape(s['output_shape'])})<br>%{{y}}: %{{x:.1f}} %"
                          "<extra></extra>"))
    fig.update_layout(barmode="stack", height=height, margin=_MARGIN, xaxis={"title": "% of the total",
                      "range": [0, 100]}, yaxis={"autorange": "reversed"},
                      legend={"orientation": "h", "y": -0.45, "traceorder": "normal"}, title={
                      "text": "where the parameters live vs where the compute happens", "font": {"size": 14}})
    return fig


def comparison_figure(rows: list[dict], highlight: str | None = None, height: int | None = None,
                      flops: bool = False) -> go.Figure:
    """Architectures side by side: depth, parameters, multiply-adds (or FLOPs = 2 x MACs) and receptive
    field (log scales for the counts)."""
    names = [r["name"] for r in rows]
    if flops:
        rows = [{**r, "macs": 2 * r["macs"]} for r in rows]
    fig = make_subplots(rows=1, cols=4, shared_yaxes=True, horizontal_spacing=0.02,
                        subplot_titles=("depth (weight layers)", "parameters",
                                        "FLOPs / image (2 × MACs)" if flops else "multiply-adds / image",
                                        "receptive field (px)"))
    colors = [FAMILY_COLORS.get(r["family"], PALETTE[7]) for r in rows]
    line = [2 if r["name"] == highlight else 0 for r in rows]
    for col, key in enumerate(("depth", "params", "macs", "rf"), 1):
        vals = [r[key] if r[key] is not None else 0 for r in rows]
        text = [str(v) if key in ("depth", "rf") else human(v) for v in vals]
        fig.add_trace(go.Bar(y=names, x=vals, orientation="h", marker={"color": colors, "line": {
            "width": line, "color": "black"}}, text=text, textposition="auto", showlegend=False,
            hovertemplate="<b>%{y}</b><br>" + key + ": %{text}<extra></extra>"), 1, col)
        if key in ("params", "macs"):
            fig.update_xaxes(type="log", row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=height or 90 + 28 * len(rows), margin=_MARGIN, bargap=0.2)
    return fig


def efficiency_figure(rows: list[dict], height: int = 420) -> go.Figure:
    """Multiply-adds vs parameters (log-log); marker area ~ depth; colour = family."""
    fig = go.Figure()
    for fam in dict.fromkeys(r["family"] for r in rows):
        rs = [r for r in rows if r["family"] == fam]
        fig.add_trace(go.Scatter(
            x=[r["params"] for r in rs], y=[r["macs"] for r in rs], mode="markers+text", name=fam,
            text=[r["name"] for r in rs], textposition="top center",
            marker={"size": [6 + 3 * np.sqrt(r["depth"]) for r in rs], "color": FAMILY_COLORS.get(fam),
                    "opacity": 0.8, "line": {"width": 1, "color": "white"}},
            customdata=[[r["depth"], r["rf"], r["year"], human(r["params"]), human(r["macs"])] for r in rs],
            hovertemplate="<b>%{text}</b> (%{customdata[2]})<br>params %{customdata[3]}<br>MACs %{customdata[4]}"
                          "<br>depth %{customdata[0]}<br>receptive field %{customdata[1]} px<extra></extra>"))
    fig.update_xaxes(type="log", title="parameters")
    fig.update_yaxes(type="log", title="multiply-adds per image")
    fig.update_layout(height=height, margin=_MARGIN, legend={"orientation": "h", "y": -0.2},
                      title={"text": "compute vs size (marker size ~ depth)", "font": {"size": 14}})
    return fig


H = 0.32   # half the height of a box (rows are 1 apart)
_BOX = {"input": "#E8E8E8", "output": "#E8E8E8", "conv": "#DCE7F3", "pool": "#FBE3C7", "merge": "#D8EFD3",
        "other": "#F2F2F2"}


def block_figure(g: BlockGraph, height: int | None = None, box_w: float = 0.9) -> go.Figure:
    """The block drawn top to bottom: one box per step with its output shape; a skip connection that
    jumps several rows is drawn as a curve beside the main path."""
    nodes = {n.id: n for n in g.nodes}
    fig = go.Figure()
    xs = [n.x for n in g.nodes] + [x for way in g.routes.values() for x, _ in way]
    lo, hi = min(min(xs) - 0.6, -1.6), max(max(xs) + 0.6, 1.6)
    lanes = hi - lo
    for p, c in g.edges:
        a, b = nodes[p], nodes[c]
        pts = [(a.x, -a.rank - H)] + [(x, -r) for x, r in g.routes.get((p, c), [])] + [(b.x, -b.rank + H)]
        skip = len(pts) > 2
        shortcut = b.label.startswith("⊕ add") and (a.kind == "input" or any(
            n2 in g.node(p).label for n2 in ("1x1 conv",)) and len(pts) > 2)
        color = PALETTE[2] if shortcut else "#666"
        if skip:                       # polyline through the waypoints, the arrow on its last segment
            fig.add_trace(go.Scatter(x=[q[0] for q in pts[:-1]], y=[q[1] for q in pts[:-1]], mode="lines",
                                     line={"color": color, "width": 2, "shape": "spline", "smoothing": 0.6},
                                     hoverinfo="skip", showlegend=False))
            mid = pts[len(pts) // 2]
            label = "identity shortcut" if shortcut and a.kind == "input" else ""
            if label:
                fig.add_annotation(x=mid[0], y=mid[1], text=label, showarrow=False, xshift=6, xanchor="left",
                                   font={"size": 11, "color": color})
        (x0, y0), (x1, y1) = pts[-2], pts[-1]
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                           showarrow=True, arrowhead=2, arrowsize=1, arrowwidth=1.5 if not skip else 2,
                           arrowcolor=color)
    for n in g.nodes:
        fig.add_shape(type="rect", x0=n.x - box_w / 2, x1=n.x + box_w / 2, y0=-n.rank - H, y1=-n.rank + H,
                      fillcolor=_BOX.get(n.kind, "#F2F2F2"), line={"color": "#888", "width": 1}, layer="below")
        title = n.label if n.kind not in ("input", "output") else n.label.upper()
        fig.add_annotation(x=n.x, y=-n.rank, text=f"<b>{_wrap(title, 22 if lanes <= 5.5 else 16)}</b><br>{_shape(n.shape)}", showarrow=False,
                           font={"size": 11})
    hover = [f"<b>{n.label}</b><br>output {_shape(n.shape)}<br>params {n.params:,}<br>MACs {n.macs:,}"
             f"<br>modules: {', '.join(n.modules) or '–'}" for n in g.nodes]
    fig.add_trace(go.Scatter(x=[n.x for n in g.nodes], y=[-n.rank for n in g.nodes], mode="markers",
                             marker={"size": 40, "opacity": 0}, hovertext=hover, hoverinfo="text", showlegend=False))
    rows = max(n.rank for n in g.nodes) + 1
    fig.update_xaxes(visible=False, range=[lo, hi])
    fig.update_yaxes(visible=False, range=[-rows + 0.5, 0.5])
    fig.update_layout(height=height or 105 * rows + 60, margin=_MARGIN, plot_bgcolor="white",
                      title={"text": f"{g.model} · {g.block} ({g.kind})<br><sup>{_shape(g.input_shape)} → "
                                     f"{_shape(g.output_shape)} · {g.params:,} parameters · {human(g.macs)} MACs</sup>",
                             "font": {"size": 14}})
    return fig


def _wrap(text: str, width: int = 24) -> str:
    """Break a long box label at ' + ' / ', ' so it fits the box."""
    parts, line, out = text.replace(" + ", " +\x00").replace(", ", ",\x00").split("\x00"), "", []
    for p in parts:
        if line and len(line) + len(p) > width:
            out.append(line)
            line = p.lstrip()
        else:
            line += p if not line else " " + p.lstrip()
    out.append(line)
    return "<br>".join(s.strip() for s in out)


def thumbnail() -> np.ndarray:
    """Landing-card picture: an Inception module (four parallel branches, concatenated) beside a residual
    block (two convolutions and the identity shortcut). A fixed sketch: no model is built, so it is instant."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (300, 150), "white")
    d = ImageDraw.Draw(im)
    grey, conv, pool, merge, skip = (110, 110, 110), (220, 231, 243), (251, 227, 199), (216, 239, 211), (84, 162, 75)

    def box(x: float, y: float, fill, w: float = 20) -> None:
        d.rectangle([x - w, y - 7, x + w, y + 7], fill=fill, outline=grey)

    cols = [28, 76, 124, 172]                       # Inception: input -> 4 branches -> concat
    for x, n in zip(cols, (1, 2, 2, 2)):
        d.line([(100, 18), (x, 48)], fill=grey, width=2)
        d.line([(x, 48), (x, 78 if n == 2 else 48), (100, 128)], fill=grey, width=2)
    box(100, 18, (232, 232, 232), 30)
    for i, x in enumerate(cols):
        box(x, 48, pool if i == 3 else conv)
        if i:
            box(x, 78, conv)
    box(100, 128, merge, 30)
    d.line([(250, 18), (250, 128)], fill=grey, width=2)  # residual block with its shortcut
    d.line([(250, 18), (288, 40), (288, 106), (250, 128)], fill=skip, width=3)
    for y, fill in ((18, (232, 232, 232)), (53, conv), (88, conv), (128, merge)):
        box(250, y, fill, 26)
    return np.asarray(im)
