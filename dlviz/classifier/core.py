"""Train a classifier: the first coursework's loop -- data, architecture, loss, optimiser, schedule,
augmentation -- and the measurements that tell you what the trained model gets wrong.

Losses: cross-entropy; **label smoothing** (Szegedy et al. 2016, *Rethinking the Inception architecture*):
the target puts ``1 - eps`` on the true class and spreads ``eps`` evenly over all K classes; **focal loss**
(Lin et al. 2017, *Focal loss for dense object detection*): ``-(1 - p_t)^gamma log p_t``, which down-weights
the easy, already-confident examples. Schedules: constant, step decay, cosine (Loshchilov & Hutter 2017),
linear warm-up + cosine, and one-cycle (Smith & Topin 2019).

Results: accuracy, per-class accuracy, the confusion matrix, the most confidently wrong images, and the
penultimate-layer features embedded in 2-D with PCA (instant) and UMAP (McInnes et al. 2018; computed in
a background thread because its first call compiles numba code).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlviz.augmentation.core import Aug
from dlviz.classifier.data import (  # noqa: F401 - re-exported: the lab's one import
    IMAGE_SIZE,
    SOURCES,
    DataSplit,
    folder_split,
    image_folder_from_zip,
    load_data,
    local_torchvision_sets,
)
from dlviz.data import ImageData
from dlviz.imaging import tile
from dlviz.models import build_model

# display name -> (registered model, config overrides)
ARCHS: dict[str, tuple[str, dict]] = {
    "SmallCNN (3 conv + GAP)": ("small_cnn", {"channels": (16, 32, 64), "batchnorm": True, "head": "gap"}),
    "LeNet-5": ("lenet5", {}),
    "VGG (small)": ("small_vgg", {}),
    "Inception (small)": ("small_inception", {}),
    "ResNet-8": ("small_resnet", {}),
    "ResNet-14": ("small_resnet", {"blocks": (2, 2, 2)}),
    "Plain-14 (ResNet-14 without skips)": ("small_resnet", {"blocks": (2, 2, 2), "residual": False}),
}
LOSSES = ("cross-entropy", "label smoothing", "focal")
SCHEDULES = ("constant", "step", "cosine", "warmup + cosine", "one-cycle")


# ------------------------------------------------------------------------------------------- losses
def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Mean focal loss ``-sum_c q_c (1 - p_c)^gamma log p_c`` for logits ``(B, K)``; ``target`` is class
    indices ``(B,)`` (then ``q`` is one-hot: ``-(1 - p_t)^gamma log p_t``) or soft labels ``(B, K)``."""
    logp = F.log_softmax(logits, dim=1)                      # (B, K)
    q = F.one_hot(target, logits.shape[1]).to(logp.dtype) if target.ndim == 1 else target
    w = (1 - logp.exp()).clamp_min(0) ** gamma
    return -(q * w * logp).sum(1).mean()


def make_criterion(name: str, smoothing: float = 0.1, gamma: float = 2.0) -> Callable:
    """``criterion(logits (B, K), target (B,) or (B, K)) -> scalar`` for a name in :data:`LOSSES`."""
    if name == "cross-entropy":
        return lambda logits, y: F.cross_entropy(logits, y)
    if name == "label smoothing":
        if not 0 <= smoothing < 1:
            raise ValueError("label smoothing must be in [0, 1)")
        return lambda logits, y: F.cross_entropy(logits, y, label_smoothing=smoothing)
    if name == "focal":
        if gamma < 0:
            raise ValueError("the focal gamma must be >= 0")
        return lambda logits, y: focal_loss(logits, y, gamma)
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


# ------------------------------------------------------------------------------------------- schedules
def lr_factor(name: str, step: int, total: int, warmup: float = 0.05) -> float:
    """The multiplier of the base learning rate at ``step`` (0-based) of ``total`` steps."""
    t = min(max(step, 0), total) / max(total, 1)
    if name == "constant":
        return 1.0
    if name == "step":                               # /10 after a third and after two thirds
        return 0.1 ** (step // max(1, total // 3))
    if name == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if name == "warmup + cosine":
        w = max(1, round(warmup * total))
        if step < w:
            return (step + 1) / w
        return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))
    if name == "one-cycle":                          # torch's OneCycleLR with its defaults (cos, 30% up)
        up = max(0.3 * total - 1, 1e-9)
        start, end = 1 / 25, 1 / 25 / 1e4
        if step <= up:
            return _cos_anneal(start, 1.0, step / up)
        return _cos_anneal(1.0, end, (step - up) / max(total - 1 - up, 1e-9))
    raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def _cos_anneal(a: float, b: float, pct: float) -> float:
    return b + (a - b) / 2.0 * (math.cos(math.pi * min(max(pct, 0.0), 1.0)) + 1)


