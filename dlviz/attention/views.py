"""Arrays the attention pages show or export (never figures): matrices drawn as labelled pixel images with the
figures' own colour scales, and the GIF frames built from them -- attention query by query, and the attention
of every head over a training run. The seq2seq and RNN pages draw their GIFs with the same helpers.
"""

from __future__ import annotations

import functools
import re

import numpy as np

_ASCII = {" ": "_", "\n": "\\n", "\t": "\\t", "␣": "_", "⏎": "\\n", "·": "_", "⇥": "\\t", "⟨end⟩": "</s>"}


@functools.lru_cache(maxsize=16)
def colour_lut(colorscale: str, n: int = 256) -> np.ndarray:
    """``(n, 3)`` uint8 colours of a plotly colour scale (the same colours the page's figures use)."""
    from plotly.colors import sample_colorscale

    rgb = [tuple(float(v) for v in re.findall(r"[\d.]+", c)[:3]) for c in sample_colorscale(colorscale, n)]
    return np.clip(np.rint(np.array(rgb)), 0, 255).astype(np.uint8)


def heat_rgb(values, vmin: float, vmax: float, colorscale: str = "Blues") -> np.ndarray:
    """Values -> ``(..., 3)`` uint8 colours of ``colorscale`` over ``[vmin, vmax]`` (NaN is light grey)."""
    v = np.asarray(values, dtype=np.float64)
    lut = colour_lut(colorscale)
    t = np.clip((v - vmin) / ((vmax - vmin) or 1.0), 0, 1)
    idx = np.rint(np.nan_to_num(t) * (len(lut) - 1)).astype(int)
    out = lut[idx]
    out[np.isnan(v)] = 235
    return out


def ascii_label(tok: str, width: int = 6) -> str:
    """A label the built-in bitmap font can draw: whitespace and symbols spelled in ASCII, cut to ``width``."""
    s = _ASCII.get(tok.replace("\u200b", ""), tok.replace("\u200b", ""))
    s = "".join(c if 32 <= ord(c) < 127 else "?" for c in s)
    return s[:width]


@functools.lru_cache(maxsize=4)
def _font(size: int = 11):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:                                         # Pillow < 10.1: one fixed bitmap font
        return ImageFont.load_default()


def matrix_layout(cell: tuple[int, int], row_labels=None, col_labels=None, title: str = ""):
    """Where :func:`matrix_image` puts entry (0, 0): ``(top, left, row labels drawn, column labels drawn)``;
    entry (i, j) covers rows ``top + i*h ..`` and columns ``left + j*w ..`` of the picture."""
    ch, cw = cell
    rows = [ascii_label(str(s)) for s in row_labels] if row_labels is not None and ch >= 9 else []
    cols = [ascii_label(str(s), 2 if cw < 16 else 4) for s in col_labels] if col_labels is not None and cw >= 8 else []
    return (16 if title else 4) + (14 if cols else 0), 6 + 7 * max((len(s) for s in rows), default=0), rows, cols


