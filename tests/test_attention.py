"""Tests for the transformer-attention page's library: the model, the analysis and the tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlviz.attention.core import (
    algorithm_patterns,
    analyse,
    attention_entropy,
    dataset_match,
    head_ablation,
    match_score,
    max_entropy,
    position_similarity,
    similarity,
)
from dlviz.attention.training import (
    TaskSpec,
    build_for_task,
    encode_text,
    example_text,
    make_data,
    make_trainer,
    task_metrics,
    truth_targets,
    vocabularies,
)
from dlviz.checkpoints import load_checkpoint, save_checkpoint
from dlviz.data import DataError
from dlviz.models import build_model
from dlviz.models.transformer import sinusoidal_positions


def _model(**kw):
    torch.manual_seed(0)
    cfg = {"vocab_size": 9, "num_classes": 9, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 32}
    return build_model("tiny_transformer", **{**cfg, **kw}).eval()


# --------------------------------------------------------------------------- the model
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("positions", ["learned", "sinusoidal", "none"])
def test_attention_rows_sum_to_one(causal, positions):
    m = _model(causal=causal, positions=positions, n_layer=3, n_head=4)
    x = torch.randint(0, 9, (5, 16))
    logits, att, scores = m.run(x)
    assert logits.shape == (5, 16, 9)
    assert att.shape == scores.shape == (5, 3, 4, 16, 16)                  # (B, layers, heads, T, T)
    assert torch.allclose(att.sum(-1), torch.ones(5, 3, 4, 16), atol=1e-5)
    assert (att >= 0).all()


@pytest.mark.parametrize("causal", [True, False])
def test_fused_attention_equals_the_explicit_one(causal):
    m = _model(causal=causal, n_layer=2, n_head=4)
    x = torch.randint(0, 9, (3, 16))
    mask = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.5, 0.0]])
    with torch.no_grad():
        for hm in (None, mask):
            fused = m(x, head_mask=hm)                                       # scaled_dot_product_attention
            explicit = m.run(x, head_mask=hm)[0]                            # softmax(QK^T/sqrt(d)) V by hand
            assert torch.allclose(fused, explicit, atol=1e-5)


def test_causal_mask_zeroes_the_future_and_hides_it():
    m = _model(causal=True)
    x = torch.randint(0, 9, (4, 16))
    _, att, _ = m.run(x)
    future = torch.ones(16, 16, dtype=torch.bool).triu(1)
    assert (att[..., future] == 0).all()
    x2 = x.clone()
    x2[:, 9:] = (x2[:, 9:] + 3) % 9                                          # change only the future of t <= 8
    assert torch.equal(m(x)[:, :9], m(x2)[:, :9])
    assert not torch.allclose(m(x)[:, 9:], m(x2)[:, 9:])
    # the same model without the mask (an encoder's view) reads the future
    _, att_open, _ = m.run(x, causal=False)
    assert (att_open[..., future] > 0).all()
    assert not torch.allclose(m(x, causal=False)[:, :9], m(x2, causal=False)[:, :9])


def test_scores_are_qk_over_sqrt_d_and_softmax_gives_the_weights():
    m = _model(causal=True, layernorm=False, n_layer=1)
    x = torch.randint(0, 9, (2, 16))
    _, att, scores = m.run(x)
    h = m.wte(x) + m.wpe.weight[:16]                                         # (B, T, C)
    a = m.blocks[0].attn
    q, k, _ = a.c_attn(h).split(32, dim=2)
    d = 16
    for head in range(2):
        qh, kh = q[..., head * d:(head + 1) * d], k[..., head * d:(head + 1) * d]
        want = qh @ kh.transpose(1, 2) / math.sqrt(d)                        # (B, T, T)
        assert torch.allclose(scores[:, 0, head], want, atol=1e-5)
        masked = want.masked_fill(torch.ones(16, 16, dtype=torch.bool).triu(1), -math.inf)
        assert torch.allclose(att[:, 0, head], masked.softmax(-1), atol=1e-6)


def test_head_mask_equals_cutting_that_heads_output_columns():
    m = _model(n_layer=2, n_head=4)
    x = torch.randint(0, 9, (3, 16))
    assert torch.equal(m(x, head_mask=torch.ones(2, 4)), m(x))
    mask = torch.ones(2, 4)
    mask[1, 2] = 0
    cut = _model(n_layer=2, n_head=4)
    with torch.no_grad():
        cut.blocks[1].attn.c_proj.weight[:, 2 * 8:3 * 8] = 0                  # head 2's slice of the projection
    assert torch.allclose(m(x, head_mask=mask), cut(x), atol=1e-6)
    with pytest.raises(ValueError):
        m(x, head_mask=torch.ones(3, 4))


def _previous_token_model(V: int = 5, T: int = 8, beta: float = 60.0):
    """One layer, one head, built by hand: queries at t look for position t-1; values carry the token."""
    C = V + T
    m = build_model("tiny_transformer", vocab_size=V, num_classes=V, block_size=T, n_layer=1, n_head=1, n_embd=C,
                    causal=True, positions="learned", mlp_ratio=0, layernorm=False, bias=False).eval()
    eye = torch.eye(C)
    shift = torch.zeros(T, T)
    shift[torch.arange(1, T), torch.arange(T - 1)] = 1.0                    # position t -> direction t-1
    Wq, Wk, Wv = torch.zeros(C, C), torch.zeros(C, C), torch.zeros(C, C)
    Wq[V:, V:] = beta * shift.T        # q_t = beta * e_(t-1)  (in the position block)
    Wk[V:, V:] = torch.eye(T)          # k_s = e_s
    Wv[:V, :V] = torch.eye(V)          # v_s = one-hot token of s
    with torch.no_grad():
        m.wte.weight.copy_(eye[:V])
        m.wpe.weight.copy_(eye[V:])
        m.blocks[0].attn.c_attn.weight.copy_(torch.cat([Wq, Wk, Wv]))      # Linear: y = x W^T, so W = [Wq; Wk; Wv]
        m.blocks[0].attn.c_proj.weight.copy_(10 * eye)
        m.head.weight.zero_()
        m.head.weight[:, :V] = torch.eye(V)                                  # read the token block
    return m


def test_hand_built_head_attends_where_its_weights_say():
    V, T = 5, 8
    m = _previous_token_model(V, T)
    x = torch.tensor([[3, 1, 4, 1, 0, 2, 2, 3]])
    with torch.no_grad():
        logits, att, scores = m.run(x)
    w = att[0, 0, 0]                                                         # (T, T)
    assert w[0, 0] == pytest.approx(1.0)                                     # t=0 sees only itself
    for t in range(1, T):
        assert int(w[t].argmax()) == t - 1 and w[t, t - 1] > 0.99
        assert scores[0, 0, 0, t, t - 1] == pytest.approx(60.0 / math.sqrt(V + T), rel=1e-5)
    # the output reads the previous token (the residual adds the current one at 1/10 the weight)
    assert torch.equal(logits[0, 1:].argmax(-1), x[0, :-1])
    # ablating the head leaves only the current token
    assert torch.equal(m(x, head_mask=torch.zeros(1, 1))[0].argmax(-1), x[0])
    # and the analysis names it a previous-token head
    spec = TaskSpec("induction", length=T, vocab_size=V)
    view = analyse(m, spec, "dbebaccd")
    assert view.match["previous token"][0, 0] == 1.0


# --------------------------------------------------------------------------- measurements
def test_match_score_on_a_constructed_case():
    T = 6
    w = np.full((1, 1, T, T), 0.1)
    pattern = np.zeros((T, T), dtype=bool)
    for q, k in [(2, 3), (3, 2), (4, 1), (5, 0)]:                            # 4 scored queries
        pattern[q, k] = True
    w[0, 0, 2, 3] = w[0, 0, 3, 2] = w[0, 0, 4, 1] = 0.9                      # 3 of them peak on the right key
    w[0, 0, 5, 4] = 0.9                                                      # one peaks on a wrong key
    w[0, 0, 0, 5] = w[0, 0, 1, 5] = 0.9                                      # unscored rows do not count
    assert match_score(w, pattern)[0, 0] == 0.75
    # batched: pooled over every scored row of every example
    w2 = np.stack([w, w.copy()])
    w2[1, 0, 0, 5, 0] = 2.0
    assert match_score(w2, np.stack([pattern, pattern]))[0, 0] == 7 / 8
    assert np.isnan(match_score(w, np.zeros((T, T), dtype=bool))[0, 0])


def test_attention_entropy_closed_forms():
    T = 7
    uniform_causal = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    assert np.allclose(attention_entropy(uniform_causal), max_entropy(T, causal=True))
    assert np.allclose(attention_entropy(np.full((T, T), 1 / T)), np.log2(T))
    assert np.allclose(attention_entropy(np.eye(T)), 0.0)
    p = np.array([0.5, 0.25, 0.25])
    assert attention_entropy(p) == pytest.approx(1.5)


def _brute_patterns(spec, ids, scored):
    """Independent loops over (query, key)."""
    T = len(ids)
    out = {}
    vin = vocabularies(spec)[0]
    if spec.name == "sort":
        L = ids.index(len(vin) - 1) if spec.causal else T
        srt = sorted(ids[:L])
        m = np.zeros((T, T), dtype=bool)
        for q in range(T):
            i = q - L if spec.causal else q
            if scored[q] and 0 <= i < L:
                for k in range(L):
                    m[q, k] = ids[k] == srt[i]
        out["next in sorted order"] = m
    if spec.name == "induction":
        m = np.zeros((T, T), dtype=bool)
        for q in range(T):
            for k in range(1, q + 1):
                m[q, k] = bool(scored[q]) and ids[k - 1] == ids[q]
        out["induction"] = m
    return out


@pytest.mark.parametrize("spec", [TaskSpec("sort", 6, 4, "decoder"), TaskSpec("sort", 6, 4, "encoder"),
                                  TaskSpec("induction", 10, 4)])
def test_algorithm_patterns_match_brute_force(spec):
    data = make_data(spec, 20, seed=3)
    pats = algorithm_patterns(spec, data.inputs, data.mask)
    for n in range(20):
        want = _brute_patterns(spec, data.inputs[n].tolist(), data.mask[n].tolist())
        for k, v in want.items():
            assert np.array_equal(pats[k][n], v), (k, n)


def test_reverse_and_copy_patterns_are_the_mirror_and_the_source():
    spec = TaskSpec("reverse", 4, 8, "decoder")
    x = encode_text(spec, "abcd")
    ids = torch.cat([x, torch.tensor([8]), x.flip(0)[:-1]])
    _, scored = truth_targets(spec, ids)
    p = algorithm_patterns(spec, ids[None], scored[None])["mirror"][0]
    assert [tuple(np.nonzero(r)[0]) for r in p] == [()] * 4 + [(3,), (2,), (1,), (0,)]
    enc = TaskSpec("copy", 4, 8, "encoder")
    p = algorithm_patterns(enc, x[None], torch.ones(1, 4, dtype=torch.bool))["copy source"][0]
    assert np.array_equal(p, np.eye(4, dtype=bool))


def test_sinusoidal_similarity_depends_only_on_the_offset():
    P, d = 20, 16
    pe = sinusoidal_positions(P, d).double()
    w = 10000.0 ** (-np.arange(0, d, 2) / d)
    dots = similarity(pe.numpy(), "dot")
    for p in range(P):
        for q in range(P):
            assert dots[p, q] == pytest.approx(np.cos((p - q) * w).sum(), abs=1e-5)   # sum_i cos((p-q) w_i)
    m = _model(positions="sinusoidal", n_embd=16, block_size=20)
    sim = position_similarity(m, kind="cosine")
    assert np.allclose(np.diag(sim), 1.0)
    assert np.allclose(sim, sim.T)


# --------------------------------------------------------------------------- tasks and truth
@pytest.mark.parametrize("spec", [TaskSpec("copy"), TaskSpec("reverse", layout="encoder"), TaskSpec("sort"),
                                  TaskSpec("induction", 12, 6), TaskSpec("counting", 10, 4),
                                  TaskSpec("bracket_depth", 12)])
def test_truth_targets_agree_with_the_task_generator(spec):
    data = make_data(spec, 30, seed=1)
    for n in range(30):
        t, s = truth_targets(spec, data.inputs[n])
        assert torch.equal(s, data.mask[n])
        assert torch.equal(t[s], data.targets[n][s])


def test_induction_lengths_vary_and_padding_is_not_scored():
    spec = TaskSpec("induction", 16, 8, min_length=8)
    data = make_data(spec, 90, seed=0)
    assert data.inputs.shape == (90, 16)
    last = data.mask.float().flip(1).argmax(1)                              # distance from the end to the last scored
    assert len(set(last.tolist())) > 3                                       # repeats end in different places


@pytest.mark.parametrize("spec", [TaskSpec("reverse"), TaskSpec("sort", layout="encoder"),
                                  TaskSpec("induction", 12, 6, min_length=6), TaskSpec("code", 32)])
def test_example_text_round_trips_through_encode(spec):
    text = example_text(spec, seed=4)
    assert len(text) == spec.length
    ids = encode_text(spec, text)
    data = make_data(TaskSpec(spec.name, spec.length, spec.vocab_size, spec.layout), 1, seed=4, split="test")
    assert torch.equal(ids, data.inputs[0][:spec.length])


def test_bad_text_is_a_data_error():
    spec = TaskSpec("reverse", 8, 8)
    m = build_for_task(spec, 1, 1, 16)
    for text in ["", "abz", "ab|c", "abcdefghabcdefgh"]:
        with pytest.raises(DataError):
            analyse(m, spec, text)


def test_analyse_view_is_consistent():
    spec = TaskSpec("reverse", 6, 6, "decoder")
    m = build_for_task(spec, 2, 2, 32)
    v = analyse(m, spec, "abcabc")
    assert v.weights.shape == (2, 2, 12, 12) and len(v.tokens) == 12 and v.tokens[6] == "|"
    assert np.allclose(v.weights.sum(-1), 1.0, atol=1e-5)
    assert np.isnan(v.scores[..., 0, 1]).all() and not np.isnan(v.scores[..., 1, 0]).any()
    assert v.scored.tolist() == [False] * 6 + [True] * 6
    assert len(v.output) == 6 and v.tokens[7:] == list(v.output[:-1])       # it reads its own answer
    assert v.targets[6:] == list("cbacba")
    assert np.allclose(v.entropy, attention_entropy(v.weights).mean(-1))


def test_checkpoint_roundtrip(tmp_path):
    m = _model(positions="sinusoidal")
    path = save_checkpoint(tmp_path / "t.pt", m, {"task": TaskSpec().to_dict()})
    m2, card = load_checkpoint(path, expected_arch="tiny_transformer")
    x = torch.randint(0, 9, (2, 16))
    assert torch.equal(m(x), m2(x)) and TaskSpec.from_dict(card["task"]) == TaskSpec()


# --------------------------------------------------------------------------- learning
def test_live_training_learns_reverse_and_the_mirror_head():
    torch.manual_seed(0)
    spec = TaskSpec("reverse", 8, 8, "decoder")
    m = build_for_task(spec, 1, 2, 64)
    tr = make_trainer(m, spec, steps=150, lr=3e-3, eval_every=50, n_train=4000)
    tr.run()
    assert tr.progress().status == "finished"
    assert tr.latest("token_acc") >= 0.99
    match = dataset_match(m, spec, n=128)["mirror"]
    assert np.nanmax(match) >= 0.95
    ab = head_ablation(m, spec, n=200)
    assert ab.base >= 0.99 and ab.acc.shape == (1, 2)
    assert task_metrics(m, make_data(spec, 200, split="test"), head_mask=torch.zeros(1, 2))["token_acc"] < 0.5
    assert len(tr.snapshots) >= 3 and tr.snapshots[-1][1]["weights"].shape == (1, 2, 16, 16)


def test_arcs_join_each_query_to_the_keys_it_reads():
    from dlviz.attention.plots import arcs_figure

    T = 6
    w = np.zeros((1, T, T))
    w[0, np.arange(T), T - 1 - np.arange(T)] = 1.0                          # a mirror head
    fig = arcs_figure(w, list("abcdef"))
    lines = [tr for tr in fig.data if tr.mode == "lines" and tr.x is not None and len(tr.x) > 1]
    x = np.concatenate([np.asarray(tr.x, dtype=float) for tr in lines])
    arcs = [seg for seg in np.split(x, np.nonzero(np.isnan(x))[0]) if len(seg[~np.isnan(seg)])]
    ends = sorted((round(seg[~np.isnan(seg)][0]), round(seg[~np.isnan(seg)][-1])) for seg in arcs)
    assert ends == sorted((T - 1 - q, q) for q in range(T))                 # from key k to query q, one each
    one = arcs_figure(w, list("abcdef"), query=2)
    assert sum(np.isnan(np.asarray(tr.x, dtype=float)).sum() for tr in one.data if tr.mode == "lines"
               and tr.x is not None and len(tr.x) > 1) == 1                  # only query 2's arc
