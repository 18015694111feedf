"""Batch normalisation: side-by-side training, internal covariate shift, learning-rate tolerance.

Ioffe & Szegedy (2015), "Batch normalization: accelerating deep network training by reducing internal
covariate shift", normalise each unit's input over the mini-batch and learn a scale and shift; their
Fig. 1 follows the 15th/50th/85th percentiles of one unit's input to the nonlinearity through training.
Santurkar, Tsipras, Ilyas & Madry (2018), "How does batch normalization help optimization?", define
internal covariate shift (ICS) as the change of a layer's gradient caused by the update of the layers
before it, ``||G - G'||`` (their Def. 2.1), and argue that BN's benefit is a smoother loss landscape
(:mod:`dlviz.resnet_gradients.loss_landscape`).

This module builds the variants (no norm, BN before/after the activation, LayerNorm, GroupNorm) from one
config, trains them on the same batches (:func:`make_runs`), records what the page plots through a
:class:`Probe` snapshot every few steps; :mod:`dlviz.batchnorm.training` trains them (``make_runs``) and sweeps
the learning rate (``LRSweep``). Train vs eval
mode and test-time adaptation to a shifted domain live in :mod:`dlviz.batchnorm.domain_shift`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from dlviz.data import DataError, image_dataset
from dlviz.resnet_gradients.core import build
from dlviz.resnet_gradients.loss_landscape import _grad, cross_entropy_loss, frozen_stats, loss_along_gradient
from dlviz.models.deep_nets import DeepNet

VARIANTS: dict[str, dict] = {
    "no norm": {"norm": "none"},
    "BatchNorm": {"norm": "batch", "norm_position": "before"},
    "BN after activation": {"norm": "batch", "norm_position": "after"},
    "LayerNorm": {"norm": "layer", "norm_position": "before"},
    "GroupNorm": {"norm": "group", "norm_position": "before"},
}
PERCENTILES = (15, 50, 85)
PATH_MULTIPLES = (0.25, 0.5, 1.0, 2.0, 4.0)   # step sizes along the gradient, in units of the learning rate
DATA_SIZES = {"digits": 8, "food_shapes": 16}


# ---------------------------------------------------------------------------------------- data and models
@dataclass
class Data:
    """A train/test split, images in ``[0, 1]``; ``mean``/``std`` of the training pixels."""

    name: str
    x_train: torch.Tensor   # (N, C, H, W)
    y_train: torch.Tensor   # (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str]
    mean: float
    std: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def load_data(name: str = "digits", seed: int = 0) -> Data:
    """Digits at 8x8 (1,438 train / 359 test) or food shapes at 16x16 (4,000 / 1,000)."""
    if name not in DATA_SIZES:
        raise DataError(f"Unknown dataset {name!r}; choose one of {', '.join(DATA_SIZES)}.")
    size = DATA_SIZES[name]
    tr = image_dataset(name, split="train", seed=seed, size=size)
    te = image_dataset(name, split="test", seed=seed, size=size, n=1000 if name == "food_shapes" else None)
    return Data(name, tr.images, tr.labels, te.images, te.labels, tr.class_names,
                float(tr.images.mean()), float(tr.images.std()))


def net_config(data: Data, kind: str = "mlp", hidden_layers: int = 4, width: int = 64,
               activation: str = "relu", **variant) -> DeepNet.Config:
    """A plain net with ``hidden_layers`` layers of ``width`` (the stem and ``hidden_layers - 1`` blocks)."""
    c, h, _ = data.shape
    return DeepNet.Config(kind=kind, in_channels=c, image_size=h, num_classes=len(data.class_names),
                          width=width, depth=max(0, hidden_layers - 1), block_layers=1, residual=False,
                          activation=activation, input_mean=data.mean, input_std=data.std, **variant)


def variant_configs(base: DeepNet.Config, names: Sequence[str]) -> dict[str, DeepNet.Config]:
    """``{variant: config}``: the same net, differing only in its normalisation."""
    bad = [n for n in names if n not in VARIANTS]
    if bad:
        raise ValueError(f"unknown variant(s) {bad}; choose from {', '.join(VARIANTS)}")
    return {n: replace(base, **VARIANTS[n]) for n in names}


# ---------------------------------------------------------------------------------------- measurements
def _units(t: torch.Tensor) -> torch.Tensor:
    """``(B, U)`` or ``(B, C, H, W)`` -> ``(samples, units)`` (a conv channel is one unit)."""
    return t if t.dim() == 2 else t.transpose(0, 1).flatten(1).T


@torch.no_grad()
def layer_values(model: DeepNet, x: torch.Tensor, train_mode: bool = True) -> tuple[list, list]:
    """``(pre, post)``: per hidden layer, the input to its nonlinearity and its output, ``(samples, units)``."""
    pre, post = [], []
    hooks = [m.register_forward_hook(lambda _m, inp, _o: pre.append(_units(inp[0])))
             for m in model.activation_modules().values()]
    hooks += [m.register_forward_hook(lambda _m, _i, out: post.append(_units(out)))
              for m in model.representations().values()]
    try:
        with frozen_stats(model, train_mode):
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return pre, post


def _layer_groups(model: nn.Module) -> list[tuple[str, str, list[str]]]:
    """``(layer, weight parameter, all parameter names of that layer)`` in forward order."""
    names = {m: n for n, m in model.named_modules()}
    params = [n for n, _ in model.named_parameters()]
    out = []
    for lname, mod in model.weight_layers().items():
        mname = names[mod]
        prefix = mname[:-2] if mname.endswith(".fc") else mname + "."   # "stem.fc" -> "stem."; "head" -> "head."
        out.append((lname, f"{mname}.weight", [p for p in params if p.startswith(prefix)]))
    return out


def _stepped(model: nn.Module, optimizer: torch.optim.Optimizer, grads: dict[str, torch.Tensor]):
    """The parameters one step of ``optimizer`` (a private copy, state included) would produce."""
    m2 = copy.deepcopy(model)
    opt2 = type(optimizer)(m2.parameters(), **optimizer.defaults)
    opt2.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    for n, p in m2.named_parameters():
        p.grad = grads[n].clone()
    opt2.step()
    return {n: p.detach() for n, p in m2.named_parameters()}


def gradient_shift(model: DeepNet, batch, optimizer: torch.optim.Optimizer,
                   loss_fn=cross_entropy_loss) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Santurkar et al.'s ICS per layer: ``(layers, ||G - G'||, cos(G, G'))``.

    ``G`` is the gradient of the layer's weight at the current parameters; ``G'`` the same gradient after
    the layers *before* it took the step ``optimizer`` would take (same batch, train mode).
    """
    groups = _layer_groups(model)
    diffs, coss = [], []
    with torch.enable_grad(), frozen_stats(model, True):
        theta = {n: p.detach() for n, p in model.named_parameters()}
        _, g = _grad(model, loss_fn, batch, theta)
        new = _stepped(model, optimizer, g)
        mixed = dict(theta)
        for _, wname, names in groups:
            _, g2 = _grad(model, loss_fn, batch, mixed)
            a, b = g[wname].flatten(), g2[wname].flatten()
            diffs.append(float((a - b).norm()))
            coss.append(float(a @ b / (a.norm() * b.norm()).clamp_min(1e-30)))
            mixed = {**mixed, **{n: new[n] for n in names}}   # this layer moves before the next is measured
    return [lg[0] for lg in groups], np.array(diffs), np.array(coss)


