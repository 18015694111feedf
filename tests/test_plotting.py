"""dlviz.plotting: the shared training-curve figure puts accuracies on [0, 1] and leaves losses free."""

from __future__ import annotations

import numpy as np
import pytest


def test_accuracy_axes_span_zero_to_one_and_losses_do_not():
    from dlviz.plotting import metrics_figure

    hist = {"run": {"loss": ([0, 1, 2], [2.3, 2.3, 2.3]), "test_acc": ([0, 1, 2], [0.098, 0.1, 0.099])}}
    fig = metrics_figure(hist, ("loss", "test_acc"))
    axes = {a: fig.layout[a] for a in fig.layout if a.startswith("yaxis")}
    ranges = [tuple(ax.range) if ax.range else None for ax in axes.values()]
    assert (0, 1.02) in ranges, ranges
    assert None in ranges, "the loss axis is left to autorange"


def test_explosion_is_judged_against_the_lowest_early_loss():
    """Adam at a huge lr: a 10^6-fold jump on step 2 that stays. Against the mean of the first ten losses
    (which holds the jump) it never trips; against their minimum it does, right after the early window."""
    from dlviz.train import ExplosionWatch

    w = ExplosionWatch()
    losses = [2.3] + [3.9e6] * 30
    reasons = [w.update(x) for x in losses]
    first = next(i for i, r in enumerate(reasons) if r)
    assert first == w.early and "exploded" in reasons[first]
    healthy = ExplosionWatch()
    assert not any(healthy.update(2.3 * 0.99 ** i) for i in range(500))


def test_a_pinned_colour_belongs_to_its_run_whatever_its_position():
    from dlviz.plotting import PALETTE, metrics_figure

    hist = {"lr 0.1": {"loss": ([0, 1], [1.0, 0.5])}}
    fig = metrics_figure(hist, ("loss",), colors={"lr 0.1": "#123456"})
    assert {tr.line.color for tr in fig.data} == {"#123456"}
    assert {tr.line.color for tr in metrics_figure(hist, ("loss",)).data} == {PALETTE[0]}


def test_png_image_keeps_z_pixel_coordinates_and_the_exact_pixels():
    """``png_image`` replaces ``go.Image(z=...)``: the same extent (pixel (i, j) centred at x = j, y = i, so
    annotations and boxes drawn in pixel coordinates stay put) and, decoded, the same pixels, upscaled by an
    integer factor with nearest neighbour (no blur)."""
    import base64
    import io

    from PIL import Image

    from dlviz.plotting import png_image

    rng = np.random.default_rng(0)
    for h, w in [(4, 6), (28, 28), (300, 200)]:
        px = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        tr = png_image(px)
        s = round(1 / tr.dx)
        assert s == max(1, -(-256 // max(h, w))) and tr.dx == tr.dy == 1 / s
        assert tr.x0 - tr.dx / 2 == pytest.approx(-0.5) and tr.y0 - tr.dy / 2 == pytest.approx(-0.5)
        assert tr.z is None and tr.source.startswith("data:image/png;base64,")
        big = np.asarray(Image.open(io.BytesIO(base64.b64decode(tr.source.split(",", 1)[1]))).convert("RGB"))
        assert big.shape == (h * s, w * s, 3)
        assert tr.x0 + (w * s - 1) * tr.dx + tr.dx / 2 == pytest.approx(w - 0.5)
        np.testing.assert_array_equal(big[::s, ::s], px)                     # every block is its pixel
        np.testing.assert_array_equal(big[s - 1::s, s - 1::s], px)
