"""The receptive-fields page's landing-page card."""

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
