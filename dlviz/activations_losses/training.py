"""Training for the dead-ReLU experiment: the one place this concept builds a :class:`dlviz.train.Trainer`.

The shipped ``mlp_relu_lr_ok`` / ``mlp_relu_lr_high`` recipes and the Activations and losses page both
train through :func:`make_trainer`, so they run exactly the same experiment.
"""

from __future__ import annotations

import torch

from dlviz.activations_losses.core import dead_fraction, relu_activity
from dlviz.data import batches, digits
from dlviz.metrics import accuracy, classification_loss
from dlviz.models import build_model
from dlviz.runtime import seed_everything
from dlviz.train import Trainer, make_optimizer

STEPS = 600


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
