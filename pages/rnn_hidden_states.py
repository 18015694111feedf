"""RNN hidden states: what the units of a character RNN track, its LSTM gates, and why gradients vanish."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import streamlit as st
import ui

from dlviz.rnn_hidden_states import core as R
from dlviz.rnn_hidden_states import sampling as G
from dlviz.data import DataError
from dlviz.rnn_hidden_states import plots as P
from dlviz.rnn_hidden_states.text_features import LONG_RANGE, feature_descriptions

PAGE_INFO = {
    "title": "RNN hidden states",
    "icon": ":material/timeline:",
    "section": "Sequence models",
    "order": 10,
    "question": "What do the hidden units of a recurrent network keep track of, and why do LSTMs remember longer?",
    "thumbnail": "dlviz.rnn_hidden_states.core:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "A recurrent network reads text one character at a time and carries a **hidden state** forward: "
    "everything it remembers must live in those numbers. Read code with a trained LSTM, find the units that "
    "track quotes, brackets and indentation (Karpathy, Johnson & Fei-Fei, 2015), and measure how fast the "
    "gradient ‖∂h_T/∂h_t‖ dies in a vanilla RNN."))

SHIPPED = {"Code LSTM": "rnn_code_lstm", "Code GRU": "rnn_code_gru", "Code vanilla RNN": "rnn_code_rnn",
           "Bracket-depth LSTM": "rnn_bracket_lstm"}
LEARN = {"bracket_depth": "bracket depth", "counting": "counting", "code": "Python code (next character)"}
MAX_CHARS = 500
sess = ui.session()


# ---------------------------------------------------------------- cached analysis (keyed by model key)
@st.cache_data(max_entries=64, show_spinner=False)
def states_of(key: str, text: str, _model) -> R.HiddenStates:
    return R.hidden_states(_model, text)


@st.cache_data(max_entries=16, show_spinner="Reading held-out data...")
def reference(key: str, kind: str, layer: int, _model):
    S, feats = R.reference_states(_model, kind, layer)
    names = list(feats)
    corr = R.correlations(S, feats)
    r2 = R.probe_r2(S, feats)
    return corr, names, r2


@st.cache_data(max_entries=8, show_spinner="Measuring an untrained twin...")
def untrained_best(config: dict, kind: str, seed: int) -> dict[str, float]:
    return R.untrained_best_r(config, kind, seed)


@st.cache_data(max_entries=32, show_spinner="Back-propagating through time...")
def gradient_of(key: str, text: str, wrt: str, _model):
    g = R.gradient_through_time(_model, text, wrt)
    return g.lags, g.norms


@st.cache_data(max_entries=16, show_spinner=False)
def untrained_gradient(cell: str, hidden: int, rho: float, text: str, seed: int, vocab: str):
    g = R.gradient_through_time(R.fresh_model(cell, hidden, spectral_radius=rho, seed=seed, vocab=vocab), text)
    return g.lags, g.norms


@st.cache_data(max_entries=16, show_spinner="Projecting... (UMAP's first run in a server compiles, ~20 s)")
def project(key: str, text: str, kind: str, layer: int, method: str, dims: int, seed: int, _states):
    return R.pca(_states, dims) if method == "PCA" else R.umap(_states, dims, seed)


@st.cache_data(max_entries=32, show_spinner=False)
def sample_of(key: str, prompt: str, n: int, temperature: float, seed: int, _model) -> str:
    return G.sample(_model, prompt, n, temperature, seed)


def load(label: str):
    """A shipped model by its label: ``(model, card, cache key)`` in the model picker's key scheme."""
    model, card = ui.load_shipped(SHIPPED[label], expected_arch="char_rnn")
    return model, card, f"shipped:{SHIPPED[label]}"


def available(label: str) -> bool:
    from dlviz.checkpoints import shipped

    return SHIPPED[label] in shipped()


