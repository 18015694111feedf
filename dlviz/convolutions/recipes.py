"""Shipped checkpoints of the Convolutions page: a SmallCNN on the digits, upsampled to 16x16, and the shared
food-shapes classifier (used by the classifier lab, attribution, and the generative pages' sample-quality score)."""

from __future__ import annotations

from dlviz.convolutions.training import (DIGITS_DATASET, DIGITS_SIZE, digits_cnn_config, digits_trainer,
                                         food_cnn_config, train_food_cnn)
from dlviz.data import digits
from dlviz.metrics import accuracy
from dlviz.models import build_model
from dlviz.recipes import Recipe, register_recipe


def _train(model, device: str) -> dict:
    from dlviz.convolutions.training import digits_data

    steps = 600
    digits_trainer(model, digits_data(), steps=steps, lr=3e-3, batch_size=64, seed=0, device=device).run()
    return {"dataset": DIGITS_DATASET, "steps": steps, "batch_size": 64, "optimizer": "Adam lr=3e-3"}


def _evaluate(model) -> dict:
    test = digits("test", seed=0, size=DIGITS_SIZE)
    return {"test_acc": accuracy(model, test.images, test.labels)}


register_recipe(Recipe(
    name="digits_cnn",
    summary="SmallCNN (8, 16 channels, 3x3) on the digits at 16x16",
    build=lambda: build_model("small_cnn", digits_cnn_config()),
    train=_train, evaluate=_evaluate, claims={"test_acc": (">=", 0.95)}))


def _train_food(model, device: str) -> dict:
    steps = 1500
    train_food_cnn(model, device, steps)
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
