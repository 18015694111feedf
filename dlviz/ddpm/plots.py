"""Figures for the DDPM page: schedules (beta_t, alpha_bar_t, SNR), image strips of x_t / ε̂ / x̂_0, an
animated trajectory with a play button, the loss per timestep bucket, per-class accuracy
and the samples a live run draws as it trains.

Image figures embed one PNG (``go.Image(source=...)``): one small payload per slider move instead of a
JSON array of every pixel, and pixel-crisp because images are upscaled (nearest) before encoding.
"""

from __future__ import annotations


import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dlviz.imaging import png_uri
from dlviz.plotting import PALETTE

SCHEDULE_COLORS = {"linear": PALETTE[0], "cosine": PALETTE[1], "quadratic": PALETTE[2]}


def _png(arr: np.ndarray) -> str:
    """``(H, W, 3)`` uint8 -> a PNG data URI."""
    return png_uri(arr)


def montage(rows: list[np.ndarray], scale: int = 3, gap: int = 2, bg: int = 255) -> np.ndarray:
    """Rows of images ``(N, H, W, C)`` uint8 (C = 1 or 3) -> one ``(H', W', 3)`` uint8 picture.

    Every image is upscaled ``scale`` times (nearest neighbour) and separated by ``gap`` pixels.
    """
    ncol = max(len(r) for r in rows)
    h, w = rows[0].shape[1:3]
    H, W = h * scale, w * scale
    out = np.full((len(rows) * (H + gap) - gap, ncol * (W + gap) - gap, 3), bg, dtype=np.uint8)
    for i, r in enumerate(rows):
        r = np.asarray(r)
        if r.shape[-1] == 1:
            r = np.repeat(r, 3, axis=-1)
        big = r.repeat(scale, axis=1).repeat(scale, axis=2)               # (N, H, W, 3)
        for j, im in enumerate(big):
            y, x = i * (H + gap), j * (W + gap)
            out[y:y + H, x:x + W] = im
    return out


def closed_form_figure(closed_form: np.ndarray, stepwise: np.ndarray, t: int, zoom: int) -> go.Figure:
    """x_t drawn in one jump (Ho eq. 4) beside x_t reached by ``t`` single steps (eq. 2), linear schedule."""
    from dlviz.imaging import quantize

    return picture_figure(montage([quantize(np.stack([closed_form, stepwise]))], scale=zoom),
                          f"linear schedule, t = {t}", height=220,
                          col_labels=["closed form, eq. 4", f"{t} single steps, eq. 2"])


def picture_figure(pic: np.ndarray, title: str = "", row_labels: list[str] | None = None,
                   height: int | None = None, label_width: int = 70, col_labels: list[str] | None = None,
                   gap: int = 2, width_hint: int = 700) -> go.Figure:
    """A montage as a figure (PNG-backed), with optional row labels (left) and column labels (top).

    Without ``height``, the height fits the picture's aspect at about ``width_hint`` pixels wide.
    """
    Hp, Wp = pic.shape[:2]
    lw = label_width if row_labels else 0
    top = 22 if col_labels else 0
    fig = go.Figure(go.Image(source=_png(pic), hoverinfo="skip"))
    fig.update_xaxes(visible=False, range=[-lw, Wp])
    fig.update_yaxes(visible=False, range=[Hp, -top], scaleanchor="x")
    for i, lab in enumerate(row_labels or []):
        fig.add_annotation(x=-6, y=(i + 0.5) * Hp / len(row_labels), text=lab, showarrow=False, xanchor="right",
                           font={"size": 13})
    for j, lab in enumerate(col_labels or []):
        fig.add_annotation(x=(j + 0.5) * (Wp + gap) / len(col_labels) - gap / 2, y=-4, text=lab, showarrow=False,
                           yanchor="bottom", font={"size": 12})
    fig.update_layout(title={"text": title, "font": {"size": 14}}, plot_bgcolor="white",
                      margin={"l": 0, "r": 0, "t": 30 if title else 4, "b": 0},
                      height=height or int((34 if title else 8) + width_hint * (Hp + top) / max(Wp + lw, 1)))
    return fig


