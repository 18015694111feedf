"""ViT vs CNN against the number of training images: the inductive-bias story (Dosovitskiy et al. 2021,
Sec. 4.3 and Fig. 3: "Transformers lack some of the inductive biases inherent to CNNs, such as
translation equivariance and locality, and therefore do not generalize well when trained on
insufficient amounts of data"; with enough data the ViT catches up).

Here, in miniature: the digits (16x16), a ViT and a SmallCNN of about the same parameter count
(:func:`dlviz.vit.training.vit_config` / :func:`cnn_config`), each trained with the same recipe (same
optimiser, learning-rate schedule, number of steps, batch size and shift augmentation) on the first
``n`` images of a fixed class-balanced order, for several ``n`` and seeds, and tested on the whole
held-out split. The shipped curve is ``checkpoints/vit_vs_cnn_digits.npz``; reproduce it with
``python -m dlviz.vit.efficiency``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlviz.checkpoints import CHECKPOINT_DIR
from dlviz.metrics import accuracy
from dlviz.vit.training import build_cnn, build_vit, load_data, make_trainer, n_params, subset_per_class

CURVE_PATH = CHECKPOINT_DIR / "vit_vs_cnn_digits.npz"
SIZES = (20, 50, 100, 200, 500, 1000, 1437)
SEEDS = (0, 1, 2)
STEPS, BATCH, LR = 500, 64, 3e-3


@dataclass
class Curve:
    sizes: np.ndarray          # (S,) number of training images
    vit: np.ndarray            # (seeds, S) test accuracy
    cnn: np.ndarray            # (seeds, S)
    meta: dict                 # what was measured: configs, parameter counts, recipe, wall time

    def stderr(self, acc: np.ndarray) -> np.ndarray:
        """``(S,)`` standard error of the mean over seeds (sample std / sqrt(seeds)); zeros for one seed."""
        k = acc.shape[0]
        return acc.std(0, ddof=1) / np.sqrt(k) if k > 1 else np.zeros(acc.shape[1])

    def crossover(self) -> int | None:
        """The smallest size from which the ViT's mean accuracy is at least the CNN's, or None."""
        v, c = self.vit.mean(0), self.cnn.mean(0)
        for i in range(len(self.sizes)):
            if (v[i:] >= c[i:]).all():
                return int(self.sizes[i])
        return None


def measure_point(kind: str, n: int, seed: int, steps: int = STEPS, key: str = "digits") -> float:
    """Test accuracy of a fresh ``kind`` (``vit`` | ``cnn``) trained on ``n`` images with seed ``seed``."""
    train = subset_per_class(load_data(key, "train"), n, seed=seed)
    test = load_data(key, "test")
    model = build_vit(key, seed=seed) if kind == "vit" else build_cnn(key, seed=seed)
    make_trainer(model, train, None, steps=steps, lr=LR, batch_size=min(BATCH, n), seed=seed, name=kind).run()
    return accuracy(model, test.images, test.labels)


def measure(sizes=SIZES, seeds=SEEDS, steps: int = STEPS, key: str = "digits", log=print) -> Curve:
    vit = np.zeros((len(seeds), len(sizes)))
    cnn = np.zeros_like(vit)
    t0, c0 = time.perf_counter(), time.process_time()
    for a, s in enumerate(seeds):
        for b, n in enumerate(sizes):
            vit[a, b] = measure_point("vit", n, s, steps, key)
            cnn[a, b] = measure_point("cnn", n, s, steps, key)
            log(f"seed {s} n {n}: ViT {vit[a, b]:.3f}  CNN {cnn[a, b]:.3f}")
    meta = {"dataset": f"{key} (train split subsets, class-balanced, nested; whole test split)",
            "n_test": len(load_data(key, "test")),
            "vit_config": _jsonable(build_vit(key).config), "cnn_config": _jsonable(build_cnn(key).config),
            "vit_params": n_params(build_vit(key)), "cnn_params": n_params(build_cnn(key)),
            "recipe": f"{steps} steps, batch min(64, n), AdamW lr {LR} one-cycle, weight decay 0.05, "
                      "random shifts up to 1 px, grad clip 1",
            "seeds": list(seeds), "steps": steps, "threads": torch.get_num_threads(),
            "wall_time_s": round(time.perf_counter() - t0, 1), "cpu_time_s": round(time.process_time() - c0, 1),
            "reproduce": "python -m dlviz.vit.efficiency"}
    return Curve(np.asarray(sizes), vit, cnn, meta)


def _jsonable(cfg) -> dict:
    import dataclasses

    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def save(curve: Curve, path: str | Path = CURVE_PATH) -> Path:
    path = Path(path)
    np.savez(path, sizes=curve.sizes, vit=curve.vit, cnn=curve.cnn, meta=np.array(json.dumps(curve.meta)))
    return path


def load(path: str | Path = CURVE_PATH) -> Curve | None:
    """The shipped curve, or None when the file is missing."""
    path = Path(path)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return Curve(z["sizes"], z["vit"], z["cnn"], json.loads(str(z["meta"])))


def merge(curves: list[Curve]) -> Curve:
    """One curve from per-seed runs of the same sizes and recipe (seeds stacked in the given order); times add."""
    sizes = curves[0].sizes
    if any(not np.array_equal(c.sizes, sizes) or c.meta["recipe"] != curves[0].meta["recipe"] for c in curves):
        raise ValueError("the curves differ in sizes or recipe")
    meta = dict(curves[0].meta, seeds=[s for c in curves for s in c.meta["seeds"]],
                wall_time_s=round(sum(c.meta["wall_time_s"] for c in curves), 1),
                cpu_time_s=round(sum(c.meta["cpu_time_s"] for c in curves), 1))
    return Curve(sizes, np.concatenate([c.vit for c in curves]), np.concatenate([c.cnn for c in curves]), meta)


def main(argv: list[str] | None = None) -> int:
    """``python -m dlviz.vit.efficiency`` measures every seed in turn and writes the shipped curve; a seed can
    also run alone (``--seeds 1 --out part1.npz``, e.g. one process per core) and the parts be merged
    (``--merge part0.npz part1.npz part2.npz``): each seed's numbers do not depend on the others."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m dlviz.vit.efficiency")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--out", default=str(CURVE_PATH))
    ap.add_argument("--merge", nargs="+", default=None, help="per-seed .npz files to merge into --out")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    curve = merge([load(p) for p in a.merge]) if a.merge else measure(seeds=tuple(a.seeds))
    print(f"wrote {save(curve, a.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
