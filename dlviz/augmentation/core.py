"""Data augmentation with torchvision's transforms v2: build a pipeline from a spec, preview it, train with it.

An augmentation is a random, label-preserving transformation of the training images: the network sees a
new variant of every image each epoch, which acts as a regulariser (Simard et al. 2003; Krizhevsky et al.
2012). Two batch-level augmentations mix images *and* labels: **mixup** (Zhang et al. 2018,
``x = lam*x_i + (1-lam)*x_j``, ``y = lam*y_i + (1-lam)*y_j``, ``lam ~ Beta(alpha, alpha)``) and **CutMix**
(Yun et al. 2019: paste a box of ``x_j`` into ``x_i``; the label weight is the pasted area).

A spec is a tuple of :class:`Aug` (name + parameters), hashable so a page can cache on it:

    spec = (aug("crop", scale_min=0.6), aug("hflip", p=0.5), aug("mixup", alpha=0.4))
    per_image, batch_tf = build(spec, size=32, num_classes=10)
    x, y_soft = augment_batch(x, y, per_image, batch_tf)

Per-image transforms draw fresh random parameters for *every* image (as a DataLoader would); v2 applied to
a whole ``(B, C, H, W)`` tensor would draw one set of parameters for the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dlviz.imaging import tile


@dataclass(frozen=True)
class Param:
    key: str
    label: str
    lo: float
    hi: float
    default: float
    step: float
    help: str = ""


@dataclass(frozen=True)
class AugInfo:
    label: str
    help: str
    params: tuple[Param, ...]
    batch: bool = False        # mixes images and labels across the batch (mixup, CutMix)


AUGMENTATIONS: dict[str, AugInfo] = {
    "crop": AugInfo("Random resized crop", "Crop a random part (area fraction in [scale_min, 1]) and resize back.",
                    (Param("scale_min", "min area", 0.05, 1.0, 0.6, 0.05),)),
    "pad_crop": AugInfo("Pad + random crop", "Reflect-pad by `padding` pixels, crop back at a random offset "
                        "(the classic CIFAR shift).", (Param("padding", "padding (px)", 1, 8, 4, 1),)),
    "hflip": AugInfo("Horizontal flip", "Mirror left-right with probability p.",
                     (Param("p", "p", 0.0, 1.0, 0.5, 0.05),)),
    "vflip": AugInfo("Vertical flip", "Mirror top-bottom with probability p.",
                     (Param("p", "p", 0.0, 1.0, 0.5, 0.05),)),
    "rotation": AugInfo("Rotation", "Rotate by a uniform angle in [-degrees, degrees] (corners filled black).",
                        (Param("degrees", "degrees", 0, 180, 20, 5),)),
    "affine": AugInfo("Translate + scale", "Shift by up to a fraction of the size and scale by 1 +- s.",
                      (Param("translate", "translate", 0.0, 0.5, 0.1, 0.05),
                       Param("scale", "scale +-", 0.0, 0.5, 0.1, 0.05))),
    "perspective": AugInfo("Perspective", "Random perspective warp with probability p.",
                           (Param("distortion", "distortion", 0.0, 1.0, 0.3, 0.05), Param("p", "p", 0.0, 1.0, 0.5, 0.05))),
    "color_jitter": AugInfo("Colour jitter", "Random brightness, contrast, saturation (factors 1 +- value) and "
                            "hue shift.", (Param("brightness", "brightness", 0.0, 1.0, 0.3, 0.05),
                                           Param("contrast", "contrast", 0.0, 1.0, 0.3, 0.05),
                                           Param("saturation", "saturation", 0.0, 1.0, 0.3, 0.05),
                                           Param("hue", "hue", 0.0, 0.5, 0.05, 0.01))),
    "grayscale": AugInfo("Greyscale", "Drop the colour with probability p.", (Param("p", "p", 0.0, 1.0, 0.2, 0.05),)),
    "blur": AugInfo("Gaussian blur", "Blur with a 5x5 Gaussian of sigma uniform in [0.1, sigma_max].",
                    (Param("sigma", "sigma max", 0.1, 3.0, 1.0, 0.1),)),
    "noise": AugInfo("Gaussian noise", "Add N(0, sigma^2) noise per pixel (clipped to [0, 1]).",
                     (Param("sigma", "sigma", 0.0, 0.3, 0.05, 0.01),)),
    "erasing": AugInfo("Random erasing", "Blank a random rectangle (area up to scale_max) with probability p "
                       "(Zhong et al. 2020, like Cutout).", (Param("p", "p", 0.0, 1.0, 0.5, 0.05),
                                                             Param("scale_max", "max area", 0.02, 0.5, 0.2, 0.02))),
    "trivialaugment": AugInfo("TrivialAugment", "One random op of random strength per image (Mueller & Hutter "
                              "2021); no knobs.", ()),
    "randaugment": AugInfo("RandAugment", "num_ops random ops at one magnitude (Cubuk et al. 2020).",
                           (Param("num_ops", "ops", 1, 4, 2, 1), Param("magnitude", "magnitude", 0, 30, 9, 1))),
    "mixup": AugInfo("MixUp", "Blend each image with its batch neighbour, lam ~ Beta(alpha, alpha); the labels "
                     "blend the same way.", (Param("alpha", "alpha", 0.05, 2.0, 0.4, 0.05),), batch=True),
    "cutmix": AugInfo("CutMix", "Paste a box from the batch neighbour; the label weight is the pasted area.",
                      (Param("alpha", "alpha", 0.05, 2.0, 1.0, 0.05),), batch=True),
}


@dataclass(frozen=True)
class Aug:
    """One augmentation: a name from :data:`AUGMENTATIONS` and ``(key, value)`` parameters (hashable)."""

    name: str
    params: tuple[tuple[str, float], ...] = ()

    def get(self, key: str) -> float:
        d = dict(self.params)
        if key in d:
            return float(d[key])
        return next(p.default for p in AUGMENTATIONS[self.name].params if p.key == key)

    def describe(self) -> str:
        info = AUGMENTATIONS[self.name]
        args = ", ".join(f"{p.key}={self.get(p.key):g}" for p in info.params)
        return f"{info.label}({args})" if args else info.label


def aug(name: str, **params: float) -> Aug:
    """``aug("rotation", degrees=30)``; unknown names or parameters raise ``ValueError``."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(AUGMENTATIONS)}")
    known = {p.key for p in AUGMENTATIONS[name].params}
    bad = set(params) - known
    if bad:
        raise ValueError(f"{name} has no parameter(s) {sorted(bad)}; it takes {sorted(known)}")
    return Aug(name, tuple(sorted((k, float(v)) for k, v in params.items())))


