"""Variational autoencoders (Kingma & Welling 2014, "Auto-Encoding Variational Bayes"): the analysis
behind the VAE page -- the ELBO and its terms, encoding and decoding, interpolation, latent maps,
unit activity -- and the data and Trainer for live training.

Public API: :func:`encode`, :func:`decode`, :func:`elbo` (returns :class:`ElboTerms`),
:func:`interpolate` ``(z0, z1, steps, mode)``, :func:`latent_stats`, :func:`manifold`,
:func:`iwae_bound`; images (pixels, grids, GIFs) go through :mod:`dlviz.imaging`; maps in :mod:`dlviz.vae.embed`; data and training in
:mod:`dlviz.vae.training`.
"""

from __future__ import annotations

from dlviz.vae.core import (
    INTERPOLATIONS,
    ElboTerms,
    Evaluation,
    LatentStats,
    beta_schedule,
    decode,
    elbo,
    encode,
    evaluate,
    farthest_other_class,
    gaussian_kl,
    interpolate,
    iwae_bound,
    latent_stats,
    manifold,
    prior_log_prob,
    prior_quantile_grid,
    recon_mse,
    reconstruct,
    sample_prior,
    vae_loss,
)
from dlviz.vae.training import (
    DATASETS,
    DataSpec,
    default_config,
    load_data,
    loss_health,
    make_runs,
    make_trainer,
)

__all__ = [
    "farthest_other_class", "prior_log_prob",
    "DATASETS",
    "INTERPOLATIONS",
    "DataSpec",
    "ElboTerms",
    "Evaluation",
    "LatentStats",
    "beta_schedule",
    "decode",
    "default_config",
    "elbo",
    "encode",
    "evaluate",
    "gaussian_kl",
    "interpolate",
    "iwae_bound",
    "latent_stats",
    "load_data",
    "loss_health",
    "make_runs",
    "make_trainer",
    "manifold",
    "prior_quantile_grid",
    "recon_mse",
    "reconstruct",
    "sample_prior",
    "vae_loss",
]
