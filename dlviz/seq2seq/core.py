"""Encoder-decoders and the birth of attention (Bahdanau, Cho & Bengio 2015): decode, look at the
attention, score it against the known alignment, and measure exact match against input length.

* :func:`decode` -- greedy or beam-search decoding of one typed input, with the attention matrix;
* :func:`alignment_score` -- how often the decoder's most-attended source position lies in the true
  alignment, and how much attention mass falls on it;
* :func:`exact_match_by_length` -- the share of held-out examples decoded exactly right, per input-length
  bucket: Bahdanau et al.'s Fig. 2 (BLEU against sentence length) in miniature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dlviz.data.core import DataError
from dlviz.data.seq2seq_tasks import Example, NotInGrammar, Seq2SeqTask, TaskSpec, detokenize, seq2seq_task, \
    target_and_alignment, task_spec, tokenize
from dlviz.models.seq2seq import EOS, PAD, SOS, Seq2Seq

TEST_SEED = 10_001          # held-out examples: a seed no training run uses


# ------------------------------------------------------------------ tensors
def spec_of(model: Seq2Seq) -> TaskSpec:
    """The task spec a model was built for (vocabularies and the input limit come from the model)."""
    c = model.config
    spec = task_spec(c.task, (c.min_src_len, c.max_src_len)) if c.task == "reverse" else task_spec(c.task)
    spec.src_tokens, spec.tgt_tokens, spec.max_src_len = tuple(c.src_tokens), tuple(c.tgt_tokens), c.max_src_len
    return spec


def _padded(rows: list[list[int]], width: int) -> torch.Tensor:
    out = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return torch.from_numpy(out)


def source_tensor(model: Seq2Seq, sources: list[list[str]]) -> torch.Tensor:
    """Token lists -> ``(B, S)`` ids, 0-padded on the right."""
    index = {t: i for i, t in enumerate(model.src_vocab)}
    return _padded([[index[t] for t in s] for s in sources], max(1, max(len(s) for s in sources)))


def target_tensors(model: Seq2Seq, targets: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tgt_in, tgt_out)``, both ``(B, T+1)``: ``<s> y`` and ``y </s>``, 0-padded."""
    index = {t: i for i, t in enumerate(model.tgt_vocab)}
    ids = [[index[w] for w in t] for t in targets]
    T = max(len(t) for t in targets) + 1
    return _padded([[SOS] + r for r in ids], T), _padded([r + [EOS] for r in ids], T)


# ------------------------------------------------------------------ decoding one input
@dataclass
class Decoded:
    """One input decoded. ``alpha (T_out, S)``: row t is the attention of output step t (zeros without
    attention); ``output`` excludes ``</s>``; ``true_*``: the task's own answer and alignment."""

    source: list[str]
    output: list[str]
    alpha: np.ndarray
    log_prob: float
    true_target: list[str]
    true_alignment: list[list[int]]

    @property
    def correct(self) -> bool:
        return self.output == self.true_target


def decode(model: Seq2Seq, text: str, beam_width: int = 1) -> Decoded:
    """Decode typed ``text`` greedily (``beam_width`` 1) or by beam search. Raises :class:`DataError` with a
    message for empty text, tokens outside the vocabulary or text over the model's length limit."""
    spec = spec_of(model)
    src = tokenize(spec, text)
    try:
        true_t, true_a = target_and_alignment(spec.name, src)
    except NotInGrammar:
        true_t, true_a = [], []                                  # not a sentence of the task's grammar
    model = model.eval()
    x = source_tensor(model, [src])
    ids, alpha, logp = model.beam_search(x, width=max(1, int(beam_width)))
    out = model.decode_ids(ids)
    return Decoded(src, out, alpha[:len(out) + (1 if ids and ids[-1] == EOS else 0)].cpu().numpy(), logp,
                   true_t, true_a)


def alignment_matrix(alignment: list[list[int]], n_src: int) -> np.ndarray:
    """The true alignment as a ``(T, S)`` matrix whose rows spread 1 evenly over the aligned positions."""
    A = np.zeros((len(alignment), n_src))
    for t, js in enumerate(alignment):
        if js:
            A[t, js] = 1.0 / len(js)
    return A


@dataclass
class AlignmentScore:
    hits: float              # share of scored output steps whose argmax attention is a truly aligned position
    mass: float              # mean attention mass on the truly aligned positions
    scored: int              # output steps with a non-empty true alignment
    near: float = float("nan")   # share whose argmax is within one position of a truly aligned one


def alignment_score(alpha: np.ndarray, alignment: list[list[int]]) -> AlignmentScore:
    """Score attention ``alpha (T, S)`` against the true alignment, over the first min(T, len(alignment))
    output steps that have one (separators, aligned to nothing, are not scored).

    ``near`` forgives one position: the encoder is bidirectional, so its state h_j carries "a strong focus on
    the parts surrounding the j-th word" (Bahdanau et al. 2015, Sec. 3.1), and a decoder may read token j off
    its neighbour's state -- the shipped reversal model looks one position to the right of the true
    anti-diagonal, at the letter it wrote last, which ``hits`` alone would call a miss."""
    hits, near, mass = [], [], []
    for t in range(min(len(alpha), len(alignment))):
        js = alignment[t]
        if not js:
            continue
        j = int(np.argmax(alpha[t]))
        hits.append(j in js)
        near.append(min(abs(j - k) for k in js) <= 1)
        mass.append(float(alpha[t, js].sum()))
    n = len(hits)

    def mean(v):
        return float(np.mean(v)) if n else float("nan")

    return AlignmentScore(mean(hits), mean(mass), n, mean(near))


