"""Equivariance and invariance: does a network commute with a transformation of its input?

A layer ``f`` is *equivariant* to a transformation ``T`` when ``f(T x) = T' f(x)`` for a matching
transformation ``T'`` of its output (a convolution with circular padding and a shift: the same shift,
divided by the layer's stride), and *invariant* when ``T'`` is the identity (a global average pool).
The number that makes this falsifiable is the relative equivariance error

    err_f(T, x) = || f(T x) - T' f(x) || / || f(x) ||

which is 0 (up to float rounding) exactly when the symmetry holds. Downsampling breaks shift
equivariance except for shifts that are multiples of the stride -- aliasing (Azulay & Weiss, 2019;
Zhang, 2019, "Making convolutional networks shift-invariant again", who blur before subsampling and
measure *consistency*: how often two random shifts of one image get the same label). A p4 group
convolution (Cohen & Welling, 2016) makes rotations by 90 degrees exact: ``T'`` rotates each map and
rolls the rotation axis by one step.

Models plug in through ``feature_maps(x) -> {name: tensor}`` (see :mod:`dlviz.models.equivariant`):
``(B, C, H, W)`` maps, ``(B, C, 4, H, W)`` p4 maps, or ``(B, F)`` vectors (where ``T'`` is the identity:
the error is then an *invariance* error).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("shift", "rot90", "rotate", "flip")


def shift(x: torch.Tensor, dy: int, dx: int, fill: str = "circular") -> torch.Tensor:
    """Move the content of ``x`` (``..., H, W``) down by ``dy`` and right by ``dx`` pixels; what leaves
    one side re-enters at the other (``circular``) or is replaced by zeros (``zeros``)."""
    if fill == "circular":
        return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    if fill != "zeros":
        raise ValueError(f"fill must be circular or zeros, not {fill!r}")
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y, dst_y = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
    out[..., dst_y, dst_x] = x[..., src_y, src_x]
    return out


def rotate(x: torch.Tensor, degrees: float, fill: str = "zeros") -> torch.Tensor:
    """Rotate ``(..., H, W)`` counter-clockwise (as displayed, row 0 at the top) about its centre.
    Multiples of 90 degrees are exact (``torch.rot90``); other angles are bilinear, with zeros (or, for
    ``fill="circular"``, wrapped values) outside."""
    q = degrees / 90.0
    if abs(q - round(q)) < 1e-9:
        return torch.rot90(x, round(q) % 4, dims=(-2, -1))
    shape = x.shape
    x4 = x.reshape(-1, 1, *shape[-2:]) if x.ndim != 4 else x
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    h, w = shape[-2:]
    # output pixel (u, v) in normalised coordinates samples the input at R(-a) (u, v)
    theta = torch.tensor([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(x4.shape[0], 2, 3), list(x4.shape), align_corners=False)
    if fill == "circular":
        grid = torch.remainder(grid + 1, 2) - 1
    y = F.grid_sample(x4, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return y.reshape(shape)


@dataclass(frozen=True)
class Transform:
    """A transformation of the input and the matching one of each layer's output.

    kind: ``shift`` (by ``dy, dx`` pixels, ``fill`` circular or zeros), ``rot90`` (``quarter`` turns
    counter-clockwise), ``rotate`` (by ``angle`` degrees) or ``flip`` (``horizontal`` or vertical).
    """

    kind: str = "shift"
    dy: int = 0
    dx: int = 0
    fill: str = "circular"
    quarter: int = 1
    angle: float = 0.0
    horizontal: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    def label(self) -> str:
        if self.kind == "shift":
            return f"shift by ({self.dy}, {self.dx}) px, {self.fill} fill"
        if self.kind == "rot90":
            return f"rotation by {90 * (self.quarter % 4)}°"
        if self.kind == "rotate":
            return f"rotation by {self.angle:g}°"
        return "horizontal flip" if self.horizontal else "vertical flip"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``T x`` for an image batch ``(B, C, H, W)`` (or any ``(..., H, W)``)."""
        if self.kind == "shift":
            return shift(x, self.dy, self.dx, self.fill)
        if self.kind == "rot90":
            return torch.rot90(x, self.quarter % 4, dims=(-2, -1))
        if self.kind == "rotate":
            return rotate(x, self.angle, "zeros" if self.fill == "zeros" else "circular")
        return torch.flip(x, dims=(-1,) if self.horizontal else (-2,))

    def on_features(self, f: torch.Tensor, stride: int = 1) -> tuple[torch.Tensor, bool]:
        """``T' f`` for a layer output with cumulative ``stride``; returns ``(T' f, exact)`` where
        ``exact`` says whether ``T'`` is a true transformation of the map (a shift that the stride
        divides) or the nearest one (the shift rounded -- aliasing makes it inexact)."""
        if f.ndim < 4:                       # a vector: the best T' is the identity (invariance)
            return f, True
        group = f.ndim == 5                  # (B, C, 4, H, W): a p4 map with a rotation axis
        if self.kind == "shift":
            ok = self.dy % stride == 0 and self.dx % stride == 0
            return shift(f, round(self.dy / stride), round(self.dx / stride), self.fill), ok
        if self.kind == "rot90":
            q = self.quarter % 4
            g = torch.rot90(f, q, dims=(-2, -1))
            return (torch.roll(g, q, dims=2) if group else g), True
        if self.kind == "rotate":
            g = rotate(f, self.angle, "zeros" if self.fill == "zeros" else "circular")
            q = self.angle / 90.0
            return (torch.roll(g, round(q) % 4, dims=2) if group else g), abs(q - round(q)) < 1e-9
        g = torch.flip(f, dims=(-1,) if self.horizontal else (-2,))
        if group:                            # a reflection turns rotation r into rotation -r
            g = g[:, :, [0, 3, 2, 1]]
        return g, True


