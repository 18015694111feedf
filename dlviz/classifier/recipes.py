"""Shipped checkpoint for the classifier lab: a LeNet-5 stopped early on few food images.

The foundation's ``food_cnn`` classifies the validation images (almost) perfectly, which leaves nothing
to read in a confusion matrix. ``food_lenet5`` is the honest mid-coursework model: LeNet-5 (LeCun et al.
1998) after 300 steps on 1,000 images. It makes real, structured mistakes (round foods confused with each
other, hotdog with cookie), so the page opens on something worth explaining.
"""

from __future__ import annotations

from dlviz.recipes import Recipe, register_recipe

N_TRAIN, STEPS = 1000, 300


def _data():
    from dlviz.classifier.core import load_data

    return load_data("food shapes", n_train=N_TRAIN, n_val=1000, seed=0)  # the lab's default validation set


def _build():
    from dlviz.classifier.core import build_classifier

    return build_classifier("LeNet-5", num_classes=10, in_channels=3)


def _train(model, device: str) -> dict:
    import time

    from dlviz.classifier.core import Setup
    from dlviz.classifier.training import make_trainer

    setup = Setup(arch="LeNet-5", steps=STEPS, lr=3e-3, schedule="one-cycle", batch_size=64, eval_every=100)
    cpu0 = time.process_time()
    make_trainer(setup, _data(), device=device, model=model).run()
    return {"dataset": f"food_shapes({N_TRAIN}, seed=1); validation food_shapes(1000, seed=2) "
                       "(dlviz.classifier.core.load_data('food shapes', n_train=1000, seed=0))",
            "steps": STEPS, "batch_size": 64, "optimizer": "Adam, one-cycle lr up to 3e-3", "loss": "cross-entropy",
            "train_cpu_time_s": round(time.process_time() - cpu0, 1)}


def _evaluate(model) -> dict:
    from dlviz.metrics import accuracy

    val = _data().val
    return {"val_acc": accuracy(model, val.images, val.labels)}


register_recipe(Recipe(
    name="food_lenet5",
    summary="LeNet-5 after 300 steps on 1,000 food-shapes images: a mid-training model with mistakes to read",
    build=_build, train=_train, evaluate=_evaluate,
    claims={"val_acc": (">=", 0.6)}))
