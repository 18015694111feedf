"""DDPM page rows: sampling speed (DDIM 50 / DDPM 1000 on the shipped food model), the server time of a
trajectory-slider move and of a forward-process slider move, a live-training step on digits, and the
sample-quality measurement. Each row also says how much CPU time it took (``cpu``), which on a busy
machine says more than the wall clock.

    python benchmarks/bench_ddpm.py        # prints the rows
"""

from __future__ import annotations

import os
import time

import torch


def _timed(fn, repeat: int = 1):
    best, cpu, out = float("inf"), 0.0, None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        if time.perf_counter() - w < best:
            best, cpu = time.perf_counter() - w, time.process_time() - c
    return best, cpu, out


def rows() -> list[dict]:
    from dlviz.ddpm import sampling as D
    from dlviz.ddpm.core import SCHEDULES
    from dlviz.checkpoints import load_shipped
    from dlviz.data import food_shapes
    from dlviz.ddpm.views import forward_view, trajectory_rows
    from dlviz.ddpm import plots as P

    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    n_thr = torch.get_num_threads()
    out = []

    def row(area, what, secs, cpu, unit, budget, scale=1.0):
        out.append({"area": area, "what": f"{what} [{n_thr} threads; cpu {cpu:.2f} s]", "value": secs * scale,
                    "unit": unit, "budget": budget})

    food, _ = load_shipped("ddpm_food", expected_arch="unet")
    hot = torch.zeros(16, dtype=torch.long)
    D.generate(food, num_steps=2, labels=hot[:2])                                     # warm-up
    w, c, _ = _timed(lambda: D.generate(food, num_steps=50, labels=hot, guidance=1.0), repeat=2)
    row("page: ddpm", "DDIM 50 steps, 16 food images 32x32 (w = 1)", w, c, "s", "< 3 s")
    w, c, _ = _timed(lambda: D.generate(food, num_steps=50, labels=hot, guidance=2.0))
    row("page: ddpm", "DDIM 50 steps, 16 food images, guidance w = 2 (2 passes)", w, c, "s", "-")
    w, c, traj = _timed(lambda: D.generate(food, sampler="ddpm", labels=hot[:8], guidance=2.0))
    row("page: ddpm", "DDPM 1000 steps, 8 food images, w = 2 (on demand)", w, c, "s", "< 60 s")

    def scrub():                       # what a trajectory-slider move computes: frame -> montage -> figure
        f = traj.frame(437)
        return P.picture_figure(P.montage(trajectory_rows(traj, f), scale=3), "x", ["x_t", "ε̂", "x̂_0"]).to_json()

    w, c, _ = _timed(scrub, repeat=5)
    row("page: ddpm", "trajectory slider move (cached trajectory -> figure JSON)", w, c, "ms", "< 100 ms", 1000)

    img = food_shapes(1, seed=7, classes=["hotdog"]).images[0]
    w, c, _ = _timed(lambda: [forward_view(img, 500, k) for k in SCHEDULES], repeat=3)
    row("page: ddpm", "forward slider move, t = 500 (3 schedules, closed form + 500 single steps)", w, c, "ms",
        "< 150 ms", 1000)

    from dlviz.data import digits
    from dlviz.ddpm.training import DIGITS, fresh_model, make_trainer, sample_scorer

    m = fresh_model(DIGITS, seed=0)
    dclf, _ = load_shipped("digits_cnn")
    live_steps = int(os.environ.get("DDPM_BENCH_LIVE_STEPS", "600"))
    trainer, _ = make_trainer(m, digits("train", size=16), steps=live_steps, batch_size=32, snapshot_every=200,
                              score_fn=sample_scorer(dclf))
    w, c, _ = _timed(lambda: trainer.run())
    row("train: ddpm digits", "live training, page defaults (batch 32, 16-32-32 U-Net, incl. snapshots)",
        w / live_steps, c / live_steps, "ms/step", "-", 1000)
    row("train: ddpm digits", "steps in 5 minutes at that rate", 300 / (w / live_steps), c, "steps", "-")
    for step, acc in zip(*trainer.history("sample_acc"), strict=True):
        if step:
            row("train: ddpm digits", f"live run: one-per-class samples recognised at step {step}", acc, c,
                "fraction", ">= 0.7 within 5 min")

    from dlviz.ddpm.sampling import generate_per_class
    from dlviz.metrics import CLASSIFIERS, measure, real_reference

    dig, _ = load_shipped("ddpm_digits", expected_arch="unet")
    clf, _ = load_shipped(CLASSIFIERS["digits"])

    def quality():
        x, y = generate_per_class(dig, 10, num_steps=10, guidance=2.0)
        return measure(x, y, clf, real_reference("digits"))

    w, c, q = _timed(quality)
    row("page: ddpm", f"measure quality: 100 digit samples, DDIM 10 (acc {q.accuracy:.0%}, FD {q.fd:.1f})", w, c, "s",
        "< 10 s")
    torch.set_num_threads(threads)
    return out


if __name__ == "__main__":
    for r in rows():
        print(f"{r['area']:20s} {r['what']:100s} {r['value']:10.2f} {r['unit']:8s} {r['budget']}")
