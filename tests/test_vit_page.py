"""The ViT page headlessly (Streamlit AppTest): the default view states its measurements, random legal
widget values (extremes included) render without an error, the food model renders, and a short live run
trains and becomes the explored model."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.checkpoints import shipped
from pagetest import errors, rendered, run_snippet

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "vit.py")
pytestmark = pytest.mark.skipif(not {"vit_digits", "vit_food"} <= set(shipped()), reason="ViT checkpoints missing")


def _model_radio(at: AppTest):
    return next(r for r in at.sidebar.radio if r.key.startswith("vit-src"))


@pytest.fixture(scope="module")
def at() -> AppTest:
    return rendered("vit", timeout=120)


def test_default_view_states_its_measurements(at):
    labels = {m.label: m.value for m in at.metric}
    for name in ("Test accuracy", "Tokens", "Same row / column", "Distance from centre", "Prediction", "Rollout on the ink", "Largest CNN lead"):
        assert name in labels, sorted(labels)
    assert float(labels["Test accuracy"].rstrip("%")) >= 95
    assert labels["Tokens"] == "16 + [CLS]"                     # 16x16 digits, 4x4 patches
    assert any("What was measured" in c.value for c in at.caption)


def test_random_legal_widget_values_render(at):
    rng = random.Random(0)
    for trial in range(4):
        for key in ("vit-patch-16", "vit-start-3"):
            s = at.select_slider(key=key)
            s.set_value(rng.choice([s.options[0], s.options[-1], rng.choice(s.options)]))
        at.radio(key="vit-fusion").set_value(rng.choice(["mean", "max", "min"]))
        at.slider(key="vit-alpha").set_value(rng.choice([0.0, 1.0, 0.35]))
        at.sidebar.number_input(key="vit-img").set_value(rng.choice([0, 359, rng.randrange(360)]))
        at.run()
        assert not errors(at), (trial, errors(at))


def test_food_model_renders_without_the_ink_metric(at):
    _model_radio(at).set_value("vit_food")
    at.run()
    assert not errors(at), errors(at)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Tokens"] == "64 + [CLS]"
    assert "Rollout on the ink" not in labels
    _model_radio(at).set_value("vit_digits")
    at.run()


def test_a_short_live_run_trains_and_becomes_the_explored_model():
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.run()
    app.sidebar.selectbox(key="vit-tpos").set_value("none")
    app.sidebar.select_slider(key="vit-tdepth").set_value(1)
    app.sidebar.number_input(key="vit-steps").set_value(20)
    app.run()
    app.sidebar.button(key="vit-train").click().run()
    run = app.session_state["dlviz-run-vit"]
    try:
        run.trainer.join(60)
        assert run.trainer.status == "finished", run.trainer.progress()
    finally:
        run.stop()
    app.run()
    assert not errors(app), errors(app)
    assert _model_radio(app).value == "live"
    assert any("no position embeddings" in i.value for i in app.info)
    labels = {m.label: m.value for m in app.metric}
    assert "Same row / column" not in labels and "Prediction" in labels
    # issue 17: the live ViT downloads, and the notebook lines read that file and print the sidebar's accuracy
    import os

    from dlviz.checkpoints import checkpoint_bytes

    shown = labels["Test accuracy"]
    code = next(c.value for c in app.code if c.value.startswith("# dlviz notebook snippet"))
    fname = code.split("load_checkpoint(")[1].split(")")[0].strip("'\"")
    assert fname == f"vit_vit_{run.trainer.step}steps.pt"
    assert any(b.proto.label == "Download this model (.pt)" for b in app.get("download_button"))
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"dlviz-vit-snippet-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    (tmp / fname).write_bytes(checkpoint_bytes(run.trainer.model_copy(), {"arch": "vit"}, fname[:-3]))
    assert run_snippet(code, cwd=tmp).split()[-1] == shown


def test_a_link_reopens_the_food_model_and_its_snippet_prints_its_accuracy():
    import contextlib
    import io

    app = AppTest.from_file(PAGE, default_timeout=120)
    app.query_params.update({"vit-src": "food shapes · shipped ViT", "vit-img": "7", "vit-fusion": "max"})
    app.run()
    assert not errors(app), errors(app)
    assert _model_radio(app).value == "vit_food" and app.sidebar.number_input(key="vit-img").value == 7
    assert app.radio(key="vit-fusion").value == "max"
    shown = next(m.value for m in app.metric if m.label == "Test accuracy")
    code = next(c.value for c in app.code if c.value.startswith("# dlviz notebook snippet"))
    assert "load_shipped('vit_food')" in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    assert out.getvalue().split()[-1] == shown
