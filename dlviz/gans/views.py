"""Arrays for the GAN page's layered view (in the spirit of GAN Lab, Kahng et al. 2018): D's decision
surface on a grid, G's transformation as a warped grid of the noise space, the gradient each fake sample
receives, and snapshots of all three for the time scrubber. Also the landing-page thumbnail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlviz.gans.core import g_terms
from dlviz.gans.data import Dataset2D
from dlviz.gans.results import (REF_SWEEP, grid_one_sample_modes, reference_gap, shipped_caption, SWEEP, budget_sentence,  # noqa: F401
                                load_long_run, load_sweep, longer_run_sentence, packing_verdict, ref_sweep_verdict,
                                shipped_rows, sweep_rows, sweep_verdict)
from dlviz.imaging import quantize

LOGIT_LOSSES = ("minimax", "non-saturating")
METRIC_TITLES = {"modes_captured": "modes captured", "high_quality_frac": "high-quality share",
                 "reverse_kl": "reverse KL (nats)", "d_loss": "D's loss", "g_loss": "G's loss",
                 "distance": "divergence D's loss estimates", "d_acc": "D's accuracy", "g_grad": "|∂L_G/∂x| per sample"}
LRS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 10.0]     # the learning-rate sliders
OPTS = ["Adam", "SGD", "SGD + momentum", "RMSprop"]


@dataclass
class Snapshot:
    """Everything the layered view draws at one step (small: ~20 kB)."""

    step: int
    fake: np.ndarray          # (n, 2) samples from fixed noise
    heat: np.ndarray          # (R, R) D's output on the grid (probability "real" for the logit losses)
    xs: np.ndarray            # (R,) grid coordinates
    ys: np.ndarray            # (R,)
    warp: np.ndarray          # (2L, P, 2) images under G of the noise grid's lines
    arrows: np.ndarray        # (a, 2) -dL_G/dx at the first a fake samples (where G moves them)


def noise_grid_lines(noise_kind: str, dim: int, lines: int = 11, points: int = 41) -> torch.Tensor:
    """Lines of a grid in the first two noise coordinates (the others 0): (2 * lines, points, dim).

    Gaussian noise: over [-2.5, 2.5] (99 % of each coordinate); uniform: over [-1, 1]."""
    r = 1.0 if noise_kind == "uniform" else 2.5
    a, t = torch.linspace(-r, r, lines), torch.linspace(-r, r, points)
    z = torch.zeros(2 * lines, points, dim)
    z[:lines, :, 0], z[:lines, :, 1 % dim] = t[None, :], a[:, None]          # horizontal lines
    z[lines:, :, 0], z[lines:, :, 1 % dim] = a[:, None], t[None, :]          # vertical lines
    return z


def decision_surface(model: nn.Module, loss: str, bounds: tuple[float, float, float, float], res: int = 60
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D on a ``res`` x ``res`` grid over ``bounds``: ``(xs, ys, heat (res, res))``, heat[i, j] at (xs[j], ys[i]).

    A packed D (m > 1) is shown at m copies of the point. For the logit losses heat is sigma(D) (the
    probability D gives "real"); for the others it is D's raw output."""
    x0, x1, y0, y1 = bounds
    xs, ys = np.linspace(x0, x1, res), np.linspace(y0, y1, res)
    X, Y = np.meshgrid(xs, ys)
    pts = torch.tensor(np.stack([X.ravel(), Y.ravel()], 1), dtype=torch.float32)
    m = model.config.pack
    with torch.no_grad():
        out = model.D(pts.repeat(1, m)).squeeze(-1)
    if loss in LOGIT_LOSSES:
        out = torch.sigmoid(out)
    return xs, ys, out.view(res, res).numpy()


def fake_gradients(model: nn.Module, loss: str, z: torch.Tensor) -> np.ndarray:
    """-dL_G/dx for the fakes G(z) (n, 2): the direction D's current surface pushes each sample."""
    with torch.enable_grad():
        x = model.G(z).detach().requires_grad_(True)
        n = len(x) - len(x) % model.config.pack
        lg = g_terms(loss, model.discriminate(x[:n])).sum()      # summed over D's inputs: per-sample gradients
        (g,) = torch.autograd.grad(lg, x)
    return -g[:n].numpy()


