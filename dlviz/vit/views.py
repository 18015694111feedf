"""Arrays the ViT page displays (no figures): the image cut into patches, the patch sequence, the
rollout overlaid on the image, mosaics of per-head maps and of the position similarities, the
principal components of the patch-embedding filters (Dosovitskiy et al. Fig. 7 left), and the
landing-page thumbnail."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlviz.imaging import quantize, upscale
from dlviz.plotting import to_hwc
from dlviz.vit.core import patchify


def patch_grid(img: torch.Tensor, p: int, scale: int = 8, line=(255, 255, 255)) -> np.ndarray:
    """The image enlarged ``scale`` times with a line between patches: ``(H*scale, W*scale, 3)`` uint8."""
    out = quantize(upscale(to_hwc(img), scale))
    step = p * scale
    out[::step, :] = line
    out[:, ::step] = line
    out[-1, :] = line
    out[:, -1] = line
    return out


def patch_sequence(img: torch.Tensor, p: int, scale: int = 4, gap: int = 2, max_tokens: int = 64) -> np.ndarray:
    """The patches in the order the transformer reads them, left to right, after a blank [CLS] slot:
    ``(p*scale, (N + 1)(p*scale + gap), 3)`` uint8 (at most ``max_tokens`` patches)."""
    C = img.shape[0]
    t = patchify(img[None], p)[0].reshape(-1, C, p, p)[:max_tokens]       # (N, C, p, p)
    w = p * scale
    out = np.full((w, (len(t) + 1) * (w + gap) - gap, 3), 255, np.uint8)
    out[:, :w] = (60, 60, 60)                                               # the [CLS] slot
    for i, patch in enumerate(t, 1):
        x0 = i * (w + gap)
        out[:, x0:x0 + w] = quantize(upscale(to_hwc(patch), scale))
    return out


def _colormap(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB in [0, 1] (matplotlib's inferno)."""
    from matplotlib import colormaps

    return colormaps["inferno"](np.clip(v, 0, 1))[..., :3]


