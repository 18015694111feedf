"""'Try this' prompts that promise an outcome, checked (issue 15): each is opened as the student would set it --
through the URL, since every control is bound -- and the number the prompt promises is read off the page.

Prompts that need a training run are checked in the page tests (Convolutions lr 3, the receptive-field dilation
holes, the classifier's learning rates, divergence on every trainable page in test_divergence.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pagetest import errors
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
_UNITS = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


def _metrics(page: str, **params) -> dict[str, str]:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=240)
    at.query_params.update(params)
    at.run()
    assert not errors(at), errors(at)
    text = " ".join(p.value for p in at.markdown)
    for k, v in params.items():                        # the link really set what the prompt asks for
        assert k not in at.query_params or at.query_params[k] == v, (k, v)
    return {m.label: m.value for m in at.metric} | {"__text__": text}


def _num(s: str) -> float:
    """'1.81 G' -> 1.81e9, '150,529,000' -> 150529000.0, '2.46e-08' -> 2.46e-08, '7 px' -> 7."""
    m = re.search(r"(-?[\d,]*\.?\d+(?:e[-+]?\d+)?)\s*([kKMG])?", s)
    assert m, s
    return float(m.group(1).replace(",", "")) * _UNITS.get(m.group(2) or "", 1.0)


def _find(metrics: dict[str, str], label_start: str) -> str:
    return next(v for k, v in metrics.items() if k.startswith(label_start))


def test_curse_d_10000_nearest_hardly_means_anything():
    """'Set d = 10,000: the max/min distance ratio is close to 1.'"""
    assert _num(_find(_metrics("curse_of_dimensionality", **{"cod-d": "10000"}), "max / min distance")) < 1.1


def test_curse_d_20_ball_holds_less_than_a_millionth():
    """'At d = 20 the inscribed ball holds less than a millionth of the cube.'"""
    share = _num(_find(_metrics("curse_of_dimensionality", **{"cod-d": "20"}), "Inscribed ball"))
    assert 0 < share < 1e-6


def test_curse_dense_vs_conv_weights():
    """'A 224x224 colour image into 1,000 dense units: ~150 million weights. The conv layer: 28,000.'"""
    m = _metrics("curse_of_dimensionality")
    assert _num(m["Fully connected layer"]) == 224 * 224 * 3 * 1000 + 1000
    assert _num(_find(m, "3×3 conv layer")) == 3 * 3 * 3 * 1000 + 1000


def test_convolutions_dilation_3_spans_7_px():
    """'Set dilation to 3 with a 3x3 kernel: the span becomes 7 px but the kernel still has 9 weights.'"""
    assert _find(_metrics("convolutions", **{"conv-dil": "3"}), "Kernel span") == "7 px"


def test_resnet18_macs_fall_by_almost_49_at_32_px():
    """'ResNet-18 at 224 and then at 32 pixels: parameters stay put, MACs fall by almost (224/32)^2 = 49.'"""
    big = _metrics("architectures", **{"arch-model": "ResNet-18", "arch-size": "224"})
    small = _metrics("architectures", **{"arch-model": "ResNet-18", "arch-size": "32"})
    assert big["Parameters"] == small["Parameters"]
    ratio = _num(big["Multiply-adds / image"]) / _num(small["Multiply-adds / image"])
    assert 40 < ratio < 49, ratio


@pytest.mark.parametrize("dx", ["1", "3"])
def test_equivariance_circular_cnn_is_exact_and_max_pool_is_not(dx):
    """'Shift by 1 px: the circular no-downsampling CNN stays at ~1e-7 ...; the max-pool CNN jumps ...'"""
    m = _metrics("equivariance", **{"eq-dx": dx})
    assert _num(m["logits · circular pad, no downsampling"]) < 1e-6
    assert _num(m["logits · max-pool"]) > 0.1


def _page(page: str, **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=240)
    at.query_params.update(params)
    at.run()
    assert not errors(at), errors(at)
    return at


def _bars(at: AppTest, title_start: str) -> dict[str, float]:
    """A bar chart's values by bar name, read from the page's plotly figure (the number the student sees)."""
    import json

    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        title = spec.get("layout", {}).get("title", {})
        title = title.get("text", "") if isinstance(title, dict) else (title or "")
        if title.startswith(title_start):
            d = spec["data"][0]
            return dict(zip(d["x"], d["y"]))
    raise AssertionError(f"no chart titled {title_start!r}")


def test_equivariance_blur_pool_lifts_consistency_from_077_to_099():
    """'Compare max-pool with blur pool in section 4: ... lifts consistency from about 0.77 to about 0.99.'"""
    cons = _bars(_page("equivariance"), "P(same label for two random shifts")
    assert abs(cons["max-pool"] - 0.77) < 0.03, cons
    assert abs(cons["blur pool"] - 0.99) < 0.02, cons


@pytest.mark.parametrize(("dx", "exact"), [("1", True), ("8", False)])
def test_equivariance_zero_fill_breaks_the_circular_cnn_once_the_digit_leaves(dx, exact):
    """'Switch the fill to zeros and shift by 8 px: even the circular CNN is no longer exact ... (At 1-4 px only
    the empty border leaves, and it stays exact.)'"""
    err = _num(_metrics("equivariance", **{"eq-dx": dx, "eq-fill": "zeros"})["logits · circular pad, no downsampling"])
    assert (err < 1e-5) == exact, err


def test_receptive_fields_resnet50_layer4_is_427_px():
    """'Pick ResNet-50, layer layer4: the field is 427 px -- wider than the 224-px image.'"""
    m = _metrics("receptive_fields", **{"rf-arch": "ResNet-50", "rf-layer": "layer4"})
    assert m["Receptive field"].startswith("427 × 427")
    assert float(m["Share of its field on the image"].rstrip("%")) < 100


def test_ddim_eta_1_with_every_step_is_the_ddpm_panel_of_the_shipped_model():
    """'DDIM with eta = 1 and 1000 steps *is* DDPM: compare it with the DDPM panel from the same seed.' The page's
    two panels call ``generate`` with the same seed; with the shipped model they are the same samples."""
    import torch

    from dlviz.checkpoints import load_shipped
    from dlviz.ddpm.sampling import generate

    model, _ = load_shipped("ddpm_digits", expected_arch="unet")
    T = model.config.num_timesteps
    kw = dict(labels=torch.tensor([3]), guidance=2.0, seed=11)
    with torch.no_grad():
        a = generate(model, sampler="ddpm", **kw).samples
        b = generate(model, sampler="ddim", num_steps=T, eta=1.0, **kw).samples
        c = generate(model, sampler="ddim", num_steps=T, eta=0.0, **kw).samples
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    assert not torch.allclose(a, c, atol=1e-2)                     # eta = 0 with the same steps is another sampler


def test_googlenet_is_deeper_than_vgg16_with_20x_fewer_parameters():
    """'GoogLeNet is deeper than VGG-16 yet has 20x fewer parameters.' (read off each one's page)"""
    g = _metrics("architectures", **{"arch-model": "GoogLeNet"})
    v = _metrics("architectures", **{"arch-model": "VGG-16"})
    assert _num(g["Depth"]) > _num(v["Depth"])
    assert 18 < _num(v["Parameters"]) / _num(g["Parameters"]) < 24