def snapshot(model: nn.Module, loss: str, step: int, bounds, z: torch.Tensor, n_arrows: int = 120,
             res: int = 60) -> Snapshot:
    """The layered view's arrays for ``model`` at ``step`` (fakes from the fixed noise ``z``)."""
    was = model.training
    model.eval()
    with torch.no_grad():
        fake = model.G(z).numpy()
        c = model.config
        lines = noise_grid_lines(c.noise, c.noise_dim)
        warp = model.G(lines.view(-1, c.noise_dim)).view(lines.shape[0], lines.shape[1], 2).numpy()
    xs, ys, heat = decision_surface(model, loss, bounds, res)
    k = n_arrows - n_arrows % c.pack
    arrows = fake_gradients(model, loss, z[:k])
    model.train(was)
    return Snapshot(step, fake, heat.astype(np.float32), xs, ys, warp, arrows)


def snapshot_fn(loss: str, data: Dataset2D, n: int = 500, seed: int = 1):
    """A ``snapshot_fn(model, step)`` for the Trainer: the same noise at every step."""
    bounds = data.bounds()
    cache: dict = {}

    def fn(model: nn.Module, step: int) -> Snapshot:
        if "z" not in cache:
            cache["z"] = model.noise(n, torch.Generator().manual_seed(seed)).cpu()
        return snapshot(model, loss, step, bounds, cache["z"])

    return fn


def arrow_segments(points: np.ndarray, vecs: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Arrows as line segments (x, y with NaN breaks), each scaled so the longest is ``length``."""
    norms = np.linalg.norm(vecs, axis=1)
    scale = length / norms.max() if len(norms) and norms.max() > 0 else 0.0
    ends = points + vecs * scale
    seg = np.full((len(points), 3, 2), np.nan)
    seg[:, 0], seg[:, 1] = points, ends
    return seg[..., 0].ravel(), seg[..., 1].ravel()


def thumbnail() -> np.ndarray:
    """The 5x5 grid (blue) and a collapsed generator's samples (orange) on a dark D surface, 120 x 240."""
    from dlviz.gans.data import grid

    rng = np.random.default_rng(0)
    H, W = 120, 240
    img = np.zeros((H, W, 3), np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    u, v = (xx - W / 2) / (H / 2) * 5.5, (yy - H / 2) / (H / 2) * 5.5       # data coordinates
    modes = grid().modes
    d2 = ((np.stack([u, v], -1)[..., None, :] - modes) ** 2).sum(-1).min(-1)
    surf = np.exp(-d2 / 1.5)
    img[..., 0], img[..., 1], img[..., 2] = 0.10 + 0.25 * surf, 0.10 + 0.15 * surf, 0.22 + 0.35 * surf

    def dot(px, py, col, r=1.6):
        i, j = int(round(py / 5.5 * H / 2 + H / 2)), int(round(px / 5.5 * H / 2 + W / 2))
        for di in range(-2, 3):
            for dj in range(-2, 3):
                if di * di + dj * dj <= r * r and 0 <= i + di < H and 0 <= j + dj < W:
                    img[i + di, j + dj] = col

    for mx, my in modes:
        for _ in range(6):
            dot(mx + rng.normal(0, 0.12), my + rng.normal(0, 0.12), (0.35, 0.65, 1.0))
    for mx, my in modes[[6, 8, 12, 16, 18]]:                               # 5 of 25 modes: a collapsed G
        for _ in range(10):
            dot(mx + rng.normal(0, 0.2), my + rng.normal(0, 0.2), (1.0, 0.55, 0.1), r=1.3)
    return quantize(img)                                                    # (H, W, 3) uint8


# ------------------------------------------------------------------ the image GAN
def mosaic(images: torch.Tensor, ncol: int = 8, scale: int = 1) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] as an (H', W', 3) uint8 mosaic, each pixel ``scale`` x ``scale``."""
    from dlviz.imaging import tile

    m = tile(images.detach().cpu(), ncol=ncol)
    return np.kron(m, np.ones((scale, scale, 1), np.uint8)) if scale > 1 else m


def image_snapshot_fn(n: int = 32, seed: int = 3):
    """A ``snapshot_fn(model, step)``: the mosaic of G's images for the same ``n`` noise vectors at every step."""
    def fn(model: nn.Module, step: int) -> np.ndarray:
        from dlviz.gans.images import generate

        was = model.training
        out = mosaic(generate(model, n, seed=seed), ncol=8)
        model.train(was)
        return out

    return fn


# ------------------------------------------------------------------ replay, exports, snippet
def replay_snapshots(trainer) -> list[tuple[int, Snapshot]]:
    """The snapshots a replay may show: up to the trainer's step (after a divergence, the restored last good
    step; snapshots taken between it and the blow-up show weights that were thrown away) and finite."""
    def finite(s) -> bool:
        arrays = (s.fake, s.heat) if isinstance(s, Snapshot) else (np.asarray(s, dtype=float),)
        return all(np.isfinite(a).all() for a in arrays)

    return [(step, s) for step, s in list(trainer.snapshots) if step <= trainer.step and finite(s)]


def replay_frame(snap: Snapshot, real: np.ndarray, bounds, modes: np.ndarray | None = None, size: int = 320,
                 logit: bool = True) -> np.ndarray:
    """One frame of the game as pixels ``(size, size, 3)`` uint8: D's surface (red: "fake", blue: "real"), the real
    samples (blue dots), the fakes from the fixed noise (orange) and the modes (black); for a GIF of a replay."""
    from PIL import Image, ImageDraw

    x0, x1, y0, y1 = bounds
    h = np.asarray(snap.heat, dtype=float)
    lo, hi = (0.0, 1.0) if logit else (float(np.nanmin(h)), float(np.nanmax(h)))
    u = np.clip((h - lo) / ((hi - lo) or 1.0), 0, 1)[::-1]                     # row 0 at the top: y1
    red, blue = np.array([214, 96, 77]), np.array([67, 147, 195])
    rgb = (1 - u)[..., None] * red + u[..., None] * blue
    rgb = 0.45 * rgb + 0.55 * 255                                              # light, so the dots stand out
    im = Image.fromarray(rgb.astype(np.uint8)).resize((size, size), Image.BILINEAR)
    draw = ImageDraw.Draw(im)

    def to_px(p):
        return (p[:, 0] - x0) / (x1 - x0) * (size - 1), (y1 - p[:, 1]) / (y1 - y0) * (size - 1)

    for pts, col, r in ((real, (31, 119, 180), 1.5), (snap.fake, (255, 127, 14), 1.5)):
        xs, ys = to_px(np.asarray(pts, dtype=float))
        for x, y in zip(xs, ys):
            if np.isfinite(x) and np.isfinite(y):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=col)
    if modes is not None:
        for x, y in zip(*to_px(np.asarray(modes, dtype=float))):
            draw.line((x - 3, y - 3, x + 3, y + 3), fill=(0, 0, 0))
            draw.line((x - 3, y + 3, x + 3, y - 3), fill=(0, 0, 0))
    draw.text((4, 2), f"step {snap.step:,}", fill=(0, 0, 0))
    return np.asarray(im)


