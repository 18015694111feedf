"""Training plain and residual nets side by side: the only place this concept builds a :class:`dlviz.train.Trainer`.

The degradation experiment of He et al. (2016): nets that differ only in depth and in their skip connections
train from the same seed on the same batches with the same optimiser, each with a
:class:`~dlviz.resnet_gradients.core.GradNormRecorder` on its optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlviz.data import batches
from dlviz.metrics import classification_loss
from dlviz.models.deep_nets import DeepNet
from dlviz.resnet_gradients.core import GradNormRecorder, build
from dlviz.train import Trainer, make_optimizer


@dataclass
class Net:
    """One net of a side-by-side run: its trainer and its gradient recorder."""

    trainer: Trainer
    recorder: GradNormRecorder
    config: DeepNet.Config


def make_trainers(configs: dict[str, DeepNet.Config], x: torch.Tensor, y: torch.Tensor, *, lr: float,
                  steps: int, batch_size: int, optimizer: str = "SGD", weight_decay: float = 0.0,
                  seed: int = 0, eval_every: int = 25, record_every: int = 5, eval_n: int = 512,
                  device: str = "cpu") -> dict[str, Net]:
    """One Trainer per config: same init seed, same batch stream, same optimiser settings.

    Each records the minibatch loss every step, the training-set loss and accuracy (on the first
    ``eval_n`` training images, eval mode) every ``eval_every`` steps as ``train_loss`` / ``train_acc``,
    and per-layer gradient norms every ``record_every`` steps.
    """
    xe, ye = x[:eval_n].to(device), y[:eval_n].to(device)

    def evaluate(m: nn.Module) -> dict[str, float]:
        loss, scalars = classification_loss(m, (xe, ye))
        return {"train_loss": float(loss), "train_acc": scalars["acc"]}

    nets = {}
    for name, cfg in configs.items():
        model = build(cfg, seed).to(device)
        opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)
        rec = GradNormRecorder(model, opt, record_every)
        tr = Trainer(model, loss_fn=classification_loss, optimizer=opt, steps=steps, device=device,
                     batches=batches(x, y, batch_size=batch_size, seed=seed), eval_fn=evaluate,
                     eval_every=eval_every, name=name)
        nets[name] = Net(tr, rec, cfg)
    return nets
