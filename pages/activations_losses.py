"""Activations and losses: nonlinearities and their derivatives (where they saturate), losses as functions
of the prediction with their gradients, robust line fits, and dead ReLUs after a too-large learning rate."""

from __future__ import annotations

import numpy as np
import share
import streamlit as st

import ui
from dlviz.activations_losses import core as act
from dlviz.activations_losses import plots as plots
from dlviz.activations_losses import views
from dlviz.activations_losses.training import make_trainer
from dlviz.classifier.core import run_trouble

PAGE_INFO = {
    "title": "Activations and losses",
    "icon": ":material/show_chart:",
    "section": "Classifier lab",
    "order": 40,
    "question": "Where does an activation stop passing gradient, and how hard does each loss push a wrong prediction?",
    "thumbnail": "dlviz.activations_losses.plots:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "Backpropagation multiplies, layer by layer, by the activation's **slope** f'(x) and starts from the "
    "loss's **gradient** with respect to the prediction. Where a slope is near zero (a *saturation* region) "
    "or a loss is flat, learning stalls; a ReLU whose input is negative for *every* example is **dead** for "
    "good. Every derivative below comes from autograd, and the tests check each against its closed form."))

@st.cache_data(show_spinner=False, max_entries=256)
def curve(name: str, thr: float, items: tuple) -> act.Curve:
    return act.curve(name, -6, 6, 1201, threshold=thr, **dict(items))


@st.cache_data(show_spinner="Counting active units…", max_entries=8)
def activity(name: str, _model) -> list[act.LayerActivity]:
    from dlviz.data import digits

    return act.relu_activity(_model, digits("train", seed=0).images)


def _interval(c: act.Curve, lo: float, hi: float) -> str:
    if lo <= c.x[0] and hi >= c.x[-1]:
        return "everywhere on [-6, 6]"
    if lo <= c.x[0]:
        return f"x ≤ {hi:.2f}"
    if hi >= c.x[-1]:
        return f"x ≥ {lo:.2f}"
    return f"{lo:.2f} ≤ x ≤ {hi:.2f}"


# ---------------------------------------------------------------- 1. activations
@st.fragment
def activations() -> None:
    st.header("1 · Activation functions and their slopes")
    names = list(act.ACTIVATIONS)
    c1, c2, c3 = st.columns([2, 1, 1])
    chosen = c1.multiselect("Activations", names, default=["sigmoid", "tanh", "ReLU", "GELU"], key="act-chosen",
                            bind="query-params")
    if not chosen:
        st.info("Pick at least one activation.")
        st.stop()
    focus = c2.selectbox("Highlight (saturation shaded)", chosen, key="act-focus", bind="query-params")
    threshold = c3.select_slider("Saturated where |f'(x)| <", [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2], value=0.05,
                                 key="act-thr", bind="query-params", format_func=lambda v: f"{v:g}")
    d1, d2, d3 = st.columns(3)
    spec = act.ACTIVATIONS[focus].params
    params = {focus: {p: d1.slider(f"{focus}: {p}", lo, hi, default, key=f"act-{focus}-{p}",
                                    bind="query-params")
                      for p, (default, lo, hi) in spec.items()}}
    if not spec:
        d1.caption(f"{focus} has no parameter to tune.")
    mean = d2.slider("Pre-activations: mean", -4.0, 4.0, 0.0, 0.1, key="act-mean", bind="query-params",
                     help="Pre-activations z = Wx + b of one layer, modelled as N(mean, std²).")
    std = d3.slider("Pre-activations: std", 0.1, 6.0, 2.0, 0.1, key="act-std", bind="query-params",
                    help="A large std (e.g. weights initialised too large) pushes z into the saturation regions.")


    curves = {n: curve(n, threshold, tuple(sorted(params.get(n, {}).items()))) for n in chosen}
    act_fig = plots.activation_figure(curves, focus=focus, pre_act=(mean, std))
    ui.show(act_fig, key="act-curves")

    fp = params.get(focus, {})
    c = curves[focus]
    sat = act.saturated_fraction(focus, mean, std, threshold, **fp)
    slope = act.mean_gradient(focus, mean, std, **fp)
    m = st.columns(4)
    m[0].metric(f"Saturated pre-activations ({focus})", f"{sat:.1%}",
                help=f"P(|f'(z)| < {threshold:g}) for z ~ N({mean:g}, {std:g}²), by quadrature.")
    m[1].metric("Mean slope E|f'(z)|", f"{slope:.3f}", help="The average factor this layer multiplies gradients by.")
    m[2].metric("…over 10 such layers", f"{slope ** 10:.2e}",
                help="(E|f'|)^10: the shrinkage of the gradient through 10 layers from the activations alone "
                     "(weights ignored; independence assumed).")
    m[3].metric("Steepest slope", f"{np.max(np.abs(c.dy)):.3f}", help="max |f'(x)| on [-6, 6].")
    where = " and ".join(_interval(c, lo, hi) for lo, hi in c.regions) or "nowhere on [-6, 6]"
    st.latex(rf"\text{{{focus}}}:\quad {act.ACTIVATIONS[focus].formula}")
    st.caption(f"{focus} saturates (|f'| < {threshold:g}) on {where}. {act.ACTIVATIONS[focus].paper}")
    e1, e2 = st.columns([1, 3])
    share.figure_csv_download(act_fig, f"activations-{'-'.join(chosen)}", "act-curves", e1)
    with e2:
        share.notebook(page="activations_losses", label=f"saturated pre-activations ({focus})", shown=f"{sat:.1%}",
                       key="act-nb", body=views.saturation_snippet(focus, mean, std, threshold, fp))


