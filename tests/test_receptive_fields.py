"""Receptive fields: the table against hand-derived closed forms and a brute-force probe; the
effective receptive field against the exact n-fold box convolution and autograd against finite
differences."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from dlviz.receptive_fields.effective import (
    erf_map,
    erf_vs_depth,
    mass_radius,
    mass_size,
    mass_window,
    plain_stack,
)
from dlviz.receptive_fields.core import LayerSpec, build_stack, probe, receptive_field, torchvision_model

torch.set_num_threads(1)


def closed_form(specs, n):
    """r = 1 + sum (k_l - 1) d_l prod_{i<l} s_i; j = prod s; start = -sum p_l prod_{i<l} s_i; and the
    output size floor((n + 2p - d(k - 1) - 1) / s) + 1 -- written out independently of the library."""
    r, j, start = 1, 1, 0
    for sp in specs:
        r += (sp.kernel - 1) * sp.dilation * j
        start -= sp.padding * j
        j *= sp.stride
        n = (n + 2 * sp.padding - sp.dilation * (sp.kernel - 1) - 1) // sp.stride + 1
    return r, j, start, n


def random_stack(rng: random.Random, n_layers: int, dilation: bool = True) -> list[LayerSpec]:
    specs = []
    for _ in range(n_layers):
        kind = rng.choice(["conv", "conv", "maxpool", "avgpool"])
        k = rng.choice([1, 2, 3, 5]) if kind != "conv" else rng.choice([1, 3, 5, 7])
        s = rng.choice([1, 1, 2, 3])
        p = rng.randint(0, k // 2)
        d = rng.choice([1, 2, 3]) if dilation and kind != "avgpool" else 1
        specs.append(LayerSpec(kind, k, s, p, d))
    return specs


@pytest.mark.parametrize("seed", range(12))
def test_plain_stack_matches_closed_form(seed):
    rng = random.Random(seed)
    n = 200
    specs = random_stack(rng, rng.randint(1, 6))
    while closed_form(specs, n)[3] < 1:            # redraw stacks that shrink the input to nothing
        specs = random_stack(rng, rng.randint(1, 6))
    rows = receptive_field(build_stack(specs), n)
    r, j, start, out = closed_form(specs, n)
    last = rows[-1]
    assert last.rf == (r, r) and last.jump == (j, j) and last.start == (start, start)
    assert last.size == (out, out) and last.padding == (-start, -start)
    assert not last.merged and not last.approx
    # every prefix too
    layer_rows = [row for row in rows if not row.name.startswith("relu") and row.name != "input"]
    for i, row in enumerate(layer_rows, 1):
        assert row.rf[0] == closed_form(specs[:i], n)[0]


def test_rectangular_kernels_and_inputs_are_per_axis():
    m = nn.Sequential(nn.Conv2d(1, 2, (3, 5), stride=(1, 2), padding=(1, 0)), nn.MaxPool2d((2, 3)))
    row = receptive_field(m, (20, 31))[-1]
    # rows: conv 3 then pool 2 with jump 1 -> 4; cols: conv 5 (jump 1 -> 2) then pool 3 -> 5 + 2 * 2 = 9
    assert row.rf == (4, 9) and row.jump == (2, 6) and row.start == (-1, 0)
    assert row.size == (10, 4)


@pytest.mark.parametrize("specs", [
    [LayerSpec("conv", 3, 1, 1), LayerSpec("maxpool", 2, 2), LayerSpec("conv", 3, 1, 1), LayerSpec("avgpool", 3, 2, 1)],
    [LayerSpec("conv", 5, 2, 2), LayerSpec("conv", 3, 1, 0), LayerSpec("maxpool", 3, 2, 1)],
    [LayerSpec("conv", 3, 1, 1, 2), LayerSpec("maxpool", 2, 2), LayerSpec("conv", 3, 2, 1, 2)],
])
def test_brute_force_probe_agrees_with_theory(specs):
    n = 28
    model = build_stack(specs)
    last = receptive_field(model, n)[-1]
    affected = probe(model, n).reshape(n, n, *last.size)       # (H, W, H', W')
    holes = any(sp.dilation > 1 or sp.stride > sp.kernel for sp in specs)
    for i in range(last.size[0]):
        for j in range(last.size[1]):
            mask = affected[:, :, i, j]
            ii, jj = torch.nonzero(mask, as_tuple=True)
            t, lft, b, r = last.clipped_region(i, j, (n, n))
            inside = ii.min() >= t and ii.max() <= b and jj.min() >= lft and jj.max() <= r
            assert inside, f"unit {(i, j)} is moved by a pixel outside its theoretical field"
            if last.region(i, j) == (t, lft, b, r) or not holes:   # fully inside the image
                box = (int(ii.min()), int(jj.min()), int(ii.max()), int(jj.max()))
                assert box == (t, lft, b, r)
            if not holes:                                             # a solid box, no gaps
                assert int(mask.sum()) == (b - t + 1) * (r - lft + 1)


class TwoPath(nn.Module):
    """A residual block whose shortcut is a strided 1x1 conv, then an inception-like concat."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 3, 1, 1))
        self.short = nn.Conv2d(1, 2, 1, 2, 0)
        self.wide = nn.Conv2d(2, 2, 5, 1, 2)
        self.narrow = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        y = torch.relu(self.body(x) + self.short(x))
        return torch.cat([self.wide(y), self.narrow(y)], 1)


