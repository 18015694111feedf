"""Plotly figures for the U-Net page, pure functions of arrays: the U itself (each level's tensor shape and
channel count; a click on a level selects it), images side by side, feature maps of one level, per-class
IoU bars, and the weight map."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dlviz.plotting import PALETTE, png_image


def u_figure(levels: list[dict], selected: int | None = None, title: str = "", height: int = 340,
             in_channels: int = 3, out_label: str = "") -> go.Figure:
    """The U: encoder boxes down the left, decoder boxes up the right, the bottleneck at the bottom, an arrow
    for each skip connection (grey and crossed out where it is switched off). Box height grows with the
    resolution, width with the channels. Each box is a clickable point whose ``customdata`` is its level.
    Shapes and annotations are built as plain dicts and set at once (plotly's add_* calls are slow)."""
    depth = len(levels) - 1
    cmax = max(lv["enc"] for lv in levels)
    shapes, notes = [], []
    xs, ys, text, cd, colors = [], [], [], [], []

    def box(x: float, y: float, ch: int, size: int, color: str, lvl: int, label: str) -> None:
        w = 0.25 + 0.55 * ch / cmax
        h = 0.25 + 0.55 * size / levels[0]["size"]
        sel = lvl == selected
        shapes.append(dict(type="rect", x0=x - w / 2, x1=x + w / 2, y0=y - h / 2, y1=y + h / 2, fillcolor=color,
                           opacity=0.9 if sel else 0.55,
                           line=dict(color="black" if sel else "white", width=3 if sel else 1)))
        xs.append(x)
        ys.append(y)
        text.append(label)
        cd.append(lvl)
        colors.append(color)

    def arrow(x, y, ax, ay, color, width=1.5) -> None:
        notes.append(dict(x=x, y=y, ax=ax, ay=ay, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                          arrowhead=2, arrowwidth=width, arrowcolor=color, text=""))

    n_dec = sum(lv["dec"] is not None for lv in levels)
    for lv in levels:
        i, y = lv["level"], -lv["level"]
        shape = f"{lv['enc']}×{lv['size']}×{lv['size']}"
        if lv["dec"] is None:                                    # bottom of the U
            box(float(n_dec), y, lv["enc"], lv["size"], PALETTE[3], i,
                f"{'middle' if lv.get('middle') else 'bottleneck'}<br>{shape}")
            continue
        xe, xd = i, 2 * n_dec - i
        box(xe, y, lv["enc"], lv["size"], PALETTE[0], i, f"enc {i}<br>{shape}")
        box(xd, y, lv["dec"], lv["size"], PALETTE[1], i, f"dec {i}<br>{lv['dec']}×{lv['size']}×{lv['size']}")
        on = lv["skip"]
        arrow(xd - 0.45, y + 0.08, xe + 0.45, y + 0.08, PALETTE[2] if on else "#bbbbbb", 2)
        notes.append(dict(x=(xe + xd) / 2, y=y + 0.25, text="skip: concat" if on else "✗ no skip", showarrow=False,
                          font=dict(size=11, color=PALETTE[2] if on else "#999999")))
    for i in range(depth):                                       # pooling down the left, upsampling up the right
        if levels[i + 1].get("middle"):
            continue
        arrow(i + 0.9, -(i + 1) + 0.35, i + 0.1, -i - 0.35, "#555")
        arrow(2 * n_dec - i - 0.1, -i - 0.35, 2 * n_dec - i - 0.9, -(i + 1) + 0.35, "#555")
    notes.append(dict(x=-0.7, y=0.0, text=f"in<br>{in_channels}×{levels[0]['size']}×{levels[0]['size']}",
                      showarrow=False, font=dict(size=11)))
    if out_label:
        notes.append(dict(x=2 * n_dec + 0.75, y=0.0, text=out_label, showarrow=False, font=dict(size=11)))
    trace = go.Scatter(x=xs, y=ys, mode="markers+text", text=text, customdata=cd, textposition="middle center",
                       textfont=dict(size=11, color="black"), marker=dict(size=36, color=colors, opacity=0.01),
                       hovertemplate="level %{customdata}: %{text}<extra>click to show its maps</extra>")
    return go.Figure(trace, layout=dict(
        shapes=shapes, annotations=notes, height=height, showlegend=False, plot_bgcolor="white", dragmode=False,
        margin=dict(l=4, r=4, t=30 if title else 6, b=4), title=dict(text=title, font=dict(size=14)),
        xaxis=dict(visible=False, range=[-1.2, 2 * n_dec + 1.2]), yaxis=dict(visible=False, range=[-depth - 0.7, 0.7])))


def _mosaic(tiles: list[list[np.ndarray]], gap: int, fill) -> tuple[np.ndarray, list[float], list[float]]:
    """Rows of equally sized tiles ``(h, w[, 3])`` -> one array with ``gap``-pixel gutters, and tile centres."""
    h, w = tiles[0][0].shape[:2]
    ncol = max(len(r) for r in tiles)
    extra = tiles[0][0].shape[2:]
    out = np.full((len(tiles) * (h + gap) - gap, ncol * (w + gap) - gap, *extra), fill, dtype=tiles[0][0].dtype)
    for r, row in enumerate(tiles):
        for c, t in enumerate(row):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = t
    return out, [c * (w + gap) + w / 2 for c in range(ncol)], [r * (h + gap) for r in range(len(tiles))]


def images_figure(images: list[np.ndarray], titles: list[str], height: int = 260) -> go.Figure:
    """RGB uint8 arrays ``(H, W, 3)`` of one size side by side, titled (one image trace: cheap to redraw)."""
    gap = max(2, images[0].shape[1] // 16)
    big, cx, _ = _mosaic([list(images)], gap, 255)
    titles = [_two_lines(t) if len(images) > 3 else t for t in titles]      # long titles of narrow tiles overlap
    lines = max(t.count("<br>") + 1 for t in titles)
    notes = [dict(x=x, y=-1, xref="x", yref="y", text=t, showarrow=False, yanchor="bottom", font=dict(size=12))
             for x, t in zip(cx, titles)]
    return go.Figure(png_image(big), layout=dict(
        height=height, margin=dict(l=2, r=2, t=24, b=2), annotations=notes,
        xaxis=dict(visible=False), yaxis=dict(visible=False, range=[big.shape[0], -images[0].shape[0] * 0.18 * lines])))


def _two_lines(title: str, width: int = 24) -> str:
    """A title longer than ``width`` characters broken at the space nearest its middle."""
    if len(title) <= width or " " not in title:
        return title
    mid = len(title) // 2
    cut = min((i for i, ch in enumerate(title) if ch == " "), key=lambda i: abs(i - mid))
    return title[:cut] + "<br>" + title[cut + 1:]


def feature_maps_figure(rows: dict[str, np.ndarray], channels: dict[str, np.ndarray], height_per_row: int = 120,
                        cols: int = 8) -> go.Figure:
    """One row per entry of ``rows`` (e.g. the encoder and the decoder of one level): the channels listed in
    ``channels`` of the maps ``(C, h, w)``, each rescaled to [0, 1] on its own, in one heatmap (hover: the
    channel and its raw value)."""
    names = list(rows)
    tiles, raw = [], []
    for k in names:
        t_row, r_row = [], []
        for c in list(channels[k])[:cols]:
            m = rows[k][c].astype(np.float32)
            lo, hi = float(m.min()), float(m.max())
            t_row.append((m - lo) / (hi - lo) if hi > lo else np.zeros_like(m))
            r_row.append(m)
        tiles.append(t_row)
        raw.append(r_row)
    h = tiles[0][0].shape[0]
    gap = max(1, h // 8)
    big, cx, ry = _mosaic(tiles, gap, np.nan)
    notes = [dict(x=0, y=y - 0.5, xref="x", yref="y", xanchor="left", yanchor="bottom", showarrow=False,
                  font=dict(size=10), text=f"{k} · channels {', '.join(str(int(c)) for c in list(channels[k])[:cols])}")
             for k, y in zip(names, ry)]
    fig = go.Figure(go.Heatmap(z=big, colorscale="Viridis", showscale=False,
                               hovertemplate="%{z:.2f} (rescaled)<extra></extra>"), layout=dict(
        height=height_per_row * len(names) + 30, margin=dict(l=2, r=2, t=20, b=2), annotations=notes,
        xaxis=dict(visible=False, constrain="domain"),
        yaxis=dict(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")))
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
