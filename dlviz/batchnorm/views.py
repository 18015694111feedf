"""The landing-page thumbnail of the BatchNorm page."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from dlviz.batchnorm.core import VARIANTS, layer_values
from dlviz.models.deep_nets import DeepNet
from dlviz.resnet_gradients.core import build


def thumbnail() -> np.ndarray:
    """Landing-page card: density of a deep unit's input at init, no norm (blue) vs BatchNorm (orange),
    the colours the page gives the two variants."""
    from dlviz.resnet_gradients.views import polyline_image

    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, 1, 8, 8, generator=g)
    base = DeepNet.Config(width=64, depth=5, block_layers=1, activation="sigmoid", input_mean=0.3, input_std=0.37)
    curves = []
    grid = np.linspace(-4, 4, 81)
    for name, rgb in (("no norm", (76, 120, 168)), ("BatchNorm", (245, 133, 24))):
        pre, _ = layer_values(build(replace(base, **VARIANTS[name]), 0), x)
        v = pre[-1].flatten().numpy()
        h, _ = np.histogram(v, bins=grid, density=True)
        curves.append(((grid[:-1] + grid[1:]) / 2, np.convolve(h, np.ones(5) / 5, mode="same"), rgb))
    return polyline_image(curves)


# ---------------------------------------------------------------- exports (issue 17)
def _hex_rgb(c: str) -> tuple[int, int, int]:
    c = c.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def histogram_frames(snaps: dict[str, list[tuple[int, dict]]], layer: int, key: str, colors: dict[str, str],
                     h: int = 160, w: int = 320, bins: int = 40) -> list[np.ndarray]:
    """One uint8 ``(h, w, 3)`` frame per snapshot step common to every variant: the density of ``layer``'s
    ``key`` values ("pre" or "post"), one curve per variant in its page colour, on axes fixed over the frames
    (so the eye sees the distribution move, not the axes rescale). Step progress is the grey bar at the top."""
    steps = sorted(set.intersection(*[{s for s, _ in v} for v in snaps.values()])) if snaps else []
    if not steps:
        return []
    vals = {n: {s: np.asarray(d[key][layer], dtype=float) for s, d in v} for n, v in snaps.items()}
    every = np.concatenate([a[np.isfinite(a)] for per in vals.values() for a in per.values()] or [np.zeros(1)])
    lo, hi = np.percentile(every, [0.5, 99.5]) if every.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    dens = {n: {s: np.histogram(np.clip(a[np.isfinite(a)], lo, hi), bins=edges, density=True)[0] for s, a in per.items()}
            for n, per in vals.items()}
    top = max(float(d.max()) for per in dens.values() for d in per.values()) or 1.0
    frames = []
    for i, s in enumerate(steps):
        img = np.full((h, w, 3), 255, np.uint8)
        img[0:4, : max(1, round(w * (i + 1) / len(steps)))] = 170
        for n in snaps:
            d = dens[n][s]
            px = 6 + np.arange(bins) / max(bins - 1, 1) * (w - 12)
            py = (h - 6) - d / top * (h - 18)
            for j in range(bins - 1):
                for t in np.linspace(0, 1, 12):
                    cx, cy = int(px[j] + t * (px[j + 1] - px[j])), int(py[j] + t * (py[j + 1] - py[j]))
                    img[max(0, cy - 1):cy + 2, max(0, cx - 1):cx + 2] = _hex_rgb(colors.get(n, "#000000"))
        frames.append(img)
    return frames


def mode_snippet(source: str, model_name: str, seed: int, *, run: dict | None = None, data_seed: int = 0) -> str:
    """The notebook lines that recompute section 4's headline: train-mode accuracy with batches of 2.

    ``source`` "shipped": the shipped digits pair; otherwise ``run`` holds what retrains the user's variants
    (dataset, net, variant names, hyper-parameters, steps done) and ``data_seed`` its data split. ``seed`` orders
    the test images into batches."""
    head = ("from dlviz.batchnorm import core as bnm, domain_shift as bs\n")
    if source == "shipped":
        ckpt = {"BatchNorm": "digits_mlp_bn", "no norm": "digits_mlp_plain"}[model_name]
        load = (f"from dlviz.checkpoints import load_shipped\n\n"
                f"data = bnm.load_data('digits', 0)\n"
                f"model, _card = load_shipped({ckpt!r}, expected_arch='deep_net')\n")
    else:
        r = run or {}
        load = ("from dlviz.batchnorm import training as bt\n\n"
                f"data = bnm.load_data({r['dataset']!r}, {data_seed})\n"
                f"base = bnm.net_config(data, kind={r['kind']!r}, hidden_layers={r['layers']}, width={r['width']}, "
                f"activation={r['activation']!r})\n"
                f"configs = bnm.variant_configs(base, {list(r['variants'])!r})\n"
                f"runs = bt.make_runs(configs, data, lr={r['lr']!r}, steps={r['steps']}, batch_size={r['batch_size']}, "
                f"optimizer={r['optimizer']!r}, weight_decay={r['weight_decay']!r}, seed={data_seed}, "
                f"snapshot_every={r['snapshot_every']}, eval_every={r['eval_every']}, probe_n=128)\n"
                f"trainer = runs[{model_name!r}]\n"
                "trainer.run()                       # the same batches and initialisation as the page's run\n"
                "model = trainer.model_copy()\n")
    return (head + load +
            f"acc = bs.mode_accuracy(model, data.x_test, data.y_test, [2, 4, 16, 64, 256], seed={seed})\n"
            "result = acc['train, batch 2']          # accuracy in train mode, batches of 2\n"
            "print(f\"{result:.1%}\")\n")


def measure_rows(shift: dict, ics: dict, path: dict, layer: int) -> list[dict]:
    """Section 2's four measures, one row per variant and snapshot step (for a CSV): ``shift``/``ics`` map a
    variant to ``(steps, (n, layers) values)``, ``path`` to ``(steps, [{"spread", "beta"}, ...])``."""
    out = []
    for n, (steps, ds) in path.items():
        for step, d in zip(steps, ds):
            w = shift[n][1][shift[n][0] == step]
            g = ics[n][1][ics[n][0] == step]
            out.append({"variant": n, "step": int(step), "layer": layer + 1,
                        "W1/std (a)": float(w[0, layer]) if len(w) else None,
                        "||G-G'|| (b)": float(g[0, layer]) if len(g) else None,
                        "delta loss": float(d["spread"]), "beta": float(d["beta"])})
    return out


def median_drift(pct: np.ndarray) -> float:
    """How far a unit's median moved from the first snapshot to the last, in units of its typical 15-85
    percentile spread (the median spread over the snapshots). ``pct``: (snapshots, 3) percentiles 15/50/85."""
    spread = max(float(np.median(pct[:, 2] - pct[:, 0])), 1e-12)
    return abs(float(pct[-1, 1] - pct[0, 1])) / spread


def smoothness_paths(snaps: dict[str, list[tuple[int, dict]]]) -> dict[str, tuple[np.ndarray, list[dict]]]:
    """Each variant's steps and its loss-along-the-gradient measurements (``spread``, ``beta``) per snapshot."""
    return {n: (np.array([p for p, _ in s]), [d["path"] for _, d in s]) for n, s in snaps.items()}


def _nanmedian(a) -> float:
    a = np.asarray(a, dtype=float)
    return float(np.nanmedian(a)) if a.size and np.isfinite(a).any() else float("nan")


def summary_rows(shift: dict, ics: dict, path: dict, layer: int) -> list[dict]:
    """One row per variant: the medians of the two covariate-shift measures and the two smoothness ones
    (the first distribution change, step 0 against itself, is left out)."""
    return [{"variant": n, "median W₁/std (a)": _nanmedian(shift[n][1][1:, layer]),
             "median ‖G − G′‖ (b)": _nanmedian(ics[n][1][:, layer]),
             "median Δloss": _nanmedian([d["spread"] for d in path[n][1]]),
             "median β": _nanmedian([d["beta"] for d in path[n][1]])} for n in shift]
