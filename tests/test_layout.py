"""The layout rules of CONTRIBUTING.md, checked: one package per page, shared machinery only at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DLVIZ = ROOT / "dlviz"
PAGES = sorted(p for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
SHARED_MODULES = {"__init__", "train", "jobs", "checkpoints", "recipes", "runtime", "imaging", "metrics", "plotting"}
SHARED_PACKAGES = {"data", "models", "_template"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_page_has_its_package(page):
    pkg = DLVIZ / page.stem
    assert (pkg / "__init__.py").exists(), f"pages/{page.name} has no dlviz/{page.stem}/ package"
    doc = ast.get_docstring(ast.parse((pkg / "__init__.py").read_text(encoding="utf-8")))
    assert doc, f"dlviz/{page.stem}/__init__.py needs a docstring naming the concept"


def test_top_level_is_only_shared_machinery():
    modules = {p.stem for p in DLVIZ.glob("*.py")}
    assert modules <= SHARED_MODULES, f"flat concept modules at the top of dlviz/: {sorted(modules - SHARED_MODULES)}"
    packages = {p.name for p in DLVIZ.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    orphans = packages - SHARED_PACKAGES - {p.stem for p in PAGES}
    assert not orphans, f"packages with no page: {sorted(orphans)}"


def test_trainers_are_built_only_in_training_modules():
    """A concept builds its Trainer in dlviz/<concept>/training.py (the page and recipes call it)."""
    offenders = []
    for f in list(DLVIZ.glob("*/*.py")) + PAGES:
        if f.parent.name in SHARED_PACKAGES or f.name == "training.py":
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Trainer":
                offenders.append(str(f.relative_to(ROOT)))
    assert not offenders, f"Trainer(...) built outside a training.py: {sorted(set(offenders))}"
