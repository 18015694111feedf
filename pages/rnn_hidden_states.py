"""RNN hidden states: what the units of a character RNN track, its LSTM gates, and why gradients vanish."""

from __future__ import annotations

import numpy as np
import pandas as pd
import share
import streamlit as st
import ui

from dlviz.data import DataError
from dlviz.rnn_hidden_states import core as R, plots as P, sampling as G, training as RT, views as V
from dlviz.rnn_hidden_states.text_features import feature_descriptions

PAGE_INFO = {
    "title": "RNN hidden states",
    "icon": ":material/timeline:",
    "section": "Sequence models",
    "order": 10,
    "question": "What do the hidden units of a recurrent network keep track of, and why do LSTMs remember longer?",
    "thumbnail": "dlviz.rnn_hidden_states.core:thumbnail",
}

ui.page_header(PAGE_INFO, V.INTRO)
SHIPPED, LEARN, MAX_CHARS, BIND = V.SHIPPED, V.LEARN, 500, "query-params"   # BIND: the control is in the URL
sess = ui.session()


# ---------------------------------------------------------------- cached analysis (keyed by model key)
@st.cache_data(max_entries=64, show_spinner=False)
def states_of(key: str, text: str, _model) -> R.HiddenStates:
    return R.hidden_states(_model, text)


@st.cache_data(max_entries=16, show_spinner="Reading held-out data...")
def reference(key: str, kind: str, layer: int, _model):
    return V.reference_measures(_model, kind, layer)


@st.cache_data(max_entries=8, show_spinner="Measuring an untrained twin...")
def untrained_best(config: dict, kind: str, seed: int) -> dict[str, float]:
    return R.untrained_best_r(config, kind, seed)


@st.cache_data(max_entries=48, show_spinner="Back-propagating through time...")
def gradient_of(key: str, text: str, wrt: str, _model):
    g = R.gradient_through_time(_model, text, wrt)
    return g.lags, g.norms


@st.cache_data(max_entries=16, show_spinner=False)
def untrained_gradient(cell: str, hidden: int, rho: float, text: str, seed: int, vocab: str, wrt: str = "h"):
    g = R.gradient_through_time(R.fresh_model(cell, hidden, spectral_radius=rho, seed=seed, vocab=vocab), text, wrt)
    return g.lags, g.norms


@st.cache_data(max_entries=16, show_spinner="Projecting... (UMAP's first run in a server compiles, ~20 s)")
def project(key: str, text: str, kind: str, layer: int, method: str, dims: int, seed: int, _states):
    return R.pca(_states, dims) if method == "PCA" else R.umap(_states, dims, seed)


@st.cache_data(max_entries=32, show_spinner=False)
def sample_of(key: str, prompt: str, n: int, temperature: float, seed: int, _model) -> str:
    return G.sample(_model, prompt, n, temperature, seed)


def load(label: str, picked):
    """A shipped code model by its label as ``(model, cache key)`` (the picked one itself when it is that
    checkpoint), or None when the checkpoint is missing."""
    from dlviz.checkpoints import shipped

    if f"shipped:{SHIPPED[label]}" == picked.key:
        return picked.model, picked.key
    if SHIPPED[label] not in shipped():
        return None
    return ui.load_shipped(SHIPPED[label], expected_arch="char_rnn")[0], f"shipped:{SHIPPED[label]}"


# ---------------------------------------------------------------- sidebar: the model, live training
def pick_model():
    """The model to inspect: a shipped checkpoint, this session's run or an upload."""
    st.sidebar.header("Model")
    picked = ui.model_picker("rnn", SHIPPED, run_key="rnn", expected_arch="char_rnn", label="Model to inspect")
    if picked is None:
        st.info("Pick a model in the sidebar, or press **Train** to train one.", icon=":material/arrow_back:")
        st.stop()
    st.sidebar.caption(V.model_caption(picked.model, picked.card))
    return picked