def matrix_image(M, vmin: float, vmax: float, colorscale: str = "Blues", row_labels=None, col_labels=None,
                 cell: tuple[int, int] = (14, 14), title: str = "", dim=None, box=None, outline=None) -> np.ndarray:
    """A matrix as a ``(H, W, 3)`` uint8 picture: one ``cell = (h, w)`` block per entry, row labels on the left,
    column labels on top (drawn only when the cells are wide enough to read), a title line.

    ``dim``: a boolean mask of entries left blank (not reached yet); ``box = (r0, c0, r1, c1)``: a black frame
    around rows r0..r1-1, columns c0..c1-1 (the current step); ``outline``: a boolean mask of entries framed in
    red (the true alignment, the algorithm's keys).
    """
    from PIL import Image, ImageDraw

    M = np.asarray(M, dtype=np.float64)
    R, C = M.shape
    ch, cw = cell
    top, left, rows, cols = matrix_layout(cell, row_labels, col_labels, title)
    rgb = heat_rgb(M, vmin, vmax, colorscale)
    if dim is not None:
        d = np.asarray(dim, dtype=bool)
        rgb[d] = 246
    img = np.full((top + R * ch + 4, left + C * cw + 4, 3), 255, np.uint8)
    img[top:top + R * ch, left:left + C * cw] = np.repeat(np.repeat(rgb, ch, 0), cw, 1)
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    font = _font()
    if title:
        draw.text((2, 1), ascii_label(title, 200), fill=(30, 30, 30), font=font)
    for i, s in enumerate(rows):
        draw.text((2, top + i * ch + (ch - 11) // 2), s, fill=(60, 60, 60), font=font)
    for j, s in enumerate(cols):
        draw.text((left + j * cw + 1, top - 13), s, fill=(60, 60, 60), font=font)
    if outline is not None:
        for i, j in zip(*np.nonzero(np.asarray(outline, dtype=bool))):
            draw.rectangle([left + j * cw, top + i * ch, left + (j + 1) * cw - 1, top + (i + 1) * ch - 1],
                           outline=(215, 25, 28))
    if box is not None:
        r0, c0, r1, c1 = box
        draw.rectangle([left + c0 * cw - 1, top + r0 * ch - 1, left + c1 * cw, top + r1 * ch], outline=(0, 0, 0),
                       width=2)
    return np.asarray(im)


def side_by_side(images: list[np.ndarray], ncol: int | None = None, pad: int = 10) -> np.ndarray:
    """Pictures of any sizes tiled in rows of ``ncol`` on white, top-left aligned: ``(H, W, 3)`` uint8."""
    ncol = ncol or len(images)
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    nrow = -(-len(images) // ncol)
    out = np.full((nrow * (h + pad) - pad, ncol * (w + pad) - pad, 3), 255, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, ncol)
        out[r * (h + pad):r * (h + pad) + im.shape[0], c * (w + pad):c * (w + pad) + im.shape[1]] = im
    return out


def cell_size(n: int, room: int = 360, lo: int = 4, hi: int = 18) -> int:
    """Side of one cell so that ``n`` cells fill about ``room`` pixels."""
    return int(np.clip(room // max(n, 1), lo, hi))


def query_frames(weights: np.ndarray, tokens: list[str], pattern: np.ndarray | None = None,
                 max_frames: int = 80) -> list[np.ndarray]:
    """The attention of every head revealed query by query: frame q shows rows 0..q of each head's map, row q
    framed (the token being read or written at that step), the rows still to come blank. ``weights (L, H, T, T)``;
    ``pattern (T, T)`` frames the keys the algorithm names."""
    L, Hh, T, _ = weights.shape
    c = cell_size(T, room=300 if L * Hh > 1 else 420)
    rows = np.arange(T)[:, None]
    steps = np.unique(np.linspace(0, T - 1, min(T, max_frames)).round().astype(int))
    frames = []
    for q in steps:
        panels = [matrix_image(weights[i, h], 0.0, 1.0, "Blues", tokens, tokens, (c, c),
                               title=f"L{i + 1}H{h + 1}  query {q}: {ascii_label(tokens[q])}",
                               dim=np.broadcast_to(rows > q, (T, T)), box=(q, 0, q + 1, T), outline=pattern)
                  for i in range(L) for h in range(Hh)]
        frames.append(side_by_side(panels, ncol=min(Hh * L, 4)))
    return frames


def training_frames(snapshots: list[tuple[int, dict]], alg: str | None = None) -> list[np.ndarray]:
    """The attention of every head on one test sequence at each snapshot of a run: one frame per snapshot,
    titled with its step. ``snapshots``: ``[(step, {"weights": (L, H, T, T), "tokens": [...], ...})]``."""
    frames = []
    for step, snap in snapshots:
        w = np.asarray(snap["weights"])
        L, Hh, T, _ = w.shape
        c = cell_size(T, room=260)
        pat = (snap.get("patterns") or {}).get(alg)
        panels = [matrix_image(w[i, h], 0.0, 1.0, "Blues", snap["tokens"], snap["tokens"], (c, c),
                               title=f"step {step}  L{i + 1}H{h + 1}", outline=pat)
                  for i in range(L) for h in range(Hh)]
        frames.append(side_by_side(panels, ncol=min(Hh * L, 4)))
    return frames
