"""The measurements of a segmentation, and the U-Net paper's border weight map.

* per-class IoU = |P ∩ T| / |P ∪ T| and mean IoU over the classes present (Everingham et al. 2010);
* Dice = 2|P ∩ T| / (|P| + |T|) (= F1 of the pixel labels), and the soft Dice loss (Milletari et al. 2016);
* boundary F1 (Csurka, Larlus & Perronnin 2013): precision and recall of the predicted boundary pixels
  within a tolerance of ``tol`` pixels of the true boundary, per class;
* merged instances: connected components of the prediction that swallow two or more true objects;
* the weight map of Ronneberger, Fischer & Brox (2015), eq. 2:
  ``w(x) = w_c(x) + w0 · exp(-(d1(x) + d2(x))^2 / (2σ^2))``, with ``d1``, ``d2`` the distances to the
  nearest and the second-nearest object, ``w0 = 10`` and ``σ ≈ 5`` px; ``w_c`` balances class frequencies.

All functions take numpy integer masks ``(H, W)`` or ``(N, H, W)`` and return numbers or arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

W0, SIGMA = 10.0, 5.0


def confusion(pred: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    """``C[t, p]`` = number of pixels of true class t predicted as p (over all images given)."""
    t, p = np.asarray(true).ravel().astype(np.int64), np.asarray(pred).ravel().astype(np.int64)
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_per_class(pred: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    """IoU of each class ``(K,)``; NaN for a class absent from both prediction and truth."""
    c = confusion(pred, true, num_classes).astype(np.float64)
    inter = np.diag(c)
    union = c.sum(0) + c.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def mean_iou(pred: np.ndarray, true: np.ndarray, num_classes: int) -> float:
    """Mean of the per-class IoUs over the classes present (background included, as in PASCAL VOC)."""
    return float(np.nanmean(iou_per_class(pred, true, num_classes)))


def dice_per_class(pred: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    """Dice ``2|P ∩ T| / (|P| + |T|)`` of each class; NaN when the class is absent from both."""
    c = confusion(pred, true, num_classes).astype(np.float64)
    inter, total = np.diag(c), c.sum(0) + c.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2 * inter / total, np.nan)


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of a binary mask ``(H, W)`` with a 4-neighbour outside it (the image edge does not count)."""
    m = np.asarray(mask, bool)
    pad = np.pad(m, 1, mode="edge")
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return m & ~inner


def boundary_f1(pred: np.ndarray, true: np.ndarray, num_classes: int, tol: float = 1.0,
                include_background: bool = False) -> np.ndarray:
    """Boundary F1 of each class ``(K,)`` for one image ``(H, W)`` (Csurka et al. 2013).

    A predicted boundary pixel is correct when a true boundary pixel of the same class lies within
    Euclidean distance ``tol``; precision and recall are the correct fractions of the predicted and of
    the true boundary pixels; F1 is their harmonic mean. NaN where the class has no boundary in either;
    0 where it has one in only one of them. Background is NaN unless ``include_background``."""
    out = np.full(num_classes, np.nan)
    for c in range(0 if include_background else 1, num_classes):
        bp, bt = boundary(pred == c), boundary(true == c)
        n_p, n_t = int(bp.sum()), int(bt.sum())
        if n_p == 0 and n_t == 0:
            continue
        if n_p == 0 or n_t == 0:
            out[c] = 0.0
            continue
        dt = ndimage.distance_transform_edt(~bt)                 # distance to the nearest true boundary pixel
        dp = ndimage.distance_transform_edt(~bp)
        precision = float((dt[bp] <= tol).mean())
        recall = float((dp[bt] <= tol).mean())
        out[c] = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return out


def mean_boundary_f1(pred: np.ndarray, true: np.ndarray, num_classes: int, tol: float = 1.0) -> float:
    """Boundary F1 averaged over the foreground classes of each image, then over the images ``(N, H, W)``."""
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.ndim == 2:
        pred, true = pred[None], true[None]
    per = [np.nanmean(f) for f in (boundary_f1(p, t, num_classes, tol) for p, t in zip(pred, true))
           if not np.all(np.isnan(f))]
    return float(np.mean(per)) if per else float("nan")


def instances_from_mask(mask: np.ndarray) -> np.ndarray:
    """Instance ids ``(H, W)`` from a class mask: the 4-connected components of each foreground class."""
    mask = np.asarray(mask)
    out = np.zeros(mask.shape, np.int64)
    nxt = 0
    for c in np.unique(mask):
        if c == 0:
            continue
        lab, n = ndimage.label(mask == c)
        out[lab > 0] = lab[lab > 0] + nxt
        nxt += n
    return out


@dataclass
class MergeCount:
    """How the connected components of a prediction cover the true objects of one or more images."""

    true_objects: int          # true instances (with at least min_pixels visible pixels)
    components: int            # connected components of the prediction, per foreground class
    merged: int                # true objects that share their component with another: sum over components of (k - 1)
    missed: int                # true objects whose majority is not inside any same-class component
    touching: int              # true objects that touch another of the same class (the ones that can merge)