def make_scheduler(name: str, optimizer: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(name, s, total))


def lr_curve(name: str, total: int, lr: float) -> np.ndarray:
    """The learning rate of every step ``(total,)``, to preview a schedule before training."""
    return np.array([lr * lr_factor(name, s, total) for s in range(total)])


# ------------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class Setup:
    """Everything that defines one training run (hashable: pages cache on it)."""

    arch: str = "SmallCNN (3 conv + GAP)"
    activation: str = "relu"
    loss: str = "cross-entropy"
    smoothing: float = 0.1
    gamma: float = 2.0
    optimizer: str = "Adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "one-cycle"
    steps: int = 800
    batch_size: int = 64
    augment: tuple[Aug, ...] = ()
    seed: int = 0
    eval_every: int = 50


def build_classifier(arch: str, num_classes: int, in_channels: int = 3, image_size: int = IMAGE_SIZE,
                     activation: str = "relu") -> nn.Module:
    """A fresh model for a display name in :data:`ARCHS` (or a registered model name)."""
    name, overrides = ARCHS.get(arch, (arch, {}))
    return build_model(name, in_channels=in_channels, image_size=image_size, num_classes=num_classes,
                       activation=activation, **overrides)


# ------------------------------------------------------------------------------------------- results
@torch.no_grad()
def penultimate_features(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The input of the final linear layer for every image, ``(N, F)``."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    feats = getattr(model, "features", None)
    if not callable(feats):
        last = [mod for mod in model.modules() if isinstance(mod, nn.Linear)][-1]
        box: list[torch.Tensor] = []
        handle = last.register_forward_hook(lambda mod, inp, out: box.append(inp[0].detach()))
        try:
            for i in range(0, len(x), batch_size):
                model(x[i:i + batch_size].to(dev))
        finally:
            handle.remove()
        out = torch.cat(box).flatten(1).cpu()
    else:
        out = torch.cat([feats(x[i:i + batch_size].to(dev)).flatten(1).cpu() for i in range(0, len(x), batch_size)])
    model.train(was)
    return out


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(K, K)`` counts: row = true class, column = predicted class."""
    return torch.bincount(labels * num_classes + preds, minlength=num_classes ** 2).reshape(num_classes, num_classes)


@dataclass
class Results:
    """A model's predictions on a labelled set. ``probs (N, K)``; ``confusion (K, K)`` rows are true classes."""

    labels: torch.Tensor
    probs: torch.Tensor
    class_names: list[str]
    features: torch.Tensor
    preds: torch.Tensor = field(init=False)
    confusion: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.preds = self.probs.argmax(1)
        self.confusion = confusion_matrix(self.labels, self.preds, len(self.class_names))

    @property
    def accuracy(self) -> float:
        return float((self.preds == self.labels).float().mean())

    @property
    def per_class_accuracy(self) -> torch.Tensor:
        """``(K,)`` recall of each class (NaN for a class with no images)."""
        support = self.confusion.sum(1).double()
        return torch.where(support > 0, self.confusion.diag().double() / support.clamp_min(1), torch.nan)

    @property
    def confidence(self) -> torch.Tensor:
        return self.probs.max(1).values

    def cell(self, true: int, pred: int) -> torch.Tensor:
        """Indices of the images of class ``true`` predicted as ``pred``, most confident first."""
        idx = torch.nonzero((self.labels == true) & (self.preds == pred)).flatten()
        return idx[torch.argsort(self.probs[idx, pred], descending=True)]

    def confidently_wrong(self, k: int = 12) -> torch.Tensor:
        """Indices of the ``k`` wrong predictions with the highest confidence in the wrong class."""
        wrong = torch.nonzero(self.preds != self.labels).flatten()
        return wrong[torch.argsort(self.confidence[wrong], descending=True)][:k]

    def top_confusions(self, k: int = 3) -> list[tuple[str, str, int]]:
        off = self.confusion.clone()
        off.fill_diagonal_(0)
        flat = torch.argsort(off.flatten(), descending=True)[:k]
        kk = len(self.class_names)
        return [(self.class_names[int(i) // kk], self.class_names[int(i) % kk], int(off.flatten()[i]))
                for i in flat if off.flatten()[i] > 0]


def evaluate(model: nn.Module, data: ImageData, batch_size: int = 500) -> Results:
    """Predictions, confusion matrix and penultimate features of ``model`` on ``data``."""
    from dlviz.metrics import predict

    logits = predict(model, data.images, batch_size)
    return Results(data.labels.clone(), torch.softmax(logits.float(), 1), list(data.class_names),
                   penultimate_features(model, data.images, batch_size))


# ------------------------------------------------------------------------------------------- embeddings
def embed_pca(features: torch.Tensor | np.ndarray, dims: int = 2) -> np.ndarray:
    """``(N, dims)`` principal-component scores (centred; each axis signed so its largest loading is positive).

    Computed from the ``F x F`` covariance (``eigh``), which for N >> F is far cheaper than an SVD of the data;
    single-threaded BLAS, because threads only add contention at this size.
    """
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(0)
    with threadpool_limits(1):
        _, evecs = np.linalg.eigh(x.T @ x)                  # ascending eigenvalues
    k = min(dims, x.shape[1])
    v = evecs[:, ::-1][:, :k]                               # (F, k), largest variance first
    v = v * np.sign(v[np.abs(v).argmax(0), np.arange(k)])
    out = np.zeros((len(x), dims))
    out[:, :k] = x @ v
    return out


def embed_umap(features: torch.Tensor | np.ndarray, seed: int = 0, n_neighbors: int = 15,
               min_dist: float = 0.1) -> np.ndarray:
    """``(N, 2)`` UMAP of the features (after PCA to at most 50 dimensions). Imports umap-learn lazily."""
    import umap

    x = np.asarray(features, dtype=np.float64)
    if x.shape[1] > 50:
        x = embed_pca(x, 50)
    n_neighbors = max(2, min(n_neighbors, len(x) - 1))
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_components=2, n_jobs=1)
    return np.asarray(reducer.fit_transform(x), dtype=np.float64)


def neighbour_agreement(embedding: np.ndarray, labels: torch.Tensor | np.ndarray, k: int = 10) -> float:
    """Fraction of each point's ``k`` nearest neighbours (in the embedding) that share its class, averaged:
    a number for how well the picture separates the classes (chance ~ 1/K for balanced classes)."""
    from sklearn.neighbors import NearestNeighbors

    y = np.asarray(labels)
    k = min(k, len(y) - 1)
    idx = NearestNeighbors(n_neighbors=k + 1).fit(embedding).kneighbors(embedding, return_distance=False)[:, 1:]
    return float((y[idx] == y[:, None]).mean())


class UmapJob:
    """UMAP in a background thread: ``start()``, then poll ``done`` and read ``result`` (or ``error``)."""

    def __init__(self, features: torch.Tensor | np.ndarray, seed: int = 0, **kwargs) -> None:
        self.features, self.seed, self.kwargs = np.asarray(features), seed, kwargs
        self.result: np.ndarray | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="dlviz-umap")

    def start(self) -> UmapJob:
        if not self._thread.is_alive() and self.result is None and self.error is None:
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = embed_umap(self.features, self.seed, **self.kwargs)
        except Exception as e:  # noqa: BLE001 - shown to the user by the page
            self.error = f"{type(e).__name__}: {e}"

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)


