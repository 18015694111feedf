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


def same_start_trainer(cfg: DeepNet.Config, x: torch.Tensor, y: torch.Tensor, *, seed: int, optimizer: str,
                       lr: float, weight_decay: float, steps: int, batch_size: int, device: str, name: str,
                       snapshot_of=None, **trainer_kw) -> tuple[Trainer, torch.optim.Optimizer]:
    """A fresh ``build(cfg, seed)`` net and its cross-entropy Trainer on the seed's batch stream of ``(x, y)``:
    nets built with the same seed share their initial weights and batches (the side-by-side runs here and on
    the BatchNorm page). ``snapshot_of(optimizer)`` makes the snapshot_fn when it needs the optimiser. Returns the
    optimiser too, for recorders that need it."""
    model = build(cfg, seed).to(device)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    if snapshot_of is not None:
        trainer_kw["snapshot_fn"] = snapshot_of(opt)
    tr = Trainer(model, loss_fn=classification_loss, optimizer=opt, steps=steps, device=device, name=name,
                 batches=batches(x, y, batch_size=batch_size, seed=seed), **trainer_kw)
    return tr, opt


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
        tr, opt = same_start_trainer(cfg, x, y, seed=seed, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                                     steps=steps, batch_size=batch_size, device=device, name=name,
                                     eval_fn=evaluate, eval_every=eval_every)
        nets[name] = Net(tr, GradNormRecorder(tr.model, opt, record_every), cfg)
    return nets
