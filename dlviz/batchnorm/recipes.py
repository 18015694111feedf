"""Shipped checkpoints for the BatchNorm page: the same 4-layer MLP on the digits, with and without BN.

Both are trained on the same batches from the same initial Linear weights (seed 0), so the train/eval-mode
and the covariate-shift sections have a pair to compare on load, before anything is trained live.
"""

from __future__ import annotations

from dlviz.batchnorm.core import load_data, net_config, variant_configs
from dlviz.batchnorm.training import train_shipped
from dlviz.metrics import accuracy
from dlviz.models import build_model
from dlviz.recipes import Recipe, register_recipe

STEPS, BATCH, LR, OPTIMIZER = 800, 64, 0.05, "SGD + momentum"
SHIPPED = {"digits_mlp_bn": "BatchNorm", "digits_mlp_plain": "no norm"}


def mlp_config(variant: str):
    data = load_data("digits", seed=0)
    return variant_configs(net_config(data, kind="mlp", hidden_layers=4, width=64), [variant])[variant]


def _train(model, device: str) -> dict:
    train_shipped(model, load_data("digits", seed=0), steps=STEPS, batch_size=BATCH, lr=LR, optimizer=OPTIMIZER,
                  device=device)
    return {"dataset": "digits (train split, seed 0, 8x8)", "steps": STEPS, "batch_size": BATCH,
            "optimizer": f"{OPTIMIZER} lr={LR}"}


def _evaluate(model) -> dict:
    data = load_data("digits", seed=0)
    return {"test_acc": accuracy(model, data.x_test, data.y_test)}


for _name, _variant in SHIPPED.items():
    register_recipe(Recipe(
        name=_name,
        summary=f"4-layer MLP (64 units, ReLU, {_variant}) on the digits: the BatchNorm page's default pair",
        build=lambda v=_variant: build_model("deep_net", mlp_config(v)),
        train=_train, evaluate=_evaluate, claims={"test_acc": (">=", 0.95)}))
