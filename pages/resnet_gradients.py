"""Residual connections & gradient flow: plain vs residual nets at init, the degradation problem in
training, where the gradient goes (layer x step), and loss-landscape slices."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import share
import streamlit as st
import torch
import ui

from dlviz.resnet_gradients import core as gf
from dlviz.resnet_gradients import loss_landscape as ll
from dlviz.batchnorm.core import load_data
from dlviz.models.deep_nets import DeepNet
from dlviz.resnet_gradients import plots as gp
from dlviz.resnet_gradients import views as gv
from dlviz.resnet_gradients.training import make_trainers

PAGE_INFO = {
    "title": "Residual connections & gradient flow",
    "icon": ":material/alt_route:",
    "section": "Training deep nets",
    "order": 20,
    "question": "Why do deep plain nets train worse than shallow ones, and what do skip connections change?",
    "thumbnail": "dlviz.resnet_gradients.views:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "A **residual block** computes `relu(x + F(x))`; its **plain** twin computes `relu(F(x))` with the very same "
    "layers (He et al., 2016). Stack many of them and measure where the gradient goes: at initialisation, "
    "during training, and in the shape of the loss around the trained weights."))
sess = ui.session()


@st.cache_data(show_spinner=False, max_entries=4)
def data_arrays(name: str, seed: int):
    d = load_data(name, seed)
    return d.x_train, d.y_train, d.mean, d.std, d.shape


@st.cache_data(show_spinner="Measuring gradients at initialisation...", max_entries=32)
def profiles(cfg: dict, depth: int, seed: int, n: int, data_key: tuple, _x, _y):
    c = DeepNet.Config(**{**cfg, "depth": depth})
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(_x), generator=g)[:n]
    return [gf.init_profile(v, (_x[idx], _y[idx]), seed=seed, name=k) for k, v in gf.plain_and_residual(c).items()]


def fmt(r: float) -> str:
    return f"{r:.2g}" if math.isfinite(r) else "0/0"


def verdict(r: float) -> str:
    d = gf.diagnose(r)
    return {"vanishing": "vanishing", "exploding": "exploding", "healthy": f"within {gf.HEALTHY:g}×",
            "dead": "no gradient (0/0)"}[d]


def network():
    """Sidebar: the network every section measures; returns its config and the training data."""
    st.sidebar.header("Network")
    dataset = st.sidebar.selectbox("Data", ["digits", "food_shapes"], key="rg-data", bind="query-params",
                                   format_func=lambda s: {"digits": "digits (8×8)", "food_shapes": "food shapes (16×16 RGB)"}[s])
    kind = st.sidebar.radio("Layers", ["mlp", "cnn"], horizontal=True, key="rg-kind", bind="query-params",
                            format_func=lambda s: {"mlp": "MLP", "cnn": "CNN (3×3 conv)"}[s])
    width = st.sidebar.select_slider("Width", [8, 16, 32, 64, 128], value=64 if kind == "mlp" else 16, key=f"rg-width-{kind}",
                                    bind="query-params")
    norm = st.sidebar.selectbox("Normalisation", ["none", "batch", "layer", "group"], key="rg-norm", bind="query-params",
                                format_func=lambda s: {"none": "none", "batch": "BatchNorm", "layer": "LayerNorm",
                                                       "group": "GroupNorm"}[s])
    init = st.sidebar.selectbox("Initialisation", ["default", "kaiming", "kaiming + zero last", "xavier"], key="rg-init", bind="query-params",
                                help="default: PyTorch's (weight variance 1/(3·fan_in)); Kaiming: 2/fan_in (He et al., 2015); "
                                     "zero last: the last BN scale of each block (or, without BN, its last layer) starts "
                                     "at 0, so each residual block starts as the identity (Goyal et al., 2017).")
    activation = st.sidebar.selectbox("Activation", ["relu", "tanh", "gelu"], key="rg-act", bind="query-params")


    xtr, ytr, mean, std, shape = data_arrays(dataset, sess.seed)
    base = DeepNet.Config(kind=kind, in_channels=shape[0], image_size=shape[1], width=width, norm=norm,
                          init="kaiming" if init.startswith("kaiming") else init, zero_init_last=init.endswith("zero last"),
                          activation=activation, input_mean=mean, input_std=std)
    return base, (dataset, sess.seed), xtr, ytr


@st.fragment
def at_initialisation(base: DeepNet.Config, data_key: tuple, xtr: torch.Tensor, ytr: torch.Tensor) -> None:
    """1 · Where the gradient goes at initialisation, plain vs residual."""
    st.header("1 · At initialisation: where does the gradient go?")
    depth = st.slider("Depth (blocks of 2 layers)", 2, 60, 20, key="rg-depth", bind="query-params",
                      help="The net has a stem layer, this many blocks of two layers, and a linear head.")
    n_probe = 128 if base.kind == "mlp" else 32
    plain, res = profiles(asdict(base), depth, sess.seed, n_probe, data_key, xtr, ytr)
    prof_fig = gp.init_profile_figure([plain, res])
    ui.show(prof_fig, key="rg-init-profile")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Plain: first/last ‖∂L/∂W‖", f"{plain.ratio:.2g}", verdict(plain.ratio), delta_color="off", delta_arrow="off",
              help="Gradient norm of the stem's weights divided by that of the head's, on one batch in train mode.")
    c2.metric("Residual: first/last ‖∂L/∂W‖", f"{res.ratio:.2g}", verdict(res.ratio), delta_color="off", delta_arrow="off")
    c3.metric("Plain: variance after last block", f"{plain.act_var[-1]:.2g}")
    c4.metric("Residual: variance after last block", f"{res.act_var[-1]:.2g}")
    d1, d2 = st.columns([1, 3])
    share.figure_csv_download(prof_fig, f"resnet-init-depth{depth}", "rg-init-profile", d1)
    with d2:
        share.notebook(page="resnet_gradients", label=f"plain net, depth {depth}: first/last ‖∂L/∂W‖",
                       shown=f"{plain.ratio:.2g}", key="rg-nb",
                       body=gv.init_snippet(asdict(base), depth, sess.seed, n_probe, data_key[0]))

    lines = []
    for p in (plain, res):
        d = gf.diagnose(p.ratio)
        lines.append(f"In the **{p.name}** net ({2 * depth + 2} weight layers) the first layer's gradient is "
                     f"**{p.ratio:.2g}×** the head's: " + {
                         "vanishing": "the gradient **vanishes** on its way to the input.",
                         "exploding": "the gradient **grows** on its way to the input.",
                         "healthy": f"within a factor {gf.HEALTHY:g} — no vanishing or exploding by this measure.",
                         "dead": "no gradient reaches either layer."}[d])
    st.markdown("  \n".join(lines))
    if max(res.act_var[-1], plain.act_var[-1]) > 1e4:
        st.markdown(f"The forward signal is another matter: the variance after the last block is "
                    f"{plain.act_var[-1]:.2g} (plain) and {res.act_var[-1]:.2g} (residual). A first/last ratio near 1 "
                    "only says that the layers' gradients are alike, not that they are of a useful size.")
    with st.expander("Why: what the initialisation does per layer"):
        st.markdown(
            "For a ReLU layer with weights of variance σ²/fan_in, the variance of the back-propagated signal is "
            "multiplied by about σ²/2 per layer (He et al., 2015, for equal fan-in and fan-out). PyTorch's default "
            "init has σ² = 1/3, so about ×1/6 per layer: with no normalisation a plain net's gradient shrinks "
            "geometrically with depth. Kaiming init (σ² = 2) keeps it near ×1. A skip connection adds an identity "
            "path: the Jacobian of x + F(x) is I + ∂F/∂x (then the ReLU after the addition), so the gradient reaches "
            "early blocks without passing through every layer's weights — but without normalisation the residual stream's variance grows with each block "
            "(look at the right panel with Kaiming init). With BatchNorm, deep *plain* nets at initialisation can "
            "have gradients that *grow* toward the input (Yang et al., 2019); measure it with the selector.")
    if st.toggle("Show the ratio at every depth", key="rg-sweep", bind="query-params"):
        depths = [2, 5, 10, 20, 30, 40, 50, 60]
        rows = {"plain": [], "residual": []}
        for d in depths:
            for p in profiles(asdict(base), d, sess.seed, n_probe, data_key, xtr, ytr):
                rows[p.name].append(p.ratio)
        sweep_fig = gp.ratio_figure({k: (np.array(depths), np.array(v)) for k, v in rows.items()}, gf.HEALTHY)
        ui.show(sweep_fig.update_layout(xaxis_title="depth (blocks)"), key="rg-depth-sweep")
        share.figure_csv_download(sweep_fig, "resnet-ratio-vs-depth", "rg-depth-sweep")

def train_nets(base: DeepNet.Config, data_key: tuple, xtr: torch.Tensor, ytr: torch.Tensor):
    """2 · Sidebar: train shallow and deep, plain and residual nets side by side; returns the run once it has ended."""
    st.header("2 · Training: shallow vs deep, plain vs residual")
    st.sidebar.header("Training")
    cs1, cs2 = st.sidebar.columns(2)
    shallow = cs1.number_input("Shallow (blocks)", 1, 20, 2, key="rg-shallow", bind="query-params")
    deep = cs2.number_input("Deep (blocks)", 2, 40, 10, key="rg-deep", bind="query-params")
    hp = ui.hyperparameters("rg", lr=0.1, steps=600, batch_size=64, optimizer="SGD + momentum", max_steps=5000)
    st.markdown(f"Four nets — plain and residual, {shallow} and {deep} blocks — train on the same batches from the same "
                "seed with the optimiser settings in the sidebar. He et al. (2016) call it **degradation** when the "
                "deeper plain net reaches a *higher training loss* than the shallower one. That is not overfitting: "
                "an overfitting net has a *lower* training loss and a higher test loss.")


    def start_training():
        if deep <= shallow:
            raise ValueError("the deep net needs more blocks than the shallow one")
        depths = (int(shallow), int(deep))
        nets = make_trainers(gf.degradation_nets(base, depths), xtr, ytr, lr=hp.lr, steps=hp.steps,
                             batch_size=hp.batch_size, optimizer=hp.optimizer, weight_decay=hp.weight_decay,
                             seed=sess.seed, eval_every=max(10, hp.steps // 30), record_every=max(1, hp.steps // 120))
        # the card says what the four nets are; their gradient recorders travel with it (read by the sections below)
        card = {"dataset": data_key[0], "seed": sess.seed, "depths": depths,
                "configs": {k: asdict(n.config) for k, n in nets.items()}, "recorders": {k: n.recorder for k, n in nets.items()}}
        return {k: n.trainer for k, n in nets.items()}, card

    run = ui.training_panel("rg", start_training)


    def live(r) -> None:
        if not r.active:
            return
        fig = ui.live_cached("rg-live-curves", tuple(t.step for t in r.trainers.values()), lambda: gp.curves_figure(
            {k: t.history() for k, t in r.trainers.items()}, max_points=200))      # rebuilt within the 10 % budget
        ui.show(fig, key="rg-live-curves")
        st.caption("The gradient heatmap, the verdicts and the loss landscape appear when the four runs have ended.")

    # poll once a second: drawing competes with the four training threads for the GIL
    ui.training_monitor("rg", metrics=("train_acc",), live=live, every=1.0)
    if run is None or "recorders" not in run.card:
        st.info("Press **Train** in the sidebar to train the four nets (the bar under the button shows steps/s and "
                "the time left).",
                icon=":material/play_arrow:")
        return None
    return None if run.active else run


def degradation(run) -> None:
    """2 · The verdict on the ended run: final training losses, gradient ratios, where the gradient went."""
    trainers, recorders = run.trainers, run.card["recorders"]
    finals = {k: gf.final_train_loss(t) for k, t in trainers.items()}
    verdicts = gf.degradation_verdict(finals)
    cols = st.columns(len(finals))
    for col, (k, v) in zip(cols, finals.items()):
        st_ = trainers[k].status
        col.metric(f"{k}: final training loss", "diverged" if st_ == "diverged" else f"{v:.3g}",
                   help="Mean minibatch loss over the last 10% of the steps run.")
    ratios = {k: gf.ratio_series(rec.table()) for k, rec in recorders.items()}
    def late(r: np.ndarray) -> float:
        tail = r[-max(1, len(r) // 5):]
        tail = tail[np.isfinite(tail)]
        return float(np.median(tail)) if len(tail) else math.nan

    end_ratio = {k: late(r) for k, (_, r) in ratios.items()}
    d_lo, d_hi = run.card["depths"]
    ps_, pd_, rs_, rd_ = f"plain-{d_lo}", f"plain-{d_hi}", f"residual-{d_lo}", f"residual-{d_hi}"
    text = [(f"**Plain:** {verdicts['plain']} ({finals[ps_]:.3g} → {finals[pd_]:.3g} from {d_lo} to {d_hi} blocks). "
            f"**Residual:** {verdicts['residual']} ({finals[rs_]:.3g} → {finals[rd_]:.3g}).")]
    if verdicts["plain"] == "deeper is worse":
        r0 = ratios[pd_][1][0] if len(ratios[pd_][1]) else math.nan
        causes = {gf.diagnose(r0), gf.diagnose(end_ratio[pd_])}
        said = (f"The deep plain net's first-layer/head gradient ratio was {fmt(r0)} at step 1 ({verdict(r0)}) "
                f"and {fmt(end_ratio[pd_])} over the last fifth of training ({verdict(end_ratio[pd_])}).")
        if causes == {"healthy"}:
            text.append(said + " Its higher training loss is not explained by vanishing or exploding gradients "
                        "here: an optimisation difficulty, as He et al. argue for their BatchNorm nets.")
        elif "vanishing" in causes or "dead" in causes:
            text.append(said + " Little or no gradient reached its first layers: vanishing gradients explain "
                        "the higher loss here.")
        else:
            text.append(said + " Its gradients were badly scaled across layers at some point; this run cannot "
                        "separate that from an optimisation difficulty.")
    if verdicts["plain"] != "not measured" and (verdicts["plain"] != "deeper is worse" or
                                                verdicts["residual"] == "deeper is worse"):
        text.append("This run does not show the textbook picture; it is what these settings measure. Try more "
                    "steps, another learning rate, or a larger depth gap.")
    st.markdown(" ".join(text))
    st.caption(f"'Worse'/'better' means a difference of more than max(25% of the larger loss, 0.05 nats); "
               f"gradient ratios outside [1/{gf.HEALTHY:g}, {gf.HEALTHY:g}] are called vanishing / exploding.")
    curves = gp.curves_figure({k: t.history() for k, t in trainers.items()})
    ui.show(curves, key="rg-curves")
    curves_eval = gp.curves_figure({k: t.history() for k, t in trainers.items()}, metric="train_loss")
    ui.show(curves_eval, key="rg-curves-eval")
    d1, d2, d3 = st.columns(3)
    share.figure_csv_download(curves, "resnet-minibatch-loss", "rg-curves", d1, label="Minibatch loss (CSV)")
    share.figure_csv_download(curves_eval, "resnet-training-set-loss", "rg-curves-eval", d2,
                              label="Training-set loss (CSV)")
    share.csv_download("Final losses (CSV)", lambda: [{"net": k, "status": trainers[k].status, "final training loss": v,
                                                      "late first/head gradient ratio": end_ratio[k]}
                                                     for k, v in finals.items()], "resnet-final-losses", "rg-finals", d3)

    st.subheader("Where the gradient goes, step by step")
    st.caption("‖∂L/∂W‖ of every layer at every recorded training step, just before the optimiser's update. "
               "Blank: exactly zero gradient (e.g. every ReLU in a layer dead).")
    heat = gp.grad_heatmaps_figure({k: (*rec.table(), rec.layers) for k, rec in recorders.items()})
    ui.show(heat, key="rg-heatmap")
    ratio_fig = gp.ratio_figure(ratios, gf.HEALTHY)
    ui.show(ratio_fig, key="rg-ratio")
    d1, d2, _ = st.columns([1, 1, 1])
    share.csv_download("Gradient norms (CSV)", lambda: gv.grad_rows(recorders), "resnet-grad-norms", "rg-heatmap", d1)
    share.figure_csv_download(ratio_fig, "resnet-ratio-over-training", "rg-ratio", d2)


def loss_landscape(run, xtr: torch.Tensor, ytr: torch.Tensor) -> None:
    """3 · Loss-landscape slices around the trained weights (Li et al., 2018)."""
    st.header("3 · The loss landscape around the trained weights")
    st.markdown("Li et al. (2018): slice the training loss along random directions in which every filter (a row "
                "of a linear layer) is rescaled to the norm of the trained filter, so that nets of different "
                "depth are comparable. Evaluated in eval mode on 512 training images.")
    d_lo, d_hi = run.card["depths"]
    which = st.multiselect("Nets", list(run.trainers), default=[f"plain-{d_hi}", f"residual-{d_hi}"], key="rg-ls-nets",
                           bind="query-params")
    span = st.slider("Range of α, β", 0.2, 2.0, 1.0, 0.1, key="rg-ls-span", bind="query-params")
    if st.button("Compute slices", key="rg-ls-go", icon=":material/landscape:") and which:
        xb, yb = xtr[:512], ytr[:512]
        a = np.linspace(-span, span, 41)
        g2 = np.linspace(-span, span, 17)
        out1, out2 = {}, {}
        with st.spinner("Evaluating the loss on the grid..."):
            for k in which:
                m = run.trainers[k].model_copy()
                d1 = ll.filter_normalized_direction(m, seed=sess.seed)
                d2 = ll.filter_normalized_direction(m, seed=sess.seed + 1)
                out1[k] = ll.slice_1d(m, (xb, yb), d1, a)
                out2[k] = ll.slice_2d(m, (xb, yb), d1, d2, g2, g2)
        st.session_state["rg-landscape"] = (run.id, a, g2, out1, out2, span)
    ls = st.session_state.get("rg-landscape")
    if ls and ls[0] == run.id:       # slices of this run's nets only
        _, a, g2, out1, out2, span = ls
        slice1 = gp.slice_1d_figure(a, out1, depths=[d_lo, d_hi])
        ui.show(slice1, key="rg-slice1")
        slice2 = gp.slice_2d_figure(g2, g2, out2)
        ui.show(slice2, key="rg-slice2")
        d1, d2, _ = st.columns(3)
        share.figure_csv_download(slice1, "resnet-slice-1d", "rg-slice1", d1, label="1-D slices (CSV)")
        share.figure_csv_download(slice2, "resnet-slice-2d", "rg-slice2", d2, label="2-D slices (CSV)")
        cols = st.columns(len(out1))
        flat = []
        for col, (k, v) in zip(cols, out1.items()):
            col.metric(f"{k}: loss at the trained weights", f"{v[len(v) // 2]:.3g}")
            shape, value = ll.surface_shape(out2[k])
            if shape == "flat":
                flat.append(k)
                col.metric(f"{k}: shape of the 2-D slice", "flat", f"loss range {value:.1e}", delta_color="off",
                           delta_arrow="off", help=f"The loss varies by less than {ll.FLAT_RTOL:g} × the loss over the "
                           "whole grid: its curvature is rounding noise, so no non-convex share is computed.")
            else:
                col.metric(f"{k}: non-convex share of the 2-D slice", f"{value:.0%}",
                           help="Share of the grid's interior points where the loss curves downward along α or β "
                                "(a negative second difference beyond float32 rounding). 0% for a convex surface. "
                                "A convex slice does not prove a convex landscape.")
        text = ("Li et al. (2018) report that skip connections keep the landscape of deep nets smooth and near-convex "
                "around the minimum while deep plain nets become chaotic; these slices are of your nets, at this depth, "
                "on 512 images — read them against that claim, not as a proof of it.")
        if flat:
            text += (f" {', '.join(flat)}: **flat** — the loss hardly changes anywhere on the grid (a net whose output "
                     "does not depend on these weights, e.g. every ReLU dead), which is neither the smooth bowl nor "
                     "the chaos of that claim.")
        st.caption(text)


def try_this() -> None:
    ui.try_this([
        ("At depth 20 with no normalisation and the default init, compare the two ratios; then pick **Kaiming**: "
        "the plain net's ratio comes back within 100×, but look at the residual net's activation variance."),
        "Switch to **BatchNorm** and depth 50: does the plain net's gradient vanish — or grow toward the input?",
        ("With BatchNorm, train 2 vs 10 blocks: is the deeper plain net worse on the *training* loss? Read its "
        "gradient ratio in the heatmap before you blame vanishing gradients."),
        "Choose **Kaiming + zero last** and a residual depth of 40: every block starts as the identity.",
        "Raise the learning rate to 1 with no normalisation: which nets diverge, and which silently stop learning?",
    ])


base, data_key, xtr, ytr = network()
at_initialisation(base, data_key, xtr, ytr)
run = train_nets(base, data_key, xtr, ytr)
if run is not None:
    degradation(run)
    loss_landscape(run, xtr, ytr)
try_this()