# ---------------------------------------------------------------- sidebar: the model, live training
def pick_model():
    """The model to inspect: a shipped checkpoint, this session's run or an upload."""
    st.sidebar.header("Model")
    picked = ui.model_picker("rnn", SHIPPED, run_key="rnn", expected_arch="char_rnn", label="Model to inspect")
    if picked is None:
        st.info("Pick a model in the sidebar, or press **Train** to train one.", icon=":material/arrow_back:")
        st.stop()
    cfg = picked.model.config
    st.sidebar.caption(f"{cfg.cell.upper()} · {cfg.num_layers} layer · {cfg.hidden_size} units · "
                       f"{sum(p.numel() for p in picked.model.parameters()):,} parameters. "
                       f"{picked.card.get('summary', '')}")
    return picked


def sidebar_training():
    """What to learn and with which cell, and the Train buttons; returns the run (or None)."""
    st.sidebar.header("Train one live")
    learn = st.sidebar.selectbox("Learn", list(LEARN), format_func=LEARN.get, key="rnn-learn")
    cell = st.sidebar.selectbox("Cell", ["lstm", "gru", "rnn"], key="rnn-cell",
                                format_func={"lstm": "LSTM", "gru": "GRU", "rnn": "vanilla RNN"}.get)
    hidden = st.sidebar.select_slider("Hidden units", [4, 8, 16, 32, 64, 128], 32, key="rnn-hidden")
    default_steps = {"bracket_depth": 800, "counting": 2000, "code": 600}   # ~99 %, ~97 %, and a first taste
    hp = ui.hyperparameters(f"rnn-{learn}", lr=3e-3, steps=default_steps[learn], batch_size=64, max_steps=10_000)

    def start_training():
        from dlviz.rnn_hidden_states import training as RR

        setup = RR.Setup(data=learn, cell=cell, hidden_size=hidden, embed_dim=32 if learn == "code" else 16,
                         seed=sess.seed)
        trainer = RR.make_trainer(RR.build(setup), lr=hp.lr, steps=hp.steps, batch_size=hp.batch_size,
                                  optimizer=hp.optimizer, weight_decay=hp.weight_decay, seed=sess.seed,
                                  eval_every=100 if learn == "code" else 50,
                                  sample_every=100 if learn == "code" else 0,
                                  device=sess.device, threads=sess.threads, name=f"{learn}-{cell}")
        return trainer, {"setup": asdict(setup), "dataset": LEARN[learn]}

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
OWN = "type my own"


@dataclass
class Reading:
    """The text the reader picked and the model's states on it: what every tab below shows."""

    text: str
    kind: str                 # "c" | "h"
    layer: int
    unit: int
    hs: R.HiddenStates
    S: np.ndarray             # (T, H): the chosen state of the chosen layer
    corr: np.ndarray          # (features, H) held-out correlations
    names: list[str]
    r2: dict
    headline: str             # the feature the page opens on
    desc: dict
    feats_here: dict          # the features of the reader's text

    def unit_range(self, u: int) -> float:
        """Colour range for one unit: h lives in [-1, 1]; a cell state c is scaled to its own largest value."""
        return 1.0 if self.kind == "h" else max(1e-3, float(np.abs(self.S[:, u]).max()))


