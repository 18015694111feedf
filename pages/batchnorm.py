"""BatchNorm & covariate shift: side-by-side training with and without normalisation, internal covariate
shift measured two ways, learning-rate tolerance, train vs eval mode, and domain shift with AdaBN."""

from __future__ import annotations


import numpy as np
import share
import streamlit as st
import ui

from dlviz.batchnorm import core as bnm
from dlviz.batchnorm import domain_shift as bs
from dlviz.batchnorm import plots as bp
from dlviz.batchnorm import training as bt
from dlviz.batchnorm import views as bv
from dlviz.plotting import image_figure

PAGE_INFO = {
    "title": "BatchNorm & covariate shift",
    "icon": ":material/equalizer:",
    "section": "Training deep nets",
    "order": 10,
    "question": "What does batch normalisation change inside a net, and what does it cost at test time?",
    "thumbnail": "dlviz.batchnorm.views:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "**Batch normalisation** standardises every unit's input over the mini-batch, then applies a learned scale "
    "and shift (Ioffe & Szegedy, 2015). Train the same network with and without it on the same batches, and "
    "measure what changes: the distributions inside the net, the learning rates it survives, and what happens "
    "when the test images come from a shifted domain."))
sess = ui.session()
BATCHES = [2, 4, 16, 64, 256]
LR_GRID = [1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]


@st.cache_resource(show_spinner="Loading data...", max_entries=4)
def get_data(name: str, seed: int) -> bnm.Data:
    return bnm.load_data(name, seed)


@st.cache_resource(show_spinner=False, max_entries=64)
def figure(key: str, _build):
    """A figure built once per ``key`` (which must name everything it shows): building a many-panel plotly
    figure costs ~100 ms, more than a slider move may. Shared, so never mutated."""
    return _build()


@st.cache_data(show_spinner=False, max_entries=16)
def init_snapshot(cfg_items: tuple, name: str, seed: int, data_name: str, _cls, _data, _lr):
    return bnm.init_snapshot(_cls(**dict(cfg_items)), _data, _lr, seed)


@st.cache_data(show_spinner="Evaluating in train and eval mode...", max_entries=16)
def modes(_models, key: str, names: tuple, seed: int, _mdata):
    return {n: bs.mode_accuracy(_models[n], _mdata.x_test, _mdata.y_test, BATCHES, seed=seed) for n in names}


@st.cache_data(show_spinner=False, max_entries=16)
def stats(_m, key: str, layer: str, seed: int, _mdata):
    inputs = bs.bn_inputs(_m, layer, _mdata.x_train)
    return [bs.batch_stats(_m, _mdata.x_train, layer, b, n_batches=64, seed=seed, inputs=inputs) for b in (2, 4, 16, 64)]


@st.cache_data(show_spinner="Measuring accuracy under the shift...", max_entries=64)
def shifted(_models, key: str, names: tuple, kind_: str, sev: float, seed: int, _mdata):
    return {n: bs.shift_report(_models[n], _mdata.x_train, _mdata.x_test, _mdata.y_test, kind_, sev, seed)
            for n in names}


# ---------------------------------------------------------------- sidebar
def sidebar():
    """The data, the network and its variants, and the training knobs: (net, data, configs, hyperparameters)."""
    st.sidebar.header("Data & network")
    dataset = st.sidebar.selectbox("Data", list(bnm.DATA_SIZES), key="bn-data", bind="query-params",
                                   format_func=lambda s: {"digits": "digits (8×8)", "food_shapes": "food shapes (16×16 RGB)"}[s])
    kind = st.sidebar.radio("Layers", ["mlp", "cnn"], horizontal=True, key="bn-kind", bind="query-params",
                            format_func=lambda s: {"mlp": "MLP", "cnn": "CNN (3×3 conv)"}[s])
    layers = st.sidebar.slider("Hidden layers", 2, 8, 4, key="bn-layers", bind="query-params")
    width = st.sidebar.select_slider("Width", [8, 16, 32, 64, 128, 256], value=64 if kind == "mlp" else 16,
                                     key=f"bn-width-{kind}", bind="query-params")
    activation = st.sidebar.selectbox("Activation", ["relu", "sigmoid", "tanh"], key="bn-act", bind="query-params",
                                      help="Ioffe & Szegedy's Fig. 1 uses sigmoid units.")
    variants = st.sidebar.multiselect("Variants side by side", list(bnm.VARIANTS), default=["no norm", "BatchNorm"],
                                      key="bn-variants", bind="query-params", help="BN after activation: Linear → activation → BN instead of "
                                                              "Linear → BN → activation.")
    if not variants:
        st.warning("Pick at least one variant in the sidebar.", icon=":material/checklist:")
        st.stop()
    data = get_data(dataset, sess.seed)
    base = bnm.net_config(data, kind=kind, hidden_layers=layers, width=width, activation=activation)
    configs = bnm.variant_configs(base, variants)
    st.sidebar.header("Training")
    hp = ui.hyperparameters("bn", lr=0.05, steps=600, batch_size=64, optimizer="SGD + momentum", max_steps=5000)
    net = {"dataset": dataset, "kind": kind, "layers": layers, "width": width, "activation": activation}
    return net, data, configs, hp


