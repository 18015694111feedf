"""The effective receptive field (Luo, Li, Urtasun & Zemel, 2016, "Understanding the effective receptive
field in deep convolutional neural networks"): how much each input pixel *actually* moves one unit.

The theoretical receptive field (:mod:`dlviz.receptive_fields.core`) is the set of pixels that *can* change a
unit. The effective one is the input gradient of that unit, ``|d y_unit / d x|``, averaged over inputs.
It is roughly Gaussian and fills only a small part of the theoretical box: for a stack of ``n`` layers
with kernel ``k`` its radius grows like ``sqrt(n)``, while the theoretical size grows like ``n``. For a
stack of uniform ``k x k`` averaging kernels the map is exactly the ``n``-fold convolution of the box --
a product of multinomial coefficients -- which the tests check.

:func:`erf_map` computes the map, :func:`mass_size` its size (the side of the smallest centred square
holding 95 % of the gradient mass), :func:`erf_vs_depth` both sizes for plain stacks of growing depth.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlviz.receptive_fields.core import RFRow, receptive_field


def _center_unit(row: RFRow, img_hw: tuple[int, int]) -> tuple[int, int]:
    """The output unit whose region's centre is closest to the image centre."""
    out = []
    for ax in range(2):
        if row.jump[ax] == 0:
            out.append(0)
            continue
        c = (img_hw[ax] - 1) / 2
        u = round((c - row.center[ax]) / row.jump[ax])
        out.append(int(min(max(u, 0), row.size[ax] - 1)))
    return out[0], out[1]


@dataclass
class ERF:
    """An effective receptive field: the map, where its unit is, and the theoretical row beside it."""

    grad: np.ndarray            # (H, W) mean |d y / d x| over inputs and input channels
    unit: tuple[int, int]       # the output unit (i, j) of the layer
    row: RFRow                  # the theoretical receptive field of the layer
    layer: str

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the unit's theoretical region, in input pixels."""
        t, lft, b, r = self.row.region(*self.unit)
        return ((t + b) / 2, (lft + r) / 2)

    def size(self, fraction: float = 0.95) -> int:
        return mass_size(self.grad, self.center, fraction)

    def radius(self, fraction: float = 0.95) -> float:
        return mass_radius(self.grad, self.center, fraction)


def erf_map(model: nn.Module, images: torch.Tensor, layer: str | None = None,
            unit: tuple[int, int] | None = None, channel: int | None = None) -> ERF:
    """Mean absolute input gradient of one output unit of ``layer`` (Luo et al., 2016).

    images: ``(B, C, H, W)``; the model's own weights are used (it is put in eval mode for the call and
    restored). unit: the output position (default: the one centred on the image). channel: one output
    channel, or ``None`` for the sum over channels. Returns an :class:`ERF` whose ``grad`` is
    ``mean_b sum_c |d y / d x_b|`` of shape ``(H, W)``.
    """
    if images.ndim != 4:
        raise ValueError("images must be (B, C, H, W)")
    hw = (int(images.shape[-2]), int(images.shape[-1]))
    rows = receptive_field(model, tuple(images.shape[1:]), layer)
    if layer is None:   # the deepest layer that still has a spatial map
        rows = [r for r in rows if len(r.out_shape) == 3 and not r.is_global] or rows
    row = rows[-1]
    layer = row.name
    if row.name == "input":
        raise ValueError("pick a layer after the input")
    unit = _center_unit(row, hw) if unit is None else unit
    mods = dict(model.named_modules())
    name = layer.split("#")[0]
    got: list[torch.Tensor] = []
    handle = mods[name].register_forward_hook(lambda _m, _i, o: got.append(o))
    was = model.training
    model.eval()
    try:
        dev = next((p.device for p in model.parameters()), torch.device("cpu"))
        x = images.detach().to(dev).clone().requires_grad_(True)
        with torch.enable_grad():
            model(x)
            out = got[int(layer.split("#")[1]) - 1] if "#" in layer else got[0]
            if out.ndim != 4:
                raise ValueError(f"layer {layer!r} has no spatial map (output shape {tuple(out.shape)})")
            i, j = unit
            if not (0 <= i < out.shape[-2] and 0 <= j < out.shape[-1]):
                raise ValueError(f"unit {unit} is outside the {tuple(out.shape[-2:])} map")
            sel = out[:, :, i, j] if channel is None else out[:, channel:channel + 1, i, j]
            (g,) = torch.autograd.grad(sel.sum(), x)      # per-image: images do not interact in eval
    finally:
        handle.remove()
        model.train(was)
    grad = g.abs().sum(1).mean(0).detach().cpu().double().numpy()   # (H, W)
    return ERF(grad, (int(unit[0]), int(unit[1])), row, layer)


