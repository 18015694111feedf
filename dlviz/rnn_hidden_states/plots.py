"""Figures for the RNN hidden-states page (Karpathy, Johnson & Fei-Fei, 2015, "Visualizing and
Understanding Recurrent Networks"): unit x time heatmaps aligned with the characters, text coloured by
one unit, state trajectories, gate activations and saturation, gradient norms through time.

Pure functions: numpy arrays in, plotly figures (or, for coloured text, an HTML string) out.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from dlviz.plotting import PALETTE

_SHOW = {"\n": "⏎", " ": "·", "\t": "⇥"}


def show_char(ch: str) -> str:
    """A visible stand-in for whitespace (newline ⏎, space ·)."""
    return _SHOW.get(ch, ch if ch.isprintable() else "�")


def _tight(fig: go.Figure, height: int | None, title: str = "", top: int = 0) -> go.Figure:
    fig.update_layout(margin={"l": 4, "r": 4, "t": max(top, 34 if title else 8), "b": 4}, height=height,
                      title={"text": title, "font": {"size": 14}, "y": 0.99, "yanchor": "top"} if title else None)
    return fig


def _char_axis(fig: go.Figure, text: str, row=None, col=None, window: int = 60) -> None:
    """Tick every character with its visible form; a long text opens on its first ``window`` characters
    (drag the axis, or double-click to see it all). The browser lays out every visible tick label one by one
    (~1 ms each): 120 of them made a slider move redraw in 0.4 s, 60 in half that."""
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(text))), ticktext=[show_char(c) for c in text],
                     tickangle=0, tickfont={"family": "monospace", "size": 11}, row=row, col=col)
    if len(text) > window:
        fig.update_xaxes(range=[-0.5, window - 0.5], row=row, col=col)


def states_heatmap(states: np.ndarray, text: str, units: list[int] | None = None, title: str = "",
                   zmax: float | None = None, height: int | None = None, colorscale: str = "RdBu_r",
                   zmin: float | None = None, highlight: int | None = None) -> go.Figure:
    """Units (rows) x characters (columns) of a ``(T, H)`` state array; hover names the character;
    ``highlight`` marks one unit's row label (the unit that colours the text)."""
    units = list(range(states.shape[1])) if units is None else list(units)
    z = np.asarray(states)[:, units].T                                  # (U, T)
    if zmax is None:
        zmax = float(np.abs(z).max()) or 1.0
    zmin = -zmax if zmin is None else zmin
    fig = go.Figure(go.Heatmap(
        z=z, x=np.arange(len(text)), y=unit_labels(units, highlight), colorscale=colorscale, zmin=zmin, zmax=zmax,
        colorbar={"thickness": 10, "len": 0.9}, hovertemplate="t=%{x}<br>%{y}: %{z:.3f}<extra></extra>"))
    _char_axis(fig, text)
    fig.update_yaxes(autorange="reversed", tickfont={"size": 9})
    return _tight(fig, height or max(220, min(900, 14 * len(units) + 80)), title)


def unit_labels(units: list[int], highlight: int | None = None) -> list[str]:
    """Row labels ``u7``; the highlighted unit as ``▶ u7`` in bold."""
    return [f"<b>▶ u{u}</b>" if u == highlight else f"u{u}" for u in units]


def _colors(values: np.ndarray, vmin: float, vmax: float, colorscale: str) -> list[str]:
    span = (vmax - vmin) or 1.0
    t = np.clip((np.asarray(values, dtype=float) - vmin) / span, 0, 1)
    t = np.nan_to_num(t, nan=0.5)
    return sample_colorscale(colorscale, t.tolist())


def colored_text_html(text: str, values: np.ndarray, vmin: float = -1.0, vmax: float = 1.0,
                      colorscale: str = "RdBu_r", label: str = "value", max_height: int = 420) -> str:
    """The text with each character's background coloured by ``values`` (hover shows the number)."""
    if len(values) != len(text):
        raise ValueError("one value per character")
    cols = _colors(values, vmin, vmax, colorscale)
    parts = []
    for ch, c, v in zip(text, cols, values):
        tip = f"{html.escape(repr(ch))} {label}={v:.3f}"
        if ch == "\n":
            parts.append(f'<span style="background:{c}" title="{tip}">⏎</span><br>')
            continue
        shown = "&nbsp;" if ch == " " else html.escape(ch)
        parts.append(f'<span style="background:{c}" title="{tip}">{shown}</span>')
    size = 18 if len(text) < 60 else 14
    return (f'<div style="font-family:ui-monospace,Menlo,Consolas,monospace;font-size:{size}px;line-height:1.45;'
            f'white-space:nowrap;overflow:auto;max-height:{max_height}px;padding:8px;border:1px solid #ddd;'
            f'border-radius:6px;color:#111;background:#fff">{"".join(parts)}</div>')


