"""Residual connections and gradient flow: dlviz.resnet_gradients.core, dlviz.resnet_gradients.loss_landscape, DeepNet."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlviz.resnet_gradients import core as gf
from dlviz.resnet_gradients import loss_landscape as ll
from dlviz.resnet_gradients.training import make_trainers
from dlviz.data import batches, digits
from dlviz.models import build_model
from dlviz.models.deep_nets import DeepNet


@pytest.fixture(scope="module")
def batch():
    d = digits("train", seed=0)
    return d.images[:128], d.labels[:128]


def cfg(**kw) -> DeepNet.Config:
    base = {"width": 32, "depth": 3, "input_mean": 0.3, "input_std": 0.37}
    return DeepNet.Config(**{**base, **kw})


# ---------------------------------------------------------------------------------------- the model
def test_plain_and_residual_twins_share_their_initial_weights():
    twins = gf.plain_and_residual(cfg(norm="batch", init="kaiming"))
    a, b = (gf.build(c, seed=3) for c in twins.values())
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(gf.build(twins["plain"], seed=4).stem.fc.weight, a.stem.fc.weight)


@pytest.mark.parametrize("norm", ["none", "batch", "layer", "group"])
def test_residual_block_with_zeroed_branch_is_the_identity(norm):
    model = gf.build(cfg(norm=norm, residual=True, zero_init_last=True, init="kaiming"), seed=0)
    x = torch.relu(torch.randn(16, 32))          # block inputs are ReLU outputs, hence >= 0
    for mode in (True, False):
        model.train(mode)
        for block in model.blocks:
            assert torch.allclose(block.branch(x), torch.zeros_like(x), atol=0)
            assert torch.equal(block(x), x)
    # the whole body is then the stem alone
    xs = torch.rand(8, 1, 8, 8)
    model.eval()
    assert torch.allclose(model.body(xs), model.stem(((xs - 0.3) / 0.37).flatten(1)), atol=1e-6)


def test_plain_block_is_residual_block_minus_the_skip():
    c = cfg(norm="batch")
    plain, res = (gf.build(v, seed=0).eval() for v in gf.plain_and_residual(c).values())
    x = torch.relu(torch.randn(10, 32))
    assert torch.allclose(res.blocks[0](x), torch.relu(x + plain.blocks[0].branch(x)), atol=1e-6)
    assert torch.allclose(plain.blocks[0](x), torch.relu(plain.blocks[0].branch(x)), atol=1e-6)


def test_cnn_variant_runs_and_names_its_layers():
    m = build_model("deep_net", cfg(kind="cnn", width=8, depth=2, norm="group"))
    assert m(torch.rand(4, 1, 8, 8)).shape == (4, 10)
    assert list(m.weight_layers()) == ["stem", "b1.fc1", "b1.fc2", "b2.fc1", "b2.fc2", "head"]


def test_kaiming_init_has_the_kaiming_variance():
    m = gf.build(DeepNet.Config(width=512, depth=1, init="kaiming"), seed=0)
    w = m.blocks[0].layers[0].fc.weight
    assert abs(float(w.detach().var()) - 2 / 512) < 0.03 * 2 / 512
    assert float(m.blocks[0].layers[0].fc.bias.detach().abs().max()) == 0


# ---------------------------------------------------------------------------------------- gradient norms
def test_gradient_norms_agree_with_autograd(batch):
    model = gf.build(cfg(norm="batch", residual=True), seed=1)
    norms = gf.gradient_norms(model, batch)
    ref = copy.deepcopy(model).train()
    layers = ref.weight_layers()
    grads = torch.autograd.grad(F.cross_entropy(ref(batch[0]), batch[1]), [m.weight for m in layers.values()])
    assert list(norms) == list(layers)
    np.testing.assert_allclose(list(norms.values()), [float(g.norm()) for g in grads], rtol=1e-5)


def test_gradient_norms_agree_with_finite_differences():
    torch.manual_seed(0)
    model = gf.build(cfg(width=3, depth=1, init="kaiming"), seed=2).double()
    x, y = torch.rand(6, 1, 8, 8, dtype=torch.float64), torch.arange(6)
    norms = gf.gradient_norms(model, (x, y))
    h = 1e-6
    for name in ("b1.fc1", "head"):
        w = model.weight_layers()[name].weight
        fd = torch.zeros_like(w)
        with torch.no_grad():
            for i in np.ndindex(*w.shape):
                w[i] += h
                up = F.cross_entropy(model(x), y)
                w[i] -= 2 * h
                down = F.cross_entropy(model(x), y)
                w[i] += h
                fd[i] = (up - down) / (2 * h)
        assert norms[name] == pytest.approx(float(fd.norm()), rel=1e-6)


def test_measurements_leave_the_model_unchanged(batch):
    model = gf.build(cfg(norm="batch"), seed=0).eval()
    before = copy.deepcopy(model.state_dict())
    gf.gradient_norms(model, batch)
    gf.activation_stats(model, batch)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_deep_plain_net_vanishes_and_residual_does_not(batch):
    """Default (PyTorch) init, no normalisation, 25 blocks = 50 hidden layers (the issue's test)."""
    c = DeepNet.Config(width=64, depth=25, input_mean=0.3, input_std=0.37)
    for seed in (0, 1):
        plain = gf.init_profile(c, batch, seed=seed)
        res = gf.init_profile(gf.plain_and_residual(c)["residual"], batch, seed=seed)
        assert plain.ratio < 1e-6 and gf.diagnose(plain.ratio) == "vanishing"
        assert 1e-2 < res.ratio < 1e2 and gf.diagnose(res.ratio) == "healthy"
        # and the forward signal: a residual stream keeps the input's variance, the plain one doesn't
        assert res.act_var[-1] > 10 * plain.act_var[-1]


def test_activation_stats_match_a_manual_forward(batch):
    model = gf.build(cfg(norm="batch", residual=True), seed=0)
    stats = gf.activation_stats(model, batch)
    m = copy.deepcopy(model).train()
    with torch.no_grad():
        h = m.stem(((batch[0] - 0.3) / 0.37).flatten(1))
        reps = [h]
        for b in m.blocks:
            h = b(h)
            reps.append(h)
    assert list(stats) == ["stem", "b1", "b2", "b3"]
    for (name, s), r in zip(stats.items(), reps):
        assert s["var"] == pytest.approx(float(r.var(unbiased=False)), rel=1e-5), name
        assert s["frac_zero"] == pytest.approx(float((r == 0).float().mean()))


def test_init_profile_agrees_with_the_separate_measurements(batch):
    c = cfg(norm="batch", residual=True)
    prof = gf.init_profile(c, batch, seed=3)
    model = gf.build(c, seed=3)
    np.testing.assert_allclose(prof.grad_norms, list(gf.gradient_norms(model, batch).values()), rtol=1e-5)
    stats = gf.activation_stats(model, batch)
    assert prof.reps == list(stats)
    np.testing.assert_allclose(prof.act_var, [s["var"] for s in stats.values()], rtol=1e-5)
    with torch.no_grad():
        assert prof.loss == pytest.approx(float(F.cross_entropy(model.train()(batch[0]), batch[1])), rel=1e-5)


def test_ratio_and_diagnosis():
    assert gf.first_last_ratio({"a": 1e-3, "b": 5.0, "c": 2.0}) == pytest.approx(5e-4)
    assert gf.diagnose(5e-4) == "vanishing"
    assert gf.diagnose(1e3) == "exploding"
    assert gf.diagnose(0.5) == "healthy"
    assert gf.diagnose(gf.first_last_ratio({"a": 0.0, "b": 0.0})) == "dead"


# ---------------------------------------------------------------------------------------- training
def test_recorder_sees_the_training_gradients(batch):
    d = digits("train", seed=0)
    nets = make_trainers({"a": cfg(norm="batch")}, d.images, d.labels, lr=0.05, steps=11, batch_size=32,
                            record_every=5, seed=0)
    net = nets["a"]
    first = next(iter(batches(d.images, d.labels, batch_size=32, seed=0)))
    expected = gf.gradient_norms(gf.build(cfg(norm="batch"), seed=0), first)
    net.trainer.run()
    steps, table = net.recorder.table()
    assert list(steps) == [1, 5, 10]
    assert table.shape == (3, len(expected))
    np.testing.assert_allclose(table[0], list(expected.values()), rtol=1e-4)


def test_a_diverging_run_is_reported_not_raised():
    d = digits("train", seed=0)
    nets = make_trainers({"deep": cfg(init="kaiming", depth=8, residual=True)}, d.images, d.labels,
                            lr=50.0, steps=40, batch_size=32)
    t = nets["deep"].trainer.run()
    assert t.status == "diverged" and "diverged" in t.message
    assert math.isnan(gf.final_train_loss(t))


def test_degradation_verdict():
    v = gf.degradation_verdict({"plain-2": 0.02, "plain-10": 0.4, "residual-2": 0.006, "residual-10": 0.017})
    assert v == {"plain": "deeper is worse", "residual": "about equal"}
    v = gf.degradation_verdict({"plain-2": 1.0, "plain-10": 0.5, "residual-2": math.nan, "residual-10": 0.1})
    assert v == {"plain": "deeper is better", "residual": "not measured"}


# ---------------------------------------------------------------------------------------- loss landscape
def test_filter_normalised_direction(batch):
    model = gf.build(cfg(norm="batch", kind="cnn", width=4, depth=1), seed=0)
    d = ll.filter_normalized_direction(model, seed=0)
    for name, p in model.named_parameters():
        if p.dim() > 1:
            np.testing.assert_allclose(d[name].flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1), rtol=1e-5)
        else:
            assert float(d[name].abs().max()) == 0, name        # biases and BN parameters
    d2 = ll.filter_normalized_direction(model, seed=0)
    assert all(torch.equal(d[k], d2[k]) for k in d)