def mass_window(grad: np.ndarray, center: tuple[float, float],
                fraction: float = 0.95) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` (inclusive) of the smallest square window centred on ``center``
    that holds ``fraction`` of the total gradient mass. A centre on a pixel gives odd sides, a centre
    between pixels (an even receptive field) even sides, so the window is never off-centre."""
    h, w = grad.shape
    total = float(grad.sum())
    c2 = (round(2 * center[0]), round(2 * center[1]))          # twice the centre: integer

    def window(side: int) -> tuple[int, int, int, int]:
        sides = [side + ((side + c + 1) % 2) for c in c2]         # match each axis' parity
        return ((c2[0] - sides[0] + 1) // 2, (c2[1] - sides[1] + 1) // 2,
                (c2[0] + sides[0] - 1) // 2, (c2[1] + sides[1] - 1) // 2)

    if total <= 0:
        return window(1)
    for side in range(1, 2 * max(h, w) + 3):
        t, lft, b, r = window(side)
        if grad[max(0, t):max(0, b + 1), max(0, lft):max(0, r + 1)].sum() >= fraction * total * (1 - 1e-12):
            return t, lft, b, r
    return window(2 * max(h, w) + 3)


def mass_size(grad: np.ndarray, center: tuple[float, float], fraction: float = 0.95) -> int:
    """Side of :func:`mass_window` (the larger side if the two axes differ): the ERF size, comparable
    with the theoretical receptive-field size."""
    if float(grad.sum()) <= 0:
        return 0
    t, lft, b, r = mass_window(grad, center, fraction)
    return max(b - t + 1, r - lft + 1)


def mass_radius(grad: np.ndarray, center: tuple[float, float], fraction: float = 0.95) -> float:
    """Smallest Euclidean radius around ``center`` holding ``fraction`` of the gradient mass."""
    total = float(grad.sum())
    if total <= 0:
        return 0.0
    ii, jj = np.indices(grad.shape)
    d = np.hypot(ii - center[0], jj - center[1]).ravel()
    order = np.argsort(d, kind="stable")
    cum = np.cumsum(grad.ravel()[order])
    k = int(np.searchsorted(cum, fraction * total - 1e-12 * total))
    return float(d[order[min(k, len(d) - 1)]])


def plain_stack(depth: int, kernel: int = 3, channels: int = 16, in_channels: int = 1,
                activation: str = "relu", init: str = "random", seed: int = 0) -> nn.Sequential:
    """``depth`` conv layers (``kernel x kernel``, stride 1, 'same' zero padding), named ``conv1`` ...

    init: ``"random"`` (He/Kaiming uniform for ReLU, variance ``2 / fan_in``, seeded) or ``"uniform"`` (every weight
    ``1 / (kernel^2 * fan-in channels)``, no bias: each layer is an average, the textbook case).
    activation: ``"relu"``, ``"tanh"`` or ``"none"`` (linear network).
    """
    if depth < 1 or kernel < 1:
        raise ValueError("depth and kernel must be >= 1")
    g = torch.Generator().manual_seed(seed)
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    ch = in_channels
    for i in range(1, depth + 1):
        conv = nn.Conv2d(ch, channels, kernel, padding=kernel // 2, bias=init != "uniform")
        with torch.no_grad():
            if init == "uniform":
                conv.weight.fill_(1.0 / (kernel * kernel * ch))
            else:
                bound = 1.0 / math.sqrt(ch * kernel * kernel)
                conv.weight.uniform_(-math.sqrt(6.0) * bound, math.sqrt(6.0) * bound, generator=g)
                conv.bias.uniform_(-bound, bound, generator=g)
        mods[f"conv{i}"] = conv
        if activation == "relu":
            mods[f"relu{i}"] = nn.ReLU()
        elif activation == "tanh":
            mods[f"tanh{i}"] = nn.Tanh()
        elif activation != "none":
            raise ValueError(f"unknown activation {activation!r}")
        ch = channels
    return nn.Sequential(mods)


@dataclass
class DepthCurve:
    depths: list[int]
    theoretical: list[int]      # receptive-field side at each depth
    effective: list[int]        # side of the square holding `fraction` of the gradient mass
    radius: list[float]         # Euclidean radius holding `fraction` of the gradient mass
    fraction: float


def erf_vs_depth(depths: Sequence[int], kernel: int = 3, channels: int = 8, activation: str = "relu",
                 init: str = "random", n_images: int = 8, fraction: float = 0.95, seed: int = 0,
                 input_size: int | None = None) -> DepthCurve:
    """Theoretical vs effective receptive-field size of plain stacks of growing depth.

    One model of the largest depth runs forward once on ``n_images`` standard-normal noise images; the
    unit of every requested ``conv`` layer whose field is centred on the image is back-propagated from that one
    graph, and the ERF window is centred on that unit's field (with an even kernel the field moves by half a pixel
    per layer). The image is large enough (and odd) that the deepest theoretical field fits inside it: nothing is
    clipped, so the effective size never exceeds the theoretical one.
    """
    depths = sorted({int(d) for d in depths if int(d) >= 1})
    if not depths:
        raise ValueError("give at least one depth >= 1")
    top = depths[-1]
    size = input_size or (top * (kernel - 1) + 1 + 2 * kernel)
    size += (size + 1) % 2                                   # odd: one centre pixel
    model = plain_stack(top, kernel, channels, 1, activation, init, seed).eval()
    rows = {r.name: r for r in receptive_field(model, (1, size, size))}
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n_images, 1, size, size, generator=g).requires_grad_(True)
    outs: dict[str, torch.Tensor] = {}
    with torch.enable_grad():
        h = x
        for name, mod in model.named_children():
            h = mod(h)
            outs[name] = h
        theo, eff, rad = [], [], []
        for k, d in enumerate(depths):
            # the unit whose field is centred on the image, and the centre of *its* field: with an even kernel
            # 'same' padding is one-sided, each layer shifts the field by half a pixel and the map grows by one
            row = rows[f"conv{d}"]
            ui, uj = _center_unit(row, (size, size))
            t, lft, b, r = row.region(ui, uj)
            centre = ((t + b) / 2, (lft + r) / 2)
            y = outs[f"conv{d}"][:, :, ui, uj].sum()
            (grad,) = torch.autograd.grad(y, x, retain_graph=k < len(depths) - 1)
            gm = grad.abs().sum(1).mean(0).double().numpy()
            theo.append(int(row.rf[0]))
            eff.append(mass_size(gm, centre, fraction))
            rad.append(mass_radius(gm, centre, fraction))
    return DepthCurve(depths, theo, eff, rad, fraction)


def sqrt_fit(depths: Sequence[int], sizes: Sequence[float]) -> tuple[float, float]:
    """``(c, r2)``: the least-squares ``size = c sqrt(n)`` and its coefficient of determination."""
    d = np.asarray(depths, dtype=float)
    s = np.asarray(sizes, dtype=float)
    c = float((s * np.sqrt(d)).sum() / d.sum())
    ss_res = float(((s - c * np.sqrt(d)) ** 2).sum())
    ss_tot = float(((s - s.mean()) ** 2).sum()) or math.inf
    return c, 1 - ss_res / ss_tot
