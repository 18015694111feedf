"""TEMPLATE views: arrays ready to display (never figures). The thumbnail feeds the landing page's card."""

from __future__ import annotations

import numpy as np

from dlviz.imaging import tile


def thumbnail() -> np.ndarray:
    """(H, W, 3) uint8 for the landing page, in well under 0.5 s (no training, no network)."""
    from dlviz.data import food_shapes

    return tile(food_shapes(8, seed=0).images, ncol=4)
