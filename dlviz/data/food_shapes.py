"""Food shapes: a procedural RGB dataset of food classes -- the course's food-classification set in
miniature, and the "hotdog generator" data for the VAE and the DDPM.

Every image is drawn from signed-distance functions in the food's own coordinate frame, so the
pose is random: position, rotation, scale, colours, background gradient, an optional plate, noise and
clutter ("crumbs"). Edges are anti-aliased over one pixel. Generation is vectorised per class with
numpy: 10,000 images of 32x32 take about 2 s on one core.

``food_shapes(n, seed)`` is deterministic: the same ``n`` and ``seed`` give the same images; classes are
balanced (counts differ by at most one).
"""

from __future__ import annotations

import numpy as np
import torch

from dlviz.data.core import DataError, ImageData

FOOD_CLASSES = ["hotdog", "pizza slice", "donut", "burger", "fried egg", "sushi", "cookie",
                "ice cream", "watermelon", "taco"]
# how much each class may rotate (radians): symmetric foods turn freely, upright ones only lean
_MAX_TILT = {"burger": 0.6, "ice cream": 0.6, "taco": 0.7}


class _Canvas:
    """A batch of images (n, H, W, 3) with per-sample local coordinates (u, v) of the food frame."""

    def __init__(self, rng: np.random.Generator, n: int, size: int, tilt: float):
        self.rng, self.n, self.size = rng, n, size
        lin = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
        py, px = np.meshgrid(lin, lin, indexing="ij")
        cx, cy = (rng.uniform(-0.28, 0.28, (2, n, 1, 1))).astype(np.float32)
        self.scale = rng.uniform(0.62, 1.0, (n, 1, 1)).astype(np.float32)
        if tilt >= np.pi:
            theta = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        else:
            theta = rng.uniform(-tilt, tilt, (n, 1, 1))
        cos, sin = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
        dx, dy = px[None] - cx, py[None] - cy
        self.u = (cos * dx + sin * dy) / self.scale   # (n, H, W)
        self.v = (-sin * dx + cos * dy) / self.scale
        self.pix = (2.0 / size) / self.scale           # one pixel in local units, (n, 1, 1)
        self.img = self._background()

    def _background(self) -> np.ndarray:
        rng, n, s = self.rng, self.n, self.size
        c0 = rng.uniform(0.15, 0.95, (n, 1, 1, 3))
        c1 = np.clip(c0 + rng.normal(0, 0.18, (n, 1, 1, 3)), 0, 1)
        ang = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        lin = (np.arange(s) + 0.5) / s * 2 - 1
        py, px = np.meshgrid(lin, lin, indexing="ij")
        t = (np.cos(ang) * px + np.sin(ang) * py + 1.5) / 3.0  # (n, H, W) in [0, 1]
        img = c0 + (c1 - c0) * t[..., None]
        # a plate under the food, half of the time
        plate = rng.random((n, 1, 1)) < 0.5
        d = np.sqrt(self.u ** 2 + self.v ** 2) - 0.98
        img = self._blend(img, self._mask(d) * plate, rng.uniform(0.85, 0.98, (n, 1, 1, 1)) * np.ones(3))
        # crumbs: a few small blobs of random colour anywhere
        for _ in range(3):
            keep = rng.random((n, 1, 1)) < 0.6
            bx, by = rng.uniform(-1, 1, (2, n, 1, 1))
            r = rng.uniform(0.03, 0.09, (n, 1, 1))
            d = np.sqrt((px - bx) ** 2 + (py - by) ** 2) - r
            m = np.clip(0.5 - d / (2.0 / s), 0, 1) * keep
            img = self._blend(img, m, rng.uniform(0.1, 0.9, (n, 1, 1, 3)))
        return img.astype(np.float32)

    def _mask(self, d: np.ndarray) -> np.ndarray:
        """Anti-aliased coverage of the region d < 0 (d in local units)."""
        return np.clip(0.5 - d / self.pix, 0.0, 1.0)

    @staticmethod
    def _blend(img: np.ndarray, m: np.ndarray, color: np.ndarray) -> np.ndarray:
        m = m[..., None]
        return img * (1 - m) + color * m

    def color(self, rgb, jitter: float = 0.06) -> np.ndarray:
        base = np.asarray(rgb, dtype=np.float32).reshape(1, 1, 1, 3)
        return np.clip(base + self.rng.normal(0, jitter, (self.n, 1, 1, 3)), 0, 1).astype(np.float32)

    def paint(self, d: np.ndarray, rgb, jitter: float = 0.06, where: np.ndarray | None = None) -> None:
        m = self._mask(d)
        if where is not None:
            m = m * where
        self.img = self._blend(self.img, m, rgb if isinstance(rgb, np.ndarray) and rgb.ndim == 4
                               else self.color(rgb, jitter))

    def finish(self) -> np.ndarray:
        noise = self.rng.normal(0, 1, self.img.shape) * self.rng.uniform(0.0, 0.04, (self.n, 1, 1, 1))
        gain = self.rng.uniform(0.85, 1.1, (self.n, 1, 1, 1))
        return np.clip(self.img * gain + noise, 0, 1).astype(np.float32)


