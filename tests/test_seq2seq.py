"""Seq2seq with attention (Bahdanau et al. 2015): attention weights against a hand computation from the
model's own weights, task generators that round-trip (the target is a function of the source, checked by
independent parsers), beam search of width 1 = greedy decoding, beam scores = teacher-forced log p,
teacher forcing, the alignment score, exact match by length, and clear errors for bad typed input."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import torch

from dlviz.data import DataError
from dlviz.data.seq2seq_tasks import LEXICON, MONTHS, TASK_NAMES, detokenize, number_words, seq2seq_task, \
    target_and_alignment, task_spec, tokenize
from dlviz.models.seq2seq import EOS, SOS
from dlviz.seq2seq import core as C
from dlviz.seq2seq.training import make_trainer, new_model

torch.set_num_threads(1)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


# ------------------------------------------------------------------ attention
@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_attention_weights_sum_to_one_and_match_a_hand_computation(attention):
    torch.manual_seed(0)
    m = new_model("reverse", attention, hidden_size=16, embed_dim=8).eval()
    src = C.source_tensor(m, [list("abcab"), list("hg")])             # the second is padded
    mem, mask, state, _, _ = m.start(src)
    q = torch.randn(2, 16)
    with torch.no_grad():
        ctx, alpha = m.attend(q, mem, mask)
    a = _np(alpha)
    assert np.allclose(a.sum(1), 1.0, atol=1e-6)
    assert np.all(a[1, 2:] == 0.0), "padding gets no attention"
    M, Q = _np(mem), _np(q)
    if attention == "additive":                       # e_tj = v^T tanh(W s + U m_j + b)   (Bahdanau eq. 6)
        W, U, b, v = _np(m.att_query.weight), _np(m.att_key.weight), _np(m.att_key.bias), _np(m.att_v.weight)[0]
        e = np.tanh((Q @ W.T)[:, None, :] + M @ U.T + b) @ v
    else:                                             # e_tj = s . m_j   (Luong et al. 2015)
        e = np.einsum("bh,bsh->bs", Q, M)
    e = np.where(_np(mask.double()) > 0, e, -np.inf)
    hand = np.exp(e - e.max(1, keepdims=True))
    hand /= hand.sum(1, keepdims=True)
    assert np.allclose(a, hand, atol=1e-6)
    assert np.allclose(_np(ctx), np.einsum("bs,bsh->bh", hand, M), atol=1e-5)   # c_t = sum_j alpha_tj m_j


def test_memory_is_the_projected_bidirectional_encoder_state():
    torch.manual_seed(1)
    m = new_model("reverse", "dot", hidden_size=8, embed_dim=4).eval()
    src = C.source_tensor(m, [list("abc")])
    with torch.no_grad():
        h, _ = m.encoder(m.src_embed(src))                               # (1, 3, 16), no padding here
        mem, _, s0 = m.encode(src)
    assert torch.allclose(mem, h @ m.memory.weight.T, atol=1e-6)


def test_without_attention_the_decoder_sees_one_fixed_vector():
    torch.manual_seed(2)
    m = new_model("reverse", "none", hidden_size=16, embed_dim=8).eval()
    src = C.source_tensor(m, [list("abcdefgh")])
    tin = torch.tensor([[SOS, 3, 4, 5]])
    with torch.no_grad():
        base, alpha = m(src, tin)
        m2 = C.source_tensor(m, [list("abcdefgh")])
        # the output depends on the source only through s_0: replacing the memory changes nothing
        mem, mask, state, fixed, keys = m.start(m2)
        logits = []
        y = tin[:, 0]
        for t in range(4):
            lg, state, _ = m.step(y, state, torch.randn_like(mem), mask, fixed, keys)
            logits.append(lg)
            y = tin[:, min(t + 1, 3)]
    assert torch.allclose(base, torch.stack(logits, 1), atol=1e-6)
    assert float(alpha.abs().sum()) == 0.0


# ------------------------------------------------------------------ decoding
@pytest.mark.parametrize("attention,cell", [("additive", "gru"), ("dot", "lstm"), ("none", "gru"), ("additive", "lstm")])
def test_beam_search_of_width_one_is_greedy(attention, cell):
    torch.manual_seed(3)
    m = new_model("dates", attention, cell=cell, hidden_size=16, embed_dim=8).eval()
    for text in ["3rd of march 1998", "12/1/2001", "july 4, 1776", "1"]:
        src = C.source_tensor(m, [tokenize(C.spec_of(m), text)])
        g_ids, g_alpha = m.greedy(src)
        b_ids, b_alpha, _ = m.beam_search(src, width=1)
        g = g_ids[0].tolist()
        g = g[:g.index(EOS) + 1] if EOS in g else g
        assert b_ids == g
        assert torch.allclose(b_alpha, g_alpha[0, :len(b_ids)], atol=1e-6)


@pytest.mark.parametrize("width", [1, 3])
def test_beam_score_is_the_teacher_forced_log_probability(width):
    torch.manual_seed(4)
    m = new_model("reverse", "additive", hidden_size=16, embed_dim=8).eval()
    src = C.source_tensor(m, [list("abcd")])
    ids, _, score = m.beam_search(src, width=width, max_len=6)
    tin = torch.tensor([[SOS] + ids[:-1]])
    with torch.no_grad():
        logits, _ = m(src, tin)
    lp = torch.log_softmax(logits.double(), -1)[0, torch.arange(len(ids)), torch.tensor(ids)].sum()
    assert score == pytest.approx(float(lp), abs=1e-6)


def test_teacher_forcing_zero_feeds_back_the_greedy_prediction():
    torch.manual_seed(5)
    m = new_model("reverse", "dot", hidden_size=16, embed_dim=8).eval()
    src = C.source_tensor(m, [list("abcdefg")])
    g_ids, _ = m.greedy(src, max_len=5)
    garbage = torch.tensor([[SOS, 7, 7, 7, 7]])                          # ignored at ratio 0
    with torch.no_grad():
        logits, _ = m(src, garbage, teacher_forcing=0.0)
    lg = logits[0].clone()
    lg[:, :2] = -float("inf")
    g = g_ids[0].tolist()
    n = g.index(EOS) + 1 if EOS in g else len(g)                        # greedy pads with </s> after it stops
    assert lg.argmax(-1)[:n].tolist() == g[:n]


# ------------------------------------------------------------------ tasks
@pytest.mark.parametrize("name", TASK_NAMES)
def test_generators_are_deterministic_and_targets_are_functions_of_the_source(name):
    a, b = seq2seq_task(name, 200, seed=3), seq2seq_task(name, 200, seed=3)
    assert [e.source for e in a.examples] == [e.source for e in b.examples]
    assert [e.source for e in a.examples] != [e.source for e in seq2seq_task(name, 200, seed=4).examples]
    spec = a.spec
    for e in a.examples:
        toks = tokenize(spec, detokenize(spec, e.source))                # round trip through typed text
        assert toks == e.source
        t, al = target_and_alignment(name, toks)
        assert t == e.target and al == e.alignment
        assert len(al) == len(t) and all(0 <= j < len(e.source) for js in al for j in js)
        assert len(e.source) <= spec.max_src_len and len(e.target) <= spec.max_tgt_len


def test_reverse_alignment_is_the_anti_diagonal():
    for e in seq2seq_task("reverse", 50, seed=0).examples:
        L = len(e.source)
        assert e.target == e.source[::-1] and e.alignment == [[L - 1 - i] for i in range(L)]


def _parse_date(text: str) -> datetime.date:
    """An independent parser of the generator's formats, by the standard library."""
    t = text.replace(",", "")
    for suf in ("st", "nd", "rd", "th"):
        t = " ".join(w[:-2] if w.endswith(suf) and w[:-2].isdigit() else w for w in t.split())
    t = t.replace(" of ", " ")
    for fmt in ("%d/%m/%Y", "%d %B %Y", "%B %d %Y", "%d %b %Y", "%b %d %Y"):
        try:
            return datetime.datetime.strptime(t, fmt).date()
        except ValueError:
            pass
    raise AssertionError(f"cannot parse {text!r}")


