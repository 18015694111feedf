"""BatchNorm & covariate shift: dlviz.batchnorm.core, dlviz.batchnorm.domain_shift and the shipped digits MLPs."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlviz.batchnorm import core as bnm
from dlviz.batchnorm import domain_shift as bs
from dlviz.batchnorm.training import LRSweep, make_runs
from dlviz.checkpoints import load_shipped
from dlviz.data import DataError
from dlviz.resnet_gradients.core import build
from dlviz.resnet_gradients.loss_landscape import frozen_stats


@pytest.fixture(scope="module")
def data():
    return bnm.load_data("digits", seed=0)


@pytest.fixture(scope="module")
def configs(data):
    base = bnm.net_config(data, hidden_layers=3, width=32)
    return bnm.variant_configs(base, list(bnm.VARIANTS))


# ---------------------------------------------------------------------------------------- variants
def test_variants_differ_only_in_normalisation(configs):
    models = {n: build(c, seed=5) for n, c in configs.items()}
    ref = models["no norm"]
    for name, m in models.items():
        for (ln, a), b in zip(ref.weight_layers().items(), m.weight_layers().values()):
            assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias), (name, ln)
    assert not bs.has_bn(models["no norm"]) and not bs.has_bn(models["LayerNorm"])
    assert bs.has_bn(models["BatchNorm"]) and bs.has_bn(models["BN after activation"])


def test_batchnorm_normalises_each_unit_over_the_batch(data, configs):
    x = data.x_train[:100]
    pre, post = bnm.layer_values(build(configs["BatchNorm"], 0), x)
    for p in pre:                       # BN before the ReLU: the ReLU's input is standardised per unit
        assert torch.allclose(p.mean(0), torch.zeros(p.shape[1]), atol=1e-5)
        assert torch.allclose(p.var(0, unbiased=False), torch.ones(p.shape[1]), atol=1e-3)
    pre, post = bnm.layer_values(build(configs["BN after activation"], 0), x)
    live = post[0].var(0) > 0
    assert torch.allclose(post[0].mean(0)[live], torch.zeros(int(live.sum())), atol=1e-5)
    pre, _ = bnm.layer_values(build(configs["no norm"], 0), x)
    assert float(pre[1].mean(0).abs().max()) > 0.01


def test_a_batch_of_two_normalises_every_unit_to_plus_or_minus_one(data, configs):
    """With B = 2 the batch mean is the midpoint: (x - m) / sqrt(d^2 / 4 + eps), d = |x0 - x1|."""
    model = build(configs["BatchNorm"], 0)
    x = data.x_train[:2]
    pre, _ = bnm.layer_values(model, x)
    with torch.no_grad():
        h = model.stem.fc(((x - data.mean) / data.std).flatten(1))      # the first BN layer's input
    half = (h[0] - h[1]).abs() / 2
    expected = half / torch.sqrt(half ** 2 + model.stem.norm.eps)
    assert torch.allclose(pre[0].abs(), expected.expand(2, -1), atol=1e-5)
    assert torch.all(pre[0][0] * pre[0][1] <= 0)                        # the two samples get opposite signs
    assert float((pre[0].abs() > 0.99).float().mean()) > 0.9


# ---------------------------------------------------------------------------------------- the probe
def test_probe_percentiles_and_shift(data, configs):
    model = build(configs["BatchNorm"], 0)
    probe = bnm.Probe(data.x_train[:64], data.y_train[:64], lr=0.1)
    s0 = probe(model, 0)
    pre, _ = bnm.layer_values(model, data.x_train[:64])
    np.testing.assert_allclose(s0["pct"][1], np.percentile(pre[1].numpy(), bnm.PERCENTILES, axis=0).T, atol=1e-5)
    assert np.all(np.isnan(s0["shift"]))
    s1 = probe(model, 1)                           # nothing moved: the distributions are the same
    np.testing.assert_allclose(s1["shift"], 0, atol=1e-7)
    with torch.no_grad():
        model.stem.fc.bias += 1.0                  # a constant offset before BN is normalised away ...
    np.testing.assert_allclose(probe(model, 2)["shift"], 0, atol=1e-5)
    with torch.no_grad():
        model.stem.norm.bias += 1.0                # ... BN's own shift (beta) moves the distribution
    assert probe(model, 3)["shift"][0] > 0.1
    steps, pct = bnm.percentile_series([(0, s0), (1, s1)], layer=1, unit=3)
    assert list(steps) == [0, 1] and pct.shape == (2, 3)


def test_gradient_shift_matches_a_manual_computation(data, configs):
    """Santurkar et al.'s ICS with plain SGD: G' of layer k after the layers before k stepped by -lr G."""
    model = build(configs["BatchNorm"], 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    batch = (data.x_train[:64], data.y_train[:64])
    layers, diff, cos = bnm.gradient_shift(model, batch, opt)
    assert diff[0] == 0 and cos[0] == pytest.approx(1.0)
    ref = copy.deepcopy(model).train()
    grads = torch.autograd.grad(F.cross_entropy(ref(batch[0]), batch[1]), list(ref.parameters()))
    g = dict(zip([n for n, _ in ref.named_parameters()], grads))
    with torch.no_grad():                           # move everything before layer 3 ("b2.fc1")
        for n, p in ref.named_parameters():
            if n.startswith(("stem.", "blocks.0.")):
                p -= 0.5 * g[n]
    g2 = torch.autograd.grad(F.cross_entropy(ref(batch[0]), batch[1]), [ref.blocks[1].layers[0].fc.weight])[0]
    assert layers[2] == "b2.fc1"
    assert diff[2] == pytest.approx(float((g["blocks.1.layers.0.fc.weight"] - g2).norm()), rel=1e-4)
    assert diff[2] > 0
    assert opt.state_dict()["state"] == {}         # the real optimiser took no step


def test_runs_share_batches_and_record_snapshots(data, configs):
    runs = make_runs({k: configs[k] for k in ("no norm", "BatchNorm")}, data, lr=0.05, steps=20,
                         batch_size=32, snapshot_every=10, eval_every=10, probe_n=64)
    for t in runs.values():
        t.run()
        assert t.status == "finished"
        assert [s for s, _ in t.snapshots] == [0, 10, 20]
        assert {"pct", "pre", "post", "shift", "ics_diff", "ics_cos", "path"} <= set(t.snapshots[-1][1])
        assert set(t.history("test_acc")[0]) == {0, 10, 20}
    a, b = (t.history("loss")[1] for t in runs.values())
    assert a[0] == pytest.approx(b[0], abs=0.2)    # same init and batch: similar first losses
    steps, vals = bnm.series(runs["BatchNorm"].snapshots, "ics_diff")
    assert list(steps) == [0, 10, 20] and vals.shape == (3, 4)


# ---------------------------------------------------------------------------------------- learning-rate sweep
def test_trained_criterion():
    assert bnm.trained(2.3, 0.5, False) == "trained"
    assert bnm.trained(2.3, 1.2, False) == "did not train"
    assert bnm.trained(2.3, math.nan, False) == "did not train"
    assert bnm.trained(2.3, 0.1, True) == "diverged"


def test_sweep_detects_divergence_without_crashing(data, configs):
    sweep = LRSweep({"no norm": configs["no norm"]}, data, [0.05, 1e4], steps=60, batch_size=32)
    t = sweep.trainer().run()
    assert t.status == "finished" and t.step == 2
    rows = {r.lr: r for r in sweep.rows}
    assert rows[0.05].status == "trained"
    assert rows[1e4].status == "diverged" and "diverged" in rows[1e4].message
    assert sweep.largest_lr() == {"no norm": 0.05}


def test_largest_trainable_lr():
    R = bnm.SweepRow
    rows = [R("a", 0.1, "trained", 2, 0.1, 10), R("a", 1.0, "diverged", 2, math.nan, 3),
            R("a", 0.3, "trained", 2, 0.2, 10), R("b", 0.1, "did not train", 2, 2, 10)]
    assert bnm.largest_trainable_lr(rows, ["a", "b"]) == {"a": 0.3, "b": None}


# ---------------------------------------------------------------------------------------- train vs eval mode
def test_layernorm_does_not_depend_on_the_batch(data, configs):
    m = build(configs["LayerNorm"], 0)
    x = data.x_test[:64]
    with torch.no_grad(), frozen_stats(m, True):
        pairs = torch.cat([m(x[i:i + 2]) for i in range(0, 64, 2)])
    with torch.no_grad():
        assert torch.allclose(pairs, m.eval()(x), atol=1e-5)
    bn = build(configs["BatchNorm"], 0)
    with torch.no_grad(), frozen_stats(bn, True):
        pairs = torch.cat([bn(x[i:i + 2]) for i in range(0, 64, 2)])
    with torch.no_grad():
        assert not torch.allclose(pairs, bn.eval()(x), atol=1e-2)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_ghost_batches_equal_train_mode_batch_by_batch(data, kind):
    cfg = bnm.variant_configs(bnm.net_config(data, kind=kind, hidden_layers=3, width=8), ["BatchNorm"])["BatchNorm"]
    m = build(cfg, 0)
    x = data.x_test[:24]
    with torch.no_grad(), frozen_stats(m, True):
        ref = torch.cat([m(x[i:i + 4]) for i in range(0, 24, 4)])
    assert torch.allclose(bs.ghost_batch_logits(m, x, 4), ref, atol=1e-5)
    assert m.training                              # its mode is restored


def test_shipped_bn_model_small_batches_hurt(data):
    model, card = load_shipped("digits_mlp_bn", expected_arch="deep_net")
    acc = bs.mode_accuracy(model, data.x_test, data.y_test, [2, 256])
    assert acc["eval"] == pytest.approx(card["metrics"]["test_acc"], abs=1e-4)
    assert acc["train, batch 2"] < acc["train, batch 256"] - 0.05


def test_without_bn_every_mode_gives_the_eval_accuracy_exactly(data):
    """Issue 15: the digits test set has an odd size (359), so batch 2 once dropped an image and the no-norm model
    differed from eval mode. Every image is now scored once in every column."""
    assert len(data.x_test) % 2 == 1
    model, _ = load_shipped("digits_mlp_plain", expected_arch="deep_net")
    acc = bs.mode_accuracy(model, data.x_test, data.y_test, [2, 4, 16, 64, 256, 1000])
    assert set(acc.values()) == {acc["eval"]}
    hits = round(acc["eval"] * len(data.x_test))
    assert acc["eval"] == hits / len(data.x_test)


def test_leftover_images_are_scored_in_a_full_batch(data):
    """B = 4 on 7 images: one batch of 4, then the 3 leftovers batched with the first image (which is not scored
    twice), so each leftover's prediction is the one from a batch of exactly 4."""
    model, _ = load_shipped("digits_mlp_bn", expected_arch="deep_net")
    x, y = data.x_test[:7], data.y_test[:7]
    order = torch.randperm(7, generator=torch.Generator().manual_seed(3))
    xs, ys = x[order], y[order]
    pred = torch.cat([bs.ghost_batch_logits(model, xs[:4], 4).argmax(1),
                      bs.ghost_batch_logits(model, torch.cat([xs[4:], xs[:1]]), 4)[:3].argmax(1)])
    assert bs.mode_accuracy(model, x, y, [4], seed=3)["train, batch 4"] == int((pred == ys).sum()) / 7


