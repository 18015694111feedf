"""Optional data the student brings: torchvision datasets from a local folder, an ``ImageFolder``
path of their own images, and uploaded image files.

Nothing here downloads unless ``download=True`` is passed explicitly (the app asks first). Every
failure raises :class:`~dlviz.data.core.DataError` with a message meant for the user.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from dlviz.data.core import DataError, ImageData

TORCHVISION_SETS = ("MNIST", "FashionMNIST", "CIFAR10")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000


def torchvision_dataset(name: str, root: str | Path = "data", train: bool = True, download: bool = False,
                        limit: int | None = None) -> ImageData:
    """MNIST / FashionMNIST / CIFAR10 from ``root``. Downloads only when ``download`` is True."""
    if name not in TORCHVISION_SETS:
        raise DataError(f"Unknown torchvision dataset {name!r}; choose one of {', '.join(TORCHVISION_SETS)}.")
    import torchvision

    cls = getattr(torchvision.datasets, name)
    try:
        ds = cls(root=str(root), train=train, download=download)
    except RuntimeError as e:  # torchvision says "Dataset not found. You can use download=True ..."
        raise DataError(f"{name} is not in {Path(root).resolve()}. Tick 'download' to fetch it "
                        f"(needs a network connection), or copy it there.") from e
    except OSError as e:  # no network while downloading
        raise DataError(f"Could not download {name}: {e}. You seem to be offline; the built-in "
                        f"datasets work without a network.") from e
    data = ds.data if isinstance(ds.data, torch.Tensor) else torch.from_numpy(np.asarray(ds.data))
    targets = torch.as_tensor(ds.targets, dtype=torch.long)
    if limit:
        data, targets = data[:limit], targets[:limit]
    x = data.float() / 255.0
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    return ImageData(x.contiguous(), targets, list(ds.classes), name=name)


def load_image(source: bytes | str | Path | io.IOBase, max_bytes: int = MAX_UPLOAD_BYTES) -> torch.Tensor:
    """Decode any image file into ``(3, H, W)`` float32 in ``[0, 1]``.

    Handles RGBA (composited on white), palette, greyscale, 16-bit and CMYK images, and animated files
    (first frame). Corrupt, empty, over-large files and decompression bombs raise ``DataError``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.is_file():
            raise DataError(f"{p} is not a file.")
        if p.stat().st_size > max_bytes:
            raise DataError(f"{p.name} is {p.stat().st_size / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB.")
        raw = p.read_bytes()
    elif isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
    else:
        raw = source.read()
    if len(raw) == 0:
        raise DataError("The file is empty.")
    if len(raw) > max_bytes:
        raise DataError(f"The file is {len(raw) / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB.")
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise DataError(f"The image is {im.width}x{im.height} pixels; the limit is "
                                f"{MAX_PIXELS / 1e6:.0f} megapixels.")
            im.seek(0)
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, rgba)
            elif im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                arr = (255 * (arr - arr.min()) / max(arr.max() - arr.min(), 1)).astype(np.uint8)
                im = Image.fromarray(arr)
            elif im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
                arr = (255 * (arr - arr.min()) / max(arr.max() - arr.min(), 1e-12)).astype(np.uint8)
                im = Image.fromarray(arr)
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(f"The image is too large: it decodes to more than {MAX_PIXELS / 1e6:.0f} megapixels "
                        f"(the limit), although the file is only {len(raw) / 1e6:.1f} MB.") from e
    except UnidentifiedImageError as e:
        raise DataError("This is not an image we can read (not a format Pillow recognises). "
                        "Try a PNG or JPEG.") from e
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise DataError(f"The image file is damaged or truncated ({e}).") from e
    finally:
        Image.MAX_IMAGE_PIXELS = old
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise DataError("The image is smaller than 2x2 pixels.")
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255.0


def image_folder(path: str | Path, size: int = 32, max_per_class: int = 2000,
                 min_per_class: int = 2) -> ImageData:
    """A folder with one sub-folder per class (torchvision's ``ImageFolder`` layout), every image
    resized to ``size x size``. Unreadable files are skipped and counted in ``meta['skipped']``."""
    from dlviz.data.photos import square

    root = Path(path).expanduser()
    if not str(path).strip():
        raise DataError("Enter the path of a folder with one sub-folder per class.")
    if not root.exists():
        raise DataError(f"{root} does not exist.")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder.")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{root} has no sub-folders. Put each class's images in its own sub-folder, "
                        f"e.g. {root}/hotdog/*.jpg and {root}/not_hotdog/*.jpg.")
    images, labels, names, skipped = [], [], [], 0
    for d in class_dirs:
        files = sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)[:max_per_class]
        loaded = []
        for f in files:
            try:
                loaded.append(square(load_image(f), size))
            except DataError:
                skipped += 1
        if loaded:
            names.append(d.name)
            images.extend(loaded)
            labels.extend([len(names) - 1] * len(loaded))
    if len(names) < 2:
        raise DataError(f"{root} has {len(names)} class folder(s) with readable images; a classifier "
                        f"needs at least two.")
    counts = np.bincount(labels)
    if counts.min() < min_per_class:
        few = [n for n, c in zip(names, counts) if c < min_per_class]
        raise DataError(f"Class folder(s) {few} have fewer than {min_per_class} readable images.")
    return ImageData(torch.stack(images), torch.tensor(labels), names, name=root.name,
                     meta={"skipped": skipped, "root": str(root)})
