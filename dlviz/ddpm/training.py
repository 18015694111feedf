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
from dlviz.ddpm.core import NoiseSchedule, to_model_space
from dlviz.ddpm.sampling import generate, initial_noise, schedule_for
from dlviz.train import Trainer

NUM_BUCKETS = 10
BUCKET_WINDOW = 300      # steps the loss-per-timestep bars average over
SNAPSHOT_STEPS = 20      # DDIM steps of the samples a run draws while it trains


@dataclass(frozen=True)
class DDPMSpec:
    """What a shipped DDPM is trained on and how (the recipes' and the page's live run's starting point)."""

    dataset: str                 # digits | food_shapes
    config: dict                 # the U-Net config
    steps: int
    lr: float = 2e-3
    batch_size: int = 64
    ema_decay: float = 0.995
    warmup: int = 200
    hflip: bool = False
    n_train: int = 0             # food shapes only: how many training images to draw
    eval_per_class: int = 15
    eval_steps: int = 10
    eval_guidance: float = 2.0


DIGITS = DDPMSpec(
    dataset="digits",
    config={"in_channels": 1, "image_size": 16, "base_channels": 16, "channel_mults": (1, 2, 2),
            "num_res_blocks": 1, "attention_resolutions": (4,), "num_classes": 10, "schedule": "cosine",
            "num_timesteps": 1000, "half_storage": True},
    steps=3000, batch_size=32, eval_per_class=20)

FOOD = DDPMSpec(
    dataset="food_shapes",
    config={"in_channels": 3, "image_size": 32, "base_channels": 16, "channel_mults": (1, 2, 2),
            "num_res_blocks": 1, "attention_resolutions": (8,), "num_classes": 10, "schedule": "cosine",
            "num_timesteps": 1000, "half_storage": True},
    steps=4000, batch_size=32, hflip=True, n_train=10000, eval_guidance=4.0)


SPECS = {"digits": DIGITS, "food_shapes": FOOD}


def training_data(spec: DDPMSpec) -> ImageData:
    """The training images of a spec: the digits train split at 16x16, or ``n_train`` food shapes."""
    from dlviz.data import digits, food_shapes

    if spec.dataset == "digits":
        return digits("train", seed=0, size=16)
    return food_shapes(spec.n_train, seed=100)


def fresh_model(spec: DDPMSpec, base_channels: int | None = None, schedule: str | None = None,
                seed: int = 0) -> nn.Module:
    """A new (float32) U-Net of a spec's architecture, optionally narrower/wider or with another schedule."""
    from dlviz.models import build_model

    torch.manual_seed(seed)
    cfg = {**spec.config, "half_storage": False}
    if base_channels is not None:
        cfg["base_channels"] = base_channels
    if schedule is not None:
        cfg["schedule"] = schedule
    return build_model("unet", cfg)


def sample_scorer(classifier: nn.Module):
    """``score_fn(images, labels)`` for :func:`make_trainer`: the fraction ``classifier`` recognises as their
    label (an image with no object never counts: :func:`dlviz.ddpm.quality.recognise`)."""
    from dlviz.ddpm.quality import recognise

    return lambda x, y: float(recognise(classifier, x).hits(y.numpy()).mean())


def dataset_of(model: nn.Module) -> str | None:
    """The dataset whose images a U-Net makes (by channels and size), or None for one no spec matches."""
    c = model.config
    for name, spec in SPECS.items():
        if (c.in_channels, c.image_size) == (spec.config["in_channels"], spec.config["image_size"]):
            return name
    return None


def ema_step(trainer: Trainer) -> int | None:
    """The step of the last snapshot of a :func:`make_trainer` run's EMA (None before the first)."""
    ema = trainer.scheduler
    return ema.latest[0] if isinstance(ema, EMA) and ema.latest is not None else None


def trained_model(trainer: Trainer) -> tuple[nn.Module | None, int]:
    """The EMA model of a :func:`make_trainer` run as of its last snapshot, and that snapshot's step
    (``(None, 0)`` before the first snapshot)."""
    step = ema_step(trainer)
    return (None, 0) if step is None else (trainer.scheduler.model_at_latest(), step)


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
                 snapshot_steps: int = SNAPSHOT_STEPS, snapshot_guidance: float = 2.0, score_fn=None, seed: int = 0,
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
        traj = generate(ema.shadow, schedule=schedule, noise=snap_noise, num_steps=snapshot_steps,
                        labels=snap_labels, guidance=snapshot_guidance, record=False)
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


def bucket_losses(trainer: Trainer, last: int = BUCKET_WINDOW) -> tuple[list[str], list[float]]:
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