def test_batch_statistics_scatter_like_one_over_root_b(data):
    model, _ = load_shipped("digits_mlp_bn", expected_arch="deep_net")
    small = bs.batch_stats(model, data.x_train, "b1.fc1", batch_size=4, n_batches=200)
    big = bs.batch_stats(model, data.x_train, "b1.fc1", batch_size=64, n_batches=200)
    assert small.mean_error() / big.mean_error() == pytest.approx(4.0, rel=0.3)   # sqrt(64 / 4)
    bn = model.norm_layers()["b1.fc1"]
    np.testing.assert_array_equal(small.running_mean, bn.running_mean.numpy())
    assert np.max(np.abs(small.pop_mean - small.running_mean) / np.sqrt(small.pop_var + 1e-5)) < 0.5


# ---------------------------------------------------------------------------------------- covariate shift
def test_shift_images():
    x = torch.rand(5, 3, 8, 8) * 0.5
    for kind in bs.SHIFTS:
        assert torch.equal(bs.shift_images(x, kind, 0.0), x)
    assert torch.allclose(bs.shift_images(x, "brightness", 0.6), x + 0.3)
    c = bs.shift_images(x, "contrast", 0.5)
    assert torch.allclose(c.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-6)
    assert torch.allclose(c.std(dim=(1, 2, 3)), 0.6 * x.std(dim=(1, 2, 3)), atol=1e-6)
    flat = torch.full((1, 3, 8, 8), 0.4)
    assert torch.allclose(bs.shift_images(flat, "blur", 1.0), flat)
    assert torch.equal(bs.shift_images(x, "noise", 0.5, seed=1), bs.shift_images(x, "noise", 0.5, seed=1))
    assert bs.shift_images(x, "noise", 1.0).max() <= 1 and bs.shift_images(x, "noise", 1.0).min() >= 0
    with pytest.raises(DataError, match="RGB"):
        bs.shift_images(torch.rand(2, 1, 8, 8), "colour", 0.5)
    with pytest.raises(DataError):
        bs.shift_images(x, "fog", 0.5)