def the_text(picked) -> Reading:
    """The text to read, the state, layer and unit to look at, and the model's states on that text."""
    model, key, cfg = picked.model, picked.key, picked.model.config
    is_text, is_lstm, H = cfg.task == "text", cfg.cell == "lstm", cfg.hidden_size
    source = key.rsplit("@", 1)[0]            # a run's key without its step: training on keeps the unit
    ex = R.examples(model)
    c_pick, c_kind, c_unit = st.columns([3, 2, 1])
    pick = c_pick.selectbox("Text to read", list(ex) + [OWN], key=f"rnn-pick-{cfg.task}")
    text = ex[pick] if pick != OWN else st.text_area(
        "Your text", next(iter(ex.values())), key=f"rnn-own-{cfg.task}", height=140,
        help=f"Up to {MAX_CHARS} characters." + ("" if is_text else f" Only the characters {cfg.vocab!r}."))
    if len(text) > MAX_CHARS:
        st.warning(f"Only the first {MAX_CHARS} of {len(text)} characters are read.")
        text = text[:MAX_CHARS]
    kinds = ["c (cell state)", "h (hidden state)"] if is_lstm else ["h (hidden state)"]
    kind = c_kind.radio("State to look at", kinds, horizontal=True, key="rnn-kind",
                        help="An LSTM keeps two vectors: the cell c (its memory) and h = o·tanh(c), what it shows.")[0]
    layer = cfg.num_layers - 1
    if cfg.num_layers > 1:
        layer = c_kind.select_slider("Layer", list(range(cfg.num_layers)), cfg.num_layers - 1, key="rnn-layer")
    corr, names, r2 = reference(key, kind, layer, model)
    headline = "in_string" if is_text else names[0]
    if st.session_state.get("rnn-unit-for") != (source, kind, layer) or st.session_state.get("rnn-unit", 0) >= H:
        # a new model or state: start on the unit that best tracks the headline feature
        st.session_state["rnn-unit"] = int(np.abs(corr[names.index(headline)]).argmax())
        st.session_state["rnn-unit-for"] = (source, kind, layer)
    unit = int(c_unit.number_input("Unit", 0, H - 1, key="rnn-unit", help="The unit that colours the text."))
    try:
        hs = states_of(key, text, model)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    if hs.unknown:
        st.warning(f"Characters this model never saw are read as 'unknown': {''.join(hs.unknown)!r}.")
    return Reading(text, kind, layer, unit, hs, hs.states(kind, layer), corr, names, r2, headline,
                   feature_descriptions(cfg.task, "".join(cfg.vocab)), R.features_of(cfg.task, text, cfg.vocab))


# ---------------------------------------------------------------- 1. units x time
def units_over_time(picked, r: Reading) -> None:
    """Tab 1: every unit over the text, and the text coloured by one unit."""
    cfg = picked.model.config
    text, kind, unit, S, corr, names, desc = r.text, r.kind, r.unit, r.S, r.corr, r.names, r.desc
    H = cfg.hidden_size
    c1, c2 = st.columns(2)
    order_by = c1.selectbox("Order units by |correlation| with", ["(unit number)"] + names, key="rnn-order",
                            help="Held-out correlation; the strongest units (either sign) come first.")
    n_show = c2.slider("Units shown", min(4, H), H, min(H, 48), key="rnn-nshow")
    units = (list(np.argsort(-np.abs(corr[names.index(order_by)]), kind="stable")) if order_by in names
             else list(range(H)))[:n_show]
    what = "cell state c" if kind == "c" else "hidden state h"
    own = kind == "c" and st.toggle("Scale each unit to its own range", True, key="rnn-own-scale",
                                    help="Cell states are unbounded: one unit at ±30 would wash out the rest.")
    shown = S / np.maximum(np.abs(S).max(0), 1e-6) if own else S
    ui.show(P.states_heatmap(shown, text, units, zmax=1.0 if (own or kind == "h") else None,
                             title=f"{what}: units × characters" + (" (each unit scaled to ±1)" if own else "")),
            key="rnn-heat")
    st.markdown(f"**The text coloured by unit {unit}** (red = high, blue = low; hover a character for its value)")
    v = r.unit_range(unit)
    st.html(P.colorbar_html(-v, v, label=f"{kind}[{unit}]") +
            P.colored_text_html(text, S[:, unit], -v, v, label=f"{kind}[{unit}]"))
    top = np.argsort(-np.abs(corr[:, unit]))[:3]
    cols = st.columns(3)
    for col, f in zip(cols, top):
        col.metric(f"r(unit {unit}, {names[f]})", f"{corr[f, unit]:+.2f}",
                   help=f"Pearson correlation on held-out data with: {desc.get(names[f], names[f])}.")


