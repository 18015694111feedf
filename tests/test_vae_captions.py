"""What moved off the VAE page into dlviz.vae.captions and dlviz.vae.state (issue 15: pages under ~400 lines):
each caption says the numbers it was given, recomputed here independently; the session bookkeeping does what
the page relied on, on a plain dict."""

from __future__ import annotations

import inspect
import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dlviz.vae import captions as C
from dlviz.vae import state as S
from dlviz.vae import views
from dlviz.vae.core import prior_log_prob
from dlviz.vae.training import EVAL_N, SWEEP_BETAS, make_trainer


def _nums(text: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(r"[-+]?\d[\d,]*\.?\d*", text)]


def test_midpoint_caption_says_both_norms_and_root_d():
    cap = C.midpoint_caption({"linear": 2.3456, "spherical": 3.9012}, 16)
    assert "linear 2.35" in cap and "spherical 3.90" in cap and "√16 = 4.00" in cap


@pytest.mark.parametrize("d", [2, 16, 64])
def test_code_caption_norm_and_log_prior_are_the_codes(d):
    z = torch.randn(d, generator=torch.Generator().manual_seed(d))
    lp = prior_log_prob(z)
    expected = -0.5 * float((z ** 2).sum()) - 0.5 * d * math.log(2 * math.pi)       # log N(z; 0, I) by hand
    assert abs(lp - expected) < 1e-4
    cap = C.code_caption(float(z.norm()), d, lp, 12.4)
    assert f"|z| = {float(z.norm()):.2f}" in cap and f"typical: {math.sqrt(d):.2f}" in cap
    assert f"log p(z) = {expected:.1f} nats" in cap and "12 ms" in cap


def test_folder_caption_counts_add_up():
    cap = C.folder_caption(1234, 56, 3, "")
    assert _nums(cap)[:4] == [1290, 3, 1234, 56] and "Left out" not in cap
    assert C.folder_caption(1, 1, 1, "2 files that are not images").endswith("**Left out:** 2 files that are not images.")


