"""Sweep the shipped 2-D GAN recipe on the 5x5 grid with the seed ensemble (issue 12; not a shipped recipe).

Trains five seeds at once (``dlviz.gans.seed_ensemble.SeedEnsemble``, one thread) from the grid recipe shipped
until 2026-12-04 (G/D 3x64 leaky ReLU, z 2-D, non-saturating loss, Adam lr 2e-3 -> 0.05x, betas (0.5, 0.999),
batch 256, PacGAN m=2) with one change per run, and prints one JSON line per evaluation step: ``modes_captured``
(the page's count, >= 20 of 2,500 samples within 3 sigma), ``high_quality_frac`` and ``reverse_kl`` as
[mean, per-seed], and ``any`` (mean modes with >= 1 sample, the count PacGAN's code reports).

    python benchmarks/gan_grid_ensemble_sweep.py '{"tag":"relu","model":{"activation":"relu"},"steps":20000,"evals":[10000,20000]}'

Measured 2026-12-04 on the 2-core machine (two sweeps in parallel, 1-4 min wall each), seeds 0-4, 20k steps:

    change from shipped          modes (20 of 2500)   high quality   reverse KL   >= 1 sample
    z 8-D, pack 1                 6.0                  85 %           1.37         16.0
    z 8-D, pack 2                10.6                  55 %           0.93         18.4
    G 128x4                      15.0                  57 %           0.46         22.0
    D 128 wide                   10.8                  63 %           0.84         20.0
    lr 1e-3                      10.6                  36 %           0.64         22.8
    Adam beta1 0.8               10.4                  38 %           0.63         22.4
    batch 512                    12.2                  52 %           0.59         20.6
    ReLU instead of leaky ReLU   15.0 (18,12,25,12,8)  81 %           0.54         21.8

Second session of 2026-12-04, seeds 0-4, from ReLU and G 4x128 (two or three sweeps in parallel, 11-20 min wall):

    run                                        steps   modes (20 of 2500)     high quality   reverse KL   >= 1 sample
    PacGAN m=2, ReLU, G 4x128                  20k     15.0                   83 %           0.57         19.2
                                               40k     15.4 (13,16,13,14,21)  90 %           0.54         18.2
    PacGAN m=4, ReLU, G 4x128                  20k      3.8                   12 %           0.47         21.2
    vanilla, ReLU, G 4x128                     40k     17.0 (22,21,0,20,22)   76 %           0.52         19.2
    PacGAN m=2, ReLU, G 4x128, D 3x128         20k     20.6 (22,20,23,21,17)  89 %           0.24         23.0
    PacGAN m=2, ReLU, G 4x128, uniform noise   10k      5.2                   24 %           1.54         10.4
    PacGAN m=2, ReLU, G 4x128, D 3x256 *       40k     21.2 (15,25,21,25,20)  97 %           0.19         --
    (* trained as the recipe, python -m dlviz.train gan_grid_pac2 with d_width 256: 487 CPU-s per seed, twice D 128's)

A wider D is what the packed GAN lacked (its input is 4-D): 20.6 modes at half the steps, reverse KL halved. With
G 4x128 the vanilla GAN beat PacGAN with the 64-wide D (17.0 against 15.4), though one of its seeds collapsed onto
no mode at all. A D twice as wide again (3x256) gave no more modes at twice the CPU. The shipped grid recipes use
ReLU, G 4x128, D 3x128 (dlviz.gans.recipes.GRID_MODEL); their cards: PacGAN 21.4 +- 1.3 modes, 95 % high quality;
vanilla 13.4 +- 5.4 (1, 0, 17, 25, 24), 58 %.

Against the shipped cards (vanilla 9.2 +- 1.2, PacGAN m=2 12.8 +- 0.7 modes), ReLU and a larger G raise the mean
to 15 modes and ReLU reaches 25/25 at 93 % high quality on one seed (seed 2), but no setting reaches PacGAN's
23.8 +- 0.7 over five seeds at this CPU budget: the generator learns a per-coordinate staircase with too few
levels (seed 0 of the shipped PacGAN misses the whole row y = -2). These are leads, not a shipped result.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from dlviz.gans.data import make_dataset
from dlviz.gans.metrics import mean_se
from dlviz.gans.seed_ensemble import SeedEnsemble
from dlviz.gans.training import mode_eval


def main(cfg: dict) -> None:
    torch.set_num_threads(1)
    model = dict(g_width=64, g_depth=3, d_width=64, d_depth=3, noise_dim=2)
    model.update(cfg.get("model", {}))
    steps = cfg["steps"]
    data = make_dataset(cfg.get("data", "grid"))
    ens = SeedEnsemble(cfg.get("seeds", [0, 1, 2, 3, 4]), loss=cfg.get("loss", "non-saturating"),
                       lr=cfg.get("lr", 2e-3), steps=steps, lr_final=cfg.get("lrf", 0.05), pack=cfg.get("pack", 2),
                       betas=tuple(cfg.get("betas", (0.5, 0.999))), **model)
    evals = set(cfg.get("evals", [steps]))
    t0 = time.time()

    def measure(i: int, *_) -> None:
        if i not in evals:
            return
        members = ens.finish()
        per = [mode_eval(m, data) for m in members]
        any_ = [mode_eval(m, data, min_count=1)["modes_captured"] for m in members]
        for m in members:
            m.train()
        out = {"tag": cfg.get("tag"), "step": i, "wall": round(time.time() - t0)}
        for k in ("modes_captured", "high_quality_frac", "reverse_kl"):
            v = [r[k] for r in per]
            out[k] = [round(mean_se(v)[0], 3), [round(a, 2) for a in v]]
        out["any"] = round(sum(any_) / len(any_), 1)
        print(json.dumps(out), flush=True)

    ens.train(data, steps, cfg.get("bs", 256), on_progress=measure, check_every=1000)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
