"""Loss landscapes: slices along filter-normalised random directions, and the loss along the gradient.

* Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the loss landscape of neural nets": plot
  ``L(theta + a d1 + b d2)`` for random Gaussian directions ``d`` whose every filter (a conv filter, or a
  row of a linear layer) is rescaled to the norm of the same filter of ``theta``; biases and
  normalisation parameters get no component. This makes slices of different networks comparable.
* Santurkar, Tsipras, Ilyas & Madry (2018), "How does batch normalization help optimization?": move
  along the gradient, ``theta - eta g``, and record the loss (its spread over the step sizes), how much
  the gradient changes (``||g(theta) - g(theta - eta g)||``, "gradient predictiveness"), and the
  effective beta-smoothness ``max_eta ||g(theta) - g(theta - eta g)|| / ||eta g||``.

Everything here evaluates a *copy* of the parameters through ``torch.func.functional_call``: the model's
weights and its normalisation buffers are left exactly as they were.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

LossFn = Callable[[nn.Module, object], torch.Tensor]
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


# Same as dlviz.metrics.classification_loss, except it returns the loss alone (a LossFn for the functional
# calls below, which differentiate it; no accuracy):
def cross_entropy_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of ``model`` on an ``(images, labels)`` batch."""
    x, y = batch
    return F.cross_entropy(model(x), y)


@contextlib.contextmanager
def frozen_stats(model: nn.Module, train: bool = True) -> Iterator[nn.Module]:
    """Run ``model`` in train (batch statistics) or eval mode, then restore its mode and its buffers.

    A forward pass in train mode updates BatchNorm's running statistics; inside this context that
    update is undone on exit, so a measurement never changes the model it measures.
    """
    was = model.training
    saved = {k: b.clone() for k, b in model.named_buffers()}
    model.train(train)
    try:
        yield model
    finally:
        with torch.no_grad():
            for k, b in model.named_buffers():
                b.copy_(saved[k])
        model.train(was)


class _Bound(nn.Module):
    """Calls ``model`` with the weights in ``params`` (so a ``loss_fn`` can keep calling ``model(x)``)."""

    def __init__(self, model: nn.Module, params: dict[str, torch.Tensor]):
        super().__init__()
        object.__setattr__(self, "_model", model)   # not registered as a submodule
        object.__setattr__(self, "_params", params)

    def forward(self, *args, **kwargs):
        return functional_call(self._model, self._params, args, kwargs)


def _loss_at(model: nn.Module, loss_fn: LossFn, batch, params: dict[str, torch.Tensor]) -> torch.Tensor:
    return loss_fn(_Bound(model, params), batch)


