"""scikit-learn's bundled handwritten digits (UCI optdigits test set): 1,797 real 8x8 images.

Pixel values are 0..16 in the source; here they are scaled to ``[0, 1]``. No network needed: the
data ship inside scikit-learn.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from dlviz.data.core import DataError, ImageData

DIGIT_CLASSES = [str(i) for i in range(10)]


@lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)


def digits(split: str = "all", seed: int = 0, size: int | None = None,
           test_fraction: float = 0.2) -> ImageData:
    """The digits as ``(N, 1, 8, 8)`` (or ``(N, 1, size, size)`` when ``size`` is given).

    split: ``"all"`` (1,797 images), ``"train"`` or ``"test"`` (a stratified split, the same for the
    same ``seed``; the two parts are disjoint and together give ``"all"``).
    """
    imgs, labels = _raw()
    data = ImageData(torch.from_numpy(imgs.copy()).unsqueeze(1), torch.from_numpy(labels.copy()),
                     list(DIGIT_CLASSES), name="digits")
    if split != "all":
        train, test = data.split(1.0 - test_fraction, seed=seed)
        if split == "train":
            data = train
        elif split in ("test", "val"):
            data = test
        else:
            raise DataError(f"split must be 'all', 'train' or 'test', not {split!r}")
        data.name = "digits"
    if size is not None and size != 8:
        data = data.resized(size)
    return data
