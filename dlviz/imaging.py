"""Images as arrays: the one conversion to 8-bit pixels, image grids, PNG and GIF encoding.

Every page that shows or exports an image goes through here, so there is one rounding rule (round half
up after clipping to [0, 1]: ``floor(255 x + 0.5)``) and one grid (``torchvision.utils.make_grid``).
Images in are ``(C, H, W)`` / ``(N, C, H, W)`` tensors or arrays in [0, 1], or ``(H, W)`` greyscale;
pixels out are ``(H, W, 3)`` / ``(N, H, W, 3)`` uint8 numpy arrays (greyscale repeated over RGB).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch


def to_tensor(x) -> torch.Tensor:
    """A float32 CPU tensor of ``x`` (tensor or array), detached."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu()
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


def quantize(x) -> np.ndarray:
    """Values in [0, 1] -> uint8 with the one rounding rule, layout unchanged."""
    a = to_tensor(x).clamp(0, 1)
    return (a * 255 + 0.5).floor().to(torch.uint8).numpy()


def to_uint8(images) -> np.ndarray:
    """``(..., C, H, W)`` (C = 1 or 3) or ``(H, W)`` in [0, 1] -> ``(..., H, W, 3)`` uint8 pixels."""
    x = to_tensor(images)
    if x.ndim == 2:
        x = x[None]
    if x.shape[-3] not in (1, 3):
        raise ValueError(f"expected (..., C, H, W) with C = 1 or 3, got shape {tuple(x.shape)}")
    if x.shape[-3] == 1:
        x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    return quantize(x.movedim(-3, -1))


def tile(images, ncol: int | None = None, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Images ``(N, C, H, W)`` (or rows of them, ``(R, K, C, H, W)``) as one ``(H', W', 3)`` uint8 mosaic,
    ``ncol`` per row, ``pad`` pixels of ``pad_value`` between them (none around the edge)."""
    from torchvision.utils import make_grid

    x = to_tensor(images)
    if x.ndim == 5:
        r, k = x.shape[:2]
        x, ncol = x.reshape(r * k, *x.shape[2:]), k
    if x.ndim == 3:
        x = x[None]
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n = len(x)
    grid = make_grid(x.clamp(0, 1), nrow=min(ncol or n, n), padding=pad, pad_value=pad_value)
    if pad:
        grid = grid[:, pad:-pad, pad:-pad]
    return to_uint8(grid)


def upscale(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``(H, W, C)`` pixels (keeps small images crisp)."""
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1) if scale > 1 else pixels


def png_bytes(pixels: np.ndarray, scale: int = 1) -> bytes:
    """``(H, W, 3)`` / ``(H, W)`` uint8 pixels as PNG bytes (optionally upscaled)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(upscale(np.asarray(pixels), scale)).save(buf, format="PNG")
    return buf.getvalue()


def png_uri(pixels: np.ndarray, scale: int = 1) -> str:
    """``(H, W, 3)`` / ``(H, W)`` uint8 pixels as a ``data:image/png`` URI (for ``go.Image(source=...)``)."""
    import base64

    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels, scale)).decode()


def gif_bytes(frames: Sequence[np.ndarray] | np.ndarray, scale: int = 1, frame_ms: int = 120,
              bounce: bool = False, hold_last_ms: int = 0) -> bytes:
    """An animated, looping GIF of uint8 ``frames`` (each ``(H, W, 3)``), or of images ``(T, C, H, W)`` in
    [0, 1] (a float tensor or array, converted by :func:`to_uint8`). ``bounce`` plays forward then back so
    the loop has no jump; ``hold_last_ms`` keeps the last frame on screen longer."""
    from PIL import Image

    if len(frames) == 0:
        raise ValueError("no frames to animate")
    if isinstance(frames, torch.Tensor) or (isinstance(frames, np.ndarray) and frames.dtype != np.uint8):
        frames = to_uint8(frames)                                              # (T, H, W, 3)
    ims = [Image.fromarray(upscale(np.asarray(f), scale)) for f in frames]
    durations = [frame_ms] * len(ims)
    if bounce and len(ims) > 2:
        ims = ims + ims[-2:0:-1]
        durations = [frame_ms] * len(ims)
    if hold_last_ms:
        durations[-1] = hold_last_ms
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=durations, loop=0)
    return buf.getvalue()