def test_folder_summary_counts_the_images_of_a_real_folder(tmp_path):
    from PIL import Image

    for i in range(25):
        Image.fromarray(np.full((8, 8, 3), 10 * i, np.uint8)).save(tmp_path / f"im{i:02d}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    from dlviz.vae.training import load_data

    cap = C.folder_summary(str(tmp_path), lambda k, s, r, f: load_data(k, s, folder=f))
    n_train, n_test = len(load_data("folder", "train", folder=tmp_path)), len(load_data("folder", "test", folder=tmp_path))
    assert n_train + n_test == 25
    assert cap.startswith(f"25 images in 1 class(es): {n_train:,} to train on, {n_test:,} held out.")
    assert C.folder_summary("   ", None) is None
    assert C.folder_summary(str(tmp_path / "missing"), lambda k, s, r, f: load_data(k, s, folder=f)) is None


def test_the_sweep_label_lists_the_betas_the_sweep_trains():
    assert [float(x) for x in re.search(r"β = ([\d., ]+)\)", C.SWEEP_LABEL).group(1).split(",")] == list(SWEEP_BETAS)
    assert len(SWEEP_BETAS) == 4 and "four runs" in C.SWEEP_LABEL


def test_the_rate_distortion_caption_names_the_images_a_live_run_is_scored_on():
    assert f"their points use {EVAL_N} test images" in C.RATE_DISTORTION
    assert inspect.signature(make_trainer).parameters["eval_n"].default == EVAL_N


def test_iwae_caption_warns_about_grey_pixels_for_bernoulli_only():
    assert "unnormalised" in C.iwae_caption("bernoulli") and "unnormalised" not in C.iwae_caption("gaussian")


def test_nats_caption_quotes_the_independently_computed_floor():
    x = torch.rand(7, 1, 4, 4, generator=torch.Generator().manual_seed(0)).double()
    floor = float((-(x * x.log() + (1 - x) * (1 - x).log())).flatten(1).sum(1).mean())   # the pixels' entropy
    model = SimpleNamespace(config=SimpleNamespace(likelihood="bernoulli"))
    assert f"−{floor:.1f} nats per image" in C.nats_caption(model, x.float(), -123.45)
    g = SimpleNamespace(config=SimpleNamespace(likelihood="gaussian"), sigma=torch.tensor(0.0421))
    cap = C.nats_caption(g, torch.zeros(3, 3, 4, 4), 96.0)
    assert "σ = 0.042" in cap and "+96 nats per image = +2.00 nats per pixel value (48 values)" in cap


def test_this_model_point_and_recon_rows_are_the_analysis_means():
    rng = np.random.default_rng(0)
    A = {"kl": rng.random(5), "recon": -rng.random(5) * 100, "elbo": rng.random(5)}
    p = C.this_model_point(A, 16)
    assert p["kl"] == pytest.approx(A["kl"].sum() / 5) and p["recon"] == pytest.approx(-A["recon"].sum() / 5)
    assert "16-D" in p["name"]
    rows = C.recon_rows(A, [3, 1], torch.tensor([0, 1, 0, 1, 0]), ["a", "b"])
    assert [(r["image"], r["class"], r["kl_nats"]) for r in rows] == [(3, "b", A["kl"][3]), (1, "b", A["kl"][1])]


def test_slider_and_manifold_words():
    assert C.slider_label(3, 0.004, False) == "z3 · KL 0.00 · collapsed" and C.slider_label(0, 1.234, True) == "z0 · KL 1.23"
    assert C.sliders_caption(8, 64).startswith("Sliders for the 8 dimensions with the most KL; the other 56 keep")
    assert "z2 = its column value and z5 = its row value" in C.manifold_caption(2, 5)
    assert "A 1-D latent" in C.manifold_caption(0, None)


def test_umap_status_says_why_pca_is_shown():
    job = SimpleNamespace(error=None)
    assert C.umap_status(2, "UMAP", "identity", False, job) is None           # a 2-D latent is its own map
    assert C.umap_status(16, "PCA", "pca", False, job) is None
    assert C.umap_status(16, "UMAP", "umap", False, job) is None
    assert C.umap_status(16, "UMAP", "pca", True, None)[0] == "info"
    assert C.umap_status(16, "UMAP", "pca", False, job) == ("wait", "")
    assert C.umap_status(16, "UMAP", "pca", False, SimpleNamespace(error="boom")) == ("warning", "boom -- showing PCA.")


# ---------------------------------------------------------------- the session bookkeeping
def test_a_new_run_is_explored_once_and_a_stale_source_forgotten():
    st = {"vae-src": "vae_digits2"}
    sources = ["vae_digits2", "live:β=1"]
    S.follow_new_run(st, "vae", sources, 1, run_id=7)
    assert st["vae-src"] == "live:β=1" and st["vae-seen-run"] == 7
    st["vae-src"] = "vae_digits2"                                              # the student goes back
    S.follow_new_run(st, "vae", sources, 1, run_id=7)
    assert st["vae-src"] == "vae_digits2"                                      # the same run does not pull again
    st["vae-src"] = "live:gone"
    S.follow_new_run(st, "vae", sources, 0, run_id=None)
    assert "vae-src" not in st


def test_set_code_keeps_a_linked_slider_value():
    st, link = {}, {"vae-z1": "2.5"}
    z = torch.tensor([0.123, -1.0, 9.0])
    S.set_code(st, "vae", "base", [0, 1, 2], z, link)
    assert torch.equal(st["base"], z) and "vae-z1" not in st
    assert st["vae-z0"] == pytest.approx(0.10) and st["vae-z2"] == 4.0            # rounded to 0.05, clipped to 4
    S.set_code(st, "vae", "base", [0, 1, 2], z)                                 # a button press: every slider moves
    assert st["vae-z1"] == -1.0


def test_a_click_sets_the_target_endpoint_once():
    st = {"vae-target": "B"}
    ev = {"selection": {"points": [{"customdata": 42}]}}
    S.pick_from_map(st, "vae", "ck", ev)
    assert st["vae-B"] == 42
    st["vae-B"] = 5                                                            # typed in afterwards
    S.pick_from_map(st, "vae", "ck", ev)                                       # the same click on a rerun
    assert st["vae-B"] == 5
    S.pick_from_map(st, "vae", "ck", None)
    assert st["vae-B"] == 5


def test_held_builds_only_when_the_signature_changes():
    st, calls = {}, []
    build = lambda: calls.append(1) or len(calls)                              # noqa: E731
    assert S.held(st, "k", ("a", 1), build) == 1 and S.held(st, "k", ("a", 1), build) == 1
    assert S.held(st, "k", ("b", 1), build) == 2 and len(calls) == 2


def test_snapshot_due():
    snap = (1, 100.0, 50)
    assert S.snapshot_due(None, 1, 50, 0.0, True)
    assert S.snapshot_due(snap, 2, 50, 100.5, True)                            # another trainer
    assert not S.snapshot_due(snap, 1, 60, 101.0, True)                        # new step, too soon
    assert S.snapshot_due(snap, 1, 60, 102.5, True) and S.snapshot_due(snap, 1, 60, 100.1, False)
    assert not S.snapshot_due(snap, 1, 50, 200.0, False)                       # nothing new
    out, cost = S.timed(lambda a, b: a + b, 2, 3)
    assert out == 5 and 0 <= cost < 1
    slow = (1, 100.0, 50, None, None, 0.5)                                     # a snapshot that took 0.5 s
    assert not S.snapshot_due(slow, 1, 60, 104.0, True)                        # waits 10 x 0.5 s, not 2 s
    assert S.snapshot_due(slow, 1, 60, 105.5, True) and S.snapshot_due(slow, 1, 60, 100.1, False)


def test_explore_source_shipped_and_live():
    card = {"steps": 900}
    loaded = S.explore_source("vae_digits2", {"vae_digits2": ("digits", "x")}, None, lambda s: ("M", card),
                              lambda *a: a)
    assert (loaded.model, loaded.dkey, loaded.test, loaded.step) == ("M", "digits", ("digits", "test", None, None), 900)
    tr = SimpleNamespace(step=12, model_copy=lambda: "copy")
    run = SimpleNamespace(trainers={"β=1": tr}, card={"data": ("folder", None, "/imgs")})
    live = S.explore_source("live:β=1", {}, run, None, lambda *a: a)
    assert (live.model, live.card, live.step, live.test) == ("copy", {}, 12, ("folder", "test", None, "/imgs"))
    assert live.ck.startswith(f"live-{id(tr)}-12|folder|")


def test_rd_points_take_the_shipped_sweep_only_for_digits():
    sweep = [{"beta": 1.0, "kl": 20.0, "recon": 60.0}]
    avail = {"vae_digits16": SimpleNamespace(card={"beta_sweep": sweep})}
    assert len(S.rd_points(avail, "digits", None)) == 1 and S.rd_points(avail, "food", None) == []
    assert views.rate_distortion_points(sweep, {}) == S.rd_points(avail, "digits", None)
