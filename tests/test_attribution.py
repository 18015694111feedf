"""Attribution maps checked where theory gives exact answers (linear models, a GAP + linear head),
Integrated Gradients' completeness, the rank correlation, and the cascading randomisation."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlviz.attribution import core as A


class Linear(nn.Module):
    """f(x) = W flatten(x) + b on (B, 3, 6, 6) images."""

    def __init__(self, k: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 6 * 6, k)

    def forward(self, x):
        return self.fc(x.flatten(1))


class TinyCam(nn.Module):
    """conv + ReLU at full resolution, global average pool, linear: Grad-CAM has a closed form."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(5, 3)
        self.cam_layer = self.conv

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(2))


def test_captum_is_imported_lazily() -> None:
    import importlib

    sys.modules.pop("captum", None)
    sys.modules.pop("captum.attr", None)
    importlib.reload(A)
    assert "captum" not in sys.modules


def test_linear_model_saliency_ig_and_occlusion_are_exact(x) -> None:
    m = Linear().eval()
    t = torch.tensor([1, 3])
    w = m.fc.weight.detach()[t].view(2, 3, 6, 6)
    torch.testing.assert_close(A.attribute(m, x, t, "Saliency"), w.abs())
    torch.testing.assert_close(A.attribute(m, x, t, "Integrated Gradients"), x * w, rtol=1e-5, atol=1e-6)
    occ = A.attribute(m, x, t, "Occlusion", A.Params(occ_window=1, occ_stride=1))
    torch.testing.assert_close(occ, (x * w).sum(1, keepdim=True).expand_as(x), rtol=1e-5, atol=1e-6)
    # SmoothGrad of a linear model: the gradient is the same everywhere, noise or not
    torch.testing.assert_close(A.attribute(m, x, t, "SmoothGrad"), w.abs())


def test_smoothgrad_without_noise_is_saliency_and_is_seeded() -> None:
    m = TinyCam().eval()
    xx = torch.rand(1, 3, 6, 6)
    torch.testing.assert_close(A.attribute(m, xx, 0, "SmoothGrad", A.Params(sg_noise=0.0)), A.attribute(m, xx, 0, "Saliency"))
    a1 = A.attribute(m, xx, 0, "SmoothGrad", seed=1)
    assert torch.equal(a1, A.attribute(m, xx, 0, "SmoothGrad", seed=1))
    assert not torch.equal(a1, A.attribute(m, xx, 0, "SmoothGrad", seed=2))


def test_grad_cam_closed_form_for_gap_and_linear_head(x) -> None:
    m = TinyCam().eval()
    cam = A.attribute(m, x, 2, "Grad-CAM")
    feats = m.conv(x).detach()                                    # (B, 5, H, W)
    w = m.fc.weight.detach()[2]                                   # dlogit/dA_k(i, j) = w_k / (H W)
    expected = F.relu((w.view(1, 5, 1, 1) * feats).sum(1, keepdim=True) / 36).expand_as(x)
    torch.testing.assert_close(cam, expected, rtol=1e-5, atol=1e-7)


def test_cam_layer_fallbacks() -> None:
    from dlviz.models import build_model

    cnn = build_model("small_cnn", in_channels=3, image_size=32, channels=(4, 8))
    assert A.cam_layer(cnn) is cnn.blocks[-1]
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3), nn.Flatten())
    assert A.cam_layer(seq) is seq[2]
    with pytest.raises(ValueError):
        A.cam_layer(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)))


def test_ig_completeness_exact_for_linear_and_converging_for_a_cnn() -> None:
    from dlviz.checkpoints import load_shipped
    from dlviz.data import food_shapes

    m = Linear().eval()
    xx = torch.rand(1, 3, 6, 6)
    c = A.ig_completeness(m, xx, 2, steps=7)
    assert abs(c.gap) < 1e-5
    with torch.no_grad():
        assert c.difference == pytest.approx(float(m(xx)[0, 2] - m(torch.zeros_like(xx))[0, 2]), abs=1e-6)

    cnn, _ = load_shipped("food_cnn")
    img = food_shapes(1, seed=5).images
    coarse = A.ig_completeness(cnn, img, 0, steps=4, method="riemann_right")
    fine = A.ig_completeness(cnn, img, 0, steps=200, method="riemann_right")
    assert fine.relative_gap < coarse.relative_gap and fine.relative_gap < 0.05


@pytest.mark.parametrize("kind", A.BASELINES)
def test_baselines_have_the_input_shape_and_range(kind: str, x) -> None:
    b = A.baseline_for(x, kind)
    assert b.shape == x.shape and float(b.min()) >= 0 and float(b.max()) <= 1
    if kind == "mean colour":
        torch.testing.assert_close(b.mean((2, 3)), x.mean((2, 3)))


def test_spearman_against_scipy_with_ties() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 200).astype(float)                 # many ties
    b = a + rng.normal(0, 2, 200)
    assert A.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert A.spearman(a, np.exp(a)) == pytest.approx(1.0)
    assert A.spearman(a, -a) == pytest.approx(-1.0)
    assert A.spearman(np.ones(5), np.arange(5.0)) == 0.0 and A.spearman(np.zeros(5), np.ones(5)) == 1.0


def test_cascading_randomisation_structure_and_the_model_is_untouched() -> None:
    from dlviz.models import build_model

    torch.manual_seed(0)
    m = build_model("small_cnn", in_channels=3, image_size=16, channels=(4, 8), batchnorm=True, head="gap").eval()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    layers = A.randomisable_layers(m)
    assert [n for n, _ in layers] == ["blocks.0.0", "blocks.1.0", "head.1"]
    assert [len(mods) for _, mods in layers] == [2, 2, 1]            # conv + its BatchNorm; the linear head
    xx = torch.rand(2, 3, 16, 16)
    res = A.cascading_randomisation(m, xx, torch.tensor([0, 1]), A.Params(ig_steps=8, sg_samples=4, occ_window=4,
                                                                            occ_stride=4))
    assert res.layers == ["head.1", "blocks.1.0", "blocks.0.0"]
    for meth in A.METHODS:
        assert res.correlation[meth].shape == (4, 2) and res.maps[meth].shape == (4, 2, 16, 16)
        np.testing.assert_allclose(res.correlation[meth][0], 1.0)
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_saliency_of_a_randomised_linear_model_decorrelates() -> None:
    m = Linear().eval()
    xx = torch.rand(3, 3, 6, 6)
    res = A.cascading_randomisation(m, xx, 0, methods=("Saliency",), seed=3)
    assert res.correlation["Saliency"].shape == (2, 3)
    assert abs(res.final("Saliency")) < 0.3                         # |W'| is independent of |W|
    assert A.verdict(res) == {"Saliency": True}
