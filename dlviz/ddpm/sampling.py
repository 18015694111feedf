"""Sampling a denoising diffusion model: one reverse-process loop for DDPM and DDIM, used by the page, the
metrics, the training snapshots and the benchmarks (like the ``__call__`` of a diffusers pipeline).

Ho, Jain & Abbeel (2020), "Denoising Diffusion Probabilistic Models" (the ancestral sampler, "Ho eq. N");
Song, Meng & Ermon (2021), "Denoising Diffusion Implicit Models" (the deterministic sampler, "Song eq. N");
Ho & Salimans (2021), "Classifier-Free Diffusion Guidance". The schedule and one reverse step live in
:mod:`dlviz.ddpm.core` (:class:`NoiseSchedule`); this module runs the loop, records what the page shows
(x_t, the predicted noise and x̂_0 at each kept step) and samples the shipped models.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlviz.ddpm.core import SPACINGS, NoiseSchedule, to_image_space
from dlviz.imaging import quantize


def predict_noise(model: torch.nn.Module, x: torch.Tensor, t: int, labels: torch.Tensor | None = None,
                  guidance: float = 1.0) -> torch.Tensor:
    """ε̂(x_t, t, y) with classifier-free guidance: ε̂_u + w (ε̂_c - ε̂_u)  (Ho & Salimans eq. 6, w = 1 + their w).

    ``guidance`` w = 1 is the plain conditional model, w = 0 the unconditional one (the null label),
    w > 1 pushes samples towards their class. Unconditional models ignore ``labels``.
    """
    tt = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)
    null = getattr(model, "null_class", None)
    if labels is None or null is None:
        return model(x, tt, None)
    labels = labels.to(x.device)
    if guidance == 1.0:
        return model(x, tt, labels)
    nulls = torch.full_like(labels, null)
    if guidance == 0.0:
        return model(x, tt, nulls)
    out = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, nulls]))  # (2B, C, H, W)
    cond, uncond = out.chunk(2)
    return uncond + guidance * (cond - uncond)


def eps_to_display(eps: torch.Tensor) -> torch.Tensor:
    """Show a noise map: ε = 0 is mid-grey, ±2 standard deviations are black / white."""
    return (eps / 4 + 0.5).clamp(0, 1)


def _u8(x01: torch.Tensor) -> np.ndarray:
    """``(B, C, H, W)`` in [0, 1] -> ``(B, H, W, C)`` uint8 (channels kept: greyscale stays one channel)."""
    return quantize(x01.permute(0, 2, 3, 1))


@dataclass
class Trajectory:
    """A reverse-process run: what the sampler saw and predicted at each recorded step."""

    sampler: str                   # "ddpm" | "ddim"
    num_steps: int                 # network evaluations per image (x2 with guidance)
    eta: float
    timesteps: list[int]           # recorded t, descending, the last is 0 (the final samples)
    xt: np.ndarray                 # (F, B, H, W, C) uint8: x_t at each recorded t
    eps: np.ndarray                # (F, B, H, W, C) uint8: ε̂ (eps_to_display); the t = 0 frame repeats the last
    x0: np.ndarray                 # (F, B, H, W, C) uint8: x̂_0 at each recorded t
    samples: torch.Tensor          # (B, C, H, W) in [0, 1]: the generated images
    labels: torch.Tensor | None
    seconds: float
    step_seconds: float = float("nan")   # median wall time of one step (one or two network evaluations)

    def frame(self, t: int) -> int:
        """Index of the recorded frame nearest to noise level ``t``."""
        ts = np.asarray(self.timesteps)
        return int(np.argmin(np.abs(ts - int(t))))


@torch.no_grad()
def sample(model: torch.nn.Module, schedule: NoiseSchedule, x_T: torch.Tensor, *, sampler: str = "ddim",
           num_steps: int = 50, eta: float = 0.0, labels: torch.Tensor | None = None, guidance: float = 1.0,
           clip: bool = True, generator: torch.Generator | None = None, max_frames: int = 101,
           record: bool = True, progress=None, spacing: str = "leading") -> Trajectory:
    """Run the reverse process from ``x_T`` ``(B, C, H, W)`` and record about ``max_frames`` frames (:func:`_kept_steps`).

    ``sampler="ddpm"`` takes all T ancestral steps (Ho Algorithm 2, sigma^2 = beta~_t); ``"ddim"``
    takes ``num_steps`` jumps (Song eq. 12) with stochasticity ``eta``, visited in ``spacing``
    (:meth:`NoiseSchedule.timesteps`; the start noise is x at the first visited t). The per-step noise comes from
    ``generator`` (on the CPU), so a run is reproducible from its seed. ``progress(i, n)`` is called before
    step ``i`` of ``n`` (it may raise to abandon the run).
    """
    if sampler not in ("ddpm", "ddim"):
        raise ValueError("sampler must be 'ddpm' or 'ddim'")
    start = time.perf_counter()
    was = model.training
    model.eval()
    ts = schedule.timesteps(schedule.T if sampler == "ddpm" else num_steps, spacing)
    n = len(ts) - 1
    keep = _kept_steps(schedule, ts, max_frames) if record else set()
    frames_xt, frames_eps, frames_x0, rec_t, step_s = [], [], [], [], []
    x = x_T
    eps = torch.zeros_like(x)
    for i, (t, s) in enumerate(itertools.pairwise(ts)):
        if progress is not None:
            progress(i, n)                               # may raise to cancel the run
        t_step = time.perf_counter()
        eps = predict_noise(model, x, t, labels, guidance)
        z = torch.randn(x.shape, generator=generator).to(x.device) if (sampler == "ddpm" or eta > 0) else None
        if sampler == "ddpm":
            out = schedule.ddpm_step(eps, t, x, noise=z, variance="posterior", clip=clip)
        else:
            out = schedule.ddim_step(eps, t, s, x, eta=eta, noise=z, clip=clip)
        if i in keep:
            frames_xt.append(_u8(to_image_space(x)))
            frames_eps.append(_u8(eps_to_display(eps)))
            frames_x0.append(_u8(to_image_space(out.pred_x0)))
            rec_t.append(t)
        x = out.prev_sample
        step_s.append(time.perf_counter() - t_step)
    final = to_image_space(x)
    if record:
        frames_xt.append(_u8(final))
        frames_eps.append(_u8(eps_to_display(eps)))
        frames_x0.append(_u8(final))
        rec_t.append(0)
    model.train(was)
    empty = np.zeros((0,), dtype=np.uint8)
    return Trajectory(sampler, n, float(eta if sampler == "ddim" else 1.0), rec_t,
                      np.stack(frames_xt) if record else empty, np.stack(frames_eps) if record else empty,
                      np.stack(frames_x0) if record else empty, final.cpu(),
                      None if labels is None else labels.cpu(), time.perf_counter() - start,
                      float(np.median(step_s)) if step_s else float("nan"))


def _kept_steps(schedule: NoiseSchedule, ts: list[int], max_frames: int) -> set[int]:
    """Indices into ``ts`` (a run's visiting order) whose x_t :func:`sample` records, the first and last included.

    A run of up to ``max_frames - 1`` steps keeps every step. A longer one keeps the levels it shares with a
    ``max_frames - 1``-step run in either spacing (DDPM visits every t, so it keeps ~2 x ``max_frames``): runs whose
    step counts divide one another are then recorded at common levels, and the page's scrubber shows the DDPM and
    the DDIM panel at exactly the same t. Where the grids do not line up (333 steps), evenly spaced steps."""
    n = len(ts) - 1
    if n + 1 <= max_frames:
        return set(range(n + 1))
    levels = set().union(*(schedule.timesteps(max_frames - 1, sp) for sp in SPACINGS))
    aligned = {i for i, t in enumerate(ts) if t in levels}
    if len(aligned) < max_frames - 1:
        aligned = set(np.unique(np.linspace(0, n, max_frames).round().astype(int)).tolist())
    return aligned | {0, n}


def recorded_timesteps(schedule: NoiseSchedule, sampler: str = "ddim", num_steps: int = 50,
                       max_frames: int = 101, spacing: str = "leading") -> list[int]:
    """The noise levels t a :func:`sample` run records (descending, ending at 0), known before it runs."""
    ts = schedule.timesteps(schedule.T if sampler == "ddpm" else num_steps, spacing)
    keep = _kept_steps(schedule, ts, max_frames)
    return [t for i, t in enumerate(ts[:-1]) if i in keep] + [0]


def initial_noise(n: int, shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """``(n, C, H, W)`` standard normal x_T from a seed: the same seed gives DDPM and DDIM the same start."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn((n, *shape), generator=g)


def schedule_for(model: nn.Module) -> NoiseSchedule:
    """The noise schedule a U-Net was trained with (recorded in its config)."""
    c = model.config
    return NoiseSchedule(c.num_timesteps, c.schedule)


def _cat(trajs: list[Trajectory]) -> Trajectory:
    """Batches of one run (same sampler, same timesteps) as one trajectory, images side by side."""
    if len(trajs) == 1:
        return trajs[0]
    first = trajs[0]
    frames = {k: (np.concatenate([getattr(tr, k) for tr in trajs], axis=1) if getattr(first, k).size else getattr(first, k))
              for k in ("xt", "eps", "x0")}
    labels = None if first.labels is None else torch.cat([tr.labels for tr in trajs])
    return Trajectory(first.sampler, first.num_steps, first.eta, first.timesteps, frames["xt"], frames["eps"],
                      frames["x0"], torch.cat([tr.samples for tr in trajs]), labels, sum(tr.seconds for tr in trajs),
                      float(np.nanmean([tr.step_seconds for tr in trajs])))


@torch.no_grad()
def generate(model: nn.Module, *, schedule: NoiseSchedule | None = None, sampler: str = "ddim", num_steps: int = 50,
             eta: float = 0.0, labels: torch.Tensor | None = None, guidance: float = 1.0,
             noise: torch.Tensor | None = None, n: int | None = None, seed: int = 0, clip: bool = True,
             record: bool = True, max_frames: int = 101, batch_size: int | None = None,
             device: str | torch.device | None = None, progress=None, spacing: str = "leading") -> Trajectory:
    """The one way dlviz draws images from a diffusion model (like a ``diffusers`` pipeline's ``__call__``).

    ``schedule`` defaults to the one the model was trained with (:func:`schedule_for`). The start x_T is
    ``noise`` ``(B, C, H, W)``, or else ``initial_noise(B, shape, seed)`` with B = ``len(labels)`` (or
    ``n``, default 1) and the shape from ``model.config``; the per-step noise of DDPM / DDIM with eta > 0
    comes from a CPU generator seeded ``seed + 1``, so a run is reproducible from ``seed``. ``labels`` and
    ``guidance`` condition the samples (classifier-free guidance, :func:`predict_noise`); ``record`` keeps
    up to ``max_frames`` frames of the trajectory; ``batch_size`` splits a large set into batches that draw
    from the same generator one after another. The model runs on its own device unless ``device`` is
    given (then a copy is moved there). ``progress(done, total)`` counts steps over all batches (it may raise
    to abandon the run).
    """
    if device is not None and torch.device(device) != next(model.parameters()).device:
        model = copy.deepcopy(model).to(device)
    dev = next(model.parameters()).device
    schedule = schedule or schedule_for(model)
    if noise is None:
        c = model.config
        count = len(labels) if labels is not None else int(n or 1)
        noise = initial_noise(count, (c.in_channels, c.image_size, c.image_size), seed)
    g = torch.Generator().manual_seed(int(seed) + 1)
    B = len(noise)
    step = int(batch_size or B) or 1
    parts, n_batches = [], -(-B // step)
    for b, i in enumerate(range(0, B, step)):
        y = None if labels is None else labels[i:i + step].to(dev)
        hook = None if progress is None else (lambda k, n, b=b: progress(b * n + k, n_batches * n))
        parts.append(sample(model, schedule, noise[i:i + step].to(dev), sampler=sampler, num_steps=num_steps,
                            eta=eta, labels=y, guidance=guidance, clip=clip, generator=g, max_frames=max_frames,
                            record=record, progress=hook, spacing=spacing))
    return _cat(parts)


def generate_per_class(model: nn.Module, n_per_class: int, *, num_steps: int = 25, guidance: float = 2.0,
                       eta: float = 0.0, seed: int = 0, batch_size: int = 250, progress=None,
                       spacing: str = "leading") -> tuple[torch.Tensor, torch.Tensor]:
    """``n_per_class`` DDIM samples of every class: ``(images (N, C, H, W) in [0, 1], labels (N,))``."""
    c = model.config
    labels = torch.arange(max(1, c.num_classes)).repeat_interleave(n_per_class)
    traj = generate(model, num_steps=num_steps, eta=eta, labels=labels if c.num_classes else None,
                    n=len(labels), guidance=guidance, seed=seed, record=False, batch_size=batch_size,
                    progress=progress, spacing=spacing)
    return traj.samples, labels
