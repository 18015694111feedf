"""Offline data sources: shapes, ranges, determinism, class balance, and clear errors."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import torch

from dlviz.data import (
    FOOD_CLASSES,
    PHOTO_NAMES,
    TASKS,
    CharVocab,
    DataError,
    batches,
    code_text,
    digits,
    food_shapes,
    photo,
    sequence_task,
)
from dlviz.data.external import image_folder, load_image, torchvision_dataset


def test_digits_shapes_and_split():
    full = digits()
    assert full.images.shape == (1797, 1, 8, 8) and full.images.dtype == torch.float32
    assert float(full.images.min()) == 0.0 and float(full.images.max()) == 1.0
    tr, te = digits("train", seed=3), digits("test", seed=3)
    assert len(tr) + len(te) == 1797
    # disjoint and together the whole set: compare as sets of (image bytes, label)
    key = lambda d: {(d.images[i].numpy().tobytes(), int(d.labels[i])) for i in range(len(d))}
    assert not (key(tr) & key(te))
    # stratified: every class keeps ~80 % of its images in train
    frac = tr.class_counts().float() / full.class_counts().float()
    assert torch.all((frac - 0.8).abs() < 0.02)
    assert torch.equal(digits("train", seed=3).images, tr.images)
    assert digits("test", size=16).images.shape[-2:] == (16, 16)


def test_food_shapes_deterministic_balanced_and_fast():
    a, b = food_shapes(101, seed=7), food_shapes(101, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(food_shapes(101, seed=8).images, a.images)
    assert a.images.shape == (101, 3, 32, 32) and a.images.dtype == torch.float32
    assert 0.0 <= float(a.images.min()) and float(a.images.max()) <= 1.0
    counts = a.class_counts()
    assert len(FOOD_CLASSES) >= 8 and a.class_names == FOOD_CLASSES
    assert int(counts.max() - counts.min()) <= 1
    t0 = time.perf_counter()
    big = food_shapes(10_000, seed=0)
    assert time.perf_counter() - t0 < 20  # generous: the budget (< 5 s) is reported by the benchmark
    assert len(big) == 10_000


def test_food_shapes_classes_differ_and_subset():
    d = food_shapes(400, seed=1)
    means = torch.stack([d.images[d.labels == c].mean(0) for c in range(len(FOOD_CLASSES))])
    dist = torch.cdist(means.flatten(1), means.flatten(1))
    assert float(dist[~torch.eye(len(FOOD_CLASSES), dtype=bool)].min()) > 0.5  # class means are distinct
    hot = food_shapes(20, seed=0, classes=["hotdog"])
    assert hot.class_names == ["hotdog"] and torch.all(hot.labels == 0)
    with pytest.raises(DataError):
        food_shapes(10, classes=["sandwich"])


def test_photos_are_real_and_normalised():
    for name in PHOTO_NAMES:
        x = photo(name)
        assert x.ndim == 3 and x.shape[0] == 3 and min(x.shape[1:]) >= 64
        assert 0 <= float(x.min()) and float(x.max()) <= 1 and float(x.std()) > 0.02
    assert photo("coffee", 48).shape == (3, 48, 48)
    with pytest.raises(DataError):
        photo("mona lisa")


def test_code_text_and_vocab_round_trip():
    text = code_text(20_000)
    assert len(text) == 20_000 and "def " in text and "(" in text and "'" in text
    assert code_text(20_000) == text
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text[:500])
    assert vocab.decode(ids) == text[:500]
    assert vocab.encode("\u263a").tolist() == [0]  # unknown characters map to id 0


@pytest.mark.parametrize("name", TASKS)
def test_sequence_tasks_have_known_answers(name):
    t = sequence_task(name, n=64, length=10, vocab_size=6, seed=0)
    assert t.inputs.shape == t.targets.shape == t.mask.shape
    x, y = t.inputs, t.targets
    if name == "copy":
        assert torch.equal(x, y)
    elif name == "reverse":
        assert torch.equal(y, x.flip(1))
    elif name == "sort":
        assert torch.all(y[:, 1:] >= y[:, :-1]) and torch.equal(y.sort(1).values, x.sort(1).values)
    elif name == "bracket_depth":
        for row_x, row_y in zip(x.tolist(), y.tolist()):
            depth = 0
            for tok, d in zip(row_x, row_y):
                depth += {0: 1, 1: -1, 2: 0}[tok]
                assert d == depth >= 0
    elif name == "counting":
        for row_x, row_y in zip(x.tolist(), y.tolist()):
            for i, (tok, c) in enumerate(zip(row_x, row_y)):
                assert c == min(row_x[: i + 1].count(tok), 8)
    elif name == "induction":
        half = 5
        assert torch.equal(x[:, :half], x[:, half:2 * half])
        pos = t.mask.nonzero()
        assert torch.equal(y[pos[:, 0], pos[:, 1]], x[pos[:, 0], pos[:, 1] + 1])


def test_causal_layout_for_seq2seq():
    t = sequence_task("reverse", n=8, length=5, vocab_size=4, causal=True)
    assert t.inputs.shape == (8, 10)
    src = t.inputs[:, :5]
    assert torch.all(t.inputs[:, 5] == t.sep)
    assert torch.equal(t.targets[t.mask].view(8, 5), src.flip(1))


def test_batches_same_seed_same_order():
    x = torch.arange(100)
    a, b = batches(x, batch_size=16, seed=1), batches(x, batch_size=16, seed=1)
    first = [next(a)[0] for _ in range(12)]
    assert all(torch.equal(u, next(b)[0]) for u in first)
    epoch = torch.cat(first[:6])  # 6 batches of 16 from one permutation: no repeats
    assert len(set(epoch.tolist())) == 96
    with pytest.raises(DataError):
        next(batches(torch.empty(0), batch_size=4))


def _png(mode: str, size=(20, 10)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    Image.new(mode, size).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "CMYK", "LA", "I;16", "1"])
def test_load_image_any_mode(mode):
    x = load_image(_png(mode))
    assert x.shape == (3, 10, 20) and x.dtype == torch.float32
    if mode in ("RGBA", "LA"):  # fully transparent pixels are composited on white
        assert torch.allclose(x, torch.ones_like(x))


def test_load_image_bad_input_is_a_clear_error():
    with pytest.raises(DataError, match="empty"):
        load_image(b"")
    with pytest.raises(DataError, match="not an image"):
        load_image(b"this is a text file, not a picture")
    good = _png("RGB", (64, 64))
    with pytest.raises(DataError):
        load_image(good[: len(good) // 2])  # truncated
    with pytest.raises(DataError, match="limit"):
        load_image(b"\x00" * 2048, max_bytes=1024)


def test_load_image_rejects_decompression_bomb():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, format="PNG")  # 81 megapixels, a tiny file
    with pytest.raises(DataError, match="megapixels|not an image"):
        load_image(buf.getvalue())


def test_image_folder(tmp_path):
    from PIL import Image

    with pytest.raises(DataError, match="does not exist"):
        image_folder(tmp_path / "nope")
    with pytest.raises(DataError, match="no sub-folders"):
        image_folder(tmp_path)
    (tmp_path / "hotdog").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "hotdog" / f"{i}.png")
    with pytest.raises(DataError, match="at least two"):
        image_folder(tmp_path)
    (tmp_path / "not_hotdog").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (30, 30), dtype=np.uint8)).save(tmp_path / "not_hotdog" / f"{i}.jpg")
    (tmp_path / "not_hotdog" / "broken.png").write_bytes(b"garbage")
    d = image_folder(tmp_path, size=24)
    assert d.images.shape == (5, 3, 24, 24) and d.class_names == ["hotdog", "not_hotdog"]
    assert d.class_counts().tolist() == [3, 2] and d.meta["skipped"] == 1


def test_torchvision_missing_dataset_never_downloads(tmp_path):
    with pytest.raises(DataError, match="download"):
        torchvision_dataset("MNIST", root=tmp_path, download=False)
    assert not any(tmp_path.rglob("*.gz"))