def test_branches_take_the_largest_path_and_say_so():
    m = TwoPath()
    rows = {r.name: r for r in receptive_field(m, 32)}
    assert rows["short"].rf == (1, 1) and rows["body"].rf == (7, 7) and not rows["body"].merged
    assert rows["wide"].merged and rows["wide"].rf == (7 + 4 * 2,) * 2
    assert rows["narrow"].rf == (7, 7) and rows["narrow"].merged
    # the model's own output (the concat) is the union: the wide path
    last = receptive_field(m, 32)[-1]
    assert last.name == "narrow"      # the concat itself is not a module; probe the model output
    affected = probe(m, 32).reshape(32, 32, 16, 16)
    for i, j in [(0, 0), (7, 8), (15, 15)]:
        ii, jj = torch.nonzero(affected[:, :, i, j], as_tuple=True)
        t, lft, b, r = rows["wide"].clipped_region(i, j, (32, 32))
        assert (int(ii.min()), int(jj.min()), int(ii.max()), int(jj.max())) == (t, lft, b, r)


def _conv_pool_chain(layers, n=224):
    """Closed-form receptive field of a chain given as (kernel, stride, padding) tuples."""
    r, j, start = 1, 1, 0
    for k, s, p in layers:
        r, start, j = r + (k - 1) * j, start - p * j, j * s
    return r, j, start


def test_alexnet_and_vgg16_by_hand():
    alex = [(11, 4, 2), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]
    rows = {r.name: r for r in receptive_field(torchvision_model("alexnet"), 224)}
    assert rows["features.0"].rf[0] == 11
    assert (rows["features.12"].rf[0], rows["features.12"].jump[0], rows["features.12"].start[0]) == \
        _conv_pool_chain(alex)
    assert rows["features.12"].rf[0] == 195 and rows["features.12"].size == (6, 6)
    vgg = []
    for n_convs in (2, 2, 3, 3, 3):
        vgg += [(3, 1, 1)] * n_convs + [(2, 2, 0)]
    rows = {r.name: r for r in receptive_field(torchvision_model("vgg16"), 224)}
    assert rows["features.28"].rf[0] == _conv_pool_chain(vgg[:-1])[0] == 196        # conv5_3
    assert rows["features.30"].rf[0] == _conv_pool_chain(vgg)[0] == 212             # pool5
    assert rows["classifier.6"].is_global


