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


# ---------------------------------------------------------------- exports (issue 17)
def side_by_side(images: list[np.ndarray], gap: int = 2) -> np.ndarray:
    """``(H, W, 3)`` uint8 images of one height in a row, ``gap`` white pixels apart (a PNG or a GIF frame)."""
    h = max(im.shape[0] for im in images)
    cols = []
    for k, im in enumerate(images):
        pad = np.full((h, im.shape[1], 3), 255, np.uint8)
        pad[: im.shape[0]] = im
        cols.append(pad)
        if k < len(images) - 1:
            cols.append(np.full((h, gap, 3), 255, np.uint8))
    return np.concatenate(cols, axis=1)


def mean_iou_snippet(model: dict, ds: str, folder: str | None) -> str:
    """Notebook lines that recompute section 1's mean IoU on the fixed test set; ``model`` is ``{"shipped": name}``
    or ``{"file": path}`` (the page's "Download this model")."""
    load = (f"from dlviz.checkpoints import load_shipped\n\nmodel, card = load_shipped({model['shipped']!r})\n"
            if "shipped" in model else
            "from dlviz.checkpoints import load_checkpoint\n\n"
            f"model, card = load_checkpoint({model['file']!r})   # the file \"Download this model\" gave you\n")
    return ("from dlviz.unet import core\nfrom dlviz.unet.training import load_data, predict_masks\n" + load +
            f"test = load_data({ds!r}, 'test', None, folder={folder!r})\n"
            "pred = predict_masks(model, test.images)                 # argmax class per pixel\n"
            "report = core.evaluate_masks(pred, test.masks.numpy(), test.instances.numpy(), test.num_classes)\n"
            "result = report.mean_iou                                  # per-class IoU, averaged over the classes\n"
            "print(f\"{result:.3f}\")\n")


# ---------------------------------------------------------------- the ablation table (from the shipped cards)
def ablation_rows(names: list[str]) -> list[dict]:
    """The ablation table from the checkpoints' cards (tests/test_checkpoints.py re-measures every card)."""
    from dlviz.checkpoints import shipped
    from dlviz.unet.recipes import PLANS, SUMMARY

    rows = []

    def as_int(v):
        return None if v is None else int(v)

    cards = shipped()                       # one read of the checkpoints folder, not one per row
    for n in names:
        card = cards[n].card
        m = card.get("metrics", {})
        rows.append({"checkpoint": n, "setting": SUMMARY[n], "mean IoU": m.get("mean_iou"),
                     "boundary F1": m.get("boundary_f1"), "merged objects": as_int(m.get("merged_instances")),
                     "touching objects": as_int(m.get("touching_objects")), "train images": card.get("n_train"),
                     "steps": card.get("steps"), "loss": card.get("loss", PLANS[n].loss),
                     "CPU s": card.get("cpu_time_s")})
    return rows


def verdict(g: str, rows: list[dict]) -> str:
    """One sentence that says what the numbers above show (computed from them, never assumed)."""
    r = {x["checkpoint"]: x for x in rows}
    if g.startswith("Skip") and "unet_foods" in r and "unet_foods_noskip" in r:
        a, b = r["unet_foods"], r["unet_foods_noskip"]
        s = (f"Removing every skip changes mean IoU by {b['mean IoU'] - a['mean IoU']:+.3f} and boundary F1 by "
             f"{b['boundary F1'] - a['boundary F1']:+.3f}")
        if "unet_foods_notop" in r:
            c = r["unet_foods_notop"]
            s += (f"; removing only the top skip by {c['mean IoU'] - a['mean IoU']:+.3f} and "
                  f"{c['boundary F1'] - a['boundary F1']:+.3f}")
        return s + " (one seed each: differences of a few thousandths are noise)."
    if g.startswith("Border") and "unet_cells_wce" in r and "unet_cells_ce" in r:
        a, b = r["unet_cells_wce"], r["unet_cells_ce"]
        return (f"Of the {a['touching objects']} touching test cells, plain CE merged {b['merged objects']} and the "
                f"weighted CE {a['merged objects']}; mean IoU {b['mean IoU']:.3f} vs {a['mean IoU']:.3f}.")
    if g.startswith("Elastic") and "unet_foods20" in r and "unet_foods20_elastic" in r:
        a, b = r["unet_foods20"], r["unet_foods20_elastic"]
        return (f"At 20 training images, elastic deformation changes mean IoU by {b['mean IoU'] - a['mean IoU']:+.3f} "
                f"and boundary F1 by {b['boundary F1'] - a['boundary F1']:+.3f} (one seed each).")
    return ""