def training(net: dict, data, configs: dict, hp):
    def start_training():
        every = {"snapshot_every": max(5, hp.steps // 24), "eval_every": max(10, hp.steps // 20)}
        runs = bt.make_runs(configs, data, lr=hp.lr, steps=hp.steps, batch_size=hp.batch_size, optimizer=hp.optimizer,
                             weight_decay=hp.weight_decay, seed=sess.seed, probe_n=128, **every)
        # what a notebook needs to retrain these variants (section 4's snippet)
        recipe = {**net, **every, "variants": list(configs), "lr": hp.lr, "batch_size": hp.batch_size,
                  "optimizer": hp.optimizer, "weight_decay": hp.weight_decay}
        return runs, {"dataset": net["dataset"], "seed": sess.seed, "configs": {n: vars(c) for n, c in configs.items()},
                      "recipe": recipe}

    return ui.training_panel("bn", start_training)


# ---------------------------------------------------------------- 1. side by side
def side_by_side(net: dict, data, configs: dict, hp, run):
    """Percentiles and histograms of one unit per variant; returns (the chosen layer and unit, the snapshots)."""
    layers, width, kind = net["layers"], net["width"], net["kind"]
    layer_names = [f"layer {i + 1}" for i in range(layers)]
    st.header("1 · Side by side: the same net, differing only in its normalisation")
    st.markdown(f"{len(configs)} copies of a {layers}-layer {kind.upper()} ({width} units per layer, {net['activation']}) "
                "start from the same weights and see the same batches. Distributions are measured every few steps on "
                "a fixed probe batch of 128 training images, in train mode (batch statistics, as during training).")
    c1, c2, c3 = st.columns(3)
    layer_i = c1.selectbox("Layer", range(layers), index=layers - 1, format_func=lambda i: layer_names[i], key="bn-layer",
                            bind="query-params")
    unit = c2.number_input("Unit", 0, width - 1, 0, key="bn-unit", bind="query-params", help="For a CNN: a channel (over all positions).")
    what = c3.radio("Histograms of", ["input to the nonlinearity", "layer output"], key="bn-what", horizontal=True, bind="query-params")

    def live(r) -> None:
        if not r.active:
            return
        def build():
            series = {n: bnm.percentile_series(t.snapshots, layer_i, int(unit)) for n, t in r.trainers.items()
                      if t.snapshots}
            return series and bp.percentile_figure(series, f"{layer_names[layer_i]}, unit {unit}: 15th / 50th / 85th "
                                                           "percentile of its input to the nonlinearity")
        fig = ui.live_cached(f"bn-live-pct-{layer_i}-{unit}", tuple(len(t.snapshots) for t in r.trainers.values()),
                             build)                        # a new layer/unit draws at once, then within the 10 % budget
        if fig:
            ui.show(fig, key="bn-live-pct")

    ui.training_monitor("bn", metrics=("loss", "test_acc"), live=live, every=1.0)
    trainers = run.trainers if run is not None else {}
    active = run is not None and run.active
    snaps = {} if active else {n: list(t.snapshots) for n, t in trainers.items() if t.snapshots}
    key = "pre" if what.startswith("input") else "post"
    if active:
        st.info("Training: the percentile plot above is live; the histograms and section 2 appear when the runs end "
                "(**Stop** keeps what was measured so far).", icon=":material/hourglass:")
    elif not snaps:
        st.info("Press **Train** in the sidebar to train the variants side by side (the bar under the button shows "
                "steps/s and the time left). Until then, the histograms show the nets at initialisation.",
                icon=":material/play_arrow:")
        items = {n: tuple(vars(c).items()) for n, c in configs.items()}
        init = {n: init_snapshot(items[n], n, sess.seed, net["dataset"], configs[n].__class__, data, hp.lr)
                for n in configs}
        ui.show(figure(f"init-{items}-{sess.seed}-{key}", lambda: bp.histograms_figure(
            {n: s[key] for n, s in init.items()}, layer_names, f"{what} at initialisation")), key="bn-hist-init")
    else:
        series = {n: bnm.percentile_series(s, layer_i, int(unit)) for n, s in snaps.items()}
        pct_fig = bp.percentile_figure(series, f"{layer_names[layer_i]}, unit {unit}: 15th / 50th / 85th percentile of "
                                               "its input to the nonlinearity (Ioffe & Szegedy, Fig. 1)")
        ui.show(pct_fig, key="bn-pct")
        d1, d2, _ = st.columns([1, 1, 2])
        share.figure_csv_download(pct_fig, f"batchnorm-percentiles-{layer_names[layer_i]}-unit{unit}", "bn-pct", d1)
        order = list(snaps)
        share.gif_download(lambda: bv.histogram_frames(snaps, layer_i, key, {n: bp.color(n, order) for n in order}),
                           f"batchnorm-{key}-{layer_names[layer_i]}-over-training", "bn-hist", d2,
                           label="Histograms over training (GIF)", scale=2, frame_ms=200)
        cols = st.columns(len(series))
        for col, (n, (_steps, pct)) in zip(cols, series.items()):
            col.metric(f"{n}: drift of the median", f"{bv.median_drift(pct):.2f}",
                       help="|median at the last snapshot − median at step 0|, in units of the unit's typical "
                            "15–85 percentile spread (its median over the snapshots).")
        steps_all = sorted(set.intersection(*[{s for s, _ in v} for v in snaps.values()]))
        if steps_all:
            at = st.select_slider("Snapshot (step)", steps_all, value=steps_all[-1], key="bn-snap")
            vals = {n: dict(s)[at][key] for n, s in snaps.items()}
            run_id = "-".join(f"{id(t)}:{t.step}" for t in trainers.values())
            ui.show(figure(f"hist-{run_id}-{at}-{key}",
                           lambda: bp.histograms_figure(vals, layer_names, f"{what} at step {at}")), key="bn-hist")
    return layer_i, int(unit), snaps


# ---------------------------------------------------------------- 2. internal covariate shift, two ways
def covariate_shift_measures(snaps: dict, layer_i: int) -> None:
    layer = f"layer {layer_i + 1}"
    st.header("2 · Internal covariate shift and smoothness, measured")
    st.markdown(
        "Two measures of *internal covariate shift* between snapshots: **(a)** how far each layer's output "
        "distribution moved (1-Wasserstein distance per unit, in units of the layer's standard deviation); "
        "**(b)** Santurkar et al.'s (2018) definition: how much a layer's gradient ‖G − G′‖ changes when the "
        "layers before it take their optimiser step. And their **smoothness** view: along the gradient direction, "
        f"how much the loss varies and how fast the gradient changes (step sizes {', '.join(f'{m:g}' for m in bnm.PATH_MULTIPLES)} × the learning rate).")
    if not snaps:
        st.info("These curves appear when a side-by-side run has ended.", icon=":material/timeline:")
        return
    shift = {n: bnm.series(s, "shift") for n, s in snaps.items()}
    ics = {n: bnm.series(s, "ics_diff") for n, s in snaps.items()}
    c1, c2 = st.columns(2)
    with c1:
        ui.show(bp.lines_figure({n: (st_, v[:, layer_i]) for n, (st_, v) in shift.items() if len(st_)},
                                f"(a) distribution change of {layer}'s output", "W₁ / std"), key="bn-shift")
    with c2:
        ui.show(bp.lines_figure({n: (st_, v[:, layer_i]) for n, (st_, v) in ics.items() if len(st_)},
                                f"(b) ‖G − G′‖ of {layer} (Santurkar et al.)", "‖G − G′‖"), key="bn-ics")
    path = bv.smoothness_paths(snaps)
    c3, c4 = st.columns(2)
    with c3:
        ui.show(bp.lines_figure({n: (x, np.array([d["spread"] for d in ds])) for n, (x, ds) in path.items()},
                                "loss variation along the gradient (max − min)", "Δ loss"), key="bn-spread")
    with c4:
        ui.show(bp.lines_figure({n: (x, np.array([d["beta"] for d in ds])) for n, (x, ds) in path.items()},
                                "effective β-smoothness: max ‖∇L(θ) − ∇L(θ − ηg)‖ / ‖ηg‖", "β"), key="bn-beta")

    share.csv_download("Every snapshot (CSV)", lambda: bv.measure_rows(shift, ics, path, layer_i),
                       f"batchnorm-covariate-shift-{layer}", "bn-measures")

    rows = bv.summary_rows(shift, ics, path, layer_i)
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={k: st.column_config.NumberColumn(format="%.3g") for k in rows[0] if k != "variant"})
    st.caption("Medians over the snapshots of this run (for the selected layer where a layer applies). Santurkar et al. "
               "found that BN does *not* reduce ICS in sense (b) — in their networks it was often larger with BN — "
               "while the loss and its gradient changed more gently along the gradient (smaller Δloss and β). "
               "Compare with what this run measured before drawing a conclusion.")


# ---------------------------------------------------------------- 3. learning-rate tolerance
def lr_tolerance(data, configs: dict, hp) -> None:
    st.header("3 · Learning-rate tolerance")
    c1, c2, c3 = st.columns([2, 1, 1])
    lo, hi = c1.select_slider("Learning rates (log-spaced)", LR_GRID, value=(0.01, 30.0), key="bn-sweep-range", bind="query-params",
                              format_func=lambda v: f"{v:g}")
    sweep_steps = c2.number_input("Steps per run", 20, 1000, 150, step=10, key="bn-sweep-steps", bind="query-params")
    c3.markdown(f"{hp.optimizer}, batch {hp.batch_size}; the variants in the sidebar.")
    lrs = [v for v in LR_GRID if lo <= v <= hi]

    def start_sweep():
        sw = bt.LRSweep(configs, data, lrs, steps=int(sweep_steps), batch_size=hp.batch_size, optimizer=hp.optimizer,
                         seed=sess.seed)
        st.session_state["bn-sweep-obj"] = sw       # the sweep's rows, read by sweep_view (and by the tests)
        return sw.trainer()

    sweep_run = ui.training_panel("bn-sweep", start_sweep, label="Run the sweep", container=st.container())
    sweep_active = sweep_run is not None and sweep_run.active

    @st.fragment(run_every=0.7 if sweep_active else None)
    def sweep_view() -> None:
        sw = st.session_state.get("bn-sweep-obj")
        r = ui.get_run("bn-sweep")
        if sw is None or r is None:
            st.info(f"Each run trains a fresh copy for {sweep_steps} steps. A run **trained** if it did not diverge and "
                    "its final loss (mean of the last 10% of steps) is below half its first loss; a **diverged** run hit "
                    "a non-finite loss, which the Trainer detects and stops.", icon=":material/speed:")
            return
        p = r.trainer.progress()
        st.progress(p.fraction, text=f"{len(sw.rows)}/{len(sw.jobs)} runs" + (" · running" if p.active else f" · {p.status}"))
        rows = list(sw.rows)
        if rows:
            largest = sw.largest_lr()
            sweep_fig = bp.sweep_figure(rows, sw.lrs, largest)
            ui.show(sweep_fig, key="bn-sweep-fig")
            share.figure_csv_download(sweep_fig, "batchnorm-lr-sweep", "bn-sweep")
            cols = st.columns(len(largest))
            for col, (n, v) in zip(cols, largest.items()):
                col.metric(f"{n}: largest lr that trained", f"{v:g}" if v else "none")
            with st.expander("Every run"):
                st.dataframe([{"variant": x.variant, "lr": x.lr, "result": x.status, "first loss": x.first_loss,
                               "final loss": x.final_loss, "steps": x.steps, "message": x.message} for x in rows],
                             hide_index=True, width="stretch")
        if not r.active and p.status != "finished" and r.trainer.message:
            st.info(r.trainer.message)
        if sweep_active and not r.active:      # just ended: stop polling
            st.rerun(scope="app")

    sweep_view()


# ---------------------------------------------------------------- 4. train mode vs eval mode (trained models)
def train_vs_eval(net: dict, run, unit: int):
    """Accuracy in train and eval mode, and BN's batch statistics; returns the models (and their data and cache
    key) that section 5 shifts."""
    st.header("4 · Train mode vs eval mode")
    trainers = run.trainers if run is not None else {}
    have_trained = bool(trainers) and not run.active and all(t.step > 0 for t in trainers.values())
    # Not ui.model_picker: this section compares a *pair* (or set) of models -- the shipped no-norm/BatchNorm
    # pair, or every variant of the user's run -- and the picker chooses one model.
    source = st.radio("Models", ["shipped: digits MLP, BatchNorm vs no norm"] + (["my trained variants"] if have_trained else []),
                      horizontal=True, key="bn-source", index=1 if have_trained else 0, bind="query-params")
    if source.startswith("shipped"):
        models = {"no norm": ui.load_shipped("digits_mlp_plain", "deep_net")[0],
                  "BatchNorm": ui.load_shipped("digits_mlp_bn", "deep_net")[0]}
        mdata, mkey = get_data("digits", 0), "shipped"
    else:
        models = {n: t.model_copy() for n, t in trainers.items()}
        mdata = get_data(run.card.get("dataset", net["dataset"]), run.card.get("seed", sess.seed))   # the run's split
        mkey = "run-" + "-".join(f"{id(t)}:{t.step}" for t in trainers.values())
    bn_models = {n: m for n, m in models.items() if bs.has_bn(m)}
    acc = modes(models, mkey, tuple(models), sess.seed, mdata)
    ui.show(bp.mode_figure(acc), key="bn-modes")
    share.csv_download("Accuracy per mode (CSV)", lambda: [{"model": n, **a} for n, a in acc.items()],
                       f"batchnorm-train-vs-eval-{mkey[:40]}", "bn-modes")
    st.markdown("In **eval mode** BN divides by running averages collected during training; in **train mode** by the "
                "statistics of the batch at hand, so a test image's prediction depends on the images it is batched "
                "with. Every test image is scored once in every column (when the batch size does not divide the "
                f"{len(mdata.x_test):,} test images, the last batch is filled up with images already scored), so a "
                "model without BN gives exactly its eval accuracy in every column.")
    if bn_models:
        c1, c2 = st.columns([1, 3])
        bn_name = c1.selectbox("Model", list(bn_models), key="bn-stat-model", bind="query-params")
        m = bn_models[bn_name]
        lname = c1.selectbox("BN layer", list(bs.bn_layers(m)), key="bn-stat-layer", bind="query-params")
        n_units = len(bs.bn_layers(m)[lname].running_mean)
        u = c1.number_input("Unit", 0, n_units - 1, min(int(unit), n_units - 1), key="bn-stat-unit", bind="query-params")
        st_list = stats(m, f"{mkey}-{bn_name}", lname, sess.seed, mdata)
        with c2:
            stats_fig = figure(f"stats-{mkey}-{bn_name}-{lname}-{u}-{sess.seed}",
                               lambda: bp.batch_stats_figure(st_list, int(u)))
            ui.show(stats_fig, key="bn-batchstats")
            share.figure_csv_download(stats_fig, f"batchnorm-batch-stats-{bn_name}-{lname}-unit{u}", "bn-batchstats")
            st.caption("64 random batches per size; every layer before this one in eval mode. The batch mean scatters "
                       "with std σ/√B; the (biased) batch variance BN divides by averages (B − 1)/B · σ², so small "
                       "batches also normalise by too small a std.")
        a = acc[bn_name]
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Eval mode", f"{a['eval']:.1%}")
        m2.metric("Train mode, batch 2", f"{a['train, batch 2']:.1%}", f"{(a['train, batch 2'] - a['eval']) * 100:+.1f} pts")
        m3.metric("Batch-mean error, B = 2", f"{st_list[0].mean_error():.2f} σ",
                  help="Mean |batch mean − training-set mean| / training-set std, over batches and units of this layer.")
        m4.metric("Batch-mean error, B = 64", f"{st_list[-1].mean_error():.2f} σ",
                  f"ratio {st_list[0].mean_error() / max(st_list[-1].mean_error(), 1e-12):.1f} (√32 ≈ 5.7)",
                  delta_color="off", delta_arrow="off")
        recipe = None if source.startswith("shipped") else \
            {**run.card.get("recipe", {}), "steps": int(trainers[bn_name].step)}
        if recipe is None or "variants" in recipe:
            share.notebook(page="batchnorm", label=f"{bn_name}: train-mode accuracy with batches of 2",
                           shown=f"{a['train, batch 2']:.1%}", key="bn-nb",
                           body=bv.mode_snippet("shipped" if recipe is None else "run", bn_name, sess.seed, run=recipe,
                                                data_seed=0 if recipe is None else run.card["seed"]))
    return models, mdata, mkey


# ---------------------------------------------------------------- 5. covariate shift and AdaBN
@st.fragment
def domain_shift(models: dict, mdata, mkey: str) -> None:
    st.header("5 · Covariate shift between train and test, and AdaBN")
    kinds = [k for k in bs.SHIFTS if not (k == "colour" and mdata.shape[0] == 1)]
    c1, c2 = st.columns(2)
    shift_kind = c1.selectbox("Shift", kinds, key="bn-shift-kind", bind="query-params", help="Colour needs RGB images (food shapes).")
    severity = c2.slider("Severity", 0.0, 1.0, 0.6, 0.05, key="bn-sev", bind="query-params")
    xs = bs.shift_images(mdata.x_test[:8], shift_kind, severity, seed=sess.seed)
    pics = bp.mosaic([mdata.x_test[:8].numpy(), xs.numpy()])
    ui.show(image_figure(pics, height=230), key="bn-shift-imgs")
    st.caption("Top: clean test images. Bottom: the same images shifted.")
    res = shifted(models, mkey, tuple(models), shift_kind, float(severity), sess.seed, mdata)
    d1, d2, _ = st.columns([1, 1, 2])
    share.image_download(lambda: pics.transpose(1, 2, 0), f"batchnorm-{shift_kind}-{severity:g}", "bn-shift-imgs", d1)
    share.csv_download("Accuracies (CSV)", lambda: [{"model": n, "shift": shift_kind, "severity": float(severity),
                                                     "clean": r.clean, "shifted": r.shifted, "after AdaBN": r.adapted}
                                                    for n, r in res.items()],
                       f"batchnorm-{shift_kind}-{severity:g}", "bn-shift", d2)
    cols = st.columns(len(res))
    for col, (n, r) in zip(cols, res.items()):
        col.markdown(f"**{n}**")
        col.metric("clean", f"{r.clean:.1%}")
        col.metric("shifted", f"{r.shifted:.1%}", f"{(r.shifted - r.clean) * 100:+.1f} pts")
        if r.adapted is None:
            col.caption("No BatchNorm: AdaBN does not apply.")
        else:
            col.metric("after AdaBN", f"{r.adapted:.1%}", f"{(r.adapted - r.shifted) * 100:+.1f} pts vs shifted")
            if r.recovered is not None:
                col.caption(f"AdaBN won back **{r.recovered:.0%}** of the drop.")
    st.markdown("**AdaBN** (Li et al., 2016) keeps every weight and re-estimates each BN layer's mean and variance on "
                "*unlabelled* images of the new domain — here the shifted training images, never the test images being "
                "scored.")
    if st.toggle("Accuracy against severity", key="bn-curve", bind="query-params"):
        sevs = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        curves = {n: [shifted(models, mkey, tuple(models), shift_kind, s, sess.seed, mdata)[n] for s in sevs]
                  for n in models}
        curve_fig = bp.shift_curve_figure(curves)
        ui.show(curve_fig, key="bn-shift-curve")
        share.figure_csv_download(curve_fig, f"batchnorm-{shift_kind}-vs-severity", "bn-shift-curve")


net, data, configs, hp = sidebar()
run = training(net, data, configs, hp)
layer_i, unit, snaps = side_by_side(net, data, configs, hp, run)
covariate_shift_measures(snaps, layer_i)
lr_tolerance(data, configs, hp)
models, mdata, mkey = train_vs_eval(net, run, unit)
domain_shift(models, mdata, mkey)

ui.try_this([
    ("Pick **sigmoid** units and train: in the percentile plot, does the no-norm unit's input drift while the BN one "
    "stays put? Then read panel 2 (b): is the gradient shift ‖G − G′‖ really smaller with BN?"),
    "Run the learning-rate sweep: what is the largest learning rate each variant survives? Add *LayerNorm*.",
    "Train with **batch 4**, then compare train and eval mode on your trained variants.",
    "Set the shift to **contrast** at severity 1: which model suffers more, BN or no norm — and after AdaBN?",
    "Try **noise**: does re-estimating the statistics help there? Why might a mean/variance fix not undo noise?",
])
