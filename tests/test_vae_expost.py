"""Ex-post density estimation for VAE samples (dlviz.vae.expost): the mixture's sampler against its own
moments, the fit against clusters with known parameters, and the judge against real and blank images."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from dlviz.checkpoints import shipped
from dlviz.vae import expost


class CodesAsImages(nn.Module):
    """A stand-in VAE whose encoder returns its input: the "images" (N, D, 1, 1) are the codes themselves."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.config = SimpleNamespace(latent_dim=d, likelihood="gaussian", in_channels=1, image_size=1)
        self.dummy = nn.Parameter(torch.zeros(1))

    def encode(self, x):
        z = x.flatten(1)
        return z, torch.zeros_like(z)


def test_the_mixture_sampler_has_the_weights_means_and_covariances_it_was_given():
    cov = torch.tensor([[[1.0, 0.6], [0.6, 0.5]], [[0.2, 0.0], [0.0, 2.0]]])
    mix = expost.CodeMixture(torch.tensor([0.25, 0.75]), torch.tensor([[5.0, 0.0], [-5.0, 1.0]]),
                             torch.linalg.cholesky(cov))
    z = mix.sample(40_000, torch.Generator().manual_seed(0))
    first = z[:, 0] > 0                                   # the components are 10 apart: each sample's is plain
    assert first.float().mean().item() == pytest.approx(0.25, abs=0.01)
    for k, sel in enumerate((first, ~first)):
        assert torch.allclose(z[sel].mean(0), mix.means[k], atol=0.03)
        assert torch.allclose(torch.cov(z[sel].T), cov[k], atol=0.04)
    assert torch.equal(mix.sample(7, torch.Generator().manual_seed(3)), mix.sample(7, torch.Generator().manual_seed(3)))


def test_the_fit_recovers_two_well_separated_clusters():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 3, generator=g) * 0.3 + torch.tensor([4.0, 0.0, 0.0])
    b = torch.randn(700, 3, generator=g) * 0.5 - torch.tensor([4.0, 0.0, 0.0])
    codes = torch.cat([a, b])
    mix = expost.fit_code_mixture(CodesAsImages(3), codes[..., None, None], components=2)
    order = torch.argsort(mix.means[:, 0])                # (b, a)
    assert torch.allclose(mix.weights[order], torch.tensor([0.7, 0.3]), atol=1e-6)
    assert torch.allclose(mix.means[order], torch.stack([b.mean(0), a.mean(0)]), atol=1e-4)
    cov_a = mix.chol[order[1]] @ mix.chol[order[1]].T
    assert torch.allclose(cov_a, torch.cov(a.T, correction=0) + 1e-4 * torch.eye(3), atol=1e-3)


def test_unknown_sources_and_a_missing_mixture_are_refused():
    m = CodesAsImages(4)
    with pytest.raises(ValueError, match="source"):
        expost.draw(m, 3, "uniform")
    with pytest.raises(ValueError, match="mixture"):
        expost.draw(m, 3, "mixture", None)


@pytest.mark.skipif("vae_food32" not in shipped(), reason="vae_food32 not shipped")
def test_the_shipped_food_vae_draws_the_same_codes_for_a_seed_and_the_prior_codes_are_standard_normal():
    from dlviz.checkpoints import load_shipped

    m, _ = load_shipped("vae_food32", expected_arch="conv_vae")
    z, x = expost.draw(m, 6, "prior", seed=4)
    assert torch.equal(z, torch.randn(6, m.config.latent_dim, generator=torch.Generator().manual_seed(4)))
    assert x.shape == (6, 3, 32, 32) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.equal(expost.draw(m, 6, "prior", seed=4)[1], x)


def test_the_judge_reads_real_food_shapes_and_never_a_blank_square():
    from dlviz.metrics import real_floor_images

    real = real_floor_images("food_shapes", 200)
    q = expost.sample_quality(real, "food")
    assert q["recognised"] >= 0.9 and q["classes_present"] == 10
    assert q["fd"] >= 0 and q["fd"] < 3 * q["fd_floor"] + 1.0        # real vs real: near its own floor
    blank = torch.ones(50, 3, 32, 32) * torch.tensor([0.9, 0.5, 0.1])[:, None, None]   # plain orange squares
    qb = expost.sample_quality(blank, "hotdog")
    assert qb["recognised"] == 0.0 and qb["hotdog"] == 0.0 and "fd" not in qb
    assert expost.sample_quality(real, "folder") == {}
    text = expost.quality_text(q, "mixture")
    assert f"{q['recognised']:.0%}" in text and f"{q['fd']:.1f}" in text and "ex-post" in text


@pytest.mark.skipif("vae_food32" not in shipped(), reason="vae_food32 not shipped")
def test_the_fitted_mixture_beats_the_prior_on_the_shipped_food_vae():
    """What the page's Samples tab and its "try this" prompt promise, on the shipped model at seed 0."""
    from dlviz.checkpoints import load_shipped
    from dlviz.vae.training import load_data

    m, _ = load_shipped("vae_food32", expected_arch="conv_vae")
    mix = expost.fit_code_mixture(m, load_data("food", "train").images)
    assert len(mix.weights) == expost.COMPONENTS and math.isclose(float(mix.weights.sum()), 1.0, abs_tol=1e-5)
    prior = expost.sample_quality(expost.draw(m, 500, "prior", seed=0)[1], "food")
    fitted = expost.sample_quality(expost.draw(m, 500, "mixture", mix, seed=0)[1], "food")
    assert fitted["recognised"] > 2 * prior["recognised"], (prior, fitted)
    assert fitted["fd"] < 0.85 * prior["fd"], (prior, fitted)
    assert np.isfinite(fitted["fd_floor"]) and fitted["fd_floor"] < 0.1 * fitted["fd"]
