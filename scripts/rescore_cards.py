"""Re-measure shipped checkpoints' cards with their recipe's current evaluation, without retraining.

    python scripts/rescore_cards.py --why "what changed" NAME [NAME ...]

The weights do not change: each card's ``metrics`` are recomputed with its recipe's ``evaluate`` (the same call
``python -m dlviz.train NAME`` makes after training, and that ``tests/test_checkpoints.py`` repeats), the claims
become the recipe's, and ``rescored`` records when, why and what the card said before. A DDPM card also gets its
``quality_protocol``. Used when DDIM's default timestep spacing became "leading" (stop 16:
``--why "DDIM's default timestep spacing is now 'leading'" ddpm_digits ddpm_food``) and when the VAE cards gained
their sample measures (stop 17: ``--why "..." vae_digits2 vae_digits16``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from dlviz import recipes  # noqa: E402
from dlviz.checkpoints import CHECKPOINT_DIR, load_shipped  # noqa: E402


def extra_fields(name: str) -> dict:
    if not name.startswith("ddpm_"):
        return {}
    from dlviz.ddpm.recipes import quality_protocol
    from dlviz.ddpm.training import SPECS

    return {"quality_protocol": quality_protocol(SPECS["digits" if name == "ddpm_digits" else "food_shapes"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="+")
    ap.add_argument("--why", required=True, help="recorded in each card's 'rescored' field")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.names:
        model, _ = load_shipped(name)
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
                    rescored=f"{date.today().isoformat()}: {args.why}; before: {before}", **extra_fields(name))
        path.write_text(json.dumps(card, indent=2) + "\n")
        print(name, before, "->", metrics)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
