"""Transformer attention, measured: which token each head reads, and whether that is the algorithm.

Self-attention (Vaswani et al., 2017, "Attention Is All You Need") lets position q read a mixture of
the values at positions k, weighted by ``softmax_k(q . k / sqrt(d))``. On tasks whose algorithm is
known we can check a head against it: to *reverse* ``x`` the output at step i needs ``x[L-1-i]`` (the
mirrored position); to continue a repeated sequence an *induction head* (Olsson et al., 2022, "In-context
Learning and Induction Heads") attends to the token after the previous occurrence of the current token.

Every function here returns plain numpy arrays; attention is always ``(layers, heads, T, T)`` with
rows (queries) summing to 1. The tasks, their data and the live trainer are in
:mod:`dlviz.attention.training`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from dlviz.attention.training import (
    XY_TASKS,
    TaskSpec,
    encode_text,
    make_data,
    task_metrics,
    truth_targets,
    vocabularies,
)
from dlviz.data import DataError

MASKED = np.nan   # pre-softmax scores the causal mask hides are shown as NaN


@dataclass
class AttentionView:
    """One input through the model: what every head attends to, and whether the output is right.

    tokens: ``(T,)`` input tokens; weights, scores: ``(L, H, T, T)`` (query row, key column);
    predictions / targets: ``(T,)`` output tokens ("" where a position is not scored).
    """

    tokens: list[str]
    weights: np.ndarray
    scores: np.ndarray
    causal: bool
    predictions: list[str]
    targets: list[str]
    scored: np.ndarray                 # (T,) bool: positions the task scores
    correct: np.ndarray                # (T,) bool
    entropy: np.ndarray                # (L, H) mean row entropy in bits
    patterns: dict[str, np.ndarray] = field(default_factory=dict)   # name -> (T, T) bool
    match: dict[str, np.ndarray] = field(default_factory=dict)      # name -> (L, H) in [0, 1]
    output: str = ""                   # the decoder's generated answer (x|y tasks)

    @property
    def accuracy(self) -> float:
        n = int(self.scored.sum())
        return float(self.correct[self.scored].mean()) if n else float("nan")


# --------------------------------------------------------------------------- measurements
def attention_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy in bits of every attention row: ``(..., T, T) -> (..., T)``. 0 = one key; log2(n) = uniform."""
    p = np.asarray(weights, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(-1)


def max_entropy(T: int, causal: bool) -> np.ndarray:
    """``(T,)`` bits of a uniform row: ``log2(t + 1)`` keys visible under a causal mask, else ``log2(T)``."""
    return np.log2(np.arange(1, T + 1)) if causal else np.full(T, np.log2(T))


def match_score(weights: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Share of query rows whose strongest key is one the algorithm names.

    weights ``(L, H, T, T)`` or ``(N, L, H, T, T)``; pattern ``(T, T)`` or ``(N, T, T)`` bool, True at the
    right keys of each query; rows with no True are not scored. Returns ``(L, H)`` (NaN: nothing scored).
    """
    w = np.asarray(weights)
    pat = np.asarray(pattern, dtype=bool)
    if w.ndim == 4:
        w, pat = w[None], pat[None]
    top = w.argmax(-1)                                                       # (N, L, H, T)
    hit = np.take_along_axis(pat[:, None, None], top[..., None], axis=-1)[..., 0]   # (N, L, H, T)
    valid = pat.any(-1)[:, None, None, :]                                    # (N, 1, 1, T)
    n = valid.sum(axis=(0, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (hit & valid).sum(axis=(0, 3)) / np.maximum(n, 1), np.nan)


def algorithm_patterns(spec: TaskSpec, ids: torch.Tensor, scored: torch.Tensor) -> dict[str, np.ndarray]:
    """The keys each algorithm says query q must read, as ``(N, T, T)`` bool (``ids``, ``scored`` are (N, T)).

    * copy / reverse: the source position of the output (for ``x|y``: ``q - L`` / ``2L - 1 - q``);
    * sort: any input position holding the token that comes next in sorted order;
    * induction (also for code): any key j <= q right after an earlier occurrence of the current token;
    * counting: any earlier-or-same position holding the same token;
    * previous token (induction, code): q - 1, the first half of an induction circuit;
    * same token earlier (induction, code): an earlier occurrence of the current token -- the first half
      of the other circuit that continues a repeat (find the earlier copy, then read the position after it).

    Rows of the task's algorithm are limited to the positions the task scores (``scored``).
    """
    ids = ids.long()
    N, T = ids.shape
    q = torch.arange(T).view(1, T, 1)
    k = torch.arange(T).view(1, 1, T)
    rows = scored.bool().unsqueeze(-1)                                       # (N, T, 1)
    out: dict[str, torch.Tensor] = {}
    if spec.name in XY_TASKS:
        pos = torch.arange(T).view(1, T)
        L = _sep_positions(spec, ids).view(N, 1) if spec.causal else torch.full((N, 1), T)   # (N, 1) len of x
        i = (pos - L) if spec.causal else pos.expand(N, T)                 # (N, T) output index of query q
        in_x = (k < L.view(N, 1, 1))                                         # (N, 1, T) keys inside x
        if spec.name == "copy":
            out["copy source"] = k == i.unsqueeze(-1)
        elif spec.name == "reverse":
            out["mirror"] = k == (L - 1 - i).unsqueeze(-1)
        else:
            srt = torch.where(pos < L, ids, ids.max() + 1).sort(1).values    # (N, T) x sorted, padding last
            want = srt.gather(1, i.clamp(0, T - 1))                          # (N, T) token query q must output
            out["next in sorted order"] = in_x & (ids.unsqueeze(1) == want.unsqueeze(-1))
    if spec.name in ("induction", "code"):
        prev = torch.cat([torch.full((N, 1), -1), ids[:, :-1]], 1)           # (N, T) token before key j
        out["induction"] = (prev.unsqueeze(1) == ids.unsqueeze(-1)) & (k <= q) & (k >= 1)
        out["previous token"] = (k == q - 1).expand(N, T, T)
        out["same token earlier"] = (ids.unsqueeze(1) == ids.unsqueeze(-1)) & (k < q)
    if spec.name == "counting":
        out["same token"] = (ids.unsqueeze(1) == ids.unsqueeze(-1)) & (k <= q)
    everywhere = {"previous token"}   # a positional pattern, scored at every query that has a previous token
    return {name: (m if name in everywhere else m & rows).numpy() for name, m in out.items()}


def _sep_positions(spec: TaskSpec, ids: torch.Tensor) -> torch.Tensor:
    sep = len(vocabularies(spec)[0]) - 1
    is_sep = ids == sep
    return torch.where(is_sep.any(1), is_sep.float().argmax(1), torch.full((len(ids),), ids.shape[1]))


# --------------------------------------------------------------------------- one input
def _greedy_answer(model, spec: TaskSpec, x: torch.Tensor, causal: bool | None) -> tuple[torch.Tensor, list[int]]:
    """Decode the ``L`` answer tokens of an ``x|y`` task greedily: ``((2L,) = x SEP y[:-1], y)``."""
    sep = len(vocabularies(spec)[0]) - 1
    seq = torch.cat([x, torch.tensor([sep])])
    answer = []
    for _ in range(len(x)):
        nxt = int(model(seq.unsqueeze(0), causal=causal)[0, -1].argmax())
        answer.append(nxt)
        seq = torch.cat([seq, torch.tensor([nxt])])
    return seq[:-1], answer


@torch.no_grad()
def analyse(model, spec: TaskSpec, text: str, head_mask: np.ndarray | None = None,
            causal: bool | None = None) -> AttentionView:
    """Run ``text`` through ``model`` and measure every head. Raises :class:`DataError` on bad text.

    For a decoder on copy/reverse/sort the model writes its own answer (greedy) after the separator,
    and the attention shown is over ``x|answer``.
    """
    model.eval()
    vin, vout = vocabularies(spec)
    x = encode_text(spec, text)                                              # (T0,)
    causal_eff = model.config.causal if causal is None else bool(causal)
    hm = None if head_mask is None else torch.as_tensor(np.asarray(head_mask), dtype=torch.float32)
    output = ""
    if spec.name in XY_TASKS and spec.layout == "decoder":
        if 2 * len(x) > model.config.block_size:
            raise DataError(f"This model reads at most {model.config.block_size // 2} characters "
                            f"(it was trained on {spec.length}).")
        ids, answer = _greedy_answer(model, spec, x, causal)
        output = "".join(vout[a] for a in answer)
    else:
        if len(x) > model.config.block_size:
            raise DataError(f"This model reads at most {model.config.block_size} characters.")
        ids = x
    targets, scored = truth_targets(spec, ids)                               # (T,), (T,) bool
    logits, att, sc = model.run(ids.unsqueeze(0), head_mask=hm, causal=causal)
    weights = att[0].numpy()                                                 # (L, H, T, T)
    scores = sc[0].numpy().copy()
    T = len(ids)
    if causal_eff:
        scores[..., np.triu(np.ones((T, T), dtype=bool), 1)] = MASKED
    pred = logits[0].argmax(-1)                                              # (T,)
    correct = (pred == targets).numpy() & scored.numpy()
    pats = {k: v[0] for k, v in algorithm_patterns(spec, ids.unsqueeze(0), scored.unsqueeze(0)).items()}
    return AttentionView(
        tokens=[vin[i] for i in ids.tolist()], weights=weights, scores=scores, causal=causal_eff,
        predictions=[vout[i] for i in pred.tolist()],
        targets=[vout[t] if s else "" for t, s in zip(targets.tolist(), scored.tolist())],
        scored=scored.numpy(), correct=correct, entropy=attention_entropy(weights).mean(-1),
        patterns=pats, match={k: match_score(weights, p) for k, p in pats.items()}, output=output)


# --------------------------------------------------------------------------- a whole test set
@torch.no_grad()
def dataset_match(model, spec: TaskSpec, n: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    """:func:`match_score` of every head over ``n`` held-out examples: ``{pattern: (L, H)}``."""
    model.eval()
    data = make_data(spec, n, seed=seed, split="test")
    _, att, _ = model.run(data.inputs)                                       # (N, L, H, T, T)
    pats = algorithm_patterns(spec, data.inputs, data.mask)
    return {k: match_score(att.numpy(), p) for k, p in pats.items()}


@dataclass
class Ablation:
    """Accuracy with every head on (``base``) and with one head zeroed at a time (``acc``, (L, H))."""

    base: float
    acc: np.ndarray
    metric: str = "token_acc"

    @property
    def drop(self) -> np.ndarray:
        return self.base - self.acc


@torch.no_grad()
def head_ablation(model, spec: TaskSpec, n: int = 500, seed: int = 0,
                  keep: np.ndarray | None = None) -> Ablation:
    """Zero each head in turn (on top of the heads already off in ``keep``) and re-measure accuracy."""
    model.eval()
    c = model.config
    data = make_data(spec, n, seed=seed, split="test")
    base_mask = torch.ones(c.n_layer, c.n_head) if keep is None else torch.as_tensor(keep, dtype=torch.float32)
    base = task_metrics(model, data, head_mask=base_mask)["token_acc"]
    acc = np.zeros((c.n_layer, c.n_head))
    for layer in range(c.n_layer):
        for h in range(c.n_head):
            m = base_mask.clone()
            m[layer, h] = 0.0
            acc[layer, h] = task_metrics(model, data, head_mask=m)["token_acc"]
    return Ablation(base, acc)


# --------------------------------------------------------------------------- positions
def similarity(vectors: np.ndarray, kind: str = "cosine") -> np.ndarray:
    """``(P, C)`` -> ``(P, P)``: ``cosine`` similarity or raw ``dot`` product of every pair of rows."""
    v = np.asarray(vectors, dtype=np.float64)
    sim = v @ v.T
    if kind == "cosine":
        norm = np.maximum(np.linalg.norm(v, axis=1), 1e-12)
        sim = sim / norm[:, None] / norm[None, :]
    elif kind != "dot":
        raise ValueError("kind must be 'cosine' or 'dot'")
    return sim


@torch.no_grad()
def position_similarity(model, n: int | None = None, kind: str = "cosine") -> np.ndarray:
    """``(P, P)`` similarity of the model's position vectors (see :func:`similarity`)."""
    return similarity(model.position_embeddings().detach().numpy()[: n or model.config.block_size], kind)


def thumbnail() -> np.ndarray:
    """``(~96, ~96, 3)`` uint8: the shipped reverse model's mirror head (an anti-diagonal), else a sketch."""
    from dlviz.checkpoints import CheckpointError, load_shipped
    from dlviz.imaging import quantize

    try:
        model, card = load_shipped("attn_reverse", expected_arch="tiny_transformer")
        spec = TaskSpec.from_dict(card["task"])
        view = analyse(model, spec, "abcdefgh"[: spec.length])
        best = np.unravel_index(np.nanargmax(view.match["mirror"]), view.match["mirror"].shape)
        w = view.weights[best]
    except (CheckpointError, DataError, KeyError, ValueError):
        w = np.tril(np.ones((16, 16))) / np.arange(1, 17)[:, None]
    w = w / max(w.max(), 1e-9)
    k = max(1, 96 // len(w))
    cells = np.kron(w, np.ones((k, k)))                                      # (k T, k T), crisp cells
    lo, hi = np.array([247, 251, 255.0]), np.array([8, 48, 107.0])          # Blues
    return quantize((lo + cells[..., None] * (hi - lo)) / 255)
