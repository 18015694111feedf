"""Residual connections and gradient flow: where the gradient goes in plain and residual networks.

He, Zhang, Ren & Sun (2016), "Deep residual learning for image recognition": stacking more plain
layers can make the *training* loss worse (the degradation problem), while the same depth with identity
shortcuts trains well. Two causes must be kept apart, and this module measures both:

* without normalisation, a deep plain net's gradients vanish or explode with depth (Glorot & Bengio,
  2010; He et al., 2015) -- :func:`gradient_norms` per layer and :func:`first_last_ratio` show it;
* with BatchNorm, He et al. report healthy gradient norms in the plain net and yet a higher training
  loss -- an optimisation difficulty, not vanishing gradients. :func:`degradation_trainers` trains shallow
  and deep, plain and residual nets on the same batches so the curves can be compared.

Measurements are taken in train mode (batch statistics, as the optimiser sees the net) without changing
the model: normalisation buffers are restored afterwards.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from dlviz.resnet_gradients.loss_landscape import cross_entropy_loss, frozen_stats
from dlviz.models import build_model
from dlviz.models.deep_nets import DeepNet
from dlviz.train import Trainer

# a first/last gradient ratio outside [1/100, 100] is called vanishing / exploding on the page
HEALTHY = 100.0


def weight_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Named Linear/Conv layers, input side first (``DeepNet`` names them; other models use module names)."""
    if hasattr(model, "weight_layers"):
        return model.weight_layers()
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))}


def gradient_norms(model: nn.Module, batch, loss_fn: Callable = cross_entropy_loss,
                   train_mode: bool = True) -> dict[str, float]:
    """``{layer: ||dL/dW||_2}`` for every weight layer, input side first, on one batch.

    Uses ``loss.backward()`` and leaves the model as it was: its ``.grad`` fields, its mode and its
    BatchNorm running statistics are restored.
    """
    layers = weight_layers(model)
    params = list(model.parameters())
    saved = [p.grad for p in params]
    try:
        for p in params:
            p.grad = None
        with torch.enable_grad(), frozen_stats(model, train_mode):
            loss_fn(model, batch).backward()
        return {n: float(m.weight.grad.norm()) if m.weight.grad is not None else 0.0
                for n, m in layers.items()}
    finally:
        for p, g in zip(params, saved):
            p.grad = g


@torch.no_grad()
def activation_stats(model: nn.Module, batch, train_mode: bool = True) -> dict[str, dict[str, float]]:
    """Statistics of the representation after the stem and after every block, on one batch.

    ``{name: {"mean", "var", "frac_zero"}}``: mean and (biased) variance over all samples and units,
    and the fraction of exact zeros (dead ReLU outputs).
    """
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    mods = model.representations() if hasattr(model, "representations") else {}
    found: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, n=n: found.__setitem__(n, out.detach()))
             for n, m in mods.items()]
    try:
        with frozen_stats(model, train_mode):
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return {n: {"mean": float(t.mean()), "var": float(t.var(unbiased=False)),
                "frac_zero": float((t == 0).float().mean())} for n, t in found.items()}


def first_last_ratio(norms: dict[str, float]) -> float:
    """``||dL/dW||`` of the first weight layer divided by that of the last (the head)."""
    vals = list(norms.values())
    if not vals:
        return math.nan
    return vals[0] / vals[-1] if vals[-1] > 0 else (math.inf if vals[0] > 0 else math.nan)


def diagnose(ratio: float) -> str:
    """``vanishing`` / ``exploding`` outside ``[1/HEALTHY, HEALTHY]``, else ``healthy``; ``dead`` for 0/0."""
    if not math.isfinite(ratio):
        return "exploding" if ratio == math.inf else "dead"
    if ratio < 1 / HEALTHY:
        return "vanishing"
    if ratio > HEALTHY:
        return "exploding"
    return "healthy"


# ---------------------------------------------------------------------------------------- at initialisation
@dataclass
class InitProfile:
    """Gradient and activation profile of one freshly initialised net."""

    name: str
    layers: list[str]          # weight layers, input side first
    grad_norms: np.ndarray     # (L,)
    reps: list[str]            # representations: stem, b1, b2, ...
    act_var: np.ndarray        # (R,)
    frac_zero: np.ndarray      # (R,)
    loss: float

    @property
    def ratio(self) -> float:
        return first_last_ratio(dict(zip(self.layers, self.grad_norms)))


def build(config: DeepNet.Config, seed: int) -> DeepNet:
    """The model for ``config``, initialised from ``seed`` (same seed -> same weights for equal shapes)."""
    torch.manual_seed(seed)
    return build_model("deep_net", config)


