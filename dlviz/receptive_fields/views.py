"""The receptive-fields page's plumbing that is not Streamlit: the landing-page card, the stacks a student starts
from, captions that state only what was measured, and the notebook snippet."""

from __future__ import annotations

import numpy as np

from dlviz.imaging import to_uint8


def thumbnail() -> np.ndarray:
    """Landing-page card: a photo with the receptive fields of one unit after 2, 4, 6 and 8 3x3 conv
    layers of a VGG-like stack (a 2x2 max-pool after every two convs), by the closed form."""
    from PIL import Image, ImageDraw

    from dlviz.data import photo

    size = 160
    img = Image.fromarray(to_uint8(photo("astronaut", size)))
    draw = ImageDraw.Draw(img)
    r, j, start = 1, 1, 0
    colors = iter(["#ffdd00", "#ff7b00", "#ff4d6d", "#c77dff", "#4cc9f0"])
    for k, (kernel, stride, pad) in enumerate([(3, 1, 1), (3, 1, 1), (2, 2, 0)] * 4):
        r, start, j = r + (kernel - 1) * j, start - pad * j, j * stride
        if k % 3 == 2:       # after each pool: the unit whose field is centred nearest (42, 70)
            u = round((42 - start - (r - 1) / 2) / j), round((70 - start - (r - 1) / 2) / j)
            t, lft = start + u[0] * j, start + u[1] * j
            draw.rectangle([max(0, lft), max(0, t), min(size - 1, lft + r - 1), min(size - 1, t + r - 1)],
                           outline=next(colors), width=2)
    return np.asarray(img)


def _seeing_all(row, n: int, ax: int) -> int:
    """How many units along axis ``ax`` have a window covering all ``n`` input pixels."""
    return sum(1 for u in range(row.size[ax])
               if row.start[ax] + u * row.jump[ax] <= 0 and row.start[ax] + u * row.jump[ax] + row.rf[ax] - 1 >= n - 1)


def field_vs_input(row, input_hw: tuple[int, int]) -> str | None:
    """A caption for a field wider than the input, stating only what the clipped regions say: the window runs
    into the padding, the corner unit sees the part of it on the image, and some (not all) units see all of it.
    None when the field fits in the input."""
    h, w = input_hw
    if row.rf[0] <= h and row.rf[1] <= w:
        return None
    ct, cl, cb, cr = row.clipped_region(0, 0, (h, w))
    n_all = _seeing_all(row, h, 0) * _seeing_all(row, w, 1)
    n = row.size[0] * row.size[1]
    rf = f"{row.rf[0]:g} px" if row.rf[0] == row.rf[1] else f"{row.rf[0]:g} × {row.rf[1]:g} px"
    size = f"{h}-px" if h == w else f"{h}×{w}-px"
    if n_all == 0:
        who = "no unit of this layer sees the whole image"
    elif n_all == n:
        who = "its one unit sees the whole image" if n == 1 else f"all {n:,} units of this layer see the whole image"
    else:
        who = f"{n_all:,} of the {n:,} units of this layer see the whole image"
    return (f"The field ({rf}) is wider than the {size} input, so part of every unit's window lies in the padding. "
            f"A unit sees only its window clipped to the image: unit (0, 0) sees rows {ct}–{cb}, columns {cl}–{cr}; "
            f"{who}.")


# ---------------------------------------------------------------- "My own stack": where a student starts
def _conv(d: int = 1) -> dict:
    return {"kind": "conv", "kernel": 3, "stride": 1, "padding": d, "dilation": d}


_POOL = {"kind": "maxpool", "kernel": 2, "stride": 2, "padding": 0, "dilation": 1}
STACK_PRESETS: dict[str, list[dict]] = {
    # deep enough that the effective field is visibly smaller than the box (a 4-conv stack's ERF fills it)
    "deep plain: 16 × conv 3×3": [_conv()] * 16,
    "VGG-like: conv conv pool, twice, conv": [_conv(), _conv(), _POOL, _conv(), _conv(), _POOL, _conv()],
    "dilated VGG-like: every conv dilation 2": [_conv(2), _conv(2), _POOL, _conv(2), _conv(2), _POOL, _conv(2)],
    "strided: 4 × conv 3×3, stride 2": [{**_conv(), "stride": 2}] * 4,
}