def _ellipse(u, v, a, b):
    return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * min(a, b)


def _circle(u, v, x, y, r):
    return np.sqrt((u - x) ** 2 + (v - y) ** 2) - r


def _box(u, v, a, b, x=0.0, y=0.0):
    return np.maximum(np.abs(u - x) - a, np.abs(v - y) - b)


def _draw(cls: str, c: _Canvas) -> None:
    u, v, rng, n = c.u, c.v, c.rng, c.n
    if cls == "hotdog":
        c.paint(_ellipse(u, v, 0.78, 0.34), (0.87, 0.66, 0.36))
        c.paint(_ellipse(u, v, 0.9, 0.15), (0.66, 0.24, 0.14))
        wave = np.abs(v - 0.05 * np.sin(u * 16 + rng.uniform(0, 6, (n, 1, 1)))) - 0.028
        c.paint(np.maximum(wave, np.abs(u) - 0.62), (0.98, 0.85, 0.1), jitter=0.03)
    elif cls == "pizza slice":
        tri = np.maximum.reduce([v - 0.5, -0.45 * u - 0.35 * v - 0.25 * 0.98, 0.45 * u - 0.35 * v - 0.245])
        c.paint(tri * 1.6, (0.97, 0.78, 0.3))
        c.paint(np.maximum(tri * 1.6, 0.4 - v), (0.78, 0.52, 0.24))  # crust along the wide edge
        for x, y in [(-0.15, 0.15), (0.17, 0.22), (0.0, -0.2)]:
            c.paint(_circle(u, v, x, y, 0.1), (0.78, 0.14, 0.1), jitter=0.04)
    elif cls == "donut":
        r = np.sqrt(u ** 2 + v ** 2)
        c.paint(np.abs(r - 0.52) - 0.27, (0.82, 0.58, 0.32))
        icing = np.where(rng.random((n, 1, 1, 1)) < 0.5, c.color((0.96, 0.55, 0.72)), c.color((0.36, 0.2, 0.12)))
        c.paint(np.abs(r - 0.52) - 0.19, icing)
        spr = (np.sin(u * 23 + 1.3) * np.sin(v * 19 + 0.4) > 0.93).astype(np.float32)
        c.paint(np.abs(r - 0.52) - 0.17, (0.3, 0.75, 0.95), jitter=0.2, where=spr)
    elif cls == "burger":
        c.paint(np.maximum(_ellipse(u, v + 0.02, 0.7, 0.55), v + 0.02), (0.86, 0.6, 0.28))  # top bun dome
        seeds = (np.sin(u * 30) * np.sin(v * 30 + 1.0) > 0.9).astype(np.float32)
        c.paint(np.maximum(_ellipse(u, v + 0.05, 0.6, 0.45), v + 0.12), (0.97, 0.94, 0.85), 0.02, where=seeds)
        c.paint(_box(u, v, 0.72, 0.045, y=0.04) + 0.015 * np.sin(u * 25), (0.3, 0.72, 0.2))   # lettuce
        c.paint(_box(u, v, 0.66, 0.035, y=0.11), (0.98, 0.78, 0.15))                          # cheese
        c.paint(_box(u, v, 0.68, 0.08, y=0.22) - 0.03, (0.36, 0.2, 0.12))                     # patty
        c.paint(_box(u, v, 0.64, 0.08, y=0.38) - 0.04, (0.86, 0.6, 0.28))                     # bottom bun
    elif cls == "fried egg":
        phi = np.arctan2(v, u)
        wob = 0.62 + 0.07 * np.sin(3 * phi + rng.uniform(0, 6, (n, 1, 1))) + 0.04 * np.sin(5 * phi)
        c.paint(np.sqrt(u ** 2 + v ** 2) - wob, (0.97, 0.96, 0.92), jitter=0.02)
        c.paint(_circle(u, v, 0.08, -0.05, 0.25), (0.98, 0.7, 0.08), jitter=0.04)
    elif cls == "sushi":
        c.paint(_circle(u, v, 0, 0, 0.62), (0.08, 0.12, 0.08), jitter=0.03)
        c.paint(_circle(u, v, 0, 0, 0.5), (0.96, 0.96, 0.93), jitter=0.02)
        filling = np.where(rng.random((n, 1, 1, 1)) < 0.6, c.color((0.98, 0.5, 0.35)), c.color((0.4, 0.75, 0.3)))
        c.paint(_circle(u, v, 0, 0, 0.22), filling)
    elif cls == "cookie":
        phi = np.arctan2(v, u)
        c.paint(np.sqrt(u ** 2 + v ** 2) - (0.62 + 0.03 * np.sin(7 * phi)), (0.8, 0.6, 0.33))
        for x, y in [(-0.25, -0.2), (0.2, -0.3), (0.3, 0.15), (-0.1, 0.3), (0.0, 0.0), (-0.38, 0.12)]:
            c.paint(_circle(u, v, x, y, 0.075), (0.25, 0.14, 0.08), jitter=0.03)
    elif cls == "ice cream":
        cone = np.maximum(np.abs(u) - 0.4 * (0.95 - v) / 0.95, -v)
        cone = np.maximum(cone, v - 0.95)
        c.paint(cone, (0.85, 0.6, 0.3))
        waffle = ((np.sin((u + v) * 22) > 0.8) | (np.sin((u - v) * 22) > 0.8)).astype(np.float32)
        c.paint(cone, (0.6, 0.38, 0.18), 0.03, where=waffle)
        palette = np.array([(0.98, 0.7, 0.8), (0.7, 0.95, 0.8), (0.98, 0.97, 0.9), (0.45, 0.28, 0.18)])
        scoop = palette[rng.integers(0, 4, n)].reshape(n, 1, 1, 3)
        c.paint(_circle(u, v, 0, -0.22, 0.4), np.clip(scoop + rng.normal(0, 0.03, (n, 1, 1, 3)), 0, 1))
    elif cls == "watermelon":
        half = np.maximum(np.sqrt(u ** 2 + v ** 2) - 0.75, -v)
        c.paint(half, (0.2, 0.55, 0.2))
        c.paint(np.maximum(np.sqrt(u ** 2 + v ** 2) - 0.62, -v + 0.0), (0.92, 0.25, 0.3))
        for x, y in [(-0.3, 0.2), (0.0, 0.35), (0.3, 0.2), (-0.12, 0.12), (0.15, 0.1)]:
            c.paint(_ellipse(u - x, v - y, 0.035, 0.06), (0.05, 0.05, 0.05), jitter=0.02)
    elif cls == "taco":
        shell = np.maximum(np.sqrt(u ** 2 + (v + 0.2) ** 2) - 0.72, -(v + 0.2))
        c.paint(np.maximum(np.sqrt(u ** 2 + (v + 0.2) ** 2) - 0.6, -(v + 0.2) - 0.12 + 0.04 * np.sin(u * 30)),
                (0.35, 0.72, 0.25))  # lettuce peeking out of the top
        c.paint(shell, (0.96, 0.78, 0.35))
        for x, y in [(-0.3, -0.18), (0.05, -0.22), (0.32, -0.17)]:
            c.paint(_circle(u, v, x, y, 0.07), (0.85, 0.15, 0.12), jitter=0.03)
    else:  # pragma: no cover - guarded by FOOD_CLASSES
        raise DataError(cls)