def replay_frames(snaps: list[tuple[int, Snapshot]], real: np.ndarray, bounds, modes=None, loss: str = "",
                  size: int = 320, max_frames: int = 60) -> list[np.ndarray]:
    """Up to ``max_frames`` evenly spaced frames (:func:`replay_frame`) of a run's replay, the last one included."""
    idx = np.unique(np.linspace(0, len(snaps) - 1, min(max_frames, len(snaps))).round().astype(int))
    return [replay_frame(snaps[i][1], real, bounds, modes, size, loss in LOGIT_LOSSES) for i in idx]


def history_rows(trainers: dict) -> list[dict]:
    """Every run's recorded metrics, long-form (run, metric, step, value): the training log as a table."""
    return [{"run": name, "metric": k, "step": s, "value": v} for name, t in trainers.items()
            for k, (steps, vals) in sorted(t.history().items()) for s, v in zip(steps, vals)]


def snippet_body(checkpoint: str, dataset: str) -> str:
    """Plain Python (dlviz only) that recounts the modes a shipped 2-D GAN captures (2,500 samples, seed 0)."""
    return f'''import torch
from dlviz.checkpoints import load_shipped
from dlviz.gans import make_dataset, mode_stats

model, _ = load_shipped("{checkpoint}", expected_arch="gan_mlp")
data = make_dataset("{dataset}")
with torch.no_grad():
    x = model.generate(2500, torch.Generator().manual_seed(0)).numpy()
result = mode_stats(x, data.modes, data.sigma)     # this app's count: >= 20 of 2,500 within 3 sigma
print(f"{{result.modes_captured}} / {{result.n_modes}}")
'''


