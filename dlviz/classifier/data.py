"""Data for the classifier lab: the built-in sets, torchvision sets already on disk, and the student's own
``ImageFolder`` (a path, or a .zip upload) split into training and validation images.

Every failure raises :class:`~dlviz.data.DataError` with a message written for the student: a missing
folder, one class, a class too small to give both a training and a validation image, a bad zip.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlviz.data import DataError, ImageData

IMAGE_SIZE = 32
SOURCES = ("food shapes", "digits", "MNIST", "FashionMNIST", "CIFAR10", "image folder")


@dataclass
class DataSplit:
    train: ImageData
    val: ImageData
    note: str = ""

    @property
    def class_names(self) -> list[str]:
        return self.train.class_names


def _to_size(d: ImageData, size: int) -> ImageData:
    return d.resized(size)


def local_torchvision_sets(root: str = "data") -> list[str]:
    """The torchvision datasets already on disk under ``root`` (nothing is downloaded)."""
    from pathlib import Path

    r = Path(root).expanduser()
    found = []
    for name in ("MNIST", "FashionMNIST"):
        raw = r / name / "raw"
        if raw.is_dir() and any(raw.glob("train-images-idx3-ubyte*")):
            found.append(name)
    if (r / "cifar-10-batches-py" / "data_batch_1").is_file():
        found.append("CIFAR10")
    return found


def load_data(source: str, *, n_train: int = 4000, n_val: int = 1000, seed: int = 0, root: str = "data",
              folder: str = "", val_fraction: float = 0.2, size: int = IMAGE_SIZE) -> DataSplit:
    """Train and validation images ``(N, C, size, size)`` for ``source`` (one of :data:`SOURCES`).

    Raises :class:`~dlviz.data.DataError` with a message for the user when the data are missing or unusable.
    """
    from dlviz.data import digits, food_shapes
    from dlviz.data.external import torchvision_dataset

    if source == "food shapes":
        tr, va = food_shapes(n_train, seed=seed * 10 + 1), food_shapes(n_val, seed=seed * 10 + 2)
        return DataSplit(_to_size(tr, size), _to_size(va, size),
                         f"{n_train} + {n_val} procedural images (seeds {seed * 10 + 1}, {seed * 10 + 2})")
    if source == "digits":
        tr, va = digits("train", seed=seed, size=size), digits("test", seed=seed, size=size)
        return DataSplit(tr, va, "scikit-learn's 1,797 digits, 80/20 stratified split, 8x8 upsampled")
    if source in ("MNIST", "FashionMNIST", "CIFAR10"):
        tr = torchvision_dataset(source, root, train=True, limit=n_train)
        va = torchvision_dataset(source, root, train=False, limit=n_val)
        return DataSplit(_to_size(tr, size), _to_size(va, size), f"first {len(tr)} train / {len(va)} test images")
    if source == "image folder":
        return folder_split(read_folder(folder, size=size), val_fraction, seed)
    raise DataError(f"Unknown data source {source!r}; choose one of {', '.join(SOURCES)}.")


MAX_PATH = 4096          # Linux PATH_MAX; one file or folder name is at most NAME_MAX = 255 bytes
MAX_NAME = 255


def shorten(text: str, n: int = 60) -> str:
    """``text`` cut to about ``n`` characters for a message (a pasted megabyte must not come back whole)."""
    text = str(text)
    return text if len(text) <= n else f"{text[: n // 2]}…{text[-(n // 2):]} ({len(text):,} characters)"


def check_folder_path(path: str) -> str:
    """The stripped ``path`` when it can name a folder, else a :class:`DataError` saying why in words (empty,
    too long, a name too long, a NUL character) -- before the operating system answers with ``OSError``."""
    p = str(path).strip()
    if not p:
        raise DataError("Enter the path of a folder with one sub-folder per class.")
    if "\x00" in p:
        raise DataError("A folder path cannot contain a NUL character.")
    if len(p.encode("utf-8", "surrogateescape")) > MAX_PATH:
        raise DataError(f"That folder path is {len(p):,} characters long; a path has at most {MAX_PATH:,} bytes. "
                        "Paste the path of a folder (e.g. ~/Pictures/food).")
    long = [part for part in p.split("/") if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME]
    if long:
        raise DataError(f"The name {shorten(long[0])!r} in that path is longer than {MAX_NAME} bytes, the most a "
                        "folder name can have.")
    return p


def read_folder(path: str, size: int = IMAGE_SIZE) -> ImageData:
    """The student's ``ImageFolder`` at ``path``, with every failure -- including the operating system's
    (permission denied, a name too long, an unreadable disk) -- as a :class:`DataError` in words."""
    from dlviz.data.external import image_folder

    p = check_folder_path(path)
    try:
        return image_folder(p, size=size, min_per_class=1)
    except OSError as e:
        raise DataError(f"This server cannot read {shorten(p)!r}: {e.strerror or e}.") from e


def folder_split(data: ImageData, val_fraction: float = 0.2, seed: int = 0, min_per_class: int = 5) -> DataSplit:
    """A stratified train/validation split of the student's own images, with clear messages when it
    cannot work (one class, or a class too small to give both a training and a validation image)."""
    if data.num_classes < 2:
        raise DataError("A classifier needs at least two classes (two sub-folders with images).")
    if not 0.05 <= val_fraction <= 0.5:
        raise DataError("The validation fraction must be between 5% and 50%.")
    counts = data.class_counts()
    small = [n for n, c in zip(data.class_names, counts.tolist()) if c < min_per_class]
    if small:
        raise DataError(f"Class folder(s) {small} have fewer than {min_per_class} readable images; every class "
                        f"needs some to train on and at least one to validate on.")
    tr, va = data.split(1 - val_fraction, seed=seed)
    va_counts = va.class_counts()
    if int(va_counts.min()) == 0:  # very small classes: move one image of each such class to validation
        raise DataError("Some classes got no validation image; raise the validation fraction or add images.")
    skipped = data.meta.get("skipped", 0)
    note = f"{len(tr)} train / {len(va)} validation images in {data.num_classes} classes"
    if skipped:
        note += f"; {skipped} unreadable file(s) skipped"
    return DataSplit(tr, va, note)


def image_folder_from_zip(raw: bytes, size: int = IMAGE_SIZE, max_files: int = 20_000,
                          max_total_bytes: int = 500 * 1024 * 1024) -> ImageData:
    """An ``ImageFolder`` uploaded as a .zip (``class_a/*.jpg``, ``class_b/*.jpg``, optionally inside one
    top folder). Extracted into a temporary folder with every path checked; zip bombs are refused."""
    import io
    import tempfile
    import zipfile
    from pathlib import Path

    from dlviz.data.external import image_folder

    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as e:
        raise DataError("This is not a readable .zip file.") from e
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > max_files:
        raise DataError(f"The zip holds {len(infos):,} files; the limit is {max_files:,}.")
    if sum(i.file_size for i in infos) > max_total_bytes:
        raise DataError(f"The zip unpacks to more than {max_total_bytes / 1e6:.0f} MB.")
    with tempfile.TemporaryDirectory(prefix="dlviz-folder-") as tmp:
        root = Path(tmp).resolve()
        tmp_root = root
        for info in infos:
            try:
                target = (root / info.filename).resolve()
                if root not in target.parents or "__MACOSX" in info.filename:
                    continue  # absolute paths, ../ tricks and macOS metadata are skipped
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
            except (OSError, zipfile.BadZipFile, ValueError) as e:  # a name too long, a corrupt member, ...
                why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
                raise DataError(f"Could not unpack {shorten(info.filename)!r} from the zip: {why}.") from None
        top = [d for d in root.iterdir() if d.is_dir()]
        loose = [f for f in root.iterdir() if f.is_file()]
        if len(top) == 1 and not loose and any(d.is_dir() for d in top[0].iterdir()):
            root = top[0]  # zipped as my_food/{hotdog,pizza}/...
        try:
            data = image_folder(root, size=size, min_per_class=1)
        except (DataError, OSError) as e:
            # the messages name the folder they read: here a temporary one on the server -- say "the zip" instead
            raise DataError(_without_folder(str(e), [root, tmp_root])) from None
    data.name = "uploaded folder"
    data.meta["root"] = "uploaded .zip"
    return data


def _without_folder(message: str, folders) -> str:
    """``message`` with every mention of ``folders`` (server paths) replaced by words about the upload."""
    for f in folders:
        message = message.replace(f"{f}/", "").replace(str(f), "the zip")
    return message
