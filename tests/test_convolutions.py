"""The Convolutions page's numbers: output size formula vs torch, and conv vs an explicit loop."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from dlviz.convolutions import core as conv


@pytest.mark.parametrize("n, k, s, p, d", list(itertools.product([7, 16, 33], [1, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2])))
def test_output_size_matches_torch(n, k, s, p, d):
    expected = conv.output_size(n, k, s, p, d)
    if expected == 0:
        with pytest.raises(ValueError):
            conv.convolve(torch.rand(1, n, n), np.ones((k, k)), s, p, d)
        return
    res = conv.convolve(torch.rand(1, n, n), np.ones((k, k)), s, p, d)
    assert res.output.shape[1:] == (expected, expected)
    assert res.formula_h.endswith(f"= {expected}")


def test_convolve_equals_explicit_cross_correlation():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 9, 11, generator=g)
    ker = torch.randn(3, 3, generator=g).numpy()
    s, p, d = 2, 1, 2
    out = conv.convolve(img, ker, s, p, d).output[0].numpy()
    x = np.pad(img[0].numpy(), p)
    ref = np.zeros_like(out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for a in range(3):
                for b in range(3):
                    ref[i, j] += ker[a, b] * x[i * s + a * d, j * s + b * d]
    assert np.allclose(out, ref, atol=1e-5)


def test_kernel_properties():
    flat = torch.full((1, 12, 12), 0.7)
    for name, k in conv.KERNELS.items():
        y = conv.convolve(flat, k, padding=0).output
        # on a constant image a kernel returns (sum of weights) x constant everywhere
        assert torch.allclose(y, torch.full_like(y, 0.7 * float(k.sum())), atol=1e-5), name
    assert conv.KERNELS["Gaussian blur 5x5"].sum() == pytest.approx(1.0)


def test_per_channel_mode_and_gray():
    rgb = torch.rand(3, 10, 10)
    y = conv.convolve(rgb, conv.KERNELS["identity"], padding=1, mode="per channel").output
    assert torch.allclose(y, rgb, atol=1e-6)
    g = conv.convolve(rgb, conv.KERNELS["identity"], padding=1, mode="gray").output
    assert torch.allclose(g[0], 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2], atol=1e-6)


def test_circular_padding_wraps():
    x = torch.zeros(1, 5, 5)
    x[0, 0, 0] = 1.0
    k = np.zeros((3, 3))
    k[0, 0] = 1.0  # picks the up-left neighbour
    y = conv.convolve(x, k, padding=1, padding_mode="circular").output[0]
    assert y[1, 1] == 1.0 and float(y.sum()) == 1.0