# ---------------------------------------------------------------- 2. interpretable units
def interpretable_units(picked, r: Reading) -> None:
    """Tab 2: the unit that best tracks each known feature, on held-out data."""
    cfg = picked.model.config
    text, kind, unit, S, corr, names, desc = r.text, r.kind, r.unit, r.S, r.corr, r.names, r.desc
    r2, headline, feats_here = r.r2, r.headline, r.feats_here
    is_text = cfg.task == "text"
    st.markdown("Every unit is correlated with every known feature of the text, on held-out data the model "
                "never trained on. **Click a row** to colour your text by that unit.")
    best = R.best_units(corr, names, per_feature=1)
    here = R.correlations(S, feats_here) if len(text) > 2 else np.zeros_like(corr)
    df = pd.DataFrame({"feature": [m.feature for m in best], "unit": [m.unit for m in best],
                       "r (held-out)": [m.r for m in best],
                       "r (your text)": [here[names.index(m.feature), m.unit] for m in best],
                       "all units: probe R²": [r2[m.feature] for m in best],
                       "needs memory": [m.feature in LONG_RANGE or not is_text for m in best],
                       "what it is": [desc.get(m.feature, "") for m in best]})

    def pick_unit() -> None:
        rows = st.session_state["rnn-table"].selection.rows
        if rows:
            st.session_state["rnn-unit"] = int(df.iloc[rows[0]]["unit"])

    st.dataframe(df, key="rnn-table", on_select=pick_unit, selection_mode="single-row", hide_index=True,
                 height=36 * (len(df) + 1) + 2,
                 column_config={c: st.column_config.NumberColumn(format="%.2f") for c in df.columns[2:5]})
    st.caption("r: Pearson correlation of one unit with the feature. Probe R²: how much of the feature a "
               "linear read-out of *all* units recovers on held-out positions. 'Needs memory': the feature "
               "cannot be read off the current character alone.")
    feat = names[int(np.abs(corr[:, unit]).argmax())]          # what this unit tracks best
    v = r.unit_range(unit)
    st.html(P.colorbar_html(-v, v, label=f"{kind}[{unit}]") +
            P.colored_text_html(text, S[:, unit], -v, v, label=f"{kind}[{unit}]"))
    ui.show(P.unit_trace_figure(text, {f"{kind}[{unit}]": S[:, unit]}, secondary={feat: feats_here[feat]},
                                title=f"unit {unit} against '{feat}' on your text"), key="rnn-unit-line")
    key_feat = headline
    base = untrained_best(dict(vars(cfg)), kind, sess.seed)
    i = names.index(key_feat)
    m1, m2, m3 = st.columns(3)
    m1.metric(f"Best unit for '{key_feat}'", f"|r| = {np.abs(corr[i]).max():.2f}",
              f"untrained twin: {base[key_feat]:.2f}", delta_color="off",
              help="The same architecture with random weights: how much of the match is just luck?")
    m2.metric(f"Linear probe R² for '{key_feat}'", f"{r2[key_feat]:.2f}",
              help="A least-squares read-out from all units, fitted on alternate 100-character blocks of "
                   "held-out data and scored on the blocks in between.")
    memory = [n for n in names if n in LONG_RANGE] or names     # a task's features all need memory
    long_r = [np.abs(corr[names.index(n)]).max() for n in memory]
    m3.metric("Memory features with a unit |r| > 0.5", f"{sum(r > 0.5 for r in long_r)} of {len(long_r)}",
              help="Features that cannot be read off the current character: " + ", ".join(memory) + ".")