# ------------------------------------------------------------------ held-out evaluation
def test_set(spec: TaskSpec, n: int = 600) -> Seq2SeqTask:
    """The held-out examples of a task (for ``numbers``, the 100 values v with 37 v = 0 mod 10, which
    training never sees)."""
    if spec.name == "numbers":
        from dlviz.data.seq2seq_tasks import number_words

        exs = []
        for v in range(1000):
            if (37 * v) % 10 == 0:
                src = list(number_words(v))
                exs.append(Example(src, *target_and_alignment("numbers", src)))
        return Seq2SeqTask(spec, exs)
    return seq2seq_task(spec.name, n, seed=TEST_SEED, reverse_lengths=spec.lengths or (4, 24))


@torch.no_grad()
def greedy_outputs(model: Seq2Seq, sources: list[list[str]], batch_size: int = 256) -> list[list[str]]:
    """Greedy decodes of many sources (batched)."""
    model = model.eval()
    out: list[list[str]] = []
    for i in range(0, len(sources), batch_size):
        ids, _ = model.greedy(source_tensor(model, sources[i:i + batch_size]))
        out += [model.decode_ids(r) for r in ids.tolist()]
    return out


def exact_match(model: Seq2Seq, task: Seq2SeqTask) -> float:
    outs = greedy_outputs(model, [e.source for e in task.examples])
    return float(np.mean([o == e.target for o, e in zip(outs, task.examples)]))


def length_buckets(spec: TaskSpec) -> list[tuple[int, int]]:
    """Inclusive input-length ranges (tokens) for the accuracy-vs-length chart."""
    if spec.name == "reverse":
        lo, hi = spec.lengths
        edges = np.unique(np.linspace(lo, hi + 1, min(6, hi - lo + 1) + 1).round().astype(int))
        return [(int(a), int(b) - 1) for a, b in zip(edges[:-1], edges[1:])]
    return {"dates": [(8, 10), (11, 14), (15, 18), (19, 24)],
            "numbers": [(3, 9), (10, 19), (20, 25), (26, 34)],
            "translate": [(5, 6), (7, 8), (9, 10), (11, 12), (13, 14)]}[spec.name]


@dataclass
class LengthCurve:
    buckets: list[tuple[int, int]]
    accuracy: np.ndarray          # (K,) exact match per bucket (nan where empty)
    counts: np.ndarray            # (K,)
    overall: float

    def labels(self) -> list[str]:
        return [f"{a}" if a == b else f"{a}–{b}" for a, b in self.buckets]

    def as_dict(self) -> dict[str, float]:
        return {f"em_len_{a}_{b}": round(float(v), 4) for (a, b), v in zip(self.buckets, self.accuracy)
                if np.isfinite(v)}


def exact_match_by_length(model: Seq2Seq, task: Seq2SeqTask) -> LengthCurve:
    """Exact match of greedy decoding per input-length bucket."""
    buckets = length_buckets(task.spec)
    outs = greedy_outputs(model, [e.source for e in task.examples])
    ok = np.array([o == e.target for o, e in zip(outs, task.examples)], dtype=float)
    lens = np.array([len(e.source) for e in task.examples])
    acc, cnt = [], []
    for a, b in buckets:
        sel = (lens >= a) & (lens <= b)
        cnt.append(int(sel.sum()))
        acc.append(float(ok[sel].mean()) if sel.any() else float("nan"))
    return LengthCurve(buckets, np.array(acc), np.array(cnt), float(ok.mean()))


MAX_TYPED_WORD = 24        # longer unknown words are quoted cut short


def read_typed(spec: TaskSpec, text: str) -> list[str]:
    """The tokens of typed ``text``, or :class:`DataError` with a message short enough to read: an input far over
    the limit is refused by its length before its tokens are listed, and an unknown word is quoted cut short."""
    unit = "words" if spec.word_level else "characters"
    if len(text) > 40 * spec.max_src_len:
        raise DataError(f"The input has {len(text):,} characters; this model reads at most {spec.max_src_len} {unit}.")
    if spec.word_level:
        long = [w for w in dict.fromkeys(text.strip().lower().split()) if len(w) > MAX_TYPED_WORD
                and w not in spec.src_tokens]
        if long:
            shown = ", ".join(repr(w[:MAX_TYPED_WORD] + "…") for w in long[:3])
            raise DataError(f"The word{'s' if len(long) > 1 else ''} {shown} {'are' if len(long) > 1 else 'is'} not "
                            f"in this task's vocabulary ({' '.join(spec.src_tokens)!r}).")
    return tokenize(spec, text)


def check_text(model: Seq2Seq, text: str) -> list[str]:
    """Tokens of ``text`` if the model can read it; else raises :class:`DataError` (the page's message)."""
    return tokenize(spec_of(model), text)


def pretty(spec: TaskSpec, toks: list[str]) -> str:
    return detokenize(spec, toks)


__all__ = ["AlignmentScore", "DataError", "Decoded", "LengthCurve", "PAD", "alignment_matrix", "alignment_score",
           "check_text", "decode", "read_typed", "exact_match", "exact_match_by_length", "greedy_outputs", "length_buckets",
           "source_tensor", "spec_of", "target_tensors", "test_set"]