def sidebar_training():
    """What to learn and with which cell, and the Train buttons; returns the run (or None)."""
    st.sidebar.header("Train one live")
    learn = st.sidebar.selectbox("Learn", list(LEARN), format_func=LEARN.get, key="rnn-learn", bind=BIND)
    cell = st.sidebar.selectbox("Cell", ["lstm", "gru", "rnn"], key="rnn-cell", bind=BIND,
                                format_func={"lstm": "LSTM", "gru": "GRU", "rnn": "vanilla RNN"}.get)
    hidden = st.sidebar.select_slider("Hidden units", [4, 8, 16, 32, 64, 128], 32, key="rnn-hidden", bind=BIND)
    default_steps = {"bracket_depth": 800, "counting": 2000, "code": 600}   # ~99 %, ~97 %, and a first taste
    hp = ui.hyperparameters(f"rnn-{learn}", lr=3e-3, steps=default_steps[learn], batch_size=64, max_steps=10_000)

    def start_training():
        trainer, card = RT.live_trainer(learn, cell, hidden, lr=hp.lr, steps=hp.steps, batch_size=hp.batch_size,
                                        optimizer=hp.optimizer, weight_decay=hp.weight_decay, seed=sess.seed,
                                        device=sess.device)   # threads: the run registry splits the cores
        return trainer, {**card, "dataset": LEARN[learn]}

    return ui.training_panel("rnn", start_training)


def live_training(run) -> None:
    """The run's curves (and a sample of its text) while it trains."""
    def live_view(r) -> None:
        t = r.trainer
        if t.snapshots:
            step, text = t.snapshots[-1]
            st.caption(f"Sample at step {step} (temperature 0.8, prompt `def `):")
            st.code("def " + text, language="python")

    if run is not None:
        with st.expander("Live training", expanded=run.active, icon=":material/model_training:"):
            is_text = run.trainer.model.config.task == "text"
            ui.training_monitor("rnn", metrics=("loss", "val_bpc") if is_text else ("loss", "acc", "test_acc"),
                                live=live_view)


# ---------------------------------------------------------------- the text
def the_text(picked) -> V.Reading:
    """The text to read, the state, layer and unit to look at, and the model's states on that text."""
    model, key, cfg = picked.model, picked.key, picked.model.config
    is_lstm, H = cfg.cell == "lstm", cfg.hidden_size
    source = key.rsplit("@", 1)[0]            # a run's key without its step: training on keeps the unit
    ex = R.examples(model)
    c_pick, c_kind, c_unit = st.columns([3, 2, 1])
    pick = c_pick.selectbox("Text to read", list(ex) + [V.OWN], key=f"rnn-pick-{cfg.task}", bind=BIND)
    text = ex[pick] if pick != V.OWN else st.text_area(
        "Your text", next(iter(ex.values())), key=f"rnn-own-{cfg.task}", height=140,
        help=f"Up to {MAX_CHARS} characters." + ("" if cfg.task == "text" else f" Only the characters {cfg.vocab!r}."))
    if len(text) > MAX_CHARS:
        st.warning(f"Only the first {MAX_CHARS} of {len(text):,} characters are read.")
        text = text[:MAX_CHARS]
    kinds = ["c (cell state)", "h (hidden state)"] if is_lstm else ["h (hidden state)"]
    kind = c_kind.radio("State to look at", kinds, horizontal=True, key="rnn-kind", bind=BIND,
                        help="An LSTM keeps two vectors: the cell c (its memory) and h = o·tanh(c), what it shows.")[0]
    layer = cfg.num_layers - 1
    if cfg.num_layers > 1:
        layer = c_kind.select_slider("Layer", list(range(cfg.num_layers)), cfg.num_layers - 1, key="rnn-layer",
                                     bind=BIND)
    corr, names, r2 = reference(key, kind, layer, model)
    headline = "in_string" if cfg.task == "text" else names[0]
    if st.session_state.get("rnn-unit-for") != (source, kind, layer) or st.session_state.get("rnn-unit", 0) >= H:
        # a new model or state: start on the unit that best tracks the headline feature (a link's unit wins)
        st.session_state["rnn-unit"] = int(np.abs(corr[names.index(headline)]).argmax())
        st.session_state["rnn-unit-for"] = (source, kind, layer)
    unit = int(c_unit.number_input("Unit", 0, H - 1, key="rnn-unit", bind=BIND, help="The unit that colours the text."))
    try:
        hs = states_of(key, text, model)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    if hs.unknown:
        st.warning(f"Characters this model never saw are read as 'unknown': {''.join(hs.unknown)!r}.")
    S, feats_here = hs.states(kind, layer), R.features_of(cfg.task, text, cfg.vocab)
    here = R.correlations(S, feats_here) if len(text) > 2 else np.zeros_like(corr)
    return V.Reading(text, kind, layer, unit, hs, S, corr, names, r2, headline,
                     feature_descriptions(cfg.task, "".join(cfg.vocab)), feats_here, here)


