"""Curse of dimensionality: closed forms against known values and Monte Carlo, distance concentration
against its moments, k-NN against scikit-learn, parameter counts against torch modules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from torch import nn

from dlviz.curse_of_dimensionality.core import (
    ball_in_cube_fraction,
    ball_volume,
    concentration_curve,
    distance_stats,
    grid_points,
    knn_accuracy,
    knn_predict,
    layer_parameters,
    log_ball_volume,
    monte_carlo_ball_fraction,
    monte_carlo_shell_fraction,
    pairwise_distances,
    shell_fraction,
    signal_in_few_dims,
)


def test_ball_volume_known_values_and_recursion():
    assert ball_volume(0) == pytest.approx(1.0)
    assert ball_volume(1) == pytest.approx(2.0)
    assert ball_volume(2) == pytest.approx(math.pi)
    assert ball_volume(3) == pytest.approx(4 / 3 * math.pi)
    assert ball_volume(4) == pytest.approx(math.pi ** 2 / 2)
    assert ball_volume(3, 2.0) == pytest.approx(4 / 3 * math.pi * 8)
    for d in range(2, 40):      # V_d = 2 pi / d * V_{d-2}
        assert ball_volume(d) == pytest.approx(2 * math.pi / d * ball_volume(d - 2), rel=1e-12)
    assert log_ball_volume(1000) < -1000 and math.isfinite(log_ball_volume(10_000))
    assert ball_in_cube_fraction(2) == pytest.approx(math.pi / 4)


@pytest.mark.parametrize("d", [2, 3, 5, 8])
def test_ball_fraction_matches_monte_carlo(d):
    exact = ball_in_cube_fraction(d)
    mc = monte_carlo_ball_fraction(d, n=200_000, seed=d)
    se = math.sqrt(exact * (1 - exact) / 200_000)
    assert abs(mc - exact) < 5 * se


@pytest.mark.parametrize("d, eps", [(2, 0.1), (10, 0.05), (50, 0.02), (3, 0.5)])
def test_shell_fraction_matches_monte_carlo(d, eps):
    exact = shell_fraction(d, eps)
    mc = monte_carlo_shell_fraction(d, eps, n=100_000, seed=d)
    assert abs(mc - exact) < 5 * math.sqrt(exact * (1 - exact) / 100_000) + 1e-9
    assert shell_fraction(1000, 0.01) > 0.9999


def test_pairwise_distances_against_brute_force():
    x = np.random.default_rng(0).normal(size=(7, 5))
    brute = [np.linalg.norm(x[i] - x[j]) for i in range(7) for j in range(i + 1, 7)]
    np.testing.assert_allclose(pairwise_distances(x), brute, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("d", [3, 30, 300])
def test_mean_squared_distance_is_d_over_6(d):
    s = distance_stats(d, n=300, seed=1)
    sq = s.distances ** 2
    # E|x - y|^2 = d / 6, Var = 7 d / 180 for uniform points; pairs are dependent, so allow 5 %
    assert sq.mean() == pytest.approx(d / 6, rel=0.05)
    assert sq.var() == pytest.approx(7 * d / 180, rel=0.15)


def test_distances_concentrate():
    c = concentration_curve([2, 20, 200, 2000], n=150)
    assert np.all(np.diff(c["ratio"]) < 0) and c["ratio"][-1] < 1.2 and c["ratio"][0] > 10
    np.testing.assert_allclose(c["spread"][1:], c["theory_spread"][1:], rtol=0.15)
    with pytest.raises(ValueError):
        distance_stats(0)


def test_knn_matches_scikit_learn_and_collapses():
    from sklearn.neighbors import KNeighborsClassifier

    x, y = signal_in_few_dims(400, 6, informative=2, seed=3)
    assert abs(y.mean() - 0.5) < 0.01
    inside = np.linalg.norm(x[:, :2] - 0.5, axis=1)
    assert inside[y == 0].max() < inside[y == 1].min()           # the label is a function of 2 coords
    ref = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(x[:300], y[:300]).predict(x[300:])
    np.testing.assert_array_equal(knn_predict(x[:300], y[:300], x[300:], 5), ref)
    acc = knn_accuracy([2, 1000], n_train=400, n_test=400)
    assert acc[0] > 0.85 and acc[1] < 0.62


def test_parameter_counts_against_torch():
    p = layer_parameters(224, 224, 3, 1000, 3, 64)
    dense = nn.Linear(224 * 224 * 3, 10)           # count for 10 units, scale the weights by hand
    assert p.dense == (sum(q.numel() for q in dense.parameters()) - 10) * 100 + 1000
    conv = nn.Conv2d(3, 64, 3)
    assert p.conv == sum(q.numel() for q in conv.parameters())
    small = layer_parameters(8, 8, 1, 16, 5, 16)
    assert small.dense == sum(q.numel() for q in nn.Linear(64, 16).parameters())
    assert small.conv == sum(q.numel() for q in nn.Conv2d(1, 16, 5).parameters())
    assert "= 416" in small.conv_formula
    assert grid_points(3, 10) == 1000
