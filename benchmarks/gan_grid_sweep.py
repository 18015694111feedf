"""Which GAN setting reproduces PacGAN's direction on the 5x5 grid at a CPU budget? (issue 12; not a shipped recipe)

Trains the 2-D GAN (``gan_mlp``) on the grid for each seed of one configuration and prints one JSON line per seed
with the mode metrics (``dlviz.gans.training.mode_eval``). Stop-11 results, 2 seeds each:

    G 4x400 / D 3x200, 10k steps, lr 1e-3 -> 5e-5: vanilla 0, 0 modes; PacGAN m=2 12, 9 modes
    G 4x256 / D 3x128, same:                       vanilla 13, 12;      PacGAN m=2 5
    G/D 3x64 (shipped), 12k steps, 2e-3 -> 2e-5:   vanilla 8, 7;        PacGAN m=2 9, 4

    python benchmarks/gan_grid_sweep.py '{"pack":2,"gw":400,"gd":4,"dw":200,"dd":3,"bs":100,"lr":1e-3,"lrf":0.05,"steps":10000,"seeds":[0,1]}'

Session of 2026-12-02, the paper-size networks over 5 seeds each (seeds 0-4, one run per variant, ~2-9 min wall per
seed on a shared 2-core machine), summarised into dlviz/gans/grid_sweep.json, which the page shows:

    python benchmarks/gan_grid_sweep.py '{"pack":1,"gw":400,"gd":4,"dw":200,"dd":3,"bs":100,"lr":1e-3,"lrf":0.05,"steps":10000,"seeds":[0,1,2,3,4]}' > pac1.jsonl
    python benchmarks/gan_grid_sweep.py '{"pack":2, ...same...}' > pac2.jsonl
    python benchmarks/gan_grid_sweep.py --summarise pac1.jsonl pac2.jsonl > dlviz/gans/grid_sweep.json

    vanilla: modes 0, 0, 14, 0, 16 (6.0 +- 3.7);  PacGAN m=2: 12, 9, 10, 11, 15 (11.4 +- 1.0)

PacGAN's reference code (github.com/fjxmlzn/PacGAN, synthetic_data_experiments/2DGrid_GAN&PacGAN/config.py) differs
from the runs above in: 400 epochs x 100,000 samples / batch 100 = 400,000 updates (40x the 10,000 above), Adam
lr 1e-4 constant with beta1 0.8, G 4x400 Linear(no bias)-BatchNorm-ReLU, D 3x200 maxout with 5 pieces, weights
N(0, 0.02) and zero biases; its MetricLogger counts a mode as captured with >= 1 sample within 3 sigma (recorded
here as ``modes_any``; ``modes_captured`` keeps the page's 20 of 2,500). The options "bn", "maxout", "init",
"act", "beta1" switch those parts on. At paper size they run ~14 updates/s here (one core, shared), so only a
narrow version was measured, 5 seeds each (2-6 min wall per seed, shared), written to dlviz/gans/grid_sweep_ref.json:

    python benchmarks/gan_grid_sweep.py '{"pack":1,"gw":128,"gd":4,"dw":64,"dd":3,"bs":100,"lr":1e-3,"lrf":0.01,
        "steps":6000,"bn":1,"maxout":5,"init":0.02,"act":"relu","beta1":0.8,"seeds":[0,1,2,3,4]}' > ref1.jsonl
    python benchmarks/gan_grid_sweep.py '{"pack":2, ...same...}' > ref2.jsonl
    python benchmarks/gan_grid_sweep.py --summarise ref1.jsonl ref2.jsonl > dlviz/gans/grid_sweep_ref.json

    vanilla: modes 1, 0, 0, 1, 0 (>= 1 sample: 13.4 +- 1.9), high-quality 3 %, reverse KL 1.09 +- 0.12
    PacGAN m=2: 0, 0, 0, 0, 0 (>= 1 sample: 17.2 +- 2.2), high-quality 3 %, reverse KL 0.69 +- 0.13
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(cfg: dict) -> None:
    import torch

    from dlviz.gans.data import make_dataset
    from dlviz.gans.training import make_trainer, mode_eval
    from dlviz.models import build_model

    from dlviz.gans.metrics import mode_stats

    torch.set_num_threads(1)
    data = make_dataset("grid")
    for seed in cfg.get("seeds", [0, 1]):
        torch.manual_seed(seed)
        m = build_model("gan_mlp", pack=cfg["pack"], g_width=cfg["gw"], g_depth=cfg["gd"], d_width=cfg["dw"],
                        d_depth=cfg["dd"], noise_dim=2, **paper_parts(cfg))
        tr = make_trainer(m, data, steps=cfg["steps"], batch_size=cfg["bs"], loss=cfg.get("loss", "non-saturating"),
                          d_lr=cfg["lr"], g_lr=cfg["lr"], lr_final=cfg.get("lrf", 1.0), seed=seed,
                          eval_every=cfg["steps"])
        for opt in (tr.game.d_opt, tr.game.g_opt):              # PacGAN's code: Adam beta1 = 0.8
            opt.param_groups[0]["betas"] = (cfg.get("beta1", 0.5), 0.999)
        t0 = time.time()
        tr.run()
        r = mode_eval(m.eval(), data)
        with torch.no_grad():                                   # the reference code's count: >= 1 sample per mode
            x = m.generate(2500, torch.Generator().manual_seed(0)).numpy()
        r["modes_any"] = float(mode_stats(x, data.modes, data.sigma, min_count=1).modes_captured)
        if cfg.get("bn"):                                       # G's batch norm on batch statistics instead
            with torch.no_grad():
                xt = m.train().generate(2500, torch.Generator().manual_seed(0)).numpy()
            r["hq_batch_stats"] = mode_stats(xt, data.modes, data.sigma).high_quality_frac
        print(json.dumps({**cfg, "seed": seed, "status": tr.status, "s": round(time.time() - t0, 1),
                          **{k: round(v, 3) for k, v in r.items()}}), flush=True)


def paper_parts(cfg: dict) -> dict:
    """The model options of PacGAN's reference code that ``cfg`` switches on ("bn", "maxout", "init", "act")."""
    return {"g_batchnorm": bool(cfg.get("bn", False)), "d_maxout": int(cfg.get("maxout", 0)),
            "init_std": float(cfg.get("init", 0.0)), "activation": cfg.get("act", "leaky_relu")}