# ---------------------------------------------------------------- 3. trajectory
def trajectory(picked, r: Reading) -> None:
    """Tab 3: the state's path through a 2-D or 3-D projection."""
    key = picked.key
    text, kind, layer, S, feats_here = r.text, r.kind, r.layer, r.S, r.feats_here
    c1, c2, c3 = st.columns(3)
    method = c1.radio("Projection", ["PCA", "UMAP"], horizontal=True, key="rnn-proj",
                      help="UMAP keeps neighbourhoods, not distances. Its first run in a server process compiles numba "
                           "code (~20 s measured here); later runs take ~0.3 s.")
    dims = c2.radio("Dimensions", [2, 3], horizontal=True, key="rnn-dims")
    color_by = c3.selectbox("Colour by", ["time"] + list(feats_here), key="rnn-colour")
    if len(text) < 5:
        st.info("Type at least 5 characters to see a trajectory.")
    else:
        try:
            proj = project(key, text, kind, layer, method, dims, sess.seed, S)
        except (DataError, ImportError) as e:
            st.error(f"{method} failed: {e}", icon=":material/error:")
            st.stop()
        axis = ([f"PC{i + 1} ({v:.0%})" for i, v in enumerate(proj.explained)] if proj.explained is not None
                else None)
        ui.show(P.trajectory_figure(proj.coords, text, None if color_by == "time" else feats_here[color_by],
                                    color_by, axis), key="rnn-traj")
        if proj.explained is not None:
            st.metric(f"Variance explained by {dims} principal components", f"{proj.explained.sum():.0%}",
                      help="How much of the state's movement this picture shows.")


# ---------------------------------------------------------------- 4. gates
def gates(picked, r: Reading) -> None:
    """Tab 4: the LSTM's or GRU's gates, and how often they saturate."""
    model, key, cfg = picked.model, picked.key, picked.model.config
    text, layer, unit, hs = r.text, r.layer, r.unit, r.hs
    is_text = cfg.task == "text"
    is_lstm = cfg.cell == "lstm"
    H = cfg.hidden_size
    if cfg.cell == "rnn":
        st.info("A vanilla RNN has no gates: h_t = tanh(W_x x_t + W_h h_{t-1} + b). Pick the Code LSTM or "
                "GRU to see them.", icon=":material/info:")
    else:
        st.markdown("LSTM: c_t = **f**·c_{t−1} + **i**·g, h_t = **o**·tanh(c_t) -- the forget gate f decides "
                    "how much memory survives each step."
                    if is_lstm else "GRU: h_t = (1 − **z**)·n + **z**·h_{t−1} -- the update gate z decides how "
                    "much of the old state survives each step; the reset gate r how much of it n may read.")
        g = {n: v[layer] for n, v in hs.gates.items()}
        shown = list(range(min(H, 32)))
        ui.show(P.gates_heatmaps(g, text, shown), key="rnn-gates")
        series = {n: g[n][:, unit] for n in g if n not in ("cell", "new")}
        ui.show(P.unit_trace_figure(text, series, y_range=(0, 1), title=f"gates of unit {unit}",
                                    secondary={f"c[{unit}]" if is_lstm else f"h[{unit}]":
                                               (hs.c if is_lstm else hs.h)[layer][:, unit]}),
                key="rnn-gate-lines")
        ref_text = R.corpus_split()[1][:2000] if is_text else text
        sat = R.gate_saturation(states_of(key, ref_text, model), layer)
        st.markdown("**Gate saturation** (Karpathy et al., Fig. 4): one dot per unit -- how often its gate "
                    "is nearly closed (< 0.1, x) or wide open (> 0.9, y)"
                    + (", over 2,000 held-out characters." if is_text else ", over your text."))
        ui.show(P.saturation_figure(sat.left, sat.right, sat.low, sat.high), key="rnn-sat")
        keep = "forget" if is_lstm else "update"
        m1, m2 = st.columns(2)
        m1.metric(f"{keep} gate > 0.9 (keeps its memory)", f"{sat.right[keep].mean():.0%}",
                  help="Share of (unit, character) pairs with the gate right-saturated.")
        m2.metric(f"{keep} gate < 0.1 (wipes its memory)", f"{sat.left[keep].mean():.0%}")


