"""The default live run of each trainable page, built outside the app (the "CLI" side of issue 16).

Each builder makes the Trainer the page's Train button makes with its default controls, so
``benchmarks/browser_live.py`` can compare the in-app steps/s with the same run in a plain process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def ddpm_digits():
    """pages/ddpm.py: digits, width 16, cosine schedule, 2000 steps of 32, lr 2e-3, samples every 100."""
    from dlviz.checkpoints import load_shipped
    from dlviz.ddpm.training import DIGITS, make_trainer, training_data
    from dlviz.metrics import CLASSIFIERS, classify
    from dlviz.models import build_model

    data = training_data(DIGITS)
    torch.manual_seed(0)
    model = build_model("unet", {**DIGITS.config, "base_channels": 16, "schedule": "cosine", "half_storage": False})
    score = load_shipped(CLASSIFIERS["digits"], expected_arch="small_cnn")[0]
    trainer, _ = make_trainer(model, data, steps=2000, lr=2e-3, batch_size=32, snapshot_every=100, seed=0,
                              snapshot_guidance=DIGITS.eval_guidance,
                              score_fn=lambda x, y: float((classify(score, x)[1] == y.numpy()).mean()))
    return trainer


def classifier():
    """pages/classifier.py: food shapes (4000), SmallCNN, Adam 3e-3 one-cycle, 800 steps of 64."""
    from dlviz.classifier import core as clf
    from dlviz.classifier.training import make_trainer

    data = clf.load_data("food shapes", n_train=4000, n_val=1000, seed=0, folder="", val_fraction=0.2)
    setup = clf.Setup(steps=800, eval_every=40)
    return make_trainer(setup, data, name=setup.arch)


def convolutions():
    """pages/convolutions.py: the digits CNN, Adam 3e-3, 600 steps of 64, filters every 25, test every 100."""
    from dlviz.convolutions import core as conv
    from dlviz.convolutions.training import digits_data, digits_trainer, new_digits_cnn

    return digits_trainer(new_digits_cnn(0), digits_data(), steps=600, lr=3e-3, batch_size=64, eval_every=100,
                          snapshot_fn=lambda m, step: conv.first_layer_filters(m), snapshot_every=25)


SETUPS: dict[str, Callable] = {"ddpm": ddpm_digits, "classifier": classifier, "convolutions": convolutions}


def outside_rate(name: str, seconds: float = 20.0, threads: int | None = None) -> dict:
    """Steps/s of the page's default run in this process, training in a background thread as the app
    does (so the only difference to the app is the app itself). Snapshots/evaluations included."""
    if threads:
        torch.set_num_threads(threads)
    trainer = SETUPS[name]()
    trainer.start()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds and trainer.alive:
        time.sleep(0.2)
    trainer.stop()
    p = trainer.progress()
    return {"page": name, "steps": p.step, "seconds": round(p.elapsed_s, 2),
            "steps_per_s": round(p.step / p.elapsed_s, 2) if p.elapsed_s else 0.0, "status": p.status,
            "live_view_s": round(getattr(trainer, "live_view_seconds", 0.0), 2)}


if __name__ == "__main__":
    import sys

    for n in sys.argv[1:] or list(SETUPS):
        print(outside_rate(n, threads=None))
