"""Benchmarks for the U-Net page: the server-side work behind each interaction, and a live training run.

    python benchmarks/bench_unet.py            # prints the table
    (also collected by python benchmarks/run.py)

Interaction rows time what the page's explore fragment does when a slider moves, caches cold where the
page's cache would miss (a new image needs one forward pass for its feature maps) and warm where it hits;
each includes building the plotly figures and serialising them as st.plotly_chart does. The training rows
train the page's default live U-Net (64x64 foods, 200 images, depth 3, base width 8, CE, flips and
rotations, the sidebar's default lr, batch and steps, cosine decay) on 2 threads, as the Train button
does, and measure the test set's mean IoU at the end.
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


def training_rows(threads: int = 2) -> list[dict]:
    from dlviz.unet.augment import AugSpec
    from dlviz.unet.training import LIVE_DEFAULTS, evaluate_model, load_data, make_runs

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        train, test = load_data("foods64", "train", 200), load_data("foods64", "test")
        tr = make_runs(train, test, depth=3, base_channels=8, skips="all", loss="ce", aug=AugSpec(True, 15.0, 0.0),
                       steps=LIVE_DEFAULTS["steps"], lr=LIVE_DEFAULTS["lr"], batch_size=LIVE_DEFAULTS["batch_size"],
                       eval_every=50)[""]
        t0 = time.perf_counter()
        tr.run()
        wall = time.perf_counter() - t0
        res = evaluate_model(tr.model, test)
    finally:
        torch.set_num_threads(old)
    load = _load()
    return [dict(area="train: unet", what=f"default live U-Net (foods64, 200 images, {tr.step} steps) on {threads} threads "
                 f"[{load}]: wall time", value=wall, unit="s", budget="<= 60 s"),
            dict(area="train: unet", what=f"  ... its test mean IoU ({len(test)} images)", value=res["mean_iou"],
                 unit="mIoU", budget=f">= {USEFUL_IOU}"),
            dict(area="train: unet", what=f"  ... its boundary F1 (merged objects: {int(res['merged_instances'])})",
                 value=res["boundary_f1"], unit="BF1", budget=""),
            dict(area="train: unet", what="training throughput (batch 8, 64x64)", value=tr.step / wall,
                 unit="steps/s", budget="")]


if __name__ == "__main__":
    for r in rows():
        print(f"{r['area']:12s} {r['what'][:110]:110s} {r['value']:10.3f} {r['unit']:8s} {r['budget']}")
