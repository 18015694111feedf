"""Activations, losses and the dead-ReLU counter against closed forms, reference implementations and
brute force. The module computes derivatives with autograd; the tests write them out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import erf, expit
from scipy.stats import norm
from torch import nn

from dlviz.activations_losses import core as act

# a grid that avoids the kinks at 0, +-1 and 6 (where the derivative is not defined)
X = np.linspace(-7.31, 7.29, 997)
SELU_L, SELU_A = 1.0507009873554805, 1.6732632423543772


def _softplus(x, b=1.0):
    return np.logaddexp(0, b * x) / b


CLOSED = {  # name: (params, f, f')
    "sigmoid": ({}, expit, lambda x: expit(x) * (1 - expit(x))),
    "tanh": ({}, np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "ReLU": ({}, lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "leaky ReLU": ({"alpha": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1, 0.2)),
    "ELU": ({"alpha": 1.5}, lambda x: np.where(x > 0, x, 1.5 * np.expm1(x)), lambda x: np.where(x > 0, 1, 1.5 * np.exp(x))),
    "SELU": ({}, lambda x: SELU_L * np.where(x > 0, x, SELU_A * np.expm1(x)),
             lambda x: SELU_L * np.where(x > 0, 1, SELU_A * np.exp(x))),
    "GELU": ({}, lambda x: x * 0.5 * (1 + erf(x / math.sqrt(2))),
             lambda x: 0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)),
    "SiLU / swish": ({"beta": 2.0}, lambda x: x * expit(2 * x),
                     lambda x: expit(2 * x) + 2 * x * expit(2 * x) * (1 - expit(2 * x))),
    "softplus": ({"beta": 0.5}, lambda x: _softplus(x, 0.5), lambda x: expit(0.5 * x)),
    "Mish": ({}, lambda x: x * np.tanh(_softplus(x)),
             lambda x: np.tanh(_softplus(x)) + x * (1 - np.tanh(_softplus(x)) ** 2) * expit(x)),
    "softsign": ({}, lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "hardtanh": ({}, lambda x: np.clip(x, -1, 1), lambda x: (np.abs(x) < 1) * 1.0),
    "ReLU6": ({}, lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)) * 1.0),
}


def test_every_activation_has_a_closed_form_test():
    assert set(CLOSED) == set(act.ACTIVATIONS)


@pytest.mark.parametrize("name", list(CLOSED))
def test_activation_and_autograd_derivative_match_closed_form(name):
    params, f, df = CLOSED[name]
    y, dy = act.evaluate(name, X, **params)
    np.testing.assert_allclose(y, f(X), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(dy, df(X), rtol=1e-7, atol=1e-9)


def test_saturation_regions_match_closed_form():
    eps = 0.05
    c = act.curve("sigmoid", -8, 8, 3201, threshold=eps)
    dx = c.x[1] - c.x[0]
    a = math.log((1 + math.sqrt(1 - 4 * eps)) / (1 - math.sqrt(1 - 4 * eps)))    # sigma(1-sigma) = eps
    assert len(c.regions) == 2
    (l0, h0), (l1, h1) = c.regions
    assert l0 == -8 and h1 == 8
    assert abs(h0 + a) <= dx and abs(l1 - a) <= dx
    t = act.curve("tanh", -4, 4, 1601, threshold=eps)
    b = math.atanh(math.sqrt(1 - eps))                                          # 1 - tanh^2 = eps
    assert abs(t.regions[0][1] + b) <= 0.005 and abs(t.regions[1][0] - b) <= 0.005
    r = act.curve("ReLU", -3, 3, 601, threshold=eps)
    assert r.regions == [(-3.0, 0.0)]                                           # autograd: relu'(0) = 0
    assert act.curve("leaky ReLU", threshold=0.005, alpha=0.01).regions == []   # slope 0.01 > 0.005


def test_regions_below_brute_force():
    x = np.arange(10.0)
    v = np.array([0, 0, 1, 1, 0, 1, 0, 0, 0, 1.0])
    assert act.regions_below(x, v, 0.5) == [(0.0, 1.0), (4.0, 4.0), (6.0, 8.0)]


@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (1.5, 2.0), (-0.7, 0.5)])
def test_saturated_fraction_and_mean_gradient_closed_form(mean, std):
    # ReLU: saturated (zero slope) exactly when z <= 0
    assert act.saturated_fraction("ReLU", mean, std) == pytest.approx(norm.cdf(-mean / std), abs=1e-3)
    assert act.mean_gradient("ReLU", mean, std) == pytest.approx(norm.cdf(mean / std), abs=1e-3)
    eps = 0.05
    a = math.log((1 + math.sqrt(1 - 4 * eps)) / (1 - math.sqrt(1 - 4 * eps)))
    expect = norm.cdf((-a - mean) / std) + norm.sf((a - mean) / std)
    assert act.saturated_fraction("sigmoid", mean, std, eps) == pytest.approx(expect, abs=2e-3)


# ---------------------------------------------------------------------------------------------- losses
P = np.linspace(-5.13, 5.11, 401)
Q = np.linspace(0.013, 0.987, 301)


def _sig(z):
    return expit(z)


def _focal_grad(p, gamma):  # d/dz of -(1-p)^g log p with p = sigma(z) (or softmax_y: same derivative)
    return gamma * (1 - p) ** gamma * p * np.log(p) - (1 - p) ** (gamma + 1)


LOSS_CLOSED = {  # name: (target, params, loss(pred), dloss/dpred)
    "MSE": (0.7, {}, lambda p: (p - 0.7) ** 2, lambda p: 2 * (p - 0.7)),
    "MAE": (0.7, {}, lambda p: np.abs(p - 0.7), lambda p: np.sign(p - 0.7)),
    "Huber": (0.7, {"delta": 1.5}, lambda p: np.where(np.abs(p - .7) <= 1.5, .5 * (p - .7) ** 2, 1.5 * (np.abs(p - .7) - .75)),
              lambda p: np.clip(p - 0.7, -1.5, 1.5)),
    "log-cosh": (0.7, {}, lambda p: np.log(np.cosh(p - 0.7)), lambda p: np.tanh(p - 0.7)),
    "cross-entropy (logistic)": (1.0, {}, lambda z: np.logaddexp(0, -z), lambda z: _sig(z) - 1),
    "hinge": (0.0, {}, lambda z: np.maximum(0, 1 + z), lambda z: (z > -1) * 1.0),
    "squared hinge": (1.0, {}, lambda z: np.maximum(0, 1 - z) ** 2, lambda z: -2 * np.maximum(0, 1 - z)),
    "focal": (1.0, {"gamma": 2.0}, lambda z: -(1 - _sig(z)) ** 2 * np.log(_sig(z)), lambda z: _focal_grad(_sig(z), 2.0)),
    "MSE on sigmoid": (1.0, {}, lambda z: (_sig(z) - 1) ** 2, lambda z: 2 * (_sig(z) - 1) * _sig(z) * (1 - _sig(z))),
    "0-1 loss": (1.0, {}, lambda z: (z <= 0) * 1.0, lambda z: 0 * z),
}


def _py(z, k, c):
    return np.exp(z) / (np.exp(z) + (k - 1) * np.exp(c))


def _smooth(z, k, c, e):
    p = _py(z, k, c)
    po = (1 - p) / (k - 1)
    qy, qo = 1 - e + e / k, e / k
    return -(qy * np.log(p) + (k - 1) * qo * np.log(po)), p - qy


MULTI_CLOSED = {
    "cross-entropy": ({"classes": 5, "other": 0.5}, lambda z: -np.log(_py(z, 5, .5)), lambda z: _py(z, 5, .5) - 1),
    "label smoothing": ({"classes": 5, "other": 0.5, "smoothing": 0.2}, lambda z: _smooth(z, 5, .5, .2)[0],
                        lambda z: _smooth(z, 5, .5, .2)[1]),
    "focal (multi-class)": ({"classes": 4, "other": -1.0, "gamma": 1.5},
                            lambda z: -(1 - _py(z, 4, -1)) ** 1.5 * np.log(_py(z, 4, -1)),
                            lambda z: _focal_grad(_py(z, 4, -1), 1.5)),
    "multi-class hinge": ({"classes": 4, "other": 0.3}, lambda z: 0.75 * np.maximum(0, 1.3 - z),
                          lambda z: -0.75 * (z < 1.3)),
}

DIST_CLOSED = {  # target p = 0.3, prediction q
    "KL(p || q)": (lambda q: .3 * np.log(.3 / q) + .7 * np.log(.7 / (1 - q)), lambda q: -.3 / q + .7 / (1 - q)),
    "KL(q || p)": (lambda q: q * np.log(q / .3) + (1 - q) * np.log((1 - q) / .7),
                   lambda q: np.log(q / .3) - np.log((1 - q) / .7)),
    "cross-entropy H(p, q)": (lambda q: -.3 * np.log(q) - .7 * np.log(1 - q), lambda q: -.3 / q + .7 / (1 - q)),
}


def test_every_loss_has_a_closed_form_test():
    assert set(LOSS_CLOSED) | set(MULTI_CLOSED) | set(DIST_CLOSED) == set(act.LOSSES)


@pytest.mark.parametrize("name", list(LOSS_CLOSED))
def test_regression_and_binary_losses(name):
    target, params, f, df = LOSS_CLOSED[name]
    loss, grad = act.loss_curve(name, P, target, **params)
    np.testing.assert_allclose(loss, f(P), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(grad, df(P), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", list(MULTI_CLOSED))
def test_multiclass_losses(name):
    params, f, df = MULTI_CLOSED[name]
    loss, grad = act.loss_curve(name, P, 0, **params)
    np.testing.assert_allclose(loss, f(P), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(grad, df(P), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", list(DIST_CLOSED))
def test_distribution_losses(name):
    f, df = DIST_CLOSED[name]
    loss, grad = act.loss_curve(name, Q, 0.3)
    np.testing.assert_allclose(loss, f(Q), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(grad, df(Q), rtol=1e-7, atol=1e-9)


def test_focal_matches_torchvision():
    from torchvision.ops import sigmoid_focal_loss

    z = torch.as_tensor(P)
    for y in (0.0, 1.0):
        ref = sigmoid_focal_loss(z, torch.full_like(z, y), alpha=-1, gamma=2.0, reduction="none").numpy()
        np.testing.assert_allclose(act.loss_curve("focal", P, y, gamma=2.0)[0], ref, rtol=1e-9, atol=1e-12)


def test_every_loss_knows_its_task():
    for task in act.TASKS:
        assert act.losses_for(task)
    assert {loss.task for loss in act.LOSSES.values()} == set(act.TASKS)


# ---------------------------------------------------------------------------------------------- line fits
def test_fit_line_mse_is_least_squares():
    x, y = act.line_data(outliers=5, seed=3)
    np.testing.assert_allclose(act.fit_line(x, y, "MSE"), np.polyfit(x, y, 1), rtol=1e-10)


@pytest.mark.parametrize("loss,params", [("Huber", {"delta": 1.0}), ("log-cosh", {})])
def test_fit_line_is_a_stationary_point(loss, params):
    x, y = act.line_data(outliers=5, seed=3)
    a, b = act.fit_line(x, y, loss, **params)
    theta = torch.tensor([a, b], dtype=torch.float64, requires_grad=True)
    pred = theta[0] * torch.as_tensor(x) + theta[1]
    res = act.LOSSES[loss].fn(pred - torch.as_tensor(y), 0.0, **params).mean()
    (g,) = torch.autograd.grad(res, theta)
    assert g.abs().max() < 1e-7


def test_fit_line_mae_beats_its_neighbours_and_resists_outliers():
    x, y = act.line_data(outliers=6, seed=1)
    a, b = act.fit_line(x, y, "MAE")

    def l1(a_, b_):
        return np.abs(y - a_ * x - b_).mean()

    best = l1(a, b)
    for da in (-1e-3, 0, 1e-3):
        for db in (-1e-3, 0, 1e-3):
            assert best <= l1(a + da, b + db) + 1e-9
    _, b_mse = act.fit_line(x, y, "MSE")
    _, b_hub = act.fit_line(x, y, "Huber")
    assert abs(b - 1) < abs(b_mse - 1) and abs(b_hub - 1) < abs(b_mse - 1)   # true intercept is 1


# ---------------------------------------------------------------------------------------------- dead ReLUs
def test_relu_activity_counts_known_dead_units():
    lin = nn.Linear(3, 5)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([1.0, -1.0, 2.0, -3.0, 0.0]))
    (layer,) = act.relu_activity(nn.Sequential(lin, nn.ReLU()), torch.randn(50, 3))
    assert layer.dead == 3 and layer.units == 5          # bias <= 0 and no weights: never > 0
    np.testing.assert_array_equal(layer.active_fraction, [1, 0, 1, 0, 0])


def test_relu_activity_brute_force_mlp_and_conv():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU())
    with torch.no_grad():
        mlp[0].bias[:5] = -10                             # five first-layer units dead
    x = torch.randn(300, 4)
    got = act.relu_activity(mlp, x, batch_size=64)       # batched: counts must add up across batches
    h1 = torch.relu(mlp[0](x))
    h2 = torch.relu(mlp[2](h1))
    for g, h in zip(got, (h1, h2)):
        np.testing.assert_allclose(g.active_fraction, (h > 0).double().mean(0).numpy())
        assert g.dead == int(((h > 0).sum(0) == 0).sum())
    assert got[0].dead >= 5
    conv = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU())
    with torch.no_grad():
        conv[0].weight.zero_()
        conv[0].weight[2, 0, 1, 1] = 1.0                 # channel 2 copies the (shifted) input
        conv[0].bias.copy_(torch.tensor([0.5, -0.5, 0.0]))
    img = torch.zeros(4, 1, 5, 5)
    img[0, 0, 2, 2] = 1.0                                # only image 0 has a positive pixel
    (c,) = act.relu_activity(conv, img)  # channel 2 fires only on image 0
    np.testing.assert_array_equal(c.active_fraction, [1.0, 0.0, 0.25])
    assert act.dead_fraction(conv, img) == pytest.approx(1 / 3)


def test_too_large_learning_rate_kills_relus():
    from dlviz.activations_losses.training import make_trainer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # tiny model: one thread is fastest (and immune to a busy machine)
    try:
        ok = make_trainer(1e-3, steps=150, probe_every=50).run()
        high = make_trainer(0.1, steps=150, probe_every=50).run()
        leaky = make_trainer(0.1, activation="leaky_relu", steps=150, probe_every=50).run()
    finally:
        torch.set_num_threads(threads)
    assert high.latest("dead") > ok.latest("dead") + 0.3
    assert high.latest("dead") > 0.5
    assert ok.latest("val_acc") > 0.85
    assert leaky.latest("dead") == 0.0                   # a leaky ReLU's output is never stuck at 0
    assert [s for s, _ in high.snapshots] == [0, 50, 100, 150]
    assert len(high.snapshots[-1][1]) == 3


# ---------------------------------------------------------------------------------------------- the page
def test_page_every_task_and_activation_renders():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    page = Path(__file__).resolve().parent.parent / "pages" / "activations_losses.py"
    at = AppTest.from_file(str(page), default_timeout=120)
    at.run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Dead units, lr 0.1 (shipped)"] != metrics["Dead units, lr 0.001 (shipped)"]
    for task in act.TASKS:
        at.session_state["loss-task"] = task
        at.run()
        assert not at.exception and not at.error, task
    at.session_state["act-chosen"] = list(act.ACTIVATIONS)
    at.run()
    at.selectbox(key="act-focus").select("ELU").run()
    assert not at.exception and at.slider(key="act-ELU-alpha").value == 1.0
    at.session_state["act-chosen"] = []
    at.run()
    assert not at.exception and at.info                           # asks for an activation, no traceback


def test_figures_plot_the_measured_numbers():
    from dlviz.activations_losses import plots as P

    c = act.curve("tanh", threshold=0.05)
    fig = P.activation_figure({"tanh": c, "ReLU": act.curve("ReLU")}, focus="tanh", pre_act=(0, 1))
    k = (len(c.x) - 1) // P.MAX_DRAWN                      # the right panel is the autograd derivative, every k-th
    assert k >= 1 and np.array_equal(fig.data[1].y, c.dy[::k]) and np.array_equal(fig.data[1].x, c.x[::k])
    assert fig.data[1].x[0] == c.x[0] and fig.data[1].x[-1] == c.x[-1] and len(fig.data[1].x) <= P.MAX_DRAWN + 1
    assert len([s for s in fig.layout.shapes if s.type == "rect"]) == 2 * len(c.regions)
    x = np.linspace(-3, 3, 7)
    loss, grad = act.loss_curve("hinge", x, 1.0)
    fig = P.loss_figure(x, {"hinge": (loss, grad)}, "z", point=0.0)
    assert np.array_equal(fig.data[0].y, loss) and np.array_equal(fig.data[1].y, grad)
    assert P.thumbnail().shape == (150, 300, 3)


# ---------------------------------------------------------------------------------------------- one palette, exports
def _line_colours(fig) -> dict:
    out = {}
    for t in fig.data:
        if not t.name:
            continue
        c = t.marker.color if t.type == "bar" else t.line.color
        out.setdefault(t.name.split(" · ")[0], c)
    return out


def test_a_colour_belongs_to_a_name_not_to_a_position():
    """Issue 15: lr 0.001 was blue in the shipped charts and orange in the user's run; activations and losses took
    their colour from their position in the selection."""
    from dlviz.activations_losses import plots as P
    from dlviz.plotting import metrics_figure

    acts = [act.LayerActivity("l1", 2, np.array([0.0, 0.5]), 1)]
    shipped = _line_colours(P.dead_units_figure({"lr 0.001 (shipped)": acts, "lr 0.1 (shipped)": acts}))
    mine_order = ["relu lr 0.001", "relu lr 0.3"]                 # the page lists its baseline first
    mine = _line_colours(P.dead_units_figure({k: acts for k in mine_order}))
    traj = _line_colours(P.dead_trajectory_figure({k: [(0, [0.1])] for k in mine_order}))
    monitor = _line_colours(metrics_figure({k: {"loss": ([1, 2], [1.0, 0.5])} for k in mine_order}, ("loss",)))
    assert shipped["lr 0.001 (shipped)"] == mine["relu lr 0.001"] == traj["relu lr 0.001"] == monitor["relu lr 0.001"]
    assert shipped["lr 0.1 (shipped)"] == mine["relu lr 0.3"] == traj["relu lr 0.3"] == monitor["relu lr 0.3"]
    assert shipped["lr 0.001 (shipped)"] != shipped["lr 0.1 (shipped)"]
    c = {n: act.curve(n) for n in ("sigmoid", "tanh", "ReLU")}
    assert _line_colours(P.activation_figure({"tanh": c["tanh"]}))["tanh"] == _line_colours(P.activation_figure(c))["tanh"]
    assert len(set(P.ACT_COLORS.values())) == len(act.ACTIVATIONS)            # no two activations share a colour
    x = np.linspace(-1, 1, 5)
    one = _line_colours(P.loss_figure(x, {"MAE": act.loss_curve("MAE", x, 0.0)}, "y"))
    fits = _line_colours(P.line_fit_figure(x, x, {"MSE": (1.0, 0.0), "MAE": (1.0, 0.0)}, (1.0, 0.0)))
    assert one["MAE"] == next(v for k, v in fits.items() if k.startswith("MAE"))


def test_activity_rows_count_the_dead_units():
    from dlviz.activations_losses import views

    acts = [act.LayerActivity("l1", 3, np.array([0.0, 0.25, 0.0]), 2), act.LayerActivity("l2", 2, np.array([1.0, 0.5]), 0)]
    rows = views.activity_rows({"m": acts})
    assert len(rows) == 5 and sum(r["dead"] for r in rows) == 2
    assert [r["active_fraction"] for r in rows if r["layer"] == 1] == [0.0, 0.25, 0.0]


def test_page_snippet_follows_the_link_and_the_run_lists_its_baseline_first():
    """Issue 17: a link with a non-default focus, parameter and spread reaches the snippet, which prints the page's
    number; the user's run lists lr 0.001 first (the shared monitor colours in that order)."""
    import contextlib
    import io
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "activations_losses.py"),
                           default_timeout=120)
    at.query_params.update({"act-focus": "ELU", "act-chosen": ["tanh", "ELU"], "act-ELU-alpha": "2.0", "act-std": "4.0"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="act-focus").value == "ELU" and at.slider(key="act-ELU-alpha").value == 2.0
    shown = next(m.value for m in at.metric if m.label == "Saturated pre-activations (ELU)")
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    assert "alpha=2.0" in code and "4.0" in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    assert out.getvalue().split()[-1] == shown
    at.sidebar.number_input(key="dead-steps").set_value(10)
    at.sidebar.button(key="dead-train").click().run()
    run = at.session_state["dlviz-run-dead"]
    for t in run.trainers.values():
        t.join(120)
    assert list(run.trainers) == ["relu lr 0.001", "relu lr 0.1"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
