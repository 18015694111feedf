"""Benchmark rows for the CNN pages: receptive fields, equivariance & invariance, curse of dimensionality.

Each row times the server-side work of one interaction (the median of a few runs, after one warm-up),
without Streamlit's caches -- i.e. the cost of a cache miss. ``python benchmarks/bench_cnn.py`` prints them.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _time(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Median seconds of ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _row(area: str, what: str, seconds: float, budget: str, unit: str = "ms") -> dict:
    return {"area": area, "what": what, "value": seconds * (1000 if unit == "ms" else 1), "unit": unit,
            "budget": budget}


def receptive_field_rows() -> list[dict]:
    import torch

    from dlviz.receptive_fields import effective as erfm
    from dlviz.receptive_fields import core as rfm
    from dlviz.checkpoints import load_shipped
    from dlviz.data import image_dataset
    from dlviz.receptive_fields import plots as plots

    area = "page: receptive_fields"
    out = []
    for label in ("AlexNet", "VGG-16", "ResNet-18", "ResNet-50", "GoogLeNet (Inception v1)", "MobileNet v2",
                  "Inception v3"):
        size = rfm.default_input_size(label)
        t = _time(lambda label=label, size=size: rfm.receptive_field(rfm.torchvision_model(label), size), repeat=3)
        out.append(_row(area, f"theoretical RF table, {label} at {size} px (build + trace, any layer)", t, "< 1 s",
                        unit="s"))
    rows = rfm.receptive_field(rfm.torchvision_model("ResNet-50"), 224)
    row = next(r for r in rows if r.name == "layer3")
    img = torch.rand(3, 224, 224)
    out.append(_row(area, "pick a unit: coverage map + both figures (ResNet-50 layer3)",
                    _time(lambda: (plots.pick_map_figure(rfm.coverage(row, (224, 224)), (3, 4)),
                                   plots.field_on_image_figure(img, row, (3, 4))).__len__(), repeat=5),
                    "< 150 ms"))
    food, _ = load_shipped("food_cnn")
    x = image_dataset("food_shapes", split="test", size=32, n=400).images[:64]
    out.append(_row(area, "ERF of one food_cnn unit over 64 images (cache miss)",
                    _time(lambda: erfm.erf_map(food, x, "blocks.2.0")), "< 1000 ms"))
    out.append(_row(area, "ERF vs depth, plain stacks up to 16 layers (cache miss)",
                    _time(lambda: erfm.erf_vs_depth([1, 2, 3, 4, 6, 8, 12, 16]), repeat=1), "< 3 s", unit="s"))
    stack = rfm.build_stack([rfm.LayerSpec("conv", 3, 1, 1), rfm.LayerSpec("maxpool", 2, 2),
                             rfm.LayerSpec("conv", 3, 1, 1)], in_channels=3, channels=8)
    r = next(r for r in rfm.receptive_field(stack, 64) if r.name == "conv3")
    t, lft, b, rr = r.clipped_region(16, 16, (64, 64))
    ring = [(a, c) for a in range(t - 4, b + 5) for c in range(lft - 4, rr + 5)]
    out.append(_row(area, f"brute-force probe button: {len(ring)} pixels around one unit's window, 3-layer stack",
                    _time(lambda: rfm.probe(stack, 64, "conv3", pixels=ring), repeat=1), "< 2 s (on a button)",
                    unit="s"))
    return out


def equivariance_rows() -> list[dict]:
    from dlviz.equivariance import core as eq
    from dlviz.checkpoints import load_shipped

    area = "page: equivariance"
    names = ["equi_cnn_circular", "equi_cnn_maxpool", "equi_cnn_blurpool", "equi_mlp"]
    models = [load_shipped(n)[0] for n in names]
    data = eq.digits_canvas("test")
    x = data.images[11]
    t = eq.Transform("shift", 0, 3)
    out = [_row(area, "move the shift slider: layer errors of the 4 default models (cache miss)",
                _time(lambda: [eq.equivariance_error(m, x, t) for m in models], repeat=5), "< 150 ms"),
           _row(area, "output vs shift (17 shifts) for the 4 models (cache miss)",
                _time(lambda: [eq.output_sweep(m, x, "shift", list(range(-8, 9))) for m in models], repeat=5),
                "< 150 ms"),
           _row(area, "probability for all 13x13 shifts, one model (cache miss)",
                _time(lambda: eq.shift_grid(models[1], x, 6), repeat=5), "< 150 ms"),
           _row(area, "output vs angle (37 angles) for the 4 models (cache miss)",
                _time(lambda: [eq.output_sweep(m, x, "rotate", list(range(0, 361, 10))) for m in models],
                      repeat=3), "< 300 ms"),
           _row(area, "consistency over 359 test digits, one model (cache miss)",
                _time(lambda: eq.consistency(models[1], data.images, 4), repeat=3), "< 1000 ms")]
    p4 = load_shipped("equi_p4")[0]
    out.append(_row(area, "layer errors of the p4 CNN under a quarter turn (cache miss)",
                    _time(lambda: eq.equivariance_error(p4, x, eq.Transform("rot90")), repeat=5), "< 150 ms"))
    return out


def dimensionality_rows() -> list[dict]:
    from dlviz.curse_of_dimensionality import core as dim

    area = "page: curse_of_dimensionality"
    dims = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    return [
        _row(area, "first load: 200 points in each of the 14 slider dimensions (then a slider move is a lookup)",
             _time(lambda: dim.concentration_curve(dims, 200), repeat=1), "< 2 s", unit="s"),
        _row(area, "sample-count slider off its default: distances of 500 points at d = 10,000 (cache miss)",
             _time(lambda: dim.distance_stats(10_000, 500), repeat=1), "< 2 s", unit="s"),
        _row(area, "k-NN accuracy over 10 dimensions, 500 train / 500 test (cache miss)",
             _time(lambda: dim.knn_accuracy([2, 3, 5, 10, 20, 50, 100, 200, 500, 1000]), repeat=1), "< 3 s",
             unit="s"),
        _row(area, "volume curves, 100 dimensions (closed forms)",
             _time(lambda: [(dim.log_ball_volume(d), dim.shell_fraction(d, 0.05)) for d in range(1, 1001, 10)]),
             "< 150 ms"),
    ]


def rows(threads: int = 1) -> list[dict]:
    """Timed with ``threads`` torch threads (1 by default: on a shared, busy machine two threads wait on
    each other and the numbers mean little); the previous setting is restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = receptive_field_rows() + equivariance_rows() + dimensionality_rows()
    finally:
        torch.set_num_threads(before)
    for r in out:
        r["what"] += f" [{threads} torch thread{'s' if threads > 1 else ''}]"
    return out


if __name__ == "__main__":
    for r in rows():
        print(f"{r['area']:32s} {r['what'][:100]:100s} {r['value']:9.1f} {r['unit']:3s} budget {r['budget']}")
