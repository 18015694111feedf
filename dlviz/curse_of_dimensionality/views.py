"""Arrays the curse-of-dimensionality page shows: the landing-page thumbnail."""

from __future__ import annotations

import numpy as np

from dlviz.curse_of_dimensionality.core import distance_stats
from dlviz.imaging import quantize


def thumbnail() -> np.ndarray:
    """Landing-page card: histograms of pairwise distances / mean distance in 2 and in 100 dimensions
    (the second collapses to a spike at 1)."""
    h, w = 150, 300
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    bins = np.linspace(0, 2.2, 56)
    colors = [(76, 120, 168), (228, 87, 86)]
    for dim, color in zip((2, 100), colors):
        s = distance_stats(dim, 120, seed=0)
        counts, _ = np.histogram(s.distances / s.mean, bins=bins, density=True)
        counts = counts / counts.max() * (h - 20)
        for b, c in enumerate(counts):
            x0 = 10 + b * (w - 20) // len(counts)
            x1 = 10 + (b + 1) * (w - 20) // len(counts) - 1
            top = h - 10 - int(c)
            region = img[top:h - 10, x0:x1]
            region[:] = quantize((region * 0.45 + np.array(color) * 0.55) / 255)
    img[h - 10, 10:w - 10] = 60
    return img
