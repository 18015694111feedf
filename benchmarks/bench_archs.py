"""Benchmarks for the Architectures and the Activations-and-losses pages: the server-side work behind each
interaction. ``python benchmarks/run.py`` collects ``rows()``; run alone: ``python benchmarks/bench_archs.py``.

Cold = first time for that model in a warm process (what a student waits for when picking it); the very
first analysis in a fresh process also pays the imports and PyTorch's one-time meta-device set-up.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from timing import best_of  # benchmarks/timing.py

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _ms(fn, repeat: int = 1) -> float:
    return 1000 * best_of(fn, repeat)


def _row(area: str, what: str, value: float, unit: str, budget: str) -> dict:
    return {"area": area, "what": what, "value": float(value), "unit": unit, "budget": budget}


def architecture_rows() -> list[dict]:
    from dlviz.architectures import blocks as arch_blocks
    from dlviz.architectures import core as arch

    area = "page: architectures"
    code = ("import time; t=time.perf_counter(); from dlviz import architectures as a; a.analyse('ResNet-18'); "
            "print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    rows = [_row(area, "fresh process: imports + first table (ResNet-18, one-time)",
                 float(out.stdout.strip() or "nan"), "s", "< 5 s")]
    arch.analyse("LeNet-5")                       # warm the process once
    total = 0.0
    for name in arch.zoo():
        arch.analyse.cache_clear()
        ms = _ms(lambda n=name: arch.analyse(n))
        total += ms
        rows.append(_row(area, f"table, cold: {name}", ms, "ms", "< 1000 ms"))
    rows.append(_row(area, "side-by-side view, cold (every model)", total / 1000, "s", "< 10 s"))
    rows.append(_row(area, "table, cached (slider/rerun)", _ms(lambda: arch.analyse("ResNet-152"), 5), "ms",
                     "< 150 ms"))
    rows.append(_row(area, "input size 224 -> 112 (new table)", _ms(lambda: arch.analyse("ResNet-50", 112)), "ms",
                     "< 1000 ms"))
    for model, block in (("GoogLeNet", "inception3a"), ("ResNet-50", "layer2.0"), ("Inception v3", "Mixed_7c")):
        arch_blocks.block_inputs.cache_clear()
        arch_blocks.block_graph.cache_clear()
        rows.append(_row(area, f"block drawing, cold: {model} {block}",
                         _ms(lambda m=model, b=block: arch_blocks.block_graph(m, b)), "ms", "< 1000 ms"))
    return rows


def activation_rows() -> list[dict]:
    import numpy as np
    import torch

    from dlviz.activations_losses import core as act
    from dlviz.checkpoints import load_shipped
    from dlviz.data import digits
    from dlviz.activations_losses.training import make_trainer

    area = "page: activations_losses"

    def slider_move():
        for n in ("sigmoid", "tanh", "ReLU", "GELU"):
            act.curve(n, -6, 6, 1201, threshold=0.05)
        act.saturated_fraction("sigmoid", 0.0, 2.0)
        act.mean_gradient("sigmoid", 0.0, 2.0)

    x = np.linspace(-6, 6, 801)
    xs, ys = act.line_data(outliers=4)
    rows = [
        _row(area, "activation slider move (4 curves + saturation metrics)", _ms(slider_move, 3), "ms", "< 150 ms"),
        _row(area, "loss slider move (6 binary losses x 801 points + values at the point)",
             _ms(lambda: [act.loss_curve(n, x, 1.0) for n in act.losses_for("binary")], 3), "ms", "< 150 ms"),
        _row(area, "outlier slider move (4 IRLS line fits)",
             _ms(lambda: [act.fit_line(xs, ys, n) for n in ("MSE", "MAE", "Huber", "log-cosh")], 3), "ms", "< 150 ms"),
    ]
    images = digits("train", seed=0).images
    models = [load_shipped(n)[0] for n in ("mlp_relu_lr_ok", "mlp_relu_lr_high")]
    rows.append(_row(area, "dead-unit count, both shipped MLPs on 1,438 digits (cached after)",
                     _ms(lambda: [act.relu_activity(m, images) for m in models], 3), "ms", "< 500 ms"))
    threads = torch.get_num_threads()
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        t = make_trainer(0.1, steps=300, probe_every=10)
        t0 = time.perf_counter()
        t.run()
        rows.append(_row(area, f"dead-ReLU training, {n} thread(s): steps/s incl. probes every 10 steps",
                         300 / (time.perf_counter() - t0), "steps/s", "> 60 steps/s (600 steps < 10 s)"))
    torch.set_num_threads(threads)
    return rows


def rows() -> list[dict]:
    return architecture_rows() + activation_rows()


if __name__ == "__main__":
    for r in rows():
        print(f"{r['area']:28s} {r['what']:72s} {r['value']:10.2f} {r['unit']:8s} {r['budget']}")
