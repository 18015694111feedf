"""Shipped checkpoints for the dead-ReLU counter: the same ReLU MLP on the digits, trained with Adam at a
sensible learning rate (1e-3) and at a too-large one (0.1), which kills most of its units.

:func:`make_trainer` is also what the Activations and losses page trains live, so the page and the
shipped checkpoints run exactly the same experiment.
"""

from __future__ import annotations

import torch

from dlviz.activations_losses.core import dead_fraction, relu_activity
from dlviz.data import batches, digits
from dlviz.metrics import accuracy, classification_loss
from dlviz.models import build_model
from dlviz.recipes import Recipe, register_recipe
from dlviz.runtime import seed_everything
from dlviz.train import Trainer, make_optimizer

STEPS = 600
LR_OK, LR_HIGH = 1e-3, 0.1


def make_trainer(lr: float, optimizer: str = "Adam", activation: str = "relu", steps: int = STEPS,
                 seed: int = 0, batch_size: int = 64, probe_every: int = 10, hidden: tuple = (64, 64, 64),
                 device: str = "cpu", name: str = "run", model: torch.nn.Module | None = None) -> Trainer:
    """A Trainer for an ``act_mlp`` on the digits whose snapshots are the per-layer dead fractions.

    ``trainer.snapshots`` holds ``(step, [dead fraction of layer 1, 2, ...])`` every ``probe_every`` steps
    (measured on the whole training set); the evaluations record ``val_acc`` and ``dead``. ``model``
    replaces the freshly built (seeded) ``act_mlp``.
    """
    train, val = digits("train", seed=0), digits("test", seed=0)
    seed_everything(seed)
    if model is None:
        model = build_model("act_mlp", hidden=tuple(hidden), activation=activation)
    model = model.to(device)
    opt = make_optimizer(optimizer, model.parameters(), lr, 0.0)
    probe = train.images

    def snapshot(m, step):
        return [a.dead_fraction for a in relu_activity(m, probe)]

    def evaluate(m):
        return {"val_acc": accuracy(m, val.images, val.labels), "dead": dead_fraction(m, probe)}

    return Trainer(model, loss_fn=classification_loss, optimizer=opt,
                   batches=batches(train.images, train.labels, batch_size=batch_size, seed=seed), steps=steps,
                   eval_fn=evaluate, eval_every=max(probe_every, steps // 20), snapshot_fn=snapshot,
                   snapshot_every=probe_every, device=device, name=name)


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

