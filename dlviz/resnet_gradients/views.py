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
    """Landing-page card: log gradient norm per layer at init, plain (red) vs residual (blue), depth 12."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    cfg = DeepNet.Config(width=32, depth=12)
    profs = [init_profile(c, (x, y), seed=0, name=k) for k, c in plain_and_residual(cfg).items()]
    return polyline_image([(np.arange(len(p.grad_norms), dtype=float), np.log10(np.clip(p.grad_norms, 1e-30, None)), c)
                           for p, c in zip(profs, [(228, 87, 86), (76, 120, 168)])])
