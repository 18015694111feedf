"""Encoder-decoders and the birth of attention (Bahdanau, Cho & Bengio 2015): type an input, watch the
decoder's attention walk across it beside the known true alignment, and measure exact match against
input length with and without attention -- on shipped checkpoints or on models trained live."""

from __future__ import annotations

import zlib

import numpy as np

import share
import streamlit as st
import ui

from dlviz.checkpoints import shipped
from dlviz.data import DataError
from dlviz.data.seq2seq_tasks import TASK_NAMES, NotInGrammar, detokenize, target_and_alignment, task_spec
from dlviz.seq2seq import core as C
from dlviz.seq2seq import plots as P
from dlviz.seq2seq import views as V
from dlviz.seq2seq.recipes import PLANS
from dlviz.seq2seq.training import LIVE_DEFAULTS, make_trainer, new_model

PAGE_INFO = {
    "title": "Encoder–decoder and attention",
    "icon": ":material/translate:",
    "section": "Sequence models",
    "order": 30,
    "question": "Why does a decoder that may look back at its input beat one that must remember it?",
    "thumbnail": "dlviz.seq2seq.views:thumbnail",
}
K, BIND = "s2s", "query-params"          # BIND: the control is in the URL
ATT_LABEL = {"additive": "additive attention (Bahdanau)", "dot": "dot-product attention (Luong)",
             "none": "no attention (one fixed vector)"}

ui.page_header(PAGE_INFO, (
    "An **encoder** RNN reads the input; a **decoder** RNN writes the output one token at a time. Without "
    "attention the decoder sees the input only through one fixed-length vector, the encoder's final state "
    "(Cho et al. 2014). With **attention** (Bahdanau, Cho & Bengio 2015) every output step scores every "
    "encoder state, $\\alpha_{tj} = \\mathrm{softmax}_j\\, e(s_{t-1}, h_j)$, and reads their weighted mean "
    "$c_t = \\sum_j \\alpha_{tj} h_j$. On these tasks the right alignment is known, so the attention can be "
    "*scored*, and so can the price of the fixed vector on long inputs."))

# ---------------------------------------------------------------- sidebar: task and live training
task = st.sidebar.selectbox("Task", TASK_NAMES, format_func=lambda t: task_spec(t).label, key=f"{K}-task",
                            bind=BIND)
spec = task_spec(task)
st.sidebar.header("Train an encoder–decoder")
attention = st.sidebar.radio("Attention", ["additive", "dot", "none"], format_func=ATT_LABEL.get, key=f"{K}-att",
                             bind=BIND)
both = st.sidebar.toggle("Also train the same model without attention, side by side", key=f"{K}-both",
                         disabled=attention == "none", bind=BIND)
c1, c2 = st.sidebar.columns(2)
cell = c1.selectbox("Cell", ["gru", "lstm"], key=f"{K}-cell", bind=BIND)
hidden = c2.select_slider("Units", [16, 32, 64, 128], 64, key=f"{K}-hidden", bind=BIND)
tf = st.sidebar.slider("Teacher-forcing ratio", 0.0, 1.0, 1.0, 0.05, key=f"{K}-tf", bind=BIND,
                       help="How often the decoder is fed the true previous token while training; otherwise it "
                            "is fed its own prediction (Bengio et al. 2015, scheduled sampling).")
hp = ui.hyperparameters(K, **LIVE_DEFAULTS, max_steps=10_000)