def test_resnets_by_hand():
    stem = [(7, 2, 3), (3, 2, 1)]
    # ResNet-18: two 3x3 convs per basic block, the first conv of layers 2-4 has stride 2
    r18 = stem + [(3, 1, 1)] * 4
    for _ in range(3):
        r18 += [(3, 2, 1)] + [(3, 1, 1)] * 3
    rows = {r.name: r for r in receptive_field(torchvision_model("resnet18"), 224)}
    assert rows["layer1"].rf[0] == _conv_pool_chain(stem + [(3, 1, 1)] * 4)[0] == 43
    assert (rows["layer4"].rf[0], rows["layer4"].jump[0]) == _conv_pool_chain(r18)[:2] == (435, 32)
    assert rows["layer4"].merged and not rows["maxpool"].merged and "largest path" in rows["layer1.0"].note
    # ResNet-50 (v1.5): bottlenecks 1x1 / 3x3 (stride here) / 1x1; blocks 3, 4, 6, 3
    r50 = list(stem)
    for stage, blocks in enumerate((3, 4, 6, 3)):
        r50 += [(3, 1 if stage == 0 else 2, 1)] + [(3, 1, 1)] * (blocks - 1)
    rows = {r.name: r for r in receptive_field(torchvision_model("resnet50"), 224)}
    assert (rows["layer4"].rf[0], rows["layer4"].jump[0]) == _conv_pool_chain(r50)[:2] == (427, 32)
    assert rows["layer4"].size == (7, 7)
    assert rows["fc"].is_global and rows["avgpool"].rf[0] == 427 + 6 * 32


def test_googlenet_and_mobilenet_by_hand():
    rows = {r.name: r for r in receptive_field(torchvision_model("googlenet"), 224)}
    before = _conv_pool_chain([(7, 2, 3), (3, 2, 0), (1, 1, 0), (3, 1, 1), (3, 2, 0)])
    assert rows["maxpool2"].rf[0] == before[0] == 27
    # inception 3a: branches 1x1 (27), 1x1-3x3 (27 + 2*8), 1x1-3x3 (torchvision's "5x5"), pool3-1x1
    assert rows["inception3a"].rf[0] == 27 + 2 * 8 and rows["inception3a"].merged
    assert rows["inception3a.branch1"].rf[0] == 27
    rows = {r.name: r for r in receptive_field(torchvision_model("mobilenet_v2"), 224)}
    assert rows["features.1"].rf[0] == 3 + 2 * 2 and not rows["features.1"].merged    # no shortcut
    assert rows["features.2"].rf[0] == 11 and rows["features.2"].jump[0] == 4
    assert rows["features.3"].rf[0] == 11 + 2 * 4 and rows["features.3"].merged      # shortcut


def test_layer_argument_and_errors():
    m = torchvision_model("resnet18")
    upto = receptive_field(m, 224, "layer2")
    assert upto[-1].name == "layer2" and upto[-1].rf[0] == 99
    assert receptive_field(m, 224, m.layer2)[-1].name == "layer2"
    with pytest.raises(KeyError, match="did you mean"):
        receptive_field(m, 224, "layer9")
    with pytest.raises(ValueError):
        receptive_field(m, (1, 2, 3, 4))
    with pytest.raises(ValueError):
        build_stack([LayerSpec("conv", 0)])


def test_model_is_left_alone_and_app_models_work():
    from dlviz.models import build_model

    m = build_model("small_cnn", in_channels=1, image_size=16, channels=(8, 16))
    m.train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    rows = {r.name: r for r in receptive_field(m, 16)}
    assert m.training and all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert rows["blocks.0.0"].rf[0] == 3 and rows["blocks.0"].rf[0] == 4
    assert rows["blocks.1"].rf[0] == 4 + 2 * 2 + 2 and rows["blocks.1"].jump[0] == 4
    assert rows["head"].is_global


def test_circular_padding_is_flagged_as_approximate():
    m = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"), nn.Conv2d(1, 1, 3, padding=1))
    rows = receptive_field(m, 10)
    assert rows[-1].rf == (5, 5) and rows[-1].start == (-2, -2) and rows[1].approx


