"""The position embeddings' spatial order (Dosovitskiy et al. Fig. 7) and the multi-seed ViT-vs-CNN curve:
the row/column and ring scores on maps built to have (or lack) that structure, their shuffle baseline, the
shipped food ViT showing rows/columns and rings; the curve's standard errors, merging per-seed runs, >= 3 seeds."""

from __future__ import annotations

import numpy as np
import pytest

from dlviz.vit import core as C


def _coords(g):
    return np.repeat(np.arange(g), g), np.tile(np.arange(g), g)


def _rowcol_map(g: int) -> np.ndarray:
    """Embeddings = [one-hot row | one-hot column]: cosine 0.5 for a shared row or column, 0 otherwise."""
    r, c = _coords(g)
    e = np.concatenate([np.eye(g)[r], np.eye(g)[c]], 1)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    return (e @ e.T).reshape(g, g, g, g)


def test_row_col_contrast_of_one_hot_rows_and_columns_is_a_half():
    g = 5
    assert C.row_col_contrast(_rowcol_map(g)) == pytest.approx(0.5)      # 0.5 on same row/col, 0 elsewhere
    ps = C.position_structure(_rowcol_map(g), shuffles=300)
    assert ps.z("row_col") > 5 and ps.p_value["row_col"] < 0.01


def test_a_ring_code_scores_radial_one_and_negative_locality():
    g = 6
    r, c = _coords(g)
    rho = np.hypot(r - (g - 1) / 2, c - (g - 1) / 2)
    sim = (1 - np.abs(rho[:, None] - rho[None]) / 10).reshape(g, g, g, g)
    assert C.radial_order(sim) == pytest.approx(1.0)
    assert C.position_locality(sim) < C.radial_order(sim)               # opposite corners: far apart, alike


def test_shuffled_patches_have_no_structure():
    g = 6
    sim = _rowcol_map(g).reshape(g * g, g * g)
    rng = np.random.default_rng(1)
    p = rng.permutation(g * g)
    shuffled = sim[p][:, p].reshape(g, g, g, g)
    ps = C.position_structure(shuffled, shuffles=300)
    assert abs(ps.z("row_col")) < 3 and ps.p_value["row_col"] > 0.001
    # the shuffle baseline has the same mean off-diagonal similarity, so the contrast's null centres near 0
    assert abs(ps.null_mean["row_col"]) < 3 * ps.null_std["row_col"] / np.sqrt(300) + 1e-3


def test_position_structure_is_deterministic_given_its_seed():
    sim = np.random.default_rng(0).normal(size=(4, 4, 4, 4))
    a, b = C.position_structure(sim, shuffles=50, seed=3), C.position_structure(sim, shuffles=50, seed=3)
    assert a == b


def test_the_shipped_food_vit_learned_rows_columns_and_rings():
    from dlviz.checkpoints import load_shipped, shipped

    if "vit_food" not in shipped():
        pytest.skip("vit_food is not shipped")
    model, card = load_shipped("vit_food", expected_arch="vit")
    ps = C.position_structure(C.position_similarity(model), shuffles=300)
    assert ps.row_col == pytest.approx(card["metrics"]["position_row_col"], abs=1e-4)
    assert ps.z("row_col") > 3 and ps.z("radial") > 3                   # far above shuffled patches
    assert ps.locality < 0                                              # the ring code, not "no order"


def test_the_caption_says_what_the_numbers_say():
    from dlviz.vit.views import position_caption

    strong = C.position_structure(_rowcol_map(5), shuffles=200)
    assert "rows and columns of Fig. 7 are there" in position_caption(strong, 5)
    sim = _rowcol_map(5).reshape(25, 25)
    p = np.random.default_rng(2).permutation(25)
    none = C.position_structure(sim[p][:, p].reshape(5, 5, 5, 5), shuffles=200)   # this shuffle: z = -1.5
    assert none.z("row_col") < 2
    assert "no row/column structure beyond chance" in position_caption(none, 5)
    assert "rings" not in position_caption(none, 5)


# ------------------------------------------------------------------ the multi-seed curve
def test_stderr_is_the_sample_std_over_root_seeds():
    from dlviz.vit.efficiency import Curve

    vit = np.array([[0.5, 0.9], [0.7, 0.9], [0.6, 0.6]])
    c = Curve(np.array([10, 100]), vit, vit, {})
    want = [np.std([0.5, 0.7, 0.6], ddof=1) / np.sqrt(3), np.std([0.9, 0.9, 0.6], ddof=1) / np.sqrt(3)]
    np.testing.assert_allclose(c.stderr(vit), want)
    one = Curve(np.array([10]), np.array([[0.5]]), np.array([[0.5]]), {})
    assert one.stderr(one.vit).tolist() == [0.0]


def test_merge_stacks_seeds_and_refuses_different_recipes():
    from dlviz.vit.efficiency import Curve, merge

    meta = {"recipe": "r", "seeds": [0], "wall_time_s": 1.0, "cpu_time_s": 2.0}
    a = Curve(np.array([10, 20]), np.array([[0.1, 0.2]]), np.array([[0.3, 0.4]]), meta)
    b = Curve(np.array([10, 20]), np.array([[0.5, 0.6]]), np.array([[0.7, 0.8]]), {**meta, "seeds": [1]})
    m = merge([a, b])
    assert m.meta["seeds"] == [0, 1] and m.meta["cpu_time_s"] == 4.0
    np.testing.assert_array_equal(m.vit, [[0.1, 0.2], [0.5, 0.6]])
    with pytest.raises(ValueError):
        merge([a, Curve(a.sizes, a.vit, a.cnn, {**meta, "recipe": "other"})])


def test_the_shipped_curve_has_at_least_three_seeds():
    from dlviz.vit import efficiency as E

    curve = E.load()
    if curve is None:
        pytest.skip("vit_vs_cnn_digits.npz is not shipped")
    assert len(set(curve.meta["seeds"])) >= 3 and curve.vit.shape[0] == len(curve.meta["seeds"])


def test_shuffle_scores_equal_the_scores_of_the_shuffled_map():
    """Scoring with shuffled grid coordinates (how position_structure scores its shuffles at once) is scoring the
    map with its patches shuffled by the inverse permutation."""
    g = 4
    rng = np.random.default_rng(5)
    e = rng.normal(size=(g * g, 6))
    s = e @ e.T
    p = rng.permutation(g * g)
    sp = s[p][:, p].reshape(g, g, g, g)
    r, c = _coords(g)
    q = np.argsort(p)
    got = C._structure_scores(s, r[q][None], c[q][None], g)
    assert got["row_col"][0] == pytest.approx(C.row_col_contrast(sp))
    assert got["locality"][0] == pytest.approx(C.position_locality(sp))
    assert got["radial"][0] == pytest.approx(C.radial_order(sp))
