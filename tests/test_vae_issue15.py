"""Issue 15 on the VAE page: captions that say what the nats are (an unnormalised Bernoulli score of grey pixels; a
density that can exceed 1), the KL called the rate, the views that follow a live run, the loss warning quoting the
run's own first loss, an image folder with odd file names saying what it skipped, a 1-D latent, and links."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from pagetest import errors, stop_runs
from streamlit.testing.v1 import AppTest

from dlviz.vae import views
from dlviz.vae.training import folder_note, image_folder_any, loss_health

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "vae.py")


def _app(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    for k, v in state.items():
        at.query_params[k] = v
    at.run()
    assert not errors(at), errors(at)
    return at


def _radio(at):
    return next(r for r in at.sidebar.radio if r.key == "vae-src")


# ---------------------------------------------------------------- what the nats are
def test_the_bernoulli_floor_is_the_pixels_entropy():
    assert views.bernoulli_floor(torch.randint(0, 2, (5, 1, 4, 4)).float()) == 0.0        # binary: no floor
    assert views.bernoulli_floor(torch.full((3, 1, 4, 4), 0.5)) == pytest.approx(16 * math.log(2))
    from dlviz.checkpoints import load_shipped
    from dlviz.vae import evaluate, load_data

    model, _ = load_shipped("vae_digits2", expected_arch="conv_vae")
    test = load_data("digits", "test")
    ev = evaluate(model, test.images, generator=torch.Generator().manual_seed(0))
    floor = views.bernoulli_floor(test.images)
    # a cross-entropy is never below the entropy: no Bernoulli decoder reconstructs above -floor, image by image
    x = test.images.double().clamp(0, 1).flatten(1)
    per_image = -(torch.special.xlogy(x, x) + torch.special.xlogy(1 - x, 1 - x)).sum(1)
    assert (ev.terms.recon.double() <= -per_image + 1e-3).all()
    assert 80 < floor < -float(ev.terms.elbo.mean())                     # most of the ~100 nats are the floor


def test_the_captions_say_what_the_nats_are():
    at = _app()
    metrics = {m.label: m for m in at.metric}
    elbo = float(metrics["Test ELBO"].value.split()[0])
    from dlviz.vae import load_data

    floor = views.bernoulli_floor(load_data("digits", "test").images)
    cap = next(c.value for c in at.caption if c.value.startswith("**What these nats are.**"))
    assert "unnormalised" in cap and f"−{floor:.1f} nats" in cap and f"{elbo:.1f} nats" in cap
    assert "upper bound" in metrics["KL to the prior"].help and "information the code carries" not in \
        metrics["KL to the prior"].help
    assert any("upper bound on the information I(x; z)" in c.value for c in at.caption)    # rate-distortion
    _radio(at).set_value("vae_hotdog32").run()
    assert not errors(at), errors(at)
    elbo = float(next(m for m in at.metric if m.label == "Test ELBO").value.split()[0])
    cap = next(c.value for c in at.caption if c.value.startswith("**What these nats are.**"))
    assert elbo > 0 and "density can exceed 1" in cap
    assert f"{elbo:+.0f} nats per image = {elbo / 3072:+.2f} nats per pixel value (3,072 values)" in cap


# ---------------------------------------------------------------- a live run: followed, warned about in its own numbers
def test_views_follow_a_live_run_at_most_every_few_seconds():
    shown = ("live:β=1", 3, 100.0, 0.4)
    assert views.should_follow(shown, 439, 106.0, True)                    # step 3 shown, run at 439: redraw
    assert not views.should_follow(shown, 439, 102.0, True)                # but not more than every 5 s
    assert not views.should_follow(("live:β=1", 3, 100.0, 2.0), 439, 110.0, True)   # nor above 10x their cost
    assert not views.should_follow(shown, 3, 200.0, True)                  # nothing new
    assert not views.should_follow(shown, 439, 200.0, False)               # the run ended: the final rerun did it
    assert not views.should_follow(("vae_digits2", 0, 100.0, 0.4), 439, 200.0, True)   # a shipped model


def test_the_loss_warning_quotes_the_first_recorded_loss():
    losses = [178.0] + [4.4e20] * 30
    msg = loss_health(losses)
    assert msg and "178 at the first recorded step" in msg and "4.4e+20 now" in msg


# ---------------------------------------------------------------- an image folder with odd names
@pytest.fixture()
def odd_folder(tmp_path):
    from PIL import Image

    root = os.fsencode(tmp_path)
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)).save(
            os.fsdecode(root + b"/img\xff\xfe%d.png" % i))
    with open(os.fsdecode(root + b"/broken\xe9.png"), "wb") as f:
        f.write(b"not a png")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_a_folder_says_what_it_skipped_and_which_names_are_odd(odd_folder):
    data = image_folder_any(odd_folder, split="train")
    meta = data.meta
    assert meta["loaded"] == 12 and meta["skipped"] == 1 and meta["ignored"] == 1 and meta["odd_names"] == 13
    note = folder_note(meta)
    assert "1 file(s) skipped as unreadable: broken\\xe9.png" in note and "1 file(s) ignored" in note
    assert "13 file name(s) are not valid UTF-8" in note
    note.encode("utf-8")                                                   # showable: no lone surrogates


def test_the_page_shows_the_folder_note_and_trains(odd_folder):
    at = _app()
    at.sidebar.selectbox(key="vae-data").set_value("folder").run()
    at.sidebar.text_input(key="vae-folder").input(str(odd_folder)).run()
    assert not errors(at), errors(at)
    cap = " ".join(c.value for c in at.sidebar.caption)
    assert "12 images in 1 class(es)" in cap and "broken\\xe9.png" in cap
    at.sidebar.number_input(key="vae-steps").set_value(20).run()
    at.sidebar.button(key="vae-train").click().run()
    try:
        assert not at.exception, [e.value for e in at.exception]
    finally:
        stop_runs(at, "vae")


# ---------------------------------------------------------------- a 1-D latent
def test_a_one_dimensional_latent_is_explored_without_index_errors():
    at = _app()
    at.sidebar.select_slider(key="vae-latent").set_value(1)
    at.sidebar.number_input(key="vae-steps").set_value(30).run()
    at.sidebar.button(key="vae-train").click().run()
    try:
        for _ in range(240):
            at.run()
            run = at.session_state["dlviz-run-vae"] if "dlviz-run-vae" in at.session_state else None
            if run is not None and not run.active:
                break
            time.sleep(0.5)
        at.run()
        assert not errors(at), errors(at)
        assert _radio(at).value.startswith("live:")
        assert any("The 1-D latent itself" in c.value for c in at.caption)
        assert any("A 1-D latent: each image decodes z0" in c.value for c in at.caption)
        assert [s.key for s in at.slider if s.key.startswith("vae-z")] == ["vae-z0"]
        at.slider(key="vae-z0").set_value(-4.0).run()
        assert not errors(at), errors(at)
    finally:
        stop_runs(at, "vae")


def test_the_one_dimensional_views_directly():
    from dlviz.models import build_model

    torch.manual_seed(0)
    model = build_model("conv_vae", in_channels=1, image_size=16, latent_dim=1, channels=(8, 16), hidden=16,
                        likelihood="bernoulli").eval()
    fig = views.manifold_view(model, (0,), 7, 0.9, None)
    assert fig.layout.xaxis.title.text == "z0" and len(fig.layout.xaxis.ticktext) == 7
    mu = np.array([[-1.0], [2.0]])
    frames = views.interpolation_frames(model, mu, 0, 1, 5, "spherical", scale=2)
    assert len(frames) == 8 and frames[0].shape == (32, 32, 3)            # forth and back, no repeated ends


# ---------------------------------------------------------------- links
def test_a_link_sets_endpoints_and_latent_values_and_they_stay():
    at = _app(**{"vae-A": "5", "vae-B": "7", "vae-z0": "1.5", "vae-nshow": "6"})
    assert at.number_input(key="vae-A").value == 5 and at.number_input(key="vae-B").value == 7
    assert at.slider(key="vae-z0").value == 1.5 and at.slider(key="vae-nshow").value == 6
    assert any(re.search(r"\|z\| = ", c.value) for c in at.caption)


@pytest.mark.parametrize("text,msg", [("def f(x):\n    return x\n" * 50_000, "not a folder path"),
                                      ("/tmp/a\x00b", r"/tmp/a\\x00b does not exist"),
                                      ("x" * 300, "cannot be opened as a folder"),
                                      ("/no/such/folder", "does not exist")])
def test_a_folder_box_that_is_not_a_folder_gets_a_short_message(text, msg):
    from dlviz.data import DataError

    with pytest.raises(DataError, match=msg) as e:
        image_folder_any(text)
    assert len(str(e.value)) < 300                                          # never the whole input echoed back