def colorbar_html(vmin: float, vmax: float, colorscale: str = "RdBu_r", label: str = "") -> str:
    """A small horizontal legend for :func:`colored_text_html`."""
    stops = ", ".join(sample_colorscale(colorscale, np.linspace(0, 1, 11).tolist()))
    return (f'<div style="display:flex;align-items:center;gap:8px;font-size:12px;margin:4px 0">'
            f'<span>{label} {vmin:.2g}</span><span style="display:inline-block;width:180px;height:10px;'
            f'background:linear-gradient(to right, {stops});border-radius:3px"></span><span>{vmax:.2g}</span></div>')


def trajectory_figure(coords: np.ndarray, text: str, color: np.ndarray | None = None, color_name: str = "time",
                      axis_names: list[str] | None = None, title: str = "", height: int = 460) -> go.Figure:
    """The state path over time in 2-D or 3-D; markers coloured by ``color`` (default: time)."""
    T, d = coords.shape
    color = np.arange(T) if color is None else np.asarray(color)
    ctx = [html.escape("".join(show_char(c) for c in text[max(0, t - 8):t + 1])) for t in range(T)]
    hover = "t=%{customdata[0]} …%{customdata[1]}<br>" + color_name + "=%{marker.color:.3g}<extra></extra>"
    custom = np.stack([np.arange(T).astype(str), np.array(ctx)], axis=1)
    marker = {"color": color, "colorscale": "Viridis", "size": 5 if d == 3 else 7,
                  "colorbar": {"title": {"text": color_name, "side": "right"}, "thickness": 10}}
    names = axis_names or [f"dim {i + 1}" for i in range(d)]
    if d == 3:
        fig = go.Figure([
            go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], mode="lines",
                         line={"color": "rgba(120,120,120,0.5)", "width": 2}, hoverinfo="skip", showlegend=False),
            go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], mode="markers", marker=marker,
                         customdata=custom, hovertemplate=hover, showlegend=False)])
        fig.update_layout(scene={"xaxis_title": names[0], "yaxis_title": names[1], "zaxis_title": names[2]})
    else:
        fig = go.Figure([
            go.Scatter(x=coords[:, 0], y=coords[:, 1], mode="lines", line={"color": "rgba(120,120,120,0.35)",
                       "width": 1}, hoverinfo="skip", showlegend=False),
            go.Scatter(x=coords[:, 0], y=coords[:, 1], mode="markers", marker=marker, customdata=custom,
                       hovertemplate=hover, showlegend=False)])
        fig.update_xaxes(title=names[0])
        fig.update_yaxes(title=names[1])
    return _tight(fig, height, title)


def _ax(i: int) -> str:
    """Layout key of the i-th axis (0-based): ``xaxis``, ``xaxis2``, ... (without the x/y prefix)."""
    return f"axis{i + 1}" if i else "axis"


def unit_trace_figure(text: str, series: dict[str, np.ndarray], title: str = "", height: int = 280,
                      y_range: tuple[float, float] | None = None, secondary: dict[str, np.ndarray] | None = None,
                      wide_first: bool = False) -> go.Figure:
    """Lines over the characters (e.g. a unit's gates, or a unit against a known feature); ``secondary``
    lines use a right-hand axis; ``wide_first`` draws the first line wide so an equal second one shows."""
    x = np.arange(len(text))
    traces = []
    for i, (name, v) in enumerate(series.items()):
        width = 6 if i == 0 and wide_first else 1.8
        traces.append(go.Scatter(x=x, y=v, name=name, mode="lines", opacity=0.45 if width > 2 else 1,
                                 line={"color": PALETTE[i % len(PALETTE)], "width": width, "shape": "hv"}))
    for name, v in (secondary or {}).items():
        traces.append(go.Scatter(x=x, y=v, name=name, mode="lines", yaxis="y2",
                                 line={"color": "#888", "width": 1.4, "dash": "dot", "shape": "hv"}))
    fig = go.Figure(traces)
    if secondary:
        fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "showgrid": False,
                                  "title": {"text": next(iter(secondary))}})
    _char_axis(fig, text)
    if y_range:
        fig.update_layout(yaxis={"range": list(y_range)})
    fig.update_layout(legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
                      hovermode="x unified")
    return _tight(fig, height, title, top=48)


