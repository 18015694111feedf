"""Shipped checkpoints of the ViT page: a small ViT on the digits (16x16, 4x4 patches) and one on the
food shapes (32x32 RGB, 4x4 patches), each trained by :func:`dlviz.vit.training.make_trainer`.

    python -m dlviz.train vit_digits
    python -m dlviz.train vit_food

Besides the test accuracy each card records the spatial order of the learned position embeddings
(:mod:`dlviz.vit.core`): ``position_row_col`` (same row/column minus other pairs, Fig. 7's structure),
``position_radial`` (a code of the distance from the centre) and ``position_locality`` (similarity against
grid distance, which a ring code makes negative). On the food shapes (an 8x8 grid) both the rows/columns and
the rings are clear; on the digits (a 4x4 grid) the structure is weak (about 2 standard deviations above
shuffled patches), so only the food card claims it.
"""

from __future__ import annotations

import time

from dlviz.recipes import Recipe, register_recipe

STEPS = {"digits": 1200, "food": 1500}


def _train(key: str):
    def train(model, device: str) -> dict:
        from dlviz.vit.training import load_data, make_trainer

        c0 = time.process_time()
        make_trainer(model, load_data(key, "train"), None, steps=STEPS[key], device=device, name=f"vit_{key}").run()
        return {"dataset": f"dlviz.vit.training.load_data({key!r}, 'train'); tested on load_data({key!r}, 'test')",
                "steps": STEPS[key], "batch_size": 64,
                "optimizer": "AdamW lr 3e-3 (one-cycle), weight decay 0.05, grad clip 1",
                "augmentation": "random shifts up to 1 px (zero fill)",
                "train_cpu_time_s": round(time.process_time() - c0, 1)}

    return train


def _evaluate(key: str):
    def evaluate(model) -> dict:
        from dlviz.metrics import accuracy
        from dlviz.vit.core import position_locality, position_similarity, radial_order, row_col_contrast
        from dlviz.vit.training import load_data

        test = load_data(key, "test")
        out = {"test_acc": accuracy(model, test.images, test.labels)}
        sim = position_similarity(model)
        if sim is not None:
            out["position_locality"] = position_locality(sim)
            out["position_row_col"] = row_col_contrast(sim)     # Fig. 7's rows and columns (0: none)
            out["position_radial"] = radial_order(sim)          # a ring code: distance from the centre
        return out

    return evaluate


def _build(key: str):
    def build():
        from dlviz.vit.training import build_vit

        return build_vit(key)

    return build


register_recipe(Recipe(
    name="vit_digits",
    summary="ViT (4x4 patches, dim 32, depth 3, 4 heads, learned positions) on the digits at 16x16",
    build=_build("digits"), train=_train("digits"), evaluate=_evaluate("digits"),
    claims={"test_acc": (">=", 0.95)}))

register_recipe(Recipe(
    name="vit_food",
    summary="ViT (4x4 patches, dim 48, depth 4, 4 heads, learned positions) on the food shapes at 32x32",
    build=_build("food"), train=_train("food"), evaluate=_evaluate("food"),
    claims={"test_acc": (">=", 0.75), "position_row_col": (">=", 0.15), "position_radial": (">=", 0.5)}))
