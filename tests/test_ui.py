"""app/ui.py helpers that are plain functions: page discovery, thumbnails, colour sanitising."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

import ui


def test_read_page_info_without_running_the_page(tmp_path):
    page = tmp_path / "demo.py"
    page.write_text('raise SystemExit("must not run")\nPAGE_INFO = {"title": "Demo", "section": "CNNs", '
                    '"order": 5, "question": "Why?"}\n')
    info = ui.read_page_info(page)
    assert (info.title, info.section, info.order, info.question, info.slug) == ("Demo", "CNNs", 5, "Why?", "demo")


def test_letterbox_keeps_aspect_and_size():
    img = np.zeros((10, 40, 3), dtype=np.uint8)
    out = ui.letterbox(img, 150, 300)
    assert out.shape == (150, 300, 3)
    dark = np.argwhere(out.sum(-1) == 0)
    h = dark[:, 0].max() - dark[:, 0].min() + 1
    w = dark[:, 1].max() - dark[:, 1].min() + 1
    assert w == 300 and abs(h - 75) <= 1  # scaled by 7.5 on both axes


def test_placeholder_colours_are_nudged_and_others_kept():
    fig = go.Figure([go.Heatmap(z=[[0, 1]], colorscale="Inferno"),
                     go.Scatter(y=[1, 2], marker={"color": [0, 1], "colorscale": "Magma"})])
    before = [c for _, c in fig.data[0].colorscale]
    ui._sanitise_colours(fig)
    after = [c for _, c in fig.data[0].colorscale]
    assert before[0] == "#000004" and after[0] == "#010004"
    assert before[1:] == after[1:]
    assert not any(ui._PLACEHOLDER.match(c) for _, c in fig.data[1].marker.colorscale)