# ---------------------------------------------------------------- 2. losses
@st.fragment
def loss_functions() -> None:
    st.header("2 · Loss functions and their gradients")
    TASK_LABELS = {"regression": "Regression", "binary": "Binary classification",
                   "multiclass": "Multi-class classification", "distribution": "Distributions (KL)"}
    task = st.segmented_control("Task", list(TASK_LABELS), format_func=TASK_LABELS.get, default="binary",
                                key="loss-task", bind="query-params") or "binary"
    xlabel, tlabel, (xlo, xhi) = act.TASKS[task]
    available = act.losses_for(task)
    l1, l2 = st.columns([2, 1])
    losses = l1.multiselect("Losses", available, default=available, key=f"loss-chosen-{task}", bind="query-params")
    if task == "regression":
        target = l2.slider(tlabel, -2.0, 2.0, 0.0, 0.1, key="loss-y", bind="query-params")
    elif task == "binary":
        target = float(l2.radio(tlabel, [1, 0], horizontal=True, key="loss-label", bind="query-params"))
    elif task == "distribution":
        target = l2.slider(tlabel, 0.05, 0.95, 0.3, 0.05, key="loss-p", bind="query-params")
    else:
        target = 0.0
        l2.caption("The true class's logit moves along the x-axis; the other classes' logits stay fixed.")
    lparams: dict[str, float] = {}
    used = {p: spec for name in losses for p, spec in act.LOSSES[name].params.items()}
    pcols = st.columns(max(1, len(used) + 1))
    for col, (p, (default, lo, hi)) in zip(pcols, used.items()):
        if p == "classes":
            lparams[p] = col.slider("classes K", int(lo), int(hi), int(default), key="loss-K", bind="query-params")
        elif p == "other":
            lparams[p] = col.slider("logit of each other class", float(lo), float(hi), float(default), key="loss-other",
                                      bind="query-params")
        else:
            lparams[p] = col.slider(p, float(lo), float(hi), float(default), key=f"loss-{p}", bind="query-params")
    point = pcols[-1].slider(f"Inspect at {xlabel.split(' (')[0]}", float(xlo), float(xhi),
                             float({"regression": 2.5, "binary": -3.0, "multiclass": -2.0, "distribution": 0.9}[task]),
                             0.01 if task == "distribution" else 0.1, key=f"loss-point-{task}", bind="query-params")

    if not losses:
        st.info("Pick at least one loss.")
    else:
        x = np.linspace(xlo, xhi, 801)
        curves_l = {}
        for name in losses:
            kw = {k: v for k, v in lparams.items() if k in act.LOSSES[name].params}
            curves_l[name] = act.loss_curve(name, x, target, **kw)
        caps = {"regression": (8, 5), "binary": (6, 3), "multiclass": (8, 1.5), "distribution": (4, 12)}
        loss_fig = plots.loss_figure(x, curves_l, xlabel, point=point, target=target if task == "regression" else None,
                                     ylim=caps[task][0], glim=caps[task][1])
        ui.show(loss_fig, key=f"loss-fig-{task}")
        share.figure_csv_download(loss_fig, f"losses-{task}", f"loss-fig-{task}")
        cols = st.columns(min(len(losses), 5))
        for i, name in enumerate(losses):
            kw = {k: v for k, v in lparams.items() if k in act.LOSSES[name].params}
            lv, gv = act.loss_curve(name, np.array([point]), target, **kw)
            cols[i % len(cols)].metric(name, f"{lv[0]:.3f}", f"gradient {gv[0]:+.3f}", delta_color="off", delta_arrow="off",
                                       help=f"At {point:g}: loss and ∂loss/∂prediction (autograd).")
        with st.expander("Formulas"):
            for name in losses:
                st.latex(rf"\text{{{name}}}:\quad {act.LOSSES[name].formula}")


