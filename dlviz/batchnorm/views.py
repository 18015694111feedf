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
