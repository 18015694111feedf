"""Convolution, the operation: kernels, stride, padding, dilation and the output-size formula.

For an input of size n, kernel k, stride s, padding p and dilation d the output has
``floor((n + 2p - d(k - 1) - 1) / s) + 1`` positions (Dumoulin & Visin, 2016, "A guide to convolution
arithmetic", relationship 15). :func:`convolve` computes a feature map with ``torch.nn.functional.conv2d``
(which, like every deep-learning library, computes a cross-correlation: the kernel is not flipped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

_G3 = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
_G5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0
KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=float),
    "edge (Laplacian)": np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=float),
    "edge (all directions)": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=float),
    "Sobel x (vertical edges)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "Sobel y (horizontal edges)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
    "box blur 3x3": np.full((3, 3), 1 / 9.0),
    "Gaussian blur 3x3": _G3,
    "box blur 5x5": np.full((5, 5), 1 / 25.0),
    "Gaussian blur 5x5": _G5,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float),
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=float),
}


def output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Number of output positions along one axis (0 when the kernel does not fit)."""
    span = dilation * (k - 1) + 1
    if n + 2 * padding < span:
        return 0
    return (n + 2 * padding - span) // stride + 1


def output_size_formula(n: int, k: int, stride: int, padding: int, dilation: int) -> str:
    """The formula with the numbers filled in, e.g. ``⌊(64 + 2·1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 64``."""
    out = output_size(n, k, stride, padding, dilation)
    return (f"⌊({n} + 2·{padding} − {dilation}·({k} − 1) − 1) / {stride}⌋ + 1 = {out}")


def to_gray(image: torch.Tensor) -> torch.Tensor:
    """``(3, H, W)`` -> ``(1, H, W)`` luminance (ITU-R BT.601 weights); greyscale passes through."""
    if image.shape[0] == 1:
        return image
    w = torch.tensor([0.299, 0.587, 0.114], dtype=image.dtype).view(3, 1, 1)
    return (image[:3] * w).sum(0, keepdim=True)


@dataclass
class ConvResult:
    input: torch.Tensor      # (C, H, W) what the kernel saw (greyscale or colour)
    kernel: torch.Tensor     # (k, k)
    output: torch.Tensor     # (C, H', W') one map per input channel (per-channel mode) or (1, H', W')
    stride: int
    padding: int
    dilation: int
    formula_h: str
    formula_w: str


def convolve(image: torch.Tensor, kernel: torch.Tensor | np.ndarray, stride: int = 1, padding: int = 0,
             dilation: int = 1, mode: str = "gray", padding_mode: str = "zeros") -> ConvResult:
    """Slide one 2-D ``kernel`` over ``image`` ``(C, H, W)``.

    mode ``"gray"`` convolves the luminance; ``"per channel"`` applies the kernel to each colour
    channel separately (a depthwise convolution). padding_mode: ``zeros``, ``reflect``, ``replicate``
    or ``circular``.
    """
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float32))
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError("the kernel must be a square 2-D array")
    x = to_gray(image) if mode == "gray" else image
    c, h, w = x.shape
    if padding > 0 and padding_mode != "zeros":
        if padding_mode == "reflect" and padding >= min(h, w):
            raise ValueError("reflect padding must be smaller than the image")
        x_in = F.pad(x[None], (padding,) * 4, mode=padding_mode)
        pad_arg = 0
    else:
        x_in, pad_arg = x[None], padding
    weight = k.expand(c, 1, *k.shape).contiguous()
    fh = output_size(h, k.shape[0], stride, padding, dilation)
    fw = output_size(w, k.shape[0], stride, padding, dilation)
    if fh == 0 or fw == 0:
        raise ValueError("the (dilated) kernel is larger than the padded image: no output positions")
    y = F.conv2d(x_in, weight, stride=stride, padding=pad_arg, dilation=dilation, groups=c)[0]
    return ConvResult(x, k, y, stride, padding, dilation,
                      output_size_formula(h, k.shape[0], stride, padding, dilation),
                      output_size_formula(w, k.shape[0], stride, padding, dilation))


def first_layer_filters(model: torch.nn.Module) -> torch.Tensor:
    """The first Conv2d's weights ``(C_out, C_in, k, k)``."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            return m.weight.detach().cpu().clone()
    raise ValueError("the model has no Conv2d layer")


def macs(out_h: int, out_w: int, k: int, channels: int = 1) -> int:
    """Multiply-adds of one k x k depthwise filter over ``channels`` maps of ``out_h x out_w``."""
    return out_h * out_w * k * k * channels
