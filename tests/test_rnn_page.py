"""The RNN hidden-states page (issues 15 and 17): the gradient headline compares one Jacobian across models, the
r(unit, feature) numbers say where they were measured and the text's own r beside them, the unit that colours the
text is always in the heatmap, tiny live models render, links reopen the view, the notebook snippets print what
the page shows, and random legal widget values raise nothing."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
from pagetest import errors, stop_runs
from streamlit.testing.v1 import AppTest

from dlviz.checkpoints import load_shipped
from dlviz.rnn_hidden_states import core as R
from dlviz.rnn_hidden_states import views as V

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "rnn_hidden_states.py")


def _page(params: dict | None = None, tab: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    if params:
        at.query_params.update(params)
    at.run()
    if tab:
        at.session_state["rnn-tab"] = tab
        at.run()
    assert not errors(at), errors(at)
    return at


def _metric(at: AppTest, start: str):
    return next(m for m in at.metric if m.label.startswith(start))


def _chart(at: AppTest, key: str) -> dict:
    return json.loads(next(e for e in at.get("plotly_chart") if e.key == key).proto.spec)


def _snippet_prints(at: AppTest) -> tuple[str, str]:
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
    return code.splitlines()[0].rsplit(" = ", 1)[1], out.getvalue().strip().splitlines()[-1]


# ---------------------------------------------------------------- gradients: like with like
def test_headline_ratio_divides_the_same_jacobian():
    lags = np.arange(60)
    flows = {f"LSTM (trained), {V.JACOBIAN['x']}": (lags, np.full(60, 6.0)),
             f"LSTM (trained), {V.JACOBIAN['c']}": (lags, np.full(60, 100.0)),
             f"vanilla RNN (trained), {V.JACOBIAN['x']}": (lags, np.full(60, 2.0)),
             f"vanilla RNN (trained), {V.JACOBIAN['h']}": (lags, np.full(60, 1e-9))}
    assert V.headline_ratio(flows, "x", [10, 50]) == (50, 3.0)          # x over x, never c over h
    assert V.headline_ratio(flows, "h", [10, 50]) is None               # no LSTM h line: no ratio
    assert V.headline_ratio(flows, "x", [10]) == (10, 3.0)


@pytest.mark.parametrize("wrt", ["x", "h"])
def test_gradient_headline_is_the_ratio_of_one_jacobian_for_both_models(wrt):
    at = _page({"rnn-wrt": V.WRT[wrt]} if wrt != "x" else None, tab="Gradients through time")
    m = _metric(at, "LSTM ÷ vanilla RNN")
    assert V.JACOBIAN[wrt] in m.label and "at lag 50" in m.label and V.WRT[wrt] in m.help
    lstm, rnn = load_shipped("rnn_code_lstm")[0], load_shipped("rnn_code_rnn")[0]
    text = R.examples(lstm)["quotes and brackets"][-200:]
    want = R.gradient_through_time(lstm, text, wrt).norms[50] / R.gradient_through_time(rnn, text, wrt).norms[50]
    assert m.value == V.ratio_text(want)
    names = [t["name"] for t in _chart(at, "rnn-grad")["data"]]
    assert f"LSTM (trained), {V.JACOBIAN[wrt]}" in names and f"vanilla RNN (trained), {V.JACOBIAN[wrt]}" in names
    shown, printed = _snippet_prints(at)
    assert shown == m.value and m.value in printed


# ---------------------------------------------------------------- r(unit, feature): where it was measured
def test_r_numbers_name_their_data_and_show_the_texts_own_r():
    at = _page()
    caption = " ".join(c.value for c in at.caption)
    assert "held-out part of the code corpus" in caption and "not the text shown" in caption
    unit = at.number_input(key="rnn-unit").value
    before = {m.label: (m.value, m.delta) for m in at.metric if m.label.startswith("r(unit")}
    at.selectbox(key="rnn-pick-text").set_value("deep nesting").run()
    assert not errors(at), errors(at)
    after = {m.label: (m.value, m.delta) for m in at.metric if m.label.startswith("r(unit")}
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}   # held-out: same data
    model = load_shipped("rnn_code_lstm")[0]
    text = R.examples(model)["deep nesting"]
    S = R.hidden_states(model, text).states("c")
    feats = R.features_of("text", text)
    here = R.correlations(S, feats)
    for label, (_, delta) in after.items():
        f = label[label.index(", ") + 2:-1]
        assert delta == V.here_text(None if np.ptp(feats[f]) == 0 else float(here[list(feats).index(f), unit]))
    assert [d for _, d in after.values()] != [d for _, d in before.values()]          # the text's own r moved


# ---------------------------------------------------------------- the selected unit is always shown
def test_units_to_show_keeps_the_selected_unit():
    assert V.units_to_show([5, 3, 9, 1, 0], 3, 3) == [5, 3, 9]
    assert V.units_to_show([5, 3, 9, 1, 0], 3, 0) == [5, 3, 0]
    assert V.units_to_show([5, 3, 9], 1, 9) == [9]


def test_the_unit_that_colours_the_text_is_in_the_heatmap_and_the_gates():
    at = _page()
    at.selectbox(key="rnn-order").set_value("in_string").run()
    at.slider(key="rnn-nshow").set_value(4).run()
    corr = np.asarray(_chart(at, "rnn-heat")["data"][0]["y"])
    assert len(corr) == 4
    at.number_input(key="rnn-unit").set_value(127).run()
    assert not errors(at), errors(at)
    rows = _chart(at, "rnn-heat")["data"][0]["y"]
    assert len(rows) == 4 and rows[-1] == "<b>▶ u127</b>"
    at.session_state["rnn-tab"] = "Gates"
    at.run()
    assert all("<b>▶ u127</b>" in tr["y"] for tr in _chart(at, "rnn-gates")["data"])


# ---------------------------------------------------------------- links and snippets
def test_a_link_reopens_the_unit_the_tab_and_the_text():
    at = _page({"rnn-unit": "5", "rnn-tab": "Gates", "rnn-pick-text": "deep nesting"})
    assert at.number_input(key="rnn-unit").value == 5
    assert any(m.label.startswith("forget gate") for m in at.metric)          # the Gates tab is open
    assert at.selectbox(key="rnn-pick-text").value == "deep nesting"


def test_the_units_snippet_prints_the_headline():
    at = _page({"rnn-unit": "7"})
    shown, printed = _snippet_prints(at)
    assert shown == _metric(at, "r(unit 7,").value and shown in printed


# ---------------------------------------------------------------- GIF: the state filling in
def test_evolution_frames_fill_in_one_character_at_a_time():
    from dlviz.attention.views import heat_rgb, matrix_layout

    S = np.linspace(-1, 1, 6 * 3).reshape(6, 3)
    units, text = [0, 2], "abc(d)"
    frames = V.evolution_frames(S, text, units, 1.0)
    assert len(frames) == 6 and len({f.shape for f in frames}) == 1
    h, w = V.evolution_cell(2, 6)
    top, left, _, _ = matrix_layout((h, w), [f"u{u}" for u in units], list(text), "title")
    colours = heat_rgb(S[:, units].T, -1, 1, "RdBu_r")                          # (units, characters, 3)
    for t, f in enumerate(frames):
        for i in range(2):
            for j in range(6):
                px = f[top + i * h + h // 2, left + j * w + w // 2]
                assert (px == (colours[i, j] if j <= t else 246)).all(), (t, i, j, px)


# ---------------------------------------------------------------- tiny live models and random settings
def test_a_four_unit_live_model_renders_every_tab():
    """min == max of "Units shown" (4 units) used to raise StreamlitInvalidMinMaxError."""
    at = _page()
    at.sidebar.select_slider(key="rnn-hidden").set_value(4).run()
    at.sidebar.number_input(key="rnn-bracket_depth-steps").set_value(20).run()
    at.sidebar.button(key="rnn-train").click().run()
    try:
        run = at.session_state["dlviz-run-rnn"]
        run.trainer.join(120)
        assert run.trainer.status == "finished", run.trainer.message
        at.run()
        assert "my trained model" in at.sidebar.selectbox(key="rnn-model").value
        for tab in ["Units over time", "Find interpretable units", "Gates", "Gradients through time", "Predictions"]:
            at.session_state["rnn-tab"] = tab
            at.run()
            assert not errors(at), (tab, errors(at))
    finally:
        stop_runs(at, "rnn")


RADIO_VALUES = {"rnn-wrt": ["x", "h"], "rnn-dims": [2, 3]}     # raw values of radios with a format_func


def test_random_legal_widget_values_raise_nothing():
    rng = random.Random(15)
    at = _page()
    choices = {"rnn-model": ["Code GRU", "Code vanilla RNN", "Bracket-depth LSTM", "Code LSTM"],
               "rnn-tab": ["Units over time", "Find interpretable units", "Trajectory", "Gates",
                           "Gradients through time", "Sampling"]}
    for model in choices["rnn-model"]:
        at.sidebar.selectbox(key="rnn-model").set_value(model).run()
        assert not errors(at), (model, errors(at))
        for tab in rng.sample(choices["rnn-tab"], 3) + ["Gradients through time"]:
            if tab == "Sampling" and model.startswith("Bracket"):
                tab = "Predictions"
            at.session_state["rnn-tab"] = tab
            at.run()
            for s in at.slider:
                if s.key and s.key.startswith("rnn-"):
                    s.set_value(rng.choice([s.min, s.max])).run()
                    assert not errors(at), (model, tab, s.key, errors(at))
            for n in at.number_input:
                if n.key in ("rnn-unit", "rnn-n"):
                    n.set_value(rng.choice([n.min, n.max])).run()
                    assert not errors(at), (model, tab, n.key, errors(at))
            for w in at.radio:
                if w.key and w.key.startswith("rnn-") and len(w.options) > 1:
                    w.set_value(rng.choice(RADIO_VALUES.get(w.key, w.options))).run()
                    assert not errors(at), (model, tab, w.key, errors(at))
            for w in at.selectbox:
                if w.key and w.key.startswith(("rnn-pick", "rnn-order", "rnn-colour")):
                    w.select_index(rng.choice([i for i, o in enumerate(w.options) if o != "type my own"])).run()
                    assert not errors(at), (model, tab, w.key, errors(at))


# ---------------------------------------------------------------- every control, on every tab, is in the URL
VALUE_KINDS = ("selectbox", "radio", "slider", "select_slider", "number_input", "checkbox", "toggle",
               "multiselect", "text_input")
UNBOUND = {"rnn-own-text", "rnn-own-bracket_depth"}   # long text areas (not a text_input): not in a link


def test_every_control_on_every_tab_is_bound_to_the_url():
    at = _page()
    for model in ("Code LSTM", "Bracket-depth LSTM"):
        at.sidebar.selectbox(key="rnn-model").set_value(model).run()
        tabs = ["Units over time", "Find interpretable units", "Trajectory", "Gates", "Gradients through time",
                "Sampling" if model.startswith("Code") else "Predictions"]
        for tab in tabs:
            at.session_state["rnn-tab"] = tab
            at.run()
            loose = {w.key for kind in VALUE_KINDS for w in getattr(at, kind)
                     if w.key and not w.key.startswith("$$") and w.key not in UNBOUND
                     and not getattr(w.proto, "query_param_key", "")}
            assert not loose, (model, tab, loose)
