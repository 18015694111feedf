"""Inside a recurrent network: hidden states, interpretable units, gates, gradients through time, sampling.

Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding Recurrent Networks" -- units that
track quotes, brackets and line position; gate saturation. Bengio, Simard & Frasconi (1994) and
Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural networks" -- the
Jacobian ``dh_T/dh_t`` is a product of T-t per-step Jacobians, so its norm shrinks (or grows)
geometrically with the lag in a vanilla RNN, while the LSTM's additive cell path
``c_t = f_t * c_{t-1} + i_t * g_t`` keeps it alive where the forget gate stays near 1.

Everything here works on a :class:`dlviz.models.rnn.CharRNN` and returns numpy arrays.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from dlviz.data import DataError, code_text
from dlviz.models.rnn import CharRNN

TRAIN_CHARS = 900_000          # the code corpus: characters [0, TRAIN_CHARS) train, the rest is held out
# the synthetic tasks: sequence length and alphabet size used for training and testing
TASK_SPECS = {"bracket_depth": {"length": 48, "vocab_size": 3}, "counting": {"length": 20, "vocab_size": 4}}


@functools.lru_cache(maxsize=1)
def corpus_split() -> tuple[str, str]:
    """``(train, held_out)`` parts of the standard-library code corpus (built once per process)."""
    text = code_text(10**8)
    if len(text) < 20_000:
        raise DataError("The code corpus is too small on this Python installation.")
    cut = min(TRAIN_CHARS, int(len(text) * 0.9))
    return text[:cut], text[cut:]


@functools.lru_cache(maxsize=1)
def code_vocab() -> str:
    """The code models' characters in id order (id 0 = unknown), from the whole corpus."""
    from dlviz.data import CharVocab

    train, held = corpus_split()
    return "".join(CharVocab.from_text(train + held).chars)


def _eval_copy(model: CharRNN) -> CharRNN:
    """The model itself when in eval mode, else an eval-mode copy (shared models are never mutated)."""
    return copy.deepcopy(model).eval() if model.training else model


def _device(model: CharRNN) -> torch.device:
    return next(model.parameters()).device


# ---------------------------------------------------------------------- encoding
def encode_text(model: CharRNN, text: str) -> tuple[torch.Tensor, list[str]]:
    """``(ids (T,), unknown characters)``. A task model refuses characters outside its vocabulary."""
    if not text:
        raise DataError("The text is empty: type or pick at least one character.")
    vocab = model.config.vocab
    is_text = model.config.task == "text"
    known = set(vocab[1:] if is_text else vocab)                # id 0 of a text model means "unknown"
    unknown = sorted(set(text) - known)
    if unknown and not is_text:
        raise DataError(f"This {model.config.task} model reads only the characters {vocab!r}; "
                        f"the text has {''.join(unknown)!r}.")
    return model.encode(text), unknown


# ---------------------------------------------------------------------- hidden states
@dataclass
class HiddenStates:
    """One text read by the model. h/c: ``(L, T, H)``; gates: ``{name: (L, T, H)}``; probs: ``(T, C)``."""

    text: str
    ids: np.ndarray
    h: np.ndarray
    c: np.ndarray | None
    gates: dict[str, np.ndarray] = field(default_factory=dict)
    probs: np.ndarray | None = None
    unknown: list[str] = field(default_factory=list)

    def states(self, kind: str = "h", layer: int = -1) -> np.ndarray:
        """``(T, H)`` hidden (``"h"``) or LSTM cell (``"c"``) states of one layer."""
        if kind == "c":
            if self.c is None:
                raise ValueError("only an LSTM has cell states")
            return self.c[layer]
        return self.h[layer]


def hidden_states(model: CharRNN, text: str) -> HiddenStates:
    """Run ``model`` over ``text`` from a zero state and keep everything it computed."""
    model = _eval_copy(model)
    ids, unknown = encode_text(model, text)
    tr = model.trace(ids[None].to(_device(model)))
    return HiddenStates(text=text, ids=ids.numpy(), h=tr.h[:, 0].numpy(),
                        c=None if tr.c is None else tr.c[:, 0].numpy(),
                        gates={k: v[:, 0].numpy() for k, v in tr.gates.items()},
                        probs=torch.softmax(tr.logits[0], -1).numpy(), unknown=unknown)


