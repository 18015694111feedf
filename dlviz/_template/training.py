"""TEMPLATE training: the one place this concept builds a Trainer (page, recipes and benchmarks call it)."""

from __future__ import annotations

import torch
from torch import nn

from dlviz.data import ImageData, batches
from dlviz.metrics import accuracy, classification_loss
from dlviz.train import Trainer, make_optimizer


def make_trainer(model: nn.Module, data: ImageData, *, steps: int, lr: float = 1e-3, batch_size: int = 64,
                 optimizer: str = "Adam", seed: int = 0, device: str | None = None,
                 eval_every: int = 50) -> Trainer:
    """A Trainer for ``model`` on ``data``'s training images, evaluating accuracy on its test images."""
    torch.manual_seed(seed)
    x_test, y_test = data.images[-256:], data.labels[-256:]
    return Trainer(model, loss_fn=classification_loss,
                   optimizer=make_optimizer(optimizer, model.parameters(), lr),
                   batches=batches(data.images, data.labels, batch_size=batch_size, seed=seed), steps=steps,
                   eval_fn=lambda m: {"test_acc": accuracy(m, x_test, y_test)}, eval_every=eval_every,
                   device=device, name="template")
