"""Sampling a trained VAE from a density fitted to its codes: *ex-post density estimation* (Ghosh, Sajjadi,
Vergari, Black & Schölkopf 2020, "From Variational to Deterministic Autoencoders", Sec. 4, "ex-post density
estimation"; they fit a 10-component Gaussian mixture to the training codes).

A VAE's decoder is trained on codes drawn from the encoder's posteriors q(z|x). Their average, the *aggregate
posterior*, does not fill the prior N(0, I): a code drawn from the prior often falls in a region no training image
was encoded to (a "hole") and decodes to a blend of several things. Fitting a small Gaussian mixture to the posterior
means of the training images and sampling from it instead keeps the decoder where it was trained. Nothing about the
network changes; only where its input comes from.

:func:`sample_quality` judges a batch of samples with the measures the DDPM and GAN pages use (:mod:`dlviz.metrics`,
:mod:`dlviz.ddpm.quality`): the Fréchet distance to held-out real images in the shipped classifier's features, beside
the real-vs-real floor, and the share of samples the classifier reads with confidence (a sample with no object
standing out never counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlviz.vae.core import decode, encode

SOURCES = ("prior", "mixture")
SOURCE_NAMES = {"prior": "the prior N(0, I)", "mixture": "a mixture fitted to the codes (ex-post)"}
COMPONENTS = 10                 # Ghosh et al.'s choice
CONFIDENT = 0.9                 # a sample counts as recognised when the classifier gives its class >= this
METRIC_SETS = {"digits": "digits", "food": "food_shapes"}   # VAE data set -> the shared classifier's data set


@dataclass
class CodeMixture:
    """A Gaussian mixture over the latent space: ``weights (K,)``, ``means (K, D)``, ``chol (K, D, D)`` (lower
    Cholesky factors of the covariances)."""

    weights: torch.Tensor
    means: torch.Tensor
    chol: torch.Tensor

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, D)`` codes: a component by its weight, then mean + L eps (deterministic for a generator)."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)          # (n,)
        eps = torch.randn(n, self.means.shape[1], generator=generator)                         # (n, D)
        return self.means[k] + (self.chol[k] @ eps[..., None])[..., 0]


def fit_code_mixture(model: nn.Module, images: torch.Tensor, components: int = COMPONENTS, seed: int = 0
                     ) -> CodeMixture:
    """Fit a full-covariance Gaussian mixture (EM, scikit-learn) to the posterior means of ``images``."""
    from sklearn.mixture import GaussianMixture

    mu = encode(model, images)[0].double().numpy()                                            # (N, D)
    k = max(1, min(int(components), len(mu) // 2))
    gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed, max_iter=200).fit(mu)
    chol = np.linalg.cholesky(gm.covariances_)                                                # (K, D, D)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return CodeMixture(as_t(gm.weights_), as_t(gm.means_), as_t(chol))


def draw(model: nn.Module, n: int, source: str = "prior", mixture: CodeMixture | None = None, seed: int = 0
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples ``(codes (n, D), images (n, C, H, W) in [0, 1])`` from ``source`` (``"prior"`` or
    ``"mixture"``, which needs ``mixture``), the same for the same seed."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    g = torch.Generator().manual_seed(int(seed))
    if source == "prior":
        z = torch.randn(n, model.config.latent_dim, generator=g)
    else:
        if mixture is None:
            raise ValueError("sampling from the mixture needs a fitted mixture (fit_code_mixture)")
        z = mixture.sample(n, g)
    return z, decode(model, z)


def sample_quality(images: torch.Tensor, dkey: str) -> dict[str, float]:
    """Judge ``images`` from a VAE on data set ``dkey``: ``fd`` and ``fd_floor`` (digits and food; the floor is two
    real sets of the same size), ``recognised`` (confident and an object present), ``classes_present`` (classes with
    >= 2 % of the samples) and, for the hotdog model, ``hotdog``: the share read as a confident hotdog. Empty for a
    data set without a shared classifier (a folder of the student's own images)."""
    from dlviz.ddpm.quality import recognise
    from dlviz.metrics import CLASSIFIERS, classify, frechet_distance, real_floor_images, real_reference
    from dlviz.checkpoints import load_shipped

    mset = METRIC_SETS.get(dkey, "food_shapes" if dkey == "hotdog" else None)
    if mset is None:
        return {}
    clf = load_shipped(CLASSIFIERS[mset])[0].eval()
    with torch.no_grad():
        conf = torch.softmax(clf(images), 1).max(1).values.numpy()
    v = recognise(clf, images)
    ok = (~v.blank) & (conf >= CONFIDENT)
    counts = np.bincount(v.predicted[~v.blank], minlength=10)
    out = {"recognised": float(ok.mean()), "classes_present": float((counts / len(images) >= 0.02).sum()),
           "n": float(len(images))}
    if dkey == "hotdog":
        out["hotdog"] = float((ok & (v.predicted == 0)).mean())
        return out
    feats, _ = classify(clf, images)
    real_f, _ = classify(clf, real_reference(mset).images)
    out["fd"] = frechet_distance(feats, real_f)
    out["fd_floor"] = frechet_distance(classify(clf, real_floor_images(mset, len(images)))[0], real_f)
    return out


def quality_text(q: dict[str, float], source: str) -> str:
    """One caption line for :func:`sample_quality`'s numbers."""
    if not q:
        return "No shared classifier for these images: the samples are shown, not scored."
    parts = [f"{q['recognised']:.0%} of {int(q['n'])} samples from {SOURCE_NAMES[source]} are read with ≥ "
             f"{CONFIDENT:.0%} confidence (an image with no object never counts)"]
    if "hotdog" in q:
        parts.append(f"{q['hotdog']:.0%} as a hotdog")
    if "fd" in q and math.isfinite(q["fd"]):
        parts.append(f"Fréchet distance to real images {q['fd']:.1f} (two real sets: {q['fd_floor']:.1f})")
    parts.append(f"{int(q['classes_present'])} classes hold ≥ 2 % of them")
    return "; ".join(parts) + "."
