"""The variational autoencoder's mathematics (Kingma & Welling 2014, "Auto-Encoding Variational Bayes";
beta-VAE: Higgins et al. 2017; importance weighting: Burda et al. 2016, "Importance Weighted
Autoencoders"; active units: also Burda et al. 2016).

For an image ``x`` the evidence lower bound, in nats, is

    ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z)),      p(z) = N(0, I),

with the reconstruction term estimated by Monte Carlo through the reparameterisation
``z = mu + sigma * eps`` and the KL term in closed form for diagonal Gaussians,

    KL = 1/2 sum_d (mu_d^2 + sigma_d^2 - 1 - log sigma_d^2).

Every function works with any model that has ``encode(x) -> (mu, logvar)``, ``decode(z) -> out``,
``log_px_z(x, out) -> (B,)`` and ``mean_image(out)`` (:class:`dlviz.models.vae.ConvVAE` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

INTERPOLATIONS = ("linear", "spherical")


def _device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form ``KL(N(mu, exp(logvar)) || N(0, 1))`` per dimension, same shape as ``mu``, in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


@dataclass
class ElboTerms:
    """The two terms of the bound for a batch of images, each ``(B,)`` in nats."""

    recon: torch.Tensor        # E_q[log p(x|z)] (Monte Carlo), <= 0 for a Bernoulli decoder
    kl: torch.Tensor           # KL(q(z|x) || p(z)) (closed form), >= 0
    kl_per_dim: torch.Tensor   # (B, D): the KL split over latent dimensions; sums to ``kl``

    @property
    def elbo(self) -> torch.Tensor:
        return self.recon - self.kl

    def mean(self) -> dict[str, float]:
        return {"elbo": float(self.elbo.mean()), "recon": float(self.recon.mean()), "kl": float(self.kl.mean())}


@torch.no_grad()
def encode(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior parameters ``(mu, logvar)``, each ``(N, D)`` on the CPU, for images ``(N, C, H, W)``."""
    dev, was = _device(model), model.training
    model.eval()
    mus, lvs = [], []
    for i in range(0, len(x), batch_size):
        mu, lv = model.encode(x[i:i + batch_size].to(dev))
        mus.append(mu.cpu())
        lvs.append(lv.cpu())
    model.train(was)
    if not mus:
        d = model.config.latent_dim
        return torch.zeros(0, d), torch.zeros(0, d)
    return torch.cat(mus), torch.cat(lvs)


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The decoder's expected images ``(N, C, H, W)`` in [0, 1] for codes ``z (N, D)``."""
    dev, was = _device(model), model.training
    model.eval()
    z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, model.config.latent_dim)
    out = [model.mean_image(model.decode(z[i:i + batch_size].to(dev))).cpu() for i in range(0, len(z), batch_size)]
    model.train(was)
    c = model.config
    return torch.cat(out) if out else torch.zeros(0, c.in_channels, c.image_size, c.image_size)


