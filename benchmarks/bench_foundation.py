"""Foundation rows: data generation speed, Trainer overhead vs a bare PyTorch loop, and the Convolutions
page's slider path (a convolution of the 160x160 photo)."""

from __future__ import annotations


import torch

from dlviz.data import batches, digits, food_shapes
from dlviz.metrics import classification_loss
from dlviz.models import build_model
from dlviz.train import Trainer
from timing import best_of  # benchmarks/timing.py


def _best(fn, repeat: int = 3) -> float:
    return best_of(fn, repeat)


def trainer_vs_bare(steps: int = 400) -> tuple[float, float]:
    """steps/s of the Trainer and of the same loop written by hand (same model, data, seed)."""
    d = digits("train", size=16)

    def bare():
        torch.manual_seed(0)
        m = build_model("small_cnn")
        opt = torch.optim.Adam(m.parameters(), 1e-3)
        it = batches(d.images, d.labels, batch_size=64, seed=0)
        for _ in range(steps):
            xb, yb = next(it)
            loss = torch.nn.functional.cross_entropy(m(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()

    def trainer():
        torch.manual_seed(0)
        m = build_model("small_cnn")
        Trainer(m, loss_fn=classification_loss, optimizer=torch.optim.Adam(m.parameters(), 1e-3),
                batches=batches(d.images, d.labels, batch_size=64, seed=0), steps=steps).run()

    bare()  # warm up
    tb, tt = _best(bare), _best(trainer)
    return steps / tt, steps / tb


def rows() -> list[dict]:
    out = []
    t = _best(lambda: food_shapes(10_000, seed=0), repeat=2)
    out.append(dict(area="data", what="food_shapes: 10,000 images 32x32", value=t, unit="s", budget="< 5 s"))
    t = _best(lambda: digits("train", size=16))
    out.append(dict(area="data", what="digits train split at 16x16", value=t * 1000, unit="ms", budget="-"))
    sps_t, sps_b = trainer_vs_bare()
    out.append(dict(area="train: digits CNN", what="Trainer steps/s (batch 64)", value=sps_t, unit="steps/s", budget="-"))
    out.append(dict(area="train: digits CNN", what="bare PyTorch loop steps/s", value=sps_b, unit="steps/s", budget="-"))
    out.append(dict(area="train: digits CNN", what="Trainer slowdown vs bare loop", value=100 * (sps_b / sps_t - 1),
                    unit="%", budget="< 10 %"))
    from dlviz.convolutions import core as conv
    from dlviz.data import photo

    img = photo("chelsea the cat", 160)
    t = _best(lambda: conv.convolve(img, conv.KERNELS["Sobel x (vertical edges)"], 1, 1, 1), repeat=5)
    out.append(dict(area="page: convolutions", what="kernel/stride slider: convolve 160x160", value=t * 1000,
                    unit="ms", budget="< 150 ms"))
    return out