# ---------------------------------------------------------------- 5. gradients through time
def gradients_through_time(picked, r: Reading) -> None:
    """Tab 5: how fast the gradient dh_T/dh_t dies, trained and untrained."""
    model, key = picked.model, picked.key
    text = r.text
    st.markdown("How much does the final state h_T depend on the state t steps earlier? The Jacobian "
                "∂h_T/∂h_t is a product of T−t one-step Jacobians, computed here by autograd. If each step "
                "shrinks it, the product vanishes geometrically and no gradient reaches the past.")
    gtext = text[-200:]                        # h_T is the state after the last character
    if len(text) > 200:
        st.caption("Measured over the last 200 characters of your text.")
    c1, c2 = st.columns(2)
    rho = c1.slider("Untrained vanilla RNN: spectral radius ρ of W_hh", 0.2, 2.0, 1.0, 0.1, key="rnn-rho",
                    help="ρ < 1 shrinks every step; ρ > 1 can grow until tanh saturates.")
    with_c = c2.toggle("Add the LSTM's path through its cell state c (∂h_T/∂c_t)", True, key="rnn-withc")
    flows = {}
    for label in ("Code LSTM", "Code GRU", "Code vanilla RNN"):
        if not available(label):
            st.warning(f"The {label} checkpoint is missing: `python -m dlviz.train {SHIPPED[label]}`.")
            continue
        try:
            m, _, k = load(label) if f"shipped:{SHIPPED[label]}" != key else (model, None, key)
            flows[label.replace("Code ", "") + " (trained)"] = gradient_of(k, gtext, "h", m)
            if with_c and m.config.cell == "lstm":
                flows["LSTM (trained), via c"] = gradient_of(k, gtext, "c", m)
        except DataError as e:
            st.warning(f"{label}: {e}")
    if picked.source != "shipped":
        try:
            flows["this model"] = gradient_of(key, gtext, "h", model)
        except DataError as e:
            st.info(f"This model cannot read the text: {e}")
    flows[f"vanilla RNN (untrained, ρ={rho:g})"] = untrained_gradient("rnn", 128, rho, gtext, sess.seed,
                                                                     R.code_vocab())
    ui.show(P.gradient_figure(flows), key="rnn-grad")
    lags = [k for k in (10, 50, 100, 199) if k < len(gtext)]
    rows = R.gradient_table(flows, lags)
    st.dataframe(pd.DataFrame(rows).T, column_config={c: st.column_config.NumberColumn(format="%.2e")
                                                      for c in [f"lag {k}" for k in lags]})
    a, b = "LSTM (trained), via c", "vanilla RNN (trained)"
    if a in flows and b in flows and lags:
        k = 50 if 50 in lags else lags[-1]
        ratio = flows[a][1][k] / max(flows[b][1][k], 1e-300)
        st.metric(f"LSTM (via its cell state) ÷ vanilla RNN, gradient at lag {k}",
                  f"{ratio:.1e} ×" if ratio > 0 else "–",
                  help="How many orders of magnitude more gradient the LSTM gets back to a character k "
                       "steps ago. 'factor per step' is the geometric-mean shrink of the norm per step.")


