"""Transformer attention: what every head reads, the scores behind it, and whether it is the algorithm."""

from __future__ import annotations

import numpy as np
import share
import streamlit as st
import torch
import ui

from dlviz.attention import core as A
from dlviz.attention import plots as P
from dlviz.attention import training as T
from dlviz.attention import views as V
from dlviz.data import DataError

PAGE_INFO = {
    "title": "Transformer attention",
    "icon": ":material/hub:",
    "section": "Sequence models",
    "order": 20,
    "question": "Which token does each attention head read, and is that the algorithm the task needs?",
    "thumbnail": "dlviz.attention.core:thumbnail",
}

ui.page_header(PAGE_INFO, V.INTRO)
SHIPPED, RUN, BIND = V.SHIPPED, "attn", "query-params"      # BIND: the control is in the URL
n_seqs = V.n_seqs


# ---------------------------------------------------------------- cached analysis (keyed by the picked model's key)
@st.cache_data(show_spinner=False, max_entries=256)
def cached_view(source: str, text: str, causal: bool, mask: tuple, spec: T.TaskSpec, _model) -> A.AttentionView:
    hm = np.array(mask, dtype=np.float32).reshape(_model.config.n_layer, _model.config.n_head)
    return A.analyse(_model, spec, text, head_mask=None if hm.all() else hm, causal=causal)


@st.cache_data(show_spinner="Scoring every head on held-out sequences...", max_entries=32)
def cached_dataset_match(source: str, spec: T.TaskSpec, _model) -> dict:
    return A.dataset_match(_model, spec, n=n_seqs(spec, 4096))


@st.cache_data(show_spinner="Switching heads off one at a time...", max_entries=32)
def cached_ablation(source: str, spec: T.TaskSpec, keep: tuple, _model) -> A.Ablation:
    k = np.array(keep, dtype=np.float32).reshape(_model.config.n_layer, _model.config.n_head)
    return A.head_ablation(_model, spec, n=n_seqs(spec, 8000), keep=k)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_test_acc(source: str, spec: T.TaskSpec, mask: tuple, causal: bool, _model) -> dict:
    hm = torch.tensor(mask, dtype=torch.float32).view(_model.config.n_layer, _model.config.n_head)
    return T.task_metrics(_model, T.make_data(spec, n_seqs(spec, 8000), split="test"), head_mask=hm, causal=causal)


@st.cache_data(show_spinner=False, max_entries=128)
def fig_grid(vkey: tuple, scores: bool, outline: str, layer: int, head: int, _view: A.AttentionView):
    return P.view_grid(_view, scores, outline, layer, head)


@st.cache_data(show_spinner=False, max_entries=128)
def fig_arcs(vkey: tuple, layer: int, query, min_w: float, _view: A.AttentionView):
    T = len(_view.tokens)
    return P.arcs_figure(_view.weights[layer], _view.tokens, query=None if query == "all" else query,
                         min_weight=min_w, height=260 + 8 * min(T, 40))


@st.cache_data(show_spinner=False, max_entries=128)
def fig_entropy(vkey: tuple, _view: A.AttentionView):
    return P.entropy_figure(_view.entropy, float(A.max_entropy(len(_view.tokens), _view.causal).mean()))


@st.cache_data(show_spinner=False, max_entries=32)
def fig_positions(source: str, kind: str, reference: bool, _model):
    return P.positions_figures(_model, kind, reference)


def downloads(fig, name: str, key: str, gif=None, gif_label: str = "Animation (GIF)") -> None:
    """One compact row under a figure: its numbers as CSV (and a GIF where time is an axis), built on click."""
    cols = st.columns([1, 1, 3] if gif else [1, 4])
    share.figure_csv_download(fig, name, key, container=cols[0])
    if gif:
        share.gif_download(gif, name, key, container=cols[1], label=gif_label, frame_ms=250)


