"""The VAE page's "try this" prompts (issue 15), each set as the student would -- through the URL, since every control
is bound -- and every promised outcome checked on the page.

7 prompts, 5 promises (all tested), 3 questions (prompt 6 is both: a question, then a promise):

1. "On digits · 2-D latent, open Manifold: where does a 4 turn into a 9? ... compare the linear and spherical
   paths." -- question.
2. "On a 16-D model, read the midpoint norms under the strips: the linear path dips toward the origin, the
   spherical one does not. Which midpoint is nearer √D ...?" -- promise (the dip), then a question:
   :func:`test_the_linear_midpoint_dips_toward_the_origin`, on every shipped 16-D model. It used to add "where
   the prior rarely draws", which the shipped models contradict: on the default endpoints the linear midpoint's
   |z| (5.6-6.1) is *nearer* √16 = 4 than the spherical one's (7.9), so that clause is now the question.
3. "Train with β = 8 ... how many units stay active, and what happened to the reconstructions?" -- question.
4. "Switch on the β sweep and watch four runs trace the rate–distortion curve." -- promise:
   :func:`test_the_beta_sweep_traces_a_rate_distortion_curve`.
5. "Train a 64-D VAE: most units collapse to the prior (grey bars), yet the ELBO barely changes. Why?" -- promise:
   :func:`test_a_64d_vae_collapses_most_units_and_keeps_its_elbo`.
6. "Pick hotdogs · 32-D and press Sample from the prior ...: how often is it a hotdog? Then train with learning
   rate 10 and watch the loss explode: the page tells you, though no NaN ever appears." -- question, then a
   promise: :func:`test_learning_rate_10_explodes_without_a_nan_and_the_page_says_so`.
7. "On food shapes · 32-D, open Samples and switch from the prior to the fitted mixture: how many more samples does
   the classifier read, and how far does the Fréchet distance fall?" -- promise (more, and it falls), measured:
   :func:`test_the_fitted_mixture_is_read_more_often_and_nearer_the_real_images_than_the_prior`.

Training prompts run the page's Train button on the digits with fewer steps than the default where the promise
does not depend on them (marked slow).
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest
from pagetest import errors, run_of, stop_runs
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "vae.py")


def _page(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params.update(params)
    at.run()
    assert not errors(at), errors(at)
    for k, v in params.items():                                   # the link really set what the prompt asks for
        assert k not in at.query_params or at.query_params[k] == v, (k, v)
    return at


def _trained(**params) -> tuple[AppTest, object]:
    """The page opened from a link, Train pressed, the run waited for, the page drawn again."""
    at = _page(**params)
    at.button(key="vae-train").click().run()
    run = run_of(at, "vae")
    assert run is not None, "Train started no run"
    t0 = time.time()
    while run.active and time.time() - t0 < 600:
        time.sleep(0.5)
    for t in run.trainers.values():
        t.join(30)
    at.run()
    assert not at.exception, [e.value[:300] for e in at.exception]
    return at, run


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize(("model", "label"), [("vae_digits16", "digits · 16-D latent"),
                                              ("vae_food32", "food shapes · 32-D latent"),
                                              ("vae_hotdog32", "hotdogs · 32-D latent")])
def test_the_linear_midpoint_dips_toward_the_origin(model, label):
    at = _page(**{"vae-src": label})                                          # a link carries the radio's label
    assert next(r for r in at.sidebar.radio if r.key == "vae-src").value == model
    cap = next(c.value for c in at.caption if c.value.startswith("Midpoint |z|"))
    m = re.search(r"linear ([\d.]+), spherical ([\d.]+); a typical prior sample has \|z\| ≈ √(\d+) = (\d+\.\d+)", cap)
    assert m, cap
    linear, spherical, d, typical = float(m[1]), float(m[2]), int(m[3]), float(m[4])
    dim = int(label.split("-D")[0].split()[-1])
    assert d == dim and typical == pytest.approx(math.sqrt(dim), abs=0.005)
    assert linear < spherical, cap                                            # the dip toward the origin


@pytest.mark.slow
def test_the_beta_sweep_traces_a_rate_distortion_curve():
    from dlviz.vae.training import SWEEP_BETAS

    at, run = _trained(**{"vae-sweep": "true", "vae-steps": "300"})
    try:
        assert sorted(run.trainers) == sorted(f"β={b:g}" for b in SWEEP_BETAS) and len(run.trainers) == 4
        pts = sorted((float(n.split("=")[1]), t.latest("test_kl"), t.latest("test_recon"))   # recon: −E log p(x|z)
                     for n, t in run.trainers.items())
        rates, distortions = [p[1] for p in pts], [p[2] for p in pts]
        assert all(a > b for a, b in zip(rates, rates[1:])), pts              # more β: less rate ...
        assert all(a < b for a, b in zip(distortions, distortions[1:])), pts  # ... and more distortion
        rd = [c for c in at.get("plotly_chart") if '"your runs"' in c.proto.spec]
        assert rd, "the rate-distortion plot does not show the runs"
    finally:
        stop_runs(at, "vae")


@pytest.mark.slow
def test_a_64d_vae_collapses_most_units_and_keeps_its_elbo():
    """At the page's default steps: 64-D against the same run with the default 16-D latent."""
    at64, _ = _trained(**{"vae-latent": "64"})
    at16, _ = _trained(**{"vae-latent": "16"})
    active, d = (int(x) for x in _metric(at64, "Active units").split(" / "))
    assert d == 64 and active < d / 2, active                                   # most units collapse
    e64, e16 = (float(_metric(a, "Test ELBO").split()[0]) for a in (at64, at16))
    assert abs(e64 - e16) < 0.02 * abs(e16), (e64, e16)                         # the ELBO barely changes
    kl_bars = [c for c in at64.get("plotly_chart") if "collapsed" in c.proto.spec or "KL" in c.proto.spec]
    assert kl_bars


@pytest.mark.slow
def test_learning_rate_10_explodes_without_a_nan_and_the_page_says_so():
    at, run = _trained(**{"vae-lr": "10", "vae-steps": "300"})
    try:
        steps, losses = run.trainer.history("loss")
        assert losses and all(math.isfinite(v) for v in losses), "a NaN appeared"
        said = [w.value for w in at.warning] + [e.value for e in at.error]
        assert any("exploded" in m or "too high" in m for m in said), said
    finally:
        stop_runs(at, "vae")


def _sample_caption(at: AppTest) -> tuple[float, float]:
    cap = next(c.value for c in at.caption if "samples from" in c.value and "confidence" in c.value)
    m = re.search(r"^(\d+)% of 500 samples from .*Fréchet distance to real images ([\d.]+)", cap)
    assert m, cap
    return float(m[1]), float(m[2])


def test_the_fitted_mixture_is_read_more_often_and_nearer_the_real_images_than_the_prior():
    """Prompt 7, on the shipped food VAE at the tab's defaults (seed 0), through the URL."""
    prior = _sample_caption(_page(**{"vae-src": "food shapes · 32-D latent", "vae-from": "the prior N(0, I)"}))
    mixture = _sample_caption(_page(**{"vae-src": "food shapes · 32-D latent",
                                       "vae-from": "a mixture fitted to the codes (ex-post)"}))
    assert mixture[0] > 2 * prior[0] and mixture[1] < 0.85 * prior[1], (prior, mixture)
