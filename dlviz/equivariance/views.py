"""The equivariance page's landing-page card."""

from __future__ import annotations

import numpy as np
import torch

from dlviz.imaging import to_uint8

GLYPH_RGB = (76, 120, 168)      # the glyph's colour
SEPARATOR = 235                 # the grey stripes between the tiles


def thumbnail() -> np.ndarray:
    """Landing-page card: an asymmetric glyph "F", shifted, turned by 90 degrees and flipped."""
    f = torch.zeros(20, 20)
    f[3:17, 5:8] = 1.0              # stem
    f[3:6, 5:15] = 1.0              # top bar
    f[9:12, 5:12] = 1.0             # middle bar
    tiles = [f, torch.roll(f, (2, 3), dims=(0, 1)), torch.rot90(f, 1), torch.flip(f, dims=(1,))]
    gap = torch.zeros(20, 3)
    row = torch.cat([torch.cat([t, gap], 1) for t in tiles], 1)[:, :-3]
    img = torch.ones(3, *row.shape)
    img[:, row > 0] = torch.tensor(GLYPH_RGB, dtype=torch.float32)[:, None] / 255
    img[:, :, torch.arange(row.shape[1]) % 23 >= 20] = SEPARATOR / 255
    return to_uint8(img)
