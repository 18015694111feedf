"""Offline datasets and synthetic tasks.

Every image source returns an :class:`ImageData`: ``images`` of shape ``(N, C, H, W)``, float32 in
``[0, 1]``; ``labels`` of shape ``(N,)``, int64; and the ``class_names``. Everything is deterministic
for a seed and needs no network:

* :func:`digits` -- scikit-learn's bundled 8x8 handwritten digits (1,797 real images, 10 classes);
* :func:`food_shapes` -- procedural 32x32 RGB food (hotdog, pizza slice, donut, burger, ...);
* :func:`food_segmentation` -- several foods per plate, or touching cells, with exact class and instance
  masks (a :class:`SegData`);
* :func:`photos` -- the photographs bundled with scikit-image;
* :func:`code_text` -- Python's own standard library as a character corpus;
* :func:`sequence_task` -- copy, reverse, sort, bracket depth, counting, induction;
* :mod:`dlviz.data.external` -- optional: torchvision MNIST/FashionMNIST/CIFAR-10 from a local
  folder, any ``ImageFolder`` path, an uploaded image.
"""

from __future__ import annotations

from dlviz.data.code_text import CharVocab, code_text
from dlviz.data.core import DataError, ImageData, batches
from dlviz.data.digits import digits
from dlviz.data.food_segmentation import SegData, food_segmentation
from dlviz.data.food_shapes import FOOD_CLASSES, food_shapes
from dlviz.data.photos import PHOTO_NAMES, photo, photos
from dlviz.data.sequence_tasks import TASKS, SequenceTask, sequence_task

IMAGE_DATASETS = ("digits", "food_shapes")


def image_dataset(name: str, *, split: str = "train", seed: int = 0, n: int | None = None,
                  size: int | None = None) -> ImageData:
    """Load a built-in image dataset by name (``digits`` or ``food_shapes``)."""
    if name == "digits":
        return digits(split=split, seed=seed, size=size)
    if name == "food_shapes":
        n = n or 4000
        # disjoint seeds for the splits, so train and test never share an image
        offset = {"train": 0, "val": 1, "test": 2}.get(split, 0)
        return food_shapes(n, seed=seed * 10 + offset, size=size or 32)
    raise DataError(f"Unknown dataset {name!r}; choose one of {', '.join(IMAGE_DATASETS)}.")


__all__ = [
    "FOOD_CLASSES",
    "IMAGE_DATASETS",
    "PHOTO_NAMES",
    "TASKS",
    "CharVocab",
    "DataError",
    "ImageData",
    "SegData",
    "SequenceTask",
    "batches",
    "code_text",
    "digits",
    "food_segmentation",
    "food_shapes",
    "image_dataset",
    "photo",
    "photos",
    "sequence_task",
]
