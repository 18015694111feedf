"""The curse of dimensionality: distances concentrate, volume escapes to the shell, k-NN collapses --
and a dense layer on an image needs absurdly many weights, which is the case for convolutions."""

from __future__ import annotations

import math

import numpy as np
import share
import streamlit as st
import ui

from dlviz.curse_of_dimensionality import core as dim
from dlviz.curse_of_dimensionality import plots as plots

PAGE_INFO = {
    "title": "Curse of dimensionality",
    "icon": ":material/scatter_plot:",
    "section": "CNNs",
    "order": 40,
    "question": "Why do distances, volumes and nearest neighbours break down in high dimension?",
    "thumbnail": "dlviz.curse_of_dimensionality.views:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "An image is a point in a space with one axis per pixel: a 32×32 colour image lives in 3,072 dimensions. "
    "There, every point is about as far from every other, almost all volume sits in a thin shell, and a "
    "nearest-neighbour classifier drowns in irrelevant coordinates. Move the dimension slider and watch."))
sess = ui.session()
DIMS = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]


@st.cache_data(max_entries=64, show_spinner=False)
def stats(d: int, n: int, seed: int):
    return dim.distance_stats(d, n, seed)


@st.cache_data(max_entries=4, show_spinner="Sampling every dimension...")
def all_stats(seed: int) -> dict:
    """200 points in every dimension of the slider: computed once, so moving d costs a lookup."""
    return {k: dim.distance_stats(k, 200, seed) for k in DIMS}


def space() -> tuple[int, int]:
    """Sidebar: the space."""
    st.sidebar.header("Space")
    d = st.sidebar.select_slider("Dimension d", DIMS, value=100, key="cod-d", bind="query-params")
    n = st.sidebar.select_slider("Sample count", [20, 50, 100, 200, 500, 1000], value=200, key="cod-n", bind="query-params")
    return d, n


def distances(d: int, n: int) -> None:
    """1 · Distances concentrate."""
    st.header("1 · All distances look alike")
    base = all_stats(sess.seed)
    s, s2 = (base[d], base[2]) if n == 200 else (stats(d, n, sess.seed), stats(2, n, sess.seed))
    c1, c2 = st.columns(2)
    with c1:
        ui.show(plots.distance_histogram_figure([s2, s] if d != 2 else [s2]), key="cod-hist")
    with c2:
        ratio_fig = plots.ratio_figure(dim.curve_from_stats([base[k] for k in DIMS]), current=d)
        ui.show(ratio_fig, key="cod-ratio")
        share.figure_csv_download(ratio_fig, "distance-ratio-vs-dimension", key="cod-ratio")
        st.caption("Right: 200 points in every dimension (the dotted line marks your d).")
    theory = math.sqrt(7 * d / 180) / (d / 3)
    m1, m2, m3 = st.columns(3)
    m1.metric(f"max / min distance, d = {d:,}", f"{s.ratio:,.3g}", help=f"over all {len(s.distances):,} pairs of "
              f"{n} uniform points in [0, 1]^d; for d = 2 it is {s2.ratio:,.3g}")
    m2.metric("std / mean of the distances", f"{s.relative_spread:.3f}",
              delta=f"theory {theory:.3f}" if d >= 10 else None, delta_color="off", delta_arrow="off",
              help="E|x−y|² = d/6 and Var|x−y|² = 7d/180 give std/mean ≈ √(7d/180)/(d/3) for large d")
    m3.metric("mean squared distance / (d/6)", f"{np.mean(s.distances ** 2) / (d / 6):.3f}", help="1 in expectation")
    share.notebook(page="curse_of_dimensionality", label=f"the max / min distance ratio in {d:,} dimensions",
                   shown=f"{s.ratio:,.3g}", key="curse_of_dimensionality-nb",
                   body="from dlviz.curse_of_dimensionality import core as dim\n"
                        f"result = dim.distance_stats({d}, {n}, {sess.seed})   # d, points, seed\n"
                        'print(f"{result.ratio:,.3g}")')


