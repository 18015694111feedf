"""The equivariance page's landing-page card."""

from __future__ import annotations

import numpy as np
import torch

from dlviz.imaging import to_uint8

GLYPH_RGB = (76, 120, 168)      # the glyph's colour
SEPARATOR = 235                 # the grey stripes between the tiles


def thumbnail() -> np.ndarray:
    """Landing-page card: an asymmetric glyph "F", shifted, turned by 90 degrees and flipped."""
    f = torch.zeros(20, 20)
    f[3:17, 5:8] = 1.0              # stem
    f[3:6, 5:15] = 1.0              # top bar
    f[9:12, 5:12] = 1.0             # middle bar
    tiles = [f, torch.roll(f, (2, 3), dims=(0, 1)), torch.rot90(f, 1), torch.flip(f, dims=(1,))]
    gap = torch.zeros(20, 3)
    row = torch.cat([torch.cat([t, gap], 1) for t in tiles], 1)[:, :-3]
    img = torch.ones(3, *row.shape)
    img[:, row > 0] = torch.tensor(GLYPH_RGB, dtype=torch.float32)[:, None] / 255
    img[:, :, torch.arange(row.shape[1]) % 23 >= 20] = SEPARATOR / 255
    return to_uint8(img)


def invariance_snippet(ckpt: str, source: str, index: int, name: str, transform) -> str:
    """Notebook lines (dlviz only) that recompute the logits' invariance error of shipped model ``ckpt`` for the
    page's input (``source`` "digit" / "food shape" / "photo" / "upload", with ``index`` or the photo/file
    ``name``) under ``transform`` (an :class:`~dlviz.equivariance.core.Transform`)."""
    import dataclasses

    from dlviz.equivariance.training import CANVAS

    grey = "(rgb * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)"
    if source == "digit":
        load = f"x = eq.digits_canvas('test', {CANVAS}).images[{index}]"
    elif source == "food shape":
        load = (f"from dlviz.data import food_shapes\nrgb = food_shapes(60, seed=7, size={CANVAS}).images[{index}]\n"
                f"x = {grey}")
    elif source == "photo":
        load = f"from dlviz.data import photo\nrgb = photo({name!r}, {CANVAS})\nx = {grey}"
    else:
        load = ("from dlviz.data.external import load_image\nfrom dlviz.data.photos import square\n"
                f"rgb = square(load_image(open({name!r}, 'rb').read()), {CANVAS})   # your image file\nx = {grey}")
    args = ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(transform).items())
    return ("import torch\nfrom dlviz.checkpoints import load_shipped\nfrom dlviz.equivariance import core as eq\n"
            f"model, card = load_shipped({ckpt!r})\n{load}\n"
            f"errors = eq.equivariance_error(model, x, eq.Transform({args}))\n"
            "result = errors[-1].error          # the logits: an invariance error\n"
            'print(f"{result:.1e}")')