# ---------------------------------------------------------------- 6. sampling / predictions
def sampling_or_predictions(picked, r: Reading) -> None:
    """Tab 6: sampling from a language model, or a task model's answers."""
    model, key, cfg = picked.model, picked.key, picked.model.config
    text, kind, S, corr, names = r.text, r.kind, r.S, r.corr, r.names
    headline, feats_here = r.headline, r.feats_here
    is_text = cfg.task == "text"
    if is_text:
        c1, c2, c3 = st.columns([2, 2, 1])
        prompt = c1.text_input("Prompt", "def ", key="rnn-prompt")
        temp = c2.slider("Temperature", 0.0, 2.0, 0.8, 0.05, key="rnn-temp",
                         help="Logits are divided by T before the softmax: T→0 is greedy, large T is uniform.")
        n = c3.number_input("Characters", 20, 1000, 300, 20, key="rnn-n")
        try:
            note = G.check_prompt(model, prompt)
            if note:
                st.warning(note, icon=":material/keyboard:")
            out = sample_of(key, prompt, int(n), float(temp), sess.seed, model)
            p_t = G.next_char_distribution(model, prompt or "\n", temp)
            p_1 = G.next_char_distribution(model, prompt or "\n", 1.0)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
            st.stop()
        st.code(prompt + out, language="python")
        ui.show(P.distribution_figure({f"T = {temp:g}": p_t, "T = 1": p_1}, cfg.vocab), key="rnn-dist")
        m1, m2 = st.columns(2)
        m1.metric("Entropy of the next character", f"{G.entropy_bits(p_t):.2f} bits",
                  f"{G.entropy_bits(p_t) - G.entropy_bits(p_1):+.2f} vs T = 1", delta_color="off")
        rate = G.known_word_rate(out, G.corpus_words())
        m2.metric("Sampled words that exist in the corpus", "–" if np.isnan(rate) else f"{rate:.0%}")
    else:
        pred = G.task_predictions(model, text)
        truth = feats_here[headline]
        i = names.index(headline)
        u = int(np.abs(corr[i]).argmax())
        sign = 1.0 if corr[i, u] >= 0 else -1.0
        ui.show(P.unit_trace_figure(text, {"truth": truth, "prediction": pred.astype(float)},
                                    secondary={f"{'' if sign > 0 else '−'}{kind}[{u}] (best unit)": sign * S[:, u]},
                                    title=f"{headline}: truth, the model's answer, and its best unit",
                                    wide_first=True),
                key="rnn-pred")
        top_class = len(model.class_names) - 1
        if truth.min() < 0 or truth.max() > top_class:
            st.warning(f"Your text leaves the range the model was trained on (0 to {top_class}); it can only "
                       "answer with a class it knows.", icon=":material/warning:")
        from dlviz.rnn_hidden_states.training import task_accuracy

        m1, m2 = st.columns(2)
        m1.metric("Right on your text", f"{np.mean(pred == truth):.0%}")
        m2.metric("Test accuracy (1,000 fresh sequences)", f"{task_accuracy(model, cfg.task)['test_acc']:.1%}")


def try_this() -> None:
        ui.try_this([
        "Pick *docstring and comments*: the unit the page opens on (the best match for `in_string`) turns blue inside "
        "the docstring, the comment *and* the error message. Is it a quote detector, or a 'this is English' unit?",
        "Order the units by |correlation| with `paren_depth`, then type `f(g(h(x`: does the top unit count the "
        "brackets, or only notice that one is open? Compare the bracket-depth LSTM, which must count.",
        "Switch to the **Bracket-depth LSTM** and open *Predictions*: one cell unit follows the depth almost "
        "exactly. Type a string deeper than 8 -- what does the model answer?",
        "Gradients through time: drag ρ of the untrained vanilla RNN from 0.5 to 1.5. Where does its line stop "
        "falling? Compare the trained vanilla RNN with the LSTM's path through c.",
        "Sampling: set the temperature to 0 -- the text soon repeats itself. Why does greedy decoding loop?",
        "Train a vanilla RNN with 8 units on bracket depth, then an LSTM with 8: which reaches 99 % first?",
    ])


# ---------------------------------------------------------------- the page, top to bottom
picked = pick_model()
run = sidebar_training()
live_training(run)
reading = the_text(picked)
TABS = {"Units over time": units_over_time, "Find interpretable units": interpretable_units,
        "Trajectory": trajectory, "Gates": gates, "Gradients through time": gradients_through_time,
        "Sampling" if picked.model.config.task == "text" else "Predictions": sampling_or_predictions}
for tab, section in zip(st.tabs(list(TABS), key="rnn-tab", on_change="rerun"), TABS.values()):
    with tab:
        if tab.open:
            section(picked, reading)
try_this()
