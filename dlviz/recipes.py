"""Recipes: how each shipped checkpoint is made, so every one is reproducible with one command.

A :class:`Recipe` names a checkpoint and gives three functions: ``build()`` makes the fresh model,
``train(model, device) -> info`` trains it in place through :class:`dlviz.train.Trainer` and returns card
fields (dataset, steps, ...), and ``evaluate(model) -> metrics`` measures it deterministically on
held-out data. ``claims`` are the bounds the card promises (``{"test_acc": (">=", 0.95)}``); a test
re-evaluates every shipped checkpoint and checks both the card's metrics and its claims.

Recipes live in each concept package's ``recipes.py`` (``dlviz/<concept>/recipes.py``) and register themselves
when it is imported; :func:`all_recipes` imports them all. ``python -m dlviz.train NAME`` calls :func:`reproduce`.
"""

from __future__ import annotations

import importlib
import json
import operator
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

_RECIPES: dict[str, Recipe] = {}
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass
class Recipe:
    name: str
    summary: str
    build: Callable[[], nn.Module]
    train: Callable[[nn.Module, str], dict[str, Any]]
    evaluate: Callable[[nn.Module], dict[str, float]]
    claims: dict[str, tuple[str, float]] = field(default_factory=dict)
    seed: int = 0


def register_recipe(recipe: Recipe) -> Recipe:
    if recipe.name in _RECIPES and _RECIPES[recipe.name] is not recipe:
        raise ValueError(f"recipe {recipe.name!r} registered twice")
    _RECIPES[recipe.name] = recipe
    return recipe


def all_recipes() -> dict[str, Recipe]:
    """Every registered recipe: imports ``dlviz/<concept>/recipes.py`` of each concept package."""
    pkg_root = Path(__file__).resolve().parent
    for mod in pkgutil.iter_modules([str(pkg_root)]):
        if mod.ispkg and (pkg_root / mod.name / "recipes.py").exists():
            importlib.import_module(f"dlviz.{mod.name}.recipes")
    return dict(_RECIPES)


def get_recipe(name: str) -> Recipe:
    recipes = all_recipes()
    if name not in recipes:
        raise KeyError(f"no recipe {name!r}; known: {', '.join(sorted(recipes))}")
    return recipes[name]


def check_claims(metrics: dict[str, float], claims: dict[str, tuple[str, float]]) -> list[str]:
    """The claims that ``metrics`` break (empty when all hold)."""
    broken = []
    for k, (op, bound) in claims.items():
        if k not in metrics or not _OPS[op](metrics[k], bound):
            broken.append(f"{k} = {metrics.get(k)} is not {op} {bound}")
    return broken


def reproduce(name: str, device: str | None = None, out_dir: str | Path | None = None) -> Path:
    """Train the recipe's model from scratch and write its checkpoint and card."""
    from dlviz.checkpoints import CHECKPOINT_DIR, save_checkpoint
    from dlviz.runtime import default_device, seed_everything

    r = get_recipe(name)
    device = device or default_device()
    seed_everything(r.seed)
    model = r.build().to(device)
    t0 = time.perf_counter()
    info = r.train(model, device)
    wall = time.perf_counter() - t0
    model = model.cpu().eval()
    torch.manual_seed(0)
    metrics = {k: round(float(v), 5) for k, v in r.evaluate(model).items()}
    broken = check_claims(metrics, r.claims)
    if broken:
        # what the run measured goes with the error, so a long run that misses its claims is not lost
        raise RuntimeError(f"{name}: the trained model misses its claims: {'; '.join(broken)}. It measured "
                           f"{json.dumps(metrics)}; its training info: {json.dumps(info, default=str)}")
    card = {"summary": r.summary, "seed": r.seed, "device": str(device), "wall_time_s": round(wall, 1),
            **info, "metrics": metrics,
            "claims": {k: [op, v] for k, (op, v) in r.claims.items()},
            "reproduce": f"python -m dlviz.train {name}"}
    return save_checkpoint(Path(out_dir or CHECKPOINT_DIR) / f"{name}.pt", model, card)