def test_slices_agree_with_direct_evaluation(batch):
    model = gf.build(cfg(norm="batch", residual=True), seed=0).eval()
    before = copy.deepcopy(model.state_dict())
    d1, d2 = ll.filter_normalized_direction(model, 1), ll.filter_normalized_direction(model, 2)
    alphas = [-0.5, 0.0, 0.5]
    s1 = ll.slice_1d(model, batch, d1, alphas)
    s2 = ll.slice_2d(model, batch, d1, d2, alphas, [0.0, 0.25])
    np.testing.assert_allclose(s2[0], s1, rtol=1e-6)                 # b = 0 row is the 1-D slice
    with torch.no_grad():
        moved = copy.deepcopy(model)
        for n, p in moved.named_parameters():
            p.add_(0.5 * d1[n] + 0.25 * d2[n])
        direct = float(F.cross_entropy(moved(batch[0]), batch[1]))
        at0 = float(F.cross_entropy(model(batch[0]), batch[1]))
    assert s2[1, 2] == pytest.approx(direct, rel=1e-5)
    assert s1[1] == pytest.approx(at0, rel=1e-6)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_loss_along_gradient_on_a_quadratic():
    """For L(w) = mean((Xw - y)^2): L(w - eta g) and g(w - eta g) - g(w) = -eta H g in closed form."""
    torch.manual_seed(0)
    X, y = torch.randn(20, 3, dtype=torch.float64), torch.randn(20, dtype=torch.float64)
    lin = torch.nn.Linear(3, 1, bias=False).double()

    def mse(m, b):
        return ((m(b[0]).squeeze(1) - b[1]) ** 2).mean()

    w = lin.weight.detach().flatten()
    H = 2 * X.T @ X / len(X)
    g = H @ w - 2 * X.T @ y / len(X)
    etas = [0.01, 0.1, 0.3]
    path = ll.loss_along_gradient(lin, (X, y), etas, loss_fn=mse)
    L = lambda v: float(((X @ v - y) ** 2).mean())
    np.testing.assert_allclose(path.losses, [L(w - e * g) for e in etas], rtol=1e-10)
    np.testing.assert_allclose(path.grad_change, [float((e * H @ g).norm()) for e in etas], rtol=1e-8)
    assert path.loss0 == pytest.approx(L(w))
    assert path.beta_smoothness == pytest.approx(float((H @ g).norm() / g.norm()), rel=1e-8)