class Probe:
    """A Trainer ``snapshot_fn``: what the page plots, measured on a fixed probe batch in train mode.

    Each snapshot is a dict: ``pct`` (per layer, ``(units, 3)`` percentiles 15/50/85 of the input to the
    nonlinearity), ``pre``/``post`` (per layer, a fixed sample of pre-activation / output values for
    histograms), ``shift`` (per layer, the 1-Wasserstein distance of each unit's output distribution to
    the previous snapshot's, averaged over units, in units of the layer's std then), and, once
    ``optimizer`` is set, ``ics_diff``/``ics_cos`` (:func:`gradient_shift`) and ``path`` (the loss and
    gradient along the gradient direction for step sizes ``lr * PATH_MULTIPLES``).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, lr: float, optimizer=None, sample: int = 1000,
                 seed: int = 0):
        self.x, self.y, self.lr, self.optimizer = x, y, lr, optimizer
        self.sample, self.seed = sample, seed
        self._prev: list[torch.Tensor] | None = None
        self._idx: list[torch.Tensor] | None = None

    def _pick(self, vals: list[torch.Tensor]) -> list[np.ndarray]:
        if self._idx is None:
            g = torch.Generator().manual_seed(self.seed)
            self._idx = [torch.randperm(v.numel(), generator=g)[: self.sample] for v in vals]
        return [v.flatten()[i].numpy().astype(np.float32) for v, i in zip(vals, self._idx)]

    def __call__(self, model: DeepNet, step: int) -> dict:
        pre, post = layer_values(model, self.x)
        q = torch.tensor([p / 100 for p in PERCENTILES])
        snap = {"pct": [torch.quantile(p, q, dim=0).T.numpy() for p in pre],
                "pre": self._pick(pre), "post": self._pick(post)}
        cur = [p.sort(dim=0).values for p in post]
        if self._prev is None:
            snap["shift"] = np.full(len(cur), np.nan)
        else:
            snap["shift"] = np.array([float((a - b).abs().mean() / (b.std() + 1e-8))
                                      for a, b in zip(cur, self._prev)])
        self._prev = cur
        if self.optimizer is not None:
            _, snap["ics_diff"], snap["ics_cos"] = gradient_shift(model, (self.x, self.y), self.optimizer)
            path = loss_along_gradient(model, (self.x, self.y), [self.lr * m for m in PATH_MULTIPLES])
            snap["path"] = {"loss0": path.loss0, "losses": path.losses, "grad_change": path.grad_change,
                            "grad_norm": path.grad_norm, "spread": path.loss_spread, "beta": path.beta_smoothness}
        return snap


def series(snapshots: list[tuple[int, dict]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps (S,), values (S, ...))`` of one scalar-per-layer key (``shift``, ``ics_diff``, ``ics_cos``)."""
    rows = [(s, d[key]) for s, d in snapshots if key in d]
    if not rows:
        return np.zeros(0, dtype=int), np.zeros((0, 0))
    return np.array([s for s, _ in rows]), np.stack([np.asarray(v, dtype=float) for _, v in rows])