# ---------------------------------------------------------------- 2b. outliers
@st.fragment
def robust_fits() -> None:
    st.subheader("Outliers: what each regression loss fits")
    o1, o2, o3 = st.columns(3)
    n_out = o1.slider("Outliers", 0, 12, 4, key="fit-out", bind="query-params", help="Points pushed 6-10 units above the line y = 2x + 1.")
    delta = o2.slider("Huber δ", 0.1, 5.0, 1.0, 0.1, key="fit-delta", bind="query-params")
    seed = o3.number_input("Data seed", 0, 9999, 0, key="fit-seed", bind="query-params")
    xs, ys = act.line_data(n=40, outliers=n_out, seed=int(seed))
    fits = {name: act.fit_line(xs, ys, name, delta=delta) for name in ("MSE", "MAE", "Huber", "log-cosh")}
    ui.show(plots.line_fit_figure(xs, ys, fits, (2.0, 1.0)), key="fit-fig")
    f1, f2, _ = st.columns(3)
    share.csv_download("Data (CSV)", lambda: {"x": list(xs), "y": list(ys)}, f"line-fit-data-{n_out}-outliers", "fit-data",
                       f1)
    share.csv_download("Fitted lines (CSV)", lambda: [{"loss": k, "slope": a, "intercept": b} for k, (a, b) in fits.items()],
                       f"line-fits-{n_out}-outliers", "fit-lines", f2)
    fc = st.columns(4)
    for col, (name, (slope, b)) in zip(fc, fits.items()):
        col.metric(f"{name}: intercept", f"{b:.2f}", f"{b - 1:+.2f} off the true 1; slope {slope:.2f}",
                   delta_color="off", delta_arrow="off")


# ---------------------------------------------------------------- 3. dead ReLUs
def dead_relus_shipped() -> None:
    st.header("3 · Dead ReLUs after a too-large learning rate")
    st.markdown(
        "The same ReLU MLP (64 → 64 → 64 → 64 → 10) trained on the digits with Adam at **lr = 0.001** and at "
        "**lr = 0.1**. A unit is *dead* when its ReLU input is ≤ 0 for every training image: its slope is 0 "
        "everywhere, so its incoming weights never get a gradient again. (First-layer units stay dead for good; "
        "deeper ones could only be revived by changes upstream.)")


    shipped = {}
    for ck, label in (("mlp_relu_lr_ok", "lr 0.001 (shipped)"), ("mlp_relu_lr_high", "lr 0.1 (shipped)")):
        model, card = ui.load_shipped(ck, expected_arch="act_mlp")
        shipped[label] = (activity(ck, model), card)
    mcols = st.columns(len(shipped) * 2)
    for i, (label, (acts, card)) in enumerate(shipped.items()):
        dead = sum(a.dead for a in acts)
        units = sum(a.units for a in acts)
        mcols[2 * i].metric(f"Dead units, {label}", f"{dead}/{units}", f"{dead / units:.0%}", delta_color="off", delta_arrow="off")
        mcols[2 * i + 1].metric(f"Test accuracy, {label}", f"{card['metrics']['test_acc']:.1%}")
    acts_by = {label: a for label, (a, _) in shipped.items()}
    g1, g2 = st.columns([1, 1])
    with g1:
        ui.show(plots.dead_units_figure(acts_by), key="dead-bars")
    with g2:
        ui.show(plots.activity_figure(acts_by, height_per_model=120), key="dead-activity")
    share.csv_download("Every unit's activity (CSV)", lambda: views.activity_rows(acts_by), "dead-relus-shipped",
                       "dead-shipped")


