"""The Transformer-attention page, issues 15 and 17: extreme architectures and sequence lengths trained live render
every view, a model whose symbols cannot spell the hand-made example opens on a held-out one, a bad input is a
message that leaves the other sections standing, links reopen the view, the snippet prints the page's number with
the heads and the mask as set, and the GIFs show the attention step by step with the figures' own colours."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from pagetest import errors, stop_runs
from streamlit.testing.v1 import AppTest

from dlviz.attention import training as T
from dlviz.attention import views as V
from dlviz.checkpoints import shipped

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "attention.py")
pytestmark = pytest.mark.skipif("attn_reverse" not in shipped(), reason="needs the shipped attention checkpoints")


def _page(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    if params:
        at.query_params.update(params)
    at.run()
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _downloads(at: AppTest) -> list[str]:
    return [d.proto.id for d in at.get("download_button")]


# ---------------------------------------------------------------- defaults that fit the model
def test_default_input_fits_every_vocabulary():
    small = T.TaskSpec("induction", 4, 2, "decoder", min_length=2)          # symbols 'ab': no k3x9... to keep
    allowed, text = V.default_input(small)
    assert text == T.example_text(small, seed=0) and len(text) >= 2
    T.encode_text(small, text)                                              # readable by the model
    allowed, text = V.default_input(T.TaskSpec("reverse", 8, 8, "decoder"))
    assert text == "abcdefgh" and "|" not in allowed                        # the separator is not typeable
    assert V.default_input(T.TaskSpec("sort", 4, 3, "encoder"))[1] == "cab"  # 'hcafbdge' kept to the symbols a-c


# ---------------------------------------------------------------- extremes trained live
COMBOS = [  # task, layout, length, symbols, layers, heads, width, positions
    ("induction", "decoder", 4, 2, 1, 1, 16, "none"),
    ("sort", "encoder", 16, 36, 4, 4, 16, "sinusoidal"),
    ("bracket_depth", "decoder", 16, 8, 1, 4, 64, "learned"),
]


@pytest.mark.parametrize("combo", COMBOS, ids=[c[0] + "-" + c[1] for c in COMBOS])
def test_extreme_architectures_render_every_view(combo):
    task, layout, length, vocab, L, H, W, pos = combo
    at = _page()
    at.sidebar.selectbox(key="attn-task").set_value(task).run()
    at.sidebar.selectbox(key="attn-layout").set_value(layout).run()
    at.sidebar.slider(key=f"attn-len-{task}").set_value(length).run()
    if task != "bracket_depth":
        at.sidebar.slider(key=f"attn-vocab-{task}").set_value(vocab).run()
    for key, v in (("attn-layers", L), ("attn-heads", H), ("attn-width", W), ("attn-pos", pos)):
        at.sidebar.selectbox(key=key).set_value(v).run()
    at.sidebar.number_input(key="attn-steps").set_value(20).run()
    at.sidebar.button(key="attn-train").click().run()
    try:
        run = at.session_state["dlviz-run-attn"]
        run.trainer.join(120)
        assert run.trainer.status == "finished", run.trainer.message
        at.run()
        assert not errors(at), errors(at)                 # the default input fits the live model's symbols
        assert len(at.multiselect[0].options) == L * H
        for what in ["scores QKᵀ/√d", "arcs", "attention weights"]:
            at.radio(key="attn-what").set_value(what).run()
            assert not errors(at), (what, errors(at))
        next(b for b in at.button if b.key.startswith("attn-example")).click().run()
        assert not errors(at), errors(at)
        assert any(k.endswith("attn-replay-gif") for k in _downloads(at))   # the training replay as a GIF
    finally:
        stop_runs(at, "attn")


# ---------------------------------------------------------------- bad input: a message, the rest stays
@pytest.mark.parametrize("text", ["", "ab\x00cd", "é", "abcdefghabcdefgh"])
def test_a_bad_input_is_a_message_and_the_other_sections_stay(text):
    at = _page()
    at.text_input(key="attn-text-attn_reverse-reverse").set_value(text).run()
    assert not at.exception
    assert at.error                                                   # says why
    headers = [h.value for h in at.header]
    assert any(h.startswith("3 · Which heads matter") for h in headers) and _metric(at, "Accuracy with every head on")


# ---------------------------------------------------------------- links and the snippet
def test_a_link_reopens_model_heads_mask_and_view_and_the_snippet_agrees():
    at = _page({"attn-model": "attn_induction", "attn-off-attn_induction": "L1H2",
                "attn-causal-attn_induction": "false", "attn-what": "arcs"})
    assert not errors(at), errors(at)
    assert at.sidebar.selectbox(key="attn-model").value == "attn_induction"
    assert at.multiselect(key="attn-off-attn_induction").value == ["L1H2"]
    assert at.toggle(key="attn-causal-attn_induction").value is False
    assert at.radio(key="attn-what").value == "arcs"
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    assert "off = ['L1H2']" in code and "causal=False" in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
    assert out.getvalue().strip().splitlines()[-1] == _metric(at, "Held-out token accuracy")
    base = _page({"attn-model": "attn_induction"})
    assert _metric(base, "Held-out token accuracy") != _metric(at, "Held-out token accuracy")   # the setting counts


def test_the_default_view_exports_csv_a_gif_and_the_snippet():
    ids = _downloads(_page())
    for key in ("attn-grid-figcsv", "attn-grid-gif", "attn-entropy-figcsv", "attn-ablation-figcsv", "attn-nb-snippet"):
        assert any(i.endswith(key) for i in ids), key


# ---------------------------------------------------------------- the GIF frames
def test_query_frames_reveal_one_query_at_a_time_in_the_figure_colours():
    rng = np.random.default_rng(0)
    Tn = 6
    w = rng.dirichlet(np.ones(Tn), size=(1, 1, Tn))                   # (L=1, H=1, T, T), rows sum to 1
    tokens = list("abc|cb")
    frames = V.query_frames(w, tokens)
    assert len(frames) == Tn and len({f.shape for f in frames}) == 1
    c = V.cell_size(Tn, room=420)
    top, left, _, _ = V.matrix_layout((c, c), tokens, tokens, "title")
    colours = V.heat_rgb(w[0, 0], 0.0, 1.0, "Blues")
    for q, f in enumerate(frames):
        for i in range(Tn):
            for j in range(Tn):
                px = f[top + i * c + c // 2, left + j * c + c // 2]
                assert (px == (colours[i, j] if i <= q else 246)).all(), (q, i, j)


def test_training_frames_one_per_snapshot():
    snaps = [(s, {"weights": np.full((2, 1, 3, 3), s / 100), "tokens": list("abc"), "patterns": {}})
             for s in (10, 50, 90)]
    frames = V.training_frames(snaps)
    assert len(frames) == 3
    assert not np.array_equal(frames[0], frames[2])                   # the weights changed, so did the picture


def test_heat_rgb_uses_the_plotly_scale_and_greys_nan():
    from plotly.colors import sample_colorscale

    lo, hi = V.heat_rgb(np.array([0.0, 1.0]), 0, 1, "Blues")
    assert tuple(lo) == tuple(int(round(float(v))) for v in sample_colorscale("Blues", [0.0])[0][4:-1].split(","))
    assert tuple(hi) == tuple(int(round(float(v))) for v in sample_colorscale("Blues", [1.0])[0][4:-1].split(","))
    assert tuple(V.heat_rgb(np.array([np.nan]), 0, 1)[0]) == (235, 235, 235)


def test_every_control_of_every_view_is_bound_to_the_url():
    kinds = ("selectbox", "radio", "slider", "select_slider", "number_input", "checkbox", "toggle", "multiselect",
             "text_input")
    for params in ({}, {"attn-what": "arcs"}, {"attn-model": "attn_code"}, {"attn-model": "attn_code", "attn-what": "arcs"}):
        at = _page(params)
        loose = {w.key for kind in kinds for w in getattr(at, kind)
                 if w.key and not getattr(w.proto, "query_param_key", "")}
        assert not loose, (params, loose)
        if params.get("attn-model") == "attn_code" and "attn-what" not in params:
            assert any(w.key == "attn-grid-head" for w in at.selectbox)       # the one-head view of a long input
