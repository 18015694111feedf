"""What the U-Net page trains on and how: the data sets, the model config, and the only place this
concept builds a :class:`dlviz.train.Trainer` (one per run; several side by side for an ablation).

Test sets are fixed (their own seeds), so every run and every shipped checkpoint is measured on the
same images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from dlviz.data import DataError, batches
from dlviz.data.food_segmentation import SegData, food_segmentation, load_pairs
from dlviz.train import Trainer
from dlviz.unet.augment import AugSpec, augment
from dlviz.unet.core import evaluate_masks, weight_maps
from dlviz.unet.losses import LOSSES, seg_loss


@dataclass(frozen=True)
class DataSpec:
    key: str
    label: str
    variant: str
    size: int
    train_seed: int
    test_seed: int
    n_test: int = 48


DATASETS: dict[str, DataSpec] = {
    "foods64": DataSpec("foods64", "foods on plates, 64x64 (5 foods + background)", "foods", 64, 100, 101),
    "foods32": DataSpec("foods32", "foods on plates, 32x32 (fast)", "foods", 32, 110, 111),
    "cells64": DataSpec("cells64", "touching cells, 64x64 (one class)", "cells", 64, 120, 121),
    "folder": DataSpec("folder", "my image/mask pairs (a folder)", "folder", 64, 0, 0),
}
MAX_TRAIN = 400
# the page's defaults for a live run (benchmarks/bench_unet.py times them)
LIVE_DEFAULTS = {"lr": 1e-2, "batch_size": 8, "steps": 300, "optimizer": "Adam"}


@lru_cache(maxsize=8)
def _procedural(key: str, split: str, n: int) -> SegData:
    s = DATASETS[key]
    seed = s.train_seed if split == "train" else s.test_seed
    return food_segmentation(n, seed=seed, size=s.size, variant=s.variant)


def load_data(key: str, split: str = "train", n: int | None = None, folder: str | None = None) -> SegData:
    """The ``train`` (first ``n`` images, at most :data:`MAX_TRAIN`) or fixed ``test`` split of ``key``."""
    if key not in DATASETS:
        raise DataError(f"Unknown data set {key!r}; choose one of {', '.join(DATASETS)}.")
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', not {split!r}")
    if key == "folder":
        if not folder or not str(folder).strip():
            raise DataError("Enter the path of a folder with images/ and masks/ sub-folders.")
        data = load_pairs(folder)
        k = max(1, round(0.2 * len(data)))
        return data.subset(slice(k, None)) if split == "train" else data.subset(slice(0, k))
    if split == "test":
        return _procedural(key, "test", DATASETS[key].n_test)
    n = int(n or 200)
    if not 1 <= n <= MAX_TRAIN:
        raise DataError(f"The number of training images must be between 1 and {MAX_TRAIN}.")
    return _procedural(key, "train", MAX_TRAIN).subset(slice(0, n))


def model_config(data: SegData, depth: int = 3, base_channels: int = 16, skips: str = "all", **kw) -> dict:
    return {"in_channels": int(data.images.shape[1]), "num_classes": data.num_classes, "image_size": data.size,
            "depth": int(depth), "base_channels": int(base_channels), "skips": skips, **kw}


@torch.no_grad()
def predict_masks(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Argmax class per pixel ``(N, H, W)`` in eval mode."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = torch.cat([model(images[i:i + batch_size].to(dev)).argmax(1).cpu() for i in range(0, len(images), batch_size)])
    model.train(was)
    return out.numpy()


def evaluate_model(model: nn.Module, test: SegData) -> dict[str, float]:
    """``mean_iou``, ``boundary_f1`` (1 px), ``merged_instances`` and ``pixel_acc`` on ``test``."""
    r = evaluate_masks(predict_masks(model, test.images), test.masks.numpy(), test.instances.numpy(), test.num_classes)
    return {"mean_iou": r.mean_iou, "boundary_f1": r.boundary_f1, "merged_instances": float(r.merges.merged),
            "pixel_acc": r.pixel_acc}


def make_trainer(model: nn.Module, train: SegData, *, loss: str = "ce", aug: AugSpec | None = None, steps: int = 300,
                 batch_size: int = 8, optimizer: torch.optim.Optimizer | None = None, lr: float = 3e-3,
                 test: SegData | None = None, eval_every: int = 50, eval_n: int = 24, seed: int = 0,
                 scheduler=None, device: str | None = None, name: str = "unet") -> Trainer:
    """A Trainer for ``model`` on ``train`` with loss ``loss`` (see :data:`dlviz.unet.losses.LOSSES`) and
    augmentation ``aug``; with ``test``, ``mean_iou`` and ``boundary_f1`` on its first ``eval_n`` images are
    recorded every ``eval_every`` steps. The weight maps (for ``wce``) are computed once, before training."""
    aug = aug or AugSpec()
    if loss not in LOSSES:
        raise DataError(f"Unknown loss {loss!r}; choose one of {', '.join(LOSSES)}.")
    if len(train) < 1:
        raise DataError("The training set is empty.")
    c = model.config
    if train.num_classes > c.num_classes or train.size != c.image_size or train.images.shape[1] != c.in_channels:
        raise DataError(f"The data ({train.images.shape[1]} channels, {train.size} px, {train.num_classes} classes) "
                        f"do not fit the model ({c.in_channels}, {c.image_size} px, {c.num_classes}).")
    w = torch.from_numpy(weight_maps(train.masks.numpy(), train.instances.numpy(), c.num_classes)) if loss == "wce" \
        else torch.ones(len(train), train.size, train.size)
    opt = optimizer or torch.optim.Adam(model.parameters(), lr)
    gen = torch.Generator().manual_seed(seed + 1)

    def loss_fn(m: nn.Module, batch):
        x, y, wb = batch
        x, y, wb = augment(x, y, wb, aug, gen)
        logits = m(x)
        with torch.no_grad():
            acc = (logits.argmax(1) == y).float().mean()
        return seg_loss(loss, logits, y, wb), {"pixel_acc": float(acc)}

    eval_fn = None
    if test is not None and len(test):
        sub = test.subset(slice(0, eval_n))

        def eval_fn(m: nn.Module) -> dict[str, float]:
            r = evaluate_model(m, sub)
            return {"test_mean_iou": r["mean_iou"], "test_boundary_f1": r["boundary_f1"]}

    return Trainer(model, loss_fn=loss_fn, optimizer=opt, batches=batches(train.images, train.masks, w,
                   batch_size=batch_size, seed=seed), steps=steps, eval_fn=eval_fn, eval_every=eval_every if eval_fn else 0,
                   scheduler=scheduler, device=device, grad_clip=10.0, name=name)


ABLATIONS = {"skips": {"full U-Net": {"skips": "all"}, "no skips": {"skips": "none"}, "no top skip": {"skips": "no-top"}},
             "weight map": {"CE": {"loss": "ce"}, "weighted CE": {"loss": "wce"}},
             "elastic": {"no elastic": {"elastic": False}, "elastic": {"elastic": True}}}


def make_runs(train: SegData, test: SegData, *, depth: int, base_channels: int, skips: str, loss: str, aug: AugSpec,
              ablation: str | None = None, seed: int = 0, make_optimizer: Callable | None = None,
              lr: float = LIVE_DEFAULTS["lr"], steps: int = LIVE_DEFAULTS["steps"], cosine: bool = True,
              **trainer_kwargs) -> dict[str, Trainer]:
    """One run, or one per arm of ``ablation`` (see :data:`ABLATIONS`): same seed, data and batches, only the
    ablated setting differs. The learning rate decays along a cosine to 5% over the ``steps`` (``cosine``), as
    for the shipped checkpoints. Each trainer carries ``trainer.unet_setting`` (what it trained with)."""
    from dlviz.models import build_model

    arms = ABLATIONS[ablation] if ablation else {"": {}}
    runs = {}
    for name, change in arms.items():
        s = {"skips": skips, "loss": loss, "elastic": aug.elastic_px > 0, **change}
        a = AugSpec(aug.flips, aug.rotation_deg, (aug.elastic_px or 2.0) if s["elastic"] else 0.0)
        torch.manual_seed(seed)
        m = build_model("seg_unet", model_config(train, depth, base_channels, s["skips"]))
        opt = make_optimizer(m.parameters()) if make_optimizer is not None else torch.optim.Adam(m.parameters(), lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=opt.param_groups[0]["lr"] * 0.05) \
            if cosine else None
        t = make_trainer(m, train, loss=s["loss"], aug=a, optimizer=opt, scheduler=sched, test=test, seed=seed,
                         steps=steps, name=name or "unet", **trainer_kwargs)
        t.unet_setting = {**s, "aug": a}
        runs[name] = t
    return runs
