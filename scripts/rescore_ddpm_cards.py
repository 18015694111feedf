"""Re-measure the shipped DDPMs' cards with the current sampling protocol, without retraining.

    python scripts/rescore_ddpm_cards.py

The weights do not change: each card's ``metrics`` and ``quality_protocol`` are recomputed with its recipe's
``evaluate`` (the same call ``python -m dlviz.train NAME`` makes after training, and that
``tests/test_checkpoints.py`` repeats), the claims are the recipe's, and ``rescored`` records when and why.
Used when DDIM's default timestep spacing became "leading" (stop 16).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dlviz import recipes  # noqa: E402
from dlviz.checkpoints import CHECKPOINT_DIR, load_shipped  # noqa: E402
from dlviz.ddpm.recipes import quality_protocol  # noqa: E402
from dlviz.ddpm.training import SPECS  # noqa: E402

WHY = "DDIM's default timestep spacing is now 'leading' (starts at T - T/n + 1, not at T)"


def main() -> int:
    torch.set_num_threads(1)
    for name, dataset in (("ddpm_digits", "digits"), ("ddpm_food", "food_shapes")):
        model, _ = load_shipped(name, expected_arch="unet")
        recipe = recipes.get_recipe(name)
        torch.manual_seed(0)
        metrics = {k: round(float(v), 5) for k, v in recipe.evaluate(model).items()}
        broken = recipes.check_claims(metrics, recipe.claims)
        if broken:
            raise SystemExit(f"{name}: misses its claims: {'; '.join(broken)}")
        path = CHECKPOINT_DIR / f"{name}.json"
        card = json.loads(path.read_text())
        before = card["metrics"]
        card.update(metrics=metrics, claims={k: [op, v] for k, (op, v) in recipe.claims.items()},
                    quality_protocol=quality_protocol(SPECS[dataset]),
                    rescored=f"{date.today().isoformat()}: {WHY}; before: {before}")
        path.write_text(json.dumps(card, indent=2) + "\n")
        print(name, before, "->", metrics)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
