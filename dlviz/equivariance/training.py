"""Training for the equivariance page: the symmetry variants (one model per knob) and the one Trainer that
trains them, on centred digits (16 px on a 24x24 canvas, :func:`dlviz.equivariance.core.digits_canvas`) with
the same data order. The page's live training and the shipped recipes both call :func:`make_trainer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.metrics import accuracy

CANVAS = 24


@dataclass(frozen=True)
class Variant:
    name: str
    label: str                    # what the page shows
    arch: str
    config: dict = field(default_factory=dict)
    rotation: str = "none"        # training augmentation: none | rot90 | any
    steps: int = 500
    min_acc: float = 0.9
    short: str = ""               # a few words for legends


def _cnn(**kw) -> dict:
    base = {"in_channels": 1, "image_size": CANVAS, "num_classes": 10, "channels": (8, 16, 32),
            "kernel_size": 3, "padding_mode": "circular", "downsample": "maxpool", "head": "gap",
            "group": "none"}
    return {**base, **kw}


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("equi_cnn_circular", "CNN · circular padding · no downsampling (dilated) · GAP", "equi_cnn",
            _cnn(downsample="none", dilations=(1, 2, 4)), short="circular pad, no downsampling"),
    Variant("equi_cnn_zeros", "CNN · zero padding · no downsampling (dilated) · GAP", "equi_cnn",
            _cnn(downsample="none", padding_mode="zeros", dilations=(1, 2, 4)), short="zero pad, no downsampling"),
    Variant("equi_cnn_stride", "CNN · strided conv · GAP", "equi_cnn", _cnn(downsample="stride"), short="strided conv"),
    Variant("equi_cnn_maxpool", "CNN · max-pool · GAP", "equi_cnn", _cnn(), short="max-pool"),
    Variant("equi_cnn_blurpool", "CNN · blur pool (Zhang) · GAP", "equi_cnn", _cnn(downsample="blurpool"),
            short="blur pool"),
    Variant("equi_cnn_flatten", "CNN · max-pool · flatten + linear head", "equi_cnn", _cnn(head="flatten"),
            short="flatten head"),
    Variant("equi_mlp", "MLP (no weight sharing)", "equi_mlp",
            {"in_channels": 1, "image_size": CANVAS, "num_classes": 10, "hidden": (64, 32)}, min_acc=0.85, short="MLP"),
    Variant("equi_cnn_rotaug", "CNN · max-pool · GAP · trained with random rotations", "equi_cnn", _cnn(),
            rotation="any", steps=800, min_acc=0.75, short="CNN + rotation aug"),
    Variant("equi_p4", "p4 group CNN (Cohen & Welling) · max-pool · GAP", "equi_cnn",
            _cnn(group="p4", channels=(4, 8, 16)), min_acc=0.8, short="p4 group CNN"),
]}


def _loss(rotation: str, generator: torch.Generator):
    from dlviz.equivariance.core import augment

    # Same as dlviz.metrics.classification_loss, except that the batch is augmented (rotated) first:
    def loss_fn(model: nn.Module, batch):
        x, y = batch
        x = augment(x, rotation, 0, generator)
        logits = model(x)
        return F.cross_entropy(logits, y), {"acc": float((logits.argmax(1) == y).float().mean())}

    return loss_fn


def make_trainer(model: nn.Module, *, rotation: str = "none", steps: int = 500, lr: float = 3e-3,
                 batch_size: int = 64, optimizer: str = "Adam", weight_decay: float = 0.0, seed: int = 0,
                 device: str | None = None, eval_every: int = 50, name: str = "run"):
    """A :class:`dlviz.train.Trainer` for one variant on the canvas digits (test accuracy evaluated
    every ``eval_every`` steps as ``test_acc``)."""
    from dlviz.data import batches
    from dlviz.equivariance.core import digits_canvas
    from dlviz.train import Trainer, make_optimizer

    train = digits_canvas("train", CANVAS)
    test = digits_canvas("test", CANVAS)
    g = torch.Generator().manual_seed(seed)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps), pct_start=0.2)

    def evaluate(m):
        return {"test_acc": accuracy(m, test.images.to(next(m.parameters()).device), test.labels.to(
            next(m.parameters()).device))}

    return Trainer(model, loss_fn=_loss(rotation, g), optimizer=opt, scheduler=sched,
                   batches=batches(train.images, train.labels, batch_size=batch_size, seed=seed),
                   steps=steps, device=device, eval_fn=evaluate, eval_every=eval_every, name=name)
