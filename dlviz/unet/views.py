"""Arrays prepared for the U-Net page (never figures): coloured masks, false-positive / false-negative
overlays, feature maps per level, the level shapes of a U (this page's U-Net or the DDPM's), and the
landing-page thumbnail."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlviz.imaging import to_uint8

# background black, then distinct colours (Glasbey-like) for up to 12 classes
PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
                    [0, 128, 128]], np.uint8)
FP_RGB, FN_RGB = np.array([230, 30, 30], np.float32), np.array([30, 120, 255], np.float32)


def to_rgb(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8 (dlviz.imaging's one rounding rule)."""
    return to_uint8(image)


def color_mask(mask: np.ndarray) -> np.ndarray:
    """Class indices ``(H, W)`` -> ``(H, W, 3)`` uint8 (classes beyond the palette wrap around)."""
    return PALETTE[np.asarray(mask) % len(PALETTE)]


def color_instances(inst: np.ndarray, seed: int = 3) -> np.ndarray:
    """Instance ids ``(H, W)`` -> random distinct colours, background black."""
    rng = np.random.default_rng(seed)
    pal = rng.integers(60, 256, (int(np.asarray(inst).max()) + 1, 3)).astype(np.uint8)
    pal[0] = 0
    return pal[np.asarray(inst)]


def error_map(pred: np.ndarray, true: np.ndarray, cls: int | None = None) -> np.ndarray:
    """``(H, W)`` int: 0 correct / not this class, 1 false positive, 2 false negative.

    For a class ``cls``: FP = predicted ``cls`` where the truth is another class, FN = true ``cls`` predicted as
    another. With ``cls=None`` (all classes): FP = a foreground class predicted wrongly, FN = a foreground
    pixel predicted as background."""
    pred, true = np.asarray(pred), np.asarray(true)
    out = np.zeros(pred.shape, np.int64)
    if cls is None:
        wrong = pred != true
        out[wrong & (pred > 0)] = 1
        out[wrong & (pred == 0)] = 2
    else:
        out[(pred == cls) & (true != cls)] = 1
        out[(true == cls) & (pred != cls)] = 2
    return out


def error_overlay(image: torch.Tensor | np.ndarray, pred: np.ndarray, true: np.ndarray, cls: int | None = None,
                  dim: float = 0.45) -> np.ndarray:
    """The image, dimmed, with false positives in red and false negatives in blue ``(H, W, 3)`` uint8."""
    rgb = to_rgb(image).astype(np.float32) * dim + 255 * (1 - dim) * 0.3
    e = error_map(pred, true, cls)
    rgb[e == 1] = FP_RGB
    rgb[e == 2] = FN_RGB
    return rgb.clip(0, 255).astype(np.uint8)


@torch.no_grad()
def level_features(model: nn.Module, image: torch.Tensor) -> dict[str, list[np.ndarray | None]]:
    """Every level's maps for one image ``(3, H, W)``: ``{"enc": [(C, h, w), ...], "dec": [...]}``."""
    was = model.training
    model.eval()
    _, feats = model(image[None].to(next(model.parameters()).device), return_features=True)
    model.train(was)
    return {k: [None if f is None else f[0].cpu().numpy() for f in v] for k, v in feats.items()}


def strongest_channels(maps: np.ndarray, n: int = 8) -> np.ndarray:
    """Indices of the ``n`` channels of ``maps (C, h, w)`` with the largest spatial variance (the informative ones)."""
    var = maps.reshape(len(maps), -1).var(1)
    return np.sort(np.argsort(-var, kind="stable")[:n])


def sharpness(maps: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels of the normalised maps (``(C, h, w)``), in units
    of each map's standard deviation: how much fine detail a level carries (higher = sharper)."""
    m = (maps - maps.mean((1, 2), keepdims=True)) / (maps.std((1, 2), keepdims=True) + 1e-6)
    if m.shape[-1] < 2:
        return 0.0
    return float((np.abs(np.diff(m, axis=1)).mean() + np.abs(np.diff(m, axis=2)).mean()) / 2)


def ddpm_levels(config) -> list[dict]:
    """The levels of the DDPM's denoiser (:class:`dlviz.models.unet.UNet`) in the same form as
    :meth:`dlviz.models.seg_unet.SegUNet.level_shapes`: its U has the same shape."""
    c = config if isinstance(config, dict) else vars(config)
    mults = list(c["channel_mults"])
    att = tuple(c.get("attention_resolutions", ()))
    out = []
    for i, m in enumerate(mults):
        size = c["image_size"] // 2 ** i
        out.append({"level": i, "size": size, "enc": c["base_channels"] * m, "dec": c["base_channels"] * m,
                    "skip": True, "attention": size in att})
    # the middle block (ResBlock, attention, ResBlock) works at the coarsest resolution, without pooling further
    out.append({"level": len(mults), "size": out[-1]["size"], "enc": out[-1]["enc"], "dec": None, "skip": False,
                "attention": True, "middle": True})
    return out


def thumbnail() -> np.ndarray:
    """Landing card: a plate of foods beside its mask, and touching cells beside theirs."""
    from dlviz.data.food_segmentation import food_segmentation

    a = food_segmentation(1, seed=5, size=64, variant="foods")
    b = food_segmentation(1, seed=2, size=64, variant="cells")
    gap = np.full((64, 3, 3), 255, np.uint8)
    return np.concatenate([to_rgb(a.images[0]), gap, color_mask(a.masks[0].numpy()), gap, gap,
                           to_rgb(b.images[0]), gap, color_instances(b.instances[0].numpy())], axis=1)
