"""Shipped checkpoint for the Convolutions page: a SmallCNN on the digits, upsampled to 16x16."""

from __future__ import annotations

import torch

from dlviz.data import batches, digits
from dlviz.metrics import accuracy, classification_loss
from dlviz.models import build_model
from dlviz.recipes import Recipe, register_recipe
from dlviz.train import Trainer

DIGITS_SIZE = 16


def digits_cnn_config() -> dict:
    return dict(in_channels=1, image_size=DIGITS_SIZE, num_classes=10, channels=(8, 16), kernel_size=3)


def _train(model, device: str) -> dict:
    train = digits("train", seed=0, size=DIGITS_SIZE)
    steps = 600
    Trainer(model, loss_fn=classification_loss, optimizer=torch.optim.Adam(model.parameters(), 3e-3),
            batches=batches(train.images, train.labels, batch_size=64, seed=0), steps=steps, device=device).run()
    return {"dataset": "digits (train split, seed 0, 16x16)", "steps": steps, "batch_size": 64,
            "optimizer": "Adam lr=3e-3"}


def _evaluate(model) -> dict:
    test = digits("test", seed=0, size=DIGITS_SIZE)
    return {"test_acc": accuracy(model, test.images, test.labels)}


register_recipe(Recipe(
    name="digits_cnn",
    summary="SmallCNN (8, 16 channels, 3x3) on the digits at 16x16",
    build=lambda: build_model("small_cnn", digits_cnn_config()),
    train=_train, evaluate=_evaluate, claims={"test_acc": (">=", 0.95)}))


# --- food shapes: the shared food classifier (used by the classifier lab, attribution, and the DDPM's
# sample-quality score) ---------------------------------------------------------------------------

def food_cnn_config() -> dict:
    return dict(in_channels=3, image_size=32, num_classes=10, channels=(16, 32, 64), kernel_size=3,
                batchnorm=True, head="gap")


def _train_food(model, device: str) -> dict:
    from dlviz.data import food_shapes

    train = food_shapes(8000, seed=100)
    steps = 1500
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    Trainer(model, loss_fn=classification_loss, optimizer=opt, scheduler=sched,
            batches=batches(train.images, train.labels, batch_size=64, seed=0), steps=steps, device=device).run()
    return {"dataset": "food_shapes(8000, seed=100)", "steps": steps, "batch_size": 64,
            "optimizer": "Adam, one-cycle lr up to 3e-3"}


def _evaluate_food(model) -> dict:
    from dlviz.data import food_shapes

    test = food_shapes(2000, seed=999)
    return {"test_acc": accuracy(model, test.images, test.labels)}


register_recipe(Recipe(
    name="food_cnn",
    summary="SmallCNN (16, 32, 64 channels, BatchNorm, GAP head) on food shapes 32x32",
    build=lambda: build_model("small_cnn", food_cnn_config()),
    train=_train_food, evaluate=_evaluate_food, claims={"test_acc": (">=", 0.95)}))
