"""The Transformer-attention page under AppTest: every control path renders, bad input is a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlviz.checkpoints import shipped

PAGE = Path(__file__).resolve().parent.parent / "pages" / "attention.py"
pytestmark = pytest.mark.skipif("attn_reverse" not in shipped(), reason="needs the shipped attn_reverse checkpoint")


def _problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [f"st.error: {e.value}" for e in at.error]


@pytest.fixture(scope="module")
def at() -> AppTest:
    app = AppTest.from_file(str(PAGE), default_timeout=120)
    app.run()
    assert not _problems(app), _problems(app)
    return app


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_default_view_measures_the_mirror(at):
    assert _metric(at, "Accuracy on this input") == "100%"
    assert _metric(at, "Matches the algorithm") == "100%"


def test_bad_characters_are_a_message_not_a_traceback(at):
    box = at.text_input(key="attn-text-attn_reverse-reverse")
    box.set_value("abz!").run()
    assert not at.exception
    assert any("not in this model's vocabulary" in e.value for e in at.error)
    box.set_value("abcdefgh").run()
    assert not _problems(at)


def test_heads_off_and_mask_off_change_the_measurement(at):
    at.multiselect(key="attn-off-attn_reverse").set_value(["L1H1", "L1H2"]).run()
    assert not _problems(at)
    broken = float(_metric(at, "Held-out token accuracy").rstrip("%"))
    assert broken < 50   # with both first-layer heads off nothing reads the mirrored token
    at.multiselect(key="attn-off-attn_reverse").set_value([]).run()
    at.toggle(key="attn-causal-attn_reverse").set_value(False).run()
    assert not _problems(at)
    at.toggle(key="attn-causal-attn_reverse").set_value(True).run()


@pytest.mark.parametrize("what", ["scores QKᵀ/√d", "arcs", "attention weights"])
def test_every_view_renders(at, what):
    at.radio(key="attn-what").set_value(what).run()
    assert not _problems(at)


@pytest.mark.parametrize("name", [n for n in ("attn_induction", "attn_sort", "attn_reverse_enc", "attn_code")
                                  if n in shipped()])
def test_every_shipped_model_renders_and_takes_a_random_example(at, name):
    at.selectbox(key="attn-model").set_value(name).run()
    assert not _problems(at)
    at.button(key=f"attn-example-{name}").click().run()
    assert not _problems(at)
