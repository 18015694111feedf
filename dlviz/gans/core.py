"""The GAN game's mathematics: the five losses, the discriminator each one would choose against fixed
distributions, the distance its optimum estimates, PacGAN packing, and the unrolled discriminator.

The discriminator outputs a real number ``d`` (a logit for the minimax / non-saturating losses). Each
D loss is an expectation of a *real term* over data and a *fake term* over generated samples::

    minimax / NS (Goodfellow et al. 2014, eq. 1):  -log sigmoid(d_r)      -log(1 - sigmoid(d_f))
    least squares (Mao et al. 2017, eq. 2, a=0 b=c=1):  (d_r - 1)^2 / 2    d_f^2 / 2
    WGAN-GP (Gulrajani et al. 2017, eq. 3):         -d_r                  d_f      (+ gradient penalty)
    hinge (Lim & Ye 2017; Miyato et al. 2018):      relu(1 - d_r)         relu(1 + d_f)

Against fixed densities p (data) and q (generator) the loss is an integral of ``p(x) real(d) +
q(x) fake(d)``, minimised point by point (:func:`optimal_d`): D*(x) = p / (p + q) for minimax and least
squares (Goodfellow Prop. 1), sign(p - q) for hinge. The optimal value is a divergence
(:func:`distance_estimate`): L* = log 4 - 2 JS(p, q) (Goodfellow Thm. 1; -log 4 as a value when p = q),
L* = (2 - Δ) / 8 with Δ the triangular discrimination, L* = 2 (1 - TV), and for the Lipschitz critic
-L = W_1 (Kantorovich-Rubinstein). A trained D gives a lower bound on each divergence.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LOSSES = {
    "minimax": "minimax (saturating): G minimises log(1 - D(G(z)))",
    "non-saturating": "non-saturating: G maximises log D(G(z))",
    "least-squares": "least squares (LSGAN)",
    "wgan-gp": "Wasserstein with gradient penalty (WGAN-GP)",
    "hinge": "hinge",
}
# what the optimum of each D loss estimates: (name, loss -> divergence)
DISTANCES: dict[str, tuple[str, Callable[[float], float]]] = {
    "minimax": ("JS divergence (nats)", lambda L: (math.log(4) - L) / 2),
    "non-saturating": ("JS divergence (nats)", lambda L: (math.log(4) - L) / 2),
    "least-squares": ("triangular discrimination", lambda L: 2 - 8 * L),
    "hinge": ("total variation", lambda L: 1 - L / 2),
    "wgan-gp": ("Wasserstein-1 estimate", lambda L: -L),
}


def _check(kind: str) -> None:
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")


def d_terms(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample real and fake terms of D's loss (the table above); D's loss is their means' sum."""
    _check(kind)
    if kind in ("minimax", "non-saturating"):
        return F.softplus(-d_real), F.softplus(d_fake)          # -log σ(d), -log(1 - σ(d))
    if kind == "least-squares":
        return 0.5 * (d_real - 1) ** 2, 0.5 * d_fake ** 2
    if kind == "wgan-gp":
        return -d_real, d_fake
    return F.relu(1 - d_real), F.relu(1 + d_fake)


def g_terms(kind: str, d_fake: torch.Tensor) -> torch.Tensor:
    """Per-sample generator loss on D's outputs for fake samples."""
    _check(kind)
    if kind == "minimax":
        return -F.softplus(d_fake)                              # log(1 - σ(d)): saturates when D wins
    if kind == "non-saturating":
        return F.softplus(-d_fake)                              # -log σ(d)
    if kind == "least-squares":
        return 0.5 * (d_fake - 1) ** 2
    return -d_fake                                              # WGAN and hinge generators


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None,
                     params: dict | None = None) -> torch.Tensor:
    """E[(|grad_x D(x_hat)| - 1)^2] at x_hat = e x + (1 - e) x~, e ~ U(0, 1) (Gulrajani et al. eq. 3)."""
    eps = torch.rand(len(real), 1, generator=generator, device=real.device)
    eps = eps.view(-1, *([1] * (real.dim() - 1)))
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = D(x_hat) if params is None else torch.func.functional_call(D, params, (x_hat,))
    (g,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def d_loss(kind: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """D's loss without the gradient penalty (add :func:`gradient_penalty` for WGAN-GP)."""
    r, f = d_terms(kind, d_real, d_fake)
    return r.mean() + f.mean()


def g_loss(kind: str, d_fake: torch.Tensor) -> torch.Tensor:
    return g_terms(kind, d_fake).mean()


def optimal_d(kind: str, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """D's output that minimises ``p real(d) + q fake(d)`` at each point (densities p, q > 0)."""
    _check(kind)
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if kind in ("minimax", "non-saturating"):
        return np.log(p) - np.log(q)                            # logit of p / (p + q)
    if kind == "least-squares":
        return p / (p + q)
    if kind == "hinge":
        return np.sign(p - q)
    raise ValueError("the Wasserstein critic has no pointwise optimum: its optimum is set by the Lipschitz bound")


def distance_estimate(kind: str, loss_d: float) -> float:
    """The divergence that D's loss ``loss_d`` (without penalty) estimates at D's optimum (module docstring)."""
    _check(kind)
    return float(DISTANCES[kind][1](loss_d))


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN (Lin et al. 2018): ``m`` samples side by side form one input of D: (B*m, d) -> (B, m*d)."""
    if m < 1 or len(x) % m:
        raise ValueError(f"cannot pack {len(x)} samples in groups of {m}")
    return x.reshape(len(x) // m, -1)


def unrolled_params(D: nn.Module, kind: str, reals: list[torch.Tensor], fake: torch.Tensor, lr: float,
                    opt_state: dict | None = None, betas: tuple[float, float] = (0.5, 0.999), eps: float = 1e-8,
                    gp_weight: float = 10.0, inner: str = "adam") -> dict[str, torch.Tensor]:
    """D's parameters after ``len(reals)`` differentiable update steps against ``fake`` (Metz et al. 2017, eq. 7).

    The update is Adam's (continuing D's own moments when ``opt_state`` maps parameter names to
    ``{"exp_avg", "exp_avg_sq", "step"}``), written out so that the result depends on ``fake`` -- and so
    on G -- through every step: G's gradient through the unrolled D carries the second-order term that
    lets G anticipate how D will react. ``fake`` must keep its graph to G. ``inner="sgd"``: plain
    gradient steps ``p - lr g`` instead (for a D trained with SGD)."""
    params = {n: p for n, p in D.named_parameters()}
    b1, b2 = betas
    state = {n: (opt_state[n]["exp_avg"], opt_state[n]["exp_avg_sq"], float(opt_state[n]["step"]))
             if opt_state and n in opt_state else (torch.zeros_like(p), torch.zeros_like(p), 0.0)
             for n, p in params.items()}
    for real in reals:
        out_r = torch.func.functional_call(D, params, (real,))
        out_f = torch.func.functional_call(D, params, (fake,))
        loss = d_loss(kind, out_r, out_f)
        if kind == "wgan-gp":
            loss = loss + gp_weight * gradient_penalty(D, real, fake, params=params)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
        new = {}
        for (n, p), g in zip(params.items(), grads):
            if inner == "sgd":
                new[n] = p - lr * g
                continue
            m, v, t = state[n]
            m, v, t = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g, t + 1
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            new[n] = p - lr * m_hat / (torch.sqrt(v_hat + 1e-16) + eps)
            state[n] = (m, v, t)
        params = new
    return params