def test_dates_agree_with_the_standard_library_and_align_to_their_sources():
    for e in seq2seq_task("dates", 400, seed=1).examples:
        text = "".join(e.source)
        assert "".join(e.target) == _parse_date(text).isoformat()
        assert [e.source[al[0]] for al in e.alignment[:4]] == e.target[:4]      # year digits, one to one
        assert e.alignment[4] == [] and e.alignment[7] == []                      # the dashes
        month = "".join(e.source[j] for j in e.alignment[5])
        assert month in MONTHS or month[:3] in [m[:3] for m in MONTHS] or int(month) == int("".join(e.target[5:7]))


@pytest.mark.parametrize("v,words,aligned", [
    (206, "two hundred and six", ["two", "hundred", "six"]),
    (40, "forty", ["forty", "forty"]),
    (15, "fifteen", ["fifteen", "fifteen"]),
    (999, "nine hundred and ninety-nine", ["nine", "ninety", "nine"]),
    (0, "zero", ["zero"]),
    (300, "three hundred", ["three", "hundred", "hundred"]),
])
def test_number_words_and_their_alignment(v, words, aligned):
    assert number_words(v) == words
    t, al = target_and_alignment("numbers", list(words))
    assert "".join(t) == str(v)
    assert ["".join(words[j] for j in js) for js in al] == aligned


