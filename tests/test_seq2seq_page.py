"""The seq2seq page headlessly (Streamlit AppTest): defaults render with the shipped models' attention and
the accuracy-vs-length chart; random legal widget values (every task, beam widths, extremes) render with
no exception; bad typed input gets a clear message; a live run trains and becomes a model to explore."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.checkpoints import shipped
from dlviz.data.seq2seq_tasks import TASK_NAMES
from dlviz.seq2seq.recipes import PLANS
from pagetest import errors, rendered, stop_runs

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "seq2seq.py")


@pytest.fixture(scope="module")
def at() -> AppTest:
    return rendered("seq2seq", timeout=120)


def test_defaults_show_the_decode_the_alignment_score_and_both_curves(at):
    metrics = {m.label: m.value for m in at.metric}
    assert metrics.get("The model writes") == "1998-03-03"
    assert metrics.get("Right answer") == "1998-03-03"
    assert metrics.get("Alignment matches", "").endswith("%")
    assert len([m for m in at.metric if m.label.startswith("shipped")]) == 2   # with and without attention


@pytest.mark.parametrize("text,message", [
    ("", "empty"), ("3rd of märz 1998", "vocabulary"), ("1" * 40, "at most"),
])
def test_bad_typed_input_gets_a_clear_message(at, text, message):
    at.text_input(key="s2s-text-dates").input(text).run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key="s2s-text-dates").input("3rd of march 1998").run()
    assert not errors(at)


def test_random_legal_widget_values_render():
    rng = random.Random(0)
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    for task in [*TASK_NAMES, rng.choice(TASK_NAMES)]:
        app.sidebar.selectbox(key="s2s-task").set_value(task).run()
        assert not errors(app), (task, errors(app))
        app.slider(key="s2s-beam").set_value(rng.choice([1, 2, 8])).run()
        assert not errors(app), (task, errors(app))
        radios = [r for r in app.radio if r.key.startswith("s2s-src")]
        names = [n for n, p in PLANS.items() if p[0] == task and n in shipped()]
        for r in radios:                                   # the radio's raw values are checkpoint names
            r.set_value(rng.choice(names)).run()
            assert not errors(app), (task, errors(app))
    curve = app.selectbox(key="s2s-curve-task")
    curve.set_value(rng.choice([t for t in TASK_NAMES if any(PLANS[n][0] == t for n in shipped() if n in PLANS)]))
    app.run()
    assert not errors(app), errors(app)
    for key, value in (("s2s-tf", 0.0), ("s2s-hidden", 16), ("s2s-att", "none"), ("s2s-cell", "lstm")):
        w = next(x for x in [*app.sidebar.slider, *app.sidebar.select_slider, *app.sidebar.radio,
                             *app.sidebar.selectbox] if x.key == key)
        w.set_value(value).run()
        assert not errors(app), (key, errors(app))


def test_a_sentence_outside_the_grammar_is_answered_with_a_warning():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.text_input(key="s2s-text-dates").input("march march").run()
    assert not errors(app), errors(app)
    assert any("grammar" in w.value for w in app.warning)


def test_a_live_run_trains_and_becomes_a_model_to_explore():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.sidebar.selectbox(key="s2s-task").set_value("reverse").run()
    app.sidebar.number_input(key="s2s-steps").set_value(20).run()
    app.sidebar.toggle(key="s2s-both").set_value(True).run()
    app.sidebar.button(key="s2s-train").click().run()
    try:
        run = app.session_state["dlviz-run-s2s"]
        assert len(run.trainers) == 2
        for t in run.trainers.values():
            t.join(120)
            assert t.status == "finished", t.message
        app.run()
        assert not errors(app), errors(app)
        radios = [r for r in app.radio if r.key.startswith("s2s-src")]
        assert radios and any(o.startswith("my run") for o in radios[0].options)   # labels of live:NAME
        assert len([m for m in app.metric if m.label.startswith("my run")]) == 2
    finally:
        stop_runs(app, "s2s")
