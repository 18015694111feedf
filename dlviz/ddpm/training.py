"""Training a DDPM: the simple ε-prediction loss (Ho et al. 2020, eq. 14 / Algorithm 1), label dropout
for classifier-free guidance (Ho & Salimans 2021), an exponential moving average of the weights, and a
:class:`dlviz.train.Trainer` that records the loss per timestep bucket and periodic fast samples.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.data import ImageData, batches
from dlviz.ddpm.core import NoiseSchedule, initial_noise, sample, to_model_space
from dlviz.train import Trainer

NUM_BUCKETS = 10


def schedule_for(model: nn.Module) -> NoiseSchedule:
    """The noise schedule a U-Net was trained with (recorded in its config)."""
    c = model.config
    return NoiseSchedule(c.num_timesteps, c.schedule)


def bucket_name(k: int, T: int, buckets: int = NUM_BUCKETS) -> str:
    lo, hi = k * T // buckets + 1, (k + 1) * T // buckets
    return f"loss_t{lo:04d}-{hi:04d}"


class DiffusionLoss:
    """``loss_fn(model, (images in [0, 1], labels))`` for :class:`Trainer` (Ho Algorithm 1).

    x_0 -> t ~ U{1..T}, ε ~ N(0, I), x_t = add_noise(x_0, ε, t) (eq. 4), loss = ||ε - ε_θ(x_t, t, y)||^2
    (eq. 14, "L_simple"). Each label is replaced by the null label with probability ``p_uncond`` so the
    same network also learns the unconditional model. ``hflip`` mirrors half of the images. Returns
    the loss and, as extras, the mean loss of each timestep bucket present in the batch.
    """

    def __init__(self, schedule: NoiseSchedule, p_uncond: float = 0.1, hflip: bool = False,
                 buckets: int = NUM_BUCKETS) -> None:
        self.schedule, self.p_uncond, self.hflip, self.buckets = schedule, p_uncond, hflip, buckets

    def __call__(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
        x01, y = batch
        B = x01.shape[0]
        if self.hflip:
            flip = torch.rand(B, device=x01.device) < 0.5
            x01 = torch.where(flip[:, None, None, None], x01.flip(-1), x01)
        x0 = to_model_space(x01)                                             # (B, C, H, W) in [-1, 1]
        t = self.schedule.sample_timesteps(B, device=x0.device)             # (B,)
        noise = torch.randn_like(x0)
        xt = self.schedule.add_noise(x0, noise, t)
        null = getattr(model, "null_class", None)
        labels = None
        if null is not None:
            drop = torch.rand(B, device=x0.device) < self.p_uncond
            labels = torch.where(drop, torch.full_like(y, null), y)
        per = F.mse_loss(model(xt, t, labels), noise, reduction="none").mean(dim=(1, 2, 3))  # (B,)
        extras = {}
        with torch.no_grad():
            k = ((t - 1) * self.buckets // self.schedule.T).clamp(0, self.buckets - 1)
            for b in torch.unique(k).tolist():
                extras[bucket_name(b, self.schedule.T, self.buckets)] = float(per[k == b].mean())
        return per.mean(), extras


class EMA:
    """Exponential moving average of a model's weights, stepped like an LR scheduler after each update.

    ``shadow = decay * shadow + (1 - decay) * weights``, with the warm-up decay
    ``min(decay, (1 + n) / (10 + n))`` so early averages are not dominated by the random init.
    ``lr_scheduler`` (optional) is stepped too, so an EMA can be passed as ``Trainer(scheduler=...)``.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, lr_scheduler=None) -> None:
        self.model, self.decay, self.lr_scheduler, self.n = model, decay, lr_scheduler, 0
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        self.latest: tuple[int, dict] | None = None     # (step, EMA state) saved at each Trainer snapshot

    def model_at_latest(self) -> nn.Module | None:
        """A fresh copy of the averaged model as of the last snapshot (safe to use while training goes on)."""
        if self.latest is None:
            return None
        m = copy.deepcopy(self.shadow).cpu()
        m.load_state_dict(self.latest[1])
        return m.eval()

    @torch.no_grad()
    def step(self) -> None:
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        self.n += 1
        d = min(self.decay, (1 + self.n) / (10 + self.n))
        shadow, params = list(self.shadow.parameters()), [p.detach() for p in self.model.parameters()]
        torch._foreach_lerp_(shadow, params, 1 - d)          # one fused update instead of one per tensor
        for s, b in zip(self.shadow.buffers(), self.model.buffers(), strict=True):
            s.copy_(b)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict(self.shadow.state_dict())