def test_every_number_round_trips():
    for v in range(1000):
        t, _ = target_and_alignment("numbers", list(number_words(v)))
        assert int("".join(t)) == v


def test_toy_translation_is_a_reordering_with_a_permutation_alignment():
    inverse = {b: a for a, b in LEXICON.items()}
    diag = []
    for e in seq2seq_task("translate", 300, seed=2).examples:
        perm = [js[0] for js in e.alignment]
        assert sorted(perm) == list(range(len(e.source)))                 # every source word used once
        assert all(inverse[w] == e.source[j] for w, j in zip(e.target, perm))
        assert inverse[e.target[-1]] in {"sees", "likes", "chases", "bites", "finds", "helps"}  # verb-final
        diag.append(np.mean([j == i for i, j in enumerate(perm)]))
    assert np.mean(diag) < 0.2, "the alignment should be far from the diagonal"


@pytest.mark.parametrize("text,match", [
    ("", "empty"), ("   ", "empty"), ("3rd of märz 1998", "not in this task's vocabulary"),
    ("1" * 30, "at most 24"),
])
def test_bad_typed_input_gets_a_clear_message(text, match):
    with pytest.raises(DataError, match=match):
        tokenize(task_spec("dates"), text)
    m = new_model("dates", hidden_size=8, embed_dim=4)
    with pytest.raises(DataError, match=match):
        C.decode(m, text)


def test_unknown_words_are_named():
    with pytest.raises(DataError, match="'zebra'"):
        tokenize(task_spec("translate"), "the zebra sees a cat")


# ------------------------------------------------------------------ scores
def test_alignment_score_by_hand():
    alpha = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    s = C.alignment_score(alpha, [[0], [1], [], [0, 1]])
    assert s.scored == 3 and s.hits == pytest.approx(2 / 3)             # row 1 attends to 2, not 1
    assert s.mass == pytest.approx((0.7 + 0.1 + 1.0) / 3)
    assert s.near == 1.0                                                # ... which is one position off
    far = C.alignment_score(np.array([[0.0, 0.0, 0.1, 0.9], [0.9, 0.1, 0.0, 0.0]]), [[0], [1]])
    assert far.hits == 0.0 and far.near == 0.5                          # 3 is two from 0; 0 is one from 1
    A = C.alignment_matrix([[0], [1, 2], []], 3)
    assert np.allclose(A, [[1, 0, 0], [0, 0.5, 0.5], [0, 0, 0]])


def test_exact_match_by_length_counts_every_example_once():
    m = new_model("reverse", hidden_size=8, embed_dim=4)
    test = C.test_set(C.spec_of(m), 120)
    curve = C.exact_match_by_length(m, test)
    assert int(curve.counts.sum()) == len(test)
    lens = [len(e.source) for e in test.examples]
    assert curve.buckets[0][0] == min(lens) and curve.buckets[-1][1] == max(lens)


def test_numbers_test_values_are_never_trained_on():
    m = new_model("numbers", hidden_size=8, embed_dim=4)
    from dlviz.seq2seq.training import training_pool

    src, _, _ = training_pool(m, n=3000)
    held = {tuple(m.encode_tokens(e.source)) for e in C.test_set(C.spec_of(m)).examples}
    seen = {tuple(r[r > 0].tolist()) for r in src}
    assert len(held) == 100 and not held & seen


def test_a_short_run_learns_short_reversals():
    torch.manual_seed(0)
    m = new_model("reverse", "additive", hidden_size=32, embed_dim=16, reverse_lengths=(2, 4))
    tr = make_trainer(m, steps=120, lr=1e-2, batch_size=32, eval_every=120, eval_n=100, teacher_forcing=0.5, pool=1000)
    tr.run()
    assert tr.status == "finished"
    steps, losses = tr.history("loss")
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    assert tr.latest("exact_match") > 0.5


@pytest.mark.parametrize("name,text", [
    ("dates", "march march"), ("dates", "3/13/1998"), ("dates", "31st of february 2001"), ("dates", "3 march 98"),
    ("numbers", "two two"), ("numbers", "hundred"), ("translate", "cat cat"), ("translate", "the cat sees"),
    ("translate", "the cat sees a dog the"),
])
def test_inputs_outside_the_grammar_have_no_true_target(name, text):
    from dlviz.data.seq2seq_tasks import NotInGrammar

    with pytest.raises(NotInGrammar, match="grammar"):
        target_and_alignment(name, tokenize(task_spec(name), text))
