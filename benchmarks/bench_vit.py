"""Benchmarks for the ViT page: the live digits run the page starts with its sidebar defaults (seconds
until the test accuracy first reaches 95 %, at 2 threads), and the server-side work behind the page's
views (attention + rollout for one image, the position-similarity map, the shift measure, the thumbnail).

    python benchmarks/bench_vit.py            # prints the table
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

TARGET = 0.95


def live_rows(threads: int = 2) -> list[dict]:
    """The page's default live run (digits, ``LIVE_DEFAULTS``), timed to the first evaluation >= 95 %."""
    from dlviz.vit.training import LIVE_DEFAULTS, make_live_trainer

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = make_live_trainer("digits")
        stamps: list[tuple[int, float, float]] = []
        inner = t.eval_fn

        def timed(m):
            out = inner(m)
            stamps.append((t.step, time.perf_counter() - t0, time.process_time() - c0))
            return out

        t.eval_fn = timed
        t0, c0 = time.perf_counter(), time.process_time()
        t.run()
        wall, _cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        torch.set_num_threads(before)
    steps, accs = t.history("test_acc")
    hit = next(((s, w, c) for (s, w, c), a in zip(stamps, accs) if a >= TARGET), None)
    area = "train: vit"
    what = f"live ViT on the digits, sidebar defaults ({LIVE_DEFAULTS['steps']} steps), {threads} threads"
    out = [dict(area=area, what=f"{what}: wall time to test acc >= {TARGET:.0%}"
                + (f" (step {hit[0]})" if hit else " (NOT REACHED)"),
                value=hit[1] if hit else float("nan"), unit="s", budget="< 60 s"),
           dict(area=area, what=f"{what}: CPU time to test acc >= {TARGET:.0%} (both threads summed)",
                value=hit[2] if hit else float("nan"), unit="s", budget=""),
           dict(area=area, what=f"{what}: whole run, final test acc {accs[-1]:.1%}", value=wall, unit="s",
                budget=""),
           dict(area=area, what="training throughput (batch 64, 17 tokens)", value=t.step / wall, unit="steps/s",
                budget="")]
    return out


def view_rows() -> list[dict]:
    from dlviz.checkpoints import load_shipped
    from dlviz.vit import core as V
    from dlviz.vit import views
    from dlviz.vit.training import load_data

    out = []
    for name, key in (("vit_digits", "digits"), ("vit_food", "food")):
        try:
            model, _ = load_shipped(name, expected_arch="vit")
        except Exception:  # noqa: BLE001 - not shipped here
            continue
        test = load_data(key, "test")
        img = test.images[0]
        n_eq = 128 if model.grid ** 2 <= 16 else 32     # as the page
        area = "page: vit"

        def attention(model=model, img=img):
            res = V.analyse(model, img)
            res.rollout_map(0)
            res.head_maps(0)
            views.overlay(img, res.rollout_map(0), scale=256 // img.shape[-1])

        out.append(dict(area=area, what=f"attention of every head + rollout + overlay, one image ({name})",
                        value=1000 * best_of(attention, 5), unit="ms", budget="< 100 ms"))
        out.append(dict(area=area, what=f"position-similarity map and its structure vs 200 shuffles ({name})",
                        value=1000 * best_of(lambda model=model: V.position_structure(V.position_similarity(model)), 5),
                        unit="ms", budget="< 100 ms"))
        out.append(dict(area=area, what=f"shift measure, 4 shifts x {n_eq} test images ({name}), uncached",
                        value=1000 * best_of(lambda model=model, test=test, n_eq=n_eq: V.patch_shift_errors(model, test.images[:n_eq], [1, 2, 4, 8]), 3),
                        unit="ms", budget="< 1000 ms"))
    out.append(dict(area="page: vit", what="landing thumbnail", value=1000 * best_of(views.thumbnail, 5),
                    unit="ms", budget="< 500 ms"))
    return out


def rows() -> list[dict]:
    return view_rows() + live_rows()


if __name__ == "__main__":
    torch.set_num_threads(1)
    for r in rows():
        print(f"{r['area']:14s} {r['what']:100s} {r['value']:10.2f} {r['unit']:8s} {r['budget']}")