# ---------------------------------------------------------------- sidebar: live training
def sidebar_training():
    """The task and architecture to train, and the Train buttons; returns the run (or None)."""
    st.sidebar.header("Train a transformer")
    tc1, tc2 = st.sidebar.columns(2)
    task = tc1.selectbox("Task", ["reverse", "copy", "sort", "induction", "counting", "bracket_depth"],
                         key="attn-task", bind=BIND, format_func=lambda s: s.replace("_", " "))
    layout = tc2.selectbox("Layout", ["decoder", "encoder"], key="attn-layout", bind=BIND,
                           help="decoder: causal attention, copy/reverse/sort written as x|y and answered token by "
                                "token. encoder: bidirectional attention, output i beside input i.")
    tc3, tc4 = st.sidebar.columns(2)
    length = tc3.slider("Length", 4, 16, 16 if task == "induction" else 8, key=f"attn-len-{task}", bind=BIND)
    vocab = tc4.slider("Symbols", 2, 36, 26 if task == "induction" else 8, key=f"attn-vocab-{task}", bind=BIND,
                       disabled=task == "bracket_depth")
    ac1, ac2, ac3 = st.sidebar.columns(3)
    n_layer = ac1.selectbox("Layers", [1, 2, 3, 4], index=1 if task == "induction" else 0, key="attn-layers",
                            bind=BIND)
    n_head = ac2.selectbox("Heads", [1, 2, 4], index=1, key="attn-heads", bind=BIND)
    n_embd = ac3.selectbox("Width", [16, 32, 64], index=2, key="attn-width", bind=BIND)
    pc1, pc2 = st.sidebar.columns(2)
    positions = pc1.selectbox("Positions", ["learned", "sinusoidal", "none"], key="attn-pos", bind=BIND,
                              index=1 if task == "induction" else 0)
    mlp = pc2.toggle("MLP blocks", value=task != "induction", key="attn-mlp", bind=BIND,
                     help="Off: an attention-only transformer, the easiest to read.")
    hp = ui.hyperparameters("attn", lr=1e-3, steps=300, batch_size=64, optimizer="AdamW")

    def start_training():
        spec = T.TaskSpec(task, length, vocab, layout, min_length=length // 2 if task == "induction" else 0)
        seed = ui.session().seed
        torch.manual_seed(seed)
        model = T.build_for_task(spec, n_layer, n_head, n_embd, positions, 4 if mlp else 0)
        trainer = T.make_trainer(model, spec, hp.steps, lr=hp.lr, batch_size=hp.batch_size, optimizer=hp.optimizer,
                                 weight_decay=hp.weight_decay, seed=seed, device=ui.session().device,
                                 eval_every=max(10, min(50, hp.steps // 30)), n_eval=256, name="attention")
        return trainer, {"task": spec.to_dict(), "algorithm": T.ALGORITHM[spec.name]}

    return ui.training_panel(RUN, start_training)


# ---------------------------------------------------------------- the model to inspect
def pick_model():
    """The shipped checkpoint, this session's run or an upload; returns (picked, spec, widget-key stem)."""
    st.sidebar.header("Model to inspect")
    picked = ui.model_picker(RUN, list(SHIPPED), run_key=RUN, expected_arch="tiny_transformer")
    if picked is None:
        st.info("Pick a model in the sidebar, or press **Train** to train one.", icon=":material/arrow_back:")
        st.stop()
    if "task" not in picked.card:
        st.error("This checkpoint's card does not say which task it was trained on (`card['task']`).",
                 icon=":material/error:")
        st.stop()
    spec = T.TaskSpec.from_dict(picked.card["task"])
    cfg = picked.model.config
    # widget keys that survive training steps (but not a new architecture or task)
    wkey = {"shipped": picked.key.removeprefix("shipped:"),
            "trained": f"run-{cfg.n_layer}x{cfg.n_head}-{spec.name}-{spec.layout}"}.get(picked.source, picked.key)
    st.caption(V.model_caption(picked.model, spec, SHIPPED.get(wkey)))
    return picked, spec, wkey


# ---------------------------------------------------------------- 1. your input
@st.fragment
def your_input(picked, spec: T.TaskSpec, wkey: str) -> None:
    """Section 1: the attention of every head on one input the reader types (a bad input: a message, and the
    sections below, which do not depend on it, still show)."""
    model, source, card = picked.model, picked.key, picked.card
    cfg = model.config
    n_match, n_acc = n_seqs(spec, 4096), n_seqs(spec, 8000)
    st.header("1 · Attention on your input")
    head_names = V.head_names(cfg)
    text_key = f"attn-text-{wkey}-{spec.name}"
    c_in, c_opts = st.columns([3, 2])

    def _random_example() -> None:
        n = st.session_state.get("attn-example-n", 0) + 1
        st.session_state["attn-example-n"] = n
        text = T.example_text(spec, seed=n)
        st.session_state[text_key] = text if spec.name != "code" else text[-cfg.block_size:]

    with c_in:
        if spec.name == "code":
            text = st.text_area("Input", V.DEFAULT_TEXT["code"], key=text_key, height=90)
        else:
            allowed, default = V.default_input(spec)
            text = st.text_input(f"Input (symbols: {allowed})", default, key=text_key, max_chars=cfg.block_size,
                                 bind=BIND)
        st.button("Random test example", icon=":material/casino:", key=f"attn-example-{wkey}", on_click=_random_example,
                  help="A held-out sequence the model never trained on.")
    with c_opts:
        causal = st.toggle("Causal mask", value=cfg.causal, key=f"attn-causal-{wkey}", bind=BIND,
                           help="On: position q may only read keys k ≤ q. Switch it off on a decoder to let it read its "
                                "future (which it never saw in training), or on on an encoder.")
        off = st.multiselect("Switch heads off", head_names, key=f"attn-off-{wkey}", bind=BIND,
                             help="Each chosen head's output is multiplied by 0 before the output projection.")
    mask = tuple(0.0 if n in off else 1.0 for n in head_names)
    if spec.name == "code" and len(text) > cfg.block_size:
        st.info(f"The model's context is {cfg.block_size} characters: it reads the last {cfg.block_size} of your "
                f"{len(text):,}.", icon=":material/content_cut:")
        text = text[-cfg.block_size:]
    vkey = (source, text, causal, mask)
    try:
        view = cached_view(source, text, causal, mask, spec, model)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return

    T_ = len(view.tokens)
    pattern_names = list(view.patterns)
    algorithm = card.get("algorithm") if card.get("algorithm") in pattern_names else (pattern_names or [None])[0]

    # the input and output, token by token
    st.markdown(P.token_table_html(view.tokens, view.predictions, view.scored, view.correct), unsafe_allow_html=True)
    st.caption(V.TOKENS_CAPTION + (f" For x|y the model wrote its own answer **{view.output}** after the separator "
                                   "and reads it back." if view.output else ""))

    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Accuracy on this input", "–" if np.isnan(view.accuracy) else f"{view.accuracy:.0%}",
              help="Share of the scored positions the model gets right.")
    acc = cached_test_acc(source, spec, mask, causal, model)
    m2.metric("Held-out token accuracy", f"{acc['token_acc']:.1%}",
              "next character" if spec.name == "code" else f"{acc['seq_acc']:.1%} whole sequences",
              delta_color="off", delta_arrow="off", help=f"{n_acc} test sequences, with the mask and heads as set above.")
    if algorithm is not None and np.isfinite(view.match[algorithm]).any():
        best = np.unravel_index(np.nanargmax(view.match[algorithm]), view.match[algorithm].shape)
        m3.metric("Matches the algorithm", f"{view.match[algorithm][best]:.0%}",
                  f"best head L{best[0] + 1}H{best[1] + 1} · {algorithm}", delta_color="off", delta_arrow="off",
                  help=f"Share of the scored queries of this input whose strongest key is one the algorithm "
                       f"('{algorithm}') names, for the best head. Section 2 measures it on {n_match} test sequences.")
    m4.metric("Mean attention entropy", f"{np.nanmean(view.entropy):.2f} bits",
              f"uniform would be {A.max_entropy(T_, view.causal).mean():.2f}", delta_color="off", delta_arrow="off")
    share.notebook(page="attention", label="Held-out token accuracy", shown=f"{acc['token_acc']:.1%}", key="attn-nb",
                   body=V.snippet_test_accuracy(source.removeprefix("shipped:") if picked.source == "shipped" else None,
                                                off, causal, 8000))

    # the heads
    v1, v2, v3 = st.columns([3, 2, 2])
    what = v1.radio("Show", ["attention weights", "scores QKᵀ/√d", "arcs"], horizontal=True, key="attn-what",
                    bind=BIND)
    outline = v2.selectbox("Outline the keys of", ["(nothing)"] + pattern_names,
                           index=1 + pattern_names.index(algorithm) if algorithm and spec.name != "code" else 0,
                           key=f"attn-outline-{wkey}", bind=BIND)
    pat = view.patterns.get(outline)
    if what == "arcs":
        a1, a2, a3 = st.columns([1, 2, 2])
        layer = a1.selectbox("Layer", list(range(1, cfg.n_layer + 1)), key="attn-arc-layer", bind=BIND) - 1
        query = a2.select_slider("Query", ["all"] + list(range(T_)), value="all" if T_ <= 40 else T_ - 1,
                                 key=f"attn-arc-q-{T_}", bind=BIND,
                                 format_func=lambda q: "all" if q == "all" else f"{q}: {view.tokens[q]!r}")
        min_w = a3.slider("Hide weights below", 0.0, 0.9, 0.1, 0.05, key="attn-arc-min", bind=BIND)
        ui.show(fig_arcs(vkey, layer, query, min_w, view), key="attn-arcs")
        st.caption("Each arc joins a query to a key it reads; darker and thicker = more weight; one colour per head.")
    else:
        layer = head = -1
        if T_ > 40:   # a long input: one head at a time keeps the cells readable
            g1, g2 = v3.columns(2)
            layer = g1.selectbox("Layer", list(range(1, cfg.n_layer + 1)), key="attn-grid-layer", bind=BIND) - 1
            head = g2.selectbox("Head", list(range(1, cfg.n_head + 1)), key="attn-grid-head", bind=BIND) - 1
        fig = fig_grid(vkey, what != "attention weights", outline, layer, head, view)
        ui.show(fig, key="attn-grid")
        w = view.weights if layer < 0 else view.weights[layer:layer + 1, head:head + 1]
        downloads(fig, f"attention-{wkey}", "attn-grid", gif_label="Query by query (GIF)",
                  gif=lambda: V.query_frames(w, view.tokens, pat))
        st.caption(V.grid_caption(view.causal, what != "attention weights", pat is not None))

    fig = fig_entropy(vkey, view)
    ui.show(fig, key="attn-entropy")
    downloads(fig, f"attention-entropy-{wkey}", "attn-entropy")
    st.caption(V.ENTROPY_CAPTION)


# ---------------------------------------------------------------- 2. algorithm
def algorithm_match(picked, spec: T.TaskSpec) -> None:
    """Section 2: each head scored against the algorithm's patterns on held-out sequences."""
    st.header("2 · Does a head do the algorithm?")
    dm = cached_dataset_match(picked.key, spec, picked.model)
    if not dm:
        st.info("This task has no single position a head must read (bracket depth is a running sum).")
        return
    for c, name in zip(st.columns(len(dm)), dm):
        with c:
            fig = P.head_matrix(dm[name], f"'{name}'")
            ui.show(fig, key=f"attn-match-{name}")
            share.figure_csv_download(fig, f"attention-match-{name}", f"attn-match-{name}")
    st.caption(V.MATCH_CAPTION.format(n=n_seqs(spec, 4096)))


# ---------------------------------------------------------------- 3. ablation
def ablation(picked, spec: T.TaskSpec) -> None:
    """Section 3: the held-out accuracy with each head switched off."""
    model, source, cfg = picked.model, picked.key, picked.model.config
    st.header("3 · Which heads matter? Switch them off")
    ab = cached_ablation(source, spec, tuple(1.0 for _ in V.head_names(cfg)), model)
    c_ab, c_txt = st.columns([3, 2])
    with c_ab:
        fig = P.head_matrix(ab.acc, "held-out token accuracy with this one head off", fmt=".1%", colorscale="Reds_r")
        ui.show(fig, key="attn-ablation")
        share.figure_csv_download(fig, "attention-ablation", "attn-ablation")
    with c_txt:
        worst = np.unravel_index(np.argmax(ab.drop), ab.drop.shape)
        st.metric("Accuracy with every head on", f"{ab.base:.1%}")
        st.metric("Most important head", f"L{worst[0] + 1}H{worst[1] + 1}", f"-{ab.drop[worst]:.1%} when it is off",
                  delta_color="normal")
        st.caption(f"{n_seqs(spec, 8000)} test sequences. To switch off several heads at once, use *Switch heads off* "
                   "in section 1: the held-out accuracy there includes them.")


# ---------------------------------------------------------------- 4. positions
@st.fragment
def positional_encodings(picked) -> None:
    """Section 4: the model's positional encodings and their similarity by offset."""
    model, source, cfg = picked.model, picked.key, picked.model.config
    st.header("4 · Where am I? Positional encodings")
    st.markdown(V.POSITIONS_TEXT)
    p1, p2 = st.columns(2)
    kind = p1.radio("Similarity", ["cosine", "dot"], horizontal=True, key="attn-sim", bind=BIND)
    ref = p2.toggle("Compare with sinusoidal", value=cfg.positions != "sinusoidal", key="attn-sinref", bind=BIND,
                    disabled=cfg.positions == "sinusoidal",
                    help="The fixed sinusoidal table of the same size, next to this model's.")
    if cfg.positions == "none":
        st.info("This model has no positional encoding: only the causal mask tells positions apart.")
    pos_figs, offset_fig = fig_positions(source, kind, ref, model)
    for i, f in enumerate(pos_figs):
        ui.show(f, key=f"attn-pos-{i}")
    if offset_fig is not None:
        ui.show(offset_fig, key="attn-pos-offset")
        downloads(offset_fig, "attention-position-offsets", "attn-pos-offset")
        st.caption(V.OFFSET_CAPTION)


# ---------------------------------------------------------------- 5. live training
def live_training(run) -> None:
    """Section 5: the run training in the sidebar, live, then replayed."""
    st.header("5 · Watch one learn")
    st.markdown("Pick a task and an architecture in the sidebar and press **Train**. Every few steps the page "
                "measures the held-out accuracy and the attention of every head on one test sequence.")

    def live_attention(r) -> None:
        t = r.trainer
        if not t.snapshots:
            return
        step, snap = t.snapshots[-1]
        alg = r.card.get("algorithm")
        if alg in snap["match"]:
            best = [float(np.nanmax(s["match"][alg])) if np.isfinite(s["match"][alg]).any() else 0.0
                    for _, s in t.snapshots]
            ui.show(P.match_over_training([s for s, _ in t.snapshots], best, t.history("token_acc"), alg),
                    key="attn-live-match")
        hit = T.time_to_accuracy(t, 0.99)
        if hit:
            st.success(f"Held-out token accuracy reached 99 % at step {hit[0]}, after {hit[1]:.1f} s of training.",
                       icon=":material/timer:")
        if r.active:   # once it ends, the replay slider below shows every snapshot
            ui.show(P.heads_grid(snap["weights"], snap["tokens"], pattern=snap.get("patterns", {}).get(alg),
                                 height_per_row=260), key="attn-live-grid")
            st.caption(f"Attention of every head on one test sequence at step {step}.")

    ui.training_monitor(RUN, metrics=("loss", "token_acc"), live=live_attention)
    if run is None:
        st.caption("Nothing trained yet in this session.")
    elif not run.active and len(run.trainer.snapshots) > 1:
        snapshots = list(run.trainer.snapshots)
        snaps = dict(snapshots)
        at_step = st.select_slider("Replay the training: attention at step", list(snaps), value=list(snaps)[-1],
                                   key=f"attn-replay-{id(run.trainer)}")
        snap = snaps[at_step]
        alg = run.card.get("algorithm")
        if alg in snap["match"]:
            st.metric(f"Best head matches '{alg}' on this sequence", f"{np.nanmax(snap['match'][alg]):.0%}",
                      f"at step {at_step}", delta_color="off", delta_arrow="off")
        fig = P.heads_grid(snap["weights"], snap["tokens"], pattern=snap["patterns"].get(alg), height_per_row=260)
        ui.show(fig, key="attn-replay-grid")
        downloads(fig, f"attention-step-{at_step}", "attn-replay", gif_label="The whole training (GIF)",
                  gif=lambda: V.training_frames(snapshots, alg))


# ---------------------------------------------------------------- the page, top to bottom
run = sidebar_training()
picked, spec, wkey = pick_model()
your_input(picked, spec, wkey)
algorithm_match(picked, spec)
ablation(picked, spec)
positional_encodings(picked)
live_training(run)
ui.try_this(V.TRY_THIS)