def correlations(states: np.ndarray, features: dict[str, np.ndarray]) -> np.ndarray:
    """Pearson correlation of every unit with every feature: ``(F, H)``; 0 where either is constant.

    (The linear algebra here runs in torch, float64: numpy's threaded OpenBLAS can stall for
    hundreds of ms on a busy 2-core machine, torch's OpenMP with passive waits does not.)
    """
    X = torch.as_tensor(np.asarray(states), dtype=torch.float64)                 # (T, H)
    Fm = torch.as_tensor(np.stack([np.asarray(v, dtype=np.float64) for v in features.values()], axis=1))  # (T, F)
    if len(X) != len(Fm):
        raise ValueError("states and features differ in length")
    Xc, Fc = X - X.mean(0), Fm - Fm.mean(0)
    sx, sf = Xc.square().sum(0).sqrt(), Fc.square().sum(0).sqrt()
    cov = Fc.T @ Xc                                                               # (F, H)
    denom = torch.outer(sf, sx)
    ok = denom > 1e-12 * max(1.0, float(denom.max()) if denom.numel() else 0.0)
    return torch.where(ok, cov / torch.where(ok, denom, torch.ones_like(denom)), torch.zeros_like(cov)).numpy()


@dataclass
class UnitMatch:
    feature: str
    unit: int
    r: float


def best_units(corr: np.ndarray, names: list[str], per_feature: int = 1) -> list[UnitMatch]:
    """The ``per_feature`` units with the largest ``|r|`` for each feature, strongest first."""
    out = []
    for f, name in enumerate(names):
        order = np.argsort(-np.abs(corr[f]), kind="stable")[:per_feature]
        out += [UnitMatch(name, int(u), float(corr[f, u])) for u in order]
    return sorted(out, key=lambda m: -abs(m.r))


# ---------------------------------------------------------------------- trajectories
@dataclass
class Projection:
    coords: np.ndarray              # (T, dims)
    explained: np.ndarray | None    # (dims,) variance ratio (PCA only)
    method: str


def pca(states: np.ndarray, dims: int = 2) -> Projection:
    """Principal components of the ``(T, H)`` state cloud (eigenvectors of the centred scatter matrix)."""
    X = torch.as_tensor(np.asarray(states), dtype=torch.float64)
    Xc = X - X.mean(0)
    # eigenvectors of the (H, H) scatter matrix: the right singular vectors of Xc, much cheaper than an SVD
    evals, evecs = torch.linalg.eigh(Xc.T @ Xc)
    evals, Vt = evals.flip(0).clamp(min=0).numpy(), evecs.flip(1).T.numpy()
    Xc = Xc.numpy()
    dims = min(dims, Vt.shape[0])
    # a deterministic sign: the largest-magnitude loading of each component is positive
    signs = np.sign(Vt[np.arange(dims), np.abs(Vt[:dims]).argmax(1)])
    signs[signs == 0] = 1
    coords = Xc @ Vt[:dims].T * signs
    total = float(evals.sum())
    explained = evals[:dims] / total if total > 0 else np.zeros(dims)
    return Projection(coords, explained, "PCA")


def umap(states: np.ndarray, dims: int = 2, seed: int = 0, n_neighbors: int = 15) -> Projection:
    """UMAP (McInnes et al., 2018) of the states; neighbourhoods, not distances, are kept."""
    import umap as umap_lib  # heavy: imported only when asked

    X = np.asarray(states, dtype=np.float32)
    if len(X) < 4:
        raise DataError("UMAP needs at least 4 time steps.")
    reducer = umap_lib.UMAP(n_components=dims, n_neighbors=max(2, min(n_neighbors, len(X) - 1)),
                            random_state=seed, init="random" if len(X) <= dims + 1 else "spectral")
    return Projection(np.asarray(reducer.fit_transform(X), dtype=np.float64), None, "UMAP")


# ---------------------------------------------------------------------- gates
@dataclass
class Saturation:
    """Per gate and unit, the share of time steps with activation below ``low`` / above ``high``."""

    left: dict[str, np.ndarray]     # {gate: (H,)}
    right: dict[str, np.ndarray]
    low: float
    high: float

    def overall(self, gate: str) -> float:
        """Share of all (unit, time) activations of ``gate`` that are saturated at either end."""
        return float(self.left[gate].mean() + self.right[gate].mean())


def gate_saturation(hs: HiddenStates, layer: int = -1, low: float = 0.1, high: float = 0.9) -> Saturation:
    """Saturation of the sigmoid gates (LSTM: input, forget, output; GRU: reset, update)."""
    sig = [g for g in hs.gates if g not in ("cell", "new")]
    left = {g: (hs.gates[g][layer] < low).mean(0) for g in sig}
    right = {g: (hs.gates[g][layer] > high).mean(0) for g in sig}
    return Saturation(left, right, low, high)


