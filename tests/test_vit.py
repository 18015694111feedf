"""The ViT's mathematics: patchify/unpatchify, attention weights against a hand computation from the
module's own parameters, attention rollout against hand-worked 2-layer examples, the position
embeddings' similarity map, and the equivariance measure on the patch tokens."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlviz.models import build_model
from dlviz.vit import core as C


def _vit(**kw):
    torch.manual_seed(0)
    cfg = dict(in_channels=1, image_size=8, patch_size=2, dim=16, depth=2, heads=2, mlp_ratio=2)
    return build_model("vit", {**cfg, **kw}).eval()


# ------------------------------------------------------------------ patches
@pytest.mark.parametrize("c, h, w, p", [(1, 16, 16, 4), (3, 32, 32, 8), (3, 8, 12, 2), (2, 6, 6, 1), (1, 4, 4, 4)])
def test_patchify_unpatchify_round_trip(c, h, w, p):
    x = torch.randn(3, c, h, w)
    t = C.patchify(x, p)
    assert t.shape == (3, (h // p) * (w // p), c * p * p)
    assert torch.equal(C.unpatchify(t, p, c, height=h), x)


def test_patchify_is_row_major_slicing():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    t = C.patchify(x, 4)
    for i in range(2):
        for j in range(2):
            assert torch.equal(t[:, 2 * i + j], x[:, :, 4 * i:4 * i + 4, 4 * j:4 * j + 4].reshape(2, -1))


def test_patchify_rejects_a_patch_that_does_not_divide():
    with pytest.raises(ValueError, match="divide"):
        C.patchify(torch.zeros(1, 1, 10, 10), 4)


# ------------------------------------------------------------------ attention weights by hand
def _hand_attention(h: np.ndarray, w: np.ndarray, b: np.ndarray, heads: int) -> np.ndarray:
    """softmax(q k^T / sqrt(d)) per head with plain loops in float64; h (T, D) is the LN'd input."""
    T, D = h.shape
    d = D // heads
    qkv = h @ w.T + b                                     # (T, 3D)
    q, k = qkv[:, :D], qkv[:, D:2 * D]
    out = np.zeros((heads, T, T))
    for a in range(heads):
        qa, ka = q[:, a * d:(a + 1) * d], k[:, a * d:(a + 1) * d]
        for i in range(T):
            s = [sum(qa[i, m] * ka[j, m] for m in range(d)) / math.sqrt(d) for j in range(T)]
            e = np.exp(np.array(s) - max(s))
            out[a, i] = e / e.sum()
    return out


def test_attention_weights_sum_to_one_and_match_a_hand_computation():
    m = _vit()
    x = torch.rand(2, 1, 8, 8)
    logits, att = C.attention_maps(m, x)                  # (L, B, heads, T, T)
    assert att.shape == (2, 2, 2, 17, 17)
    assert torch.allclose(att.sum(-1), torch.ones(2, 2, 2, 17), atol=1e-6)
    assert (att >= 0).all()
    with torch.no_grad():
        z = m.embed(x)                                    # the fused path (no weights) carries the state
        for layer, blk in enumerate(m.blocks):
            h = blk.ln1(z).double().numpy()
            w, b = blk.attn.qkv.weight.double().numpy(), blk.attn.qkv.bias.double().numpy()
            for i in range(2):
                want = _hand_attention(h[i], w, b, 2)
                np.testing.assert_allclose(att[layer, i].double().numpy(), want, atol=1e-5)
            z, none = blk(z)
            assert none is None
        assert torch.allclose(logits, m(x), atol=1e-5)   # asking for weights does not change the output


