"""The curse of dimensionality (Bellman, 1961; Beyer et al., 1999, "When is 'nearest neighbor'
meaningful?"): in high dimension distances concentrate, volume moves to the corners and the shell,
and nearest-neighbour methods stop working -- unless the model is told where the structure is, which
is what a convolution does for images (weight sharing and locality).

Closed forms used (and tested against Monte Carlo):

* volume of the ball of radius r in d dimensions: ``V_d(r) = pi^(d/2) r^d / Gamma(d/2 + 1)``;
* fraction of the cube ``[-1, 1]^d`` inside its inscribed unit ball: ``V_d(1) / 2^d``;
* fraction of a ball's (or cube's) volume within a relative distance ``eps`` of its surface:
  ``1 - (1 - eps)^d``;
* for two independent uniform points in ``[0, 1]^d``: ``E ||x - y||^2 = d / 6`` and
  ``Var ||x - y||^2 = 7 d / 180``, so the relative spread of distances shrinks like ``1 / sqrt(d)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def log_ball_volume(d: int, r: float = 1.0) -> float:
    """``log V_d(r)`` (exact; usable for d in the thousands where V_d underflows)."""
    if d < 0:
        raise ValueError("dimension must be >= 0")
    return (d / 2) * math.log(math.pi) + d * math.log(r) - math.lgamma(d / 2 + 1)


def ball_volume(d: int, r: float = 1.0) -> float:
    return math.exp(log_ball_volume(d, r))


def ball_in_cube_fraction(d: int) -> float:
    """Fraction of the cube ``[-1, 1]^d`` inside the inscribed unit ball, ``V_d(1) / 2^d``."""
    return math.exp(log_ball_volume(d) - d * math.log(2.0))


def shell_fraction(d: int, eps: float) -> float:
    """Fraction of a d-ball's (or a cube's, shell measured from the centre) volume in the outer shell of
    relative thickness ``eps``: ``1 - (1 - eps)^d``."""
    if not 0 <= eps <= 1:
        raise ValueError("eps must be in [0, 1]")
    return 1.0 - (1.0 - eps) ** d


def monte_carlo_ball_fraction(d: int, n: int = 200_000, seed: int = 0) -> float:
    """Monte Carlo estimate of :func:`ball_in_cube_fraction` (uniform points in the cube)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for s in range(0, n, 50_000):
        x = rng.uniform(-1, 1, size=(min(50_000, n - s), d))
        hits += int(((x * x).sum(1) <= 1).sum())
    return hits / n


def monte_carlo_shell_fraction(d: int, eps: float, n: int = 100_000, seed: int = 0) -> float:
    """Monte Carlo estimate of :func:`shell_fraction` for the unit ball. Points uniform in the ball are
    drawn without assuming the radius law: a standard normal vector in ``d + 2`` dimensions, normalised
    to the unit sphere, has its first ``d`` coordinates uniform in the d-ball (Voelker et al., 2017)."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, d))
    g2 = rng.standard_normal((n, 2))
    norm = np.sqrt((g * g).sum(1) + (g2 * g2).sum(1))
    r = np.sqrt((g * g).sum(1)) / norm
    return float((r > 1 - eps).mean())


@dataclass
class DistanceStats:
    dim: int
    n: int
    distances: np.ndarray     # all pairwise distances (n (n - 1) / 2,)
    ratio: float              # max / min pairwise distance
    contrast: float           # (max - min) / min  (Beyer et al.'s relative contrast)
    mean: float
    std: float

    @property
    def relative_spread(self) -> float:
        return self.std / self.mean if self.mean else float("nan")


def pairwise_distances(x: np.ndarray) -> np.ndarray:
    """Condensed Euclidean distances of the rows of ``x`` ``(n, d)`` (upper triangle, row-major)."""
    sq = (x * x).sum(1)
    g = x @ x.T
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * g, 0.0)
    iu = np.triu_indices(len(x), 1)
    return np.sqrt(d2[iu])


def distance_stats(dim: int, n: int = 200, seed: int = 0, dist: str = "uniform") -> DistanceStats:
    """Pairwise distances of ``n`` points uniform in ``[0, 1]^dim`` (or ``gaussian``)."""
    if dim < 1 or n < 2:
        raise ValueError("need dim >= 1 and at least two points")
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, dim)) if dist == "uniform" else rng.standard_normal((n, dim))
    d = pairwise_distances(x)
    lo, hi = float(d.min()), float(d.max())
    return DistanceStats(dim, n, d, hi / lo if lo > 0 else math.inf, (hi - lo) / lo if lo > 0 else math.inf,
                         float(d.mean()), float(d.std()))


def concentration_curve(dims: Sequence[int], n: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Max/min ratio and relative spread of pairwise distances for each dimension."""
    return curve_from_stats([distance_stats(int(d), n, seed) for d in dims])


