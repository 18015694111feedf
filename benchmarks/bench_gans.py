"""Benchmarks for the GAN page: the 2-D game's steps per second (default players, with packing and with
unrolling), the DCGAN's steps per second, the cost of one layered-view snapshot and its figure, and the time a
default run takes to reach N modes of the ring and of the grid.

    python benchmarks/bench_gans.py            # prints the table
    (also collected by python benchmarks/run.py)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from timing import best_of  # benchmarks/timing.py

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

AREA = "page: gans"


def _steps_per_s(pack: int = 1, unroll: int = 0, steps: int = 200) -> tuple[float, float]:
    """(wall steps/s, CPU s per 1,000 steps) of the default live game on the grid."""
    from dlviz.gans.data import grid
    from dlviz.gans.training import LIVE_DEFAULTS, make_trainer
    from dlviz.models import build_model

    torch.manual_seed(0)
    m = build_model("gan_mlp", pack=pack, g_width=LIVE_DEFAULTS["width"], d_width=LIVE_DEFAULTS["width"])
    tr = make_trainer(m, grid(), steps=steps, batch_size=LIVE_DEFAULTS["batch_size"], unroll=unroll, eval_every=10**9)
    t0, c0 = time.perf_counter(), time.process_time()
    tr.run()
    return steps / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / steps


def _time_to_modes(key: str, target: int, max_steps: int = 3000) -> tuple[float, int, float]:
    """(seconds, steps, modes at the end) for the default live run to first capture ``target`` modes."""
    from dlviz.gans.data import make_dataset
    from dlviz.gans.training import LIVE_DEFAULTS, make_trainer
    from dlviz.models import build_model

    torch.manual_seed(0)
    data = make_dataset(key)
    w = LIVE_DEFAULTS["width"]
    tr = make_trainer(build_model("gan_mlp", g_width=w, d_width=w), data, steps=max_steps, batch_size=LIVE_DEFAULTS["batch_size"],
                      eval_every=100)
    t0 = time.perf_counter()
    tr.start()
    reached = None
    while tr.alive:
        s, v = tr.history("modes_captured")
        if v and v[-1] >= target:
            reached = s[-1]
            tr.stop()
            break
        time.sleep(0.05)
    tr.join()
    s, v = tr.history("modes_captured")
    return time.perf_counter() - t0, reached if reached is not None else -1, v[-1] if v else float("nan")


def _dcgan_steps_per_s(key: str, steps: int = 30) -> float:
    from dlviz.gans.images import dcgan_config, load_images
    from dlviz.gans.training import make_image_trainer
    from dlviz.models import build_model

    torch.manual_seed(0)
    data = load_images(key)
    m = build_model("dcgan", **{**dcgan_config(key), "g_width": 16, "d_width": 16})
    tr = make_image_trainer(m, data.images, data.labels, steps=steps, batch_size=64, d_lr=5e-4, g_lr=5e-4)
    t0 = time.perf_counter()
    tr.run()
    return steps / (time.perf_counter() - t0)


def rows() -> list[dict]:
    import plotly.io

    from dlviz.gans import plots as P
    from dlviz.gans import views
    from dlviz.gans.data import grid
    from dlviz.models import build_model

    torch.set_num_threads(1)
    out = []
    for pack, unroll, label in ((1, 0, "default (3x64 MLPs, batch 256)"), (2, 0, "packing m = 2"),
                                (1, 5, "unrolled k = 5")):
        sps, cpu = _steps_per_s(pack, unroll)
        out.append(dict(area=AREA, what=f"2-D game steps/s, {label}", value=sps, unit="steps/s",
                        budget="3,000 steps <= 60 s" if unroll == 0 else "slower by design"))
        out.append(dict(area=AREA, what=f"CPU per 1,000 steps, {label}", value=cpu, unit="CPU s", budget=""))
    m, d = build_model("gan_mlp"), grid()
    z = m.noise(500, torch.Generator().manual_seed(1))
    snap = views.snapshot(m, "non-saturating", 0, d.bounds(), z)
    out.append(dict(area=AREA, what="one layered-view snapshot (D surface 60x60, warped grid, 120 arrows)",
                    value=1000 * best_of(lambda: views.snapshot(m, "non-saturating", 0, d.bounds(), z), 5),
                    unit="ms", budget="< 50 ms"))
    real = d.sample(600).numpy()
    out.append(dict(area=AREA, what="layered figure built and serialised",
                    value=1000 * best_of(lambda: plotly.io.to_json(P.layered_figure(snap, real, "non-saturating",
                                                                                     d.bounds(), modes=d.modes)
                                                                   .to_dict(), validate=False), 5),
                    unit="ms", budget="< 100 ms"))
    for key in ("digits", "food_shapes"):
        sps = _dcgan_steps_per_s(key)
        out.append(dict(area=AREA, what=f"DCGAN steps/s on the {key} (width 16, batch 64, as the recipes)", value=sps,
                        unit="steps/s", budget="1,500 steps in a few CPU-minutes"))
    for key, target in (("ring", 6), ("grid", 10)):
        sec, steps, last = _time_to_modes(key, target)
        out.append(dict(area=AREA, what=f"default live run to {target} modes of the {key} (steps {steps}; "
                        f"-1: not within 3,000; last {last:g})", value=sec, unit="s", budget="<= 60 s"))
    return out


if __name__ == "__main__":
    for r in rows():
        print(f"{r['what']:90s} {r['value']:10.3f} {r['unit']:8s} {r['budget']}")