def summarise(paths: list[str]) -> dict:
    """Per-variant values and mean +- standard error of the mode metrics over the seeds in the JSON-lines files."""
    import math

    from dlviz.gans.metrics import mean_se

    out = {}
    for p in paths:
        rows = [json.loads(ln) for ln in Path(p).read_text().splitlines() if ln.strip()]
        cfg = {k: rows[0][k] for k in ("pack", "gw", "gd", "dw", "dd", "bs", "lr", "lrf", "steps", "bn", "maxout",
                                       "init", "act", "beta1") if k in rows[0]}
        entry = {"config": cfg, "seeds": [r["seed"] for r in rows], "wall_s": [r["s"] for r in rows]}
        for k in ("modes_captured", "modes_any", "high_quality_frac", "reverse_kl"):
            if k not in rows[0]:
                continue
            vals = [r[k] for r in rows]
            finite = [v for v in vals if v is not None and math.isfinite(v)]
            mu, se = mean_se(finite)
            entry[k] = {"values": [v if v is not None and math.isfinite(v) else None for v in vals],
                        "mean": round(mu, 4), "se": round(se, 4), "n": len(finite)}
        out["vanilla" if cfg["pack"] == 1 else f"pac{cfg['pack']}"] = entry
    return out


if __name__ == "__main__":
    if sys.argv[1] == "--summarise":
        print(json.dumps(summarise(sys.argv[2:]), indent=1))
    else:
        main(json.loads(sys.argv[1]))