def start_training():
    from dlviz.train import make_optimizer

    kinds = [attention] + (["none"] if both and attention != "none" else [])
    runs = {}
    for a in kinds:
        import torch

        torch.manual_seed(ui.session().seed)
        m = new_model(task, a, cell=cell, hidden_size=hidden)
        opt = make_optimizer(hp.optimizer, m.parameters(), hp.lr, hp.weight_decay)
        t = make_trainer(m, steps=hp.steps, batch_size=hp.batch_size, teacher_forcing=tf, optimizer=opt,
                         seed=ui.session().seed, eval_every=max(50, hp.steps // 12), name=ATT_LABEL[a])
        t.s2s_task = task
        runs[ATT_LABEL[a]] = t
    return runs


run = ui.training_panel(K, start_training)
ui.training_monitor(K, metrics=("loss", "exact_match"))

# ---------------------------------------------------------------- which models
AVAILABLE = shipped()


def models_for(t: str) -> tuple[dict, dict]:
    """``(shipped {name: plan}, live {"live:name": trainer})`` of task ``t``."""
    ship = {n: p for n, p in PLANS.items() if p[0] == t and n in AVAILABLE}
    lv = {f"live:{n}": tr for n, tr in (run.trainers.items() if run is not None else [])
          if getattr(tr, "s2s_task", None) == t and tr.step > 0}
    return ship, lv


SHIPPED, live = models_for(task)
sources = list(SHIPPED) + list(live)


def source_label(s: str) -> str:
    if s in PLANS:
        return f"shipped · {ATT_LABEL[PLANS[s][1]]}"
    return f"my run · {s[5:]}"


def load(s: str):
    """``(model, key)``: a shipped model (shared: never mutated) or a copy of a live run at its current step."""
    if s in PLANS:
        return ui.load_shipped(s, expected_arch="seq2seq")[0], s
    t = run.trainers[s[5:]]
    return t.model_copy(), f"{s}-{id(t)}-{t.step}"


@st.cache_resource(max_entries=16, show_spinner="Decoding 600 held-out examples...")
def length_curve(key: str, _model) -> C.LengthCurve:
    return C.exact_match_by_length(_model, C.test_set(C.spec_of(_model), 600))


# ---------------------------------------------------------------- 1. type an input, see the attention
def typed_input() -> None:
    st.subheader("1 · Type an input: where does the decoder look?")
    _typed_body()


@st.fragment          # its controls (text, model, beam width) rerun only this section
def _typed_body() -> None:
    if not sources:
        st.info(f"No model for *{spec.label}* is shipped: press **Train** in the sidebar (the progress bar shows "
                "the time left). Meanwhile, here is the true alignment of your input.",
                icon=":material/model_training:")
    c1, c2, c3 = st.columns([3, 2, 1])
    text = c1.text_input("Input" + (" (words)" if spec.word_level else ""), spec.example, key=f"{K}-text-{task}",
                         bind=BIND, help=f"At most {spec.max_src_len} {'words' if spec.word_level else 'characters'}; "
                              f"the vocabulary: {' '.join(spec.src_tokens) if spec.word_level else ''.join(spec.src_tokens)!r}.")
    # one key per task (short, in the URL); a new live run gets a new key, so it opens selected
    src_key = f"{K}-src-{task}" + (f"-{zlib.crc32('|'.join(live).encode()) % 10**6}" if live else "")
    src = c2.radio("Model", sources, format_func=source_label, key=src_key, bind=BIND,
                   index=len(sources) - 1 if live else 0) if sources else None
    width = c3.slider("Beam width", 1, 8, 1, key=f"{K}-beam", bind=BIND, help="1 is greedy decoding.")
    try:
        toks = C.read_typed(spec, text)
    except DataError as e:
        st.error(str(e), icon=":material/keyboard:")
        return
    try:
        true_t, true_a = target_and_alignment(task, toks)
    except NotInGrammar:
        true_t, true_a = [], []
    if src is None:
        if true_t:
            d = C.Decoded(toks, [], np.zeros((0, len(toks))), 0.0, true_t, true_a)
            ui.show(P.alignment_figure(V.attention_view(d)), key=f"{K}-align-truth")
        else:
            st.warning("That is not a sentence of the task's grammar, so it has no true alignment.",
                       icon=":material/help:")
        return
    model, key = load(src)
    try:
        d = C.decode(model, text, beam_width=width)
    except DataError as e:                     # a model whose own limits differ from the task's
        st.error(str(e), icon=":material/keyboard:")
        return
    out = detokenize(spec, d.output)
    m1, m2, m3 = st.columns(3)
    m1.metric("The model writes", out or "(nothing)",
              help=f"log p = {d.log_prob:.2f} nats, {'greedy' if width == 1 else f'beam width {width}'}.")
    if true_t:
        score = C.alignment_score(d.alpha, d.true_alignment)
        m2.metric("Right answer", detokenize(spec, true_t), "exact match" if d.correct else "wrong",
                  delta_color="normal" if d.correct else "inverse")
        if model.config.attention == "none":
            m3.metric("Alignment matches", "–", help="Without attention there are no weights to score.")
        else:
            m3.metric("Alignment matches", f"{score.hits:.0%}", f"{score.near:.0%} within ± 1 position",
                      delta_color="off", delta_arrow="off",
                      help=f"Of the {score.scored} output tokens that come from somewhere in the input, the share "
                           f"whose most-attended input token is one they truly come from. Mean attention mass on "
                           f"the true positions: {score.mass:.0%}. The small number forgives one position: the "
                           f"encoder reads both ways, so its state at a token also describes the token's neighbours, "
                           f"and a decoder may read a token off its neighbour.")
    else:
        st.warning("That input is in the vocabulary but not in the task's grammar: there is no right answer or "
                   "true alignment to compare with -- see what the model makes of it.", icon=":material/help:")
    view = V.attention_view(d)
    fig = P.alignment_figure(view)
    ui.show(fig, key=f"{K}-align")
    cols = st.columns([1, 1, 3])
    share.figure_csv_download(fig, f"seq2seq-alignment-{task}", f"{K}-align", container=cols[0])
    if model.config.attention != "none" and len(view.alpha):
        share.gif_download(lambda: V.decoding_frames(view), f"seq2seq-attention-{task}", f"{K}-align",
                           container=cols[1], label="Step by step (GIF)", frame_ms=500)
    if model.config.attention == "none":
        st.caption("This model has no attention: the decoder saw only the encoder's final state, so the left map is "
                   "empty. Pick a model with attention to watch it walk across the input.")
    else:
        st.caption("Row t: how the decoder spread its attention over the input when it wrote output token t "
                   "(each row sums to 1). Right: the positions each output token truly comes from; a separator "
                   "such as the '-' of a date comes from nowhere, so its row is empty.")


# ---------------------------------------------------------------- 2. accuracy against input length
@st.fragment
def accuracy_vs_length() -> None:
    st.subheader("2 · Exact match against input length (Bahdanau et al. Fig. 2 in miniature)")
    with_models = [t for t in TASK_NAMES if any(models_for(t))]
    if not with_models:
        st.info("Train a model (tick *side by side* to get both curves) to see this chart.", icon=":material/show_chart:")
        return
    default = "reverse" if "reverse" in with_models else with_models[0]
    t = st.selectbox("Task for the chart", with_models, index=with_models.index(default), key=f"{K}-curve-task",
                     bind=BIND, format_func=lambda x: task_spec(x).label)
    ship, lv = models_for(t)
    curves = {}
    for s in [*ship, *lv]:
        model, key = load(s)
        curves[source_label(s)] = length_curve(key, model)
    fig = P.length_curve_figure(curves)
    ui.show(fig, key=f"{K}-length")
    share.figure_csv_download(fig, f"seq2seq-exact-match-by-length-{t}", f"{K}-length")
    cols = st.columns(len(curves))
    for col, (name, c) in zip(cols, curves.items()):
        longest = [(lab, v) for lab, v in zip(c.labels(), c.accuracy) if v == v][-1]
        col.metric(name, f"{c.overall:.1%}", f"{longest[1]:.0%} on length {longest[0]}", delta_color="off",
                   help=f"Exact match of greedy decoding on {int(c.counts.sum())} held-out examples; "
                        "the small number: on the longest inputs.")
    first = next(iter([*ship, *lv]))
    share.notebook(page="seq2seq", label=f"exact match of {source_label(first)} on {task_spec(t).label}",
                   shown=f"{curves[source_label(first)].overall:.1%}", key=f"{K}-nb",
                   body=V.snippet_exact_match(first if first in PLANS else None))
    st.caption("Each point: the share of held-out inputs of that length decoded exactly right (greedy decoding). "
               "The shipped models of a task have the same size and training budget; only the attention differs. "
               "Your runs join the chart when they train on the chart's task.")


typed_input()
accuracy_vs_length()
ui.try_this([
    "Type a date in another format (`july 4, 1776`, `04/07/1776`): the answer is the same, and the month digits "
    "still attend to the month, wherever it stands.",
    "Pick **reverse a string** and compare the two shipped models on the chart: the model without attention falls "
    "apart on the longest inputs. Then type 20 letters and look at the attention: an anti-diagonal, but one column "
    "right of the true one -- at each step the decoder looks at the letter it wrote last and reads the next one off "
    "the encoder's two-way state there (*Alignment matches* is low, *within ± 1* is not).",
    "Pick **toy translation**: B is verb-final and mirrors every noun phrase, so the true alignment is far from the "
    "diagonal -- and the shipped model with attention finds it. On the chart, the same model without attention "
    "hardly translates a long sentence.",
    "Set the teacher-forcing ratio to 0 and train again: slower at first? Set the beam width to 8: does the "
    "answer change where greedy decoding was wrong?",
    "Type a word outside the vocabulary, or an input longer than the limit: the model refuses, and says why.",
])