def _drawn(n: int, max_points: int | None) -> np.ndarray:
    """Indices 1..n-1 of a schedule curve to draw: all of them, or ``max_points`` evenly spaced plus the last 20
    (where the cosine schedule's β and SNR turn sharply)."""
    if max_points is None or n - 1 <= max_points:
        return np.arange(1, n)
    return np.unique(np.concatenate([np.linspace(1, n - 1, max_points).round().astype(int), np.arange(n - 20, n)]))


def schedule_figure(curves: dict[str, dict[str, np.ndarray]], t: int, height: int = 300,
                    max_points: int | None = 250) -> go.Figure:
    """beta_t, alpha_bar_t and log10 SNR against t for each schedule; a dashed line at the current t.

    ``curves``: ``{schedule: {"beta": (T+1,), "alpha_bar": (T+1,), "snr": (T+1,)}}``. ``max_points`` per curve keeps
    the figure light to redraw on every move of t (None: every t, as the CSV export uses).
    """
    fig = make_subplots(rows=1, cols=3, subplot_titles=("β_t (noise added at step t, log scale)", "ᾱ_t (signal kept)",
                                                        "log₁₀ SNR = log₁₀ ᾱ_t / (1 − ᾱ_t)"),
                        horizontal_spacing=0.07)
    for name, c in curves.items():
        ts = _drawn(len(c["beta"]), max_points)
        color = SCHEDULE_COLORS.get(name, PALETTE[3])
        for col, (key, ys) in enumerate((("beta", c["beta"][ts]), ("alpha_bar", c["alpha_bar"][ts]),
                                         ("snr", np.log10(np.maximum(c["snr"][ts], 1e-12)))), 1):
            fig.add_trace(go.Scatter(x=ts, y=ys, mode="lines", line={"color": color, "width": 2}, name=name,
                                     legendgroup=name, showlegend=col == 1,
                                     hovertemplate=f"{name}<br>t=%{{x}}<br>{key}=%{{y:.4g}}<extra></extra>"), 1, col)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_xaxes(title_text="t")
    axes = ("", "2", "3")        # one shape per panel (add_vline costs ~10 ms a call, on every move of t)
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 40, "b": 4},
                      legend={"orientation": "h", "y": -0.25},
                      shapes=[{"type": "line", "x0": t, "x1": t, "xref": f"x{a}", "y0": 0, "y1": 1,
                               "yref": f"y{a} domain", "line": {"dash": "dash", "color": "#555", "width": 1}}
                              for a in axes])
    return fig


def animation_figure(pics: list[np.ndarray], labels: list[str], title: str = "", row_labels: list[str] | None = None,
                     frame_ms: int = 120, label_width: int = 70) -> go.Figure:
    """A client-side animation of montages (play / pause buttons and a scrubbing slider, no server round trip)."""
    fig = picture_figure(pics[0], title, row_labels, label_width=label_width)
    fig.frames = [go.Frame(data=[go.Image(source=_png(p), hoverinfo="skip")], name=lab) for p, lab in zip(pics, labels,
                                                                                                        strict=True)]
    play = {"frame": {"duration": frame_ms, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    stop = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    fig.update_layout(
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": -0.02, "xanchor": "left", "yanchor": "top",
                      "pad": {"t": 4, "r": 8}, "showactive": False,
                      "buttons": [{"label": "▶ Play", "method": "animate", "args": [None, play]},
                                  {"label": "❚❚ Pause", "method": "animate", "args": [[None], stop]}]}],
        sliders=[{"active": 0, "x": 0.18, "len": 0.82, "y": -0.02, "yanchor": "top", "pad": {"t": 4},
                  "currentvalue": {"prefix": "", "font": {"size": 13}},
                  "steps": [{"label": lab, "method": "animate", "args": [[lab], stop]} for lab in labels]}])
    fig.update_layout(height=(fig.layout.height or 300) + 70, margin={"l": 0, "r": 0, "t": 30, "b": 60})
    return fig


