"""Arrays the residual-connections page shows: the landing-page thumbnail (and the line drawing it uses)."""

from __future__ import annotations

import numpy as np
import torch

from dlviz.models.deep_nets import DeepNet
from dlviz.resnet_gradients.core import init_profile, plain_and_residual


def polyline_image(curves: list[tuple[np.ndarray, np.ndarray, tuple[int, int, int]]], h: int = 120,
                   w: int = 240) -> np.ndarray:
    """A small white ``(h, w, 3)`` uint8 image with each ``(x, y, rgb)`` curve drawn thick (for thumbnails)."""
    img = np.full((h, w, 3), 255, np.uint8)
    xs_all = np.concatenate([c[0] for c in curves])
    ys_all = np.concatenate([c[1] for c in curves])
    x0, x1, y0, y1 = xs_all.min(), xs_all.max(), ys_all.min(), ys_all.max()
    for x, y, rgb in curves:
        px = 8 + (x - x0) / max(x1 - x0, 1e-12) * (w - 16)
        py = (h - 8) - (y - y0) / max(y1 - y0, 1e-12) * (h - 16)
        for i in range(len(x) - 1):
            for t in np.linspace(0, 1, 40):
                cx, cy = int(px[i] + t * (px[i + 1] - px[i])), int(py[i] + t * (py[i + 1] - py[i]))
                img[max(0, cy - 2):cy + 2, max(0, cx - 1):cx + 2] = rgb
    return img


def thumbnail() -> np.ndarray:
    """Landing-page card: log gradient norm per layer at init, plain (orange) vs residual (blue), depth 12 -- the
    page's colours of the two families."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    cfg = DeepNet.Config(width=32, depth=12)
    profs = [init_profile(c, (x, y), seed=0, name=k) for k, c in plain_and_residual(cfg).items()]
    return polyline_image([(np.arange(len(p.grad_norms), dtype=float), np.log10(np.clip(p.grad_norms, 1e-30, None)), c)
                           for p, c in zip(profs, [(245, 133, 24), (76, 120, 168)])])


def grad_rows(recorders: dict) -> list[dict]:
    """Every recorded ``||dL/dW||``: one row per net, training step and weight layer (for a CSV)."""
    rows = []
    for net, rec in recorders.items():
        steps, norms = rec.table()
        for i, step in enumerate(steps):
            for j, layer in enumerate(rec.layers):
                rows.append({"net": net, "step": int(step), "layer": layer, "grad_norm": float(norms[i, j])})
    return rows


def init_snippet(config: dict, depth: int, seed: int, n_probe: int, dataset: str) -> str:
    """Notebook lines that recompute section 1's headline: the plain net's first/last gradient-norm ratio at
    initialisation, on the same probe batch as the page."""
    cfg = {**config, "depth": int(depth)}
    return f"""import torch
from dlviz.batchnorm.core import load_data
from dlviz.models.deep_nets import DeepNet
from dlviz.resnet_gradients import core as gf

data = load_data({dataset!r}, {seed})
config = DeepNet.Config(**{cfg!r})
probe = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed({seed}))[:{n_probe}]
batch = (data.x_train[probe], data.y_train[probe])
nets = gf.plain_and_residual(config)                 # identical but for the skip connections
plain = gf.init_profile(nets["plain"], batch, seed={seed}, name="plain")
result = plain.ratio                                 # ||dL/dW|| of the first layer / of the head
print(f"{{result:.2g}}")
"""
