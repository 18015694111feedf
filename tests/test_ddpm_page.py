"""The DDPM page and its shipped checkpoints: strict loading, class-conditional digits the classifier can
read, and the page's controls (scrubbing, digits, animation, quality, live training) without exceptions.

The full card check (every shipped checkpoint re-evaluated against its card's claims) is the
foundation's ``tests/test_checkpoints.py::test_shipped_checkpoint_meets_its_card``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dlviz.checkpoints import load_shipped, shipped

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "pages" / "ddpm.py"


@pytest.mark.parametrize("name, size, channels", [("ddpm_digits", 16, 1), ("ddpm_food", 32, 3)])
def test_shipped_ddpms_load_strictly_and_are_small(name, size, channels):
    from dlviz.ddpm.sampling import schedule_for

    model, card = load_shipped(name, expected_arch="unet")       # strict load_state_dict inside
    c = model.config
    assert (c.image_size, c.in_channels, c.num_classes) == (size, channels, 10)
    assert schedule_for(model).kind == c.schedule and card["steps"] > 0 and "train_cpu_time_s" in card
    assert shipped()[name].path.stat().st_size < 800_000


def test_shipped_digits_ddpm_makes_the_digits_it_is_asked_for():
    from dlviz.ddpm.sampling import generate_per_class
    from dlviz.metrics import measure, real_reference

    model, card = load_shipped("ddpm_digits", expected_arch="unet")
    clf, _ = load_shipped("digits_cnn")
    x, y = generate_per_class(model, 5, num_steps=10, guidance=2.0, seed=123)     # other noise than the card's
    q = measure(x, y, clf, real_reference("digits"))
    assert q.accuracy >= 0.8, q.per_class_acc
    # unconditional samples (w = 0) are not steered: the classifier agrees with the label far less often
    x0, y0 = generate_per_class(model, 5, num_steps=10, guidance=0.0, seed=123)
    assert measure(x0, y0, clf, real_reference("digits")).accuracy < q.accuracy


def _app():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGE), default_timeout=600)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _settle(at, timeout: float = 300):
    """Rerun until no sampling job is left in the background (a script run itself never waits for one)."""
    t0 = time.time()
    while at.get("progress") and time.time() - t0 < timeout:
        time.sleep(1)
        at.run()
    assert not at.get("progress"), "sampling did not finish"


def _title(at, key: str) -> str:
    import json

    chart = next(c for c in at.get("plotly_chart") if key in c.proto.id)
    return json.loads(chart.proto.spec)["layout"]["title"]["text"]


def test_page_controls():
    at = _app()
    _ok(at)
    assert any("recognised" in m.label for m in at.metric)
    at.select_slider(key="ddpm-rev-t").set_value(100).run()
    _ok(at)
    at.slider(key="ddpm-fwd-t").set_value(1000).run()
    at.radio(key="ddpm-src").set_value("digit").run()
    _ok(at)
    at.selectbox(key="ddpm-cls").set_value("pizza slice").run()
    at.selectbox(key="ddpm-gen-model").set_value("digits").run()
    _ok(at)
    assert at.selectbox(key="ddpm-cls").value == "0"      # no pizza among the digits: back to the default class
    at.selectbox(key="ddpm-cls").set_value("one of each").run()
    at.toggle(key="ddpm-animate").set_value(True).run()
    _ok(at)
    at.toggle(key="ddpm-q-go").set_value(True).run()
    _ok(at)
    _settle(at)
    _ok(at)
    assert any("Recognised as the requested class" == m.label for m in at.metric)
    assert any(m.label == "No object" for m in at.metric)


def test_a_global_seed_above_10000_is_the_sampling_seed():
    """Issue 15: "Seed (x_T)" was capped at 10,000 but defaulted to the Global seed (up to 2**31 - 1)."""
    from streamlit.testing.v1 import AppTest

    for seed in (10_001, 2**31 - 1):
        at = AppTest.from_file(str(PAGE), default_timeout=600)
        at.session_state["dlviz_seed"] = seed          # the Session sidebar's key (``seed`` once it is in the URL)
        at.session_state["seed"] = seed
        at.run()
        _ok(at)
        assert at.number_input(key="ddpm-seed").value == seed
        assert any("recognised" in m.label for m in at.metric)


def test_long_sampling_never_blocks_a_script_run():
    """Issue 15: DDIM 1,000 steps (and DDPM) ran > 120 s in one script run. Now the run returns at once, the
    progress shows, and the result arrives in a later run with its measured time beside the estimate."""
    at = _app()
    at.selectbox(key="ddpm-gen-model").set_value("digits")
    at.slider(key="ddpm-n").set_value(2)
    at.select_slider(key="ddpm-ddim-steps").set_value(1000)
    t0 = time.perf_counter()
    at.run()
    assert time.perf_counter() - t0 < 10                    # 2,000 network evaluations were not waited for
    _ok(at)
    assert any("in the background" in p.proto.text for p in at.get("progress"))
    assert not any(m.label.startswith("DDIM: recognised") for m in at.metric)
    _settle(at)
    _ok(at)
    assert any(m.label.startswith("DDIM: recognised") for m in at.metric)
    assert any("took" in c.value and "2,000 network evaluations" in c.value for c in at.caption)
    toggle = at.toggle(key="ddpm-run-ddpm")
    assert "estimate ≈" in toggle.label                   # measured time per step x 1,000, called an estimate


def test_the_scrubber_reads_the_noise_level_the_panel_shows():
    """Issue 15: the scrub slider read 590 while the panel said t = 600. Its options are the recorded levels."""
    at = _app()
    scrub = at.select_slider(key="ddpm-rev-t")
    assert scrub.value == 601 and f"t = {scrub.value}" in _title(at, "ddpm-rev-ddim")
    # DDIM 50 steps, leading spacing, visits 981, 961, ..., 1 (every 20th level, one below the trailing grid) and 0
    assert all(int(t) % 20 == 1 or int(t) == 0 for t in scrub.options)
    scrub.set_value(581).run()
    assert "t = 581" in _title(at, "ddpm-rev-ddim")
    at.select_slider(key="ddpm-ddim-steps").set_value(20).run()          # now every 50th: 581 is gone
    _ok(at)
    scrub = at.select_slider(key="ddpm-rev-t")
    assert scrub.value == 601 and f"t = {scrub.value}" in _title(at, "ddpm-rev-ddim")
    at.radio(key="ddpm-spacing").set_value("trailing").run()              # from T: 1000, 950, ..., 600 is there
    _ok(at)
    scrub = at.select_slider(key="ddpm-rev-t")
    assert "1000" in scrub.options and scrub.value == 600 and "t = 600" in _title(at, "ddpm-rev-ddim")


@pytest.mark.slow
def test_page_ddpm_beside_ddim_and_live_training():
    at = _app()
    at.selectbox(key="ddpm-gen-model").set_value("digits")
    at.slider(key="ddpm-n").set_value(2).run()
    at.toggle(key="ddpm-run-ddpm").set_value(True).run()
    _ok(at)
    _settle(at)
    _ok(at)
    assert any("took" in c.value and "estimated ≈" in c.value for c in at.caption)
    verdicts = [m.label for m in at.metric if m.label.endswith(": recognised as the requested class")]
    assert [v.split(":")[0] for v in verdicts] == ["DDPM", "DDIM"], verdicts
    at.number_input(key="ddpm-steps").set_value(30)
    at.select_slider(key="ddpm-snap").set_value(25).run()
    at.button(key="ddpm-train").click().run()
    _ok(at)
    import ui

    run = at.session_state[ui._run_key("ddpm")] if ui._run_key("ddpm") in at.session_state else None
    assert run is not None
    t0 = time.time()
    while run.active and time.time() - t0 < 300:
        time.sleep(1)
    assert run.trainer.status == "finished", run.trainer.message
    at.run()
    _ok(at)
    assert "my trained model" in at.selectbox(key="ddpm-gen-model").options
    at.selectbox(key="ddpm-gen-model").set_value("my trained model").run()
    _ok(at)
