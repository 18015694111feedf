"""The seq2seq page, issues 15 and 17: the longest legal input of every task decodes greedily and with the widest
beam, over-long or odd input gets a short message, a link reopens task, model and beam, the notebook snippet prints
the exact match the page shows, and the GIF replays the attention one decoding step at a time."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from pagetest import errors
from streamlit.testing.v1 import AppTest

from dlviz.checkpoints import load_shipped, shipped
from dlviz.data import DataError
from dlviz.data.seq2seq_tasks import TASK_NAMES, task_spec, tokenize
from dlviz.seq2seq import core as C
from dlviz.seq2seq import views as V

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "seq2seq.py")
pytestmark = pytest.mark.skipif("s2s_dates_attn" not in shipped(), reason="needs the shipped seq2seq checkpoints")


def _page(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    if params:
        at.query_params.update(params)
    at.run()
    assert not errors(at), errors(at)
    return at


def _downloads(at: AppTest) -> list[str]:
    return [d.proto.id for d in at.get("download_button")]


def _longest(task: str) -> str:
    spec = task_spec(task)
    tok = spec.src_tokens[-1]
    return " ".join([tok] * spec.max_src_len) if spec.word_level else tok * spec.max_src_len


# ---------------------------------------------------------------- typed input
def test_read_typed_keeps_messages_short_and_tokens_exact():
    dates, words = task_spec("dates"), task_spec("translate")
    assert C.read_typed(dates, "3rd of march 1998") == tokenize(dates, "3rd of march 1998")
    with pytest.raises(DataError, match=r"1,000,000 characters; this model reads at most 24 characters") as e:
        C.read_typed(dates, "1" * 1_000_000)
    assert len(str(e.value)) < 120
    with pytest.raises(DataError, match="is not in this task's vocabulary") as e:
        C.read_typed(words, "the big " + "a" * 300)
    assert "'" + "a" * C.MAX_TYPED_WORD + "…'" in str(e.value) and "a" * (C.MAX_TYPED_WORD + 1) not in str(e.value)
    with pytest.raises(DataError, match="15 words; this model reads at most 14"):
        C.read_typed(words, _longest("translate") + " a")


@pytest.mark.parametrize("task,text", [("dates", "1" * 1_000_000), ("translate", "the " + "a" * 5000),
                                       ("reverse", "ab\x00cd"), ("numbers", "ÿ€漢字🙂")])
def test_odd_input_gets_a_short_message(task, text):
    at = _page()
    at.sidebar.selectbox(key="s2s-task").set_value(task).run()
    at.text_input(key=f"s2s-text-{task}").set_value(text).run()
    assert not at.exception
    assert at.error and all(len(e.value) < 400 for e in at.error), [e.value[:100] for e in at.error]


@pytest.mark.parametrize("task", [t for t in TASK_NAMES if any(n.startswith(f"s2s_{t}") for n in shipped())])
def test_the_longest_legal_input_decodes_greedy_and_with_the_widest_beam(task):
    at = _page()
    at.sidebar.selectbox(key="s2s-task").set_value(task).run()
    at.text_input(key=f"s2s-text-{task}").set_value(_longest(task)).run()
    for width in (1, 8):
        at.slider(key="s2s-beam").set_value(width).run()
        assert not errors(at), (task, width, errors(at))
        assert any(m.label == "The model writes" for m in at.metric)


# ---------------------------------------------------------------- links, exports and the snippet
def test_a_link_reopens_task_model_and_beam_and_the_snippet_prints_the_page_number():
    plain = f"shipped · {'no attention (one fixed vector)'}"
    at = _page({"s2s-task": task_spec("reverse").label, "s2s-src-reverse": plain, "s2s-beam": "8",
                "s2s-text-reverse": "abcdefghabcd"})
    assert at.sidebar.selectbox(key="s2s-task").value == "reverse"
    assert at.radio(key="s2s-src-reverse").value == "s2s_reverse_plain"
    assert at.slider(key="s2s-beam").value == 8
    assert at.text_input(key="s2s-text-reverse").value == "abcdefghabcd"
    assert not any(i.endswith("s2s-align-gif") for i in _downloads(at))      # no attention: nothing to replay
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    shown = code.splitlines()[0].rsplit(" = ", 1)[1]
    assert shown in [m.value for m in at.metric]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
    assert out.getvalue().strip().splitlines()[-1] == shown


def test_the_default_view_exports_the_alignment_the_curve_and_a_gif():
    ids = _downloads(_page())
    for key in ("s2s-align-figcsv", "s2s-align-gif", "s2s-length-figcsv", "s2s-nb-snippet"):
        assert any(i.endswith(key) for i in ids), key


# ---------------------------------------------------------------- the GIF
def test_decoding_frames_write_one_step_at_a_time():
    from dlviz.attention.views import cell_size, heat_rgb, matrix_layout

    model = load_shipped("s2s_dates_attn")[0]
    v = V.attention_view(C.decode(model, "3rd of march 1998"))
    frames = V.decoding_frames(v)
    T, S = v.alpha.shape
    assert len(frames) == T == len(v.out_labels) and len({f.shape for f in frames}) == 1
    c = cell_size(max(T, S), room=420, lo=8, hi=24)
    top, left, _, _ = matrix_layout((c, c), v.out_labels, v.src_labels, "title")
    colours = heat_rgb(v.alpha, 0.0, 1.0, "Blues")
    truth = np.zeros((T, S), dtype=bool)
    truth[:len(v.truth)] = v.truth[:T] > 0
    red = np.array([215, 25, 28])
    for t, f in enumerate(frames):
        for i in range(T):
            for j in range(S):
                centre = f[top + i * c + c // 2, left + j * c + c // 2]
                assert (centre == (colours[i, j] if i <= t else 246)).all(), (t, i, j)
                if i not in (t - 1, t):                        # the step's black frame covers these edges
                    corner = f[top + (i + 1) * c - 1, left + (j + 1) * c - 1]
                    assert (corner == red).all() == bool(truth[i, j] and i <= t), (t, i, j)