def describe(spec: tuple[Aug, ...]) -> str:
    return " -> ".join(a.describe() for a in spec) if spec else "no augmentation"


def _per_image(a: Aug, size: int, channels: int):
    from torchvision.transforms import v2

    n, g = a.name, a.get
    if n == "crop":
        return v2.RandomResizedCrop(size, scale=(min(g("scale_min"), 1.0), 1.0), antialias=True)
    if n == "pad_crop":
        return v2.RandomCrop(size, padding=int(g("padding")), padding_mode="reflect")
    if n == "hflip":
        return v2.RandomHorizontalFlip(g("p"))
    if n == "vflip":
        return v2.RandomVerticalFlip(g("p"))
    if n == "rotation":
        return v2.RandomRotation(g("degrees"))
    if n == "affine":
        s = g("scale")
        return v2.RandomAffine(0, translate=(g("translate"), g("translate")), scale=(1 - s, 1 + s))
    if n == "perspective":
        return v2.RandomPerspective(g("distortion"), p=g("p"))
    if n == "color_jitter":
        if channels == 1:  # saturation and hue need colour
            return v2.ColorJitter(brightness=g("brightness"), contrast=g("contrast"))
        return v2.ColorJitter(g("brightness"), g("contrast"), g("saturation"), min(g("hue"), 0.5))
    if n == "grayscale":
        return v2.RandomGrayscale(g("p")) if channels == 3 else None
    if n == "blur":
        return v2.GaussianBlur(5, sigma=(0.1, max(g("sigma"), 0.1)))
    if n == "noise":
        return v2.GaussianNoise(sigma=g("sigma"), clip=True)
    if n == "erasing":
        return v2.RandomErasing(g("p"), scale=(0.02, max(g("scale_max"), 0.02)), value=0)
    if n == "trivialaugment":
        return v2.TrivialAugmentWide()
    if n == "randaugment":
        return v2.RandAugment(num_ops=int(g("num_ops")), magnitude=int(g("magnitude")))
    raise ValueError(f"{n} is not a per-image augmentation")


