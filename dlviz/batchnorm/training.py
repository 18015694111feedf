"""Training the BatchNorm page's variants: the only place this concept builds a :class:`dlviz.train.Trainer`.

:func:`make_runs` trains the variants side by side (same init, same batches, a :class:`~dlviz.batchnorm.core.Probe`
snapshot every few steps); :class:`LRSweep` runs short trainings of every variant at every learning rate;
:func:`train_shipped` makes the shipped digits MLPs.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dlviz.batchnorm.core import Data, Probe, SweepRow, largest_trainable_lr, trained
from dlviz.data import batches
from dlviz.metrics import classification_loss
from dlviz.models.deep_nets import DeepNet
from dlviz.resnet_gradients.core import build
from dlviz.resnet_gradients.training import same_start_trainer
from dlviz.train import Trainer, make_optimizer


def train_shipped(model: nn.Module, data: Data, *, steps: int, batch_size: int, lr: float, optimizer: str,
                  device: str) -> None:
    """The shipped pair's training: ``steps`` of ``optimizer`` on the digits' training split (seed 0 batches)."""
    Trainer(model, loss_fn=classification_loss, optimizer=make_optimizer(optimizer, model.parameters(), lr),
            batches=batches(data.x_train, data.y_train, batch_size=batch_size, seed=0), steps=steps,
            device=device).run()


def make_runs(configs: dict[str, DeepNet.Config], data: Data, *, lr: float, steps: int, batch_size: int,
              optimizer: str = "SGD + momentum", weight_decay: float = 0.0, seed: int = 0,
              snapshot_every: int = 20, eval_every: int = 50, probe_n: int = 256,
              device: str = "cpu") -> dict[str, Trainer]:
    """One Trainer per variant: same init seed (equal Linear/Conv weights), same batches, same optimiser.

    Records minibatch ``loss``/``acc`` every step, ``test_loss``/``test_acc`` every ``eval_every`` steps,
    and a :class:`Probe` snapshot every ``snapshot_every`` steps (step 0 included).
    """
    g = torch.Generator().manual_seed(seed + 1)
    pick = torch.randperm(len(data.x_train), generator=g)[:probe_n]
    xp, yp = data.x_train[pick].to(device), data.y_train[pick].to(device)
    xt, yt = data.x_test.to(device), data.y_test.to(device)

    def evaluate(m: nn.Module) -> dict[str, float]:
        loss, scalars = classification_loss(m, (xt, yt))
        return {"test_loss": float(loss), "test_acc": scalars["acc"]}

    runs = {}
    for name, cfg in configs.items():
        runs[name], _ = same_start_trainer(
            cfg, data.x_train, data.y_train, seed=seed, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
            steps=steps, batch_size=batch_size, device=device, name=name, eval_fn=evaluate, eval_every=eval_every,
            snapshot_every=snapshot_every, snapshot_of=lambda opt: Probe(xp, yp, lr, optimizer=opt, seed=seed))
    return runs


class LRSweep:
    """Short runs of every variant at every learning rate, one after another.

    :meth:`trainer` returns a Trainer whose every step is one whole short run (so the page's Stop button
    and progress bar work); rows appear in :attr:`rows` as runs finish. Divergence is detected by each
    run's own Trainer (status ``diverged``) and recorded, never raised.
    """

    def __init__(self, configs: dict[str, DeepNet.Config], data: Data, lrs: Sequence[float], *, steps: int = 150,
                 batch_size: int = 64, optimizer: str = "SGD + momentum", seed: int = 0, device: str = "cpu"):
        self.configs, self.data, self.lrs = configs, data, sorted(float(v) for v in lrs)
        self.steps, self.batch_size, self.optimizer, self.seed, self.device = steps, batch_size, optimizer, seed, device
        self.jobs = [(lr, name) for lr in self.lrs for name in configs]
        self.rows: list[SweepRow] = []
        self._lock = threading.Lock()

    def run_one(self, lr: float, name: str) -> SweepRow:
        model = build(self.configs[name], self.seed).to(self.device)
        d = self.data
        t = Trainer(model, loss_fn=classification_loss, steps=self.steps, device=self.device,
                    optimizer=make_optimizer(self.optimizer, model.parameters(), lr),
                    batches=batches(d.x_train, d.y_train, batch_size=self.batch_size, seed=self.seed)).run()
        _, losses = t.history("loss")
        first = losses[0] if losses else math.nan
        k = max(1, len(losses) // 10)
        final = float(np.mean(losses[-k:])) if losses and t.status != "diverged" else math.nan
        return SweepRow(name, lr, trained(first, final, t.status == "diverged"), first, final, t.step, t.message)

    def _step(self, _batch) -> dict[str, float]:
        with self._lock:
            lr, name = self.jobs[len(self.rows)]
        row = self.run_one(lr, name)
        with self._lock:
            self.rows.append(row)
        return {"lr": lr, "trained": float(row.status == "trained")}

    def trainer(self) -> Trainer:
        return Trainer(nn.Linear(1, 1), step_fn=self._step, batches=iter(lambda: None, 1), steps=len(self.jobs),
                       name="learning-rate sweep")

    def largest_lr(self) -> dict[str, float | None]:
        """Per variant, the largest learning rate whose run ``trained`` (None if none did yet)."""
        with self._lock:
            rows = list(self.rows)
        return largest_trainable_lr(rows, list(self.configs))
