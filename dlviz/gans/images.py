"""The image GAN (a DCGAN, Radford et al. 2016) on the digits (16x16) and the food shapes (32x32): data,
sample and fixed-noise grids, latent interpolation, mode collapse counted with the shared sample-quality
classifier, and one comparison of the app's three generators (VAE, GAN, DDPM) on the same measures.

The measures are those of the DDPM page (:mod:`dlviz.metrics`): the Fréchet distance between
generated and real images in the shipped classifier's feature space (beside the real-vs-real floor), and
the classifier's reading of each sample. A GAN that collapses puts most samples in few classes: the
count of classes holding at least ``share`` of the samples and the entropy of the class histogram
(log 10 = 2.30 nats when all ten are equally common) make that a number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dlviz.data import FOOD_CLASSES, ImageData, digits, food_shapes

IMAGE_SETS = {"digits": "digits (16x16, 1,797 handwritten)", "food_shapes": "food shapes (32x32 RGB, 10 classes)"}
# the shipped generators the page compares, per image set
COMPARE = {"digits": ("vae_digits16", "dcgan_digits", "dcgan_digits_cond", "ddpm_digits"),
           "food_shapes": ("vae_food32", "dcgan_food", "dcgan_food_cond", "ddpm_food")}
COMPARE_CAPTION = ("Lower Fréchet distance is closer to the real images (the floor is two real sets). Class accuracy "
                   "only for the class-conditional generators (asked for each class in turn), judged as on the DDPM "
                   "page: a sample with no object standing out never counts as recognised. The VAE is sampled twice: "
                   "from its prior, and from a mixture fitted to its training codes (the VAE page's Samples tab; the "
                   "fit is in its time). Time: this server, this session's CPU share.")
# the shipped DCGANs the page offers: checkpoint -> (image set, label); the last is the page's default
SHIPPED = {"dcgan_digits": ("digits", "digits · DCGAN"), "dcgan_digits_cond": ("digits", "digits · conditional DCGAN"),
           "dcgan_food_cond": ("food_shapes", "food shapes · conditional DCGAN"),
           "dcgan_food": ("food_shapes", "food shapes · DCGAN")}
FOOD_TRAIN = (6000, 320)          # (n, seed) of the food shapes a DCGAN trains on (disjoint from the reference)


def load_images(key: str) -> ImageData:
    """The images a DCGAN trains on: the digits' train split at 16x16, or 6,000 food shapes at 32x32."""
    if key == "digits":
        return digits("train", seed=0, size=16)
    if key == "food_shapes":
        return food_shapes(FOOD_TRAIN[0], seed=FOOD_TRAIN[1], size=32)
    raise ValueError(f"unknown image set {key!r}")


def dcgan_config(key: str, conditional: bool = False) -> dict:
    size, ch = (16, 1) if key == "digits" else (32, 3)
    return {"image_size": size, "channels": ch, "noise_dim": 32, "g_width": 32, "d_width": 32,
            "num_classes": 10 if conditional else 0}