def reconstruct(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``decode(encode(x))`` through the posterior mean: the model's reconstruction of ``x``."""
    return decode(model, encode(model, x)[0])


def recon_mse(model: nn.Module, x: torch.Tensor) -> float:
    """Mean squared pixel error of ``decode(encode(x))`` -- the number the cards promise."""
    return float(((reconstruct(model, x) - x) ** 2).mean())


def _eps(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(shape, generator=generator)


@torch.no_grad()
def elbo(model: nn.Module, x: torch.Tensor, n_samples: int = 1, generator: torch.Generator | None = None,
         batch_size: int = 512) -> ElboTerms:
    """The ELBO's terms per image, in nats: ``n_samples`` reparameterised samples for the
    reconstruction term, the closed form for the KL. ``generator`` makes the estimate repeatable."""
    if n_samples < 1:
        raise ValueError("n_samples must be at least 1")
    dev, was = _device(model), model.training
    model.eval()
    recs, kls = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(dev)
        mu, logvar = model.encode(xb)                                     # (B, D)
        std = torch.exp(0.5 * logvar)
        rec = torch.zeros(len(xb), device=dev)
        for _ in range(n_samples):
            z = mu + std * _eps(tuple(mu.shape), generator).to(dev)
            rec += model.log_px_z(xb, model.decode(z))
        recs.append((rec / n_samples).cpu())
        kls.append(gaussian_kl(mu, logvar).cpu())
    model.train(was)
    kl_dims = torch.cat(kls) if kls else torch.zeros(0, model.config.latent_dim)
    return ElboTerms(torch.cat(recs) if recs else torch.zeros(0), kl_dims.sum(1), kl_dims)


def vae_loss(model: nn.Module, x: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss ``-(recon - beta * KL)`` averaged over the batch, with its terms for the log.

    ``beta = 1`` is the negative ELBO; ``beta > 1`` is the beta-VAE's pressure toward the prior."""
    out, mu, logvar, _ = model(x)
    rec = model.log_px_z(x, out)                          # (B,)
    kl = gaussian_kl(mu, logvar).sum(1)                   # (B,)
    loss = (-rec + beta * kl).mean()
    return loss, {"recon": float(-rec.mean().detach()), "kl": float(kl.mean().detach()),
                  "elbo": float((rec - kl).mean().detach()), "beta": float(beta)}


def beta_schedule(beta: float, warmup_steps: int = 0):
    """KL annealing (Bowman et al. 2016): beta ramps linearly from 0 to ``beta`` over ``warmup_steps``."""
    def at(step: int) -> float:
        if warmup_steps <= 0:
            return float(beta)
        return float(beta) * min(1.0, step / warmup_steps)
    return at


@torch.no_grad()
def iwae_bound(model: nn.Module, x: torch.Tensor, k: int = 64, generator: torch.Generator | None = None,
               batch_size: int = 128) -> torch.Tensor:
    """The importance-weighted bound ``log 1/k sum_i p(x, z_i) / q(z_i|x)`` per image ``(N,)``.

    ``k = 1`` is the ELBO; it increases with ``k`` toward ``log p(x)`` (Burda et al. 2016)."""
    dev, was = _device(model), model.training
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(dev)
        mu, logvar = model.encode(xb)                                          # (B, D)
        std = torch.exp(0.5 * logvar)
        logw = []
        for _ in range(k):
            eps = _eps(tuple(mu.shape), generator).to(dev)
            z = mu + std * eps
            log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(1)
            log_p = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(1)
            logw.append(model.log_px_z(xb, model.decode(z)) + log_p - log_q)    # (B,)
        out.append((torch.logsumexp(torch.stack(logw), 0) - math.log(k)).cpu())
    model.train(was)
    return torch.cat(out) if out else torch.zeros(0)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int = 9, mode: str = "linear") -> torch.Tensor:
    """``steps`` codes ``(steps, D)`` from ``z0`` to ``z1`` (both included).

    ``linear``: ``(1 - t) z0 + t z1`` -- its norm sags in the middle, toward the prior's unlikely centre.
    ``spherical``: the direction moves along the great circle at constant angular speed while the
    norm goes linearly from ``|z0|`` to ``|z1|`` (White 2016's slerp when the norms are equal), so
    the path stays on the shell where Gaussian codes live. Falls back to linear when a code is 0 or
    the two directions are (anti-)parallel.
    """
    if mode not in INTERPOLATIONS:
        raise ValueError(f"mode must be one of {INTERPOLATIONS}, not {mode!r}")
    if steps < 2:
        raise ValueError("steps must be at least 2")
    z0 = torch.as_tensor(z0, dtype=torch.float64).flatten()
    z1 = torch.as_tensor(z1, dtype=torch.float64).flatten()
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 differ in shape: {tuple(z0.shape)} vs {tuple(z1.shape)}")
    t = torch.linspace(0, 1, steps, dtype=torch.float64)[:, None]                 # (S, 1)
    lin = (1 - t) * z0 + t * z1                                                    # (S, D)
    r0, r1 = z0.norm(), z1.norm()
    if mode == "linear" or r0 < 1e-12 or r1 < 1e-12:
        return lin.float()
    u0, u1 = z0 / r0, z1 / r1
    omega = torch.arccos((u0 @ u1).clamp(-1.0, 1.0))
    if omega < 1e-6 or math.pi - omega < 1e-6:
        return lin.float()
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    return (direction * ((1 - t) * r0 + t * r1)).float()


@dataclass
class LatentStats:
    """What the encoder does with each latent dimension, over a data set."""

    mu: torch.Tensor            # (N, D) posterior means
    logvar: torch.Tensor        # (N, D)
    kl_per_dim: torch.Tensor    # (D,) mean KL of each dimension, nats
    activity: torch.Tensor      # (D,) Var_x(E_q[z_d]): Burda et al.'s unit activity
    threshold: float            # a unit is active when its activity exceeds this (0.01)

    @property
    def active(self) -> torch.Tensor:
        return self.activity > self.threshold

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    def top_dims(self, k: int) -> list[int]:
        """The ``k`` dimensions with the most KL (the ones the model uses most), most first."""
        return [int(i) for i in torch.argsort(self.kl_per_dim, descending=True)[:k]]


def latent_stats(model: nn.Module, x: torch.Tensor, threshold: float = 0.01) -> LatentStats:
    """Posterior means and variances of ``x``, with KL per dimension and Burda's active-unit test."""
    mu, logvar = encode(model, x)
    kl = gaussian_kl(mu, logvar).mean(0) if len(mu) else torch.zeros(mu.shape[1])
    activity = mu.var(0, unbiased=False) if len(mu) > 1 else torch.zeros(mu.shape[1])
    return LatentStats(mu, logvar, kl, activity, threshold)


@dataclass
class Evaluation:
    """Everything the page and the cards measure on a data set, from one pass over it."""

    terms: ElboTerms
    stats: LatentStats
    recon_mse: float          # mean squared pixel error of decode(mu)
    recon: torch.Tensor       # (N, C, H, W) decode(mu)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, generator: torch.Generator | None = None,
             batch_size: int = 512, threshold: float = 0.01) -> Evaluation:
    """ELBO terms (one sample per image), latent statistics and ``decode(encode(x))`` in a single pass:
    the same numbers :func:`elbo`, :func:`latent_stats` and :func:`recon_mse` give."""
    dev, was = _device(model), model.training
    model.eval()
    mus, lvs, recs, means = [], [], [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(dev)
        mu, logvar = model.encode(xb)
        z = mu + torch.exp(0.5 * logvar) * _eps(tuple(mu.shape), generator).to(dev)
        recs.append(model.log_px_z(xb, model.decode(z)).cpu())
        means.append(model.mean_image(model.decode(mu)).cpu())
        mus.append(mu.cpu())
        lvs.append(logvar.cpu())
    model.train(was)
    mu, logvar, mean = torch.cat(mus), torch.cat(lvs), torch.cat(means)
    kl = gaussian_kl(mu, logvar)
    stats = LatentStats(mu, logvar, kl.mean(0), mu.var(0, unbiased=False) if len(mu) > 1 else torch.zeros(mu.shape[1]),
                        threshold)
    return Evaluation(ElboTerms(torch.cat(recs), kl.sum(1), kl), stats, float(((mean - x) ** 2).mean()), mean)


def prior_quantile_grid(n: int, coverage: float = 0.9) -> torch.Tensor:
    """``n`` points with equal prior mass between them: N(0,1) quantiles from (1-c)/2 to (1+c)/2.

    Kingma & Welling's manifold figures use this, so the grid's cells are equally likely a priori."""
    lo = (1 - coverage) / 2
    p = torch.linspace(lo, 1 - lo, n, dtype=torch.float64)
    return torch.distributions.Normal(0.0, 1.0).icdf(p).float()


def manifold(model: nn.Module, dims: tuple[int, int] = (0, 1), n: int = 15, base: torch.Tensor | None = None,
             values: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decode a grid over two latent dimensions, the others held at ``base`` (default: 0, the prior mean).

    Returns ``(images (n, n, C, H, W), row values (n,), column values (n,))``; row ``i`` has
    ``z[dims[1]] = rows[i]`` (descending, so "up" is positive), column ``j`` has ``z[dims[0]] = cols[j]``."""
    d = model.config.latent_dim
    a, b = dims
    if not (0 <= a < d and 0 <= b < d) or a == b:
        raise ValueError(f"dims must be two different dimensions in [0, {d}), got {dims}")
    if values is None:
        g = prior_quantile_grid(n)
        values = (g, g)
    cols, rows = values[0], values[1].flip(0)
    z = torch.zeros(d) if base is None else torch.as_tensor(base, dtype=torch.float32).clone()
    zz = z.repeat(len(rows), len(cols), 1)                  # (R, C, D)
    zz[:, :, a] = cols[None, :]
    zz[:, :, b] = rows[:, None]
    imgs = decode(model, zz.reshape(-1, d))
    return imgs.reshape(len(rows), len(cols), *imgs.shape[1:]), rows, cols


def prior_log_prob(z: torch.Tensor) -> float:
    """log N(z; 0, I) in nats for one code ``(D,)``: -|z|^2/2 - (D/2) log 2pi."""
    d = z.numel()
    return float(-0.5 * (z.double() ** 2).sum() - 0.5 * d * math.log(2 * math.pi))


def farthest_other_class(mu: np.ndarray, labels: np.ndarray, i: int = 0) -> int:
    """Index of the code farthest from code ``i`` among other classes (any class if there is only one):
    a long, class-crossing default path for interpolation."""
    d = ((mu - mu[i]) ** 2).sum(1)
    if len(np.unique(labels)) > 1:
        d = d * (labels != labels[i])
    return int(np.argmax(d))


def sample_prior(model: nn.Module, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` codes from the prior N(0, I) and their decoded images: ``(z (n, D), images (n, C, H, W))``."""
    z = _eps((n, model.config.latent_dim), generator)
    return z, decode(model, z)