def test_adabn_estimates_the_exact_statistics(data):
    model, _ = load_shipped("digits_mlp_bn", expected_arch="deep_net")
    x = bs.shift_images(data.x_train, "brightness", 0.4)
    adapted = bs.adapt_bn(model, x, batch_size=len(x))
    with torch.no_grad():
        h = model.stem.fc(((x - model.config.input_mean) / model.config.input_std).flatten(1))
    bn = adapted.norm_layers()["stem"]
    np.testing.assert_allclose(bn.running_mean, h.mean(0), atol=1e-5)
    np.testing.assert_allclose(bn.running_var, h.var(0, unbiased=True), rtol=1e-4)
    assert not torch.equal(bn.running_mean, model.norm_layers()["stem"].running_mean)  # original untouched
    for a, b in zip(adapted.parameters(), model.parameters()):
        assert torch.equal(a, b)


def test_adabn_undoes_a_brightness_offset_exactly(data):
    """A constant offset moves every first-layer unit by a constant; re-estimated BN removes it."""
    model, _ = load_shipped("digits_mlp_bn", expected_arch="deep_net")
    x, xt = data.x_train, data.x_test[:50]
    clean = bs.adapt_bn(model, x)
    shifted = bs.adapt_bn(model, bs.shift_images(x, "brightness", 0.6, clip=False))
    with torch.no_grad():
        a = clean(xt)
        b = shifted(bs.shift_images(xt, "brightness", 0.6, clip=False))
    assert torch.allclose(a, b, atol=1e-3)


