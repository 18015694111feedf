"""BatchNorm at test time: batch vs running statistics, small batches, and domain shift with AdaBN.

In train mode a BatchNorm layer normalises each unit with the mean and (biased) variance of the current
mini-batch; in eval mode it uses running averages collected during training (Ioffe & Szegedy, 2015,
Sec. 3.1). With a batch of B samples the batch mean of a unit scatters around the population mean
with standard deviation sigma / sqrt(B), so for B = 2 or 4 the normalisation is noisy -- and with B = 2
every normalised unit is exactly -1 or +1 (up to eps).

Covariate shift between train and test (brightness, contrast, noise, colour, blur) moves the statistics
the running averages were collected on. Li, Wang, Shi, Liu & Hou (2016), "Revisiting batch normalization
for practical domain adaptation" (AdaBN): re-estimate every BN layer's statistics on unlabelled images of
the new domain, keep all weights. :func:`adapt_bn` does that; :func:`shift_report` measures the accuracy
that comes back.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlviz.data import DataError
from dlviz.resnet_gradients.loss_landscape import frozen_stats
from dlviz.metrics import accuracy, predict

SHIFTS = ("brightness", "contrast", "noise", "colour", "blur")
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


def bn_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The BatchNorm layers (named like their Linear/Conv layer for a DeepNet)."""
    if hasattr(model, "norm_layers"):
        return {n: m for n, m in model.norm_layers().items() if isinstance(m, _BN)}
    return {n: m for n, m in model.named_modules() if isinstance(m, _BN)}


def has_bn(model: nn.Module) -> bool:
    return bool(bn_layers(model))


# ---------------------------------------------------------------------------------------- train vs eval mode
def _grouped_bn(bn: nn.Module, x: torch.Tensor, group: int) -> torch.Tensor:
    """What ``bn`` computes in train mode on each consecutive group of ``group`` samples of ``x``."""
    g = x.view(-1, group, *x.shape[1:])                                  # (G, B, C[, H, W])
    dims = (1,) if x.dim() == 2 else (1, 3, 4)
    mean = g.mean(dims, keepdim=True)
    var = g.var(dims, unbiased=False, keepdim=True)
    y = (g - mean) / torch.sqrt(var + bn.eps)
    if bn.affine:
        shape = (1, 1, -1) + (1,) * (x.dim() - 2)
        y = y * bn.weight.view(shape) + bn.bias.view(shape)
    return y.reshape(x.shape)


@torch.no_grad()
def ghost_batch_logits(model: nn.Module, x: torch.Tensor, group: int) -> torch.Tensor:
    """Logits of ``model`` in train mode, run on consecutive batches of ``group`` samples, in one pass.

    Every BN layer normalises each group with the group's own statistics (as ``model.train()`` on that
    batch would) and no running statistic changes. ``len(x)`` must be a multiple of ``group``.
    """
    if group < 2 or len(x) % group:
        raise ValueError("group must be >= 2 and divide len(x)")
    hooks = [bn.register_forward_hook(lambda m, inp, _out: _grouped_bn(m, inp[0], group))
             for bn in bn_layers(model).values()]
    try:
        with frozen_stats(model, False):
            return model(x)
    finally:
        for h in hooks:
            h.remove()


@torch.no_grad()
def mode_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_sizes: Sequence[int],
                  seed: int = 0) -> dict[str, float]:
    """Accuracy in eval mode (running statistics) and in train mode with batches of each size.

    Train mode normalises every batch with its own statistics (the model is left unchanged); batches are a
    fixed random order of ``x``. Every image is scored exactly once and every batch has exactly ``B`` images:
    when ``B`` does not divide ``len(x)``, the last ``len(x) % B`` images are batched with images from the
    start of the order (already scored, so only the leftovers' predictions count). A model without BN so
    gives exactly its eval accuracy in every column.
    """
    out = {"eval": int((predict(model, x).argmax(1) == y).sum()) / max(len(x), 1)}   # a count, like the others
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    xs, ys = x[order], y[order]
    for b in batch_sizes:
        b = max(2, min(int(b), len(xs)))
        k = len(xs) // b * b
        hits = int((ghost_batch_logits(model, xs[:k], b).argmax(1) == ys[:k]).sum()) if k else 0
        rest = len(xs) - k
        if rest:
            last = torch.cat([xs[k:], xs[:b - rest]])            # a full batch; score only its first `rest`
            hits += int((ghost_batch_logits(model, last, b)[:rest].argmax(1) == ys[k:]).sum())
        out[f"train, batch {b}"] = hits / len(xs)
    return out


@dataclass
class BatchStats:
    """One BN layer's input statistics: per batch (train mode) vs running vs the whole data set."""

    batch_size: int
    batch_mean: np.ndarray      # (n_batches, units)
    batch_var: np.ndarray       # (n_batches, units), biased: what train mode divides by
    running_mean: np.ndarray    # (units,)
    running_var: np.ndarray     # (units,)
    pop_mean: np.ndarray        # (units,) over all of x
    pop_var: np.ndarray         # (units,)

    def mean_error(self) -> float:
        """Average ``|batch mean - population mean| / population std`` over batches and units."""
        return float(np.mean(np.abs(self.batch_mean - self.pop_mean) / np.sqrt(self.pop_var + 1e-5)))


