"""Arrays the seq2seq page shows (never figures): the attention matrix of one decode with readable axis
labels, the true alignment beside it, the GIF of the attention over the decoding steps, the notebook snippet, and
the landing-page thumbnail (Bahdanau et al. 2015, Fig. 3 style)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlviz.seq2seq.core import Decoded, alignment_matrix


def token_label(tok: str) -> str:
    return "␣" if tok == " " else tok


def _unique(labels: list[str]) -> list[str]:
    """Plotly merges equal category labels: keep them apart with zero-width spaces."""
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        k = seen.get(lab, 0)
        seen[lab] = k + 1
        out.append(lab + "\u200b" * k)
    return out


@dataclass
class AttentionView:
    alpha: np.ndarray           # (T, S): decoder attention; rows are output steps (the last may be </s>)
    truth: np.ndarray           # (T', S): the true alignment, rows spread evenly over the aligned positions
    src_labels: list[str]       # S unique axis labels
    out_labels: list[str]       # T unique labels of the model's output steps
    true_labels: list[str]      # T' unique labels of the true target


def attention_view(d: Decoded) -> AttentionView:
    S = len(d.source)
    out = [token_label(t) for t in d.output] + (["⟨end⟩"] if len(d.alpha) > len(d.output) else [])
    return AttentionView(np.asarray(d.alpha)[:, :S], alignment_matrix(d.true_alignment, S),
                         _unique([token_label(t) for t in d.source]), _unique(out),
                         _unique([token_label(t) for t in d.true_target]))


def thumbnail() -> np.ndarray:
    """The true alignment of "3rd of march 1998" -> "1998-03-03", blurred like an attention map."""
    from dlviz.data.seq2seq_tasks import target_and_alignment

    src = list("3rd of march 1998")
    _, al = target_and_alignment("dates", src)
    A = alignment_matrix(al, len(src))
    A = A / np.maximum(A.max(1, keepdims=True), 1e-9)
    k = np.array([0.15, 0.7, 0.15])
    A = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, A)
    A = np.kron(A, np.ones((8, 8)))
    a = np.clip(A / A.max(), 0, 1)[..., None]
    lo, hi = np.array([247, 251, 255]), np.array([8, 48, 107])      # white -> dark blue
    return (lo + (hi - lo) * a).astype(np.uint8)


def decoding_frames(v: AttentionView) -> list[np.ndarray]:
    """The decoder's attention step by step: frame t shows rows 0..t of alpha (the output tokens written so far),
    row t framed -- the step that writes output token t -- and the true alignment of the rows written so far framed
    in red."""
    from dlviz.attention.views import ascii_label, cell_size, matrix_image

    T, S = v.alpha.shape
    c = cell_size(max(T, S), room=420, lo=8, hi=24)
    truth = np.zeros((T, S), dtype=bool)
    n = min(T, len(v.truth))
    truth[:n] = np.asarray(v.truth)[:n] > 0
    rows = np.arange(T)[:, None]
    return [matrix_image(v.alpha, 0.0, 1.0, "Blues", v.out_labels, v.src_labels, (c, c),
                         title=f"step {t + 1}: writes {ascii_label(v.out_labels[t], 8)}",
                         dim=np.broadcast_to(rows > t, (T, S)), box=(t, 0, t + 1, S), outline=truth & (rows <= t))
            for t in range(T)]


def snippet_exact_match(name: str | None, n: int = 600) -> str:
    """Plain Python that recomputes one model's exact match on the held-out set (section 2's headline)."""
    load = (f'model, card = load_shipped("{name}", expected_arch="seq2seq")' if name else
            '# your own run: download it, then\nmodel, card = load_checkpoint("my_model.pt", expected_arch="seq2seq")')
    return f"""
from dlviz.checkpoints import load_checkpoint, load_shipped
from dlviz.seq2seq import core as C

{load}
curve = C.exact_match_by_length(model, C.test_set(C.spec_of(model), {n}))   # greedy decoding, held-out inputs
result = curve.overall
print(f"{{result:.1%}}")
"""