def test_shift_report_on_the_shipped_pair(data):
    bn, _ = load_shipped("digits_mlp_bn", expected_arch="deep_net")
    plain, _ = load_shipped("digits_mlp_plain", expected_arch="deep_net")
    r_bn = bs.shift_report(bn, data.x_train, data.x_test, data.y_test, "brightness", 0.8)
    r_plain = bs.shift_report(plain, data.x_train, data.x_test, data.y_test, "brightness", 0.8)
    assert r_plain.adapted is None and r_plain.recovered is None
    assert r_bn.shifted < r_bn.clean - 0.1               # the shift hurts ...
    assert r_bn.adapted > r_bn.shifted + 0.1             # ... and AdaBN wins much of it back
    assert r_bn.recovered == pytest.approx((r_bn.adapted - r_bn.shifted) / (r_bn.clean - r_bn.shifted))


def test_frozen_stats_restores_everything(data, configs):
    m = build(configs["BatchNorm"], 0).eval()
    before = copy.deepcopy(m.state_dict())
    with frozen_stats(m, True):
        assert m.training
        m(data.x_train[:32])
    assert not m.training
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


# ---------------------------------------------------------------------------------------- the page
def _run_page(at, key: str, timeout: float = 240.0) -> None:
    """Wait for the page's background trainers under ``key``, then rerun the script."""
    run = at.session_state[f"dlviz-run-{key}"]
    for t in run.trainers.values():
        t.join(timeout)
    at.run()