# ---------------------------------------------------------------------------------------- the page
@pytest.mark.slow
def test_page_trains_four_nets_and_slices_the_landscape():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "resnet_gradients.py"), default_timeout=120)
    at.run()
    assert not at.exception
    at.slider(key="rg-depth").set_value(50).run()                   # the depth-50 profile
    assert not at.exception and any("first/last" in m.label for m in at.metric)
    at.sidebar.number_input(key="rg-deep").set_value(3)
    at.sidebar.number_input(key="rg-steps").set_value(20)
    at.sidebar.select_slider(key="rg-lr").set_value(10.0)
    at.sidebar.button(key="rg-train").click().run()
    run = at.session_state["dlviz-run-rg"]
    for t in run.trainers.values():
        t.join(240)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("final training loss" in m.label for m in at.metric)
    at.button(key="rg-ls-go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "rg-landscape" in at.session_state
    _, _, _, _, out2, _ = at.session_state["rg-landscape"]
    for net, z in out2.items():              # each net's slice is called flat exactly when it is
        label = next(m.label for m in at.metric if m.label.startswith(f"{net}: ") and "slice" in m.label)
        assert label == (f"{net}: shape of the 2-D slice" if ll.is_flat(z) else f"{net}: non-convex share of the 2-D slice")
    assert list(run.trainers) == ["residual-3", "plain-3", "residual-2", "plain-2"]     # the monitor's colour order


def test_a_flat_surface_is_called_flat_not_a_share_of_noise():
    """Issue 15: a dead net's slice (constant loss up to float rounding) was reported as ~45 % non-convex."""
    rng = np.random.default_rng(0)
    flat = np.log(10) + 1e-7 * rng.standard_normal((17, 17))
    assert ll.nonconvex_fraction(flat) > 0.3                       # the old reading: noise
    assert ll.surface_shape(flat)[0] == "flat" and ll.surface_shape(flat)[1] == pytest.approx(np.ptp(flat))
    a = np.linspace(-1, 1, 17)
    X, Y = np.meshgrid(a, a)
    bowl = X ** 2 + Y ** 2
    assert ll.surface_shape(bowl) == ("non-convex share", 0.0)
    assert ll.surface_shape(-bowl)[0] == "non-convex share" and ll.surface_shape(-bowl)[1] == 1.0
    assert not ll.is_flat(2.3 + 0.01 * bowl) and ll.is_flat(2.3 + 0.001 * bowl)    # tolerance 1e-3 x the loss


def test_a_dead_net_has_a_flat_slice(batch):
    """Every hidden ReLU off (biases far below zero): the output is the head's bias wherever the filter-normalised
    directions move the weights, so the slice is flat."""
    m = gf.build(cfg(depth=3), 0)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias") and not name.startswith("head"):
                p.fill_(-1e3)
    d1, d2 = ll.filter_normalized_direction(m, 0), ll.filter_normalized_direction(m, 1)
    z = ll.slice_2d(m, batch, d1, d2, np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    assert ll.surface_shape(z)[0] == "flat"


def test_one_colour_per_net_across_the_page():
    """Issue 15: plain-10 was red in the page's figures and orange in the shared training monitor. Every figure now
    gives a net the colour the monitor gives it (the monitor colours the run's nets by their order)."""
    from dlviz.plotting import metrics_figure
    from dlviz.resnet_gradients import plots as gp

    names = list(gf.degradation_nets(cfg(), (2, 10)))
    assert names == ["residual-10", "plain-10", "residual-2", "plain-2"]
    hist = {n: {"loss": ([1, 2, 3], [2.0, 1.5, 1.0]), "train_loss": ([3], [1.0])} for n in names}

    def colours(fig):
        return {t.name: t.line.color for t in fig.data if t.name and getattr(t, "line", None) is not None}

    monitor = colours(metrics_figure(hist, ("loss",)))
    assert len(set(monitor.values())) == 4
    ratios = {n: (np.array([1, 2]), np.array([1.0, 2.0])) for n in names}
    for fig in (gp.curves_figure(hist), gp.curves_figure(hist, metric="train_loss"), gp.ratio_figure(ratios, 100),
                gp.slice_1d_figure(np.zeros(3), {n: np.ones(3) for n in names})):
        assert colours(fig) == monitor
    assert colours(gp.slice_1d_figure(np.zeros(3), {"plain-2": np.ones(3)}, depths=[2, 10])) == {"plain-2": monitor["plain-2"]}
    prof = colours(gp.ratio_figure({"plain": ratios["plain-2"], "residual": ratios["plain-2"]}, 100))
    assert prof == {"plain": monitor["plain-10"], "residual": monitor["residual-10"]}   # section 1: the deep colours


def test_nonconvex_fraction():
    a = np.linspace(-1, 1, 21)
    X, Y = np.meshgrid(a, a)
    assert ll.nonconvex_fraction(X ** 2 + 3 * Y ** 2 + X * Y) == 0          # convex quadratic
    assert ll.nonconvex_fraction(-(X ** 2)) == 1                             # concave along every row
    bumpy = X ** 2 + Y ** 2 + 0.5 * np.cos(8 * X)
    assert 0 < ll.nonconvex_fraction(bumpy) < 1



def test_figures_plot_the_measured_numbers(batch):
    from dlviz.resnet_gradients import plots as gp

    prof = gf.init_profile(cfg(depth=4), batch)
    fig = gp.init_profile_figure([prof])
    np.testing.assert_allclose(fig.data[0].y, prof.grad_norms)
    np.testing.assert_allclose(fig.data[1].y, prof.act_var)
    steps, norms = np.array([1, 5]), np.array([[1e-3, 1.0], [0.0, 10.0]])
    fig = gp.grad_heatmaps_figure({"plain-2": (steps, norms, ["stem", "head"])})
    z = np.array(fig.data[0].z, dtype=float)
    np.testing.assert_allclose(z[:, 0], [-3, 0])
    assert np.isnan(z[0, 1]) and z[1, 1] == 1                              # a zero gradient is blank


def test_snippet_reproduces_the_headline_of_a_linked_view():
    """Issue 17: a link's values (depth, init, normalisation) reach the notebook lines, which print the page's ratio."""
    import contextlib
    import io

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "resnet_gradients.py"), default_timeout=120)
    at.query_params.update({"rg-depth": "5", "rg-init": "kaiming", "rg-norm": "LayerNorm"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="rg-depth").value == 5 and at.sidebar.selectbox(key="rg-norm").value == "layer"
    shown = next(m.value for m in at.metric if m.label == "Plain: first/last ‖∂L/∂W‖")
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    assert "'depth': 5" in code and "'norm': 'layer'" in code and "'init': 'kaiming'" in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {})
    assert out.getvalue().split()[-1] == shown


def test_grad_rows_list_every_recorded_norm(batch):
    from dlviz.resnet_gradients import views as gv

    nets = make_trainers(gf.degradation_nets(cfg(), (1, 2)), *batch, lr=0.01, steps=4, batch_size=32, record_every=2)
    for n in nets.values():
        n.trainer.run()
    rows = gv.grad_rows({k: n.recorder for k, n in nets.items()})
    steps, norms = nets["plain-2"].recorder.table()
    mine = [r for r in rows if r["net"] == "plain-2"]
    assert len(mine) == norms.size and [r["grad_norm"] for r in mine] == [float(v) for v in norms.ravel()]