# ---------------------------------------------------------------------------------------- directions
def filter_normalized_direction(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random direction with the model's shapes, filter-normalised as in Li et al. (2018).

    Parameters with more than one dimension (linear rows, conv filters) get Gaussian noise whose every
    filter ``d[i]`` is rescaled to ``||theta[i]||``; 1-D parameters (biases, norm scales and shifts)
    get zero. Returns ``{parameter name: tensor}``.
    """
    g = torch.Generator().manual_seed(seed)
    out = {}
    norm_params = {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, _NORMS)
                   for p, _ in m.named_parameters(recurse=False)}
    for name, p in model.named_parameters():
        if p.dim() <= 1 or name in norm_params:
            out[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device)
        w = p.detach().flatten(1).norm(dim=1)                      # (filters,)
        dn = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        out[name] = d * (w / dn).view(-1, *([1] * (p.dim() - 1)))
    return out


def _shifted(model: nn.Module, dirs: Sequence[dict[str, torch.Tensor]], coefs: Sequence[float]):
    return {n: p.detach() + sum(c * d[n] for c, d in zip(coefs, dirs)) for n, p in model.named_parameters()}


@torch.no_grad()
def slice_1d(model: nn.Module, batch, direction: dict[str, torch.Tensor], alphas: Sequence[float],
             loss_fn: LossFn = cross_entropy_loss, train_mode: bool = False) -> np.ndarray:
    """``L(theta + a d)`` for every ``a`` in ``alphas`` (eval mode by default: BN uses running stats)."""
    with frozen_stats(model, train_mode):
        return np.array([float(_loss_at(model, loss_fn, batch, _shifted(model, [direction], [a])))
                         for a in alphas])


@torch.no_grad()
def slice_2d(model: nn.Module, batch, d1: dict[str, torch.Tensor], d2: dict[str, torch.Tensor],
             alphas: Sequence[float], betas: Sequence[float], loss_fn: LossFn = cross_entropy_loss,
             train_mode: bool = False) -> np.ndarray:
    """``L(theta + a d1 + b d2)`` on the grid, shape ``(len(betas), len(alphas))`` (rows: b)."""
    out = np.empty((len(betas), len(alphas)))
    with frozen_stats(model, train_mode):
        for i, b in enumerate(betas):
            for j, a in enumerate(alphas):
                out[i, j] = float(_loss_at(model, loss_fn, batch, _shifted(model, [d1, d2], [a, b])))
    return out


def nonconvex_fraction(z: np.ndarray, tol: float = 0.0) -> float:
    """Share of the interior points of a 2-D slice where the surface curves down along an axis.

    A point counts when a central second difference along rows or columns is below ``-tol``: for a convex
    function every such difference is >= 0, so the fraction is 0. (Li et al. (2018) map the ratio of
    Hessian eigenvalues instead; this is its cheap, grid-only cousin, and a convex 2-D slice does not
    prove a convex landscape.)
    """
    z = np.asarray(z, dtype=float)
    if z.shape[0] < 3 or z.shape[1] < 3:
        return float("nan")
    d_rows = z[:-2, 1:-1] - 2 * z[1:-1, 1:-1] + z[2:, 1:-1]
    d_cols = z[1:-1, :-2] - 2 * z[1:-1, 1:-1] + z[1:-1, 2:]
    return float(np.mean((d_rows < -tol) | (d_cols < -tol)))


FLAT_RTOL = 1e-3


def loss_range(z: np.ndarray) -> float:
    """max - min of the loss over a slice (nan if it has no finite value)."""
    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    return float(z.max() - z.min()) if z.size else float("nan")


def is_flat(z: np.ndarray, rtol: float = FLAT_RTOL) -> bool:
    """A slice is flat when its loss varies by less than ``rtol * max(1, |median loss|)`` over the whole grid --
    a dead net (every ReLU off, a constant output) or a step too small to move the loss. Its second differences
    are then rounding noise, so a "non-convex share" of it would measure nothing."""
    r = loss_range(z)
    if not np.isfinite(r):
        return False
    return r < rtol * max(1.0, abs(float(np.nanmedian(np.asarray(z, dtype=float)))))


def surface_shape(z: np.ndarray, rtol: float = FLAT_RTOL) -> tuple[str, float]:
    """``("flat", loss range)`` for a flat slice (:func:`is_flat`), else ``("non-convex share", fraction)``
    (:func:`nonconvex_fraction`; second differences within float32 rounding of the loss are not counted)."""
    z = np.asarray(z, dtype=float)
    if is_flat(z, rtol):
        return "flat", loss_range(z)
    tol = 4 * float(np.finfo(np.float32).eps) * float(np.nanmax(np.abs(z)))
    return "non-convex share", nonconvex_fraction(z, tol=tol)


# ---------------------------------------------------------------------------------------- along the gradient
@dataclass
class GradientPath:
    """The loss and gradient along ``theta - eta g`` (Santurkar et al., 2018, Fig. 4)."""

    step_sizes: np.ndarray     # (S,) the etas
    loss0: float               # L(theta)
    losses: np.ndarray         # (S,) L(theta - eta g)
    grad_norm: float           # ||g||
    grad_change: np.ndarray    # (S,) ||g(theta) - g(theta - eta g)||

    @property
    def loss_spread(self) -> float:
        """max - min of the loss over the step sizes (and eta = 0)."""
        vals = np.append(self.losses, self.loss0)
        return float(np.max(vals) - np.min(vals))

    @property
    def beta_smoothness(self) -> float:
        """``max_eta ||g(theta) - g(theta - eta g)|| / (eta ||g||)``: a local Lipschitz constant of g."""
        den = self.step_sizes * max(self.grad_norm, 1e-30)
        return float(np.max(self.grad_change / den))


def _grad(model: nn.Module, loss_fn: LossFn, batch, params: dict[str, torch.Tensor]):
    leaves = {n: p.detach().requires_grad_(True) for n, p in params.items()}
    loss = _loss_at(model, loss_fn, batch, leaves)
    grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    return float(loss.detach()), {n: (g if g is not None else torch.zeros_like(leaves[n]))
                                  for n, g in zip(leaves, grads)}


def _flat(d: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.flatten() for v in d.values()])


def loss_along_gradient(model: nn.Module, batch, step_sizes: Sequence[float],
                        loss_fn: LossFn = cross_entropy_loss, train_mode: bool = True) -> GradientPath:
    """Loss and gradient change at ``theta - eta g`` for each ``eta`` (train mode: as the optimiser sees it)."""
    etas = np.asarray(step_sizes, dtype=float)
    with torch.enable_grad(), frozen_stats(model, train_mode):
        theta = {n: p.detach() for n, p in model.named_parameters()}
        loss0, g = _grad(model, loss_fn, batch, theta)
        g0 = _flat(g)
        losses, changes = [], []
        for eta in etas:
            moved = {n: theta[n] - eta * g[n] for n in theta}
            loss, g1 = _grad(model, loss_fn, batch, moved)
            losses.append(loss)
            changes.append(float((_flat(g1) - g0).norm()))
    return GradientPath(etas, loss0, np.array(losses), float(g0.norm()), np.array(changes))