def count_merges(pred: np.ndarray, true_mask: np.ndarray, true_inst: np.ndarray, min_pixels: int = 4) -> MergeCount:
    """Instance-level count for one image ``(H, W)`` or a stack ``(N, H, W)``.

    Each true instance is assigned to the same-class predicted component holding most of its pixels (if
    that holds more than half of them). A component with ``k >= 2`` instances merged ``k - 1`` of them:
    ``merged`` is the number of objects lost to merging, what the border weight map is meant to lower."""
    pred, true_mask, true_inst = (np.asarray(a) for a in (pred, true_mask, true_inst))
    if pred.ndim == 3:
        parts = [count_merges(p, m, i, min_pixels) for p, m, i in zip(pred, true_mask, true_inst)]
        return MergeCount(*(sum(getattr(q, f) for q in parts) for f in
                            ("true_objects", "components", "merged", "missed", "touching")))
    comp = instances_from_mask(pred)
    n_obj = merged = missed = 0
    owners: dict[int, int] = {}
    ids = [i for i in np.unique(true_inst) if i > 0]
    cls_of = {}
    for i in ids:
        px = true_inst == i
        if px.sum() < min_pixels:
            continue
        n_obj += 1
        c = np.bincount(true_mask[px]).argmax() if (true_mask[px] > 0).any() else 0
        cls_of[i] = c
        lab = comp[px & (pred == c)] if c > 0 else np.zeros(0, np.int64)
        lab = lab[lab > 0]
        if len(lab) == 0:
            missed += 1
            continue
        best = np.bincount(lab).argmax()
        if (lab == best).sum() * 2 <= px.sum():
            missed += 1
            continue
        owners[best] = owners.get(best, 0) + 1
    merged = sum(k - 1 for k in owners.values())
    # touching: same-class instances whose pixels are 4-adjacent (or separated by the 1-px line only)
    touching = set()
    grown = {i: ndimage.binary_dilation(true_inst == i, iterations=2) for i in cls_of}
    for a in cls_of:
        for b in cls_of:
            if a < b and cls_of[a] == cls_of[b] and (grown[a] & (true_inst == b)).any():
                touching.update((a, b))
    return MergeCount(n_obj, int(comp.max()), merged, missed, len(touching))


def class_balance_weights(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """``w_c`` per class ``(K,)``: ``1 / (K' p_c)`` for the ``K'`` classes present with pixel share ``p_c``, so
    every present class carries the same total weight and the mean weight over pixels is 1."""
    counts = np.bincount(np.asarray(mask).ravel(), minlength=num_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(num_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def border_term(instances: np.ndarray, w0: float = W0, sigma: float = SIGMA,
                where: np.ndarray | None = None) -> np.ndarray:
    """``w0 · exp(-(d1 + d2)^2 / (2σ^2))`` ``(H, W)``: d1, d2 the Euclidean distances to the nearest and the
    second-nearest instance. Zero where fewer than two instances exist, and outside ``where`` (default:
    the background, where the paper's separating borders are)."""
    inst = np.asarray(instances)
    ids = [i for i in np.unique(inst) if i > 0]
    out = np.zeros(inst.shape, np.float64)
    if len(ids) < 2:
        return out
    d = np.stack([ndimage.distance_transform_edt(inst != i) for i in ids])     # (n_inst, H, W)
    d.partition(1, axis=0)
    out = w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma ** 2))
    mask = (inst == 0) if where is None else np.asarray(where, bool)
    return np.where(mask, out, 0.0)


def weight_map(mask: np.ndarray, instances: np.ndarray, num_classes: int, w0: float = W0,
               sigma: float = SIGMA, class_weights: np.ndarray | None = None) -> np.ndarray:
    """The paper's eq. 2 for one image ``(H, W)``: class balance plus the border term.

    The border term is applied to the pixels labelled background in ``mask`` (the gaps and the 1-px lines
    between touching objects), whose distances d1, d2 come from ``instances``."""
    wc = class_balance_weights(mask, num_classes) if class_weights is None else np.asarray(class_weights)
    return wc[np.asarray(mask)] + border_term(instances, w0, sigma, where=np.asarray(mask) == 0)


def weight_maps(masks: np.ndarray, instances: np.ndarray, num_classes: int, w0: float = W0,
                sigma: float = SIGMA) -> np.ndarray:
    """:func:`weight_map` of each image ``(N, H, W)``, with class weights from the whole stack."""
    wc = class_balance_weights(masks, num_classes)
    return np.stack([weight_map(m, i, num_classes, w0, sigma, wc) for m, i in zip(masks, instances)]).astype(np.float32)


@dataclass
class SegReport:
    """Every number the page shows for a model on a test set."""

    iou: np.ndarray             # (K,) per-class IoU over the whole test set
    mean_iou: float
    dice: np.ndarray            # (K,)
    boundary_f1: float          # mean over images of the mean over foreground classes, tol px
    merges: MergeCount
    pixel_acc: float


def evaluate_masks(pred: np.ndarray, true: np.ndarray, inst: np.ndarray, num_classes: int,
                   tol: float = 1.0) -> SegReport:
    """All measurements of predictions ``(N, H, W)`` against true class and instance masks."""
    iou = iou_per_class(pred, true, num_classes)
    return SegReport(iou, float(np.nanmean(iou)), dice_per_class(pred, true, num_classes),
                     mean_boundary_f1(pred, true, num_classes, tol), count_merges(pred, true, inst),
                     float((np.asarray(pred) == np.asarray(true)).mean()))
