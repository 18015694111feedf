"""What the ViT page trains and how: its two data sets, the ViT and matched-budget CNN configs, and the
only :class:`dlviz.train.Trainer` this concept builds (cross-entropy, AdamW, one-cycle learning rate,
optional random-shift augmentation, a periodic test accuracy).

Data: the bundled 8x8 digits resized to 16x16 (so a 4x4 patch is a stroke, and 16 patches make a
sentence), and the procedural 32x32 RGB food shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.data import DataError, ImageData, batches, digits, food_shapes
from dlviz.metrics import accuracy
from dlviz.train import Trainer


@dataclass(frozen=True)
class DataSpec:
    key: str
    label: str
    channels: int
    size: int
    patch: int          # the default patch size
    vit: dict           # the default ViT config (beyond channels, size, classes, patch)
    cnn: dict           # a SmallCNN config of about the same parameter count


DATASETS: dict[str, DataSpec] = {
    "digits": DataSpec("digits", "digits (1,797 handwritten, resized to 16x16)", 1, 16, 4,
                       dict(dim=32, depth=3, heads=4, mlp_ratio=2),
                       dict(channels=(32, 64), kernel_size=3, head="flatten")),
    "food": DataSpec("food", "food shapes (10 classes, 32x32 RGB)", 3, 32, 4,
                     dict(dim=48, depth=4, heads=4, mlp_ratio=2),
                     dict(channels=(32, 64, 96), kernel_size=3, head="gap", batchnorm=True)),
}
_FOOD_SEEDS = {"train": (4000, 410), "test": (1000, 411)}     # n, seed: disjoint from the other pages'
# the page's defaults for a live run: on the digits these reach >= 95 % test accuracy (benchmarks/bench_vit.py)
LIVE_DEFAULTS = {"lr": 3e-3, "batch_size": 64, "steps": 600, "optimizer": "AdamW", "weight_decay": 0.01}


def load_data(key: str, split: str = "train", n: int | None = None) -> ImageData:
    """The ``train`` / ``test`` split of ``key`` (``digits`` or ``food``), images in [0, 1]."""
    if key not in DATASETS:
        raise DataError(f"Unknown data set {key!r}; choose one of {', '.join(DATASETS)}.")
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', not {split!r}")
    if key == "digits":
        data = digits(split, seed=0, size=16)
    else:
        n_default, seed = _FOOD_SEEDS[split]
        data = food_shapes(n or n_default, seed=seed, size=32)
    return data if n is None or n >= len(data) else data.subset(slice(0, n))


def vit_config(key: str, patch_size: int | None = None, **overrides) -> dict:
    s = DATASETS[key]
    return {"in_channels": s.channels, "image_size": s.size, "num_classes": 10,
            "patch_size": patch_size or s.patch, **s.vit, **overrides}


def cnn_config(key: str) -> dict:
    s = DATASETS[key]
    return {"in_channels": s.channels, "image_size": s.size, "num_classes": 10, **s.cnn}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def subset_per_class(data: ImageData, n: int, seed: int = 0) -> ImageData:
    """``n`` training images, as balanced over the classes as ``n`` allows (the first of a fixed
    shuffle of each class, so a smaller subset is contained in a larger one)."""
    if n >= len(data):
        return data
    g = torch.Generator().manual_seed(seed)
    per = [torch.nonzero(data.labels == c).flatten() for c in range(data.num_classes)]
    per = [p[torch.randperm(len(p), generator=g)] for p in per]
    order = torch.stack([p[:min(len(q) for q in per)] for p in per], 1).flatten()   # round-robin over classes
    return data.subset(order[:n].sort().values)


def shifted(stream: Iterator, max_shift: int, seed: int = 0) -> Iterator:
    """Random translations of each image by up to ``max_shift`` pixels (zero padding, then a crop)."""
    g = torch.Generator().manual_seed(seed + 1)
    for x, y in stream:
        if max_shift <= 0:
            yield x, y
            continue
        B, _, H, W = x.shape
        pad = F.pad(x, (max_shift,) * 4)
        off = torch.randint(0, 2 * max_shift + 1, (B, 2), generator=g)
        out = torch.empty_like(x)
        for dy in range(2 * max_shift + 1):          # one slice per offset, not one per image
            for dx in range(2 * max_shift + 1):
                sel = (off[:, 0] == dy) & (off[:, 1] == dx)
                if sel.any():
                    out[sel] = pad[sel, :, dy:dy + H, dx:dx + W]
        yield out, y


def make_trainer(model: nn.Module, train: ImageData, test: ImageData | None = None, *, steps: int = 1200,
                 lr: float = 3e-3, batch_size: int = 64, weight_decay: float = 0.05, max_shift: int = 1,
                 optimizer: torch.optim.Optimizer | None = None, one_cycle: bool = True, seed: int = 0,
                 eval_every: int = 100, eval_n: int = 1000, name: str = "vit",
                 device: str | None = None) -> Trainer:
    """A Trainer for a classifier (the ViT or the CNN) on ``train``: cross-entropy, AdamW (or
    ``optimizer``), a one-cycle learning rate, random shifts of up to ``max_shift`` pixels; logs
    ``acc`` per batch and ``test_acc`` on the first ``eval_n`` test images every ``eval_every`` steps."""
    c = model.config
    if len(train) < 2:
        raise DataError("The training set needs at least two images.")
    if tuple(train.shape) != (c.in_channels, c.image_size, c.image_size):
        raise DataError(f"The images are {tuple(train.shape)} but the model expects "
                        f"({c.in_channels}, {c.image_size}, {c.image_size}).")
    opt = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = None
    if one_cycle:
        max_lr = [g["lr"] for g in opt.param_groups]
        cycle = "betas" in opt.defaults or opt.defaults.get("momentum", 0) > 0     # plain SGD has neither
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=max(2, steps), pct_start=0.15,
                                                    cycle_momentum=cycle)

    def loss_fn(m: nn.Module, batch):
        x, y = batch
        logits = m(x)
        return F.cross_entropy(logits, y), {"acc": float((logits.argmax(1) == y).float().mean())}

    eval_fn = None
    if test is not None and len(test):
        xt, yt = test.images[:eval_n], test.labels[:eval_n]

        def eval_fn(m: nn.Module) -> dict[str, float]:
            return {"test_acc": accuracy(m, xt, yt)}

    stream = shifted(batches(train.images, train.labels, batch_size=batch_size, seed=seed), max_shift, seed)
    return Trainer(model, loss_fn=loss_fn, optimizer=opt, scheduler=sched, batches=stream, steps=steps,
                   grad_clip=1.0, eval_fn=eval_fn, eval_every=eval_every if eval_fn else 0, device=device, name=name)


def build_vit(key: str, seed: int = 0, **overrides) -> nn.Module:
    from dlviz.models import build_model

    torch.manual_seed(seed)
    return build_model("vit", vit_config(key, **overrides))


def build_cnn(key: str, seed: int = 0) -> nn.Module:
    from dlviz.models import build_model

    torch.manual_seed(seed)
    return build_model("small_cnn", cnn_config(key))


def make_live_trainer(key: str, *, patch_size: int | None = None, dim: int | None = None, depth: int | None = None,
                      heads: int | None = None, positions: str = "learned", max_shift: int = 1,
                      steps: int = LIVE_DEFAULTS["steps"], lr: float = LIVE_DEFAULTS["lr"],
                      batch_size: int = LIVE_DEFAULTS["batch_size"], optimizer: str = LIVE_DEFAULTS["optimizer"],
                      weight_decay: float = LIVE_DEFAULTS["weight_decay"], seed: int = 0,
                      train: ImageData | None = None, test: ImageData | None = None) -> Trainer:
    """The page's live run: a fresh ViT for data set ``key`` (the defaults of :data:`DATASETS` where an
    argument is None) and its Trainer; ``trainer.vit_data`` remembers ``key``."""
    from dlviz.train import make_optimizer

    s = DATASETS[key]
    over = {k: v for k, v in dict(dim=dim, depth=depth, heads=heads).items() if v is not None}
    d = over.get("dim", s.vit["dim"])
    h = over.get("heads", s.vit["heads"])
    if d % h:
        raise DataError(f"The width ({d}) must be a multiple of the number of heads ({h}).")
    model = build_vit(key, seed=seed, patch_size=patch_size, positions=positions, **over)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    t = make_trainer(model, train if train is not None else load_data(key, "train"),
                     test if test is not None else load_data(key, "test"), steps=steps, optimizer=opt,
                     batch_size=batch_size, max_shift=max_shift, seed=seed, eval_every=max(25, steps // 12),
                     name=f"ViT on {key}")
    t.vit_data = key
    return t