@torch.no_grad()
def generate(model: nn.Module, n: int, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` samples (n, C, H, W) in [0, 1] from fixed noise (a conditional model cycles the classes)."""
    model.eval()
    if model.config.num_classes and labels is None:
        labels = torch.arange(n) % model.config.num_classes
    z = model.noise(n, torch.Generator().manual_seed(seed)).cpu()
    return model.G(z, labels if model.config.num_classes else None)


@torch.no_grad()
def interpolate(model: nn.Module, steps: int = 9, seed: int = 0, spherical: bool = True, label: int = 0
                ) -> torch.Tensor:
    """Images along a path between two noise vectors (steps, C, H, W); slerp keeps |z| typical for Gaussian z."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    z0, z1 = model.noise(2, g).cpu()
    t = torch.linspace(0, 1, steps)[:, None]
    if spherical:
        om = torch.arccos(torch.clamp((z0 / z0.norm()) @ (z1 / z1.norm()), -1, 1))
        z = (torch.sin((1 - t) * om) * z0 + torch.sin(t * om) * z1) / torch.sin(om)
    else:
        z = (1 - t) * z0 + t * z1
    y = torch.full((steps,), label) if model.config.num_classes else None
    return model.G(z, y)


@dataclass
class Diversity:
    counts: np.ndarray          # (K,) samples the classifier puts in each class
    classes_present: int        # classes with >= share of the samples
    entropy: float              # nats, of the class histogram
    share: float


def class_diversity(pred: np.ndarray, num_classes: int, share: float = 0.02) -> Diversity:
    """Mode collapse in classes: how the shared classifier spreads ``pred`` (N,) over ``num_classes``."""
    counts = np.bincount(np.asarray(pred), minlength=num_classes)
    p = counts / max(1, counts.sum())
    nz = p > 0
    return Diversity(counts, int((p >= share).sum()), float(-(p[nz] * np.log(p[nz])).sum()), share)


def classifier_for(key: str):
    from dlviz.checkpoints import load_shipped
    from dlviz.metrics import CLASSIFIERS

    return load_shipped(CLASSIFIERS[key])[0].eval()


def evaluate_dcgan(model: nn.Module, key: str, n: int = 500) -> dict[str, float]:
    """Deterministic quality of ``n`` samples: FD to the held-out real images (and its real floor), the
    classes present and the class entropy (and, for a conditional model, the share recognised as the class asked
    for, with the DDPM page's "no object" rule: a blank sample never counts, :mod:`dlviz.ddpm.quality`)."""
    from dlviz.ddpm.quality import recognise
    from dlviz.metrics import measure, real_floor_images, real_reference

    clf = classifier_for(key)
    x = generate(model, n, seed=0)
    real = real_reference(key)
    req = torch.arange(n) % 10
    q = measure(x, req, clf, real, real_floor_images(key, n))
    div = class_diversity(q.predicted, len(real.class_names))
    out = {"fd": q.fd, "fd_real_floor": q.fd_real, "classes_present": float(div.classes_present),
           "class_entropy": div.entropy}
    if model.config.num_classes:
        out["sample_acc"] = float(recognise(clf, x).hits(req.numpy()).mean())
        out["within_class_spread"] = within_class_spread(model)
    return out


@torch.no_grad()
def within_class_spread(model: nn.Module, per_class: int = 50, seed: int = 0) -> float:
    """Mean per-pixel standard deviation over ``per_class`` noise vectors at a fixed class, averaged over the
    classes: 0 when G ignores z (every sample of a class the same image: collapse inside the class)."""
    k = model.config.num_classes
    x = generate(model, k * per_class, seed=seed, labels=torch.arange(k).repeat_interleave(per_class))
    return float(x.view(k, per_class, -1).std(1).mean())


def real_within_class_spread(key: str, per_class: int = 50) -> float:
    """The same spread for real images (the reference a generator's spread is read against)."""
    from dlviz.metrics import real_reference

    real = real_reference(key)
    out = [real.images[real.labels == c][:per_class].flatten(1).std(0).mean() for c in range(10)]
    return float(torch.stack(out).mean())


@dataclass
class Row:
    generator: str
    checkpoint: str
    fd: float
    fd_floor: float
    classes_present: int
    class_entropy: float
    accuracy: float              # nan for unconditional generators
    ms_per_image: float
    n: int


def compare(generators: dict[str, tuple[str, Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]]], key: str,
            n: int = 200) -> list[Row]:
    """One row per generator: ``{label: (checkpoint, sample(n) -> (images, requested labels or None))}``,
    all measured with the same classifier against the same held-out real images; class accuracy with the DDPM
    page's "no object" rule (:mod:`dlviz.ddpm.quality`: a blank sample is never read as the class asked for)."""
    from dlviz.ddpm.quality import MIN_OBJECT, NO_OBJECT, object_fraction
    from dlviz.metrics import classify, frechet_distance, real_floor_images, real_reference

    clf = classifier_for(key)
    real = real_reference(key)
    real_f, _ = classify(clf, real.images)
    floor = frechet_distance(classify(clf, real_floor_images(key, n))[0], real_f)
    rows = []
    for label, (ck, fn) in generators.items():
        t0 = time.perf_counter()
        x, req = fn(n)
        ms = 1000 * (time.perf_counter() - t0) / n
        f, pred = classify(clf, x)
        div = class_diversity(pred, len(real.class_names))
        judged = np.where(object_fraction(x) < MIN_OBJECT, NO_OBJECT, pred)      # a blank sample is never a hit
        acc = float((judged == req.numpy()).mean()) if req is not None else math.nan
        rows.append(Row(label, ck, frechet_distance(f, real_f), floor, div.classes_present, div.entropy, acc, ms, n))
    return rows


def generators_for(models: dict[str, nn.Module]) -> dict[str, tuple[str, Callable]]:
    """The comparison's sampler for each shipped model ``{checkpoint: model}``, labelled by its family; a
    conditional model (GAN or DDPM) is asked for every class in turn, so its class accuracy is measured."""
    from dlviz.ddpm.sampling import generate_per_class
    from dlviz.vae.core import sample_prior

    gens = {}
    for name, m in models.items():
        m.eval()
        if name.startswith("vae"):
            gens["VAE (prior)"] = (name, lambda k, m=m: (sample_prior(m, k, torch.Generator().manual_seed(0))[1], None))
            gens["VAE (fitted mixture)"] = (name, lambda k, m=m, n=name: (_vae_mixture_samples(m, n, k), None))
        elif name.startswith("dcgan"):
            cond = bool(m.config.num_classes)
            gens["conditional GAN" if cond else "GAN"] = (
                name, lambda k, m=m, c=cond: (generate(m, k, seed=0), torch.arange(k) % 10 if c else None))
        else:
            gens["DDPM (DDIM, 25 steps, w = 2)"] = (name, lambda k, m=m: generate_per_class(m, k // 10))
    return gens


def _vae_mixture_samples(model: nn.Module, name: str, n: int) -> torch.Tensor:
    """``n`` samples (seed 0) of a shipped VAE from the mixture fitted to its training codes (:mod:`dlviz.vae.expost`;
    the fit is part of the time per image)."""
    from dlviz.vae import expost
    from dlviz.vae.training import load_data

    mix = expost.fit_code_mixture(model, load_data("food" if "food" in name else "digits", "train").images)
    return expost.draw(model, n, "mixture", mix, seed=0)[1]


def table_rows(rows: list[Row]) -> list[dict]:
    """The comparison as table rows (class accuracy only where the generator was asked for a class)."""
    return [{"generator": r.generator, "checkpoint": r.checkpoint, "Fréchet distance": r.fd,
             "real-vs-real floor": r.fd_floor, "classes present": r.classes_present,
             "class entropy (nats)": r.class_entropy, "class accuracy": r.accuracy,
             "ms per image": r.ms_per_image} for r in rows]


def class_names(key: str) -> list[str]:
    return list(FOOD_CLASSES) if key == "food_shapes" else [str(i) for i in range(10)]


def requested(model: nn.Module, n: int, label: int | None) -> torch.Tensor | None:
    """The labels a conditional model is asked for: ``label`` every time, or every class in turn (None)."""
    if not model.config.num_classes:
        return None
    return torch.full((n,), int(label)) if label is not None else torch.arange(n) % model.config.num_classes


def class_reading(model: nn.Module, key: str, n: int = 500, seed: int = 0, label: int | None = None
                  ) -> tuple[Diversity, float]:
    """How the shared classifier reads ``n`` samples: the class histogram and, for a conditional model, the
    share of samples recognised as the class they were asked for, a blank one never (the "no object" rule of
    :mod:`dlviz.ddpm.quality`; nan for an unconditional model)."""
    from dlviz.ddpm.quality import recognise
    from dlviz.metrics import classify

    req = requested(model, n, label)
    x = generate(model, n, seed=seed, labels=req)
    clf = classifier_for(key)
    _, pred = classify(clf, x)
    acc = float(recognise(clf, x).hits(req.numpy()).mean()) if req is not None else math.nan
    return class_diversity(pred, 10), acc


def reading_cards(model: nn.Module, key: str, n: int = 500, seed: int = 0, label: int | None = None
                  ) -> tuple[Diversity, list[tuple[str, str, str]]]:
    """The class histogram of ``n`` samples and the page's metric cards (label, value, help): classes present,
    class entropy and, for a conditional model, agreement with the class asked for and the spread over z."""
    div, acc = class_reading(model, key, n, seed, label)
    cards = [(f"Classes among {n} samples", f"{div.classes_present} / 10",
              f"Classes the shared classifier finds in ≥ {div.share:.0%} of the samples."),
             ("Class entropy", f"{div.entropy:.2f} nats", "log 10 = 2.30 when all ten are equally common.")]
    if model.config.num_classes:
        spread, real = within_class_spread(model), real_within_class_spread(key)
        cards += [("Read as the class asked for", f"{acc:.0%}",
                   "By the shared classifier; a sample with no object standing out never counts."),
                  ("Spread over z inside a class", f"{spread / real:.0%} of real",
                   f"Mean per-pixel std over 50 noise vectors at a fixed class: {spread:.3f}; real images: {real:.3f}. "
                   "Near 0: G ignores z (collapse inside a class).")]
    return div, cards
