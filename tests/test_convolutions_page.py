"""The Convolutions page in AppTest: one diverging colour scale centred on 0 (with colour bars) for every signed
map, accuracy axes on [0, 1], the "try this" prompt on learning rate 3 comes true (SGD ends at chance level
with dead ReLUs and says so; Adam explodes, stops and restores its first weights), and the controls are in
the URL."""

from __future__ import annotations

import contextlib
import io
import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.convolutions.plots import SIGNED
from pagetest import PAGES, errors, rendered, run_of, stop_runs


def _app(**params) -> AppTest:
    at = AppTest.from_file(str(PAGES / "convolutions.py"), default_timeout=180)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not errors(at), errors(at)
    return at


def _wait(at: AppTest, timeout: float = 180.0) -> None:
    run = run_of(at, "conv")
    t0 = time.time()
    while run is not None and run.active and time.time() - t0 < timeout:
        time.sleep(0.2)
    for t in run.trainers.values():
        t.join(5)
    at.run()


def _figures(at: AppTest) -> dict[str, dict]:
    return {ch.proto.id: json.loads(ch.proto.spec) for ch in at.get("plotly_chart")}


def _signed_scales(fig: dict) -> list[tuple]:
    """(colour scale, centre, has colour bar) of every heatmap of a figure (own scale or a shared colour axis)."""
    out = []
    for tr in fig["data"]:
        if tr.get("type") != "heatmap":
            continue
        if tr.get("coloraxis"):
            ax = fig["layout"][tr["coloraxis"]]
            out.append((json.dumps(ax["colorscale"]), ax.get("cmid"), "colorbar" in ax))
        else:
            out.append((json.dumps(tr["colorscale"]), tr.get("zmid"), tr.get("showscale", True)))
    return out


def _train(at: AppTest, lr: float, opt: str) -> object:
    sb = at.sidebar
    sb.select_slider(key="conv-lr").set_value(lr)
    sb.selectbox(key="conv-opt").set_value(opt)
    sb.button(key="conv-train").click().run()
    _wait(at)
    assert not at.exception, [e.value for e in at.exception]
    return run_of(at, "conv").trainer


def test_every_signed_map_uses_one_diverging_scale_centred_on_zero_with_a_colour_bar():
    """Issue 15: the kernel used red for negative, the feature map red for positive."""
    import plotly.graph_objects as go

    expected = json.dumps([list(p) for p in go.Heatmap(colorscale=SIGNED).colorscale])
    for params in ({}, {"conv-kernel": "Sobel y (horizontal edges)", "conv-layer": "block1.conv"}):
        at = _app(**params)
        scales = [s for fig in _figures(at).values() for s in _signed_scales(fig)]
        assert len(scales) >= 4                    # kernel, feature map, filters, feature maps
        assert {s[0] for s in scales} == {expected}
        assert all(s[1] == 0 and s[2] for s in scales), scales
    # the kernel's negative weights and the map's negative outputs are both blue: the same end of the same scale
    assert json.loads(expected)[0][1] == "rgb(5,48,97)"


def test_lr_3_with_sgd_ends_at_chance_and_says_why_on_a_0_to_1_axis():
    """The page's "try this": plain SGD at learning rate 3 never explodes but dies (chance level, dead ReLUs)."""
    at = rendered("convolutions", timeout=180)
    try:
        t = _train(at, 3.0, "SGD")
        assert t.status == "finished" and t.step == 600
        acc = t.history()["test_acc"][1][-1]
        assert abs(acc - 0.1) < 0.05
        warn = " ".join(w.value for w in at.warning)
        assert "ended at chance level" in warn and f"{acc:.1%}" in warn and "dead" in warn
        acc_figs = [f for f in _figures(at).values() if any(tr.get("name") == "acc" or "acc" in str(f["layout"].get(
            "annotations", "")) for tr in f["data"])]
        assert acc_figs
        for f in acc_figs:
            ranges = [v["range"] for k, v in f["layout"].items() if k.startswith("yaxis") and "range" in v]
            assert ranges and all(r == [0, 1.02] for r in ranges), ranges
    finally:
        stop_runs(at, "conv")


def test_lr_3_with_adam_explodes_stops_and_restores_the_first_weights():
    at = rendered("convolutions", timeout=180)
    try:
        t = _train(at, 3.0, "Adam")
        assert t.status == "diverged" and t.step == 0                 # the starting weights, as the prompt says
        assert any("diverged at step 2" in e.value and "weights from step 0" in e.value for e in at.error)
    finally:
        stop_runs(at, "conv")


def test_a_healthy_run_gives_no_verdict_and_offers_its_history_and_filters():
    at = _app(**{"conv-steps": "60"})
    try:
        t = _train(at, 3e-3, "Adam")
        assert t.status == "finished"
        assert not any("chance level" in w.value for w in at.warning)
        labels = [b.proto.label for b in at.get("download_button")]
        assert "Training history (CSV)" in labels and "Filters over training (GIF)" in labels
    finally:
        stop_runs(at, "conv")


def test_notebook_snippet_prints_the_accuracy_shown():
    at = _app()
    shown = next(m.value for m in at.metric if m.label == "Test accuracy")
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    assert out.getvalue().strip().splitlines()[-1] == shown


@pytest.mark.parametrize("params", [{"conv-stride": "4", "conv-pad": "0"}, {"conv-dil": "3"}])
def test_controls_come_from_the_link(params):
    at = _app(**params)
    s, p, d = (int(params.get(k, dv)) for k, dv in (("conv-stride", 1), ("conv-pad", 1), ("conv-dil", 1)))
    n = (160 + 2 * p - d * 2 - 1) // s + 1
    assert next(m.value for m in at.metric if m.label == "Output size") == f"{n} × {n}"
    keyed = [w for kind in ("selectbox", "radio", "slider", "select_slider", "number_input")
             for w in getattr(at, kind) if w.key and not w.key.startswith("dlviz_") and not w.key.endswith("-photo")]
    assert all(w.proto.query_param_key == w.key for w in keyed), [w.key for w in keyed if not w.proto.query_param_key]


def test_filter_frames_share_one_scale():
    import numpy as np
    import torch

    from dlviz.convolutions import views

    snaps = [(0, torch.zeros(2, 1, 3, 3)), (25, torch.tensor([1.0, -1.0]).view(2, 1, 1, 1).expand(2, 1, 3, 3))]
    frames = views.filter_frames(snaps, pad=1, scale=1)
    assert len(frames) == 2 and frames[0].shape == frames[1].shape == (5, 9, 3)
    assert (frames[0][1:4, 1:4] == [247, 247, 247]).all()           # zero: white
    assert (frames[1][1:4, 1:4] == [103, 0, 31]).all()              # +max: dark red
    assert (frames[1][1:4, 5:8] == [5, 48, 97]).all()               # -max: dark blue
    assert np.array_equal(views.colour_signed(np.array([[0.0]]))[0, 0], [247, 247, 247])