# ------------------------------------------------------------------------ effective receptive field
def _trinomial(n: int) -> np.ndarray:
    c = np.array([1.0])
    for _ in range(n):
        c = np.convolve(c, [1.0, 1.0, 1.0])
    return c / 3.0 ** n


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_erf_of_an_averaging_stack_is_the_nfold_box(depth):
    m = plain_stack(depth, 3, channels=1, activation="none", init="uniform")
    size = 2 * depth + 7
    x = torch.rand(3, 1, size, size)
    erf = erf_map(m, x, f"conv{depth}")
    c = size // 2
    expected = np.zeros((size, size))
    t = _trinomial(depth)
    expected[c - depth:c + depth + 1, c - depth:c + depth + 1] = np.outer(t, t)
    assert erf.unit == (c, c)
    np.testing.assert_allclose(erf.grad, expected, atol=1e-7)
    assert erf.row.rf == (2 * depth + 1,) * 2


def test_erf_gradient_matches_finite_differences_and_stays_in_the_box():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.Conv2d(3, 2, 3, padding=1, stride=2)).double()
    x = torch.randn(1, 1, 9, 9, dtype=torch.float64)
    erf = erf_map(m, x, "2", unit=(2, 2))
    eps = 1e-6
    fd = np.zeros((9, 9))
    with torch.no_grad():
        for i in range(9):
            for j in range(9):
                xp, xm = x.clone(), x.clone()
                xp[0, 0, i, j] += eps
                xm[0, 0, i, j] -= eps
                fd[i, j] = abs(float((m(xp)[0, :, 2, 2].sum() - m(xm)[0, :, 2, 2].sum()) / (2 * eps)))
    np.testing.assert_allclose(erf.grad, fd, atol=1e-6)
    t, lft, b, r = erf.row.clipped_region(2, 2, (9, 9))
    outside = erf.grad.copy()
    outside[t:b + 1, lft:r + 1] = 0
    assert (outside == 0).all() and erf.grad[t:b + 1, lft:r + 1].sum() > 0


def test_mass_size_and_radius():
    g = np.zeros((11, 11))
    g[5, 5] = 1.0
    assert mass_size(g, (5, 5)) == 1 and mass_radius(g, (5, 5)) == 0.0
    g[3:8, 3:8] = 1.0                     # a 5x5 box: 95 % needs the whole box
    assert mass_size(g, (5, 5)) == 5
    assert mass_size(g, (5, 5), fraction=9 / 25) == 3
    assert math.isclose(mass_radius(g, (5, 5), 1.0), math.hypot(2, 2))
    g = np.zeros((10, 10))
    g[3:7, 3:7] = 1.0                     # a 4x4 box centred between pixels: an even window, exactly it
    assert mass_window(g, (4.5, 4.5)) == (3, 3, 6, 6) and mass_size(g, (4.5, 4.5)) == 4


def test_erf_grows_like_sqrt_depth_while_theory_grows_linearly():
    curve = erf_vs_depth([4, 16], init="uniform", activation="none", channels=1, n_images=1)
    assert curve.theoretical == [9, 33]
    # a random walk of 16 vs 4 steps: the spread doubles (sqrt 4), the theoretical box nearly quadruples
    ratio = curve.effective[1] / curve.effective[0]
    assert 1.6 <= ratio <= 2.4, curve
    assert curve.effective[1] < curve.theoretical[1] / 2
    rnd = erf_vs_depth([2, 8], init="random", channels=4, n_images=2)
    assert all(e <= t for e, t in zip(rnd.effective, rnd.theoretical))


@pytest.mark.parametrize("kernel", [2, 3, 4])
def test_erf_vs_depth_centres_on_the_units_field_for_any_kernel(kernel):
    """Issue 15: with an even kernel the field of a deeper unit is shifted by half a pixel per layer; a window
    centred on the image reported an ERF larger than the theoretical field. For an averaging linear stack the
    gradient fills exactly the field, so the window holding all of it *is* the field."""
    depths = [1, 2, 3, 5]
    full = erf_vs_depth(depths, kernel=kernel, init="uniform", activation="none", channels=1, n_images=1,
                        fraction=1.0)
    assert full.theoretical == [d * (kernel - 1) + 1 for d in depths]
    assert full.effective == full.theoretical
    rnd = erf_vs_depth(depths, kernel=kernel, init="random", channels=4, n_images=2)
    assert all(e <= t for e, t in zip(rnd.effective, rnd.theoretical)), rnd
