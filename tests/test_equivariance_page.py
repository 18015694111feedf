"""The equivariance page in AppTest: every concept control is in the URL and a link reopens the view, the
notebook snippet prints the invariance error shown, and a run at the largest learning rate that ends at chance
level says so (on a [0, 1] accuracy axis)."""

from __future__ import annotations

import contextlib
import io
import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.equivariance.training import VARIANTS
from pagetest import PAGES, errors, run_of, stop_runs


def _app(**params) -> AppTest:
    at = AppTest.from_file(str(PAGES / "equivariance.py"), default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not errors(at), errors(at)
    return at


def _printed(at: AppTest) -> tuple[str, str]:
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    shown = code.split(" = ", 1)[1].split("\n", 1)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    return shown, out.getvalue().strip().splitlines()[-1]


@pytest.mark.parametrize("params", [
    {},
    {"eq-src": "food shape", "eq-food": "3", "eq-kind": "rotation by 90°", "eq-q": "2"},
    {"eq-src": "photo", "eq-kind": "flip", "eq-flip": "top ↕ bottom"},
    {"eq-kind": "rotation by any angle", "eq-ang": "45",
     "eq-models": [VARIANTS["equi_p4"].label, VARIANTS["equi_cnn_maxpool"].label]},
])
def test_a_link_reopens_the_view_and_the_snippet_prints_the_error_shown(params):
    at = _app(**params)
    for k, v in params.items():
        w = next(w for kind in ("radio", "slider", "select_slider", "multiselect") for w in getattr(at, kind)
                 if w.key == k)
        assert (w.value if isinstance(v, list) else str(w.value)) == v, (k, w.value, v)
    shown, printed = _printed(at)
    assert any(m.value == shown for m in at.metric if m.label.startswith("logits · "))
    assert printed == shown


def test_every_value_widget_is_bound():
    for params in ({}, {"eq-src": "food shape"}, {"eq-kind": "rotation by 90°"}, {"eq-kind": "flip"}):
        at = _app(**params)
        keyed = [w for kind in ("selectbox", "radio", "slider", "select_slider", "number_input", "multiselect")
                 for w in getattr(at, kind) if w.key and not w.key.startswith("dlviz_") and not w.key.endswith("-photo")]
        assert keyed and all(w.proto.query_param_key == w.key for w in keyed), \
            [w.key for w in keyed if w.proto.query_param_key != w.key]


def test_the_largest_learning_rate_ends_in_a_message_on_a_0_to_1_axis():
    at = _app(**{"eq-lr": "10"})
    at.sidebar.button(key="eq-train").click().run()
    run = run_of(at, "eq")
    try:
        t0 = time.time()
        while run.active and time.time() - t0 < 180:
            time.sleep(0.2)
        for t in run.trainers.values():
            t.join(5)
        at.run()
        assert not at.exception
        t = run.trainer
        msgs = [w.value for w in at.warning] + [e.value for e in at.error]
        acc = t.history()["test_acc"][1][-1]          # seed 0, 400 steps: the one-cycle peak at lr 10 kills it
        assert t.status == "finished" and acc < 0.15
        assert any("ended at chance level" in m and f"{acc:.1%}" in m for m in msgs), msgs
        figs = [json.loads(ch.proto.spec) for ch in at.get("plotly_chart")]
        acc_figs = [f for f in figs if any(tr.get("name") == "acc" or tr.get("legendgroup") for tr in f["data"])
                    and "test_acc" in json.dumps(f["layout"].get("annotations", ""))]
        assert acc_figs and all(v["range"] == [0, 1.02] for f in acc_figs for k, v in f["layout"].items()
                                if k.startswith("yaxis"))
    finally:
        stop_runs(at, "eq")


def test_a_layer_with_fewer_channels_clamps_the_channel():
    at = _app()
    layers = at.selectbox(key="eq-layer").options
    at.number_input(key="eq-ch").set_value(at.number_input(key="eq-ch").max).run()
    for lay in layers:                                  # every layer, whatever its channel count
        at.selectbox(key="eq-layer").set_value(lay).run()
        assert not errors(at), (lay, errors(at))