def downloads(fig, name: str, key: str, gif=None) -> None:
    """One compact row under a figure: its numbers as CSV (and a GIF where time is an axis), built on click."""
    cols = st.columns([1, 1, 3] if gif else [1, 4])
    share.figure_csv_download(fig, name, key, container=cols[0])
    if gif:
        share.gif_download(gif, name, key, container=cols[1], frame_ms=90)


# ---------------------------------------------------------------- 1. units x time
@st.fragment
def units_over_time(picked, r: V.Reading) -> None:
    """Tab 1: every unit over the text, and the text coloured by one unit."""
    cfg, H = picked.model.config, picked.model.config.hidden_size
    text, kind, unit, S, names = r.text, r.kind, r.unit, r.S, r.names
    c1, c2 = st.columns(2)
    order_by = c1.selectbox("Order units by |correlation| with", ["(unit number)"] + names, key="rnn-order",
                            bind=BIND, help="Held-out correlation; the strongest units (either sign) come first.")
    n_show = (c2.slider("Units shown", min(4, H), H, min(H, 48), key="rnn-nshow", bind=BIND) if H > 4 else H)
    units = V.units_to_show(V.unit_order(r.corr, names, order_by, H), n_show, unit)
    what = "cell state c" if kind == "c" else "hidden state h"
    own = kind == "c" and st.toggle("Scale each unit to its own range", True, key="rnn-own-scale", bind=BIND,
                                    help="Cell states are unbounded: one unit at ±30 would wash out the rest.")
    shown = S / np.maximum(np.abs(S).max(0), 1e-6) if own else S
    zmax = 1.0 if (own or kind == "h") else float(np.abs(shown[:, units]).max()) or 1.0
    fig = P.states_heatmap(shown, text, units, zmax=zmax, highlight=unit,
                           title=f"{what}: units × characters" + (" (each unit scaled to ±1)" if own else ""))
    ui.show(fig, key="rnn-heat")
    downloads(fig, f"rnn-{kind}-states", "rnn-heat", gif=lambda: V.evolution_frames(shown, text, units, zmax))
    st.markdown(f"**The text coloured by unit {unit}** {V.COLOURED_TEXT}")
    v = r.unit_range(unit)
    st.html(P.colorbar_html(-v, v, label=f"{kind}[{unit}]") +
            P.colored_text_html(text, S[:, unit], -v, v, label=f"{kind}[{unit}]"))
    top = r.top_features(unit)
    for col, (f, r_held, r_here) in zip(st.columns(3), top):
        col.metric(f"r(unit {unit}, {f})", f"{r_held:+.2f}", V.here_text(r_here), delta_color="off",
                   delta_arrow="off", help=V.r_help(r.desc.get(f, f), cfg.task))
    st.caption(V.r_caption(cfg.task))
    f, r_held, _ = top[0]
    share.notebook(page="rnn_hidden_states", label=f"r(unit {unit}, {f})", shown=f"{r_held:+.2f}", key="rnn-nb",
                   body=V.snippet_unit_r(V.shipped_name(picked.key), kind, r.layer, unit, f))


