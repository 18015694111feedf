"""Training for the classifier lab: the one place a classifier :class:`dlviz.train.Trainer` is built.

The Train a classifier page, the Data augmentation page's with/without experiment, the shipped
``food_lenet5`` recipe and the benchmark all train through :func:`make_trainer`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.augmentation.core import augment_batch, build
from dlviz.classifier.core import DataSplit, Setup, build_classifier, make_criterion, make_scheduler
from dlviz.metrics import predict
from dlviz.train import Trainer


def _eval_metrics(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(cross-entropy, accuracy) of ``model`` on ``x, y``, from one batched pass (:func:`dlviz.metrics.predict`)."""
    logits = predict(model, x).float()                       # (N, K)
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def make_trainer(setup: Setup, data: DataSplit, device: str = "cpu", model: nn.Module | None = None,
                 max_eval: int = 1000, name: str = "run") -> Trainer:
    """A :class:`dlviz.train.Trainer` for ``setup`` on ``data`` (not started).

    It records ``loss``, ``acc`` and ``lr`` every step (on the augmented batch) and, every ``eval_every``
    steps, ``train_acc``/``train_loss`` on a fixed un-augmented subset of the training images and
    ``val_acc``/``val_loss`` (cross-entropy, whatever the training loss) on the validation images.
    """
    from dlviz.data import batches
    from dlviz.train import make_optimizer

    tr, va = data.train, data.val
    c, h, _ = tr.shape
    torch.manual_seed(setup.seed)
    if model is None:
        model = build_classifier(setup.arch, tr.num_classes, c, h, setup.activation)
    model = model.to(device)
    opt = make_optimizer(setup.optimizer, model.parameters(), setup.lr, setup.weight_decay)
    sched = make_scheduler(setup.schedule, opt, setup.steps)
    criterion = make_criterion(setup.loss, setup.smoothing, setup.gamma)
    per_image, batch_tf = build(setup.augment, size=h, num_classes=tr.num_classes, channels=c)

    def loss_fn(m: nn.Module, batch):
        x, y = batch
        x, y = augment_batch(x, y, per_image, batch_tf)
        logits = m(x)                                       # (B, K)
        hard = y if y.ndim == 1 else y.argmax(1)
        acc = (logits.argmax(1) == hard).float().mean()
        return criterion(logits, y), {"acc": float(acc), "lr": opt.param_groups[0]["lr"]}

    g = torch.Generator().manual_seed(setup.seed)
    sub = torch.randperm(len(tr), generator=g)[:max_eval]
    xs, ys = tr.images[sub], tr.labels[sub]
    xv, yv = va.images[:max_eval], va.labels[:max_eval]

    def eval_fn(m: nn.Module) -> dict[str, float]:
        tl, ta = _eval_metrics(m, xs, ys)
        vl, vacc = _eval_metrics(m, xv, yv)
        return {"train_loss": tl, "train_acc": ta, "val_loss": vl, "val_acc": vacc}

    return Trainer(model, loss_fn=loss_fn, optimizer=opt, scheduler=sched,
                   batches=batches(tr.images, tr.labels, batch_size=setup.batch_size, seed=setup.seed),
                   steps=setup.steps, eval_fn=eval_fn, eval_every=setup.eval_every, device=device, name=name)
