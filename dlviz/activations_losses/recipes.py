"""Shipped checkpoints for the dead-ReLU counter: the same ReLU MLP on the digits, trained with Adam at a
sensible learning rate (1e-3) and at a too-large one (0.1), which kills most of its units.

They train with :func:`dlviz.activations_losses.training.make_trainer`, which is also what the Activations
and losses page trains live, so the page and the shipped checkpoints run exactly the same experiment.
"""

from __future__ import annotations

from dlviz.activations_losses.core import dead_fraction, relu_activity
from dlviz.activations_losses.training import STEPS, make_trainer
from dlviz.data import digits
from dlviz.metrics import accuracy
from dlviz.models import build_model
from dlviz.recipes import Recipe, register_recipe
from dlviz.runtime import seed_everything

LR_OK, LR_HIGH = 1e-3, 0.1


def _train_with(lr: float):
    def train(model, device: str) -> dict:
        make_trainer(lr, steps=STEPS, device=device, model=model).run()
        return {"dataset": "digits (train split, seed 0, 8x8)", "steps": STEPS, "batch_size": 64,
                "optimizer": f"Adam lr={lr:g}"}
    return train


def _evaluate(model) -> dict:
    train, test = digits("train", seed=0), digits("test", seed=0)
    return {"test_acc": accuracy(model, test.images, test.labels), "dead_fraction": dead_fraction(model, train.images),
            "dead_first_layer": relu_activity(model, train.images)[0].dead_fraction}


def _build():
    seed_everything(0)
    return build_model("act_mlp")


register_recipe(Recipe(
    name="mlp_relu_lr_ok", summary=f"ReLU MLP 64-64-64 on the digits, Adam lr={LR_OK:g} (few dead units)",
    build=_build, train=_train_with(LR_OK), evaluate=_evaluate,
    claims={"test_acc": (">=", 0.93), "dead_fraction": ("<=", 0.2)}))

register_recipe(Recipe(
    name="mlp_relu_lr_high", summary=f"ReLU MLP 64-64-64 on the digits, Adam lr={LR_HIGH:g} (most units die)",
    build=_build, train=_train_with(LR_HIGH), evaluate=_evaluate,
    claims={"dead_fraction": (">=", 0.5)}))

