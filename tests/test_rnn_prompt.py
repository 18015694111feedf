"""The RNN page's sampling prompt says what it does with input it cannot read as typed (issues 14, 15): an empty
prompt, characters the model never saw (accents, NUL) and a prompt over the limit (up to 1 MB) each get a message
*and* an answer -- a long prompt is cut to its last characters, never refused, never silence."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.models import build_model
from dlviz.rnn_hidden_states import sampling as G

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "rnn_hidden_states.py")
MB = "x = f(y)\n" * 116_509          # just over 1,000,000 characters of plain code


def test_read_prompt_names_what_it_does():
    m = build_model("char_rnn", hidden_size=8)
    assert G.read_prompt(m, "def f(x):\n") == ("def f(x):\n", [])
    used, notes = G.read_prompt(m, "")
    assert used == "" and len(notes) == 1 and "empty" in notes[0]
    used, notes = G.read_prompt(m, "é = 1\t")
    assert used == "é = 1\t" and "'é'" in notes[0] and "'\\t'" in notes[0] and "unknown" in notes[0]
    used, notes = G.read_prompt(m, "def \x00")
    assert used == "def \x00" and "'\\x00'" in notes[0]
    assert len(MB) > 1_000_000
    used, notes = G.read_prompt(m, MB)
    assert used == MB[-G.MAX_PROMPT:] and len(used) == G.MAX_PROMPT          # the last characters, exactly
    assert len(notes) == 1 and f"{len(MB):,}" in notes[0] and "last 2,000" in notes[0]
    used, notes = G.read_prompt(m, "é" * 3000)                                # both problems: both notes
    assert len(used) == G.MAX_PROMPT and len(notes) == 2


@pytest.fixture(scope="module")
def at() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=180)
    app.run()
    app.session_state["rnn-tab"] = "Sampling"
    app.run()
    return app


def _sample(at: AppTest) -> str:
    return next(c.value for c in at.code if not c.value.startswith("# dlviz"))


@pytest.mark.parametrize("prompt,text,starts", [
    ("", "empty", ""), ("é€", "never saw", "é€"), ("def \x00", "'\\x00'", "def \x00"),
    (MB, "reads only its last 2,000", "…"), ("\x00" * 5000, "reads only its last 2,000", "…\x00"),
])
def test_the_sampling_tab_explains_bad_prompts_and_still_answers(at, prompt, text, starts):
    at.text_input(key="rnn-prompt").input(prompt).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    shown = [w.value for w in at.warning]
    assert any(text in s for s in shown), shown
    sample = _sample(at)
    assert sample.startswith(starts) and len(sample) > len(starts)          # an answer, not silence
    assert len(sample) <= 1 + G.MAX_PROMPT + 300                             # never the 1 MB echoed back
    assert any(m.label == "Entropy of the next character" for m in at.metric)
    at.text_input(key="rnn-prompt").input("def ").run()
    assert not at.exception and not at.warning
