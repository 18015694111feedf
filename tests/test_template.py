"""The concept template stays a working skeleton: its package computes, its page renders."""

from __future__ import annotations

from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from dlviz._template import core
from dlviz.models import build_model

ROOT = Path(__file__).resolve().parent.parent


def test_template_measure_matches_a_direct_computation():
    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=3, image_size=32, num_classes=10).eval()
    x = torch.rand(5, 3, 32, 32)
    m = core.measure(model, x)
    with torch.no_grad():
        direct = torch.linalg.vector_norm(model(x), dim=1)
    assert torch.allclose(torch.from_numpy(m.values), direct, atol=1e-6)
    assert abs(m.mean - float(direct.mean())) < 1e-6


def test_template_page_renders_and_is_not_in_the_app():
    import ui

    assert "_template" not in {p.slug for p in ui.discover_pages()}
    at = AppTest.from_file(str(ROOT / "pages" / "_template.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.metric[0].label == "Mean output norm"
    at.slider(key="tpl-n").set_value(256).run()
    assert not at.exception
