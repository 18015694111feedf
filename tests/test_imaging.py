"""dlviz.imaging: one rounding rule, grids laid out as by hand, PNG/GIF that decode to what went in."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dlviz.imaging import gif_bytes, png_bytes, quantize, tile, to_uint8, upscale


def test_rounding_rule_is_round_half_up_after_clipping():
    x = torch.tensor([-1.0, 0.0, 0.5 / 255, 0.49 / 255, 1.5 / 255, 0.5, 1.0, 2.0])
    assert quantize(x).tolist() == [0, 0, 1, 0, 2, 128, 255, 255]


@pytest.mark.parametrize("shape", [(3, 5, 7), (1, 5, 7), (4, 3, 5, 7), (2, 4, 1, 5, 7), (5, 7)])
def test_to_uint8_layout(shape):
    x = torch.rand(shape)
    out = to_uint8(x)
    lead = shape[:-3] if len(shape) >= 3 else ()
    assert out.shape == (*lead, 5, 7, 3) and out.dtype == np.uint8
    grey = x if len(shape) == 2 else x.select(-3, 0)
    np.testing.assert_array_equal(out[..., 0], np.floor(grey.numpy() * 255 + 0.5).astype(np.uint8))
    assert np.array_equal(to_uint8(x.numpy()), out)           # arrays and tensors agree


def test_to_uint8_rejects_other_channel_counts():
    with pytest.raises(ValueError, match="C = 1 or 3"):
        to_uint8(torch.rand(2, 5, 7))


def test_tile_places_each_image_by_hand():
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(5, 3, 4, 6, generator=g)
    out = tile(imgs, ncol=3, pad=2, pad_value=1.0)
    assert out.shape == (2 * 4 + 2, 3 * 6 + 2 * 2, 3)
    px = to_uint8(imgs)
    for i in range(5):
        r, c = divmod(i, 3)
        np.testing.assert_array_equal(out[r * 6:r * 6 + 4, c * 8:c * 8 + 6], px[i])
    assert (out[4:6] == 255).all()                            # the padding row
    assert (out[6:, 16:] == 255).all()                        # the empty slot of the last row is padding
    rows = tile(imgs[:4].reshape(2, 2, 3, 4, 6), pad=0)       # (R, K, ...) -> K per row
    assert rows.shape == (8, 12, 3)


def test_png_and_gif_decode_to_their_pixels():
    px = to_uint8(torch.rand(3, 4, 5))
    back = np.asarray(Image.open(io.BytesIO(png_bytes(px, scale=2))))
    np.testing.assert_array_equal(back, upscale(px, 2))
    frames = [np.full((4, 4, 3), v, np.uint8) for v in (0, 100, 200)]
    gif = Image.open(io.BytesIO(gif_bytes(frames, bounce=True)))
    assert gif.n_frames == 4                                   # 0, 100, 200, 100
    with pytest.raises(ValueError):
        gif_bytes([])
