"""``python -m dlviz.train``: a run that misses its claims writes no checkpoint, and says what it measured (a
40,000-step run is not thrown away with a bare 'claims missed')."""

from __future__ import annotations

import pytest
from torch import nn

from dlviz import recipes


def test_a_run_that_misses_its_claims_writes_nothing_and_reports_its_measurements(tmp_path, monkeypatch):
    r = recipes.Recipe(name="toy_missed", summary="toy", build=lambda: nn.Linear(2, 1),
                       train=lambda m, dev: {"over_seeds": {"acc": {"mean": 0.41, "values": [0.4, 0.42]}}},
                       evaluate=lambda m: {"acc": 0.4}, claims={"acc": (">=", 0.9)})
    monkeypatch.setitem(recipes._RECIPES, r.name, r)
    monkeypatch.setattr(recipes, "all_recipes", lambda: dict(recipes._RECIPES))
    with pytest.raises(RuntimeError) as e:
        recipes.reproduce(r.name, device="cpu", out_dir=tmp_path)
    msg = str(e.value)
    assert "acc = 0.4 is not >= 0.9" in msg and '"acc": 0.4' in msg and '"values": [0.4, 0.42]' in msg
    assert not list(tmp_path.iterdir())