def bucket_loss_figure(names: list[str], values: list[float], height: int = 260, title: str = "") -> go.Figure:
    """Mean ε-prediction loss per timestep bucket (names like ``loss_t0001-0100``)."""
    labels = []
    for n in names:                                     # "loss_t0001-0100" -> "t 1–100"
        lo, hi = n.removeprefix("loss_t").split("-")
        labels.append(f"t {int(lo)}–{int(hi)}")
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=PALETTE[0],
                           hovertemplate="%{x}: loss %{y:.4f}<extra></extra>"))
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 36 if title else 8, "b": 4},
                      title={"text": title, "font": {"size": 14}}, yaxis_title="mean ‖ε − ε̂‖²", xaxis_title="timestep bucket")
    return fig


def per_class_figure(class_names: list[str], acc: np.ndarray, chance: float, height: int = 260,
                     title: str = "") -> go.Figure:
    """Classifier accuracy on the samples of each requested class, with the chance level."""
    vals = np.nan_to_num(np.asarray(acc, dtype=float), nan=0.0)
    fig = go.Figure(go.Bar(x=class_names, y=vals, marker_color=[PALETTE[2] if v >= 0.5 else PALETTE[3] for v in vals],
                           text=[f"{v:.0%}" for v in vals], textposition="outside",
                           hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    fig.add_hline(y=chance, line={"dash": "dot", "color": "#777"})          # chance level (said in the title)
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%")
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 36 if title else 8, "b": 4},
                      title={"text": title, "font": {"size": 14}})
    return fig


def guidance_sweep_figure(ws: list[float], acc: list[float], fd: list[float], floor: float,
                          height: int = 260) -> go.Figure:
    """Recognition rate (left axis) and Fréchet distance (right axis) against the guidance scale."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=ws, y=acc, mode="lines+markers", name="recognised", line={"color": PALETTE[2]},
                             hovertemplate="w=%{x}: %{y:.0%}<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=ws, y=fd, mode="lines+markers", name="FD to real", line={"color": PALETTE[1]},
                             hovertemplate="w=%{x}: FD %{y:.2f}<extra></extra>"), secondary_y=True)
    fig.add_trace(go.Scatter(x=[min(ws), max(ws)], y=[floor, floor], mode="lines", name="FD real vs real",
                             line={"color": PALETTE[1], "dash": "dot"}, hoverinfo="skip"), secondary_y=True)
    fig.update_yaxes(title_text="recognised", tickformat=".0%", range=[0, 1.05], secondary_y=False)
    fig.update_yaxes(title_text="Fréchet distance", rangemode="tozero", secondary_y=True)
    fig.update_xaxes(title_text="guidance scale w")
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 36, "b": 4}, title={"text": "guidance sweep",
                      "font": {"size": 14}}, legend={"orientation": "h", "y": -0.3})
    return fig


def trajectory_figure(rows: list[np.ndarray], title: str, col_labels: list[str] | None, scale: int = 3,
                      width_hint: int = 1000) -> go.Figure:
    """One sampler's panel: rows x_t, ε̂, x̂_0 at the scrubbed t and the final samples."""
    return picture_figure(montage(rows, scale=scale), title, ["x_t", "ε̂", "x̂_0", "final x_0"],
                          col_labels=col_labels, label_width=90, width_hint=width_hint)


def snapshots_figure(snaps: list) -> go.Figure:
    """The samples a live run drew at its last snapshots, one row per ``(step, Snapshot)``."""
    from dlviz.imaging import to_uint8

    rows = [to_uint8(s.images) for _, s in snaps]
    return picture_figure(montage(rows, scale=3 if rows[0].shape[1] >= 32 else 4),
                          "samples during training (one per class, same noise)",
                          [f"step {step}" for step, _ in snaps], height=80 + 70 * len(rows))


def forward_row_figure(image, views: dict, name: str, t: int, zoom: int) -> go.Figure:
    """Section 1's row: the clean image ``(C, H, W)`` and x_t under each schedule of ``views``
    (:class:`dlviz.ddpm.views.ForwardView` by schedule), all from the same ε."""
    from dlviz.imaging import quantize

    row = np.stack([image.permute(1, 2, 0).numpy()] + [v.closed_form for v in views.values()])  # (n+1, H, W, C)
    return picture_figure(montage([quantize(row)], scale=zoom), f"{name} at t = {t} (the same ε for all three)",
                          col_labels=["x_0 (clean)"] + [f"x_{t}, {k}" for k in views], height=240)
