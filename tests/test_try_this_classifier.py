"""The classifier page's "try this" prompts (issue 15), each set as the student would -- through the URL, since every
control is bound -- then Train pressed and every promised outcome read off the page.

6 prompts, 4 promises (all tested), 5 questions (prompts 4 and 5 promise, then ask):

1. "Train LeNet-5 with the sigmoid activation and plain SGD: how long until validation accuracy moves? Now switch
   to ReLU." -- question.
2. "Use only 250 training images and watch the dashed (train) and solid (validation) curves part; then add Random
   resized crop and Horizontal flip and train again." -- promise (the curves part):
   :func:`test_250_images_the_train_and_validation_curves_part`; the second half is a question.
3. "Compare ResNet-14 and Plain-14 ... at learning rate 0.01." -- question.
4. "Set the learning rate to 10 with Adam: the loss never turns infinite, yet the run ends at chance (10% on the food
   shapes) and the page says so. Then 3 with plain SGD: BatchNorm and the one-cycle warm-up keep the default CNN
   training. How close does it come to the default run's validation accuracy?" -- two promises:
   :func:`test_learning_rate_10_with_adam_ends_at_chance_with_a_finite_loss_and_says_so` and
   :func:`test_learning_rate_3_with_sgd_keeps_training`; then a question. It used to end "(99.7 % validation
   accuracy at the default 800 steps and seed)": a measurement typed into the prompt, now the question.
5. "Train with label smoothing 0.3: the accuracy barely changes, but what happens to the confidence of the
   mistakes?" -- promise, then a question: :func:`test_label_smoothing_0_3_barely_changes_the_accuracy`.
6. "Open the UMAP: are the misclassified crosses between two clusters, or deep inside the wrong one?" -- question.

Every run here is 300 steps instead of the default 800 (the promises do not depend on the length; at 800 steps each
run takes minutes on two cores), on the default food shapes and seed; all are marked slow.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from pagetest import errors, run_of, stop_runs
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "classifier.py")
STEPS = "300"
_done: dict[tuple, tuple] = {}

pytestmark = pytest.mark.slow


def _trained(**params) -> tuple[AppTest, object]:
    """The page opened from a link, Train pressed, the run waited for, the page drawn again (once per setting)."""
    key = tuple(sorted(params.items()))
    if key in _done:
        return _done[key]
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params.update({"clf-steps": STEPS, **params})
    at.run()
    assert not errors(at), errors(at)
    for k, v in params.items():                                   # the link really set what the prompt asks for
        assert k not in at.query_params or at.query_params[k] == v, (k, v)
    at.button(key="clf-train").click().run()
    run = run_of(at, "clf")
    assert run is not None, "Train started no run"
    t0 = time.time()
    while run.active and time.time() - t0 < 900:
        time.sleep(0.5)
    for t in run.trainers.values():
        t.join(30)
    at.run()
    assert not at.exception, [e.value[:300] for e in at.exception]
    stop_runs(at, "clf")
    _done[key] = (at, run)
    return at, run


def _accuracy(at: AppTest) -> float:
    return float(next(m.value for m in at.metric if m.label == "Validation accuracy").rstrip("%")) / 100


def _said(at: AppTest) -> list[str]:
    return [w.value for w in at.warning] + [e.value for e in at.error]


def _gap(run) -> tuple[float, float]:
    hist = run.trainer.history()
    return hist["train_acc"][1][-1], hist["val_acc"][1][-1]


def test_250_images_the_train_and_validation_curves_part():
    """With 250 images the training accuracy reaches 100 % and validation stays clearly below (measured: 1.00 vs
    0.92 at 300 steps); with the default 4,000 the two stay together."""
    small, full = _gap(_trained(**{"clf-n": "250"})[1]), _gap(_trained()[1])
    assert small[0] > 0.99 and small[0] - small[1] > 0.05, small
    assert small[0] - small[1] > (full[0] - full[1]) + 0.03, (small, full)


def test_learning_rate_10_with_adam_ends_at_chance_with_a_finite_loss_and_says_so():
    at, run = _trained(**{"clf-lr": "10", "clf-opt": "Adam"})
    _, losses = run.trainer.history("loss")
    assert losses and all(math.isfinite(v) for v in losses), "the loss turned infinite"
    from dlviz.data import FOOD_CLASSES

    assert abs(_accuracy(at) - 1 / len(FOOD_CLASSES)) < 0.05, _accuracy(at)
    assert any("chance" in m for m in _said(at)), _said(at)


def test_learning_rate_3_with_sgd_keeps_training():
    at, _ = _trained(**{"clf-lr": "3", "clf-opt": "SGD"})
    assert _accuracy(at) > 0.8, _accuracy(at)
    assert not any("went wrong" in m for m in _said(at)), _said(at)


def test_label_smoothing_0_3_barely_changes_the_accuracy():
    plain, _ = _trained()
    smooth, _ = _trained(**{"clf-loss": "label smoothing", "clf-eps": "0.3"})
    assert abs(_accuracy(plain) - _accuracy(smooth)) < 0.03, (_accuracy(plain), _accuracy(smooth))
