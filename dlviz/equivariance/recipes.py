"""Shipped checkpoints for the equivariance page: one model per symmetry knob, all trained on centred
digits (16 px on a 24x24 canvas, :func:`dlviz.equivariance.core.digits_canvas`) with the same data order.

Only the architecture changes between most of them, so the page can compare like with like:
circular vs zero padding, no downsampling vs stride vs max-pool vs blur-pool, GAP vs flatten, an MLP,
and -- for rotations -- a plain CNN trained with random-angle augmentation vs a p4 group CNN.
The variants and their Trainer are in :mod:`dlviz.equivariance.training`.
"""

from __future__ import annotations

from dlviz.equivariance.training import CANVAS, VARIANTS, Variant, make_trainer
from dlviz.metrics import accuracy
from dlviz.models import build_model
from dlviz.recipes import Recipe, register_recipe

def _train(v: Variant):
    def train(model, device: str) -> dict:
        make_trainer(model, rotation=v.rotation, steps=v.steps, device=device).run()
        aug = {"none": "none", "any": "random rotation in [0, 360) degrees", "rot90": "random quarter turns"}
        return {"dataset": f"digits, 16 px centred on {CANVAS}x{CANVAS} (train split, seed 0)",
                "steps": v.steps, "batch_size": 64, "optimizer": "Adam, one-cycle lr up to 3e-3",
                "augmentation": aug[v.rotation], "variant": v.label}

    return train


def _evaluate(model) -> dict:
    from dlviz.equivariance.core import Transform, accuracy_under, consistency, digits_canvas

    test = digits_canvas("test", CANVAS)
    rot = accuracy_under(model, test.images, test.labels,
                         [Transform("rotate", angle=a) for a in (90, 180, 270)])
    return {"test_acc": accuracy(model, test.images, test.labels),
            "rot90_test_acc": float(rot.mean()),
            "consistency_4px": consistency(model, test.images, 4)}


for _v in VARIANTS.values():
    register_recipe(Recipe(
        name=_v.name, summary=_v.label,
        build=(lambda v=_v: build_model(v.arch, v.config)),
        train=_train(_v), evaluate=_evaluate, claims={"test_acc": (">=", _v.min_acc)}))
