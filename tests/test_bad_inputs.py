"""Bad inputs, as a table (issue 15): every loader behind an uploader gets every kind of bad file, and answers
with its own error type and a short message in words -- never another exception, a traceback, or the server's
temporary folder name.

Loaders (the functions the uploaders call): images (``dlviz.data.external.load_image``), checkpoints
(``dlviz.checkpoints.load_checkpoint``), zipped image folders (``dlviz.classifier.data.image_folder_from_zip``)
and 2-D point sets (``dlviz.gans.data.parse_points``). Free-text boxes are fed by ``test_free_text_boxes``.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlviz.checkpoints import CheckpointError, load_checkpoint, read_payload, shipped
from dlviz.data import DataError

ROOT = Path(__file__).resolve().parent.parent


def _png(mode="RGB", size=(16, 16)) -> bytes:
    buf = io.BytesIO()
    fmt = {"CMYK": "JPEG", "I": "TIFF", "F": "TIFF"}.get(mode, "PNG")
    Image.new(mode, size).save(buf, format=fmt)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


class _Evil:
    def __reduce__(self):
        return (exec, ("import os; os.environ['DLVIZ_PWNED'] = '1'",))


def _valid() -> dict[str, bytes]:
    ckpt = (ROOT / "checkpoints" / f"{sorted(shipped())[0]}.pt").read_bytes()
    return {"image": _png(), "checkpoint": ckpt,
            "zip": _zip({"hotdog/a.png": _png(), "hotdog/b.png": _png(), "pizza/c.png": _png(), "pizza/d.png": _png()}),
            "points": b"x,y\n0,0\n1,1\n2,0\n0,2\n1,3\n"}


LOADERS = {
    "image": (lambda raw: __import__("dlviz.data.external", fromlist=["load_image"]).load_image(raw), DataError),
    "checkpoint": (lambda raw: load_checkpoint(raw), CheckpointError),
    "zip": (lambda raw: __import__("dlviz.classifier.data", fromlist=["x"]).image_folder_from_zip(raw), DataError),
    "points": (lambda raw: __import__("dlviz.gans.data", fromlist=["x"]).parse_points(raw), DataError),
}


def _bad_files() -> list[tuple[str, str, bytes]]:
    valid = _valid()
    out = []
    for kind in LOADERS:
        out.append((kind, "zero-byte", b""))
        out.append((kind, "truncated", valid[kind][: max(1, len(valid[kind]) // 2)]))
        out.append((kind, "NUL bytes", b"\x00" * 4096))
        out.append((kind, "non-UTF-8 text", "caf\xe9,na\xefve\n".encode("latin-1") * 50))
        out.append((kind, "random bytes", np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes()))
        for other, raw in valid.items():
            if other != kind and not (kind == "zip" and other == "checkpoint"):   # a .pt *is* a zip archive
                out.append((kind, f"a valid {other} file", raw))
    # kind-specific
    bomb = io.BytesIO()
    Image.new("L", (12_000, 12_000)).save(bomb, format="PNG")
    out.append(("image", "decompression bomb", bomb.getvalue()))
    out.append(("image", "1x1 pixel", _png(size=(1, 1))))
    evil = io.BytesIO()
    torch.save({"format": "x", "payload": _Evil()}, evil)
    out.append(("checkpoint", "a pickle that runs code", pickle.dumps(_Evil())))
    out.append(("checkpoint", "torch file with code in it", evil.getvalue()))
    bare = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, bare)
    out.append(("checkpoint", "a bare state dict", bare.getvalue()))
    out.append(("zip", "no class folders", _zip({"a.png": _png(), "b.png": _png()})))
    out.append(("zip", "only non-images", _zip({"hotdog/a.txt": b"hi", "pizza/b.txt": b"ho"})))
    out.append(("zip", "path traversal only", _zip({"../../evil/a.png": _png(), "/abs/b.png": _png()})))
    out.append(("points", "text", b"apple,banana\ncherry,date\n"))
    out.append(("points", "one column", b"1\n2\n3\n4\n5\n"))
    out.append(("points", "NaN", b"0,0\n1,nan\n2,2\n3,3\n"))
    out.append(("points", "10^6 rows", b"0.5,0.5\n" * 1_000_000))
    return out


BAD = _bad_files()


def _message_ok(msg: str) -> None:
    assert msg and len(msg) < 400, f"message should be short words, got {msg!r}"
    assert "Traceback" not in msg and not re.search(r"/tmp/|dlviz-folder-|\\\\Temp\\\\", msg), msg


@pytest.mark.parametrize("kind,what,raw", BAD, ids=[f"{k}-{w}" for k, w, _ in BAD])
def test_bad_file_gets_a_clear_message(kind, what, raw):
    load, error = LOADERS[kind]
    with pytest.raises(error) as e:
        load(raw)
    _message_ok(str(e.value))
    import os

    assert "DLVIZ_PWNED" not in os.environ, "a checkpoint ran code while loading"


def test_bomb_message_names_the_limit():
    from dlviz.data.external import load_image

    bomb = next(raw for k, w, raw in BAD if w == "decompression bomb")
    with pytest.raises(DataError, match=r"too large.*megapixels"):
        load_image(bomb)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16", "I", "F", "CMYK"])
def test_odd_image_modes_decode(mode):
    from dlviz.data.external import load_image

    img = load_image(_png(mode))
    assert img.shape == (3, 16, 16) and img.dtype == torch.float32
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0


def test_non_finite_weights_are_refused(tmp_path):
    name = sorted(shipped())[0]
    payload = read_payload(ROOT / "checkpoints" / f"{name}.pt")
    sd = dict(payload["state_dict"])
    k = next(k for k, v in sd.items() if v.is_floating_point())
    sd[k] = sd[k].clone().fill_(float("nan"))
    buf = io.BytesIO()
    torch.save({**payload, "state_dict": sd}, buf)
    with pytest.raises(CheckpointError, match="not all finite"):
        load_checkpoint(buf.getvalue())


def test_a_checkpoint_of_every_other_kind_is_refused_in_words():
    """Each shipped checkpoint offered to a page that needs another architecture: the message names both."""
    names = sorted(shipped())
    archs = {n: read_payload(ROOT / "checkpoints" / f"{n}.pt")["arch"] for n in names}
    kinds = sorted(set(archs.values()))
    assert len(kinds) > 5
    for n in names:
        other = next(a for a in kinds if a != archs[n])
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(ROOT / "checkpoints" / f"{n}.pt", expected_arch=other)
        assert archs[n] in str(e.value) and other in str(e.value)
        _message_ok(str(e.value))


def test_zip_with_non_utf8_names_and_traversal_keeps_the_good_images():
    from dlviz.classifier.data import image_folder_from_zip

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls in ("hotdog", "pizza"):
            for i in range(2):
                zf.writestr(zipfile.ZipInfo(f"{cls}/{i}.png"), _png())
        zi = zipfile.ZipInfo("pizza/caf\udce9.png".encode("utf-8", "surrogateescape").decode("cp437"))
        zf.writestr(zi, _png())
        zf.writestr("../../escape/x.png", _png())
    data = image_folder_from_zip(buf.getvalue())
    assert sorted(data.class_names) == ["hotdog", "pizza"]
    assert len(data.images) >= 4


# ---------------------------------------------------------------- free-text boxes, in the page
# How to make each page show its free-text boxes: widget key -> a substring of the option to select.
TEXT_SETUP = {
    "classifier": {"clf-source": "folder"},
    "gans": {"gans-data": "my own points"},
    "vae": {"vae-data": "folder"},
    "unet": {"unet-data": "folder"},
    "rnn_hidden_states": {"rnn-pick-": "type my own"},
}
TEXTS = {"empty": "", "NUL": "ab\x00cd", "non-ASCII": "ÿ€漢字🙂 naïve", "1 MB": "def f(x):\n    return x\n" * 45_000,
         "missing path": "/no/such/folder/anywhere", "path traversal": "../../../../etc"}
TEXT_PAGES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))


def _text_page(page: str):
    from pagetest import force_options
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=240)
    at.run()
    for prefix, want in TEXT_SETUP.get(page, {}).items():
        for w in list(at.selectbox) + list(at.radio):
            if (w.key or "").startswith(prefix):
                force_options(w, next(o for o in w.options if want in o))
        at.run()
    return at


@pytest.mark.parametrize("page", TEXT_PAGES)
def test_free_text_boxes(page):
    """Every text box a page shows (after its set-up) takes empty, NUL, non-ASCII, 1 MB, a missing path and a
    path trick without an exception; a box that cannot use the text says so (st.error/warning/info)."""
    at = _text_page(page)
    boxes = [(w.key, kind) for kind in ("text_input", "text_area") for w in getattr(at, kind) if w.key]
    if not boxes:
        pytest.skip(f"{page} has no free-text box")
    for key, kind in boxes:
        for name, text in TEXTS.items():
            box = next((w for w in getattr(at, kind) if w.key == key), None)
            if box is None:
                continue
            box.set_value(text[: box.max_chars] if getattr(box, "max_chars", None) else text)
            at.run()
            exc = [e.value[:300] for e in at.exception]
            assert not exc, f"{page}: {key} = {name} -> {exc}"
