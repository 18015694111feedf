"""Equivariance: the exact symmetries are exact (circular conv and shifts, p4 and quarter turns), the
broken ones are measurably broken (stride, zero padding, MLP), and the metrics agree with brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlviz.equivariance.core import (
    Transform,
    accuracy_under,
    augment,
    consistency,
    digits_canvas,
    equivariance_error,
    output_sweep,
    random_shifts,
    rotate,
    shift,
    shift_grid,
)
from dlviz.models import build_model

torch.set_num_threads(1)


def cnn(**kw):
    torch.manual_seed(kw.pop("seed", 0))
    cfg = {"channels": (4, 8, 8), "image_size": 24, **kw}
    return build_model("equi_cnn", cfg).eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 1, 24, 24, generator=torch.Generator().manual_seed(0))


def errors(model, x, t):
    return {r.name: r.error for r in equivariance_error(model, x, t)}


def test_shift_helper_against_numpy():
    x = torch.arange(30.0).reshape(1, 5, 6)
    np.testing.assert_array_equal(shift(x, 2, -1).numpy(), np.roll(x.numpy(), (2, -1), axis=(1, 2)))
    z = shift(x, 2, -1, "zeros").numpy()[0]
    ref = np.zeros((5, 6))
    ref[2:, :5] = x.numpy()[0, :3, 1:]
    np.testing.assert_array_equal(z, ref)
    assert shift(x, 9, 0, "zeros").abs().sum() == 0


@pytest.mark.parametrize("dy, dx", [(0, 1), (1, 0), (3, -5), (-7, 2), (11, 13)])
def test_circular_conv_stack_is_exactly_shift_equivariant_for_any_shift(images, dy, dx):
    m = cnn(downsample="none", dilations=(1, 2, 4))
    errs = errors(m, images, Transform("shift", dy, dx, "circular"))
    assert max(errs.values()) < 1e-5, errs           # every map, and the GAP logits (invariance)


def test_zero_padding_breaks_equivariance_at_the_border(images):
    m = cnn(downsample="none", padding_mode="zeros")
    errs = errors(m, images, Transform("shift", 2, 3, "circular"))
    assert errs["block1.conv"] > 1e-3 and errs["logits"] > 1e-3


@pytest.mark.parametrize("down", ["stride", "maxpool", "avgpool", "blurpool"])
def test_downsampling_is_exact_only_for_multiples_of_the_stride(images, down):
    m = cnn(downsample=down)
    on = {r.name: r for r in equivariance_error(m, images, Transform("shift", 4, -8))}
    off = {r.name: r for r in equivariance_error(m, images, Transform("shift", 1, 3))}
    for name, r in on.items():
        if name != "logits":                           # stride 1, 2 or 4: all divide (4, -8)
            assert r.exact_transform and r.error < 1e-5, (name, r.error)
    assert on["logits"].error < 1e-5                   # GAP after shifts the strides divide: invariant
    first_down = next(n for n, r in off.items() if r.stride == 2)
    assert not off[first_down].exact_transform
    last_map = [n for n, r in off.items() if r.kind == "map"][-1]
    assert off[first_down].error > 0.05 and off[last_map].error > 0.01, (off[first_down].error, last_map)
    # the layers before any downsampling stay exact for every shift
    assert off["block1.conv"].error < 1e-5


def test_blur_pool_aliases_less_than_max_pool():
    torch.manual_seed(1)
    x = digits_canvas("test").images[:32]
    errs = {}
    for down in ("maxpool", "blurpool"):
        ms = [cnn(downsample=down, seed=s) for s in range(3)]
        errs[down] = np.mean([errors(m, x, Transform("shift", 1, 1))["block3.relu"] for m in ms])
    assert errs["blurpool"] < 0.7 * errs["maxpool"], errs


def test_mlp_has_no_shift_symmetry(images):
    torch.manual_seed(0)
    m = build_model("equi_mlp", image_size=24).eval()
    errs = errors(m, images, Transform("shift", 0, 3))
    assert min(errs.values()) > 0.1, errs


@pytest.mark.parametrize("quarter", [1, 2, 3])
@pytest.mark.parametrize("down", ["none", "maxpool", "avgpool"])
def test_p4_group_conv_is_exact_under_quarter_turns(images, quarter, down):
    m = cnn(group="p4", downsample=down)
    res = equivariance_error(m, images, Transform("rot90", quarter=quarter))
    assert {r.kind for r in res} == {"p4 map", "vector"}
    assert max(r.error for r in res) < 1e-5, [(r.name, r.error) for r in res]
    plain = errors(cnn(downsample=down), images, Transform("rot90", quarter=quarter))
    assert plain["block1.conv"] > 0.05 and plain["block3.relu"] > 0.01


def test_p4_is_also_exactly_shift_equivariant(images):
    m = cnn(group="p4", downsample="none")
    assert max(errors(m, images, Transform("shift", 5, -2)).values()) < 1e-5


def test_flips_conjugate_rotations_in_p4_maps():
    """p4 contains no flips, so flip equivariance is not built in -- but the transform of a p4 map
    must be a valid group action: flipping twice is the identity, and flip o rot = rot^-1 o flip."""
    f = torch.randn(2, 3, 4, 6, 6)
    fl, r1 = Transform("flip"), Transform("rot90", quarter=1)
    twice = fl.on_features(fl.on_features(f)[0])[0]
    assert torch.equal(twice, f)
    lhs = fl.on_features(r1.on_features(f)[0])[0]
    rhs = Transform("rot90", quarter=3).on_features(fl.on_features(f)[0])[0]
    assert torch.equal(lhs, rhs)


def test_rotate_agrees_with_rot90_and_is_counter_clockwise():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 1, 4] = 1.0                                # top middle
    assert torch.equal(rotate(x, 90), torch.rot90(x, 1, dims=(-2, -1)))
    assert torch.nonzero(rotate(x, 90)[0, 0]).tolist() == [[4, 1]]       # -> middle left
    assert (rotate(x, 90 - 1e-3) - rotate(x, 90)).abs().max() < 1e-3


def test_consistency_matches_a_brute_force_count():
    m = cnn(downsample="maxpool", head="flatten", seed=3)
    x = digits_canvas("test").images[:40]
    s = random_shifts(40, 3, seed=5)
    same = 0
    with torch.no_grad():
        for i in range(40):
            a = m(torch.roll(x[i:i + 1], (int(s[i, 0, 0]), int(s[i, 0, 1])), dims=(-2, -1))).argmax()
            b = m(torch.roll(x[i:i + 1], (int(s[i, 1, 0]), int(s[i, 1, 1])), dims=(-2, -1))).argmax()
            same += int(a == b)
    assert consistency(m, x, 3, seed=5) == same / 40
    inv = cnn(downsample="none", dilations=(1, 2, 2))
    assert consistency(inv, x, 5) == 1.0               # exactly invariant: every pair agrees


def test_sweeps_and_grids_agree_with_single_calls():
    m = cnn(head="flatten", seed=2)
    x = digits_canvas("test").images[7]
    p = output_sweep(m, x, "shift", [-2, 0, 3])
    with torch.no_grad():
        ref = torch.softmax(m(torch.roll(x[None], 3, dims=-1)), -1)[0].numpy()
    np.testing.assert_allclose(p[2], ref, atol=1e-6)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    g = shift_grid(m, x, 2)
    assert g.shape == (5, 5, 10)
    np.testing.assert_allclose(g[2, 2], p[1], atol=1e-6)        # (0, 0) in the middle
    with torch.no_grad():
        ref2 = torch.softmax(m(torch.roll(x[None], (-1, 2), dims=(-2, -1))), -1)[0].numpy()
    np.testing.assert_allclose(g[1, 4], ref2, atol=1e-6)         # row dy = -1, column dx = +2
    r = output_sweep(m, x, "rotate", [0, 90])
    with torch.no_grad():
        ref90 = torch.softmax(m(torch.rot90(x[None], 1, dims=(-2, -1))), -1)[0].numpy()
    np.testing.assert_allclose(r[1], ref90, atol=1e-6)


def test_accuracy_under_and_augment():
    data = digits_canvas("test")
    assert data.images.shape[1:] == (1, 24, 24)
    assert torch.allclose(data.images[:, :, :4].sum(), torch.tensor(0.0))        # an empty margin
    m = cnn(seed=4)
    acc = accuracy_under(m, data.images[:50], data.labels[:50], [Transform("shift"), Transform("rot90")])
    with torch.no_grad():
        ref = float((m(data.images[:50]).argmax(1) == data.labels[:50]).float().mean())
    assert acc[0] == ref and acc.shape == (2,)
    g = torch.Generator().manual_seed(0)
    x = data.images[:8]
    y = augment(x, "rot90", 0, g)
    for i in range(8):   # every image is one of its own quarter turns
        assert any(torch.equal(y[i], torch.rot90(x[i], q, dims=(-2, -1))) for q in range(4))
    assert torch.equal(augment(x, "none", 0, g), x)
    with pytest.raises(ValueError):
        augment(x, "sideways")


def test_bad_configs_are_refused():
    with pytest.raises(ValueError):
        build_model("equi_cnn", padding_mode="reflect")
    with pytest.raises(ValueError):
        build_model("equi_cnn", image_size=26, channels=(4, 4, 4))           # 26 is not divisible by 4
    with pytest.raises(ValueError):
        Transform("shear")
