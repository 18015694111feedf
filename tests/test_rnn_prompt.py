"""The RNN page's sampling prompt says what it does with input it cannot read as typed (issue 14): an empty
prompt, characters the model never saw, and a prompt over the limit each get a message, never silence."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.rnn_hidden_states import sampling as G
from dlviz.data import DataError
from dlviz.models import build_model

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "rnn_hidden_states.py")


def test_check_prompt_names_the_problem():
    m = build_model("char_rnn", hidden_size=8)
    assert G.check_prompt(m, "def f(x):\n") is None
    assert "empty" in G.check_prompt(m, "")
    msg = G.check_prompt(m, "é = 1\t")
    assert "'é'" in msg and "'\\t'" in msg and "unknown" in msg
    with pytest.raises(DataError, match="at most 2,000"):
        G.check_prompt(m, "x" * 2001)


@pytest.fixture(scope="module")
def at() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=180)
    app.run()
    app.session_state["rnn-tab"] = "Sampling"
    app.run()
    return app


@pytest.mark.parametrize("prompt,where,text", [
    ("", "warning", "empty"), ("é€", "warning", "never saw"), ("x" * 2500, "error", "at most"),
])
def test_the_sampling_tab_explains_bad_prompts(at, prompt, where, text):
    at.text_input(key="rnn-prompt").input(prompt).run()
    assert not at.exception
    shown = [e.value for e in getattr(at, where)]
    assert any(text in s for s in shown), shown
    at.text_input(key="rnn-prompt").input("def ").run()
    assert not at.exception and not at.warning