# ---------------------------------------------------------------- 2. interpretable units
@st.fragment
def interpretable_units(picked, r: V.Reading) -> None:
    """Tab 2: the unit that best tracks each known feature, on held-out data."""
    cfg = picked.model.config
    text, kind, unit, S, corr, names = r.text, r.kind, r.unit, r.S, r.corr, r.names
    st.markdown(f"Every unit is correlated with every known feature on held-out data the model never trained on "
                f"({V.reference_source(cfg.task)}). **Click a row** to colour your text by that unit.")
    df = pd.DataFrame(V.interpretable_table(r, cfg.task == "text"))

    def pick_unit() -> None:
        rows = st.session_state["rnn-table"].selection.rows
        if rows:
            st.session_state["rnn-unit"] = int(df.iloc[rows[0]]["unit"])

    st.dataframe(df, key="rnn-table", on_select=pick_unit, selection_mode="single-row", hide_index=True,
                 height=36 * (len(df) + 1) + 2,
                 column_config={c: st.column_config.NumberColumn(format="%.2f") for c in df.columns[2:5]})
    st.caption(V.TABLE_CAPTION)
    feat = names[int(np.abs(corr[:, unit]).argmax())]          # what this unit tracks best
    v = r.unit_range(unit)
    st.html(P.colorbar_html(-v, v, label=f"{kind}[{unit}]") +
            P.colored_text_html(text, S[:, unit], -v, v, label=f"{kind}[{unit}]"))
    fig = P.unit_trace_figure(text, {f"{kind}[{unit}]": S[:, unit]}, secondary={feat: r.feats_here[feat]},
                              title=f"unit {unit} against '{feat}' on your text")
    ui.show(fig, key="rnn-unit-line")
    downloads(fig, f"rnn-unit-{unit}", "rnn-unit-line")
    key_feat = r.headline
    base = untrained_best(dict(vars(cfg)), kind, sess.seed)
    i = names.index(key_feat)
    m1, m2, m3 = st.columns(3)
    m1.metric(f"Best unit for '{key_feat}'", f"|r| = {np.abs(corr[i]).max():.2f}",
              f"untrained twin: {base[key_feat]:.2f}", delta_color="off",
              help="The same architecture with random weights: how much of the match is just luck?")
    m2.metric(f"Linear probe R² for '{key_feat}'", f"{r.r2[key_feat]:.2f}", help=V.PROBE_HELP)
    memory, hits = V.memory_features(corr, names)
    m3.metric("Memory features with a unit |r| > 0.5", f"{hits} of {len(memory)}",
              help="Features that cannot be read off the current character: " + ", ".join(memory) + ".")


# ---------------------------------------------------------------- 3. trajectory
@st.fragment
def trajectory(picked, r: V.Reading) -> None:
    """Tab 3: the state's path through a 2-D or 3-D projection."""
    text, kind, layer, S, feats_here = r.text, r.kind, r.layer, r.S, r.feats_here
    c1, c2, c3 = st.columns(3)
    method = c1.radio("Projection", ["PCA", "UMAP"], horizontal=True, key="rnn-proj", bind=BIND, help=V.UMAP_HELP)
    dims = c2.radio("Dimensions", [2, 3], horizontal=True, key="rnn-dims", bind=BIND)
    color_by = c3.selectbox("Colour by", ["time"] + list(feats_here), key="rnn-colour", bind=BIND)
    if len(text) < 5:
        st.info("Type at least 5 characters to see a trajectory.")
        return
    try:
        proj = project(picked.key, text, kind, layer, method, dims, sess.seed, S)
    except (DataError, ImportError) as e:
        st.error(f"{method} failed: {e}", icon=":material/error:")
        st.stop()
    axis = ([f"PC{i + 1} ({v:.0%})" for i, v in enumerate(proj.explained)] if proj.explained is not None else None)
    fig = P.trajectory_figure(proj.coords, text, None if color_by == "time" else feats_here[color_by], color_by, axis)
    ui.show(fig, key="rnn-traj")
    downloads(fig, f"rnn-trajectory-{method}", "rnn-traj")
    if proj.explained is not None:
        st.metric(f"Variance explained by {dims} principal components", f"{proj.explained.sum():.0%}",
                  help="How much of the state's movement this picture shows.")