def build(spec: tuple[Aug, ...], size: int, num_classes: int, channels: int = 3) -> tuple[Callable | None, Callable | None]:
    """``(per_image, batch_tf)``: a ``v2.Compose`` of the per-image transforms (or None when there are
    none) and the batch-level mixer (MixUp, CutMix, a random choice of the two, or None)."""
    from torchvision.transforms import v2

    per, mixers = [], []
    for a in spec:
        if a.name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {a.name!r}")
        if AUGMENTATIONS[a.name].batch:
            cls = v2.MixUp if a.name == "mixup" else v2.CutMix
            mixers.append(cls(alpha=a.get("alpha"), num_classes=num_classes))
        else:
            t = _per_image(a, size, channels)
            if t is not None:
                per.append(t)
    per_image = v2.Compose(per) if per else None
    batch_tf = None if not mixers else mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)
    return per_image, batch_tf


def augment_batch(x: torch.Tensor, y: torch.Tensor, per_image, batch_tf) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch ``x (B, C, H, W)`` with labels ``y (B,)``.

    Returns images ``(B, C, H, W)`` in ``[0, 1]`` and the labels: ``(B,)`` int64 when there is no batch
    mixer, else soft labels ``(B, K)`` whose rows sum to one.
    """
    if per_image is not None:
        x = torch.stack([per_image(xi) for xi in x]).clamp_(0, 1)  # fresh parameters per image
    if batch_tf is not None:
        x, y = batch_tf(x, y)
    return x, y


@dataclass
class Preview:
    """``images (N, V, C, H, W)``: V augmented variants of each of N inputs (variant 0 is the original
    when ``include_original``); ``labels (N, V, K)`` the (soft) label of each variant."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]


