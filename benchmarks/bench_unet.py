"""Benchmarks for the U-Net page: the server-side work behind each interaction, and a live training run.

    python benchmarks/bench_unet.py            # prints the table
    (also collected by python benchmarks/run.py)

Interaction rows time what the page's explore fragment does when a slider moves, caches cold where the
page's cache would miss (a new image needs one forward pass for its feature maps) and warm where it hits;
each includes building the plotly figures and serialising them as st.plotly_chart does. The training row
trains the page's default live U-Net (64x64 foods, 200 images, depth 3, base width 8, CE, flips and
rotations, the sidebar's default lr and batch) on 2 threads for 60 s of wall time and measures the test
set's mean IoU then; it also reports when the periodic test mean IoU (24 images) first reached 0.6.
The machine's load average is printed in the row: on a shared machine the times grow with it.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

USEFUL_IOU = 0.6


def _ms(fn, repeat: int = 5) -> float:
    return 1000 * best_of(fn, repeat)


def _json(fig) -> None:
    import plotly.io

    plotly.io.to_json(fig.to_dict(), validate=False)


def _load() -> str:
    try:
        return f"load avg {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return ""


def rows() -> list[dict]:
    return interaction_rows() + training_rows()


def interaction_rows() -> list[dict]:
    from dlviz.checkpoints import load_shipped
    from dlviz.unet import core, plots, views
    from dlviz.unet.training import load_data, predict_masks

    area = "page: unet"
    model, _ = load_shipped("unet_foods", expected_arch="seg_unet")
    test = load_data("foods64", "test")
    out = []
    A = {}

    def analyse():
        A["pred"] = predict_masks(model, test.images)
        A["r"] = core.evaluate_masks(A["pred"], test.masks.numpy(), test.instances.numpy(), test.num_classes)
    out.append(dict(area=area, what=f"first analysis: segment + measure the {len(test)} test images (cached after)",
                    value=_ms(analyse, 2), unit="ms", budget="< 1500 ms"))
    levels = model.level_shapes()
    u_figs = {lvl: plots.u_figure(levels, lvl) for lvl in range(len(levels))}   # the page caches the U per level
    feats = {}
    state = {"i": 0, "lvl": 0}

    def draw(i: int, lvl: int, cls: int | None, cold: bool) -> None:
        pred, true = A["pred"][i], test.masks[i].numpy()
        imgs = [views.to_rgb(test.images[i]), views.color_mask(true), views.color_mask(pred),
                views.error_overlay(test.images[i], pred, true, cls)]
        _json(plots.images_figure(imgs, ["a", "b", "c", "d"]))
        _json(u_figs[lvl])
        if cold or i not in feats:
            feats[i] = views.level_features(model, test.images[i])
        F = feats[i]
        rows_ = {"enc": F["enc"][lvl]}
        if lvl < len(F["dec"]):
            rows_["dec"] = F["dec"][lvl]
        _json(plots.feature_maps_figure(rows_, {k: views.strongest_channels(v) for k, v in rows_.items()}))
        if cold:                                   # a new image: its weight map (cached per image after)
            _json(plots.weight_map_figure(core.weight_map(true, test.instances[i].numpy(), test.num_classes)))

    def new_image():
        state["i"] = (state["i"] + 1) % len(test)
        draw(state["i"], 0, None, cold=True)
    out.append(dict(area=area, what="image slider move: predictions, FP/FN overlay, U, level-0 maps (one forward pass), weight map",
                    value=_ms(new_image, 10), unit="ms", budget="< 100 ms"))

    def new_level():
        state["lvl"] = (state["lvl"] + 1) % len(levels)
        draw(3, state["lvl"], None, cold=False)
    out.append(dict(area=area, what="level click / radio: the U and that level's encoder + decoder maps (cached features)",
                    value=_ms(new_level, 10), unit="ms", budget="< 100 ms"))

    def new_class():
        state["c"] = (state.get("c", 0) % (test.num_classes - 1)) + 1
        draw(3, 0, state["c"], cold=False)
    out.append(dict(area=area, what="class select: that class's FP/FN overlay (cached features)",
                    value=_ms(new_class, 10), unit="ms", budget="< 100 ms"))

    def weight():
        w = core.weight_map(test.masks[5].numpy(), test.instances[5].numpy(), test.num_classes)
        _json(plots.weight_map_figure(w))
    out.append(dict(area=area, what="weight map of one image (eq. 2) + figure, uncached", value=_ms(weight, 5),
                    unit="ms", budget="< 100 ms"))
    return out


def training_rows(budget_s: float = 60.0, threads: int = 2) -> list[dict]:
    from dlviz.models import build_model
    from dlviz.unet.augment import AugSpec
    from dlviz.unet.training import LIVE_DEFAULTS, evaluate_model, load_data, make_trainer, model_config

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        train, test = load_data("foods64", "train", 200), load_data("foods64", "test")
        torch.manual_seed(0)
        m = build_model("seg_unet", model_config(train, 3, 8, "all"))
        tr = make_trainer(m, train, loss="ce", aug=AugSpec(True, 15.0, 0.0), steps=100_000, lr=LIVE_DEFAULTS["lr"],
                          batch_size=LIVE_DEFAULTS["batch_size"], test=test, eval_every=50)
        t0 = time.perf_counter()
        tr.start()
        reached = None
        while time.perf_counter() - t0 < budget_s:
            time.sleep(0.25)
            steps, vals = tr.history("test_mean_iou")
            if reached is None and any(v >= USEFUL_IOU for v in vals):
                reached = (time.perf_counter() - t0, steps[next(k for k, v in enumerate(vals) if v >= USEFUL_IOU)])
        tr.stop()
        n_steps = tr.step
        res = evaluate_model(m, test)
    finally:
        torch.set_num_threads(old)
    load = _load()
    out = [dict(area="train: unet", what=f"default live U-Net (foods64, 200 images), {budget_s:.0f} s on {threads} threads: "
                f"{n_steps} steps; test mean IoU ({len(test)} images) [{load}]",
                value=res["mean_iou"], unit="mIoU", budget=f">= {USEFUL_IOU}"),
           dict(area="train: unet", what=f"  ... its boundary F1 and merged objects ({int(res['merged_instances'])})",
                value=res["boundary_f1"], unit="BF1", budget=""),
           dict(area="train: unet", what="training throughput (batch 8, 64x64)", value=n_steps / budget_s,
                unit="steps/s", budget="")]
    out.append(dict(area="train: unet", what=f"time until the periodic test mIoU (24 images) first reached {USEFUL_IOU}"
                    + (f" (step {reached[1]})" if reached else " (not within the budget)"),
                    value=reached[0] if reached else float("nan"), unit="s", budget=f"<= {budget_s:.0f} s"))
    return out


if __name__ == "__main__":
    for r in rows():
        print(f"{r['area']:12s} {r['what'][:110]:110s} {r['value']:10.3f} {r['unit']:8s} {r['budget']}")
