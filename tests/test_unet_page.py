"""The U-Net page headlessly (Streamlit AppTest): the default view states its measurements, random legal values
of every main-area widget (extremes included) redraw without error, sidebar settings never crash it, a bad
folder gives a message, and a live side-by-side run trains and becomes explorable."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.checkpoints import shipped
from pagetest import errors, rendered, stop_runs, run_snippet

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "unet.py")
pytestmark = pytest.mark.skipif("unet_foods" not in shipped(), reason="unet_foods is not shipped")


@pytest.fixture(scope="module")
def at() -> AppTest:
    return rendered("unet", timeout=180)


def test_default_view_states_the_measurements(at):
    labels = {m.label: m.value for m in at.metric}
    assert {"Mean IoU", "Boundary F1", "Merged objects"} <= set(labels)
    assert 0 <= float(labels["Mean IoU"]) <= 1
    assert any("python -m dlviz.train unet_foods" in c.value for c in at.caption)
    assert any("The same U denoises the DDPM" in s.value for s in at.subheader)


def test_random_legal_main_area_values(at):
    rng = random.Random(0)
    n = at.slider(key="unet-img").max
    for value in (0, n, rng.randint(0, n)):
        at.slider(key="unet-img").set_value(value)
        at.radio(key="unet-order").set_value(rng.choice(["in order", "worst first"]))
        cls = at.selectbox(key="unet-cls")
        cls.set_value(rng.choice(cls.options))
        lv = at.radio(key="unet-level")
        lv.set_value(rng.choice(lv.options))
        at.run()
        assert not errors(at), errors(at)
    lv = at.radio(key="unet-level")
    lv.set_value(lv.options[-1]).run()                    # the bottleneck: no decoder map
    assert not errors(at), errors(at)


def test_every_shipped_model_renders(at):
    from dlviz.unet.recipes import PLANS

    for name in [n for n in PLANS if n in shipped()][1:]:
        next(r for r in at.sidebar.radio if r.key.startswith("unet-src")).set_value(name).run()
        assert not errors(at), errors(at)


def test_sidebar_extremes_without_training(at):
    at.sidebar.selectbox(key="unet-data").set_value("cells64")
    at.sidebar.select_slider(key="unet-depth").set_value(4)
    at.sidebar.select_slider(key="unet-width").set_value(4)
    at.sidebar.select_slider(key="unet-n").set_value(20)
    at.sidebar.selectbox(key="unet-loss").set_value("wce")
    at.sidebar.selectbox(key="unet-ablation").set_value("skips").run()
    assert not errors(at), errors(at)


def test_a_bad_folder_gives_a_message_not_a_traceback():
    app = AppTest.from_file(PAGE, default_timeout=180)
    app.run()
    app.sidebar.selectbox(key="unet-data").set_value("folder").run()
    app.sidebar.text_input(key="unet-folder").input("/no/such/folder").run()
    app.sidebar.button(key="unet-train").click().run()
    assert not app.exception
    assert any("images/ and masks/" in e.value for e in app.sidebar.error), [e.value for e in app.error]


def test_a_live_ablation_trains_and_becomes_explorable():
    app = AppTest.from_file(PAGE, default_timeout=180)
    app.run()
    app.sidebar.selectbox(key="unet-data").set_value("foods32")
    app.sidebar.select_slider(key="unet-n").set_value(20)
    app.sidebar.selectbox(key="unet-ablation").set_value("weight map")
    app.sidebar.number_input(key="unet-steps").set_value(10).run()
    app.sidebar.button(key="unet-train").click().run()
    assert not app.exception, [e.value for e in app.exception]
    for _ in range(300):
        app.run()
        run = app.session_state["dlviz-run-unet"] if "dlviz-run-unet" in app.session_state else None
        if run is not None and not run.active:
            break
        time.sleep(0.5)
    stop_runs(app, "unet")
    app.run()
    radio = next(r for r in app.sidebar.radio if r.key.startswith("unet-src"))
    assert [o for o in radio.options if str(o).startswith("my run")] == ["my run · CE", "my run · weighted CE"]
    assert radio.value.startswith("live:")
    assert not errors(app), errors(app)
    assert any(m.label == "Mean IoU" for m in app.metric)
    # issue 17: the live model downloads, and the notebook lines read that file and print the page's mean IoU
    import os

    from dlviz.checkpoints import checkpoint_bytes

    shown = next(m.value for m in app.metric if m.label == "Mean IoU")
    code = next(c.value for c in app.code if c.value.startswith("# dlviz notebook snippet"))
    fname = code.split("load_checkpoint(")[1].split(")")[0].strip("'\"")
    tr = run.trainers[radio.value[5:]]
    assert fname == f"unet_seg_unet_{tr.step}steps.pt"
    assert any(b.proto.label == "Download this model (.pt)" for b in app.get("download_button"))
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"dlviz-unet-snippet-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    (tmp / fname).write_bytes(checkpoint_bytes(tr.model_copy(), {"arch": "seg_unet"}, fname[:-3]))
    assert run_snippet(code, cwd=tmp).split()[-1] == shown
    frames = app.session_state["unet-live-frames"][1]
    assert frames and all(f.dtype.name == "uint8" and f.shape == frames[0].shape for f in frames)


def test_a_link_to_a_shipped_model_reopens_it_and_its_snippet_prints_its_mean_iou():
    import contextlib
    import io

    if "unet_foods_noskip" not in shipped():
        pytest.skip("unet_foods_noskip is not shipped")
    from dlviz.unet.recipes import SUMMARY

    app = AppTest.from_file(PAGE, default_timeout=180)
    label = f"unet_foods_noskip · {SUMMARY['unet_foods_noskip']}"          # a link holds the option as shown
    app.query_params.update({"unet-src": label, "unet-img": "5", "unet-order": "worst first"})
    app.run()
    assert not errors(app), errors(app)
    assert app.sidebar.radio(key="unet-src").value == "unet_foods_noskip" and app.slider(key="unet-img").value == 5
    shown = next(m.value for m in app.metric if m.label == "Mean IoU")
    code = next(c.value for c in app.code if c.value.startswith("# dlviz notebook snippet"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    assert out.getvalue().split()[-1] == shown


def test_closed_expander_and_hidden_tabs_draw_nothing_until_opened():
    """First paint: the weight map (collapsed expander) and the ablation tabs that are not open are not computed or
    sent; opening them draws them (and the open tab's pictures are the ones shown)."""
    app = rendered("unet", timeout=180)
    ids = lambda: {c.proto.id for c in app.get("plotly_chart")}                                  # noqa: E731
    first = ids()
    assert not any("unet-wmap" in i for i in first)
    abl = sorted(i for i in first if "unet-abl-img" in i)
    assert len(abl) == 1, abl                                        # only the open tab's pictures
    app.session_state["unet-wmap-open"] = True
    app.run()
    assert not errors(app) and any("unet-wmap" in i for i in ids())
    assert any("separating-line pixels" in c.value or "No two objects" in c.value for c in app.caption)
