"""The attribution page's landing-page card."""

from __future__ import annotations

import numpy as np
import torch

from dlviz.imaging import to_uint8


def thumbnail() -> np.ndarray:
    """Landing-page card: a food image beside its noise-averaged gradient magnitude for the predicted class
    (plain autograd on 16 noisy copies in one batch, so the card needs no captum), ``(H, W, 3)`` uint8."""
    from dlviz.checkpoints import load_shipped
    from dlviz.data import food_shapes

    model, _ = load_shipped("food_cnn")
    img = food_shapes(1, seed=11).images                               # (1, 3, 32, 32)
    target = int(model(img).argmax())
    g = torch.Generator().manual_seed(0)
    x = (img + 0.1 * torch.randn(16, 3, 32, 32, generator=g)).requires_grad_(True)
    model(x)[:, target].sum().backward()
    sal = x.grad.abs().sum(1).mean(0)                                  # (32, 32)
    sal = (sal / (sal.max() + 1e-12)).clamp(0, 1)                     # (32, 32) in [0, 1]
    heat = torch.stack([sal.sqrt(), sal ** 1.5, 0.3 * sal])            # a black-red-yellow ramp
    return to_uint8(torch.cat([img[0], heat], dim=2))                 # (32, 64, 3)