# ---------------------------------------------------------------------------------------- a run that went wrong
SPIKE_FACTOR = 100.0


def run_trouble(history: dict[str, tuple[list[int], list[float]]], chance: float | None = None,
                acc_key: str = "val_acc") -> str:
    """What went wrong in a finished run, in words, from its recorded history ("" when nothing did).

    * the minibatch ``loss`` rose above :data:`SPIKE_FACTOR` x its first value at some step -- a learning rate too
      high, even when the loss came back down (the Trainer's explosion watch compares with the mean of the first
      ten losses, which a spike inside them inflates);
    * the last ``acc_key`` is within 2 points of ``chance`` (1/K): the run ended knowing nothing.
    """
    notes = []
    steps, loss = history.get("loss", ([], []))
    finite = [(s, v) for s, v in zip(steps, loss) if math.isfinite(v)]
    if finite:
        first = finite[0][1]
        peak_step, peak = max(finite, key=lambda sv: sv[1])
        if first > 0 and peak > SPIKE_FACTOR * first:
            notes.append(f"the training loss spiked to {peak:.3g} at step {peak_step} ({peak / first:,.0f}× its "
                         f"first value {first:.3g}): the learning rate is probably too high")
    acc_steps, acc = history.get(acc_key, ([], []))
    if chance is not None and acc and math.isfinite(acc[-1]) and acc[-1] <= chance + 0.02:
        notes.append(f"at step {acc_steps[-1]} it classifies no better than chance ({acc[-1]:.1%}; chance is "
                     f"{chance:.1%})")
    return "; ".join(notes)


def thumbnail() -> np.ndarray:
    """Landing-page card: one food-shapes image per class, 2 x 5, as ``(H, W, 3)`` uint8."""
    from dlviz.data import food_shapes

    d = food_shapes(10, seed=3)
    imgs = d.images[torch.argsort(d.labels)]                              # (10, 3, 32, 32)
    return tile(imgs, ncol=5, pad=0)
