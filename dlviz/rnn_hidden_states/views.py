"""What the RNN hidden-states page shows, prepared as arrays and words (never figures, never streamlit): the
reading of one text, which units a heatmap shows, the interpretable-units table, the like-with-like gradient
ratio, the captions, the GIF of the state evolving, and the notebook snippets that recompute the headlines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlviz.rnn_hidden_states.core import HiddenStates
from dlviz.rnn_hidden_states.text_features import LONG_RANGE

SHIPPED = {"Code LSTM": "rnn_code_lstm", "Code GRU": "rnn_code_gru", "Code vanilla RNN": "rnn_code_rnn",
           "Bracket-depth LSTM": "rnn_bracket_lstm"}
LEARN = {"bracket_depth": "bracket depth", "counting": "counting", "code": "Python code (next character)"}
OWN = "type my own"
CODE_MODELS = ("Code LSTM", "Code GRU", "Code vanilla RNN")
WRT = {"x": "x_t: the input character", "h": "h_t: the hidden state"}
JACOBIAN = {"x": "‖∂h_T/∂x_t‖", "h": "‖∂h_T/∂h_t‖", "c": "‖∂h_T/∂c_t‖"}

INTRO = ("A recurrent network reads text one character at a time and carries a **hidden state** forward: "
         "everything it remembers must live in those numbers. Read code with a trained LSTM, find the units that "
         "track quotes, brackets and indentation (Karpathy, Johnson & Fei-Fei, 2015), and measure how fast the "
         "gradient of the final state with respect to an earlier character dies in a vanilla RNN.")

TRY_THIS = [
    "Pick *docstring and comments*: the unit the page opens on (the best match for `in_string`) turns blue inside "
    "the docstring, the comment *and* the error message. Is it a quote detector, or a 'this is English' unit?",
    "Order the units by |correlation| with `paren_depth`, then type `f(g(h(x`: does the top unit count the "
    "brackets, or only notice that one is open? Compare the bracket-depth LSTM, which must count.",
    "Switch to the **Bracket-depth LSTM** and open *Predictions*: one cell unit follows the depth almost "
    "exactly. Type a string deeper than 8 -- what does the model answer?",
    "Gradients through time: drag ρ of the untrained vanilla RNN from 0.5 to 1.5. Where does its line stop "
    "falling? Compare the trained vanilla RNN with the LSTM, and the LSTM's path through its cell state c.",
    "Sampling: set the temperature to 0 -- the text soon repeats itself. Why does greedy decoding loop?",
    "Train a vanilla RNN with 8 units on bracket depth, then an LSTM with 8: which reaches 99 % first?",
]

GRADIENT_INTRO = ("How much does the final state h_T depend on what the network read t steps earlier? The "
                  "Jacobian ∂h_T/∂x_t (or ∂h_T/∂h_t) is a product of T−t one-step Jacobians, computed here by "
                  "autograd. If each step shrinks it, the product vanishes geometrically and no gradient reaches "
                  "the past.")
WRT_HELP = ("x_t, the embedded input character: every path from that character to h_T counts (in an LSTM, through "
            "h and through the cell c). h_t, the hidden state: for an LSTM this holds c_t fixed, so the path "
            "through its memory is the separate ∂h_T/∂c_t line.")
GATES_TEXT = {
    "lstm": "LSTM: c_t = **f**·c_{t−1} + **i**·g, h_t = **o**·tanh(c_t) -- the forget gate f decides how much "
            "memory survives each step.",
    "gru": "GRU: h_t = (1 − **z**)·n + **z**·h_{t−1} -- the update gate z decides how much of the old state "
           "survives each step; the reset gate r how much of it n may read.",
    "rnn": "A vanilla RNN has no gates: h_t = tanh(W_x x_t + W_h h_{t-1} + b). Pick the Code LSTM or GRU to see them.",
}
UMAP_HELP = ("UMAP keeps neighbourhoods, not distances. Its first run in a server process compiles numba code "
             "(~20 s measured here); later runs take ~0.3 s.")
PROBE_HELP = ("A least-squares read-out from all units, fitted on alternate 100-character blocks of held-out data "
              "and scored on the blocks in between.")
COLOURED_TEXT = "(▶ in the heatmap; red = high, blue = low; hover a character for its value)"
TABLE_CAPTION = ("r: Pearson correlation of one unit with the feature. Probe R²: how much of the feature a linear "
                 "read-out of *all* units recovers on held-out positions. 'Needs memory': the feature cannot be read "
                 "off the current character alone.")


def reference_source(task: str, n_chars: int = 6000) -> str:
    """In words, the held-out data the r(unit, feature) numbers and the probes are measured on."""
    if task == "text":
        return (f"the first {n_chars:,} characters of the held-out part of the code corpus (Python's standard "
                "library after the 900,000 training characters), not the text shown")
    return f"200 fresh {task.replace('_', ' ')} sequences (seed 4242) that the model never trained on"


def reference_measures(model, kind: str, layer: int) -> tuple[np.ndarray, list[str], dict]:
    """``(held-out r (features, units), feature names, linear-probe R² per feature)`` of one state and layer."""
    from dlviz.rnn_hidden_states.core import correlations, probe_r2, reference_states

    S, feats = reference_states(model, kind, layer)
    return correlations(S, feats), list(feats), probe_r2(S, feats)


def shipped_name(key: str) -> str | None:
    """The checkpoint name in a ``shipped:<name>`` model key (None for a run or an upload)."""
    return key.removeprefix("shipped:") if key.startswith("shipped:") else None


def here_text(r_here: float | None) -> str:
    return "constant on this text" if r_here is None else f"{r_here:+.2f} on this text"


def r_help(description: str, task: str) -> str:
    return (f"Pearson correlation with: {description}. The big number is measured on {reference_source(task)}; "
            "the small one on the text above.")


def r_caption(task: str) -> str:
    return (f"The big numbers come from held-out data ({reference_source(task)}), so they do not change with the "
            "text you read; the small numbers are the same correlation on the text above.")


def saturation_text(is_text: bool) -> str:
    return ("**Gate saturation** (Karpathy et al., Fig. 4): one dot per unit -- how often its gate is nearly closed "
            "(< 0.1, x) or wide open (> 0.9, y)" + (", over 2,000 held-out characters." if is_text else
                                                   ", over your text."))


def model_caption(model, card: dict) -> str:
    cfg = model.config
    return (f"{cfg.cell.upper()} · {cfg.num_layers} layer · {cfg.hidden_size} units · "
            f"{sum(p.numel() for p in model.parameters()):,} parameters. {card.get('summary', '')}")


def memory_features(corr: np.ndarray, names: list[str], threshold: float = 0.5) -> tuple[list[str], int]:
    """The features that need memory (all of a task's) and how many have a unit with held-out |r| > threshold."""
    memory = [n for n in names if n in LONG_RANGE] or list(names)
    return memory, int(sum(np.abs(corr[names.index(n)]).max() > threshold for n in memory))


@dataclass
class Reading:
    """The text the reader picked and the model's states on it: what every tab shows."""

    text: str
    kind: str                 # "c" | "h"
    layer: int
    unit: int
    hs: HiddenStates
    S: np.ndarray             # (T, H): the chosen state of the chosen layer
    corr: np.ndarray          # (features, H) held-out correlations
    names: list[str]
    r2: dict
    headline: str             # the feature the page opens on
    desc: dict
    feats_here: dict          # the features of the reader's text
    here: np.ndarray          # (features, H) correlations on the reader's text (0 where a feature is constant)

    def unit_range(self, u: int) -> float:
        """Colour range for one unit: h lives in [-1, 1]; a cell state c is scaled to its own largest value."""
        return 1.0 if self.kind == "h" else max(1e-3, float(np.abs(self.S[:, u]).max()))

    def top_features(self, u: int, k: int = 3) -> list[tuple[str, float, float | None]]:
        """The ``k`` features unit ``u`` tracks best on held-out data: ``(name, r held-out, r on this text)``;
        the last is None where the feature is constant on this text (no correlation to measure)."""
        top = np.argsort(-np.abs(self.corr[:, u]), kind="stable")[:k]
        return [(self.names[f], float(self.corr[f, u]),
                 float(self.here[f, u]) if np.ptp(self.feats_here[self.names[f]]) > 0 else None) for f in top]


def units_to_show(order: list[int], n_show: int, selected: int) -> list[int]:
    """The first ``n_show`` units of ``order``, always including ``selected`` (the unit that colours the text):
    when it would not be among them it takes the last place, so the heatmap and the coloured text agree."""
    units = [int(u) for u in order[:n_show]]
    if selected not in units:
        units = units[:max(0, n_show - 1)] + [int(selected)]
    return units


def unit_order(corr: np.ndarray, names: list[str], order_by: str, H: int) -> list[int]:
    """Units strongest-first by held-out |r| with ``order_by`` (stable), or by number."""
    if order_by in names:
        return [int(u) for u in np.argsort(-np.abs(corr[names.index(order_by)]), kind="stable")]
    return list(range(H))


def interpretable_table(r: Reading, is_text: bool) -> dict[str, list]:
    """The best unit for every feature: held-out r, r on the reader's text, probe R², whether it needs memory."""
    from dlviz.rnn_hidden_states.core import best_units

    best = best_units(r.corr, r.names, per_feature=1)
    return {"feature": [m.feature for m in best], "unit": [m.unit for m in best],
            "r (held-out)": [m.r for m in best],
            "r (your text)": [float(r.here[r.names.index(m.feature), m.unit]) for m in best],
            "all units: probe R²": [r.r2[m.feature] for m in best],
            "needs memory": [m.feature in LONG_RANGE or not is_text for m in best],
            "what it is": [r.desc.get(m.feature, "") for m in best]}


def headline_ratio(flows: dict[str, tuple[np.ndarray, np.ndarray]], wrt: str, lags: list[int]):
    """``(lag, LSTM ÷ vanilla RNN)`` of the same Jacobian norm (both with respect to ``wrt``), at lag 50 (or the
    longest lag measured); None when either trained model is missing."""
    a, b = f"LSTM (trained), {JACOBIAN[wrt]}", f"vanilla RNN (trained), {JACOBIAN[wrt]}"
    if a not in flows or b not in flows or not lags:
        return None
    k = 50 if 50 in lags else lags[-1]
    return k, float(flows[a][1][k] / max(flows[b][1][k], 1e-300))


def gradient_flows(models: dict, text: str, wrt: str, with_c: bool, grad) -> tuple[dict, list[str]]:
    """``({line name: (lags, norms)}, problems)``: the Jacobian norms of every model with respect to ``wrt``
    (and the LSTM's cell path when ``with_c``). ``models``: ``{label: (model, cache key) or None (missing)}``;
    ``grad(key, text, wrt, model)`` computes (and caches) one line."""
    from dlviz.data import DataError

    flows, problems = {}, []
    for label, mk in models.items():
        if mk is None:
            problems.append(f"The {label} checkpoint is missing: `python -m dlviz.train {SHIPPED[label]}`.")
            continue
        m, k = mk
        name = label if label == "this model" else f"{label.replace('Code ', '')} (trained)"
        try:
            flows[f"{name}, {JACOBIAN[wrt]}"] = grad(k, text, wrt, m)
            if with_c and m.config.cell == "lstm" and label != "this model":
                flows[f"{name}, {JACOBIAN['c']}"] = grad(k, text, "c", m)
        except DataError as e:
            problems.append(f"{label} cannot read the text: {e}")
    return flows, problems


@dataclass
class Predictions:
    series: dict              # {"truth": (T,), "prediction": (T,)}
    best_unit: dict           # {label: (T,)}: the unit that tracks the task's feature best, sign-corrected
    right: float              # share of positions answered right
    out_of_range: str | None  # a note when the truth leaves the classes the model knows


def predictions(model, r: Reading) -> Predictions:
    """A task model's answers on the reader's text beside the truth and its best unit."""
    from dlviz.rnn_hidden_states.sampling import task_predictions

    pred = task_predictions(model, r.text)
    truth = r.feats_here[r.headline]
    i = r.names.index(r.headline)
    u = int(np.abs(r.corr[i]).argmax())
    sign = 1.0 if r.corr[i, u] >= 0 else -1.0
    top = len(model.class_names) - 1
    note = (f"Your text leaves the range the model was trained on (0 to {top}); it can only answer with a class "
            "it knows.") if truth.min() < 0 or truth.max() > top else None
    return Predictions({"truth": truth, "prediction": pred.astype(float)},
                       {f"{'' if sign > 0 else '−'}{r.kind}[{u}] (best unit)": sign * r.S[:, u]},
                       float(np.mean(pred == truth)), note)


def ratio_text(ratio: float) -> str:
    return f"{ratio:.1e} ×" if ratio > 0 else "–"


# ---------------------------------------------------------------- GIF: the state evolving
def evolution_cell(n_units: int, n_chars: int) -> tuple[int, int]:
    """``(height, width)`` in pixels of one (unit, character) cell of the evolution GIF."""
    return int(np.clip(420 // max(n_units, 1), 3, 12)), int(np.clip(1100 // max(n_chars, 1), 2, 12))


def evolution_frames(states: np.ndarray, text: str, units: list[int], zmax: float = 1.0,
                     max_frames: int = 60) -> list[np.ndarray]:
    """The units × characters heatmap filling in as the network reads: frame t shows the states after
    characters 0..t (the rest blank), character t framed. ``states (T, H)`` as shown (scaled or not)."""
    from dlviz.attention.views import matrix_image

    z = np.asarray(states)[:, units].T                                    # (U, T)
    U, T = z.shape
    chh, cw = evolution_cell(U, T)
    cols = np.arange(T)[None, :]
    frames = []
    for t in np.unique(np.linspace(0, T - 1, min(T, max_frames)).round().astype(int)):
        frames.append(matrix_image(z, -zmax, zmax, "RdBu_r", [f"u{u}" for u in units], list(text), (chh, cw),
                                   title=f"after character {t}: {text[t]!r}", dim=np.broadcast_to(cols > t, (U, T)),
                                   box=(0, t, U, t + 1)))
    return frames


# ---------------------------------------------------------------- notebook snippets
def _loader(name: str | None) -> str:
    if name:
        return f'model, card = load_shipped("{name}", expected_arch="char_rnn")'
    return ('# your own model: download it from the sidebar, then\nmodel, card = load_checkpoint("my_model.pt", '
            'expected_arch="char_rnn")')


def snippet_unit_r(shipped_name: str | None, kind: str, layer: int, unit: int, feature: str) -> str:
    """Plain Python that recomputes r(unit, feature) on the held-out data (what tab 1 shows)."""
    return f"""
from dlviz.checkpoints import load_checkpoint, load_shipped
from dlviz.rnn_hidden_states import core as R

{_loader(shipped_name)}
S, feats = R.reference_states(model, kind="{kind}", layer={layer})   # held-out data, not the text on the page
corr = R.correlations(S, feats)                                        # (features, units) Pearson r
result = corr[list(feats).index("{feature}"), {unit}]
print(f"r(unit {unit}, {feature}) = {{result:+.2f}}")
"""


def snippet_gradient_ratio(text: str, wrt: str) -> str:
    """Plain Python that recomputes the like-with-like gradient ratio of tab 5."""
    return f"""
from dlviz.checkpoints import load_shipped
from dlviz.rnn_hidden_states import core as R

text = {text!r}[-200:]                  # h_T is the state after the last character
lstm, _ = load_shipped("rnn_code_lstm", expected_arch="char_rnn")
rnn, _ = load_shipped("rnn_code_rnn", expected_arch="char_rnn")
g_lstm = R.gradient_through_time(lstm, text, wrt="{wrt}")   # norms[k] = {JACOBIAN[wrt]} at lag k
g_rnn = R.gradient_through_time(rnn, text, wrt="{wrt}")
lags = [k for k in (10, 50, 100, 199) if k < len(text)]
k = 50 if 50 in lags else lags[-1]
result = g_lstm.norms[k] / max(g_rnn.norms[k], 1e-300)
print(f"{{result:.1e}} ×" if result > 0 else "–")
"""