# ---------------------------------------------------------------- 4. gates
@st.fragment
def gates(picked, r: V.Reading) -> None:
    """Tab 4: the LSTM's or GRU's gates, and how often they saturate."""
    model, key, cfg = picked.model, picked.key, picked.model.config
    text, layer, unit, hs = r.text, r.layer, r.unit, r.hs
    is_text, is_lstm = cfg.task == "text", cfg.cell == "lstm"
    if cfg.cell == "rnn":
        st.info(V.GATES_TEXT["rnn"], icon=":material/info:")
        return
    st.markdown(V.GATES_TEXT[cfg.cell])
    g = {n: v[layer] for n, v in hs.gates.items()}
    shown = V.units_to_show(list(range(cfg.hidden_size)), min(cfg.hidden_size, 32), unit)
    ui.show(P.gates_heatmaps(g, text, shown, highlight=unit), key="rnn-gates")
    series = {n: g[n][:, unit] for n in g if n not in ("cell", "new")}
    fig = P.unit_trace_figure(text, series, y_range=(0, 1), title=f"gates of unit {unit}",
                              secondary={f"c[{unit}]" if is_lstm else f"h[{unit}]":
                                         (hs.c if is_lstm else hs.h)[layer][:, unit]})
    ui.show(fig, key="rnn-gate-lines")
    downloads(fig, f"rnn-gates-unit-{unit}", "rnn-gate-lines")
    ref_text = R.corpus_split()[1][:2000] if is_text else text
    sat = R.gate_saturation(states_of(key, ref_text, model), layer)
    st.markdown(V.saturation_text(is_text))
    fig = P.saturation_figure(sat.left, sat.right, sat.low, sat.high)
    ui.show(fig, key="rnn-sat")
    downloads(fig, "rnn-gate-saturation", "rnn-sat")
    keep = "forget" if is_lstm else "update"
    m1, m2 = st.columns(2)
    m1.metric(f"{keep} gate > 0.9 (keeps its memory)", f"{sat.right[keep].mean():.0%}",
              help="Share of (unit, character) pairs with the gate right-saturated.")
    m2.metric(f"{keep} gate < 0.1 (wipes its memory)", f"{sat.left[keep].mean():.0%}")


# ---------------------------------------------------------------- 5. gradients through time
@st.fragment
def gradients_through_time(picked, r: V.Reading) -> None:
    """Tab 5: how fast the gradient of h_T with respect to an earlier character (or state) dies."""
    model, key = picked.model, picked.key
    st.markdown(V.GRADIENT_INTRO)
    gtext = r.text[-200:]                      # h_T is the state after the last character
    if len(r.text) > 200:
        st.caption("Measured over the last 200 characters of your text.")
    c1, c2, c3 = st.columns(3)
    wrt = c1.radio("Differentiate h_T with respect to", list(V.WRT), format_func=V.WRT.get, key="rnn-wrt",
                   bind=BIND, help=V.WRT_HELP)
    rho = c2.slider("Untrained vanilla RNN: spectral radius ρ of W_hh", 0.2, 2.0, 1.0, 0.1, key="rnn-rho", bind=BIND,
                    help="ρ < 1 shrinks every step; ρ > 1 can grow until tanh saturates.")
    with_c = c3.toggle("Add the LSTM's path through its cell state c (∂h_T/∂c_t)", True, key="rnn-withc", bind=BIND)
    J, models = V.JACOBIAN[wrt], {lab: load(lab, picked) for lab in V.CODE_MODELS}
    if picked.source != "shipped":
        models["this model"] = (model, key)
    flows, problems = V.gradient_flows(models, gtext, wrt, with_c, gradient_of)
    for problem in problems:
        st.warning(problem, icon=":material/warning:")
    flows[f"vanilla RNN (untrained, ρ={rho:g}), {J}"] = untrained_gradient("rnn", 128, rho, gtext, sess.seed,
                                                                         R.code_vocab(), wrt)
    fig = P.gradient_figure(flows, ylabel="Jacobian norm (Frobenius)")
    ui.show(fig, key="rnn-grad")
    downloads(fig, f"rnn-gradient-{wrt}", "rnn-grad")
    lags = [k for k in (10, 50, 100, 199) if k < len(gtext)]
    st.dataframe(pd.DataFrame(R.gradient_table(flows, lags)).T,
                 column_config={c: st.column_config.NumberColumn(format="%.2e") for c in [f"lag {k}" for k in lags]})
    head = V.headline_ratio(flows, wrt, lags)
    if head is not None:
        k, ratio = head
        st.metric(f"LSTM ÷ vanilla RNN, {J} at lag {k}", V.ratio_text(ratio),
                  help=f"The same Jacobian for both trained models: h_T with respect to {V.WRT[wrt]} {k} characters "
                       "back. 'factor per step' is the geometric-mean shrink of the norm per step.")
        share.notebook(page="rnn_hidden_states", label=f"LSTM ÷ vanilla RNN, {J} at lag {k}",
                       shown=V.ratio_text(ratio), key="rnn-nb", body=V.snippet_gradient_ratio(gtext, wrt))