# ---------------------------------------------------------------------- gradients through time
@dataclass
class GradientFlow:
    """``norms[k] = ||dh_T / d node_{T-1-k}||_F`` for lag ``k = 0 .. T-1`` (Frobenius norm)."""

    lags: np.ndarray
    norms: np.ndarray
    wrt: str

    def at(self, lag: int) -> float:
        return float(self.norms[min(lag, len(self.norms) - 1)])

    def decay_per_step(self, start: int = 1) -> float:
        """Geometric-mean factor by which the norm changes per step of lag (least squares on log)."""
        k, v = self.lags[start:], self.norms[start:]
        good = v > 0
        if good.sum() < 2:
            return float("nan")
        slope = np.polyfit(k[good], np.log(v[good]), 1)[0]
        return float(math.exp(slope))


def jacobians_through_time(model: CharRNN, ids: torch.Tensor, wrt: str = "h") -> torch.Tensor:
    """``J[t] = dh_T / d node_t`` for every step t: ``(T, H, D)``, by reverse-mode autograd.

    One backward pass: the sequence is copied once per output unit b (a batch of H), and we
    differentiate ``sum_b h_T[b, b]``; copies do not interact, so copy b's gradient is row b of J.
    """
    model = copy.deepcopy(model).double().eval()               # float64: norms far below 1e-38 stay exact
    H = model.config.hidden_size
    x = ids.reshape(1, -1).expand(H, -1).to(_device(model))    # (H, T)
    with torch.enable_grad():
        nodes, h_last = model.step_states(x, wrt=wrt)          # T x (H, D), (H, H)
        out = h_last.diagonal().sum()
        grads = torch.autograd.grad(out, nodes)
    return torch.stack(grads).detach()


def gradient_through_time(model: CharRNN, text: str, wrt: str = "h") -> GradientFlow:
    """How strongly the final hidden state depends on the state (or input) at each earlier step."""
    ids, _ = encode_text(model, text)
    J = jacobians_through_time(model, ids, wrt)                # (T, H, D)
    norms = torch.linalg.matrix_norm(J.double()).flip(0).cpu().numpy()  # lag 0 first
    return GradientFlow(np.arange(len(norms)), norms, wrt)


def gradient_table(flows: dict[str, tuple[np.ndarray, np.ndarray]], lags: list[int]) -> dict[str, dict]:
    """``{model: {"lag k": norm, ..., "factor per step": geometric decay}}`` for a table."""
    return {name: {**{f"lag {k}": float(norms[k]) for k in lags if k < len(norms)},
                   "factor per step": GradientFlow(np.asarray(lg), np.asarray(norms), "h").decay_per_step()}
            for name, (lg, norms) in flows.items()}


def untrained_best_r(config: dict, kind: str = "h", seed: int = 0) -> dict[str, float]:
    """Best single-unit |r| per feature for a randomly initialised twin of a model (same config):
    the chance level that a trained model's units must beat."""
    from dlviz.models import build_model

    torch.manual_seed(seed)
    S, feats = reference_states(build_model("char_rnn", config).eval(), kind, -1)
    corr = correlations(S, feats)
    return {n: float(np.abs(corr[i]).max()) for i, n in enumerate(feats)}


def fresh_model(cell: str, hidden_size: int = 64, spectral_radius: float | None = None, seed: int = 0,
                vocab: str | None = None, forget_bias: float = 1.0) -> CharRNN:
    """An untrained CharRNN; ``spectral_radius`` rescales each recurrent matrix (per gate block)."""
    from dlviz.models import build_model

    torch.manual_seed(seed)
    kw = {"vocab": vocab} if vocab else {}
    model = build_model("char_rnn", cell=cell, hidden_size=hidden_size, forget_bias=forget_bias, **kw)
    if spectral_radius is not None:
        with torch.no_grad():
            for layer in model.layers:
                W = layer.weight_hh_l0                         # (G*H, H)
                for blk in W.split(hidden_size):
                    rho = torch.linalg.eigvals(blk.double()).abs().max().item()
                    if rho > 0:
                        blk.mul_(spectral_radius / rho)
    return model.eval()


# ---------------------------------------------------------------------- where units are judged
CODE_EXAMPLES = {
    "quotes and brackets": (
        'def greet(name, punctuation="!"):\n'
        '    message = "Hello, " + name + punctuation\n'
        "    sizes = [len(word) for word in message.split(' ')]\n"
        '    return {"text": message, "sizes": sizes, "ok": (len(sizes) > 2)}\n'),
    "deep nesting": "total = sum(f(g(x), [h(y) for y in (1, 2, (3, 4))]) for x in range(len(items[0])))\n",
    "docstring and comments": (
        "class Stack:\n"
        '    """A last-in, first-out stack (push, pop, peek)."""\n\n'
        "    def __init__(self):\n"
        "        self.items = []  # the top is the end of the list\n\n"
        "    def pop(self):\n"
        "        if not self.items:\n"
        "            raise IndexError('pop from an empty stack')\n"
        "        return self.items.pop()\n"),
}
TASK_EXAMPLES = {
    "bracket_depth": {"nested": "((a)(()a))a(((a)))", "a deep dive": "((((((((a))))))))a",
                      "up and down": "(a)((a))(((a)))((a))(a)"},
    "counting": {"repeats": "abcabcaabbdd", "one symbol": "aaaaaaaa", "mixed": "abacabadabacaba"},
}


