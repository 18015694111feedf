"""Shared measurements: classification loss and accuracy (evaluated in batches), and the sample-quality
measures every generative page uses.

Sample quality. How good are generated samples? Two numbers from a shipped classifier (SmallCNN): the accuracy with
which it recognises the class each sample was asked to be, per class, and the Fréchet distance between
generated and real images in its penultimate feature space.

The Fréchet distance between Gaussians fitted to two feature sets is
``|mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))`` (Dowson & Landau, 1982; used as FID by Heusel et
al., 2017, with Inception features -- here with the small classifier's features, so the values are
comparable only within this app). A finite sample never reaches 0, so every FD is shown beside the FD
between two disjoint sets of *real* images of the same size: the floor a perfect generator would hit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlviz.data import ImageData


def classification_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
    """Cross-entropy on an ``(images, labels)`` batch; also reports the batch accuracy."""
    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    return loss, {"acc": float(acc)}


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits for ``x`` in eval mode, batch by batch, on the model's device; returned on the CPU."""
    was = model.training
    model.eval()
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    out = torch.cat([model(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)])
    model.train(was)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict(model, x).argmax(1) == y).float().mean())


# ---------------------------------------------------------------- sample quality of generated images
CLASSIFIERS = {"digits": "digits_cnn", "food_shapes": "food_cnn"}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` (N, D) and ``b`` (M, D).

    tr((S_1 S_2)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the symmetric
    PSD matrix S_1^(1/2) S_2 S_1^(1/2) (same spectrum), which needs only ``eigh``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError("feature sets must be (N, D) and (M, D)")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least two samples per set")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T                      # S_1^(1/2)
    m = root1 @ s2 @ root1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(max(0.0, ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt))


@torch.no_grad()
def classify(classifier: nn.Module, images: torch.Tensor, batch_size: int = 500
             ) -> tuple[np.ndarray, np.ndarray]:
    """``(features (N, F), predicted class (N,))`` of images ``(N, C, H, W)`` in [0, 1]."""
    classifier.eval()
    dev = next(classifier.parameters()).device
    feats, preds = [], []
    for i in range(0, len(images), batch_size):
        f = classifier.features(images[i:i + batch_size].to(dev))        # (B, F)
        feats.append(f.cpu())
        preds.append(classifier.head(f).argmax(1).cpu())
    return torch.cat(feats).numpy(), torch.cat(preds).numpy()


@dataclass
class Quality:
    """Sample quality of one batch of generated images."""

    class_names: list[str]
    per_class_acc: np.ndarray        # (K,) accuracy per requested class (nan where none were asked)
    accuracy: float                  # over all samples
    fd: float                        # generated vs real
    fd_real: float                   # real vs real (disjoint, same size): the floor
    n: int
    predicted: np.ndarray            # (N,) classifier's class for each sample
    requested: np.ndarray            # (N,)


def real_reference(dataset: str, n: int | None = None) -> ImageData:
    """Held-out real images the generators never saw (digits test split; a fresh food-shapes seed)."""
    from dlviz.data import digits, food_shapes

    if dataset == "digits":
        return digits("test", seed=0, size=16)
    if dataset == "food_shapes":
        return food_shapes(n or 1000, seed=999)
    raise ValueError(f"no reference set for {dataset!r}")


def real_floor_images(dataset: str, n: int) -> torch.Tensor:
    """``n`` real images disjoint from :func:`real_reference` (for the real-vs-real FD floor)."""
    from dlviz.data import digits, food_shapes

    if dataset == "digits":
        imgs = digits("train", seed=0, size=16).images
        return imgs[torch.randperm(len(imgs), generator=torch.Generator().manual_seed(0))[:n]]
    return food_shapes(n, seed=998).images


def measure(samples: torch.Tensor, requested: torch.Tensor, classifier: nn.Module, real: ImageData,
            floor_images: torch.Tensor | None = None) -> Quality:
    """Classifier accuracy per requested class and FD of ``samples`` (N, C, H, W) in [0, 1] vs ``real``."""
    if len(samples) < 2:
        raise ValueError("need at least two samples to measure quality")
    feats, pred = classify(classifier, samples)
    real_feats, _ = classify(classifier, real.images)
    req = requested.cpu().numpy()
    K = len(real.class_names)
    per = np.array([float((pred[req == k] == k).mean()) if (req == k).any() else np.nan for k in range(K)])
    floor = float("nan")
    if floor_images is not None and len(floor_images) >= 2:
        floor = frechet_distance(classify(classifier, floor_images)[0], real_feats)
    return Quality(list(real.class_names), per, float((pred == req).mean()), frechet_distance(feats, real_feats),
                   floor, len(samples), pred, req)
