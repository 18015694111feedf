"""The shared training panel acts before it draws: Train greys out, and Stop shows the stopped run, in the one
script run their click causes (no second, st.rerun()-triggered run of the whole page)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from pagetest import PAGES, errors, run_of, stop_runs


def test_stop_redraws_the_stopped_run_in_the_same_rerun():
    at = AppTest.from_file(str(PAGES / "convolutions.py"), default_timeout=180)
    at.query_params["conv-steps"] = "20000"
    at.run()
    at.button(key="conv-train").click().run()
    run = run_of(at, "conv")
    try:
        assert run is not None and run.active
        assert at.button(key="conv-stop").disabled is False and at.button(key="conv-train").disabled is True
        at.button(key="conv-stop").click().run()         # one script run, no st.rerun() after it
        assert not errors(at), errors(at)
        assert not run.active
        assert at.button(key="conv-stop").disabled is True and at.button(key="conv-train").disabled is False
        assert at.button(key="conv-pause").disabled is True
    finally:
        stop_runs(at, "conv")
