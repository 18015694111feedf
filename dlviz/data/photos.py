"""Real photographs bundled with scikit-image (no download): for filters, receptive fields,
equivariance and augmentation.

Each photo is returned as a ``(3, H, W)`` float32 tensor in ``[0, 1]``; greyscale photos are repeated
over the three channels.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

from dlviz.data.core import DataError

# name -> scikit-image loader name; all of these ship inside the scikit-image wheel
_PHOTOS = {
    "astronaut": "astronaut",
    "chelsea the cat": "chelsea",
    "coffee": "coffee",
    "rocket": "rocket",
    "camera": "camera",
    "coins": "coins",
    "brick": "brick",
    "grass": "grass",
    "moon": "moon",
    "motorcycle": "motorcycle_left",  # loaded through stereo_motorcycle
}
PHOTO_NAMES = list(_PHOTOS)


@cache
def _load(name: str) -> np.ndarray:
    import skimage.data as skd

    key = _PHOTOS[name]
    if key == "motorcycle_left":
        img = skd.stereo_motorcycle()[0]
    else:
        img = getattr(skd, key)()
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = (255 * (img.astype(np.float64) / max(float(img.max()), 1e-8))).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img[..., :3]


def photo(name: str, size: int | None = None) -> torch.Tensor:
    """One photo as ``(3, H, W)`` in ``[0, 1]``; with ``size``, the shorter side is scaled to ``size``
    and the centre cropped to a ``size x size`` square."""
    if name not in _PHOTOS:
        raise DataError(f"Unknown photo {name!r}; choose one of {', '.join(PHOTO_NAMES)}.")
    x = torch.from_numpy(_load(name).copy()).permute(2, 0, 1).float() / 255.0
    if size is not None:
        x = square(x, size)
    return x


def square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Scale the shorter side of a ``(C, H, W)`` image to ``size`` and centre-crop to a square."""
    c, h, w = x.shape
    s = size / min(h, w)
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    y = F.interpolate(x[None], size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0]
    top, left = (nh - size) // 2, (nw - size) // 2
    return y[:, top:top + size, left:left + size].clamp(0, 1).contiguous()


def photos(size: int | None = None) -> dict[str, torch.Tensor]:
    """Every bundled photo by name."""
    return {n: photo(n, size) for n in PHOTO_NAMES}
