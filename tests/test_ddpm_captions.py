"""What moved off the DDPM page into dlviz.ddpm.captions (issue 15: pages under ~400 lines): each caption's numbers
are the measurement or the library constant it was given, recomputed here independently."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from dlviz.ddpm import captions as C
from dlviz.ddpm import plots as P
from dlviz.ddpm import views as V
from dlviz.ddpm.core import SCHEDULES, NoiseSchedule
from dlviz.ddpm.training import SPECS, bucket_losses, make_trainer


def test_the_intro_and_the_ddpm_toggle_say_the_schedules_length():
    assert NoiseSchedule().T == C.T == len(NoiseSchedule().betas) - 1 == 1000
    assert f"T = {C.T:,} small steps" in C.INTRO and f"DDIM's {C.DDIM_STEPS}" in C.INTRO
    assert C.ddpm_toggle_label(float("nan")) == f"Also run DDPM (all {C.T:,} steps) from the same x_T"
    assert C.ddpm_toggle_label(48.6).endswith("(estimate ≈ 49 s)")
    assert f"{C.T:,} network evaluations, {2 * C.T:,} with guidance" in C.DDPM_HELP


@pytest.mark.parametrize(("w", "per_step"), [(0.0, 1), (1.0, 1), (0.5, 2), (4.0, 2)])
def test_network_evaluations_count_the_guided_pass(w, per_step):
    """Classifier-free guidance evaluates the U-Net with and without the label: twice, unless w is 0 or 1 (one
    of the two terms vanishes). Counted here on a real model by hooking its forward."""
    from dlviz.ddpm.sampling import generate
    from dlviz.ddpm.training import fresh_model

    model = fresh_model(SPECS["digits"], base_channels=8, seed=0)
    calls = []
    h = model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with torch.no_grad():
        generate(model, sampler="ddim", num_steps=5, labels=torch.tensor([1, 2]), guidance=w, seed=0)
    h.remove()
    images_per_step = sum(calls) / 5 / 2                                  # U-Net image evaluations per step per image
    assert images_per_step == per_step == C.network_evals(5, w) / 5
    cap = C.trajectory_caption(5, w, 1.234)
    assert cap == f"5 steps · {5 * per_step} network evaluations · took 1.2 s"
    assert C.trajectory_caption(1000, w, 60.0, 48.6).endswith("(estimated ≈ 49 s)")


@pytest.mark.parametrize("kind", SCHEDULES)
def test_the_snr_caption_is_the_measured_noise_of_the_picture(kind):
    img = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    v = V.forward_view(img, 300, kind, seed=3)
    s = NoiseSchedule(1000, kind)
    abar = float(s.alphas_cumprod[300])
    assert v.alpha_bar == pytest.approx(abar)
    cap = C.snr_caption(v, V.t_where_snr_crosses(kind))
    assert f"SNR **{abar / (1 - abar):.3g}**" in cap
    assert f"theory √(1−ᾱ) = {math.sqrt(1 - abar):.3f}" in cap
    assert f"**{v.noise_std_closed:.3f}**" in cap and f"after 300 single steps (eq. 2): **{v.noise_std_stepwise:.3f}**" in cap
    assert abs(v.noise_std_closed - math.sqrt(1 - abar)) < 0.1                   # the picture's noise is the theory's
    snr = s.snr.numpy()
    t1 = V.t_where_snr_crosses(kind)
    assert snr[t1 - 1] >= 1 >= snr[t1] or snr[t1] >= 1 >= snr[t1 + 1]             # where it crosses 1


def test_the_live_intro_quotes_the_trainers_snapshot_settings():
    steps = inspect.signature(make_trainer).parameters["snapshot_steps"].default
    txt = C.live_intro()
    assert f"DDIM, {steps} steps" in txt
    assert f"w = {SPECS['digits'].eval_guidance:g} for digits, {SPECS['food_shapes'].eval_guidance:g} for food" in txt
    window = inspect.signature(bucket_losses).parameters["last"].default
    assert C.BUCKETS_TITLE.endswith(f"(last {window} steps)")


def test_the_sweep_label_is_the_sweep():
    assert C.SWEEP_LABEL == "Sweep the guidance scale (w = 0, 1, 2, 4)" and C.SWEEP_WS == (0.0, 1.0, 2.0, 4.0)


def test_quality_words():
    assert C.recognised_help(10, 0.873) .startswith("Chance: 10%.") and "says 87%" in C.recognised_help(10, 0.873)
    assert C.measure_label(100, 4.0) == "Measure now: 100 samples at w = 4 (the guidance slider above)"
    assert C.per_class_title(2.5, 80) == "recognised per requested class (w = 2.5, 80 samples; dotted: chance)"
    assert "**digits_cnn**" in C.quality_intro("digits_cnn")
    assert "3x32x32" in C.wrong_size(3, 32) and C.wrong_size(1, 8).startswith("This U-Net makes 1x8x8 images")


def test_source_image_and_class_names():
    from dlviz.data import FOOD_CLASSES, digits

    assert V.class_names("food_shapes") == list(FOOD_CLASSES) and V.class_names("digits") == list("0123456789")
    d = digits("all", size=32)
    assert len(d) == 1797 and torch.equal(V.source_image("digit", "", 5), d.images[5])
    x = V.source_image("food", FOOD_CLASSES[0], 3)
    assert x.shape == (3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_the_forward_row_shows_the_clean_image_and_each_schedule():
    img = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    views = {k: V.forward_view(img, 100, k) for k in SCHEDULES}
    fig = P.forward_row_figure(img, views, "x", 100, 2)
    texts = [a.text for a in fig.layout.annotations]
    assert "x_0 (clean)" in texts and all(f"x_100, {k}" in texts for k in SCHEDULES)
    assert fig.layout.title.text.startswith("x at t = 100")
    assert np.isfinite(views["linear"].alpha_bar)


def test_how_long_note_says_what_was_measured_and_nothing_when_unmeasured():
    from dlviz.ddpm.captions import readable_note

    hit = {"digits": {"threshold": 0.7, "limit_s": 240, "reached": True, "step": 700, "seconds": 61.4,
                      "recognised": 0.8, "machine": "2 cores, load average 1.0 at the end", "measured": "2026-12-03"}}
    note = readable_note(hit, "digits", {"wall_time_s": 2438.0, "train_cpu_time_s": 186.0, "steps": 3000,
                                         "metrics": {"sample_acc": 0.995}})
    assert "recognised at ≥ 70% (one per class) at step 700, after **61 s**" in note
    assert "measured on 2 cores, 2026-12-03" in note
    assert "The shipped digits model trained 3,000 steps in 3 CPU-minutes to reach 99.5%." in note
    miss = {"food_shapes": {**hit["digits"], "reached": False, "step": 400, "seconds": 290.0, "recognised": 0.3,
                            "limit_s": 300}}
    note = readable_note(miss, "food_shapes")
    assert "did **not** reach 70% recognised within 300 s: the best was 30% at step 400 (290 s;" in note
    assert readable_note(hit, "food_shapes") == "" and readable_note({}, "digits") == ""


def test_the_measured_time_to_readable_file_is_consistent():
    from dlviz.ddpm.captions import load_readable

    measured = load_readable()
    if not measured:
        pytest.skip("benchmarks/ddpm_time_to_readable.py has not written its file")
    for row in measured.values():
        assert row["reached"] == (row["recognised"] >= row["threshold"])   # reached: at or above; else below
        assert row["seconds"] <= row["limit_s"] + 30 and row["step"] >= 0