@pytest.mark.slow
def test_page_trains_sweeps_and_survives_divergence():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "batchnorm.py"), default_timeout=120)
    at.run()
    assert not at.exception
    at.sidebar.number_input(key="bn-steps").set_value(20)
    at.sidebar.select_slider(key="bn-lr").set_value(10.0)          # too high for the net without BN
    at.sidebar.button(key="bn-train").click().run()
    _run_page(at, "bn")
    assert not at.exception, [e.value for e in at.exception]
    statuses = {t.status for t in at.session_state["dlviz-run-bn"].trainers.values()}
    assert statuses <= {"finished", "diverged"}
    if "diverged" in statuses:
        assert any("diverged" in e.value for e in at.error)
    assert any("drift of the median" in m.label for m in at.metric)
    at.number_input(key="bn-sweep-steps").set_value(20)
    at.select_slider(key="bn-sweep-range").set_value((1.0, 30.0))
    at.button(key="bn-sweep-train").click().run()
    _run_page(at, "bn-sweep")
    assert not at.exception, [e.value for e in at.exception]
    sweep = at.session_state["bn-sweep-obj"]
    assert len(sweep.rows) == 8 and any(r.status == "diverged" for r in sweep.rows)
    assert any("largest lr that trained" in m.label for m in at.metric)


# ---------------------------------------------------------------------------------------- figures
def test_figures_plot_the_measured_numbers():
    from dlviz.batchnorm import plots as bp

    steps, pct = np.array([0, 10, 20]), np.array([[-1.0, 0.0, 1.0], [-2.0, 0.5, 2.0], [-1.5, 0.2, 1.0]])
    fig = bp.percentile_figure({"BatchNorm": (steps, pct)}, "t")
    ys = [list(t.y) for t in fig.data]
    assert ys == [list(pct[:, 2]), list(pct[:, 0]), list(pct[:, 1])]      # 85th, 15th (band), median
    R = bnm.SweepRow
    rows = [R("a", 0.1, "trained", 2.3, 0.2, 150), R("a", 1.0, "diverged", 2.3, math.nan, 3, "diverged"),
            R("b", 0.1, "did not train", 2.3, 2.0, 150)]
    fig = bp.sweep_figure(rows, [0.1, 1.0], {"a": 0.1, "b": None})
    a = fig.data[0]
    assert list(a.marker.symbol) == ["circle", "x"] and a.y[0] == 0.2 and a.y[1] > 2.3   # diverged: top edge
    assert list(fig.data[1].marker.symbol) == ["circle-open"]
    img = bp.mosaic([np.zeros((8, 1, 8, 8)), np.ones((8, 1, 8, 8)) * 0.5], scale=6, gap=2)
    assert img.shape == (3, 2 * (48 + 2), 8 * (48 + 2))
    assert img[0, 0, 0] == 0 and img[0, 50, 0] == 0.5 and img[0, 48, 0] == 1     # pixels, then a white gap