def curve_from_stats(stats: Sequence[DistanceStats]) -> dict[str, np.ndarray]:
    """The concentration curve of already computed :class:`DistanceStats` (one per dimension); the
    theory column is the large-d law ``std/mean = sqrt(7 d / 180) / (d / 3)``."""
    dims = np.array([s.dim for s in stats])
    return {"dims": dims, "ratio": np.array([s.ratio for s in stats]),
            "spread": np.array([s.relative_spread for s in stats]),
            "theory_spread": np.sqrt(7 * dims / 180) / (dims / 3)}


def signal_in_few_dims(n: int, dim: int, informative: int = 2, seed: int = 0,
                       noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Two balanced classes that differ only in the first ``informative`` coordinates (class 0 inside
    the ball around the centre of the ``[0, 1]`` box holding half its volume, class 1 outside); the remaining ``dim - informative`` coordinates are uniform noise scaled by ``noise``."""
    if informative < 1 or dim < informative:
        raise ValueError("need 1 <= informative <= dim")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    rng.shuffle(y)
    r0 = 0.5 * (0.5 * math.exp(math.lgamma(informative / 2 + 1)) / math.pi ** (informative / 2)) \
        ** (1 / informative) * 2         # the ball holding half the box's volume: balanced classes
    sig = np.empty((n, informative))
    need = {0: np.flatnonzero(y == 0), 1: np.flatnonzero(y == 1)}
    got = {0: [], 1: []}
    while len(got[0]) < len(need[0]) or len(got[1]) < len(need[1]):
        p = rng.uniform(0, 1, (4 * n, informative))
        inside = np.linalg.norm(p - 0.5, axis=1) < r0
        got[0].extend(p[inside][: len(need[0]) - len(got[0])])
        got[1].extend(p[~inside][: len(need[1]) - len(got[1])])
    sig[need[0]] = np.array(got[0])
    sig[need[1]] = np.array(got[1])
    x = np.concatenate([sig, noise * rng.uniform(0, 1, (n, dim - informative))], 1)
    return x, y


def knn_accuracy(dims: Sequence[int], n_train: int = 500, n_test: int = 500, k: int = 5,
                 informative: int = 2, seed: int = 0, noise: float = 1.0) -> np.ndarray:
    """Test accuracy of a k-NN classifier on :func:`signal_in_few_dims` data for each total dimension
    (the signal is the same; only the number of useless coordinates grows)."""
    out = []
    for d in dims:
        d = max(int(d), informative)
        x, y = signal_in_few_dims(n_train + n_test, d, informative, seed, noise)
        pred = knn_predict(x[:n_train], y[:n_train], x[n_train:], k)
        out.append(float((pred == y[n_train:]).mean()))
    return np.array(out)


def knn_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, k: int = 5) -> np.ndarray:
    """Majority vote of the ``k`` nearest training points (Euclidean; ties -> the smaller label)."""
    k = max(1, min(k, len(x_train)))
    d2 = (x_test * x_test).sum(1)[:, None] + (x_train * x_train).sum(1)[None, :] - 2 * x_test @ x_train.T
    idx = np.argpartition(d2, k - 1, axis=1)[:, :k]                  # (n_test, k)
    votes = y_train[idx]
    n_cls = int(y_train.max()) + 1
    counts = np.stack([(votes == c).sum(1) for c in range(n_cls)], 1)
    return counts.argmax(1)


@dataclass
class ParamCount:
    dense: int          # a fully connected layer from the image to `hidden` units
    conv: int           # a k x k conv layer from the image's channels to `out_channels` maps
    dense_formula: str
    conv_formula: str


def layer_parameters(height: int, width: int, channels: int, hidden: int, kernel: int,
                     out_channels: int) -> ParamCount:
    """Weights + biases of a dense layer on an image versus a convolution on it."""
    dense = height * width * channels * hidden + hidden
    conv = kernel * kernel * channels * out_channels + out_channels
    return ParamCount(dense, conv,
                      f"{height}·{width}·{channels}·{hidden} + {hidden} = {dense:,}",
                      f"{kernel}·{kernel}·{channels}·{out_channels} + {out_channels} = {conv:,}")


def grid_points(dim: int, per_axis: int = 10) -> float:
    """Samples needed to cover ``[0, 1]^dim`` with ``per_axis`` points per axis: ``per_axis^dim``."""
    return float(per_axis) ** dim
