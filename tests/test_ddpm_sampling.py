"""Issue 15 on the DDPM library: a zero beta is a noiseless step (no NaN, no division by zero), the frames a sampler
records are known before it runs (the page's scrubber offers exactly those), sampling reports progress and can be
abandoned, background jobs are bounded and cancelled, and the recogniser says "no object" for blank images."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from dlviz.ddpm.background import Job, estimate_seconds, fetch
from dlviz.ddpm.core import NoiseSchedule
from dlviz.ddpm.sampling import generate, initial_noise, recorded_timesteps, sample
from dlviz.ddpm.quality import MIN_OBJECT, NO_OBJECT, object_fraction, recognise, recognised_text
from dlviz.ddpm.views import common_timesteps, nearest


class Zero(nn.Module):
    """An ε-predictor that always says "no noise" (enough to drive the samplers)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y=None):
        return torch.zeros_like(x) * self.w


# ---------------------------------------------------------------- beta_start = 0
@pytest.mark.parametrize("kind", ["linear", "quadratic"])
def test_a_zero_beta_is_a_noiseless_step_for_both_samplers(kind):
    s = NoiseSchedule(50, kind, beta_start=0.0)
    assert float(s.betas[1]) == 0.0 and float(s.alphas_cumprod[1]) == 1.0          # x_1 = x_0: nothing was added
    xt = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    eps = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    for clip in (False, True):
        out = s.ddpm_step(eps, 1, xt, clip=clip)
        ref = xt.clamp(-1, 1) if clip else xt
        assert torch.isfinite(out.prev_sample).all() and torch.equal(out.pred_x0, ref)
        assert torch.allclose(out.prev_sample, ref)                      # x_0 = x_1 exactly
        for eta in (0.0, 0.5, 1.0):
            assert s.ddim_sigma(1, 0, eta) == 0.0
            o = s.ddim_step(eps, 1, 0, xt, eta=eta, clip=clip)
            assert torch.allclose(o.prev_sample, ref) and torch.isfinite(o.pred_x0).all()
    # the later steps are untouched by the guard: still the closed forms (sigma from Song eq. 16)
    at, a_s = float(s.alphas_cumprod[10]), float(s.alphas_cumprod[5])
    assert s.ddim_sigma(10, 5, 1.0) == pytest.approx(math.sqrt((1 - a_s) / (1 - at) * (1 - at / a_s)))


