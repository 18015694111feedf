"""Judging samples: the shipped classifier's verdict, with a way to say "nothing there".

A classifier must name one of its classes for every input, so it calls a plain orange square a hotdog (orange is
a hotdog background colour). Before asking it, :func:`object_fraction` measures how much of an image stands out
from its background: the share of pixels that, after a 3x3 box blur (which removes the sampler's grain), differ
from the image's median colour by more than ``OBJECT_CONTRAST`` (Euclidean distance in [0, 1] RGB or grey). Every
real food shape and digit has an object covering well over ``MIN_OBJECT`` of the image
(``tests/test_ddpm.py`` checks it on held-out real images), so a sample below it is "no object" and is not counted
as recognised, whatever the classifier says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

OBJECT_CONTRAST = 0.15      # a pixel "stands out" when its blurred colour is this far from the median colour
MIN_OBJECT = 0.025          # an image whose standing-out share is below this shows no object
NO_OBJECT = -1              # the verdict for such an image
NO_OBJECT_RULE = (f"A classifier must name one of its classes for any input, even a plain square. So a sample counts "
                  f"as **no object** (and never as recognised) when under {MIN_OBJECT:.1%} of its pixels stand out "
                  f"from its background colour (by more than {OBJECT_CONTRAST:g} after a 3×3 blur); every real digit "
                  "and all but about 1 in 1,000 real food shapes (faint ones) pass that test.")


def object_fraction(images: torch.Tensor, contrast: float = OBJECT_CONTRAST) -> np.ndarray:
    """``(N,)`` share of each image's pixels that stand out from its median colour (images ``(N, C, H, W)``
    in [0, 1])."""
    x = images.float()
    blur = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    med = blur.flatten(2).median(2).values[..., None, None]                        # (N, C, 1, 1)
    return ((blur - med).norm(dim=1) > contrast).float().flatten(1).mean(1).numpy()


@dataclass
class Verdicts:
    """What the classifier says about each image, with ``NO_OBJECT`` where there is nothing to classify."""

    predicted: np.ndarray        # (N,) class index, or NO_OBJECT
    object_share: np.ndarray     # (N,) object_fraction of each image

    @property
    def blank(self) -> np.ndarray:
        return self.predicted == NO_OBJECT

    def hits(self, requested) -> np.ndarray:
        """``(N,)`` bool: recognised as the requested class (a blank image never is)."""
        return self.predicted == np.asarray(requested)

    def names(self, class_names: list[str]) -> list[str]:
        return ["no object" if p == NO_OBJECT else class_names[p] for p in self.predicted.tolist()]


def recognise(classifier: torch.nn.Module, images: torch.Tensor, min_object: float = MIN_OBJECT) -> Verdicts:
    """The classifier's class for each image ``(N, C, H, W)`` in [0, 1], or ``NO_OBJECT`` when less than
    ``min_object`` of the image stands out from its background."""
    from dlviz.metrics import classify

    _, pred = classify(classifier, images)
    share = object_fraction(images)
    return Verdicts(np.where(share < min_object, NO_OBJECT, pred), share)


def recognised_text(v: Verdicts, requested) -> str:
    """``"5 / 8"``: how many images the classifier recognised as the requested class (blank ones never)."""
    return f"{int(v.hits(requested).sum())} / {len(v.predicted)}"


def score_samples(model, classifier, dataset: str, n_per_class: int, steps: int, guidance: float, seed: int,
                  progress=None):
    """``n_per_class`` DDIM samples of every class, judged: ``(dlviz.metrics.Quality, Verdicts)`` -- the
    classifier's accuracy and the Fréchet distance to real images, and the verdicts with "no object"."""
    from dlviz.ddpm.sampling import generate_per_class
    from dlviz.metrics import measure, real_floor_images, real_reference

    imgs, lab = generate_per_class(model, n_per_class, num_steps=steps, guidance=guidance, seed=seed,
                                   progress=progress)
    q = measure(imgs, lab, classifier, real_reference(dataset), floor_images=real_floor_images(dataset, len(imgs)))
    return q, recognise(classifier, imgs)
