"""DDPM / DDIM: the schedule against its closed forms, the samplers against each other and against an
oracle denoiser, classifier-free guidance, the U-Net, the training loss, and the shipped checkpoints."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from dlviz.diffusion import (
    SCHEDULES,
    NoiseSchedule,
    initial_noise,
    make_betas,
    predict_noise,
    sample,
    to_image_space,
    to_model_space,
)

torch.set_default_dtype(torch.float32)


def f64(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------- the schedule
@pytest.mark.parametrize("kind", SCHEDULES)
def test_schedule_is_a_valid_diffusion(kind):
    s = NoiseSchedule(1000, kind)
    b, abar = s.betas, s.alphas_cumprod
    assert b[0] == 0 and abar[0] == 1 and len(b) == 1001
    assert bool(((b[1:] > 0) & (b[1:] < 1)).all())
    assert bool((abar[1:] < abar[:-1]).all()), "alpha_bar must fall strictly"
    assert float(abar[-1]) < 1e-2, "x_T must be (almost) pure noise"
    snr = s.snr[1:]
    assert bool((snr[1:] < snr[:-1]).all()) and math.isinf(float(s.snr[0]))
    assert torch.allclose(abar, torch.cumprod(1 - b, 0), rtol=0, atol=1e-15)


def test_named_schedules_match_their_papers():
    lin = make_betas("linear", 1000)
    assert float(lin[0]) == pytest.approx(1e-4) and float(lin[-1]) == pytest.approx(0.02)  # Ho et al. sec. 4
    quad = make_betas("quadratic", 1000)
    assert torch.allclose(quad.sqrt(), torch.linspace(0.01, math.sqrt(0.02), 1000, dtype=torch.float64))
    s = NoiseSchedule(1000, "cosine")
    t = torch.arange(1001, dtype=torch.float64)
    f = torch.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    unclipped = s.betas[1:] < 0.999
    assert torch.allclose(s.alphas_cumprod[1:][unclipped], (f / f[0])[1:][unclipped], atol=1e-12)  # Nichol eq. 17
    with pytest.raises(ValueError, match="unknown schedule"):
        make_betas("sigmoid")


def test_add_noise_is_the_closed_form_of_the_one_step_chain():
    s = NoiseSchedule(200, "linear")
    x0 = f64(5)
    # noise-free: the mean of the chain is prod sqrt(1 - beta) x0 = sqrt(alpha_bar) x0, exactly
    x, var = x0.clone(), torch.zeros(())
    for t in range(1, 201):
        x = s.q_step(x, torch.zeros_like(x), t)
        var = (1 - s.betas[t]) * var + s.betas[t]          # variance recursion of eq. 2
        if t in (1, 17, 120, 200):
            assert torch.allclose(x, s.add_noise(x0, torch.zeros_like(x0), t), atol=1e-12)
            assert float(var) == pytest.approx(1 - float(s.alphas_cumprod[t]), abs=1e-12)


def test_add_noise_moments_match_the_sampled_chain():
    s = NoiseSchedule(100, "cosine")
    g = torch.Generator().manual_seed(1)
    x0 = torch.tensor([0.8, -0.5, 0.0], dtype=torch.float64).repeat(40_000, 1)   # (N, 3)
    x = x0.clone()
    for t in range(1, 61):
        x = s.q_step(x, torch.randn(x.shape, generator=g, dtype=torch.float64), t)
    closed = s.add_noise(x0, torch.randn(x.shape, generator=g, dtype=torch.float64), 60)
    a = float(s.alphas_cumprod[60])
    for samples in (x, closed):
        assert torch.allclose(samples.mean(0), math.sqrt(a) * x0[0], atol=0.015)
        assert torch.allclose(samples.var(0), torch.full((3,), 1 - a, dtype=torch.float64), rtol=0.03)


def test_nothing_is_added_at_t0_and_x0_is_recovered():
    s = NoiseSchedule(1000, "linear")
    x0, eps = f64(2, 3, 4, 4), f64(2, 3, 4, 4, seed=1)
    assert torch.equal(s.add_noise(x0, eps, 0), x0)
    t = torch.tensor([0, 731])
    xt = s.add_noise(x0, eps, t)
    assert torch.equal(xt[0], x0[0]) and not torch.allclose(xt[1], x0[1])
    assert torch.allclose(s.predict_x0(xt, eps, t), x0, atol=1e-10)
    assert torch.allclose(s.predict_eps(xt[1:], x0[1:], 731), eps[1:], atol=1e-10)
    with pytest.raises(ValueError, match="out of range"):
        s.add_noise(x0, eps, 1001)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_posterior_is_bayes_rule_on_the_two_gaussians(kind):
    """q(x_{t-1}|x_t,x_0) ∝ N(x_t; sqrt(α_t) x_{t-1}, β_t) N(x_{t-1}; sqrt(ᾱ_{t-1}) x_0, 1-ᾱ_{t-1})."""
    s = NoiseSchedule(300, kind)
    x0, xt = f64(7), f64(7, seed=3)
    for t in (2, 5, 100, 299, 300):
        a, b, ap = s.alphas[t], s.betas[t], s.alphas_cumprod[t - 1]
        prec = 1 / (1 - ap) + a / b
        mean = (ap.sqrt() * x0 / (1 - ap) + a.sqrt() * xt / b) / prec
        m, v = s.posterior(x0, xt, t)
        assert torch.allclose(m, mean, atol=1e-10) and torch.allclose(v, 1 / prec, rtol=1e-9)
    m, v = s.posterior(x0, xt, 1)                     # at t = 1 the posterior is x_0 itself
    assert torch.allclose(m, x0, atol=1e-12) and float(v.abs().max()) == 0


# ---------------------------------------------------------------- the reverse steps
def test_ddpm_eq11_mean_is_the_posterior_mean_at_the_predicted_x0():
    s = NoiseSchedule(1000, "linear")
    xt, eps = f64(3, 8) * 0.3, f64(3, 8, seed=1) * 0.3
    for t in (1, 2, 50, 999):
        plain = s.ddpm_step(eps, t, xt, noise=torch.zeros_like(xt)).prev_sample
        mean, _ = s.posterior(s.predict_x0(xt, eps, t), xt, t)
        assert torch.allclose(plain, mean, atol=1e-9)


def test_ddim_with_every_step_and_eta_1_is_the_ddpm_step():
    s = NoiseSchedule(1000, "cosine")
    xt, eps, z = f64(2, 3, 4, 4), f64(2, 3, 4, 4, seed=1), f64(2, 3, 4, 4, seed=2)
    for t in (1, 2, 10, 500, 1000):
        for clip in (False, True):
            ddpm = s.ddpm_step(eps, t, xt, noise=z, clip=clip)
            ddim = s.ddim_step(eps, t, t - 1, xt, eta=1.0, noise=z, clip=clip)
            assert torch.allclose(ddpm.prev_sample, ddim.prev_sample, atol=1e-9), (t, clip)
            assert torch.allclose(ddpm.pred_x0, ddim.pred_x0, atol=1e-12)
        assert s.ddim_sigma(t, t - 1, 1.0) == pytest.approx(math.sqrt(float(s.posterior_variance[t])), abs=1e-12)


def test_deterministic_ddim_with_the_true_noise_lands_on_the_forward_marginal():
    s = NoiseSchedule(1000, "linear")
    x0, eps = f64(4, 6), f64(4, 6, seed=1)
    for t, r in ((1000, 0), (900, 350), (40, 39)):
        out = s.ddim_step(eps, t, r, s.add_noise(x0, eps, t), eta=0.0)
        assert torch.allclose(out.prev_sample, s.add_noise(x0, eps, r), atol=1e-9)
    assert s.ddim_sigma(800, 200, 0.0) == 0


def test_timesteps():
    s = NoiseSchedule(1000)
    assert s.timesteps(1000) == list(range(1000, -1, -1))
    for n in (1, 10, 50, 333):
        ts = s.timesteps(n)
        assert ts[0] == 1000 and ts[-1] == 0 and len(ts) == n + 1
        assert all(a > b for a, b in itertools.pairwise(ts))


class Oracle(nn.Module):
    """The exact ε-predictor when all data sit at one point x*: ε̂ = (x_t - sqrt(ᾱ_t) x*) / sqrt(1 - ᾱ_t)."""

    def __init__(self, schedule, target):
        super().__init__()
        self.s, self.target = schedule, target

    def forward(self, x, t, y=None):
        return self.s.predict_eps(x, self.target.expand_as(x), t)


@pytest.mark.parametrize("sampler,steps,eta", [("ddpm", 0, 1.0), ("ddim", 25, 0.0), ("ddim", 7, 0.5)])
def test_samplers_recover_the_data_point_with_the_oracle(sampler, steps, eta):
    s = NoiseSchedule(100, "linear")
    target = torch.tensor([0.5, -0.25, 0.9]).view(1, 3, 1, 1) * torch.ones(1, 3, 2, 2)
    traj = sample(Oracle(s, target), s, initial_noise(4, (3, 2, 2), 0), sampler=sampler, num_steps=steps,
                  eta=eta, generator=torch.Generator().manual_seed(0), clip=False)
    assert torch.allclose(traj.samples, to_image_space(target).expand(4, -1, -1, -1), atol=1e-4)
    assert traj.timesteps[0] == 100 and traj.timesteps[-1] == 0
    assert traj.xt.shape[1:] == (4, 2, 2, 3) and traj.xt.dtype == np.uint8


def test_full_ddim_eta1_trajectory_equals_ddpm_from_the_same_noise():
    torch.manual_seed(0)
    from dlviz.models import build_model

    model = build_model("unet", in_channels=1, image_size=8, base_channels=8, channel_mults=(1, 2),
                        attention_resolutions=(4,), groups=4, num_timesteps=30).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    s = NoiseSchedule(30, "linear")
    xT = initial_noise(3, (1, 8, 8), 5)
    a = sample(model, s, xT, sampler="ddpm", generator=torch.Generator().manual_seed(9))
    b = sample(model, s, xT, sampler="ddim", num_steps=30, eta=1.0, generator=torch.Generator().manual_seed(9))
    assert torch.allclose(a.samples, b.samples, atol=1e-5)
    c = sample(model, s, xT, sampler="ddim", num_steps=30, eta=0.0)
    assert not torch.allclose(a.samples, c.samples, atol=1e-3)
    assert a.frame(0) == len(a.timesteps) - 1 and a.frame(30) == 0


# ---------------------------------------------------------------- guidance and the U-Net
class Linear2(nn.Module):
    null_class = 3

    def forward(self, x, t, y):
        return x * (y.float().view(-1, 1, 1, 1) + 1) + t.float().view(-1, 1, 1, 1) / 100


def test_classifier_free_guidance_is_the_linear_mix():
    m, x, y = Linear2(), torch.randn(2, 1, 3, 3), torch.tensor([0, 2])
    cond, uncond = m(x, torch.full((2,), 7), y), m(x, torch.full((2,), 7), torch.full((2,), 3))
    for w in (0.0, 1.0, 2.5, 7.0):
        assert torch.allclose(predict_noise(m, x, 7, y, w), uncond + w * (cond - uncond), atol=1e-5)


def test_unet_shapes_zero_init_and_conditioning():
    from dlviz.models import build_model

    torch.manual_seed(0)
    m = build_model("unet", in_channels=3, image_size=16, base_channels=16, channel_mults=(1, 2), num_classes=5,
                    attention_resolutions=(8,))
    x, t = torch.randn(4, 3, 16, 16), torch.tensor([1, 10, 500, 1000])
    assert torch.equal(m(x, t, torch.arange(4)), torch.zeros(4, 3, 16, 16)), "output conv starts at zero"
    nn.init.normal_(m.conv_out.weight, std=0.1)
    out = m(x, t, torch.arange(4))
    assert out.shape == x.shape
    assert not torch.allclose(out, m(x, t.flip(0), torch.arange(4))), "must depend on t"
    assert not torch.allclose(out, m(x, t, torch.zeros(4, dtype=torch.long))), "must depend on the label"
    assert torch.equal(m(x, t, None), m(x, t, torch.full((4,), 5))), "None is the null label"
    assert m.null_class == 5
    out.square().mean().backward()
    assert all(p.grad is not None for p in m.parameters())
    with pytest.raises(ValueError, match="divisible"):
        build_model("unet", image_size=18, channel_mults=(1, 2, 2))


def test_model_space_round_trip():
    x = torch.rand(2, 3, 4, 4)
    assert torch.allclose(to_image_space(to_model_space(x)), x)
