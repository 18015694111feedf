"""Segmentation data with exact masks: several procedural foods per plate, and touching "cells".

The food shapes of :mod:`dlviz.data.food_shapes` are drawn from signed-distance functions; here each food
is drawn on its own transparent layer (premultiplied colour + coverage alpha), so the same paint calls
that make the picture also give its coverage. Layers are composited back to front ("over"), and a pixel
belongs to the top-most instance that covers at least half of it. The masks therefore agree with the
drawn image by construction (tests/test_unet.py checks it against a render without the objects).

Two variants, deterministic for a seed:

* ``foods``: 3-6 foods of a few classes on a cluttered table (gradient, plates, crumbs), touching and
  overlapping, at 64x64 or 32x32;
* ``cells``: 6-14 touching blobs of one class with a dark rim, the paper's microscopy task in miniature
  (Ronneberger, Fischer & Brox 2015, the ISBI cell-tracking data).

As in the paper, where two instances *of the same class* touch, the one-pixel line between them is
labelled background in the class mask (the instance mask keeps both), so connected components of a good
prediction can separate them -- and the border weight map (:func:`dlviz.unet.core.weight_map`) has
something to emphasise.

``load_pairs(folder)`` reads the student's own ``images/NAME.png`` + ``masks/NAME.png`` pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dlviz.data.core import DataError
from dlviz.data.food_shapes import _MAX_TILT, FOOD_CLASSES, _Canvas, _draw

SEG_FOODS = ["hotdog", "pizza slice", "donut", "fried egg", "sushi"]
VARIANTS = ("foods", "cells")


@dataclass
class SegData:
    """Images ``(N, 3, H, W)`` in [0, 1]; ``masks`` ``(N, H, W)`` int64 class indices (0 = background);
    ``instances`` ``(N, H, W)`` int64 instance ids (0 = background, ids unique within an image)."""

    images: torch.Tensor
    masks: torch.Tensor
    instances: torch.Tensor
    class_names: list[str]
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.masks.ndim != 3:
            raise DataError("images must be (N, C, H, W) and masks (N, H, W)")
        if self.images.shape[0] != self.masks.shape[0] or self.images.shape[2:] != self.masks.shape[1:]:
            raise DataError(f"images {tuple(self.images.shape)} and masks {tuple(self.masks.shape)} disagree")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, idx) -> SegData:
        return SegData(self.images[idx], self.masks[idx], self.instances[idx], list(self.class_names),
                       self.name, dict(self.meta))


class _Layer(_Canvas):
    """One food per sample on a transparent layer: premultiplied colour ``img`` and coverage ``alpha``."""

    def __init__(self, rng: np.random.Generator, cx, cy, scale, theta, size: int):
        self.rng, self.n, self.size = rng, len(cx), size
        lin = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
        py, px = np.meshgrid(lin, lin, indexing="ij")
        cx, cy, scale, theta = (np.asarray(a, np.float32).reshape(-1, 1, 1) for a in (cx, cy, scale, theta))
        cos, sin = np.cos(theta), np.sin(theta)
        dx, dy = px[None] - cx, py[None] - cy
        self.scale = scale
        self.u = (cos * dx + sin * dy) / scale            # (n, H, W) in the food's own frame
        self.v = (-sin * dx + cos * dy) / scale
        self.pix = (2.0 / size) / scale
        self.img = np.zeros((self.n, size, size, 3), np.float32)
        self.alpha = np.zeros((self.n, size, size), np.float32)

    def paint(self, d, rgb, jitter: float = 0.06, where=None) -> None:
        m = self._mask(d)
        if where is not None:
            m = m * where
        color = rgb if isinstance(rgb, np.ndarray) and rgb.ndim == 4 else self.color(rgb, jitter)
        self.img = self._blend(self.img, m, color)       # premultiplied "over": P' = P(1-m) + c m
        self.alpha = self.alpha * (1 - m) + m            # A' = A(1-m) + m


def _table(rng: np.random.Generator, n: int, size: int, plates: bool) -> np.ndarray:
    """Backgrounds ``(n, H, W, 3)``: a colour gradient, plates (foods may sit on or off them), crumbs."""
    lin = (np.arange(size) + 0.5) / size * 2 - 1
    py, px = np.meshgrid(lin, lin, indexing="ij")
    c0 = rng.uniform(0.15, 0.9, (n, 1, 1, 3))
    c1 = np.clip(c0 + rng.normal(0, 0.18, (n, 1, 1, 3)), 0, 1)
    ang = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    t = (np.cos(ang) * px + np.sin(ang) * py + 1.5) / 3.0
    img = c0 + (c1 - c0) * t[..., None]
    aa = 2.0 / size
    for _ in range(2 if plates else 0):
        keep = rng.random((n, 1, 1)) < 0.7
        bx, by = rng.uniform(-0.6, 0.6, (2, n, 1, 1))
        r = rng.uniform(0.35, 0.7, (n, 1, 1))
        d = np.sqrt((px - bx) ** 2 + (py - by) ** 2) - r
        m = (np.clip(0.5 - d / aa, 0, 1) * keep)[..., None]
        rim = (np.clip(0.5 - np.abs(d + 0.06) / aa, 0, 1) * keep)[..., None]
        white = rng.uniform(0.8, 0.98, (n, 1, 1, 1))
        img = img * (1 - m) + white * m
        img = img * (1 - 0.4 * rim) + 0.4 * rim * (white * 0.8)
    for _ in range(4):
        keep = rng.random((n, 1, 1)) < 0.6
        bx, by = rng.uniform(-1, 1, (2, n, 1, 1))
        r = rng.uniform(0.02, 0.06, (n, 1, 1))
        m = (np.clip(0.5 - (np.sqrt((px - bx) ** 2 + (py - by) ** 2) - r) / aa, 0, 1) * keep)[..., None]
        img = img * (1 - m) + rng.uniform(0.1, 0.9, (n, 1, 1, 3)) * m
    return img.astype(np.float32)


def _cell_layers(rng: np.random.Generator, n_inst: int, size: int, cx, cy, r):
    """Wobbly discs with a dark rim: premultiplied colour ``(k, H, W, 3)`` and alpha ``(k, H, W)``."""
    lin = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    py, px = np.meshgrid(lin, lin, indexing="ij")
    cx, cy, r = (np.asarray(a, np.float32).reshape(-1, 1, 1) for a in (cx, cy, r))
    dx, dy = px[None] - cx, py[None] - cy
    phi = np.arctan2(dy, dx)
    ph = rng.uniform(0, 2 * np.pi, (2, n_inst, 1, 1)).astype(np.float32)
    wob = r * (1 + 0.1 * np.sin(3 * phi + ph[0]) + 0.06 * np.sin(5 * phi + ph[1]))
    d = np.sqrt(dx ** 2 + dy ** 2) - wob
    aa = 2.0 / size
    alpha = np.clip(0.5 - d / aa, 0, 1)
    inner = rng.uniform(0.55, 0.85, (n_inst, 1, 1, 1)).astype(np.float32) * np.array([0.55, 0.9, 0.6], np.float32)
    rim = np.clip(0.5 - (np.abs(d + 1.2 * aa) - 0.9 * aa) / aa, 0, 1)[..., None]  # a dark membrane ~2 px wide
    nucleus = np.clip(0.5 - (np.sqrt(dx ** 2 + dy ** 2) - 0.35 * r) / aa, 0, 1)[..., None]
    col = inner * (1 - 0.35 * nucleus)
    col = col * (1 - 0.75 * rim)
    return (col * alpha[..., None]).astype(np.float32), alpha.astype(np.float32)


def _place(rng: np.random.Generator, k: int, radii: np.ndarray, touch: float) -> np.ndarray:
    """Centres in [-0.8, 0.8]^2 for discs of ``radii``: each new one is pushed to touch (overlap by
    ``touch`` of its radius) its nearest neighbour, so objects touch instead of floating apart."""
    pts = []
    for i in range(k):
        p = rng.uniform(-0.75, 0.75, 2)
        if pts and rng.random() < 0.8:
            q = np.array(pts)
            j = int(np.argmin(((q - p) ** 2).sum(1)))
            dirn = p - q[j]
            dirn = dirn / (np.linalg.norm(dirn) + 1e-6)
            p = q[j] + dirn * (radii[j] + radii[i]) * (1 - touch)
        pts.append(np.clip(p, -0.85, 0.85))
    return np.array(pts, np.float32)


def _separate(inst: np.ndarray, cls_of: np.ndarray) -> np.ndarray:
    """Class mask from instances, with background on the 1-px line where same-class instances touch."""
    mask = cls_of[inst]
    for axis in (0, 1):
        a = np.moveaxis(inst, axis, 0)
        m = np.moveaxis(mask, axis, 0)
        touch = (a[1:] != a[:-1]) & (a[1:] > 0) & (a[:-1] > 0) & (m[1:] == m[:-1])
        # the pixel of the higher id on each touching pair becomes the separating background
        hi_first = a[:-1] > a[1:]
        m[:-1][touch & hi_first] = 0
        m[1:][touch & ~hi_first] = 0
    return mask


def food_segmentation(n: int = 200, seed: int = 0, size: int = 64, variant: str = "foods",
                      classes: list[str] | None = None, noise: bool = True, draw_objects: bool = True) -> SegData:
    """``n`` images with class and instance masks (see the module docstring). Deterministic for ``seed``.

    ``noise=False`` leaves out the sensor noise and gain; ``draw_objects=False`` draws the same table without
    the objects (the masks stay those of the full scene): what the tests compare the masks against."""
    if variant not in VARIANTS:
        raise DataError(f"Unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}.")
    if n < 1:
        raise DataError("n must be at least 1")
    if not 16 <= size <= 256:
        raise DataError("size must be between 16 and 256")
    classes = list(classes or SEG_FOODS) if variant == "foods" else ["cell"]
    bad = [c for c in classes if c not in FOOD_CLASSES and variant == "foods"]
    if bad:
        raise DataError(f"Unknown food class(es) {bad}; choose from {', '.join(FOOD_CLASSES)}.")
    rng = np.random.default_rng([seed, 0 if variant == "foods" else 1, size])
    img = _table(rng, n, size, plates=variant == "foods")
    if variant == "cells":
        img = img * 0.35 + 0.05                                   # a dark microscope background
    counts = rng.integers(3, 7, n) if variant == "foods" else rng.integers(6, 15, n)
    # every instance: image, class (1..K), pose; drawn per class in one vectorised batch
    recs = []
    for i in range(n):
        k = int(counts[i])
        if variant == "foods":
            radii = rng.uniform(0.2, 0.34, k)
            cls = rng.integers(0, len(classes), k)
        else:
            radii = rng.uniform(0.14, 0.22, k)
            cls = np.zeros(k, int)
        centres = _place(rng, k, radii, touch=rng.uniform(0.0, 0.2) if variant == "foods" else 0.05)
        for j in range(k):
            recs.append((i, j, int(cls[j]), centres[j, 0], centres[j, 1], radii[j]))
    recs = np.array(recs, dtype=np.float64)                        # (M, 6): image, z, class, cx, cy, r
    m_total = len(recs)
    col = np.zeros((m_total, size, size, 3), np.float32)
    alpha = np.zeros((m_total, size, size), np.float32)
    for ci, cname in enumerate(classes):
        idx = np.nonzero(recs[:, 2] == ci)[0]
        if len(idx) == 0:
            continue
        sub = np.random.default_rng([seed, 7, ci, size])
        cx, cy, r = recs[idx, 3], recs[idx, 4], recs[idx, 5]
        if variant == "foods":
            tilt = _MAX_TILT.get(cname, np.pi)
            theta = sub.uniform(-tilt, tilt, len(idx)) if tilt < np.pi else sub.uniform(0, 2 * np.pi, len(idx))
            layer = _Layer(sub, cx, cy, r / 0.7, theta, size)     # a food of radius ~0.7 in its frame
            _draw(cname, layer)
            col[idx], alpha[idx] = layer.img, layer.alpha
        else:
            col[idx], alpha[idx] = _cell_layers(sub, len(idx), size, cx, cy, r)
    inst = np.zeros((n, size, size), np.int64)
    cls_of = [np.zeros(1, np.int64) for _ in range(n)]
    for m_i in range(m_total):                                    # back to front (recs are in z order)
        i, j, c = int(recs[m_i, 0]), int(recs[m_i, 1]), int(recs[m_i, 2])
        a = alpha[m_i][..., None]
        if draw_objects:
            img[i] = img[i] * (1 - a) + col[m_i]                   # premultiplied "over"
        inst[i][alpha[m_i] >= 0.5] = j + 1
        cls_of[i] = np.append(cls_of[i], c + 1)
    masks = np.stack([_separate(inst[i], cls_of[i]) for i in range(n)])
    if noise:
        img = img * rng.uniform(0.9, 1.08, (n, 1, 1, 1)) + rng.normal(0, 1, img.shape) * rng.uniform(0, 0.03, (n, 1, 1, 1))
    x = torch.from_numpy(np.clip(img, 0, 1).astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    return SegData(x, torch.from_numpy(masks), torch.from_numpy(inst), ["background", *classes],
                   name=f"{variant}{size}", meta={"seed": seed, "variant": variant})


def load_pairs(folder: str | Path, size: int = 64, max_images: int = 500) -> SegData:
    """The student's own pairs: ``folder/images/NAME.png`` with ``folder/masks/NAME.png`` (class index per
    pixel, 0 = background; a greyscale PNG). Resized to ``size`` (masks by nearest neighbour)."""
    from PIL import Image, UnidentifiedImageError

    root = Path(folder).expanduser()
    idir, mdir = root / "images", root / "masks"
    if not idir.is_dir() or not mdir.is_dir():
        raise DataError(f"{root} needs two sub-folders, images/ and masks/, with files of the same names.")
    suffixes = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
    images = {p.stem: p for p in sorted(idir.iterdir()) if p.suffix.lower() in suffixes}
    masks = {p.stem: p for p in sorted(mdir.iterdir()) if p.suffix.lower() in suffixes}
    missing = sorted(set(images) ^ set(masks))
    if missing:
        raise DataError(f"{len(missing)} image(s) have no partner in the other folder, e.g. {missing[:3]}.")
    if len(images) < 2:
        raise DataError(f"{root} has {len(images)} image/mask pair(s); at least 2 are needed.")
    xs, ms = [], []
    for stem in list(images)[:max_images]:
        try:
            im, mk = Image.open(images[stem]).convert("RGB"), Image.open(masks[stem])
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"{stem}: could not read the image or its mask ({type(e).__name__}).") from e
        if im.size != mk.size:
            raise DataError(f"{stem}: the image is {im.size[0]}x{im.size[1]} but its mask is "
                            f"{mk.size[0]}x{mk.size[1]}; they must be the same size.")
        m = np.asarray(mk.convert("L") if mk.mode not in ("L", "P", "I") else mk).astype(np.int64)
        xs.append(np.asarray(im.resize((size, size), Image.BILINEAR), np.float32) / 255)
        ms.append(np.asarray(Image.fromarray(m.astype(np.int32)).resize((size, size), Image.NEAREST)).astype(np.int64))
    masks_t = torch.from_numpy(np.stack(ms))
    k = int(masks_t.max()) + 1
    if k > 32:
        raise DataError(f"The masks hold values up to {k - 1}: a mask should hold class indices 0..K-1 (K <= 32).")
    from dlviz.unet.core import instances_from_mask

    inst = torch.from_numpy(np.stack([instances_from_mask(m) for m in masks_t.numpy()]))
    return SegData(torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous(), masks_t, inst,
                   ["background"] + [f"class {c}" for c in range(1, k)], name=root.name, meta={"root": str(root)})
