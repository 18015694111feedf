"""TEMPLATE recipes: how each shipped checkpoint of this concept is made (``python -m dlviz.train NAME``).

Copy and uncomment. ``evaluate`` must be deterministic and quick: a test re-measures every shipped checkpoint
against its card and its claims.
"""

from __future__ import annotations

# from dlviz.data import food_shapes
# from dlviz.metrics import accuracy
# from dlviz.models import build_model
# from dlviz.recipes import Recipe, register_recipe
# from dlviz.<concept>.training import make_trainer
#
# register_recipe(Recipe(
#     name="food_thing", summary="what it is, on what data, in one line",
#     build=lambda: build_model("small_cnn", in_channels=3, image_size=32, num_classes=10),
#     train=lambda model, device: (make_trainer(model, food_shapes(2000, seed=0), steps=500, device=device).run(),
#                                  {"dataset": "food_shapes(2000, seed=0)", "steps": 500})[1],
#     evaluate=lambda model: {"test_acc": accuracy(model, *food_shapes(500, seed=1).tensors())},
#     claims={"test_acc": (">=", 0.9)}))