def preview(images: torch.Tensor, labels: torch.Tensor | None, spec: tuple[Aug, ...], n_variants: int = 6,
            seed: int = 0, class_names: list[str] | None = None, include_original: bool = True) -> Preview:
    """Augment ``images (N, C, H, W)`` ``n_variants`` times, deterministically for ``seed``."""
    n, c, h, w = images.shape
    if h != w:
        raise ValueError("preview needs square images")
    names = list(class_names) if class_names else ["image"]
    k = len(names)
    y = labels if labels is not None else torch.zeros(n, dtype=torch.long)
    per_image, batch_tf = build(spec, size=h, num_classes=max(k, 2), channels=c)
    onehot = F.one_hot(y, max(k, 2)).float()[:, :k]
    outs, labs = [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for v in range(n_variants):
            if include_original and v == 0:
                outs.append(images.clone())
                labs.append(onehot)
                continue
            xa, ya = augment_batch(images, y, per_image, batch_tf if n > 1 else None)
            outs.append(xa)
            labs.append((ya if ya.ndim == 2 else F.one_hot(ya, max(k, 2)).float())[:, :k])
    return Preview(torch.stack(outs, 1), torch.stack(labs, 1), names)


def label_text(soft: torch.Tensor, class_names: list[str], threshold: float = 0.005) -> str:
    """``"70% donut + 30% taco"`` for a soft label ``(K,)``; a plain class name for a one-hot one."""
    order = torch.argsort(soft, descending=True)
    parts = [(float(soft[i]), class_names[int(i)]) for i in order if float(soft[i]) > threshold]
    if len(parts) == 1:
        return parts[0][1]
    return " + ".join(f"{100 * p:.0f}% {name}" for p, name in parts)


def preview_images(source: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The page's preview images: four food shapes (hotdog, ...) at 32 px or four test digits (2, 4, 7, 9)
    upsampled to 32 px; ``(images, labels, class names)``."""
    from dlviz.data import digits, food_shapes

    if source == "food shapes":
        d = food_shapes(30, seed=7)
        pick = [int(torch.nonzero(d.labels == c)[0]) for c in (0, 2, 3, 7)]
        return d.images[pick], d.labels[pick], d.class_names
    d = digits("test", seed=0, size=32)
    pick = [int(torch.nonzero(d.labels == c)[0]) for c in (2, 4, 7, 9)]
    return d.images[pick], d.labels[pick], d.class_names


def mean_change(p: Preview) -> float:
    """Mean absolute pixel change of the variants from their original (0-1 scale): the preview's caption number."""
    with torch.no_grad():
        return float((p.images[:, 1:] - p.images[:, :1]).abs().mean())


def preview_rows(p: Preview) -> list[dict]:
    """One row per image and variant (variant 0 the original): its label (soft, as text) and its mean absolute
    pixel change from the original -- the numbers behind the preview's caption."""
    rows = []
    with torch.no_grad():
        change = (p.images - p.images[:, :1]).abs().flatten(2).mean(-1)          # (N, V)
    for i in range(p.images.shape[0]):
        for v in range(p.images.shape[1]):
            rows.append({"image": i, "variant": v, "label": label_text(p.labels[i, v], p.class_names),
                         "mean abs change": float(change[i, v])})
    return rows


def preview_snippet(source: str, spec: tuple[Aug, ...], n_variants: int, seed: int, photo: str | None = None) -> str:
    """Notebook lines that recompute the preview's mean absolute pixel change (``photo``: a bundled photo's name,
    for source "a photo"; an uploaded image is read from a file the student names)."""
    if source == "a photo":
        load = (f"images = photo({photo!r}, 128)[None]            # the bundled photo, 128 px\n" if photo else
                "images = square(load_image(open('my_image.png', 'rb').read()), 128)[None]   # your image\n")
        load = ("from dlviz.data import photo\nfrom dlviz.data.external import load_image\n"
                "from dlviz.data.photos import square\n\n" + load + "labels, names = None, ['image']\n")
    else:
        load = f"\nimages, labels, names = augm.preview_images({source!r})\n"
    return ("from dlviz.augmentation import core as augm\nfrom dlviz.augmentation.core import Aug\n" + load +
            f"spec = {spec!r}\n"
            f"prev = augm.preview(images, labels, spec, n_variants={int(n_variants)}, seed={int(seed)}, class_names=names)\n"
            "result = augm.mean_change(prev)          # mean |variant - original|, 0-1 scale\n"
            "print(f\"{result:.3f}\")\n")


# ---------------------------------------------------------------------------------------- the experiment
# Horizontal flips change what a digit means (a mirrored 2 or 3 is no digit), so the digits' default pipeline has
# none; food shapes are left-right symmetric in meaning.
DEFAULT_PIPELINES = {"food shapes": ("crop", "hflip", "color_jitter"), "digits": ("crop", "color_jitter")}


@dataclass(frozen=True)
class Comparison:
    """Two runs' metric at the last evaluation step they both reached (``step``), and how far each got."""

    step: int
    values: dict[str, float]
    steps_done: dict[str, int]

    @property
    def equal_progress(self) -> bool:
        return len(set(self.steps_done.values())) == 1


def compare_at_equal_steps(histories: dict[str, dict[str, tuple[list[int], list[float]]]], metric: str = "val_acc",
                           steps_done: dict[str, int] | None = None) -> Comparison | None:
    """``metric`` of every run at the **last step at which every run recorded it** (None if there is none).

    Two runs stopped at different steps (Stop, a divergence, one slower than the other) are compared where both
    were measured, never one's step 62 against the other's step 27."""
    recorded = {n: dict(zip(*h.get(metric, ([], [])))) for n, h in histories.items()}
    common = set.intersection(*[{s for s, v in r.items() if np.isfinite(v)} for r in recorded.values()]) \
        if recorded else set()
    if not common:
        return None
    step = max(common)
    done = steps_done or {n: max(r) for n, r in recorded.items()}
    return Comparison(int(step), {n: float(r[step]) for n, r in recorded.items()}, {n: int(v) for n, v in done.items()})


def thumbnail() -> np.ndarray:
    """Landing-page card: a food image and five augmented variants, ``(H, W, 3)`` uint8."""
    from dlviz.data import food_shapes

    x = food_shapes(1, seed=4).images                                     # (1, 3, 32, 32)
    spec = (aug("crop", scale_min=0.5), aug("hflip"), aug("rotation", degrees=30), aug("color_jitter"))
    p = preview(x, None, spec, n_variants=6, seed=1).images[0]            # (6, 3, 32, 32)
    return tile(p, ncol=6, pad=0)