def gates_heatmaps(gates: dict[str, np.ndarray], text: str, units: list[int], height_per: int = 160,
                   highlight: int | None = None) -> go.Figure:
    """One units x time heatmap per gate (values in [0, 1], tanh ones in [-1, 1]) over a shared character
    axis. (Axes laid out by hand: ``make_subplots`` costs ~10x more server time.)"""
    names = list(gates)
    k = len(names)
    chars = np.array([show_char(c) for c in text])
    gap = 0.06
    h = (1 - gap * (k - 1)) / k
    fig = go.Figure()
    layout, notes = {}, []
    for r, n in enumerate(names):
        z = gates[n][:, units].T
        lo = -1.0 if n in ("cell", "new") else 0.0
        top = 1 - r * (h + gap)
        fig.add_trace(go.Heatmap(z=z, x=np.arange(len(text)), y=unit_labels(units, highlight), zmin=lo, zmax=1,
                                 colorscale="RdBu_r" if lo < 0 else "Viridis", showscale=r == 0 or lo < 0,
                                 customdata=np.broadcast_to(chars, z.shape), xaxis="x", yaxis=f"y{r + 1 if r else ''}",
                                 colorbar={"thickness": 10, "len": h, "y": top, "yanchor": "top"},
                                 hovertemplate=f"{n} t=%{{x}} '%{{customdata}}'<br>%{{y}}: %{{z:.3f}}<extra></extra>"))
        layout["y" + _ax(r)] = {"domain": [max(0.0, top - h), min(1.0, top)], "autorange": "reversed",
                                "tickfont": {"size": 8}}
        notes.append({"text": f"<b>{n} gate</b>", "x": 0, "xref": "paper", "y": top, "yref": "paper",
                      "yanchor": "bottom", "xanchor": "left", "showarrow": False, "font": {"size": 12}})
    fig.update_layout(**layout, annotations=notes, xaxis={"anchor": f"y{k if k > 1 else ''}"})
    _char_axis(fig, text)
    return _tight(fig, height_per * k + 40, top=30)


def saturation_figure(left: dict[str, np.ndarray], right: dict[str, np.ndarray], low: float, high: float,
                      height: int = 360) -> go.Figure:
    """Karpathy et al.'s gate-saturation plot: per unit, the share of time left vs right saturated."""
    k = len(left)
    gap = 0.05
    w = (1 - gap * (k - 1)) / k
    fig = go.Figure()
    layout, notes = {}, []
    for i, g in enumerate(left):
        xa = f"x{i + 1 if i else ''}"
        fig.add_trace(go.Scatter(x=[0, 1], y=[1, 0], mode="lines", line={"color": "#ccc", "dash": "dot"},
                                 hoverinfo="skip", showlegend=False, xaxis=xa, yaxis="y"))
        fig.add_trace(go.Scatter(x=left[g], y=right[g], mode="markers", name=g, showlegend=False, xaxis=xa, yaxis="y",
                                 marker={"color": PALETTE[i % len(PALETTE)], "size": 6, "opacity": 0.75},
                                 text=[f"u{u}" for u in range(len(left[g]))],
                                 hovertemplate="%{text}<br>left (< " + f"{low:g}" + "): %{x:.0%}<br>right (> "
                                 + f"{high:g}" + "): %{y:.0%}<extra></extra>"))
        x0 = i * (w + gap)
        layout["x" + _ax(i)] = {"domain": [max(0.0, x0), min(1.0, x0 + w)], "range": [-0.03, 1.03], "anchor": "y",
                                "title": {"text": f"share of time < {low:g}"}}
        notes.append({"text": f"<b>{g} gate</b>", "x": x0 + w / 2, "xref": "paper", "y": 1, "yref": "paper",
                      "yanchor": "bottom", "showarrow": False, "font": {"size": 12}})
    fig.update_layout(**layout, annotations=notes,
                      yaxis={"range": [-0.03, 1.03], "title": {"text": f"share of time > {high:g}"}})
    return _tight(fig, height, top=30)


def gradient_figure(flows: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "", height: int = 380,
                    ylabel: str = "‖∂h_T/∂h_t‖ (Frobenius)") -> go.Figure:
    """Gradient norm against the lag T - t, log scale, one line per model."""
    fig = go.Figure()
    for i, (name, (lags, norms)) in enumerate(flows.items()):
        v = np.where(np.asarray(norms) > 0, norms, np.nan)
        fig.add_trace(go.Scatter(x=lags, y=v, name=name, mode="lines",
                                 line={"color": PALETTE[i % len(PALETTE)], "width": 2},
                                 hovertemplate=f"{name}<br>T−t=%{{x}}<br>norm=%{{y:.3g}}<extra></extra>"))
    fig.update_yaxes(type="log", title=ylabel, exponentformat="power")
    fig.update_xaxes(title="lag T − t (characters back)")
    fig.update_layout(legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    return _tight(fig, height, title)


def distribution_figure(dists: dict[str, np.ndarray], vocab: str, top: int = 15, height: int = 300
                        ) -> go.Figure:
    """Bars of the most likely next characters under each temperature (the first dict entry ranks them)."""
    first = next(iter(dists.values()))
    order = np.argsort(-first)[:top]
    labels = [show_char(vocab[i]) if i else "unk" for i in order]
    fig = go.Figure([go.Bar(x=labels, y=np.asarray(p)[order], name=name,
                            marker_color=PALETTE[i % len(PALETTE)]) for i, (name, p) in enumerate(dists.items())])
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0})
    fig.update_yaxes(title="probability", rangemode="tozero")
    fig.update_xaxes(tickfont={"family": "monospace", "size": 13})
    return _tight(fig, height)
