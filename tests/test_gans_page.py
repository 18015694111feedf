"""The GAN page headlessly (Streamlit AppTest): it renders with its defaults and with random legal widget
values (extremes included), a short live run trains and becomes explorable with the time scrubber and the
step-D / step-G controls, bad pasted points give a message, and a diverging learning rate says so."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from pagetest import errors, rendered, run_of, stop_runs

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "gans.py")


def _wait(at: AppTest, timeout: float = 120.0) -> None:
    run = run_of(at, "gans")
    t0 = time.time()
    while run is not None and run.active and time.time() - t0 < timeout:
        time.sleep(0.2)
    if run is not None:
        for t in run.trainers.values():
            t.join(5)


@pytest.fixture(scope="module")
def at() -> AppTest:
    return rendered("gans", timeout=120)


def test_defaults_render_with_title_and_prompts(at):
    assert at.title and "GAN" in at.title[0].value
    assert any("Try this" in (e.label or "") for e in at.expander) or at.markdown


def test_random_legal_widget_values_render(at):
    rng = random.Random(0)
    sb = at.sidebar
    choices = {
        "gans-data": ["ring", "grid", "moons", "spiral"],
        "gans-loss": ["minimax", "non-saturating", "least-squares", "wgan-gp", "hinge"],
        "gans-dopt": ["Adam", "SGD", "RMSprop"],
    }
    for _ in range(3):
        for k, opts in choices.items():
            sb.selectbox(key=k).set_value(rng.choice(opts))
        sb.slider(key="gans-pack").set_value(rng.choice([1, 4]))
        sb.slider(key="gans-unroll").set_value(rng.choice([0, 10]))
        sb.slider(key="gans-dsteps").set_value(rng.choice([1, 5]))
        sb.select_slider(key="gans-dlr").set_value(rng.choice([1e-5, 10.0]))
        at.run()
        assert not errors(at), errors(at)


def test_a_short_live_run_trains_replays_and_steps_one_player(monkeypatch):
    import ui

    # every due snapshot is taken (the app's live budget skips costly ones on a busy machine, which made the
    # snapshot count below depend on the load)
    monkeypatch.setattr(ui, "LIVE_BUDGET", None)
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    sb = app.sidebar
    sb.selectbox(key="gans-data").set_value("ring")
    sb.number_input(key="gans-steps").set_value(60)
    sb.slider(key="gans-unroll").set_value(1)
    sb.slider(key="gans-pack").set_value(2)
    sb.button(key="gans-train").click().run()
    try:
        _wait(app)
        app.run()
        assert not errors(app), errors(app)
        run = run_of(app, "gans")
        assert run.trainer.status == "finished" and len(run.trainer.snapshots) >= 3
        scrub = [s for s in app.select_slider if s.key and s.key.startswith("gans-scrub")]
        assert scrub, "no time scrubber for a live run"
        scrub[0].set_value(scrub[0].options[0] if isinstance(scrub[0].options[0], int) else 0).run()
        assert not errors(app), errors(app)
        app.button(key="gans-stepd").click().run()
        app.button(key="gans-stepg").click().run()
        assert not errors(app), errors(app)
        assert any(m.label == "Modes captured" for m in app.metric)
    finally:
        stop_runs(app, "gans")


def test_bad_points_give_a_message_not_a_traceback():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.sidebar.selectbox(key="gans-data").set_value("custom").run()
    app.sidebar.text_area(key="gans-paste").input("1,2\nfoo,bar\n" + "3,4\n" * 10).run()
    assert not app.exception
    assert any("text" in e.value for e in app.sidebar.error), [e.value for e in app.error]
    app.sidebar.button(key="gans-train").click().run()
    assert not app.exception and run_of(app, "gans") is None


def test_a_diverging_learning_rate_is_reported():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    sb = app.sidebar
    sb.selectbox(key="gans-loss").set_value("wgan-gp")
    sb.selectbox(key="gans-dopt").set_value("SGD")
    sb.selectbox(key="gans-gopt").set_value("SGD")
    sb.select_slider(key="gans-dlr").set_value(10.0)
    sb.select_slider(key="gans-glr").set_value(10.0)
    sb.number_input(key="gans-steps").set_value(500)
    sb.button(key="gans-train").click().run()
    try:
        _wait(app)
        app.run()
        assert not app.exception
        assert run_of(app, "gans").trainer.status == "diverged"
        assert any("diverged" in e.value for e in app.error)
    finally:
        stop_runs(app, "gans")