@dataclass
class LayerEquivariance:
    name: str
    kind: str                 # "map" | "p4 map" | "vector"
    stride: int               # input pixels per map pixel (1 for vectors)
    error: float              # || f(Tx) - T' f(x) || / || f(x) ||
    exact_transform: bool     # whether T' is an exact transformation of the map (see Transform)
    f_tx: torch.Tensor        # f(T x) for the first image (C, H, W) / (C, 4, H, W) / (F,)
    t_fx: torch.Tensor        # T' f(x) for the first image


def _maps(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    fm = getattr(model, "feature_maps", None)
    if fm is None:
        return {"output": model(x)}
    return fm(x)


def equivariance_error(model: nn.Module, x: torch.Tensor, transform: Transform,
                       layers: Sequence[str] | None = None) -> list[LayerEquivariance]:
    """The relative equivariance error of every layer (or of ``layers``) of ``model``.

    x: one image ``(C, H, W)`` or a batch ``(B, C, H, W)``; the errors are over the whole batch.
    For maps, ``T'`` is ``transform`` scaled by the layer's stride (which must divide the input size);
    for vectors (a flatten, the logits) ``T'`` is the identity, so the number is the invariance error.
    """
    if x.ndim == 3:
        x = x[None]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            fx = _maps(model, x)
            ftx = _maps(model, transform.apply(x))
    finally:
        model.train(was)
    h = x.shape[-1]
    out = []
    for name, a in fx.items():
        if layers is not None and name not in layers:
            continue
        stride = max(1, round(h / a.shape[-1])) if a.ndim >= 4 else 1
        tfx, exact = transform.on_features(a, stride)
        b = ftx[name]
        denom = float(a.norm())
        err = float((b - tfx).norm()) / denom if denom > 0 else float((b - tfx).norm())
        kind = "vector" if a.ndim < 4 else ("p4 map" if a.ndim == 5 else "map")
        out.append(LayerEquivariance(name, kind, stride, err, exact, b[0].detach(), tfx[0].detach()))
    return out


def _probs(model: nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([torch.softmax(model(x[i:i + batch]), -1) for i in range(0, len(x), batch)])


def output_sweep(model: nn.Module, x: torch.Tensor, kind: str, values: Sequence[float],
                 fill: str = "circular", direction: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Class probabilities ``(len(values), classes)`` of one image ``(C, H, W)`` under each transform:
    ``kind="shift"``: shifts by ``v * direction`` pixels; ``"rotate"``: by ``v`` degrees."""
    if kind == "shift":
        ts = [Transform("shift", int(v) * direction[0], int(v) * direction[1], fill) for v in values]
    elif kind == "rotate":
        ts = [Transform("rotate", angle=float(v), fill=fill) for v in values]
    else:
        raise ValueError("kind must be shift or rotate")
    batch = torch.stack([t.apply(x[None])[0] for t in ts])
    was = model.training
    model.eval()
    try:
        return _probs(model, batch).numpy()
    finally:
        model.train(was)


def shift_grid(model: nn.Module, x: torch.Tensor, max_shift: int, fill: str = "circular") -> np.ndarray:
    """Class probabilities ``(2m + 1, 2m + 1, classes)`` for every shift ``(dy, dx)`` in ``[-m, m]^2``."""
    r = range(-max_shift, max_shift + 1)
    batch = torch.stack([shift(x, dy, dx, fill) for dy in r for dx in r])
    was = model.training
    model.eval()
    try:
        p = _probs(model, batch).numpy()
    finally:
        model.train(was)
    n = 2 * max_shift + 1
    return p.reshape(n, n, -1)


def random_shifts(n: int, max_shift: int, seed: int = 0) -> np.ndarray:
    """``(n, 2, 2)`` integer shifts: two independent ``(dy, dx)`` uniform in ``[-m, m]^2`` per image."""
    rng = np.random.default_rng(seed)
    return rng.integers(-max_shift, max_shift + 1, size=(n, 2, 2))


def consistency(model: nn.Module, images: torch.Tensor, max_shift: int, fill: str = "circular",
                seed: int = 0) -> float:
    """Zhang's (2019) shift consistency: the fraction of images whose two random shifts (each offset
    uniform in ``[-max_shift, max_shift]`` on both axes, drawn by :func:`random_shifts`) get the same
    predicted class. 1.0 for a shift-invariant classifier."""
    n = len(images)
    if n == 0:
        raise ValueError("no images")
    s = random_shifts(n, max_shift, seed)
    a = torch.stack([shift(images[i], int(s[i, 0, 0]), int(s[i, 0, 1]), fill) for i in range(n)])
    b = torch.stack([shift(images[i], int(s[i, 1, 0]), int(s[i, 1, 1]), fill) for i in range(n)])
    was = model.training
    model.eval()
    try:
        pa, pb = _probs(model, a).argmax(1), _probs(model, b).argmax(1)
    finally:
        model.train(was)
    return float((pa == pb).float().mean())


def accuracy_under(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                   transforms: Sequence[Transform]) -> np.ndarray:
    """Accuracy on ``images`` after each transform (e.g. rotations by 0..360 degrees)."""
    was = model.training
    model.eval()
    try:
        return np.array([float((_probs(model, t.apply(images)).argmax(1) == labels).float().mean())
                         for t in transforms])
    finally:
        model.train(was)


# ------------------------------------------------------------------------------ data and augmentation
def digits_canvas(split: str = "train", canvas: int = 24, digit: int = 16, seed: int = 0):
    """The bundled 8x8 digits scaled to ``digit`` pixels and centred on a black ``canvas`` -- room to
    shift a digit without losing it. Returns a :class:`dlviz.data.ImageData` ``(N, 1, canvas, canvas)``."""
    from dlviz.data import ImageData

    imgs, labels, names = _digits_canvas(split, canvas, digit, seed)
    return ImageData(imgs.clone(), labels.clone(), list(names), name=f"digits on a {canvas}x{canvas} canvas")


@lru_cache(maxsize=8)
def _digits_canvas(split: str, canvas: int, digit: int, seed: int):
    from dlviz.data import digits

    d = digits(split, seed=seed, size=digit)
    pad = canvas - digit
    if pad < 0:
        raise ValueError("canvas must be at least the digit size")
    imgs = F.pad(d.images, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
    return imgs, d.labels, tuple(d.class_names)


def rotate_batch(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image of ``(B, C, H, W)`` by its own angle (bilinear, zeros outside)."""
    a = torch.deg2rad(degrees.to(x.dtype))
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(x: torch.Tensor, rotation: str = "none", max_shift: int = 0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Training-time augmentation: ``rotation`` ``none`` | ``rot90`` (random quarter turns) | ``any``
    (uniform angle in [0, 360)); ``max_shift``: random circular shifts up to that many pixels."""
    b = x.shape[0]
    if rotation == "rot90":
        q = torch.randint(0, 4, (b,), generator=generator)
        x = torch.stack([torch.rot90(x[i], int(q[i]), dims=(-2, -1)) for i in range(b)])
    elif rotation == "any":
        x = rotate_batch(x, torch.rand(b, generator=generator) * 360.0)
    elif rotation != "none":
        raise ValueError("rotation must be none, rot90 or any")
    if max_shift > 0:
        s = torch.randint(-max_shift, max_shift + 1, (b, 2), generator=generator)
        x = torch.stack([torch.roll(x[i], (int(s[i, 0]), int(s[i, 1])), dims=(-2, -1)) for i in range(b)])
    return x