# ---------------------------------------------------------------- 4. the experiment, live
@st.cache_data(show_spinner=False)
def n_train_digits() -> int:
    from dlviz.data import digits

    return len(digits("train", seed=0))


def dead_relu_experiment() -> None:
    st.sidebar.header("Dead-ReLU experiment")
    act_name = st.sidebar.selectbox("Activation", ["relu", "leaky_relu", "elu", "gelu"], key="dead-act", bind="query-params",
                                    help="Leaky ReLU keeps a small slope for x < 0, so its units cannot die.")
    baseline = st.sidebar.toggle("Also train lr 0.001 side by side", True, key="dead-baseline", bind="query-params")
    hp = ui.hyperparameters("dead", lr=0.1, steps=600, batch_size=64, optimizer="Adam", max_steps=5000)
    st.sidebar.caption("This MLP is tiny: with **1 torch thread** (Session) it trains fastest, especially on a busy "
                       "machine.")


    def start():
        seed = ui.session().seed
        kw = {"optimizer": hp.optimizer, "activation": act_name, "steps": hp.steps, "batch_size": hp.batch_size,
              "seed": seed, "device": ui.session().device}
        runs = {}
        if baseline and hp.lr != 1e-3:      # first: the shared monitor colours runs in order, lr 0.001 blue as above
            runs[f"{act_name} lr 0.001"] = make_trainer(1e-3, name="baseline", **kw)
        runs[f"{act_name} lr {hp.lr:g}"] = make_trainer(hp.lr, name="mine", **kw)
        return runs


    run = ui.training_panel("dead", start)


    def live(r) -> None:
        snaps = {name: list(t.snapshots) for name, t in r.trainers.items()}
        traj = plots.dead_trajectory_figure(snaps)
        ui.show(traj, key="dead-live")
        if not r.active:
            share.figure_csv_download(traj, "dead-relus-during-training", "dead-live")


    colors = {name: plots.lr_color(name) for name in (run.trainers if run is not None else {})}
    ui.training_monitor("dead", metrics=("loss", "val_acc", "dead"), live=live, colors=colors)
    if run is not None and run.trainer.step > 0 and not run.active:
        from dlviz.data import digits

        x_train = digits("train", seed=0).images
        trained = {name: act.relu_activity(t.model_copy(), x_train) for name, t in run.trainers.items()}
        st.subheader("Your trained models")
        for name, t in run.trainers.items():
            trouble = run_trouble(t.history(), 0.1)          # 10 digit classes
            if trouble:
                st.warning(f"**{name}**: {trouble}.", icon=":material/trending_up:")
        y1, y2 = st.columns(2)
        with y1:
            ui.show(plots.dead_units_figure(trained), key="dead-mine")
        with y2:
            ui.show(plots.activity_figure(trained, height_per_model=120), key="dead-mine-activity")
        share.csv_download("Every unit's activity (CSV)", lambda: views.activity_rows(trained), "dead-relus-mine",
                           "dead-mine")
    elif run is None:
        st.caption("Press **Train** in the sidebar to run the experiment yourself: the dead fraction of each layer is "
                   f"measured on all {n_train_digits():,} training digits every 10 steps.")


def try_this() -> None:
    ui.try_this([
        ("Highlight **sigmoid** and raise the pre-activation std to 4: what fraction of units is saturated, and what "
         "does that do to the gradient after 10 layers?"),
        "Compare the slopes of **sigmoid** (max 0.25) and **tanh** (max 1) at x = 0: why did tanh train deep nets better?",
        ("Binary classification at z = −5 for label 1: compare the gradient of **cross-entropy** with **MSE on sigmoid**. "
         "Which one learns from a confident mistake?"),
        "Raise the **focal** γ to 5: what happens to the loss of examples that are already right (z > 2)?",
        "Add 10 outliers: which fitted intercept moves most, MSE's or MAE's? Then shrink Huber's δ.",
        "Train with lr 0.1 and **leaky_relu**: does any unit die? Then try plain SGD with lr 1.0 and ReLU.",
    ])


activations()
loss_functions()
robust_fits()
dead_relus_shipped()
dead_relu_experiment()
try_this()