@st.fragment
def volume(d: int) -> None:
    """2 · Volume: it is in the corners and the skin."""
    st.header("2 · The volume is in the corners and the skin")
    eps = st.slider("Shell thickness ε (fraction of the radius)", 0.01, 0.2, 0.05, 0.01, key="cod-eps", bind="query-params")
    grid = np.unique(np.round(np.logspace(0, 3, 100)).astype(int))
    ball = np.array([(dim.log_ball_volume(int(k)) - k * math.log(2)) / math.log(10) for k in grid])
    shells = {e: np.array([dim.shell_fraction(int(k), e) for k in grid]) for e in sorted({0.01, eps})}
    vol_fig = plots.volume_figure(grid, ball, shells, current=d)
    ui.show(vol_fig, key="cod-volume")
    share.figure_csv_download(vol_fig, "volume-vs-dimension", key="cod-volume")
    v1, v2, v3 = st.columns(3)
    frac = min(1.0, dim.ball_in_cube_fraction(d))
    log10 = (dim.log_ball_volume(d) - d * math.log(2)) / math.log(10)
    v1.metric(f"Inscribed ball, share of the cube, d = {d:,}", f"{frac:.3g}" if frac > 1e-300 else f"10^{log10:,.0f}",
              help="V_d(1) / 2^d with V_d(r) = π^(d/2) r^d / Γ(d/2 + 1)")
    v2.metric(f"Volume in the outer {eps:.0%} shell", f"{dim.shell_fraction(d, eps):.4f}", help="1 − (1 − ε)^d")
    v3.metric("Grid points to sample [0, 1]^d at 10 per axis", f"10^{d}" if d > 6 else f"{dim.grid_points(d):,.0f}")
    if d <= 12:
        @st.cache_data(max_entries=32, show_spinner=False)
        def mc(d: int, seed: int) -> float:
            return dim.monte_carlo_ball_fraction(d, 100_000, seed)

        est = mc(d, sess.seed)
        st.caption(f"Check by Monte Carlo (100,000 uniform points in the cube): {est:.4f} inside the ball vs the closed "
                   f"form {frac:.4f} (standard error {math.sqrt(max(0.0, frac * (1 - frac)) / 100_000):.4f}).")


KNN_DIMS = [2, 3, 5, 10, 20, 50, 100, 200, 500, 1000]


@st.cache_data(max_entries=32, show_spinner="Classifying...")
def knn(n_train: int, k: int, noise: float, seed: int) -> np.ndarray:
    return dim.knn_accuracy(KNN_DIMS, n_train, 500, k, 2, seed, noise)


@st.fragment
def nearest_neighbours(d: int) -> None:
    """3 · k-NN: nearest neighbours drown in noise."""
    st.header("3 · Nearest neighbours drown in noise")
    st.markdown("Two classes that differ only in the **first two** coordinates (inside vs outside a disc); every other "
                "coordinate is uniform noise. The signal never changes -- only the number of useless coordinates.")
    k1, k2, k3 = st.columns(3)
    n_train = k1.select_slider("Training points", [100, 200, 500, 1000, 2000], value=500, key="cod-ntrain", bind="query-params")
    k = k2.select_slider("k", [1, 3, 5, 11, 21], value=5, key="cod-k", bind="query-params")
    noise = k3.select_slider("Noise scale", [0.1, 0.25, 0.5, 1.0], value=1.0, key="cod-noise", bind="query-params",
                             help="the range of each noise coordinate (the signal lives in [0, 1])")
    acc = knn(n_train, k, noise, sess.seed)
    q1, q2 = st.columns([1.4, 1])
    with q1:
        knn_fig = plots.knn_figure(KNN_DIMS, acc, current=max(d, 2))
        ui.show(knn_fig, key="cod-knn")
        share.csv_download("k-NN accuracy (CSV)", lambda: {"dimension": KNN_DIMS, "accuracy": [float(a) for a in acc],
                           "train_points": [n_train] * len(acc), "k": [k] * len(acc), "noise": [noise] * len(acc)},
                           f"knn-{n_train}pts-k{k}-noise{noise:g}", key="cod-knn")
    with q2:
        x2, y2 = dim.signal_in_few_dims(400, 2, 2, sess.seed)
        ui.show(plots.scatter_2d_figure(x2, y2), key="cod-scatter")
    acc_d = float(np.interp(np.log(max(d, 2)), np.log(KNN_DIMS), acc)) if d <= 1000 else float(acc[-1])
    a1, a2 = st.columns(2)
    a1.metric("k-NN accuracy, d = 2", f"{acc[0]:.3f}")
    a2.metric(f"k-NN accuracy, d = {min(max(d, 2), 1000):,}", f"{acc_d:.3f}", delta=f"{acc_d - acc[0]:+.3f}",
              help="interpolated on the curve's log-spaced dimensions; chance is 0.5")


