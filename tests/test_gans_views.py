"""The GAN page's arrays against independent computations: D's surface is D at the grid points, the warped
grid is G at the noise grid, the arrows are minus autograd's gradient of G's loss, interpolation hits its
endpoints, the class-diversity counts, and the thumbnail's budget."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from dlviz.gans import core, views
from dlviz.gans.data import grid
from dlviz.gans.images import class_diversity, interpolate
from dlviz.models import build_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("gan_mlp", g_width=16, d_width=16, pack=2).eval()


def test_decision_surface_is_sigmoid_of_d_at_packed_copies(model):
    xs, ys, heat = views.decision_surface(model, "minimax", (-1, 1, -2, 2), res=7)
    i, j = 5, 2
    x = torch.tensor([[xs[j], ys[i], xs[j], ys[i]]], dtype=torch.float32)
    with torch.no_grad():
        want = torch.sigmoid(model.D(x)).item()
    assert heat[i, j] == pytest.approx(want, abs=1e-6)
    _, _, raw = views.decision_surface(model, "wgan-gp", (-1, 1, -2, 2), res=7)
    assert raw[i, j] == pytest.approx(math.log(want / (1 - want)), abs=1e-4)     # the raw output, no sigmoid


def test_warped_grid_is_g_of_the_noise_grid_and_arrows_are_minus_the_gradient(model):
    z = torch.randn(8, 2)
    snap = views.snapshot(model, "non-saturating", 3, grid().bounds(), z, n_arrows=8, res=10)
    lines = views.noise_grid_lines("gaussian", 2)
    assert lines[0, :, 1].unique().numel() == 1 and lines[-1, :, 0].unique().numel() == 1   # straight lines in z
    with torch.no_grad():
        assert np.allclose(snap.warp[4, 7], model.G(lines[4, 7][None])[0].numpy(), atol=1e-6)
    x = model.G(z).detach().requires_grad_(True)
    loss = core.g_terms("non-saturating", model.discriminate(x)).sum()
    (g,) = torch.autograd.grad(loss, x)
    assert np.allclose(snap.arrows, -g.numpy(), atol=1e-6)
    assert snap.heat.shape == (10, 10) and snap.fake.shape == (8, 2) and snap.step == 3


def test_arrow_segments_scale_the_longest_to_the_length():
    ax, ay = views.arrow_segments(np.zeros((2, 2)), np.array([[3.0, 4.0], [0.0, 1.0]]), 1.0)
    assert (ax[1], ay[1]) == pytest.approx((0.6, 0.8)) and math.isnan(ax[2])
    assert (ax[4], ay[4]) == pytest.approx((0.0, 0.2))


def test_interpolation_hits_both_endpoints():
    torch.manual_seed(0)
    m = build_model("dcgan", g_width=8, d_width=8, noise_dim=8).eval()
    g = torch.Generator().manual_seed(4)
    z0, z1 = m.noise(2, g)
    for sph in (True, False):
        path = interpolate(m, 5, seed=4, spherical=sph)
        with torch.no_grad():
            ends = m.G(torch.stack([z0, z1]))
        assert torch.allclose(path[0], ends[0], atol=1e-5) and torch.allclose(path[-1], ends[1], atol=1e-5)


def test_class_diversity_counts_and_entropy():
    d = class_diversity(np.array([3] * 98 + [1, 2]), 10, share=0.02)
    assert d.classes_present == 1 and d.counts[3] == 98
    d = class_diversity(np.arange(1000) % 10, 10)
    assert d.classes_present == 10 and d.entropy == pytest.approx(math.log(10))


def test_thumbnail_is_small_and_fast():
    t0 = time.perf_counter()
    img = views.thumbnail()
    assert time.perf_counter() - t0 < 2.0                    # 0.5 s on an idle laptop; a loaded CI is slower
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_image_grid_figure_embeds_the_exact_pixels_as_one_png():
    """The sample grids travel as one PNG (not a JSON array per pixel); decoding it gives back every pixel."""
    import base64
    import io

    from PIL import Image

    from dlviz.gans.plots import image_grid_figure

    grid = np.random.default_rng(0).integers(0, 256, (34, 66, 3), dtype=np.uint8)
    trace = image_grid_figure(grid, "samples").data[0]
    assert trace.z is None and trace.source.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(trace.source.split(",", 1)[1]))).convert("RGB"))
    assert np.array_equal(back, grid)
