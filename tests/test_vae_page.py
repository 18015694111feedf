"""The VAE page headlessly (Streamlit AppTest): every shipped model renders without error, a 16-D model
never waits for UMAP, a live run trains and becomes explorable, bad input gives a message, and the
latent sliders redraw."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.checkpoints import shipped

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "vae.py")
SHIPPED = [n for n in ("vae_digits2", "vae_digits16", "vae_food32", "vae_hotdog32") if n in shipped()]


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [f"st.error: {e.value}" for e in at.error]


def _stop_runs(at: AppTest) -> None:
    """Stop and join the page's training threads, so none outlives the test."""
    run = at.session_state["dlviz-run-vae"] if "dlviz-run-vae" in at.session_state else None
    if run is not None:
        run.stop()
        for t in run.trainers.values():
            t.join(30)


def _model_radio(at: AppTest):
    return next(r for r in at.sidebar.radio if r.key.startswith("vae-src"))


@pytest.fixture(scope="module")
def at() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    assert not _errors(app), _errors(app)
    return app


def test_default_view_states_the_elbo(at):
    labels = {m.label: m.value for m in at.metric}
    assert "Test ELBO" in labels and labels["Test ELBO"].endswith("nats")
    assert float(labels["Test ELBO"].split()[0]) < 0                 # Bernoulli digits: a log-probability
    assert any("python -m dlviz.train vae_digits2" in c.value for c in at.caption)


@pytest.mark.parametrize("name", SHIPPED[1:])
def test_each_shipped_model_renders_at_once_without_waiting_for_umap(at, name):
    _model_radio(at).set_value(name)
    t0 = time.perf_counter()
    at.run()
    assert not _errors(at), _errors(at)
    assert time.perf_counter() - t0 < 60                             # never the UMAP (its thread runs apart)
    assert any(r.key == "vae-proj" for r in at.radio)                # UMAP / PCA choice for a 16-D latent


def test_latent_slider_move_redraws(at):
    sliders = [s for s in at.slider if s.key and re.fullmatch(r"vae-z\d+", s.key)]
    assert sliders, "no latent sliders"
    sliders[0].set_value(2.0).run()
    assert not _errors(at), _errors(at)
    at.button(key="vae-prior").click().run()
    assert not _errors(at), _errors(at)


def test_a_bad_folder_gives_a_message_not_a_traceback():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.sidebar.selectbox(key="vae-data").set_value("folder").run()
    app.sidebar.text_input(key="vae-folder").input("/no/such/folder").run()
    app.sidebar.button(key="vae-train").click().run()
    assert not app.exception
    assert any("does not exist" in e.value for e in app.sidebar.error), [e.value for e in app.error]


def test_a_live_run_trains_and_becomes_the_explored_model():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.sidebar.number_input(key="vae-steps").set_value(30).run()
    app.sidebar.button(key="vae-train").click().run()
    assert not app.exception, [e.value for e in app.exception]
    for _ in range(240):                  # the run trains in a background thread; poll until it is explorable
        app.run()
        if any(str(o).startswith("my run") for o in _model_radio(app).options):
            break
        time.sleep(0.5)
    _stop_runs(app)
    radio = _model_radio(app)
    assert any(str(o).startswith("my run") for o in radio.options), radio.options
    assert radio.value.startswith("live:")                          # the page switches to the new run
    assert not _errors(app), _errors(app)
    assert any(m.label == "Test ELBO" for m in app.metric)


def test_a_too_high_learning_rate_is_reported():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.sidebar.select_slider(key="vae-lr").set_value(10.0)
    app.sidebar.number_input(key="vae-steps").set_value(40).run()
    app.sidebar.button(key="vae-train").click().run()
    for _ in range(240):
        app.run()
        said = [m.value for m in list(app.warning) + list(app.error)]
        if any("explod" in m for m in said):
            break
        time.sleep(0.5)
    _stop_runs(app)
    assert any("explod" in m for m in said), said
    assert not app.exception


def test_a_beta_sweep_trains_four_runs_each_explorable():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.sidebar.toggle(key="vae-sweep").set_value(True)
    app.sidebar.number_input(key="vae-steps").set_value(20).run()
    app.sidebar.button(key="vae-train").click().run()
    for _ in range(240):
        app.run()
        run = app.session_state["dlviz-run-vae"] if "dlviz-run-vae" in app.session_state else None
        if run is not None and not run.active:
            break
        time.sleep(0.5)
    _stop_runs(app)
    app.run()
    options = [str(o) for o in _model_radio(app).options]
    assert [o for o in options if o.startswith("my run")] == [f"my run · β={b}" for b in ("0.25", "1", "4", "16")]
    assert not _errors(app), _errors(app)
