"""Divergence on every trainable page (issue 15): the largest learning rate the page offers ends in a message.

Each page is opened from a link that sets its learning rate to the maximum (10) and a short run, Train is
pressed, and once the run ends the page must say what happened -- diverged and rolled back, exploded, or ended at
chance -- in an st.error / st.warning / st.info, never finish silently or raise. The Trainer's own rollback to
the last good weights is tested in tests/test_train.py; here the point is that the student is told.

The GAN page has its own players' learning rates and is tested in tests/test_gans_issue15.py.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from pagetest import run_of, stop_runs
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent

# page -> (ui.hyperparameters key, ui.training_panel key, the optimiser to use: each page's worst case in issue 15)
TRAINABLE = {
    "activations_losses": ("dead", "dead", "Adam"),
    "attention": ("attn", "attn", "SGD"),
    "augmentation": ("aug", "aug", "Adam"),
    "batchnorm": ("bn", "bn", "SGD + momentum"),
    "classifier": ("clf", "clf", "Adam"),
    "convolutions": ("conv", "conv", "SGD"),
    "ddpm": ("ddpm", "ddpm", "SGD"),
    "equivariance": ("eq", "eq", "Adam"),
    "resnet_gradients": ("rg", "rg", "SGD + momentum"),
    "rnn_hidden_states": ("rnn-bracket_depth", "rnn", "Adam"),
    "seq2seq": ("s2s", "s2s", "Adam"),
    "unet": ("unet", "unet", "Adam"),
    "vae": ("vae", "vae", "SGD"),
    "vit": ("vit", "vit", "Adam"),
}
TOLD = re.compile(r"diverg|explod|non-finite|nan\b|inf\b|chance|blew up|stopped|rolled back|restor|one class|"
                  r"did not learn|no better than|learned only|learning rate (is )?too high", re.I)


def test_every_trainable_page_is_listed():
    pages = {p.stem for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_")}
    trainable = {p for p in pages if "ui.hyperparameters(" in (ROOT / "pages" / f"{p}.py").read_text()}
    assert trainable == set(TRAINABLE), f"new or removed trainable pages: {trainable ^ set(TRAINABLE)}"


@pytest.mark.parametrize("page", sorted(TRAINABLE))
def test_the_largest_learning_rate_is_reported(page):
    hp, run_key, opt = TRAINABLE[page]
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=240)
    at.query_params.update({f"{hp}-lr": "10", f"{hp}-steps": "150", f"{hp}-opt": opt})
    at.run()
    assert not at.exception, [e.value[:300] for e in at.exception]
    lr = next(w for w in at.select_slider if w.key == f"{hp}-lr")
    assert float(lr.value) == 10.0, "the link did not set the learning rate"
    at.button(key=f"{run_key}-train").click().run()
    try:
        run = run_of(at, run_key)
        assert run is not None, "Train started no run"
        t0 = time.time()
        while run.active and time.time() - t0 < 240:
            time.sleep(0.25)
        for t in run.trainers.values():
            t.join(10)
        at.run()
        assert not at.exception, [e.value[:300] for e in at.exception]
        said = [m.value for kind in ("error", "warning", "info") for m in getattr(at, kind)]
        statuses = {t.status for t in run.trainers.values()}
        assert any(TOLD.search(m) for m in said), (
            f"{page}: lr 10 with {opt} ended {statuses} and the page said nothing about it: {said}")
    finally:
        stop_runs(at, run_key)