def examples(model: CharRNN) -> dict[str, str]:
    """Example inputs for the text picker: hand-written ones and, for code, a held-out excerpt."""
    task = model.config.task
    if task != "text":
        return dict(TASK_EXAMPLES.get(task, {}))
    _, held = corpus_split()
    start = held.find("\ndef ", 30_000) + 1                   # a clean start: outside any string
    return {**CODE_EXAMPLES, "held-out stdlib excerpt": held[start:start + 400]}


def reference_states(model: CharRNN, kind: str = "h", layer: int = -1, n_chars: int = 6000
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """States ``(N, H)`` and true features ``{name: (N,)}`` on data the model never trained on.

    Code models read ``n_chars`` characters of the held-out corpus; task models read 200 fresh task
    sequences (each from a zero state, as in training), pooled.
    """
    from dlviz.rnn_hidden_states.text_features import task_features, text_features

    model = _eval_copy(model)
    task = model.config.task
    if task == "text":
        _, held = corpus_split()
        text = held[:n_chars]
        hs = hidden_states(model, text)
        return hs.states(kind, layer), text_features(text)
    from dlviz.data import sequence_task

    data = sequence_task(task, n=200, seed=4242, **TASK_SPECS[task])
    tr = model.trace(data.inputs.to(_device(model)))
    S = (tr.c if kind == "c" else tr.h)[layer].reshape(-1, model.config.hidden_size).numpy()
    symbols = "".join(data.input_vocab)
    per = [task_features(task, data.decode_input(row), symbols) for row in data.inputs]
    return S, {k: np.concatenate([p[k] for p in per]) for k in per[0]}


def probe_r2(states: np.ndarray, targets: dict[str, np.ndarray], block: int = 100,
             ridge: float = 1e-6) -> dict[str, float]:
    """R² of a linear read-out of each target from all units, scored on data it was not fitted on.

    The positions are cut into blocks of ``block``; even blocks fit the read-out (least squares with a
    tiny ridge, one solve for every target), odd blocks score it.
    """
    S = torch.as_tensor(np.asarray(states), dtype=torch.float64)
    X = torch.cat([S, torch.ones(len(S), 1, dtype=torch.float64)], 1)                   # (N, H + 1)
    Y = torch.as_tensor(np.stack([np.asarray(v, dtype=np.float64) for v in targets.values()], 1))  # (N, F)
    fit = torch.as_tensor((np.arange(len(Y)) // block) % 2 == 0)
    A, B = X[fit], Y[fit]
    W = torch.linalg.solve(A.T @ A + ridge * len(A) * torch.eye(A.shape[1], dtype=torch.float64), A.T @ B)
    resid = Y[~fit] - X[~fit] @ W
    var = Y[~fit].var(0, unbiased=False)
    safe = torch.where(var > 0, var, torch.ones_like(var))
    r2 = torch.where(var > 0, 1 - resid.square().mean(0) / safe, torch.full_like(var, float("nan"))).numpy()
    return dict(zip(targets, r2.tolist()))


def features_of(task: str, text: str, vocab: str = "") -> dict[str, np.ndarray]:
    """The known features of ``text`` for a code model (``task="text"``) or a task model."""
    from dlviz.rnn_hidden_states.text_features import task_features, text_features

    return text_features(text) if task == "text" else task_features(task, text, "".join(vocab))


def thumbnail() -> np.ndarray:
    """The landing-page picture: the shipped LSTM's cell states over a line of code, ``(H, W, 3)`` uint8."""
    from dlviz.checkpoints import load_shipped
    from dlviz.imaging import quantize

    model, _ = load_shipped("rnn_code_lstm", expected_arch="char_rnn")
    c = hidden_states(model, CODE_EXAMPLES["quotes and brackets"][:150]).states("c").T          # (H, 150)
    c = c - c.mean(1, keepdims=True)
    c = c[np.argsort(-c.std(1))[:36]]                                                          # busiest units
    v = (c / (np.abs(c).max(1, keepdims=True) + 1e-8))[..., None]                               # (36, 150, 1)
    blue, white, red = np.array([33, 102, 172]), np.array([247, 247, 247]), np.array([178, 24, 43])
    img = np.where(v < 0, white + (blue - white) * -v, white + (red - white) * v)
    return np.repeat(np.repeat(quantize(img / 255), 4, axis=0), 2, axis=1)                      # (144, 300, 3)
