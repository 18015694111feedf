"""What the DDPM page shows, computed without streamlit: the forward process on one image under each
noise schedule (closed form, Ho eq. 4, beside t single steps, Ho eq. 2), the schedules' curves, the
rows of a sampled trajectory, and the landing-page thumbnail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dlviz.imaging import to_uint8
from dlviz.ddpm.core import SCHEDULES, NoiseSchedule, to_image_space, to_model_space
from dlviz.ddpm.sampling import Trajectory


@dataclass
class ForwardView:
    """x_t of one image at one t under one schedule, made two ways, with the noise actually in it."""

    kind: str
    t: int
    alpha_bar: float
    snr: float
    closed_form: np.ndarray          # (H, W, C) in [0, 1] (clipped for display): sqrt(abar) x0 + sqrt(1 - abar) eps
    stepwise: np.ndarray             # (H, W, C): t applications of the one-step kernel (eq. 2), fresh noise each
    noise_std_closed: float          # std of x_t - sqrt(abar_t) x_0 measured in the picture
    noise_std_stepwise: float
    signal_corr: float               # correlation of x_t with x_0 (theory: about sqrt(abar) * std(x0) / std(x_t))


def _hwc(x: torch.Tensor) -> np.ndarray:
    return to_image_space(x).permute(1, 2, 0).numpy()


@torch.no_grad()
def forward_view(image01: torch.Tensor, t: int, kind: str, seed: int = 0, T: int = 1000) -> ForwardView:
    """The forward process on ``image01`` ``(C, H, W)`` in [0, 1] at step ``t`` of schedule ``kind``.

    The closed-form noise ε is drawn from ``seed`` and is the same for every schedule, so pictures at
    the same t differ only by the schedule's alpha_bar_t.
    """
    s = NoiseSchedule(T, kind)
    if not 0 <= t <= T:
        raise ValueError(f"t must be in [0, {T}]")
    x0 = to_model_space(image01.double())                                      # (C, H, W) in [-1, 1]
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    xt = s.add_noise(x0, eps, t)
    x = x0.numpy().copy()
    rng = np.random.default_rng(seed + 7919)
    betas = s.betas.numpy()
    for k in range(1, t + 1):             # Ho eq. 2, one step at a time (numpy: ~10 µs a step for a slider)
        x = np.sqrt(1 - betas[k]) * x + np.sqrt(betas[k]) * rng.standard_normal(x.shape)
    x = torch.from_numpy(x)
    abar = float(s.alphas_cumprod[t])
    corr = float(np.corrcoef(xt.flatten().numpy(), x0.flatten().numpy())[0, 1]) if x0.std() > 0 else float("nan")
    return ForwardView(kind, t, abar, float(s.snr[t]), _hwc(xt.float()), _hwc(x.float()),
                       float((xt - abar ** 0.5 * x0).std()), float((x - abar ** 0.5 * x0).std()), corr)


def schedule_curves(T: int = 1000, kinds: tuple[str, ...] = SCHEDULES) -> dict[str, dict[str, np.ndarray]]:
    """``{kind: {"beta", "alpha_bar", "snr"}}`` arrays of length T + 1 (for plots)."""
    out = {}
    for k in kinds:
        s = NoiseSchedule(T, k)
        out[k] = {"beta": s.betas.numpy(), "alpha_bar": s.alphas_cumprod.numpy(), "snr": s.snr.numpy()}
    return out


def t_where_snr_crosses(kind: str, value: float = 1.0, T: int = 1000) -> int:
    """The first t at which SNR falls below ``value`` (SNR = 1: as much noise as signal)."""
    snr = NoiseSchedule(T, kind).snr.numpy()
    below = np.nonzero(snr[1:] < value)[0]
    return int(below[0] + 1) if len(below) else T


def trajectory_rows(traj: Trajectory, frame: int, n: int | None = None) -> list[np.ndarray]:
    """The montage rows ``[x_t, ε̂, x̂_0]`` (each ``(n, H, W, C)`` uint8) of one recorded frame."""
    sl = slice(0, n)
    return [traj.xt[frame, sl], traj.eps[frame, sl], traj.x0[frame, sl]]


def animation_frames(trajs: list[Trajectory], n_frames: int = 40, n: int | None = None
                     ) -> tuple[list[int], list[list[np.ndarray]]]:
    """Evenly spaced noise levels from T to 0 and, at each, the rows ``[x_t, x̂_0]`` of every trajectory."""
    T = max(tr.timesteps[0] for tr in trajs)
    ts = sorted({round(v) for v in np.linspace(T, 0, n_frames)}, reverse=True)
    frames = []
    for t in ts:
        rows = []
        for tr in trajs:
            f = tr.frame(t)
            rows += [tr.xt[f, :n], tr.x0[f, :n]]
        frames.append(rows)
    return ts, frames


def thumbnail() -> np.ndarray:
    """A hotdog dissolving into noise, in reading order (the landing-page card); < 0.1 s."""
    from dlviz.data import food_shapes
    from dlviz.ddpm.plots import montage

    img = food_shapes(100, seed=7, classes=["hotdog"]).images[0]                 # (3, 32, 32), on a plate
    s = NoiseSchedule(1000, "cosine")
    eps = torch.randn(img.shape, generator=torch.Generator().manual_seed(0))
    x0 = to_model_space(img)
    cols = [to_image_space(s.add_noise(x0, eps, t)) for t in (0, 50, 100, 200, 300, 400, 550, 1000)]
    imgs = to_uint8(torch.stack(cols))                                                    # (8, 32, 32, 3)
    return montage([imgs[:4], imgs[4:]], scale=2, gap=3)                                  # 2 x 4, like the card


# ------------------------------------------------------------------ the page's scrubber, exports and snippet
def common_timesteps(runs: list[list[int]]) -> list[int]:
    """The noise levels every one of several runs recorded, ascending (a scrubber on these shows each run at
    exactly the t it reads)."""
    common = set(runs[0])
    for r in runs[1:]:
        common &= set(r)
    return sorted(common)


def nearest(options: list[int], t: int) -> int:
    """The option nearest to ``t`` (the larger one on a tie)."""
    return min(options, key=lambda o: (abs(o - int(t)), -o))


def trajectory_gif_frames(traj: Trajectory, n_frames: int = 40, scale: int = 2) -> list[np.ndarray]:
    """One picture per noise level from T to 0 (rows x_t and x̂_0 of every image): a GIF of the denoising."""
    from dlviz.ddpm.plots import montage

    _, frames = animation_frames([traj], n_frames=n_frames)
    return [montage(rows, scale=scale) for rows in frames]


def history_rows(trainer) -> list[dict]:
    """A run's recorded metrics, long-form (metric, step, value): the training log as a table."""
    return [{"metric": k, "step": s, "value": v} for k, (steps, vals) in sorted(trainer.history().items())
            for s, v in zip(steps, vals, strict=True)]


