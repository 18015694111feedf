"""Tests for the VAE's mathematics: the ELBO against closed forms (a linear-Gaussian model whose log p(x)
is exact), the Gaussian KL against Monte Carlo, interpolation geometry, latent statistics, maps, images.
Data, live training and the shipped checkpoints: tests/test_vae_training.py."""

from __future__ import annotations

import io
import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from dlviz.imaging import gif_bytes, tile
from dlviz.models import build_model
from dlviz.vae import (
    decode,
    elbo,
    encode,
    gaussian_kl,
    interpolate,
    iwae_bound,
    latent_stats,
    manifold,
    prior_quantile_grid,
    vae_loss,
)
from dlviz.vae import embed
from dlviz.vae.training import default_config, load_data


# --------------------------------------------------------------------------- an exactly solvable VAE
class LinearGaussianVAE(nn.Module):
    """Probabilistic PCA (Tipping & Bishop 1999) written as a VAE with the *exact* posterior.

    p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I) with orthogonal columns of W, so the posterior is the
    diagonal Gaussian N(S W^T (x - b) / s^2, S), S = diag(1 / (1 + a_d^2 / s^2)), and
    log p(x) = log N(x; b, W W^T + s^2 I) in closed form."""

    def __init__(self, p: int = 6, d: int = 2, s: float = 0.5, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(p, d, generator=g, dtype=torch.float64))
        a = torch.linspace(2.0, 1.0, d, dtype=torch.float64)
        self.W = nn.Parameter(q * a)                                       # (P, D), orthogonal columns
        self.b = nn.Parameter(torch.randn(p, generator=g, dtype=torch.float64) * 0.3)
        self.s, self.a, self.p = s, a, p

        class C:
            latent_dim = d
        self.config = C

    def encode(self, x):
        x = x.flatten(1).double()
        var = 1.0 / (1.0 + self.a ** 2 / self.s ** 2)                      # (D,)
        mu = (x - self.b) @ self.W * var / self.s ** 2
        return mu, torch.log(var).expand_as(mu)

    def decode(self, z):
        return (z.double() @ self.W.T + self.b).view(len(z), 1, 1, self.p)

    def log_px_z(self, x, out):
        return torch.distributions.Normal(out, self.s).log_prob(x.double()).flatten(1).sum(1)

    def mean_image(self, out):
        return out

    def log_px(self, x):
        cov = self.W @ self.W.T + self.s ** 2 * torch.eye(self.p, dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x.flatten(1).double())

    def exact_elbo(self, x):
        """E_q log p(x|z) in closed form minus the closed-form KL (equals log p(x) here)."""
        mu, logvar = self.encode(x)
        mean = self.decode(mu)
        trace = (self.W.pow(2).sum(0) * logvar.exp()).sum(1)               # tr(W^T W S)
        rec = self.log_px_z(x, mean) - trace / (2 * self.s ** 2)
        return rec - gaussian_kl(mu, logvar).sum(1)


@pytest.fixture(scope="module")
def ppca():
    m = LinearGaussianVAE()
    x = (m.decode(torch.randn(5, 2, dtype=torch.float64)) + 0.5 * torch.randn(5, 1, 1, 6, dtype=torch.float64))
    return m, x.detach()


def test_exact_posterior_makes_elbo_equal_log_px_in_closed_form(ppca):
    m, x = ppca
    torch.testing.assert_close(m.exact_elbo(x), m.log_px(x), atol=1e-9, rtol=0)


