"""What a VAE is trained on and how: the data sets the VAE page offers, the architecture that fits
each, and a :class:`dlviz.train.Trainer` that logs the ELBO's two terms separately.

Data sets: the digits (shown at 16x16), the food shapes (all ten classes, or the hotdogs alone -- the
course's "hotdog generator"), MNIST / FashionMNIST when a local copy exists, and a folder of the
student's own images (flat, or one sub-folder per class; a single class is fine for a generator).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dlviz.data import DataError, ImageData, batches, digits, food_shapes
from dlviz.train import Trainer
from dlviz.vae.core import beta_schedule, elbo, vae_loss


@dataclass(frozen=True)
class DataSpec:
    key: str
    label: str
    channels: int
    size: int
    likelihood: str            # the decoder that fits the data
    arch: tuple                # conv channels of the default ConvVAE
    hidden: int                # its hidden width
    local: bool = False        # needs files the student provides


DATASETS: dict[str, DataSpec] = {
    "digits": DataSpec("digits", "digits (1,797 handwritten, 16x16)", 1, 16, "bernoulli", (16, 32), 64),
    "food": DataSpec("food", "food shapes, all 10 classes (32x32 RGB)", 3, 32, "gaussian", (16, 32, 48), 0),
    "hotdog": DataSpec("hotdog", "food shapes, hotdogs only (32x32 RGB)", 3, 32, "gaussian", (16, 32, 48), 0),
    "mnist": DataSpec("mnist", "MNIST (local copy)", 1, 28, "bernoulli", (32, 64), 0, local=True),
    "fashion": DataSpec("fashion", "FashionMNIST (local copy)", 1, 28, "bernoulli", (32, 64), 0, local=True),
    "folder": DataSpec("folder", "my images (a folder)", 3, 32, "gaussian", (16, 32, 48), 0, local=True),
}
# seeds of the procedural sets: train and test never share an image (and differ from other pages')
_FOOD = {"food": (6000, 300, 2000, 301, None), "hotdog": (3000, 310, 500, 311, ["hotdog"])}
# the page's defaults for a live run; on the digits, RECOGNISABLE_STEPS of them give reconstructions the
# shipped digit classifier reads (tests/test_vae.py), in a few seconds on two cores (benchmarks/bench_vae.py)
LIVE_DEFAULTS = {"lr": 4e-3, "batch_size": 64, "steps": 1500, "optimizer": "Adam"}
RECOGNISABLE_STEPS = 300
SWEEP_BETAS = (0.25, 1.0, 4.0, 16.0)   # the page's "β sweep": four runs from the same weights
EVAL_N = 256            # test images every live run scores its test ELBO / KL / reconstruction on
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def load_data(key: str, split: str = "train", *, root: str | Path = "data", folder: str | Path | None = None,
              limit: int | None = None) -> ImageData:
    """The ``train`` or ``test`` split of data set ``key`` (see :data:`DATASETS`), in [0, 1].

    Raises :class:`dlviz.data.DataError` with a message for the user when the data are not there."""
    if key not in DATASETS:
        raise DataError(f"Unknown data set {key!r}; choose one of {', '.join(DATASETS)}.")
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', not {split!r}")
    if key == "digits":
        data = digits(split, seed=0, size=16)
    elif key in _FOOD:
        n_tr, s_tr, n_te, s_te, classes = _FOOD[key]
        n, seed = (n_tr, s_tr) if split == "train" else (n_te, s_te)
        data = food_shapes(limit or n, seed=seed, size=32, classes=classes)
    elif key in ("mnist", "fashion"):
        from dlviz.data.external import torchvision_dataset

        name = "MNIST" if key == "mnist" else "FashionMNIST"
        data = torchvision_dataset(name, root=root, train=split == "train", download=False,
                                   limit=limit or (20000 if split == "train" else 2000))
    else:
        data = image_folder_any(folder, split=split)
    if limit is not None and len(data) > limit:
        data = data.subset(slice(0, limit))
    return data


def image_folder_any(path: str | Path | None, split: str = "train", size: int = 32, max_images: int = 5000,
                     test_fraction: float = 0.2) -> ImageData:
    """A folder of images for a generator: images directly inside it (one class) or in sub-folders
    (one class each). Unreadable files are skipped and counted in ``meta['skipped']``."""
    from dlviz.data.external import load_image
    from dlviz.data.photos import square

    if path is None or not str(path).strip():
        raise DataError("Enter the path of a folder of images (e.g. ~/Pictures/hotdogs).")
    text = str(path).strip()
    shown = re.sub(r"[\x00-\x1f\x7f]", lambda c: f"\\x{ord(c.group()):02x}",
                   shown_name(text if len(text) <= 80 else text[:60] + f"... ({len(text):,} characters)"))
    if len(text) > 4096:
        raise DataError(f"{shown} is not a folder path: paste the path of a folder of images, not its contents.")
    try:
        root = Path(text).expanduser()
        is_dir, exists = root.is_dir(), root.exists()
    except (OSError, ValueError) as e:              # a name too long, a NUL byte...
        raise DataError(f"{shown} cannot be opened as a folder ({getattr(e, 'strerror', None) or e}).") from None
    if not is_dir:
        raise DataError(f"{shown} is not a folder." if exists else f"{shown} does not exist.")
    groups = [(shown_name(d.name), d) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    flat = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    ignored = sum(1 for f in root.rglob("*") if f.is_file() and f.suffix.lower() not in IMAGE_SUFFIXES)
    if flat or not groups:
        groups = [(shown_name(root.name) or "images", None)] + groups
    images, labels, names, skipped, odd = [], [], [], [], 0
    for name, d in groups:
        files = flat if d is None else sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        loaded = []
        for f in files[:max_images]:
            odd += shown_name(f.name) != f.name
            try:
                loaded.append(square(load_image(f), size))
            except (DataError, OSError, ValueError) as e:
                skipped.append(f"{shown_name(f.name)} ({str(e).split(':')[0][:60] or type(e).__name__})")
        if loaded:
            names.append(name)
            images += loaded
            labels += [len(names) - 1] * len(loaded)
    if len(images) < 10:
        raise DataError(f"{shown_name(str(root))} has {len(images)} readable image(s); a VAE needs at least 10 "
                        f"(PNG or JPEG, directly in the folder or in sub-folders)"
                        + (f"; {len(skipped)} could not be read, e.g. {skipped[0]}" if skipped else "") + ".")
    data = ImageData(torch.stack(images), torch.tensor(labels), names, name=shown_name(root.name),
                     meta={"skipped": len(skipped), "skipped_files": skipped[:5], "ignored": ignored,
                           "odd_names": odd, "loaded": len(images), "root": shown_name(str(root))})
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(data), generator=g)
    k = max(1, round(test_fraction * len(data)))
    return data.subset(perm[k:].sort().values if split == "train" else perm[:k].sort().values)


def shown_name(name: str) -> str:
    """A file name as text a page can show: bytes that are not UTF-8 (kept by Python as surrogates) as ``\\xNN``."""
    import os

    return os.fsencode(name).decode("utf-8", "backslashreplace")


def folder_note(meta: dict) -> str:
    """What was read from an image folder and what was left out (empty when nothing was)."""
    parts = []
    if meta.get("skipped"):
        parts.append(f"{meta['skipped']} file(s) skipped as unreadable: " + "; ".join(meta.get("skipped_files", []))
                     + (" ..." if meta["skipped"] > len(meta.get("skipped_files", [])) else ""))
    if meta.get("ignored"):
        parts.append(f"{meta['ignored']} file(s) ignored (not an image type: {', '.join(sorted(IMAGE_SUFFIXES))})")
    if meta.get("odd_names"):
        parts.append(f"{meta['odd_names']} file name(s) are not valid UTF-8 (read all the same; shown with \\x "
                     "escapes)")
    return "; ".join(parts)


def default_config(key: str, latent_dim: int = 16, likelihood: str | None = None) -> dict:
    """The ConvVAE config for data set ``key`` (its size, channels and fitting decoder)."""
    s = DATASETS[key]
    return {"in_channels": s.channels, "image_size": s.size, "latent_dim": int(latent_dim),
            "channels": s.arch, "hidden": s.hidden, "likelihood": likelihood or s.likelihood}


def make_trainer(model: nn.Module, train: ImageData, *, steps: int = 1000, beta: float = 1.0, warmup: int = 0,
                 batch_size: int = 64, optimizer: torch.optim.Optimizer | None = None, lr: float = 4e-3,
                 test: ImageData | None = None, eval_every: int = 100, eval_n: int = EVAL_N, seed: int = 0,
                 grad_clip: float | None = 100.0, name: str = "vae", scheduler=None, device: str | None = None,
                 snapshot_fn: Callable | None = None, snapshot_every: int = 0) -> Trainer:
    """A Trainer for ``model`` on ``train`` minimising ``-(recon - beta_t KL)``.

    Each step logs ``recon`` (-E_q log p(x|z), nats per image), ``kl``, ``elbo`` and the annealed
    ``beta`` (0 -> ``beta`` over ``warmup`` steps); with ``test``, ``test_elbo`` is measured on its
    first ``eval_n`` images every ``eval_every`` steps (the same noise each time)."""
    if len(train) < 2:
        raise DataError("The training set needs at least two images.")
    if tuple(train.shape) != (model.config.in_channels, model.config.image_size, model.config.image_size):
        raise DataError(f"The images are {tuple(train.shape)} but the model expects "
                        f"({model.config.in_channels}, {model.config.image_size}, {model.config.image_size}).")
    opt = optimizer or torch.optim.Adam(model.parameters(), lr)
    schedule = beta_schedule(beta, warmup)
    trainer: Trainer | None = None

    def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, ...]):
        return vae_loss(m, batch[0], beta=schedule(trainer.step if trainer is not None else 0))

    eval_fn = None
    if test is not None and len(test):
        xt = test.images[:eval_n]

        def eval_fn(m: nn.Module) -> dict[str, float]:
            t = elbo(m, xt, generator=torch.Generator().manual_seed(0)).mean()
            return {"test_elbo": t["elbo"], "test_recon": -t["recon"], "test_kl": t["kl"]}

    trainer = Trainer(model, loss_fn=loss_fn, optimizer=opt, batches=batches(train.images, batch_size=batch_size,
                      seed=seed), steps=steps, grad_clip=grad_clip, eval_fn=eval_fn, scheduler=scheduler, device=device,
                      eval_every=eval_every if eval_fn else 0, snapshot_fn=snapshot_fn,
                      snapshot_every=snapshot_every, name=name)
    return trainer


def make_runs(train: ImageData, test: ImageData, key: str, latent_dim: int, betas: tuple[float, ...], *,
              likelihood: str | None = None, make_optimizer: Callable | None = None, seed: int = 0,
              **trainer_kwargs) -> dict[str, Trainer]:
    """One fresh ConvVAE and Trainer per beta (same seed, same batches): ``{"β=1": trainer, ...}``.

    ``make_optimizer(params) -> optimizer`` (default Adam at ``lr``); each trainer remembers the data
    set it trains on as ``trainer.vae_data``."""
    from dlviz.models import build_model

    cfg = default_config(key, latent_dim, likelihood)
    cfg.update(in_channels=train.shape[0], image_size=train.shape[1])
    runs = {}
    for b in betas:
        torch.manual_seed(seed)
        m = build_model("conv_vae", **cfg)
        opt = make_optimizer(m.parameters()) if make_optimizer is not None else None
        name = f"β={b:g}"
        runs[name] = make_trainer(m, train, beta=b, optimizer=opt, test=test, seed=seed, name=name, **trainer_kwargs)
        runs[name].vae_data = key
    return runs


def loss_health(losses: list[float], min_steps: int = 200) -> str | None:
    """A message when a run is going wrong in a way the Trainer's NaN check cannot see, else None.

    A VAE's loss rarely becomes NaN (its logits and variances saturate instead), so a too-high learning
    rate shows up as a loss that ends far above where it started ("exploded") or never drops below its
    start after ``min_steps`` steps ("stalled"). Robust to noise: medians of the first 5 and last 10."""
    import math
    import statistics

    vals = [v for v in losses if math.isfinite(v)]
    if len(vals) < 15:
        return None
    first, start, now = vals[0], statistics.median(vals[:5]), statistics.median(vals[-10:])
    if now > start + 2 * abs(start) or now > 1e6:
        return (f"The loss exploded: {now:.3g} now (median of the last 10 steps) against {first:.3g} at the first "
                f"recorded step. The learning rate is probably too high -- stop the run and lower it.")
    if len(vals) >= min_steps and now >= start:
        return (f"The loss has not improved in {len(vals)} steps ({now:.3g} now, median of the last 10; {first:.3g} "
                f"at the first recorded step). The learning rate is probably too high (or far too low).")
    return None