@dataclass
class Snapshot:
    """Samples drawn during training, one per class (or ``n`` unconditional)."""

    step: int
    images: torch.Tensor        # (n, C, H, W) in [0, 1]
    labels: torch.Tensor | None


def make_trainer(model: nn.Module, data: ImageData, *, steps: int, lr: float = 2e-3, batch_size: int = 64,
                 optimizer: str = "Adam", weight_decay: float = 0.0, ema_decay: float = 0.995,
                 warmup: int = 100, hflip: bool = False, grad_clip: float | None = 1.0, p_uncond: float = 0.1, snapshot_every: int = 0,
                 snapshot_steps: int = 20, snapshot_guidance: float = 2.0, score_fn=None, seed: int = 0,
                 device: str | torch.device = "cpu", name: str = "ddpm") -> tuple[Trainer, EMA]:
    """A Trainer for ``model`` on ``data`` (images in [0, 1]) and the EMA of its weights.

    Linear LR warm-up over ``warmup`` steps, then constant. Every ``snapshot_every`` steps the EMA
    weights draw one sample per class with DDIM (``snapshot_steps`` steps) from a fixed x_T, into
    ``trainer.snapshots`` as :class:`Snapshot` -- so a page can show the samples improving -- and, with
    ``score_fn(images, labels) -> float`` (e.g. a classifier's accuracy), record ``sample_acc``.
    """
    from dlviz.train import make_optimizer

    if len(data) == 0:
        raise ValueError("the training set is empty")
    c = model.config
    if data.shape != (c.in_channels, c.image_size, c.image_size):
        raise ValueError(f"the data are {data.shape} but the model makes {(c.in_channels, c.image_size, c.image_size)}")
    schedule = schedule_for(model)
    model.to(device)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warmup)))
    ema = EMA(model, ema_decay, sched)
    n_cls = c.num_classes
    snap_labels = torch.arange(n_cls) if n_cls else None
    snap_noise = initial_noise(n_cls or 10, (c.in_channels, c.image_size, c.image_size), seed + 1)

    last: list[Snapshot] = []

    def snapshot(_model: nn.Module, step: int) -> Snapshot:
        if last and last[-1].step == step:          # the Trainer's final call repeats the last periodic one
            return last[-1]
        ema.latest = (step, {k: v.detach().clone() for k, v in ema.shadow.state_dict().items()})
        traj = sample(ema.shadow, schedule, snap_noise.to(device), sampler="ddim", num_steps=snapshot_steps,
                      labels=None if snap_labels is None else snap_labels.to(device),
                      guidance=snapshot_guidance, record=False)
        if score_fn is not None:
            trainer.record("sample_acc", score_fn(traj.samples, snap_labels), step)
        last[:] = [Snapshot(step, traj.samples, snap_labels)]
        return last[-1]

    trainer = Trainer(model, loss_fn=DiffusionLoss(schedule, p_uncond, hflip), optimizer=opt, scheduler=ema,
                      grad_clip=grad_clip,
                      batches=batches(data.images, data.labels, batch_size=batch_size, seed=seed), steps=steps,
                      snapshot_fn=snapshot if snapshot_every else None, snapshot_every=snapshot_every,
                      device=device, name=name)
    return trainer, ema


def bucket_losses(trainer: Trainer, last: int = 300) -> tuple[list[str], list[float]]:
    """Mean loss per timestep bucket over the last ``last`` steps (names sorted by t)."""
    hist = trainer.history()
    names = sorted(k for k in hist if k.startswith("loss_t"))
    out = []
    for k in names:
        s, v = hist[k]
        cut = trainer.step - last
        vals = [x for si, x in zip(s, v, strict=True) if si > cut] or v[-5:]
        out.append(float(sum(vals) / len(vals)) if vals else float("nan"))
    return names, out
