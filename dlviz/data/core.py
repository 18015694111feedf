"""The containers every data source returns, and a deterministic batch stream for training."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


class DataError(ValueError):
    """A data source could not give what was asked; the message is written for the user."""


@dataclass
class ImageData:
    """Images with labels.

    images: ``(N, C, H, W)`` float32 in ``[0, 1]``; labels: ``(N,)`` int64 in ``[0, len(class_names))``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise DataError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise DataError("images and labels differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, idx: torch.Tensor | slice) -> ImageData:
        return ImageData(self.images[idx], self.labels[idx], list(self.class_names), self.name, dict(self.meta))

    def resized(self, size: int) -> ImageData:
        """Bilinearly resized (antialiased) copy with square ``size x size`` images."""
        if self.images.shape[-1] == size and self.images.shape[-2] == size:
            return self
        imgs = F.interpolate(self.images, size=(size, size), mode="bilinear", align_corners=False,
                             antialias=True).clamp_(0, 1)
        return ImageData(imgs, self.labels, list(self.class_names), self.name, dict(self.meta))

    def class_counts(self) -> torch.Tensor:
        return torch.bincount(self.labels, minlength=self.num_classes)

    def split(self, fraction: float = 0.8, seed: int = 0) -> tuple[ImageData, ImageData]:
        """Stratified split: each class contributes ``fraction`` of its images to the first part."""
        g = torch.Generator().manual_seed(seed)
        first, second = [], []
        for c in range(self.num_classes):
            idx = torch.nonzero(self.labels == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=g)]
            k = int(round(fraction * len(idx)))
            first.append(idx[:k])
            second.append(idx[k:])
        a = torch.cat(first).sort().values
        b = torch.cat(second).sort().values
        return self.subset(a), self.subset(b)


def batches(*tensors: torch.Tensor, batch_size: int, seed: int = 0, shuffle: bool = True,
            drop_last: bool = True) -> Iterator[tuple[torch.Tensor, ...]]:
    """An endless stream of mini-batches over ``tensors`` (all of the same length).

    Each epoch is a fresh permutation drawn from a generator seeded with ``seed``, so two runs with the
    same seed see exactly the same batches in the same order -- what a side-by-side experiment needs.
    """
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise DataError("all tensors must have the same length")
    if n == 0:
        raise DataError("cannot draw batches from an empty dataset")
    batch_size = max(1, min(batch_size, n))
    g = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
        stop = n - batch_size + 1 if drop_last else n
        for i in range(0, stop, batch_size):
            idx = order[i:i + batch_size]
            yield tuple(t[idx] for t in tensors)
