"""Training the Convolutions page's CNNs: the only place this concept builds a :class:`dlviz.train.Trainer`.

The digits CNN (SmallCNN, 8 then 16 filters of 3x3, on the 8x8 digits upsampled to 16x16) is trained here
both for the shipped checkpoint (``recipes.py``) and live on the page; so is the shared food-shapes
classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlviz.data import batches, digits
from dlviz.metrics import accuracy, classification_loss
from dlviz.models import build_model
from dlviz.train import ExplosionWatch, Trainer, make_optimizer

DIGITS_SIZE = 16
DIGITS_DATASET = "digits (train split, seed 0, 16x16)"


def digits_cnn_config() -> dict:
    return dict(in_channels=1, image_size=DIGITS_SIZE, num_classes=10, channels=(8, 16), kernel_size=3)


def food_cnn_config() -> dict:
    return dict(in_channels=3, image_size=32, num_classes=10, channels=(16, 32, 64), kernel_size=3,
                batchnorm=True, head="gap")


@dataclass
class DigitsData:
    xtr: torch.Tensor      # (N, 1, 16, 16)
    ytr: torch.Tensor      # (N,)
    xte: torch.Tensor
    yte: torch.Tensor


def digits_data() -> DigitsData:
    """The digits train and test splits at 16x16 (seed 0), as the shipped CNN saw them."""
    tr = digits("train", seed=0, size=DIGITS_SIZE)
    te = digits("test", seed=0, size=DIGITS_SIZE)
    return DigitsData(tr.images, tr.labels, te.images, te.labels)


def digits_trainer(model: nn.Module, data: DigitsData, *, steps: int = 600, lr: float = 3e-3, batch_size: int = 64,
                   optimizer: str = "Adam", weight_decay: float = 0.0, seed: int = 0, eval_every: int = 0,
                   snapshot_fn=None, snapshot_every: int = 0, device: str | None = None,
                   name: str = "digits") -> Trainer:
    """Cross-entropy training of ``model`` on the digits; with ``eval_every``, the test accuracy is recorded."""
    eval_fn = (lambda m: {"test_acc": accuracy(m, data.xte, data.yte)}) if eval_every else None
    trainer = Trainer(model, loss_fn=classification_loss,
                      optimizer=make_optimizer(optimizer, model.parameters(), lr, weight_decay),
                      batches=batches(data.xtr, data.ytr, batch_size=batch_size, seed=seed), steps=steps,
                      eval_fn=eval_fn, eval_every=eval_every, snapshot_fn=snapshot_fn, snapshot_every=snapshot_every,
                      device=device, name=name)
    # Explosion is judged against the *first* loss (ln 10 ~ 2.3 for a fresh net), not the mean of the first ten:
    # at a high learning rate the loss jumps 10^5-fold on step 2, and a mean that includes the jump never trips.
    trainer._watch = ExplosionWatch(trainer.explode_factor, trainer.explode_window, early=1)
    return trainer


def new_digits_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("small_cnn", digits_cnn_config())


def train_food_cnn(model: nn.Module, device: str, steps: int = 1500) -> None:
    """The shared food classifier: Adam with a one-cycle schedule up to 3e-3 on food_shapes(8000, seed=100)."""
    from dlviz.data import food_shapes

    train = food_shapes(8000, seed=100)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    Trainer(model, loss_fn=classification_loss, optimizer=opt, scheduler=sched,
            batches=batches(train.images, train.labels, batch_size=64, seed=0), steps=steps, device=device).run()