def food_shapes(n: int = 2000, seed: int = 0, size: int = 32, classes: list[str] | None = None) -> ImageData:
    """``n`` food images ``(n, 3, size, size)`` in ``[0, 1]``, balanced over ``classes`` (default all).

    Labels index ``class_names``, which is ``classes`` in the order given (default :data:`FOOD_CLASSES`).
    """
    classes = list(classes) if classes else list(FOOD_CLASSES)
    bad = [c for c in classes if c not in FOOD_CLASSES]
    if bad:
        raise DataError(f"Unknown food class(es) {bad}; choose from {', '.join(FOOD_CLASSES)}.")
    if n < 1:
        raise DataError("n must be at least 1")
    if not 8 <= size <= 256:
        raise DataError("size must be between 8 and 256")
    rng = np.random.default_rng(seed)
    k = len(classes)
    labels = rng.permutation(np.arange(n) % k)
    images = np.empty((n, size, size, 3), dtype=np.float32)
    for ci, cls in enumerate(classes):
        idx = np.nonzero(labels == ci)[0]
        if len(idx) == 0:
            continue
        sub = np.random.default_rng([seed, FOOD_CLASSES.index(cls)])
        canvas = _Canvas(sub, len(idx), size, _MAX_TILT.get(cls, np.pi))
        _draw(cls, canvas)
        images[idx] = canvas.finish()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return ImageData(x, torch.from_numpy(labels.astype(np.int64)), classes, name="food_shapes",
                     meta={"seed": seed})