def overlay(img: torch.Tensor, heat: np.ndarray, alpha: float = 0.6, scale: int = 8,
            smooth: bool = False) -> np.ndarray:
    """``heat`` ``(g, g)`` (scaled to [0, 1] by its max) drawn over the image: ``(H*s, W*s, 3)`` uint8.
    Each patch gets one colour (``smooth``: bilinear between patch centres instead)."""
    base = upscale(to_hwc(img), scale)                                       # (H*s, W*s, 3)
    H = base.shape[0]
    h = np.asarray(heat, np.float64)
    h = h / h.max() if h.max() > 0 else h
    if smooth:
        t = torch.from_numpy(h)[None, None]
        big = torch.nn.functional.interpolate(t, size=base.shape[:2], mode="bilinear", align_corners=False)[0, 0]
        big = big.numpy()
    else:
        big = upscale(h, H // h.shape[0])
    grey = base.mean(-1, keepdims=True)
    out = (1 - alpha) * grey + alpha * _colormap(big)
    return quantize(out)


def mosaic(maps: np.ndarray, gap: int = 1) -> np.ndarray:
    """``(R, C, h, w)`` -> one ``(R h + (R-1) gap, C w + (C-1) gap)`` array with NaN gaps (a heatmap
    of many small maps in one trace)."""
    R, C, h, w = maps.shape
    out = np.full((R * h + (R - 1) * gap, C * w + (C - 1) * gap), np.nan)
    for r in range(R):
        for c in range(C):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = maps[r, c]
    return out


def embedding_filters(model: nn.Module, k: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """The principal components of the patch-embedding filters (the rows of ``E``), as images:
    ``(k, p, p, 3)`` in [0, 1] (each component min-max scaled) and the fraction of variance each holds."""
    c = model.config
    W = model.patch_embed.weight.detach().double().numpy()                 # (dim, C p p)
    W = W - W.mean(0, keepdims=True)
    _, s, vt = np.linalg.svd(W, full_matrices=False)                       # rows of vt: components
    k = min(k, len(vt))
    var = s ** 2 / (s ** 2).sum()
    comps = vt[:k].reshape(k, c.in_channels, c.patch_size, c.patch_size)
    lo = comps.min((1, 2, 3), keepdims=True)
    hi = comps.max((1, 2, 3), keepdims=True)
    comps = (comps - lo) / np.where(hi > lo, hi - lo, 1.0)
    imgs = np.transpose(comps, (0, 2, 3, 1))
    if imgs.shape[-1] == 1:
        imgs = np.repeat(imgs, 3, -1)
    return imgs, var[:k]


def foreground_fraction(img: torch.Tensor, heat: np.ndarray, p: int, threshold: float = 0.25) -> tuple[float, float]:
    """``(mass, share)``: the fraction of ``heat`` (``(g, g)``, summing to 1) that falls on foreground
    patches (mean ink ``> threshold``, for the dark-background digits), and the share of patches that
    are foreground (what a uniform map would give)."""
    ink = patchify(img[None], p)[0].mean(-1).reshape(heat.shape).numpy()   # (g, g)
    fg = ink > threshold
    h = np.asarray(heat) / max(float(np.sum(heat)), 1e-12)
    return float(h[fg].sum()), float(fg.mean())


def thumbnail() -> np.ndarray:
    """Landing-page card: a food image cut into 4x4 patches, the patches pulled apart like tokens."""
    from dlviz.data import food_shapes

    img = food_shapes(1, seed=3, size=32, classes=["pizza slice"]).images[0]     # (3, 32, 32)
    s, p, gap = 4, 8, 6
    g, cell = 32 // p, p * s
    big = quantize(upscale(to_hwc(img), s))                  # (128, 128, 3)
    side = g * cell + (g - 1) * gap
    out = np.full((side, 32 * s + 24 + side, 3), 255, np.uint8)
    y0 = (side - 32 * s) // 2
    out[y0:y0 + 32 * s, :32 * s] = big
    x0 = 32 * s + 24
    for i in range(g):
        for j in range(g):
            y, x = i * (cell + gap), x0 + j * (cell + gap)
            out[y:y + cell, x:x + cell] = big[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell]
    return out


def accuracy_snippet(model: dict, dkey: str) -> str:
    """Notebook lines that recompute the sidebar's test accuracy; ``model`` is ``{"shipped": name}`` or
    ``{"file": path}`` (the page's "Download this model")."""
    load = (f"from dlviz.checkpoints import load_shipped\n\nmodel, card = load_shipped({model['shipped']!r})\n"
            if "shipped" in model else
            "from dlviz.checkpoints import load_checkpoint\n\n"
            f"model, card = load_checkpoint({model['file']!r})   # the file \"Download this model\" gave you\n")
    return ("from dlviz.metrics import accuracy\nfrom dlviz.vit.training import load_data\n" + load +
            f"test = load_data({dkey!r}, 'test')\n"
            "result = accuracy(model, test.images, test.labels)     # share of held-out images classified right\n"
            "print(f\"{result:.1%}\")\n")


def position_caption(ps, g: int) -> str:
    """What the position-similarity map measures on this model, in words: each score of a
    :class:`dlviz.vit.core.PositionStructure` beside its value with the patches shuffled, and a verdict that
    says no more than those numbers (3 standard deviations above the shuffles: "there"; 2: "faint")."""
    def vs(name: str) -> str:
        return f"{getattr(ps, name):+.2f} ({ps.null_mean[name]:+.2f} ± {ps.null_std[name]:.2f})"

    zr, zc = ps.z("row_col"), ps.z("radial")
    rows = ("the rows and columns of Fig. 7 are there" if zr >= 3 else
            "a faint row/column structure, about 2 sd above chance" if zr >= 2 else
            "no row/column structure beyond chance")
    ring = ""
    if zc >= 3:
        ring = (" It also codes the distance from the centre (rings: patches as far from the centre are alike, "
                "wherever they lie)" + (", which is why similarity against plain grid distance is negative"
                                        if ps.locality < 0 else "") + ".")
    return (f"Tile (row i, column j): how similar patch (i, j)'s position embedding is to every other patch's "
            f"(Dosovitskiy et al. Fig. 7 centre); nobody told the model the {g}×{g} grid. Measured (in brackets: "
            f"the same with the patches shuffled, mean ± sd): same row or column minus other pairs {vs('row_col')}; "
            f"similarity against equal distance from the centre {vs('radial')}; against grid distance "
            f"{vs('locality')}. So: {rows}.{ring}")