def stack_table(preset: str) -> dict[str, list]:
    """The preset as the columns of the page's editable table."""
    rows = STACK_PRESETS[preset]
    return {col: [r[col] for r in rows] for col in ("kind", "kernel", "stride", "padding", "dilation")}


def stack_specs(records) -> list:
    """``LayerSpec``s from the edited table's rows (dicts or tuples with kind, kernel, stride, padding, dilation);
    a clear ``ValueError`` for a row the stack cannot use."""
    from dlviz.receptive_fields.core import LayerSpec

    specs = []
    for i, r in enumerate(records, 1):
        r = dict(r) if isinstance(r, dict) else dict(zip(("kind", "kernel", "stride", "padding", "dilation"), r))
        if r.get("kind") not in ("conv", "maxpool", "avgpool"):
            raise ValueError(f"layer {i}: kind must be conv, maxpool or avgpool")
        try:
            nums = [int(r[k]) for k in ("kernel", "stride", "padding", "dilation")]
        except (TypeError, ValueError, KeyError):
            raise ValueError(f"layer {i}: kernel, stride, padding and dilation must be whole numbers") from None
        specs.append(LayerSpec(str(r["kind"]), *nums))
    if not specs:
        raise ValueError("the stack is empty: add a layer")
    return specs


# ---------------------------------------------------------------- the brute-force check, in words
def probe_verdict(moved: list[tuple[int, int]], n_probed: int, window: tuple[int, int, int, int],
                  unit: tuple[int, int]) -> tuple[str, str]:
    """``(level, text)`` for the page's brute-force check: which probed pixels moved the unit, compared with the
    theoretical window clipped to the image (``(top, left, bottom, right)``, inclusive). ``level`` is "success"
    (exactly the window), "info" (inside the window but with holes) or "warning"."""
    t, lft, b, r = window
    area = (b - t + 1) * (r - lft + 1)
    inside = sum(1 for a, c in moved if t <= a <= b and lft <= c <= r)
    outside = len(moved) - inside
    ring = n_probed - area
    where = f"unit {unit} (rows {t}–{b}, columns {lft}–{r})"
    if not moved:
        return "warning", f"None of the {n_probed:,} probed pixels changes {where}."
    if outside:
        return "warning", (f"{outside:,} pixels outside the theoretical window of {where} change it: the table is "
                           "wrong for this layer; please report it.")
    if inside == area:
        return "success", (f"All {area:,} pixels of the window of {where} change the unit, and none of the {ring:,} "
                           "pixels of the ring around it does: exactly the theoretical field, clipped to the image.")
    return "info", (f"Only {inside:,} of the {area:,} pixels of the window of {where} change the unit: the other "
                    f"{area - inside:,} are **holes** that no path reaches (a dilated or strided kernel skips them). "
                    f"None of the {ring:,} pixels of the ring around the window changes it.")


# ---------------------------------------------------------------- notebook snippet
def snippet_body(family: str, layer: str, size: int, *, arch: str | None = None, specs=None,
                 ckpt: str | None = None) -> str:
    """Plain Python (dlviz, no streamlit) that recomputes the page's receptive field of ``layer``."""
    if family == "Classic architecture":
        model = f"rfm.torchvision_model({arch!r})"
        head = ""
    elif family == "My own stack":
        layers = ",\n    ".join(f"rfm.LayerSpec({s.kind!r}, {s.kernel}, {s.stride}, {s.padding}, {s.dilation})"
                                  for s in specs)
        head = f"specs = [\n    {layers},\n]\n"
        model = "rfm.build_stack(specs, in_channels=3, channels=8)"
    else:
        head = "from dlviz.checkpoints import load_shipped\n"
        model = f"load_shipped({ckpt!r})[0]"
    return (f"from dlviz.receptive_fields import core as rfm\n{head}"
            f"rows = rfm.receptive_field({model}, {size})\n"
            f"row = next(r for r in rows if r.name == {layer!r})\n"
            "result = row.rf\n"
            'print(f"{result[0]:g} × {result[1]:g} px")')