def test_monte_carlo_elbo_converges_to_exact_elbo(ppca):
    m, x = ppca
    n = 4000
    t = elbo(m, x, n_samples=n, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(t.elbo, t.recon - t.kl)
    torch.testing.assert_close(t.kl, t.kl_per_dim.sum(1))
    # the Monte Carlo error of the recon term: its per-sample sd over sqrt(n); allow 5 sd
    mu, logvar = m.encode(x)
    z = mu[None] + logvar.exp().sqrt()[None] * torch.randn(500, *mu.shape, dtype=torch.float64)
    sd = torch.stack([m.log_px_z(x, m.decode(zi)) for zi in z]).std(0)
    assert torch.all((t.elbo - m.exact_elbo(x)).abs() <= 5 * sd / math.sqrt(n) + 1e-6)


def test_iwae_with_the_exact_posterior_is_log_px_for_every_k(ppca):
    m, x = ppca
    for k in (1, 7):
        torch.testing.assert_close(iwae_bound(m, x, k=k, generator=torch.Generator().manual_seed(k)),
                                   m.log_px(x), atol=1e-6, rtol=0)


def test_gaussian_kl_closed_form_matches_torch_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = gaussian_kl(mu, logvar)
    torch.testing.assert_close(kl, torch.distributions.kl_divergence(q, p))
    z = q.sample((200_000,))                                               # (S, 4, 3)
    mc = q.log_prob(z) - p.log_prob(z)
    se = mc.std(0) / math.sqrt(len(z))
    assert torch.all((mc.mean(0) - kl).abs() < 5 * se)
    assert torch.all(kl >= 0) and float(gaussian_kl(torch.zeros(3), torch.zeros(3)).abs().max()) == 0.0


def test_iwae_is_at_least_the_elbo_and_grows_with_k_on_a_real_vae():
    torch.manual_seed(0)
    m = build_model("conv_vae", **default_config("digits", latent_dim=4)).eval()
    x = load_data("digits", "test", limit=16).images
    e = elbo(m, x, n_samples=64, generator=torch.Generator().manual_seed(0)).elbo.mean()
    i1 = iwae_bound(m, x, k=1, generator=torch.Generator().manual_seed(3)).mean()
    i32 = iwae_bound(m, x, k=32, generator=torch.Generator().manual_seed(3)).mean()
    assert abs(float(i1 - e)) < 0.02 * abs(float(e))           # IWAE-1 is the ELBO (up to noise)
    assert float(i32) > float(e)


# --------------------------------------------------------------------------- the decoder likelihoods
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_log_px_z_is_the_named_distribution(likelihood):
    torch.manual_seed(0)
    m = build_model("conv_vae", in_channels=3, image_size=8, latent_dim=3, channels=(4,), hidden=0,
                    likelihood=likelihood)
    with torch.no_grad():
        out = m.decode(torch.randn(2, 3))
    if likelihood == "bernoulli":
        x = (torch.rand(2, 3, 8, 8) > 0.5).float()
        ref = torch.distributions.Bernoulli(logits=out).log_prob(x)
    else:
        x = torch.rand(2, 3, 8, 8)
        assert float(out.min()) >= 0 and float(out.max()) <= 1
        ref = torch.distributions.Normal(out, m.sigma).log_prob(x)
    torch.testing.assert_close(m.log_px_z(x, out), ref.flatten(1).sum(1), atol=1e-3, rtol=1e-5)


def test_vae_loss_beta_scales_only_the_kl_term():
    m = build_model("conv_vae", **default_config("digits", latent_dim=5))
    x = load_data("digits", "train", limit=8).images
    torch.manual_seed(1)
    l0, t0 = vae_loss(m, x, beta=0.0)
    torch.manual_seed(1)
    l3, t3 = vae_loss(m, x, beta=3.0)
    assert float(l3 - l0) == pytest.approx(3.0 * t3["kl"], abs=1e-5 * float(l3))   # float32 rounding
    assert math.isclose(t0["elbo"], -t0["recon"] - t0["kl"], rel_tol=1e-6)
    l3.backward()
    assert all(p.grad is not None for p in m.parameters())


# --------------------------------------------------------------------------- model shapes
@pytest.mark.parametrize("key", ["digits", "food", "mnist"])
def test_conv_vae_shapes_round_trip(key):
    cfg = default_config(key, latent_dim=7)
    m = build_model("conv_vae", **cfg).eval()
    x = torch.rand(3, cfg["in_channels"], cfg["image_size"], cfg["image_size"])
    mu, logvar = encode(m, x)
    assert mu.shape == logvar.shape == (3, 7)
    assert decode(m, mu).shape == x.shape
    assert encode(m, x[:0])[0].shape == (0, 7) and decode(m, torch.zeros(0, 7)).shape[0] == 0


def test_conv_vae_rejects_bad_configs():
    with pytest.raises(ValueError, match="divisible"):
        build_model("conv_vae", image_size=12, channels=(8, 8, 8))
    with pytest.raises(ValueError, match="likelihood"):
        build_model("conv_vae", likelihood="poisson")


# --------------------------------------------------------------------------- interpolation
def test_interpolation_endpoints_and_linear_midpoint():
    z0, z1 = torch.tensor([1.0, 2.0, -1.0]), torch.tensor([-3.0, 0.5, 2.0])
    for mode in ("linear", "spherical"):
        p = interpolate(z0, z1, 5, mode)
        assert p.shape == (5, 3)
        torch.testing.assert_close(p[0], z0)
        torch.testing.assert_close(p[-1], z1)
    torch.testing.assert_close(interpolate(z0, z1, 3, "linear")[1], (z0 + z1) / 2)


def test_spherical_interpolation_norm_is_linear_and_angle_uniform():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(16, generator=g), 2.5 * torch.randn(16, generator=g)
    p = interpolate(z0, z1, 11, "spherical").double()
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    n0, n1 = z0.double().norm(), z1.double().norm()
    torch.testing.assert_close(p.norm(dim=1), (1 - t) * n0 + t * n1, atol=1e-5, rtol=0)
    cos = (p @ z0.double()) / (p.norm(dim=1) * n0)
    omega = torch.arccos((z0.double() @ z1.double()) / (n0 * n1))
    torch.testing.assert_close(torch.arccos(cos.clamp(-1, 1)), t * omega, atol=2e-3, rtol=0)
    # equal norms: White's slerp exactly, and the norm is constant
    z1e = z1 / z1.norm() * z0.norm()
    q = interpolate(z0, z1e, 7, "spherical").double()
    om = torch.arccos((z0 @ z1e / z0.norm() ** 2).clamp(-1, 1)).double()
    tt = torch.linspace(0, 1, 7, dtype=torch.float64)[:, None]
    white = (torch.sin((1 - tt) * om) * z0.double() + torch.sin(tt * om) * z1e.double()) / torch.sin(om)
    torch.testing.assert_close(q, white, atol=1e-5, rtol=0)


def test_linear_interpolation_sags_into_the_prior_centre_but_spherical_does_not():
    g = torch.Generator().manual_seed(0)
    d = 64
    ratios_lin, ratios_sph = [], []
    for _ in range(200):
        z0, z1 = torch.randn(d, generator=g), torch.randn(d, generator=g)
        ends = (z0.norm() + z1.norm()) / 2
        ratios_lin.append(float(interpolate(z0, z1, 3, "linear")[1].norm() / ends))
        ratios_sph.append(float(interpolate(z0, z1, 3, "spherical")[1].norm() / ends))
    # two independent Gaussian codes are nearly orthogonal: |(z0+z1)/2| ~ |z| / sqrt(2)
    assert abs(np.mean(ratios_lin) - 1 / math.sqrt(2)) < 0.02
    assert max(abs(r - 1) for r in ratios_sph) < 1e-5


def test_interpolation_degenerate_cases_and_errors():
    z = torch.tensor([1.0, 1.0])
    torch.testing.assert_close(interpolate(z, 3 * z, 3, "spherical"), interpolate(z, 3 * z, 3, "linear"))
    torch.testing.assert_close(interpolate(z, -z, 3, "spherical")[1], torch.zeros(2))
    torch.testing.assert_close(interpolate(torch.zeros(2), z, 3, "spherical")[1], z / 2)
    with pytest.raises(ValueError):
        interpolate(z, z, 3, "cubic")
    with pytest.raises(ValueError):
        interpolate(z, z, 1)
    with pytest.raises(ValueError):
        interpolate(z, torch.zeros(3), 3)


# --------------------------------------------------------------------------- latent statistics and grids
def test_latent_stats_finds_the_collapsed_units():
    torch.manual_seed(0)
    m = build_model("conv_vae", **default_config("digits", latent_dim=6)).eval()
    with torch.no_grad():                      # units 1, 3, 4 collapse to the prior: mu = 0, logvar = 0
        for d in (1, 3, 4):
            for row in (d, 6 + d):
                m.to_stats.weight[row].zero_()
                m.to_stats.bias[row] = 0.0
        for d in (0, 2, 5):                    # the others carry information: mu varies with x
            m.to_stats.weight[d] *= 100.0
    st = latent_stats(m, load_data("digits", "test", limit=64).images)
    assert st.kl_per_dim[[1, 3, 4]].abs().max() == 0.0
    assert st.activity[[1, 3, 4]].abs().max() == 0.0
    assert st.active.tolist() == [True, False, True, False, False, True] and st.n_active == 3
    torch.testing.assert_close(st.activity, st.mu.var(0, unbiased=False))
    assert set(st.top_dims(3)) == {0, 2, 5}


def test_prior_quantile_grid_has_equal_prior_mass():
    g = prior_quantile_grid(9, coverage=0.8).double()
    cdf = torch.distributions.Normal(0.0, 1.0).cdf(g)
    torch.testing.assert_close(cdf, torch.linspace(0.1, 0.9, 9, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(g, -g.flip(0), atol=1e-6, rtol=0)


def test_manifold_grid_decodes_each_grid_code():
    torch.manual_seed(0)
    m = build_model("conv_vae", **default_config("digits", latent_dim=3)).eval()
    base = torch.tensor([0.3, -0.2, 0.7])
    imgs, rows, cols = manifold(m, dims=(2, 0), n=4, base=base)
    assert imgs.shape == (4, 4, 1, 16, 16) and bool((rows[:-1] > rows[1:]).all())
    i, j = 1, 3
    z = base.clone()
    z[2], z[0] = cols[j], rows[i]
    torch.testing.assert_close(imgs[i, j], decode(m, z[None])[0])
    with pytest.raises(ValueError):
        manifold(m, dims=(1, 1))


# --------------------------------------------------------------------------- maps
def test_pca_projection_matches_the_covariance_eigenvectors():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(300, 5)) * np.array([3.0, 1.0, 0.5, 0.2, 0.1]) + 2.0
    pr = embed.pca_projection(codes)
    np.testing.assert_allclose(pr.components @ pr.components.T, np.eye(2), atol=1e-10)
    evals, evecs = np.linalg.eigh(np.cov(codes.T, bias=True))
    top = evecs[:, ::-1][:, :2].T
    np.testing.assert_allclose(np.abs((pr.components * top).sum(1)), 1.0, atol=1e-8)
    np.testing.assert_allclose(pr.explained, evals[::-1][:2] / evals.sum(), atol=1e-10)
    two = rng.normal(size=(10, 2))
    np.testing.assert_allclose(embed.pca_projection(two)(two), two)       # a 2-D latent is drawn as is


def test_knn_place_puts_a_code_on_its_own_position_and_inside_the_hull():
    rng = np.random.default_rng(1)
    codes, emb = rng.normal(size=(50, 4)), rng.normal(size=(50, 2))
    np.testing.assert_allclose(embed.knn_place(codes[7], codes, emb), emb[7][None])
    p = embed.knn_place(rng.normal(size=(5, 4)), codes, emb, k=5)
    assert np.all(p >= emb.min(0) - 1e-12) and np.all(p <= emb.max(0) + 1e-12)


def test_embedding_cache_round_trip_and_invalidation(tmp_path):
    codes = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    emb = np.random.default_rng(1).normal(size=(20, 2))
    path = embed.save_cache(tmp_path / "c.npz", codes, emb)
    np.testing.assert_allclose(embed.load_cache(path, codes), emb.astype(np.float32))
    assert embed.load_cache(path, codes + 0.01) is None
    assert embed.load_cache(tmp_path / "missing.npz", codes) is None
    t0 = time.perf_counter()
    job = embed.umap_job("test-cache-key", codes, cache=path)
    assert job.done and job.embedding is not None and time.perf_counter() - t0 < 0.5


def test_umap_job_returns_at_once_and_never_blocks(monkeypatch):
    """A slow embedding (standing in for UMAP's ~10 s numba compile) runs off the caller's thread."""
    gate = __import__("threading").Event()

    def slow_umap(codes, seed=0):
        gate.wait(10)
        return np.asarray(codes)[:, :2] * 2

    monkeypatch.setattr(embed, "umap_embedding", slow_umap)
    codes = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    job = embed.umap_job("test-nonblocking", codes)
    assert not job.done                        # the page gets control back at once (a blocking call returns done)
    assert embed.umap_job("test-nonblocking", codes) is job           # one job per key, shared
    gate.set()
    assert job.wait(10) and job.error is None
    np.testing.assert_allclose(job.embedding, codes[:, :2] * 2)


@pytest.mark.slow
def test_umap_job_finishes_with_a_finite_embedding():
    codes = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    job = embed.umap_job("test-finishes", codes)
    assert job.wait(240) and job.error is None
    assert job.embedding.shape == (200, 2) and np.isfinite(job.embedding).all()


# --------------------------------------------------------------------------- images, GIF
def test_tile_and_gif():
    from PIL import Image

    frames = torch.linspace(0, 1, 4)[:, None, None, None].expand(4, 1, 3, 5)
    mosaic = tile(frames, ncol=2, pad=1)
    assert mosaic.shape == (2 * 3 + 1, 2 * 5 + 1, 3) and mosaic.dtype == np.uint8
    assert mosaic[0, 0, 0] == 0 and mosaic[-1, -1, 0] == 255 and mosaic[3, 0, 0] == 255   # pad row
    im = Image.open(io.BytesIO(gif_bytes(frames, scale=3, bounce=True)))
    assert im.size == (15, 9) and im.n_frames == 6                      # 4 forward + 2 back
    assert np.asarray(im.convert("L"))[0, 0] == 0
    with pytest.raises(ValueError):
        gif_bytes(frames[:0])


def test_one_pass_evaluation_agrees_with_the_separate_functions():
    from dlviz.vae import evaluate, recon_mse

    torch.manual_seed(0)
    m = build_model("conv_vae", **default_config("digits", latent_dim=5)).eval()
    x = load_data("digits", "test", limit=40).images
    ev = evaluate(m, x, generator=torch.Generator().manual_seed(3), batch_size=16)
    t = elbo(m, x, generator=torch.Generator().manual_seed(3), batch_size=16)
    torch.testing.assert_close(ev.terms.elbo, t.elbo)
    torch.testing.assert_close(ev.terms.kl_per_dim, t.kl_per_dim)
    st = latent_stats(m, x)
    torch.testing.assert_close(ev.stats.activity, st.activity)
    torch.testing.assert_close(ev.stats.kl_per_dim, st.kl_per_dim)
    assert ev.recon_mse == pytest.approx(recon_mse(m, x), rel=1e-6)


def test_prior_log_prob_matches_torch_normal():
    from dlviz.vae import prior_log_prob

    z = torch.randn(7, generator=torch.Generator().manual_seed(3))
    ref = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum()
    assert prior_log_prob(z) == pytest.approx(float(ref), rel=1e-6)


def test_farthest_other_class_by_brute_force():
    import numpy as np

    from dlviz.vae import farthest_other_class

    rng = np.random.default_rng(0)
    mu, labels = rng.normal(size=(50, 3)), rng.integers(0, 3, 50)
    best = max((j for j in range(50) if labels[j] != labels[4]), key=lambda j: ((mu[j] - mu[4]) ** 2).sum())
    assert farthest_other_class(mu, labels, 4) == best
    one = np.zeros(50, dtype=int)  # a single class: the farthest code of all
    assert farthest_other_class(mu, one, 4) == int(np.argmax(((mu - mu[4]) ** 2).sum(1)))