# ---------------------------------------------------------------------------------------- share and export
def _snippet(at) -> str:
    codes = [c.value for c in at.code if c.value.startswith("# dlviz notebook snippet")]
    assert len(codes) == 1
    return codes[0]


def _exec_last_line(code: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
    return [ln for ln in out.getvalue().splitlines() if ln.strip()][-1]


@pytest.mark.slow
def test_snippet_retrains_the_users_variants_and_prints_the_page_number():
    """Issue 17: on "my trained variants" the notebook lines retrain the same variants (same init, batches and
    steps) and print the train-mode batch-2 accuracy the page shows."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "batchnorm.py"), default_timeout=120)
    at.run()
    at.sidebar.number_input(key="bn-steps").set_value(30)
    at.sidebar.select_slider(key="bn-width-mlp").set_value(16)
    at.sidebar.button(key="bn-train").click().run()
    _run_page(at, "bn")
    at.radio(key="bn-source").set_value("my trained variants").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = next(m.value for m in at.metric if m.label == "Train mode, batch 2")
    code = _snippet(at)
    assert "trainer.run()" in code and "steps=30" in code
    assert _exec_last_line(code) == shown
    # the section-2 CSV rows and the histogram GIF come from the same snapshots
    from dlviz.batchnorm import views as bv

    snaps = {n: list(t.snapshots) for n, t in at.session_state["dlviz-run-bn"].trainers.items()}
    frames = bv.histogram_frames(snaps, 0, "pre", {"no norm": "#4C78A8", "BatchNorm": "#F58518"})
    assert len(frames) == len(snaps["BatchNorm"]) and frames[0].shape == (160, 320, 3)
    assert not np.array_equal(frames[0], frames[-1])
    blue = np.all(frames[0] == (76, 120, 168), axis=-1).sum()
    orange = np.all(frames[0] == (245, 133, 24), axis=-1).sum()
    assert blue > 0 and orange > 0                     # each variant drawn in its page colour


def test_measure_rows_pick_the_layer_and_step():
    from dlviz.batchnorm import views as bv

    steps = np.array([0, 10])
    shift = {"a": (np.array([10]), np.array([[0.1, 0.2]]))}              # no shift at step 0 (nothing before)
    ics = {"a": (steps, np.array([[1.0, 2.0], [3.0, 4.0]]))}
    path = {"a": (steps, [{"spread": 0.5, "beta": 5.0}, {"spread": 0.25, "beta": 6.0}])}
    rows = bv.measure_rows(shift, ics, path, 1)
    assert rows == [{"variant": "a", "step": 0, "layer": 2, "W1/std (a)": None, "||G-G'|| (b)": 2.0,
                     "delta loss": 0.5, "beta": 5.0},
                    {"variant": "a", "step": 10, "layer": 2, "W1/std (a)": 0.2, "||G-G'|| (b)": 4.0,
                     "delta loss": 0.25, "beta": 6.0}]


def test_median_drift_is_in_units_of_the_spread():
    import numpy as np

    from dlviz.batchnorm.views import median_drift, summary_rows

    pct = np.array([[-1.0, 0.0, 1.0], [-1.0, 0.5, 1.0], [0.0, 1.0, 2.0]])   # spread 2 throughout, median 0 -> 1
    assert median_drift(pct) == 0.5
    shift = {"bn": (None, np.array([[9.0], [1.0], [3.0]]))}
    ics = {"bn": (None, np.array([[2.0], [np.nan]]))}
    path = {"bn": (None, [{"spread": 1.0, "beta": 4.0}, {"spread": 3.0, "beta": 6.0}])}
    row = summary_rows(shift, ics, path, 0)[0]
    assert row["median W₁/std (a)"] == 2.0 and row["median ‖G − G′‖ (b)"] == 2.0      # step 0 left out; NaN ignored
    assert row["median Δloss"] == 2.0 and row["median β"] == 5.0