# ------------------------------------------------------------------ rollout by hand
def test_rollout_two_layer_two_token_example_worked_by_hand():
    # layer 1: heads I and the swap -> mean all 1/2 -> Â1 = 0.5 A + 0.5 I = [[3/4, 1/4], [1/4, 3/4]]
    # layer 2: both heads send everything to token 1 -> Â2 = [[1/2, 1/2], [0, 1]]
    # rollout Â2 Â1 = [[1/2, 1/2], [1/4, 3/4]]
    l1 = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
    l2 = torch.tensor([[[0.0, 1.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    att = torch.stack([l1, l2])[:, None]                  # (L=2, B=1, heads=2, 2, 2)
    r = C.rollout(att)[0]
    assert torch.allclose(r, torch.tensor([[0.5, 0.5], [0.25, 0.75]]))


def test_rollout_max_fusion_renormalises_worked_by_hand():
    # one 3-token layer pair; max over the heads has rows that do not sum to 1
    h1 = torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    h2 = torch.tensor([[0.0, 0.5, 0.5], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # max over heads: [[.5,.5,.5],[0,1,0],[1,0,1]];
    # 0.5 max + 0.5 I = [[.75,.25,.25],[0,1,0],[.5,0,1]]; rows / (1.25, 1, 1.5)
    a1 = torch.tensor([[0.6, 0.2, 0.2], [0.0, 1.0, 0.0], [1 / 3, 0.0, 2 / 3]])
    eye = torch.eye(3)
    att = torch.stack([torch.stack([h1, h2]), torch.stack([eye, eye])])[:, None]   # layer 2: identity heads
    r = C.rollout(att, head_fusion="max")[0]
    assert torch.allclose(r, a1, atol=1e-6)               # an identity layer leaves the rollout unchanged


def test_cls_rollout_map_is_the_cls_row_over_the_patches_rescaled():
    # one layer, one head, 5 tokens ([CLS] + a 2x2 grid); [CLS] attends (0.2, 0.4, 0.2, 0.1, 0.1)
    a = torch.eye(5)
    a[0] = torch.tensor([0.2, 0.4, 0.2, 0.1, 0.1])
    # Â row 0 = 0.5 a[0] + 0.5 e_0 = (0.6, 0.2, 0.1, 0.05, 0.05); patches (0.2, 0.1, 0.05, 0.05) / 0.4
    m = C.cls_rollout_map(a[None, None, None], grid=2)[0]
    assert torch.allclose(m, torch.tensor([[0.5, 0.25], [0.125, 0.125]]))


def test_rollout_limits_and_row_sums():
    torch.manual_seed(0)
    att = torch.softmax(torch.randn(3, 2, 4, 5, 5), -1)
    assert torch.allclose(C.rollout(att).sum(-1), torch.ones(2, 5), atol=1e-6)
    assert torch.allclose(C.rollout(att, residual=1.0), torch.eye(5).expand(2, 5, 5))
    plain = att[2].mean(1) @ att[1].mean(1) @ att[0].mean(1)          # residual 0: a plain product
    assert torch.allclose(C.rollout(att, residual=0.0), plain, atol=1e-6)
    assert torch.allclose(C.rollout(att, start_layer=2), 0.5 * att[2].mean(1) + 0.5 * torch.eye(5), atol=1e-6)


def test_rollout_of_a_real_vit_matches_a_float64_loop_and_its_map_sums_to_one():
    m = _vit()
    res = C.analyse(m, torch.rand(1, 8, 8))
    a = res.att[:, 0].double().numpy()                    # (L, heads, T, T)
    want = np.eye(17)
    for layer in range(a.shape[0]):
        step = 0.5 * a[layer].mean(0) + 0.5 * np.eye(17)
        want = (step / step.sum(1, keepdims=True)) @ want
    got = res.rollout_map(0)
    np.testing.assert_allclose(got.ravel(), want[0, 1:] / want[0, 1:].sum(), atol=1e-5)
    assert got.shape == (4, 4) and abs(got.sum() - 1) < 1e-5
    assert res.head_maps(0).shape == (2, 2, 4, 4)
    ent = res.entropy()
    assert ent.shape == (2, 2) and (ent >= 0).all() and (ent <= math.log(17) + 1e-5).all()


# ------------------------------------------------------------------ position embeddings
def test_position_similarity_is_cosine_of_the_embeddings():
    m = _vit()
    sim = C.position_similarity(m)                        # (g, g, g, g)
    pe = m.pos_embed[0, 1:].detach().double().numpy()     # (N, D)
    i, j = 5, 10
    want = pe[i] @ pe[j] / np.linalg.norm(pe[i]) / np.linalg.norm(pe[j])
    assert sim[i // 4, i % 4, j // 4, j % 4] == pytest.approx(want, abs=1e-6)
    s = sim.reshape(16, 16)
    np.testing.assert_allclose(np.diag(s), 1.0, atol=1e-6)
    np.testing.assert_allclose(s, s.T, atol=1e-6)
    assert C.position_similarity(_vit(positions="none")) is None


def test_2d_positions_share_their_row_half():
    m = _vit(positions="learned_2d")
    pe = m.position_embeddings()[1:].detach()             # (16, 16): [row half | column half]
    assert torch.equal(pe[1, :8], pe[2, :8])              # patches (0, 1), (0, 2): same row vector
    assert torch.equal(pe[1, 8:], pe[5, 8:])              # patches (0, 1), (1, 1): same column vector


def test_locality_is_one_when_similarity_falls_with_distance():
    g = 4
    ii, jj = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
    c = np.stack([ii.ravel(), jj.ravel()], 1)
    d = np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1))
    assert C.position_locality((1 - d / 10).reshape(g, g, g, g)) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    assert abs(C.position_locality(rng.normal(size=(g, g, g, g)))) < 0.2


# ------------------------------------------------------------------ equivariance of the patch tokens
def test_patch_embedding_is_exactly_equivariant_to_patch_size_shifts_only():
    m = _vit()
    x = torch.rand(4, 1, 8, 8)
    err = C.patch_shift_errors(m, x, [1, 2, 4])
    assert err[2]["patch embedding"] < 1e-6 and err[4]["patch embedding"] < 1e-6
    assert err[1]["patch embedding"] > 0.05
    assert err[2]["+ positions"] > 1e-3                   # the position embeddings break it


def test_without_positions_a_vit_is_a_bag_of_patches():
    m = _vit(positions="none")
    x = torch.rand(4, 1, 8, 8)
    err = C.patch_shift_errors(m, x, [1, 2])
    assert max(err[2].values()) < 1e-5                    # every stage, the logits too: permutation equivariance
    assert err[1]["logits"] > 1e-3


def test_model_rejects_bad_configs_and_inputs():
    with pytest.raises(ValueError, match="divide"):
        _vit(patch_size=3)
    with pytest.raises(ValueError, match="multiple"):
        _vit(heads=3)
    with pytest.raises(ValueError, match="expects"):
        _vit()(torch.zeros(1, 3, 8, 8))


# ------------------------------------------------------------------ the data-efficiency measurement
def test_subsets_are_nested_and_class_balanced():
    from dlviz.vit.training import load_data, subset_per_class

    train = load_data("digits", "train")
    small, big = subset_per_class(train, 50), subset_per_class(train, 200)
    assert len(small) == 50 and len(big) == 200
    assert torch.bincount(small.labels, minlength=10).tolist() == [5] * 10
    rows = {tuple(x.flatten().tolist()) for x in big.images}
    assert all(tuple(x.flatten().tolist()) in rows for x in small.images)    # a smaller subset is inside a larger


def _curve():
    from dlviz.vit import efficiency as E

    curve = E.load()
    if curve is None:
        pytest.skip("vit_vs_cnn_digits.npz is not shipped")
    return curve


def test_the_shipped_curve_matches_todays_models():
    from dlviz.vit.training import build_cnn, build_vit, n_params

    curve = _curve()
    assert curve.meta["vit_params"] == n_params(build_vit("digits"))
    assert curve.meta["cnn_params"] == n_params(build_cnn("digits"))
    assert abs(curve.meta["vit_params"] / curve.meta["cnn_params"] - 1) < 0.15        # a matched budget
    assert curve.vit.shape == curve.cnn.shape == (len(curve.meta["seeds"]), len(curve.sizes))
    assert ((curve.vit > 0.1) & (curve.vit <= 1) & (curve.cnn > 0.1) & (curve.cnn <= 1)).all()


@pytest.mark.slow
def test_a_point_of_the_shipped_curve_re_measures():
    from dlviz.vit import efficiency as E

    curve = _curve()
    torch.set_num_threads(1)
    got = E.measure_point("cnn", int(curve.sizes[0]), curve.meta["seeds"][0], steps=curve.meta["steps"])
    assert got == pytest.approx(curve.cnn[0, 0], abs=0.03)


def test_crossover_reads_the_curve():
    from dlviz.vit.efficiency import Curve

    c = Curve(np.array([10, 100, 1000]), np.array([[0.2, 0.8, 0.97]]), np.array([[0.5, 0.9, 0.96]]), {})
    assert c.crossover() == 1000
    c = Curve(np.array([10, 100]), np.array([[0.2, 0.8]]), np.array([[0.5, 0.9]]), {})
    assert c.crossover() is None


def test_logit_shift_errors_agree_with_the_stage_measure_on_a_vit():
    m = _vit()
    x = torch.rand(3, 1, 8, 8)
    full = C.patch_shift_errors(m, x, [1, 2])
    only = C.logit_shift_errors(m, x, [1, 2])
    for s in (1, 2):
        want = float((m(torch.roll(x, s, -1)) - m(x)).norm() / m(x).norm())
        assert only[s] == pytest.approx(want, rel=1e-4) and full[s]["logits"] == pytest.approx(want, rel=1e-4)
