"""Benchmark rows for the classifier lab (Train a classifier, Data augmentation, Attribution).

    python benchmarks/bench_classifier.py            # prints the rows
    python benchmarks/bench_classifier.py --only train

Everything runs with 2 torch threads (the course laptop). The training row stops as soon as validation
accuracy reaches 95 % and reports the wall time at that evaluation (evaluations included).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("DLVIZ_DEVICE", "cpu")

import torch  # noqa: E402

THREADS = 2


def _timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _row(area: str, what: str, value: float, unit: str, budget: str) -> dict:
    return {"area": area, "what": what, "value": float(value), "unit": unit, "budget": budget}


def train_rows() -> list[dict]:
    """Time for the default set-up (SmallCNN, Adam one-cycle 3e-3, batch 64) to reach 95 % validation accuracy."""
    from dlviz.classifier import core as clf
    from dlviz.classifier.training import make_trainer

    t_data, data = _timed(lambda: clf.load_data("food shapes", n_train=4000, n_val=1000, seed=0))
    setup = clf.Setup(steps=800, eval_every=25)
    trainer = make_trainer(setup, data)
    inner, reached = trainer.eval_fn, {}
    t0 = time.perf_counter()
    c0 = time.process_time()

    def eval_fn(m):
        res = inner(m)
        if res["val_acc"] >= 0.95 and not reached:
            reached.update(step=trainer.step, s=time.perf_counter() - t0, cpu=time.process_time() - c0,
                           acc=res["val_acc"])
            trainer.stop(wait=False)
        return res

    trainer.eval_fn = eval_fn
    trainer.run()
    area = "classifier: train"
    if not reached:
        return [_row(area, f"SmallCNN never reached 95 % val acc in {setup.steps} steps "
                     f"(final {trainer.latest('val_acc'):.3f})", float("nan"), "s", "< 60 s")]
    return [
        _row(area, f"SmallCNN to >= 95 % val acc on food shapes (step {reached['step']}, {reached['acc']:.1%}), "
             f"{THREADS} threads, wall", reached["s"], "s", "< 60 s"),
        _row(area, "  same, process CPU time", reached["cpu"], "s", "-"),
        _row(area, "food shapes 4000 train + 1000 val images generated", t_data, "s", "< 3 s"),
    ]


def analysis_rows() -> list[dict]:
    from dlviz.classifier import core as clf
    from dlviz.checkpoints import load_shipped

    data = clf.load_data("food shapes", n_train=10, n_val=1000, seed=0)
    model, _ = load_shipped("food_lenet5")
    t_eval, res = _timed(lambda: clf.evaluate(model, data.val), repeat=3)
    t_pca, pts = _timed(lambda: clf.embed_pca(res.features), repeat=3)
    t_nn, _ = _timed(lambda: clf.neighbour_agreement(pts, res.labels.numpy()), repeat=3)
    rows = [_row("classifier: results", "evaluate 1000 val images (probs, confusion, features)", t_eval * 1000, "ms",
                 "< 500 ms (cached per model)"),
            _row("classifier: results", "PCA of penultimate features", t_pca * 1000, "ms", "< 100 ms"),
            _row("classifier: results", "10-NN class agreement", t_nn * 1000, "ms", "< 200 ms")]
    try:
        import umap  # noqa: F401
    except ImportError:
        return rows
    t_u1, _ = _timed(lambda: clf.embed_umap(res.features, seed=0))
    t_u2, _ = _timed(lambda: clf.embed_umap(res.features, seed=1))
    rows += [_row("classifier: results", "UMAP, first in the process (numba compiles), background thread", t_u1, "s",
                  "off the script thread"),
             _row("classifier: results", "UMAP, warm", t_u2, "s", "< 10 s")]
    return rows


def augmentation_rows() -> list[dict]:
    from dlviz.augmentation import core as augm
    from dlviz.data import food_shapes

    d = food_shapes(64, seed=3)
    spec = (augm.aug("crop"), augm.aug("hflip"), augm.aug("color_jitter"), augm.aug("mixup"))
    per, mix = augm.build(spec, 32, 10)
    augm.augment_batch(d.images, d.labels, per, mix)  # warm-up (lazy imports)
    t_batch, _ = _timed(lambda: augm.augment_batch(d.images, d.labels, per, mix), repeat=5)
    t_prev, _ = _timed(lambda: augm.preview(d.images[:4], d.labels[:4], spec, 7, seed=0, class_names=d.class_names),
                       repeat=5)
    return [_row("augmentation", "crop+flip+jitter+mixup on a batch of 64 (per-image parameters)", t_batch * 1000, "ms",
                 "< 60 ms"),
            _row("augmentation", "preview 4 images x 7 variants (uncached)", t_prev * 1000, "ms", "< 150 ms")]


def attribution_rows() -> list[dict]:
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        return [_row("attribution", "captum not installed: skipped", float("nan"), "", "")]
    from dlviz.attribution import core as attr
    from dlviz.checkpoints import load_shipped
    from dlviz.data import food_shapes

    model, _ = load_shipped("food_cnn")
    x = food_shapes(4, seed=5).images
    target = int(model(x[:1]).argmax())
    attr.attribute(model, x[:1], target, "Saliency")  # warm-up
    rows = []
    for m in attr.METHODS:
        t, _ = _timed(lambda m=m: attr.attribute(model, x[:1], target, m), repeat=3)
        budget = "< 1000 ms" if m == "Integrated Gradients" else "< 300 ms"
        label = f"{m} on one 32x32 image" + (" (50 steps)" if m == "Integrated Gradients" else "")
        rows.append(_row("attribution", label, t * 1000, "ms", budget))
    t_c, _ = _timed(lambda: attr.ig_completeness(model, x[:1], target, 50), repeat=3)
    rows.append(_row("attribution", "IG completeness check (50 steps)", t_c * 1000, "ms", "< 1000 ms"))
    targets = model(x).argmax(1)
    t_s, _ = _timed(lambda: attr.cascading_randomisation(model, x, targets))
    rows.append(_row("attribution", "sanity check: 4 images x 5 methods x 5 stages (food_cnn)", t_s, "s",
                     "< 10 s (cached per image)"))
    return rows


GROUPS = {"train": train_rows, "analysis": analysis_rows, "augmentation": augmentation_rows,
          "attribution": attribution_rows}


def rows() -> list[dict]:
    old = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        out = []
        for fn in GROUPS.values():
            out += fn()
        return out
    finally:
        torch.set_num_threads(old)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=list(GROUPS), action="append")
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    for name in args.only or list(GROUPS):
        for r in GROUPS[name]():
            print(f"{r['area']:22s} {r['what']:88s} {r['value']:10.3f} {r['unit']:3s} {r['budget']}", flush=True)
