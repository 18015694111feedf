"""Does a longer run find the grid's missing modes? (issue 12) The shipped grid recipe (dlviz.gans.recipes.PLANS),
all five seeds trained together (dlviz.gans.seed_ensemble), for a multiple of its steps with the learning-rate decay
stretched to match, measured with the cards' protocol (2,500 samples from fixed noise) at a few steps on the way.
Prints one JSON line per measurement; ``--out`` also writes them, as the GAN page reads them (grid_long.json).

    python benchmarks/gan_grid_long.py gan_grid_pac2 --times 2 --evals 20000 40000 60000 80000 --out dlviz/gans/grid_long.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("plan", choices=["gan_grid_vanilla", "gan_grid_pac2"])
    ap.add_argument("--times", type=float, default=2.0, help="multiple of the recipe's steps")
    ap.add_argument("--evals", type=int, nargs="+", required=True)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    import torch

    from dlviz.gans.data import make_dataset
    from dlviz.gans.metrics import mean_se
    from dlviz.gans.recipes import MODEL, MODELS, PLANS, SEEDS
    from dlviz.gans.seed_ensemble import SeedEnsemble
    from dlviz.gans.training import mode_eval

    torch.set_num_threads(1)
    key, pack, loss, steps, bs, lr, lr_final = PLANS[args.plan]
    total = int(steps * args.times)
    data = make_dataset(key)
    players = MODELS.get(args.plan, MODEL)
    ens = SeedEnsemble(SEEDS, loss=loss, lr=lr, steps=total, lr_final=lr_final, pack=pack, **players)
    rows, t0 = [], time.time()

    def measure(i, *_):
        if i not in args.evals:
            return
        per = [mode_eval(m, data) for m in ens.finish()]
        row = {"plan": args.plan, "players": dataclasses.asdict(ens.models[0].config), "recipe_steps": steps, "steps": i,
               "of": total, "seeds": list(SEEDS),
               "wall_s": round(time.time() - t0, 1)}
        for k in ("modes_captured", "high_quality_frac", "reverse_kl"):
            vals = [round(r[k], 4) for r in per]
            mu, se = mean_se(vals)
            row[k] = {"mean": round(mu, 4), "se": round(se, 4), "values": vals}
        rows.append(row)
        print(json.dumps(row), flush=True)

    ens.train(data, total, bs, on_progress=measure, check_every=1000)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
