"""Arrays the Convolutions page shows: the landing-page thumbnail."""

from __future__ import annotations

import numpy as np

from dlviz.convolutions.core import KERNELS, convolve
from dlviz.imaging import to_uint8


def thumbnail() -> np.ndarray:
    """Landing-page card: a photo beside its Sobel-x feature map, ``(H, 2W, 3)`` uint8."""
    from dlviz.data import photo

    x = photo("chelsea the cat", 96)                                            # (3, 96, 96)
    y = convolve(x, KERNELS["Sobel x (vertical edges)"], padding=1).output[0]    # (96, 96)
    y = (y - y.min()) / (y.max() - y.min() + 1e-8)
    return np.concatenate([to_uint8(x), to_uint8(y)], axis=1)