@st.fragment
def dense_layer_bill() -> None:
    """4 · Why convolutions."""
    st.header("4 · The bill for a dense layer on an image")
    w1, w2, w3, w4 = st.columns(4)
    side = w1.select_slider("Image side (px)", [8, 16, 28, 32, 64, 128, 224, 512], value=224, key="cod-side", bind="query-params")
    chans = w2.select_slider("Channels", [1, 3], value=3, key="cod-ch", bind="query-params")
    hidden = w3.select_slider("Dense units / conv maps", [16, 64, 256, 1000, 4096], value=1000, key="cod-hidden", bind="query-params")
    kern = w4.select_slider("Conv kernel", [1, 3, 5, 7], value=3, key="cod-kernel", bind="query-params")
    pc = dim.layer_parameters(side, side, chans, hidden, kern, hidden)
    sizes = [8, 16, 32, 64, 128, 224, 512]
    p_dense = [dim.layer_parameters(s_, s_, chans, hidden, kern, hidden).dense for s_ in sizes]
    p_conv = [dim.layer_parameters(s_, s_, chans, hidden, kern, hidden).conv for s_ in sizes]
    b1, b2 = st.columns([1.3, 1])
    with b1:
        ui.show(plots.params_figure(sizes, p_dense, p_conv), key="cod-params")
        share.csv_download("Parameter counts (CSV)", lambda: {"image_side_px": sizes, "dense": p_dense, "conv": p_conv},
                           f"dense-vs-conv-{chans}ch-{hidden}units-k{kern}", key="cod-params")
    with b2:
        st.metric("Fully connected layer", f"{pc.dense:,}", help=pc.dense_formula)
        st.metric(f"{kern}×{kern} conv layer", f"{pc.conv:,}", help=pc.conv_formula,
                  delta=f"{pc.dense / pc.conv:,.0f}× fewer", delta_color="off", delta_arrow="off")
        st.caption(f"dense: {pc.dense_formula}  \nconv: {pc.conv_formula}  \nThe conv layer's count does not depend "
                   "on the image size at all: the same small kernel is reused at every position (weight sharing) "
                   "and only looks at a neighbourhood (locality) -- the two assumptions that beat the curse for images.")


def try_this() -> None:
    ui.try_this([
        "Set d = 10,000: the max/min distance ratio is close to 1 -- 'nearest' neighbour hardly means anything.",
        "At d = 20 the inscribed ball holds less than a millionth of the cube: almost every random point is a corner.",
        ("In section 3, shrink the noise scale to 0.1: the k-NN survives far more dimensions. The curse is about "
        "*irrelevant variance*, not the number of axes alone."),
        "Does more data rescue k-NN at d = 1,000? Try 2,000 training points.",
        "A 224×224 colour image into 1,000 dense units: ~150 million weights. The conv layer: 28,000 -- at any image size.",
    ])


d, n = space()
distances(d, n)
volume(d)
nearest_neighbours(d)
dense_layer_bill()
try_this()