def mode_cards(ms) -> list[tuple[str, str, str | None]]:
    """The mode measurements of :class:`dlviz.gans.metrics.ModeStats` as (label, value, help) metric cards."""
    return [("Modes captured", f"{ms.modes_captured} / {ms.n_modes}",
             f"Modes with ≥ {ms.min_count} of {len(ms.nearest):,} samples within 3σ. PacGAN's reference code counts "
             f"a mode with ≥ 1 such sample: {int((ms.counts >= 1).sum())} / {ms.n_modes} here."),
            ("High-quality samples", f"{ms.high_quality_frac:.1%}", "Within 3σ of the nearest mode."),
            ("Reverse KL of the mode histogram", f"{ms.reverse_kl:.3f} nats",
             "KL(p_G || uniform) over the modes: 0 when every mode gets its share, "
             f"log {ms.n_modes} = {np.log(ms.n_modes):.2f} when one mode gets all."),
            ("Empty modes", f"{int((ms.counts == 0).sum())}", None)]


# ------------------------------------------------------------------ the page's labels and captions
SHIPPED = {"gan_grid_vanilla": "5×5 grid · vanilla GAN", "gan_grid_pac2": "5×5 grid · PacGAN (m = 2)",
           "gan_ring_vanilla": "ring of 8 · vanilla GAN", "gan_ring_pac2": "ring of 8 · PacGAN (m = 2)"}
SHIPPED_DATA = {"gan_grid_vanilla": "grid", "gan_grid_pac2": "grid", "gan_ring_vanilla": "ring", "gan_ring_pac2": "ring"}
MANUAL_CAPTION = ("Step D alone and watch its surface and the green arrows change; step G alone and watch the fakes "
                  "slide along the arrows toward D's 'real' (blue) regions. Each click runs fresh Adam optimisers, "
                  "lr 1e-3, on a copy of the model.")
GAME_CAPTION = ("Left to right: the divergence D's loss estimates (JS for minimax / non-saturating, W₁ for WGAN-GP, "
                "TV for hinge, triangular discrimination for least squares); D's accuracy on its batch (near 1: D is "
                "winning); the gradient a fake sample receives from G's loss (near 0: G has stopped learning).")


def real_points(data: Dataset2D, n: int = 600) -> np.ndarray:
    """The fixed real samples every view of the page draws (seed 123)."""
    return data.sample(n, torch.Generator().manual_seed(123)).numpy()


def source_label(src: str) -> str:
    """A model source's radio label: a shipped checkpoint's name, or ``live:<seed name>`` for the user's run."""
    return SHIPPED[src] if src in SHIPPED else f"my run · {src[5:] or 'live'}"


def live_caption(name: str, step: int) -> str:
    return (f"{name or 'Your run'} at step {step:,}: real (blue), fake from fixed noise (orange), D's surface, "
            "G's warped noise grid and, in green, where G's loss pushes each fake.")


def seed_rows(summary: dict[str, tuple[float, float, int]]) -> list[dict]:
    """:func:`dlviz.gans.training.seed_summary` as table rows (measure, mean, standard error, runs)."""
    return [{"measure": METRIC_TITLES[k], "mean": m, "standard error": se, "runs": n}
            for k, (m, se, n) in summary.items()]


# the page's "try this" prompts (each one checked by tests/test_gans_issue12.py)
TRY_THIS = [
    "Grid, 5 seeds: how many of the 25 modes does each seed keep? Set packing m = 2 and compare the mean ± standard "
    "error; section 3 says what the shipped and the paper-size runs measured.",
    "**Minimax**, D's learning rate 0.01, G's 1e-5, 600 steps on the grid: D's accuracy climbs to 1 (D wins while G "
    "barely moves) -- yet |∂L_G/∂x| does not vanish here: D's surface gets steeper as it wins.",
    "Shipped vanilla ring GAN: step D only 100 times, then G only 100 times. D alone moves no sample; G alone slides the "
    "fakes along the arrows and overshoots -- the high-quality share falls. The game needs both players.",
    "Pick the shipped vanilla ring GAN: this seed keeps all 8 modes. Section 3 shows what its five seeds average (one "
    "run is noise) and what packing (m = 2) does to the same recipe.",
    "Set the learning rates to 10 with SGD: the run stops, says which loss broke, and keeps the last good weights.",
    "Section 4, **digits · conditional DCGAN**: nearly every sample is read as the digit asked for, and changing the "
    "noise seed changes how it is written -- the spread over z inside a class is near the real digits'. Its first "
    "version (the label only at G's input) reached a few percent of it: one image per digit.",
]
