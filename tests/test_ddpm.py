"""DDPM / DDIM: the schedule against its closed forms, the samplers against each other and against an
oracle denoiser, classifier-free guidance, the U-Net, the training loss, and the shipped checkpoints."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from dlviz.ddpm.core import SCHEDULES, NoiseSchedule, make_betas, to_image_space, to_model_space
from dlviz.ddpm.sampling import initial_noise, predict_noise, sample



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
    for spacing in ("leading", "trailing"):
        assert s.timesteps(1000, spacing) == list(range(1000, -1, -1))       # every step: the two agree
    for n in (1, 10, 50, 333):
        trailing, leading = s.timesteps(n, "trailing"), s.timesteps(n, "leading")
        for ts in (trailing, leading):
            assert ts[-1] == 0 and len(ts) == n + 1
            assert all(a > b for a, b in itertools.pairwise(ts))
        assert trailing[0] == 1000
        # leading is the trailing grid one interval lower (+1, the paper's t = 1 is its first noised level)
        assert leading[:-1] == [t + 1 for t in trailing[1:]]
    assert s.timesteps(10) == [901, 801, 701, 601, 501, 401, 301, 201, 101, 1, 0]      # diffusers' "leading"
    with pytest.raises(ValueError, match="spacing"):
        s.timesteps(10, "linspace")


def test_the_first_x0_from_t_T_multiplies_the_networks_error_by_sqrt_of_one_over_snr():
    """Why DDIM starts below T by default: x̂_0 = (x_t - sqrt(1 - ᾱ_t) ε̂) / sqrt(ᾱ_t) (Ho eq. 15), so an error δ
    in ε̂ moves x̂_0 by exactly -δ sqrt((1 - ᾱ_t) / ᾱ_t); at t = T of the cosine schedule that is ~20,000 δ."""
    s = NoiseSchedule(1000, "cosine")
    g = torch.Generator().manual_seed(0)
    x0, eps, delta = (torch.rand(2, 3, 4, 4, generator=g, dtype=torch.float64) * 2 - 1 for _ in range(3))
    delta = delta * 1e-3
    for t in (1000, 981, 901):
        xt = s.add_noise(x0, eps, t)
        moved = s.predict_x0(xt, eps + delta, t) - s.predict_x0(xt, eps, t)
        gain = float(((1 - s.alphas_cumprod[t]) / s.alphas_cumprod[t]).sqrt())
        assert torch.allclose(moved, -gain * delta, rtol=1e-6, atol=1e-12)
    assert float(s.snr[1000]) ** -0.5 > 2e4 > 40 > float(s.snr[981]) ** -0.5


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
    assert traj.timesteps[0] == s.timesteps(100 if sampler == "ddpm" else steps)[0] and traj.timesteps[-1] == 0
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


# ---------------------------------------------------------------- sample quality
def test_frechet_distance_against_closed_forms():
    from scipy.linalg import sqrtm

    from dlviz.metrics import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(300, 6)) * 2 + 1
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    c = np.arange(6.0)
    assert frechet_distance(a, a + c) == pytest.approx(float(c @ c), rel=1e-9)      # shift: |Δμ|², same S
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)  # scipy's matrix root
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    with pytest.raises(ValueError):
        frechet_distance(a, b[:, :3])


def test_measure_on_real_digits_is_the_classifier_accuracy_and_zero_fd():
    from dlviz.checkpoints import load_shipped
    from dlviz.metrics import measure, real_floor_images, real_reference
    from dlviz.metrics import accuracy

    clf, _ = load_shipped("digits_cnn")
    real = real_reference("digits")
    q = measure(real.images, real.labels, clf, real, floor_images=real_floor_images("digits", 200))
    assert q.accuracy == pytest.approx(accuracy(clf, real.images, real.labels), abs=1e-6)
    assert q.fd == pytest.approx(0, abs=1e-6) and q.fd_real > 0 and q.n == len(real)
    per = [(q.predicted[q.requested == k] == k).mean() for k in range(10)]
    assert np.allclose(q.per_class_acc, per)


# ---------------------------------------------------------------- training
def test_diffusion_loss_is_l_simple_and_buckets_average_to_it():
    from dlviz.ddpm.training import DiffusionLoss

    s = NoiseSchedule(1000)
    model = Linear2()
    x01, y = torch.rand(64, 1, 3, 3), torch.randint(0, 3, (64,))
    torch.manual_seed(5)
    loss, extras = DiffusionLoss(s, p_uncond=0.25)(model, (x01, y))
    torch.manual_seed(5)                              # replay the same draws by hand (Ho Algorithm 1)
    t = torch.randint(1, 1001, (64,))
    eps = torch.randn(64, 1, 3, 3)
    drop = torch.rand(64) < 0.25
    xt = s.add_noise(to_model_space(x01), eps, t)
    per = (model(xt, t, torch.where(drop, torch.full_like(y, 3), y)) - eps).square().mean(dim=(1, 2, 3))
    assert float(loss) == pytest.approx(float(per.mean()), rel=1e-5)
    k = (t - 1) * 10 // 1000
    counts = torch.bincount(k, minlength=10)
    weighted = sum(extras[f"loss_t{b * 100 + 1:04d}-{(b + 1) * 100:04d}"] * int(counts[b]) for b in range(10) if counts[b])
    assert weighted / 64 == pytest.approx(float(loss), rel=1e-5)


def test_ema_update_and_warmup():
    from dlviz.ddpm.training import EMA

    lin = nn.Linear(2, 1)
    ema = EMA(lin, decay=0.9)
    w0 = lin.weight.detach().clone()
    with torch.no_grad():
        lin.weight.add_(1.0)
    ema.step()                                        # d = min(0.9, 2 / 11)
    assert torch.allclose(ema.shadow.weight, w0 + (1 - 2 / 11), atol=1e-6)
    for _ in range(200):
        ema.step()
    assert torch.allclose(ema.shadow.weight, lin.weight, atol=1e-6)


def test_live_training_records_buckets_snapshots_and_sample_accuracy():
    from dlviz.data import digits
    from dlviz.ddpm.training import Snapshot, bucket_losses, make_trainer
    from dlviz.models import build_model

    torch.manual_seed(0)
    model = build_model("unet", in_channels=1, image_size=16, base_channels=8, channel_mults=(1, 2),
                        attention_resolutions=(), num_classes=10, groups=4)
    data = digits("train", size=16).subset(slice(0, 200))
    trainer, ema = make_trainer(model, data, steps=12, batch_size=16, snapshot_every=6, snapshot_steps=3,
                                score_fn=lambda x, y: 0.5)
    trainer.run()
    assert trainer.status == "finished", trainer.message
    names, vals = bucket_losses(trainer)
    assert names == sorted(names) and all(np.isfinite(vals)) and len(names) >= 3
    steps = [s for s, _ in trainer.snapshots]
    assert steps == [0, 6, 12] and isinstance(trainer.snapshots[-1][1], Snapshot)
    assert trainer.snapshots[-1][1].images.shape == (10, 1, 16, 16)
    assert trainer.history("sample_acc")[1] == [0.5, 0.5, 0.5]
    assert ema.latest[0] == 12 and ema.model_at_latest() is not None
    with pytest.raises(ValueError, match="the data are"):
        make_trainer(model, digits("train", size=8), steps=1)


def test_half_storage_checkpoint_round_trip(tmp_path):
    from dlviz.checkpoints import load_checkpoint, save_checkpoint
    from dlviz.models import build_model

    m = build_model("unet", in_channels=1, image_size=8, base_channels=8, channel_mults=(1, 2), groups=4,
                    half_storage=True, attention_resolutions=())
    path = save_checkpoint(tmp_path / "u.pt", m)
    m2, _ = load_checkpoint(path, expected_arch="unet")
    for p, q in zip(m.parameters(), m2.parameters(), strict=True):
        assert q.dtype == torch.float32 and torch.equal(q, p.detach().half().float())
    assert path.stat().st_size < 0.6 * 4 * sum(p.numel() for p in m.parameters()) + 20_000


# ---------------------------------------------------------------- views and plots
def test_forward_view_matches_theory():
    from dlviz.ddpm.views import forward_view, schedule_curves, t_where_snr_crosses

    img = torch.rand(3, 48, 48)
    v0 = forward_view(img, 0, "linear")
    assert np.allclose(v0.closed_form, img.permute(1, 2, 0).numpy(), atol=1e-6) and v0.noise_std_closed == 0
    v = forward_view(img, 400, "cosine", seed=3)
    theory = math.sqrt(1 - v.alpha_bar)
    assert v.noise_std_closed == pytest.approx(theory, rel=0.03)
    assert v.noise_std_stepwise == pytest.approx(theory, rel=0.03)
    t = t_where_snr_crosses("linear")
    abar = schedule_curves()["linear"]["alpha_bar"]
    assert abar[t] < 0.5 <= abar[t - 1]


def test_plots_and_thumbnail():
    from dlviz.ddpm.views import animation_frames, thumbnail, trajectory_rows
    from dlviz.ddpm import plots as P

    s = NoiseSchedule(20)
    traj = sample(Oracle(s, torch.zeros(1, 3, 4, 4)), s, initial_noise(3, (3, 4, 4), 0), num_steps=5)
    rows = trajectory_rows(traj, traj.frame(10), n=2)
    assert [r.shape for r in rows] == [(2, 4, 4, 3)] * 3
    pic = P.montage(rows, scale=2, gap=1)
    assert pic.shape == (3 * 8 + 2, 2 * 8 + 1, 3) and pic.dtype == np.uint8
    ts, frames = animation_frames([traj, traj], n_frames=4)
    assert ts == [17, 11, 6, 0] and len(frames[0]) == 4         # from the first level visited, 20 - 20/5 + 1
    import io

    from PIL import Image

    from dlviz.imaging import gif_bytes

    gif = Image.open(io.BytesIO(gif_bytes([P.montage(f) for f in frames])))
    assert gif.n_frames == 4
    fig = P.animation_figure([P.montage(f) for f in frames], [f"t={t}" for t in ts], row_labels=["a", "b", "c", "d"])
    assert len(fig.frames) == 4
    assert P.picture_figure(pic, col_labels=["a", "b"]).layout.annotations[1].text == "b"
    thumb = thumbnail()
    assert thumb.dtype == np.uint8 and thumb.ndim == 3 and thumb.shape[2] == 3


def test_the_schedule_figure_draws_a_light_curve_and_exports_every_t():
    """Section 1 redraws this figure on every move of t: ≤ 270 points a curve, ending at exactly the schedule's
    values at t = 1 and t = T (where cosine's β turns sharply the last 20 are all kept); the CSV export every t."""
    from dlviz.ddpm import plots as P
    from dlviz.ddpm.views import schedule_curves

    curves = schedule_curves()
    light, full = P.schedule_figure(curves, 250), P.schedule_figure(curves, 250, max_points=None)
    assert len(light.data) == len(full.data) == 9
    for a, b in zip(light.data, full.data, strict=True):
        x, y = np.asarray(a.x), np.asarray(a.y)
        assert len(x) <= 270 and list(np.asarray(b.x)) == list(range(1, 1001))
        assert set(range(981, 1001)) <= set(x.tolist()) and x[0] == 1
        assert np.allclose(y, np.asarray(b.y)[x - 1])                    # the same values, at the kept t
    assert [s.x0 for s in light.layout.shapes] == [250] * 3