def test_a_whole_run_on_a_zero_beta_schedule_stays_finite():
    s = NoiseSchedule(20, "linear", beta_start=0.0)
    for sampler, steps, eta in (("ddpm", 0, 1.0), ("ddim", 20, 0.0), ("ddim", 20, 1.0), ("ddim", 4, 0.5)):
        tr = sample(Zero(), s, initial_noise(2, (1, 4, 4), 0), sampler=sampler, num_steps=steps, eta=eta,
                    generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(tr.samples).all()


@pytest.mark.parametrize("start,end", [(-1e-4, 0.02), (0.03, 0.02), (1e-4, 1.0), (float("nan"), 0.02)])
def test_betas_outside_0_1_are_refused(start, end):
    with pytest.raises(ValueError, match="beta"):
        NoiseSchedule(100, "linear", beta_start=start, beta_end=end)


# ---------------------------------------------------------------- what a run records, known in advance
@pytest.mark.parametrize("sampler,steps", [("ddpm", 0), ("ddim", 5), ("ddim", 25), ("ddim", 50), ("ddim", 200),
                                           ("ddim", 1000)])
def test_recorded_timesteps_are_those_a_run_records(sampler, steps):
    s = NoiseSchedule(1000, "cosine")
    tr = sample(Zero(), s, initial_noise(1, (1, 2, 2), 0), sampler=sampler, num_steps=steps,
                generator=torch.Generator().manual_seed(0))
    assert tr.timesteps == recorded_timesteps(s, sampler, steps)
    assert tr.timesteps[0] == s.timesteps(1000 if sampler == "ddpm" else steps)[0] and tr.timesteps[-1] == 0
    trailing = sample(Zero(), s, initial_noise(1, (1, 2, 2), 0), sampler=sampler, num_steps=steps, spacing="trailing",
                      generator=torch.Generator().manual_seed(0))
    assert trailing.timesteps == recorded_timesteps(s, sampler, steps, spacing="trailing")
    assert trailing.timesteps[0] == 1000
    assert math.isfinite(tr.step_seconds) and tr.step_seconds > 0


def test_the_scrubber_offers_only_levels_every_sampler_recorded():
    s = NoiseSchedule(1000, "cosine")
    ddpm = recorded_timesteps(s, "ddpm")
    for steps in (5, 25, 50, 200, 500, 1000):
        for spacing in ("leading", "trailing"):
            ddim = recorded_timesteps(s, "ddim", steps, spacing=spacing)
            opts = common_timesteps([ddpm, ddim])
            assert opts == sorted(set(ddpm) & set(ddim)) and 0 in opts and len(opts) >= min(steps, 100)
            if 100 % steps == 0:
                assert set(ddim) <= set(opts)                             # every DDIM level is on the scrubber
            t = nearest(opts, 590)
            assert t in ddim and t in ddpm                                # each panel shows exactly t
    assert nearest([0, 580, 600, 1000], 590) == 600 and nearest([0, 580, 600], 585) == 580


# ---------------------------------------------------------------- progress, cancelling, background jobs
def test_generate_reports_progress_over_all_batches_and_can_be_abandoned():
    from dlviz.models import build_model

    model = build_model("unet", in_channels=1, image_size=8, base_channels=8, channel_mults=(1, 2),
                        attention_resolutions=(4,), groups=4, num_timesteps=30, num_classes=0).eval()
    seen = []
    generate(model, num_steps=6, n=5, batch_size=2, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(i, 18) for i in range(18)]                           # 3 batches x 6 steps, in order

    class Stop(Exception):
        pass

    def stop(i, n):
        if i == 4:
            raise Stop

    with pytest.raises(Stop):
        generate(model, num_steps=6, n=2, progress=stop)


def test_a_job_runs_in_the_background_and_estimates_what_is_left():
    def work(progress):
        for i in range(5):
            progress(i, 5)
            time.sleep(0.02)
        return "done"

    job = Job(work, "five steps")
    assert job.wait(10) and job.ok and job.result == "done" and job.fraction == 1.0
    assert "done" in job.status_text()
    assert estimate_seconds(0.05, 1000) == pytest.approx(50.0) and math.isnan(estimate_seconds(float("nan"), 10))


def test_a_cancelled_or_abandoned_job_stops_at_its_next_step():
    steps = []

    def work(progress):
        for i in range(10_000):
            progress(i, 10_000)
            steps.append(i)
            time.sleep(0.001)
        return "never"

    job = Job(work, "long")
    time.sleep(0.05)
    job.cancel()
    assert job.wait(10) and not job.ok and "cancelled" in job.error and len(steps) < 10_000
    lonely = Job(work, "nobody polls", abandon_after=0.05)
    assert lonely.wait(10) and lonely.cancelled and "nobody asked" in lonely.error


def test_fetch_computes_short_work_inline_long_work_in_the_background_and_caches_both():
    done, jobs, calls = {}, {}, []
    gate = threading.Event()                          # background work waits here, so "not done yet" is certain

    def work(tag, gated=False):
        def fn(progress):
            progress(0, 1)
            calls.append(tag)
            if gated:
                assert gate.wait(10)
                progress(1, 1)                        # its next step: a cancelled job stops here
            return tag
        return fn

    assert fetch(done, jobs, "a", ("short",), work("short"), "short", cost=10, inline_budget=100) == ("short", None)
    assert fetch(done, jobs, "a", ("short",), work("again"), "short", cost=10, inline_budget=100)[0] == "short"
    assert calls == ["short"]                                             # the second call is a cache hit
    res, job = fetch(done, jobs, "b", ("long",), work("long", gated=True), "long", cost=1000, inline_budget=100)
    assert res is None and job is not None and not job.done               # the script run does not wait
    other, job2 = fetch(done, jobs, "b", ("other",), work("other", gated=True), "other", cost=1000,
                        inline_budget=100)
    assert other is None and job.cancelled and jobs["b"] is job2          # new arguments cancel the old job
    gate.set()
    assert job.wait(10) and not job.ok                                    # the cancelled one stops at its next step
    assert job2.wait(10) and job2.ok
    assert fetch(done, jobs, "b", ("other",), work("x"), "other", cost=1000, inline_budget=100) == ("other", None)
    assert "b" not in jobs and ("long",) not in done                      # the cancelled result is never cached

    def broken(progress):
        raise RuntimeError("boom")

    res, failed = fetch(done, jobs, "c", ("bad",), broken, "bad", cost=1, inline_budget=100)
    assert res is None and failed.done and "boom" in failed.error and "c" not in jobs


# ---------------------------------------------------------------- "no object"
def test_flat_images_have_no_object_and_real_ones_do():
    from dlviz.data import digits, food_shapes

    g = torch.Generator().manual_seed(0)
    colour = torch.rand(200, 3, 1, 1, generator=g).expand(200, 3, 32, 32)
    for grain in (0.0, 0.05, 0.1):                                       # the sampler's pixel noise on a flat square
        flat = (colour + grain * torch.randn(200, 3, 32, 32, generator=g)).clamp(0, 1)
        assert (object_fraction(flat) < MIN_OBJECT).all()
    food = object_fraction(food_shapes(2000, seed=998).images)           # held-out real food shapes
    assert (food < MIN_OBJECT).mean() <= 0.002                            # "all but about 1 in 1,000"
    assert (object_fraction(digits("all", size=16).images) >= MIN_OBJECT).all()
    square = torch.zeros(1, 3, 32, 32)
    square[:, :, 8:24, 8:24] = 1.0                                        # a white square on black: 1/4 of the image
    assert object_fraction(square)[0] == pytest.approx((18 * 18) / 1024, abs=0.02)


def test_the_recogniser_never_counts_a_blank_square_as_a_hotdog():
    from dlviz.checkpoints import load_shipped
    from dlviz.metrics import classify

    clf, _ = load_shipped("food_cnn", expected_arch="small_cnn")
    orange = torch.tensor([1.0, 0.55, 0.1]).view(1, 3, 1, 1).expand(4, 3, 32, 32).clone()
    orange += 0.05 * torch.randn(orange.shape, generator=torch.Generator().manual_seed(0))
    orange = orange.clamp(0, 1)
    _, plain = classify(clf, orange)
    v = recognise(clf, orange)
    assert (v.predicted == NO_OBJECT).all() and v.names(["hotdog"] * 10) == ["no object"] * 4
    assert recognised_text(v, np.zeros(4, int)) == "0 / 4"
    assert plain.tolist() != [NO_OBJECT] * 4                              # the classifier alone names a class
    from dlviz.data import food_shapes

    real = food_shapes(40, seed=998)
    rv = recognise(clf, real.images)
    _, rp = classify(clf, real.images)
    keep = ~rv.blank
    assert np.array_equal(rv.predicted[keep], rp[keep])                   # with an object: the classifier's verdict