def snippet_body(checkpoint: str, classifier: str, labels: list[int], steps: int, eta: float, guidance: float,
                 seed: int) -> str:
    """Plain Python (dlviz only) that redraws the page's DDIM samples and counts what the classifier recognises."""
    return f'''import torch
from dlviz.checkpoints import load_shipped
from dlviz.ddpm.sampling import generate
from dlviz.ddpm.quality import recognise, recognised_text

model, _ = load_shipped("{checkpoint}", expected_arch="unet")
classifier, _ = load_shipped("{classifier}", expected_arch="small_cnn")
labels = torch.tensor({list(labels)})
traj = generate(model, sampler="ddim", num_steps={steps}, eta={eta!r}, labels=labels, guidance={guidance!r},
                seed={seed})
result = recognise(classifier, traj.samples)      # the class of each sample, or -1: no object to classify
print(recognised_text(result, labels.numpy()))
'''


def recognised_share(verdicts, requested) -> float:
    """The share of samples recognised as their requested class (a sample with no object never is)."""
    return float(verdicts.hits(requested).mean()) if len(verdicts.predicted) else float("nan")


def per_class_share(verdicts, requested, n_classes: int) -> np.ndarray:
    """``(K,)`` :func:`recognised_share` per requested class (nan where none was requested)."""
    req, hit = np.asarray(requested), verdicts.hits(requested)
    return np.array([float(hit[req == k].mean()) if (req == k).any() else np.nan for k in range(n_classes)])


def card_metrics(card: dict) -> tuple[list[tuple[str, str, str]], str]:
    """A shipped generator's card as (label, value, help) metrics and a caption (empty without quality metrics)."""
    cm = card.get("metrics", {})
    if not all(k in cm for k in ("sample_acc", "fd", "fd_real_floor")):
        return [], ""
    rows = [("Card: samples recognised", f"{cm['sample_acc']:.1%}", card.get("quality_protocol", "")),
            ("Card: FD to real", f"{cm['fd']:.2f}", "Fréchet distance in the classifier's feature space."),
            ("Card: FD real vs real", f"{cm['fd_real_floor']:.2f}", "What a perfect generator would score."),
            ("Trained for", f"{card.get('steps', 0):,} steps",
             f"{card.get('wall_time_s', 0) / 60:.0f} min wall time on {card.get('device', 'cpu')}, "
             f"{card.get('threads', '?')} thread(s), {card.get('train_cpu_time_s', '?')} s of CPU time.")]
    return rows, (f"Card protocol: {card.get('quality_protocol', '')} (the card counts the classifier's verdict on "
                  f"every sample, blank ones included). Reproduce: `{card.get('reproduce', '')}`.")


def snapshot_frames(snaps: list, scale: int = 3) -> list[np.ndarray]:
    """One picture per ``(step, Snapshot)`` of a live run (its samples from the same noise): a GIF of training."""
    from dlviz.ddpm.plots import montage

    return [montage([to_uint8(s.images)], scale=scale) for _, s in snaps]


def source_image(kind: str, name: str, i: int) -> torch.Tensor:
    """Section 1's clean image ``(C, H, W)`` in [0, 1]: food shape ``i`` of class ``name`` (seed 7, 100 drawn),
    or digit ``i`` of the 1,797 scikit-learn digits at 32 px."""
    from dlviz.data import digits, food_shapes

    if kind == "food":
        return food_shapes(100, seed=7, classes=[name]).images[i]
    return digits("all", size=32).images[i]


def class_names(dataset: str) -> list[str]:
    """The class names a generator of ``dataset`` is conditioned on."""
    from dlviz.data import FOOD_CLASSES

    return list(FOOD_CLASSES) if dataset == "food_shapes" else [str(i) for i in range(10)]