# ---------------------------------------------------------------- 6. sampling / predictions
@st.fragment
def sampling_or_predictions(picked, r: V.Reading) -> None:
    """Tab 6: sampling from a language model, or a task model's answers."""
    model, key, cfg = picked.model, picked.key, picked.model.config
    if cfg.task == "text":
        c1, c2, c3 = st.columns([2, 2, 1])
        typed = c1.text_input("Prompt", "def ", key="rnn-prompt", bind=BIND,
                              help=f"Up to {G.MAX_PROMPT:,} characters are read (the last ones).")
        temp = c2.slider("Temperature", 0.0, 2.0, 0.8, 0.05, key="rnn-temp", bind=BIND,
                         help="Logits are divided by T before the softmax: T→0 is greedy, large T is uniform.")
        n = c3.number_input("Characters", 20, 1000, 300, 20, key="rnn-n", bind=BIND)
        prompt, notes = G.read_prompt(model, typed)
        for note in notes:
            st.warning(note, icon=":material/keyboard:")
        out = sample_of(key, prompt, int(n), float(temp), sess.seed, model)
        p_t, p_1 = (G.next_char_distribution(model, prompt or "\n", t) for t in (temp, 1.0))
        st.code(("…" if len(prompt) < len(typed) else "") + prompt + out, language="python")
        fig = P.distribution_figure({f"T = {temp:g}": p_t, "T = 1": p_1}, cfg.vocab)
        ui.show(fig, key="rnn-dist")
        downloads(fig, "rnn-next-char", "rnn-dist")
        m1, m2 = st.columns(2)
        m1.metric("Entropy of the next character", f"{G.entropy_bits(p_t):.2f} bits",
                  f"{G.entropy_bits(p_t) - G.entropy_bits(p_1):+.2f} vs T = 1", delta_color="off")
        rate = G.known_word_rate(out, G.corpus_words())
        m2.metric("Sampled words that exist in the corpus", "–" if np.isnan(rate) else f"{rate:.0%}")
        return
    pv = V.predictions(model, r)
    fig = P.unit_trace_figure(r.text, pv.series, secondary=pv.best_unit, wide_first=True,
                              title=f"{r.headline}: truth, the model's answer, and its best unit")
    ui.show(fig, key="rnn-pred")
    downloads(fig, f"rnn-predictions-{cfg.task}", "rnn-pred")
    if pv.out_of_range:
        st.warning(pv.out_of_range, icon=":material/warning:")
    m1, m2 = st.columns(2)
    m1.metric("Right on your text", f"{pv.right:.0%}")
    m2.metric("Test accuracy (1,000 fresh sequences)", f"{RT.task_accuracy(model, cfg.task)['test_acc']:.1%}")


# ---------------------------------------------------------------- the page, top to bottom
picked = pick_model()
run = sidebar_training()
live_training(run)
reading = the_text(picked)
TABS = {"Units over time": units_over_time, "Find interpretable units": interpretable_units,
        "Trajectory": trajectory, "Gates": gates, "Gradients through time": gradients_through_time,
        "Sampling" if picked.model.config.task == "text" else "Predictions": sampling_or_predictions}
for tab, section in zip(st.tabs(list(TABS), key="rnn-tab", on_change="rerun", bind=BIND), TABS.values()):
    with tab:
        if tab.open:
            section(picked, reading)
ui.try_this(V.TRY_THIS)