def init_profile(config: DeepNet.Config, batch, seed: int = 0, name: str = "") -> InitProfile:
    """Build ``config`` at ``seed`` and measure gradient norms and activation statistics on ``batch``.

    One forward and one backward pass in train mode give all three measurements (the same numbers as
    :func:`gradient_norms`, :func:`activation_stats` and the loss, each of which runs its own pass).
    """
    model = build(config, seed)
    found: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, n=n: found.__setitem__(n, out.detach()))
             for n, m in model.representations().items()]
    try:
        with torch.enable_grad(), frozen_stats(model, True):
            loss = cross_entropy_loss(model, batch)
            loss.backward()
    finally:
        for h in hooks:
            h.remove()
    layers = model.weight_layers()
    g = np.array([float(m.weight.grad.norm()) for m in layers.values()])
    return InitProfile(name or ("residual" if config.residual else "plain"), list(layers), g, list(found),
                       np.array([float(t.var(unbiased=False)) for t in found.values()]),
                       np.array([float((t == 0).float().mean()) for t in found.values()]), float(loss.detach()))


def plain_and_residual(config: DeepNet.Config) -> dict[str, DeepNet.Config]:
    """The plain and the residual twin of ``config`` (identical but for the skip connections)."""
    return {"plain": replace(config, residual=False), "residual": replace(config, residual=True)}


# ---------------------------------------------------------------------------------------- during training
class GradNormRecorder:
    """Records per-layer gradient norms of the *training* steps (an optimizer step pre-hook).

    Every ``every``-th optimiser step, just before the update, the norm of each weight layer's gradient is
    stored. ``table()`` returns ``(steps (S,), norms (S, L))``; ``layers`` names the columns.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, every: int = 10):
        self.layers = list(weight_layers(model))
        self._mods = list(weight_layers(model).values())
        self.every = max(1, int(every))
        self._n = 0
        self._steps: list[int] = []
        self._rows: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._handle = optimizer.register_step_pre_hook(self._hook)

    def _hook(self, _opt, _args, _kwargs) -> None:
        self._n += 1
        if self._n % self.every and self._n != 1:
            return
        row = np.array([float(m.weight.grad.norm()) if m.weight.grad is not None else 0.0 for m in self._mods])
        with self._lock:
            self._steps.append(self._n)
            self._rows.append(row)

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if not self._rows:
                return np.zeros(0, dtype=int), np.zeros((0, len(self.layers)))
            return np.array(self._steps), np.stack(self._rows)

    def remove(self) -> None:
        self._handle.remove()


def ratio_series(table: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, first/last gradient-norm ratio at each recorded step)`` from :meth:`GradNormRecorder.table`."""
    steps, norms = table
    if not len(steps):
        return steps, np.zeros(0)
    return steps, np.array([first_last_ratio(dict(enumerate(row))) for row in norms])


def degradation_nets(config: DeepNet.Config, depths: tuple[int, int]) -> dict[str, DeepNet.Config]:
    """``residual-deep``, ``plain-deep``, ``residual-shallow``, ``plain-shallow`` (all else equal).

    The order is the run's order, which the shared training monitor colours by (``dlviz.plotting.PALETTE``):
    residual nets get the cool colours (blue deep, green shallow), plain nets the warm ones (orange deep, red
    shallow), and :func:`dlviz.resnet_gradients.plots.net_color` gives every figure on the page the same."""
    lo, hi = sorted(depths)
    out = {}
    for d in (hi, lo):
        for residual in (True, False):
            out[f"{'residual' if residual else 'plain'}-{d}"] = replace(config, depth=d, residual=residual)
    return out


def final_train_loss(trainer: Trainer, tail: float = 0.1) -> float:
    """Mean minibatch loss over the last ``tail`` fraction of the recorded steps.

    nan before any step and for a run that diverged (its last losses describe no trained net).
    """
    _, v = trainer.history("loss")
    if not v or trainer.status == "diverged":
        return math.nan
    k = max(1, round(len(v) * tail))
    return float(np.mean(v[-k:]))


def degradation_verdict(losses: dict[str, float], rel: float = 0.25, tol: float = 0.05) -> dict[str, str]:
    """Compare final training losses of ``{"plain-d1", "plain-d2", "residual-d1", "residual-d2"}``.

    For each family: ``deeper is worse`` when the deeper net's loss exceeds the shallower one's by more than
    ``max(rel * the larger loss, tol)`` nats, ``deeper is better`` in the mirror case, else ``about equal``;
    ``not measured`` when a loss is missing or not finite (a run that diverged).
    """
    out = {}
    for fam in ("plain", "residual"):
        items = sorted((int(k.rsplit("-", 1)[1]), v) for k, v in losses.items() if k.startswith(fam + "-"))
        if len(items) < 2 or not all(math.isfinite(v) for _, v in items):
            out[fam] = "not measured"
            continue
        (_, shallow), (_, deep) = items[0], items[-1]
        margin = max(rel * max(shallow, deep), tol)
        out[fam] = ("deeper is worse" if deep > shallow + margin else
                    "deeper is better" if deep < shallow - margin else "about equal")
    return out