@torch.no_grad()
def bn_inputs(model: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """The input of BN layer ``layer`` for each image, ``(N, positions, units)``, with every layer before it
    in eval mode (so an image's value does not depend on the other images)."""
    got = []
    h = bn_layers(model)[layer].register_forward_hook(lambda _m, inp, _o: got.append(inp[0]))
    try:
        with frozen_stats(model, False):
            model(x)
    finally:
        h.remove()
    t = got[0]
    return t.unsqueeze(1) if t.dim() == 2 else t.flatten(2).transpose(1, 2)


def batch_stats(model: nn.Module, x: torch.Tensor, layer: str, batch_size: int, n_batches: int = 64,
                seed: int = 0, inputs: torch.Tensor | None = None) -> BatchStats:
    """Statistics of BN layer ``layer``'s input over ``n_batches`` random batches of ``batch_size`` images.

    A conv channel pools over the batch and all positions. ``inputs`` (from :func:`bn_inputs`) can be
    passed to reuse one forward pass for several batch sizes.
    """
    bn = bn_layers(model)[layer]
    v = bn_inputs(model, layer, x) if inputs is None else inputs          # (N, P, U)
    g = torch.Generator().manual_seed(seed)
    idx = torch.stack([torch.randperm(len(v), generator=g)[:batch_size] for _ in range(n_batches)])
    sub = v[idx].flatten(1, 2)                                            # (n_batches, B * P, U)
    allv = v.flatten(0, 1)
    return BatchStats(batch_size, sub.mean(1).numpy(), sub.var(1, unbiased=False).numpy(),
                      bn.running_mean.numpy().copy(), bn.running_var.numpy().copy(),
                      allv.mean(0).numpy(), allv.var(0, unbiased=False).numpy())


# ---------------------------------------------------------------------------------------- covariate shift
def _gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    xp = F.pad(x, (r, r, r, r), mode="replicate")
    xp = F.conv2d(xp, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(xp, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def shift_images(x: torch.Tensor, kind: str, severity: float, seed: int = 0, clip: bool = True) -> torch.Tensor:
    """``x`` (N, C, H, W) in [0, 1] moved to a shifted domain; ``severity`` in [0, 1] (0 = unchanged).

    brightness: ``+0.5 s``; contrast: each image's deviation from its mean scaled by ``1 - 0.8 s``;
    noise: Gaussian, std ``0.4 s``; colour: ``+s (0.4, -0.1, -0.4)`` per RGB channel (RGB only);
    blur: Gaussian, std ``1.5 s`` pixels per 8 pixels of image size. Clipped to [0, 1] unless ``clip=False``.
    """
    if kind not in SHIFTS:
        raise DataError(f"Unknown shift {kind!r}; choose one of {', '.join(SHIFTS)}.")
    if not 0 <= severity <= 1:
        raise DataError("severity must be between 0 and 1")
    s = float(severity)
    if s == 0:
        return x.clone()
    if kind == "brightness":
        out = x + 0.5 * s
    elif kind == "contrast":
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        out = m + (x - m) * (1 - 0.8 * s)
    elif kind == "noise":
        g = torch.Generator().manual_seed(seed)
        out = x + 0.4 * s * torch.randn(x.shape, generator=g)
    elif kind == "colour":
        if x.shape[1] != 3:
            raise DataError("A colour shift needs RGB images; the digits are greyscale.")
        out = x + s * torch.tensor([0.4, -0.1, -0.4]).view(1, 3, 1, 1)
    else:
        out = _gauss_blur(x, 1.5 * s * x.shape[-1] / 8)
    return out.clamp(0, 1) if clip else out


@torch.no_grad()
def adapt_bn(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> nn.Module:
    """AdaBN: a copy of ``model`` whose BN running statistics are re-estimated on ``x`` (no labels used).

    Statistics are the exact average over the batches of ``x`` (``momentum=None``), weights are untouched;
    the copy is returned in eval mode. Models without BN come back unchanged (as a copy).
    """
    m = copy.deepcopy(model)
    layers = bn_layers(m).values()
    if not layers:
        return m.eval()
    saved = []
    for bn in layers:
        saved.append(bn.momentum)
        bn.reset_running_stats()
        bn.momentum = None
    m.train()
    for i in range(0, len(x), batch_size):
        if len(x[i:i + batch_size]) >= 2:
            m(x[i:i + batch_size])
    for bn, mom in zip(layers, saved):
        bn.momentum = mom
    return m.eval()


@dataclass
class ShiftResult:
    kind: str
    severity: float
    clean: float            # test accuracy on clean images
    shifted: float          # test accuracy on shifted images, statistics from training
    adapted: float | None   # after AdaBN on shifted unlabelled training images (None without BN)

    @property
    def recovered(self) -> float | None:
        """Fraction of the accuracy drop that AdaBN wins back (None when there is no drop to win back)."""
        if self.adapted is None or self.clean - self.shifted < 0.02:
            return None
        return (self.adapted - self.shifted) / (self.clean - self.shifted)


def shift_report(model: nn.Module, x_adapt: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                 kind: str, severity: float, seed: int = 0) -> ShiftResult:
    """Clean, shifted and AdaBN-adapted test accuracy. Statistics are re-estimated on ``x_adapt`` (e.g. the
    training images) under the same shift -- never on the test images that are scored."""
    xs = shift_images(x_test, kind, severity, seed=seed)
    clean, shifted = accuracy(model, x_test, y_test), accuracy(model, xs, y_test)
    adapted = None
    if has_bn(model):
        ad = adapt_bn(model, shift_images(x_adapt, kind, severity, seed=seed + 1))
        adapted = accuracy(ad, xs, y_test)
    return ShiftResult(kind, severity, clean, shifted, adapted)


def severity_curve(model: nn.Module, x_adapt: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                   kind: str, severities: Sequence[float], seed: int = 0) -> list[ShiftResult]:
    return [shift_report(model, x_adapt, x_test, y_test, kind, s, seed) for s in severities]