def percentile_series(snapshots: list[tuple[int, dict]], layer: int, unit: int) -> tuple[np.ndarray, np.ndarray]:
    """Ioffe & Szegedy's Fig. 1: ``(steps (S,), percentiles (S, 3))`` of one unit's pre-activation."""
    steps = np.array([s for s, _ in snapshots])
    return steps, np.stack([d["pct"][layer][unit] for _, d in snapshots]) if snapshots else np.zeros((0, 3))


# ---------------------------------------------------------------------------------------- learning-rate sweep
@dataclass
class SweepRow:
    variant: str
    lr: float
    status: str          # trained | did not train | diverged
    first_loss: float    # minibatch loss of the first step
    final_loss: float    # mean minibatch loss over the last 10% of steps (nan when diverged)
    steps: int           # steps completed
    message: str = ""


def trained(first_loss: float, final_loss: float, diverged: bool) -> str:
    """The sweep's criterion: ``trained`` if the run did not diverge and halved its loss."""
    if diverged:
        return "diverged"
    return "trained" if math.isfinite(final_loss) and final_loss < 0.5 * first_loss else "did not train"


def largest_trainable_lr(rows: Sequence[SweepRow], variants: Sequence[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {v: None for v in variants}
    for r in rows:
        if r.status == "trained" and (out.get(r.variant) is None or r.lr > out[r.variant]):
            out[r.variant] = r.lr
    return out


def init_snapshot(config: DeepNet.Config, data: Data, lr: float, seed: int) -> dict:
    """What a :class:`Probe` measures on the net of ``config`` at initialisation (step 0): the histograms the
    page shows before anything has trained. The probe batch is 128 training images drawn with ``seed + 1``."""
    g = torch.Generator().manual_seed(seed + 1)
    pick = torch.randperm(len(data.x_train), generator=g)[:128]
    probe = Probe(data.x_train[pick], data.y_train[pick], lr=lr, seed=seed)
    return probe(build(config, seed), 0)
