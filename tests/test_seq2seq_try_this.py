"""The seq2seq page's "try this" prompts, each opened through a link (every control is bound to the URL) and
checked against what the page shows with the shipped models (the pattern of tests/test_try_this.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from pagetest import errors
from streamlit.testing.v1 import AppTest

from dlviz.checkpoints import load_shipped, shipped
from dlviz.data.seq2seq_tasks import task_spec
from dlviz.seq2seq import core as C

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "seq2seq.py")
NEEDS = {"s2s_dates_attn", "s2s_reverse_attn", "s2s_reverse_plain", "s2s_translate_attn", "s2s_translate_plain"}
pytestmark = pytest.mark.skipif(not NEEDS <= set(shipped()), reason="the seq2seq checkpoints are not shipped")


def _label(task: str) -> str:
    return task_spec(task).label            # a bound selectbox keeps its option's label in the URL


def _open(**params) -> tuple[AppTest, dict]:
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params.update(params)
    at.run()
    assert not errors(at), errors(at)
    for k, v in params.items():                        # the link really set what the prompt asks for (a value
        assert at.query_params.get(k, v) == v, (k, v)  # equal to the widget's default leaves the URL)
    return at, {m.label: m for m in at.metric}


def _pct(s: str) -> float:
    return float(re.search(r"(-?[\d.]+)\s*%", s).group(1)) / 100


@pytest.mark.parametrize("text", ["july 4, 1776", "04/07/1776"])
def test_another_date_format_same_answer_month_digits_on_the_month(text):
    """'Type a date in another format: the answer is the same, and the month digits still attend to the month.'"""
    _, m = _open(**{"s2s-text-dates": text})
    assert m["The model writes"].value == m["Right answer"].value == "1776-07-04"
    model, _ = load_shipped("s2s_dates_attn", expected_arch="seq2seq")
    d = C.decode(model, text)
    for t in (5, 6):                                   # the two month digits of yyyy-mm-dd
        assert int(np.argmax(d.alpha[t])) in d.true_alignment[t], (t, d.alpha[t].round(2))


def test_reverse_chart_plain_model_falls_apart_on_long_inputs():
    """'Compare the two shipped models on the chart: the model without attention falls apart on the longest.'"""
    at, m = _open(**{"s2s-curve-task": _label("reverse")})
    assert at.selectbox(key="s2s-curve-task").value == "reverse"
    att, plain = m["shipped · additive attention (Bahdanau)"], m["shipped · no attention (one fixed vector)"]
    assert _pct(att.delta) >= 0.95 and _pct(plain.delta) <= 0.10      # the longest bucket
    assert _pct(plain.value) < _pct(att.value)


def test_twenty_letters_an_anti_diagonal_one_column_right():
    """'Type 20 letters: an anti-diagonal one column right of the true one (Alignment matches low, ± 1 not).'"""
    text = "abcdefghhgfedcbaabcd"
    _, m = _open(**{"s2s-task": _label("reverse"), "s2s-text-reverse": text})
    assert m["The model writes"].value == text[::-1] and m["Right answer"].delta == "exact match"
    score = m["Alignment matches"]
    assert _pct(score.value) < 0.5 and _pct(score.delta) >= 0.9
    model, _ = load_shipped("s2s_reverse_attn", expected_arch="seq2seq")
    arg = C.decode(model, text).alpha.argmax(1)[1:len(text)]          # steps 1..19 (step 0 is on the mark)
    assert (arg == len(text) - np.arange(1, len(text))).mean() >= 0.9   # S - t: the true S - 1 - t, plus one


def test_toy_translation_attention_finds_the_non_diagonal_alignment():
    """'Pick toy translation: the alignment is far from the diagonal, and the model with attention finds it; the
    same model without attention hardly translates a long sentence.'"""
    label = _label("translate")
    _, m = _open(**{"s2s-task": label, "s2s-curve-task": label})
    assert m["Right answer"].delta == "exact match" and _pct(m["Alignment matches"].value) >= 0.9
    assert _pct(m["shipped · no attention (one fixed vector)"].delta) <= 0.05
    model, _ = load_shipped("s2s_translate_attn", expected_arch="seq2seq")
    test = C.test_set(C.spec_of(model), 60).examples
    hits, off_diagonal = [], []
    for e in test:
        d = C.decode(model, " ".join(e.source))
        hits.append(C.alignment_score(d.alpha, e.alignment).hits)
        off_diagonal.append(np.mean([i not in js for i, js in enumerate(e.alignment) if js]))
    assert np.mean(hits) >= 0.9 and np.mean(off_diagonal) >= 0.5     # most target words sit off the diagonal


@pytest.mark.parametrize("text,message", [("3rd of märz 1998", "vocabulary"), ("1" * 40, "at most")])
def test_outside_the_vocabulary_or_too_long_is_refused_with_a_reason(text, message):
    """'Type a word outside the vocabulary, or an input longer than the limit: the model refuses, and says why.'"""
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params.update({"s2s-text-dates": text})
    at.run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
