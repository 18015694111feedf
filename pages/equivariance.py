"""Equivariance & invariance: which layers of which network commute with shifts, rotations and flips --
measured layer by layer, at the output, and with Zhang's consistency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import share
import torch
import ui

from dlviz.convolutions.plots import accuracy_figure
from dlviz.convolutions.views import run_verdict
from dlviz.equivariance import core as eq
from dlviz.equivariance import plots as plots
from dlviz.equivariance import views as views
from dlviz.plotting import image_figure
from dlviz.equivariance.training import CANVAS, VARIANTS, make_trainer

PAGE_INFO = {
    "title": "Equivariance & invariance",
    "icon": ":material/sync_alt:",
    "section": "CNNs",
    "order": 30,
    "question": "Is my CNN shift-invariant, and which layers keep the symmetry?",
    "thumbnail": "dlviz.equivariance.views:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "A layer $f$ is **equivariant** to a transformation $T$ when transforming the input transforms the output "
    "the same way, $f(Tx) = T'f(x)$, and **invariant** when $T'$ does nothing. Convolutions are shift-equivariant "
    "-- but padding, strides and pooling quietly break it. The number below, "
    "$\\|f(Tx) - T'f(x)\\| / \\|f(x)\\|$, is 0 exactly when the symmetry holds."))
sess = ui.session()
LABELS = {v.label: name for name, v in VARIANTS.items()}
DEFAULT = ["equi_cnn_circular", "equi_cnn_maxpool", "equi_cnn_blurpool", "equi_mlp"]
ROTATIONS = [eq.Transform("rotate", angle=a) for a in (0, 90, 180, 270)]


@st.cache_data(max_entries=2)
def test_digits():
    d = eq.digits_canvas("test", CANVAS)
    return d.images, d.labels


@st.cache_data(max_entries=2)
def food_gray(n: int = 60):
    from dlviz.data import food_shapes

    f = food_shapes(n, seed=7, size=CANVAS)
    return (f.images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True), f.class_names


@st.cache_data(max_entries=256, show_spinner=False)
def cached_errors(ckpt: str, x_np: np.ndarray, t_key: tuple) -> list:
    return eq.equivariance_error(ui.load_shipped(ckpt)[0], torch.from_numpy(x_np), eq.Transform(*t_key))


@st.cache_data(max_entries=256, show_spinner=False)
def cached_sweep(ckpt: str, x_np: np.ndarray, kind: str, fill: str, direction: tuple) -> np.ndarray:
    values = list(range(-8, 9)) if kind == "shift" else list(range(0, 361, 10))
    return eq.output_sweep(ui.load_shipped(ckpt)[0], torch.from_numpy(x_np), kind, values, fill, direction)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_grid(ckpt: str, x_np: np.ndarray, fill: str) -> np.ndarray:
    return eq.shift_grid(ui.load_shipped(ckpt)[0], torch.from_numpy(x_np), 6, fill)


@st.cache_data(show_spinner="Shifting every test digit twice...", max_entries=64)
def shipped_consistency(name: str, max_shift: int, fill: str, seed: int) -> float:
    return eq.consistency(ui.load_shipped(name)[0], test_digits()[0], max_shift, fill, seed)


@st.cache_data(show_spinner="Rotating every test digit...", max_entries=32)
def shipped_rotation_acc(name: str) -> np.ndarray:
    xs_, ys_ = test_digits()
    return eq.accuracy_under(ui.load_shipped(name)[0], xs_, ys_, ROTATIONS)


def errors_of(name: str, m, shipped_name: dict, x: torch.Tensor, T: eq.Transform) -> list:
    """Section 2's per-layer errors; a shipped model's are cached by its checkpoint name."""
    if name not in shipped_name:
        return eq.equivariance_error(m, x, T)
    return cached_errors(shipped_name[name], x.numpy(), (T.kind, T.dy, T.dx, T.fill, T.quarter, T.angle, T.horizontal))


def sweep_of(name: str, m, shipped_name: dict, x: torch.Tensor, kind: str, fill: str,
             direction: tuple = (0, 1)) -> np.ndarray:
    if name in shipped_name:
        return cached_sweep(shipped_name[name], x.numpy(), kind, fill, direction)
    values = list(range(-8, 9)) if kind == "shift" else list(range(0, 361, 10))
    return eq.output_sweep(m, x, kind, values, fill, direction)


# ---------------------------------------------------------------- sidebar: input and models
def choose_input():
    """The image every section transforms: ``(x (1, H, W), its label or None, its name)``."""
    st.sidebar.header("Input")
    source = st.sidebar.radio("Image", ["digit", "food shape", "photo"], horizontal=True, key="eq-src", bind="query-params",
                              help="The models were trained on digits; on other images only the layers' symmetry "
                                   "is meaningful, not the predictions.")
    xs, ys = test_digits()
    if source == "digit":
        idx = st.sidebar.slider("Test digit", 0, len(xs) - 1, 11, key="eq-idx", bind="query-params")
        return xs[idx], int(ys[idx]), f"test digit {idx} (a {int(ys[idx])})", ("digit", idx, "")
    if source == "food shape":
        fx, _ = food_gray()
        idx = st.sidebar.slider("Food image", 0, len(fx) - 1, 0, key="eq-food", bind="query-params")
        return fx[idx], None, f"food shape {idx} (grey)", ("food shape", idx, "")
    img_name, rgb = ui.image_input("eq", size=CANVAS)
    from dlviz.data import PHOTO_NAMES

    kind = "photo" if img_name in PHOTO_NAMES else "upload"
    return ((rgb * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True), None, img_name,
            (kind, -1, img_name))


def choose_shipped() -> list[str]:
    st.sidebar.header("Models")
    # a multiselect, not ui.model_picker: the page compares several shipped variants side by side
    return st.sidebar.multiselect("Compare (shipped checkpoints)", list(LABELS),
                                  default=[VARIANTS[n].label for n in DEFAULT], key="eq-models", bind="query-params")


# ---------------------------------------------------------------- sidebar: live training
def train_your_own():
    st.sidebar.header("Train your own variant")
    with st.sidebar.expander("Architecture and augmentation", expanded=False):
        t_arch = st.radio("Network", ["CNN", "p4 group CNN", "MLP"], horizontal=True, key="eq-t-arch", bind="query-params")
        t_pad = st.selectbox("Padding", ["circular", "zeros"], key="eq-t-pad", bind="query-params", disabled=t_arch == "MLP")
        t_down = st.selectbox("Downsampling", ["maxpool", "none", "stride", "avgpool", "blurpool"],
                              key="eq-t-down", bind="query-params", disabled=t_arch == "MLP")
        t_head = st.selectbox("Head", ["gap", "flatten"], key="eq-t-head", bind="query-params", disabled=t_arch == "MLP",
                              format_func={"gap": "global average pool", "flatten": "flatten + linear"}.get)
        t_rot = st.selectbox("Rotation augmentation", ["none", "rot90", "any"], key="eq-t-rot", bind="query-params",
                             format_func={"none": "none", "rot90": "random quarter turns",
                                          "any": "random angle 0-360°"}.get)
    hp = ui.hyperparameters("eq", lr=3e-3, steps=400, batch_size=64)

    def my_config() -> tuple[str, dict, str]:
        if t_arch == "MLP":
            cfg = dict(VARIANTS["equi_mlp"].config)
            return "equi_mlp", cfg, f"my MLP (rot aug {t_rot})"
        group = "p4" if t_arch == "p4 group CNN" else "none"
        cfg = {**VARIANTS["equi_cnn_maxpool"].config, "padding_mode": t_pad, "downsample": t_down, "head": t_head,
               "group": group, "dilations": (1, 2, 4) if t_down == "none" else ()}
        if group == "p4":
            cfg["channels"] = (4, 8, 16)
        return "equi_cnn", cfg, f"my {t_arch} ({t_pad}, {t_down}, {t_head}, rot aug {t_rot})"

    def start_training():
        from dlviz.models import build_model

        arch, cfg, name = my_config()
        torch.manual_seed(sess.seed)
        model = build_model(arch, cfg)
        trainer = make_trainer(model, rotation=t_rot, steps=hp.steps, lr=hp.lr, batch_size=hp.batch_size,
                               optimizer=hp.optimizer, weight_decay=hp.weight_decay, seed=sess.seed, name=name)
        return {name: trainer}, {"name": name, "arch": arch, "config": cfg, "rotation": t_rot, "dataset": "digits"}

    run = ui.training_panel("eq", start_training)
    def live_accuracy(r) -> None:       # accuracy on a fixed [0, 1] axis (a chance-level run is a flat line)
        hist = {name: t.history() for name, t in r.trainers.items()}
        version = tuple(t.step for t in r.trainers.values())
        ui.show(ui.live_cached("eq-acc", version, lambda: accuracy_figure(hist)), key="eq-live-acc")

    ui.training_monitor("eq", metrics=("loss",), live=live_accuracy)
    if run is not None and not run.active:
        for name, t in run.trainers.items():
            verdict = run_verdict(t.history(), {})
            if verdict:
                st.warning(f"**{name}**: {verdict}", icon=":material/trending_flat:")
    return run


def gather_models(chosen: list[str], run) -> tuple[dict[str, torch.nn.Module], dict[str, str]]:
    """``{legend name: model}`` of the chosen shipped variants and the run's trainers, and ``{legend name:
    checkpoint}`` for the shipped ones (their results are cached by checkpoint name)."""
    models: dict[str, torch.nn.Module] = {}
    shipped_name: dict[str, str] = {}
    for lab in chosen:
        short = VARIANTS[LABELS[lab]].short
        models[short] = ui.load_shipped(LABELS[lab])[0]
        shipped_name[short] = LABELS[lab]
    if run is not None and run.trainer.step > 0:
        for name, t in run.trainers.items():
            models[name] = t.model_copy()
        st.sidebar.caption(f"Your run: {run.card.get('name', 'my model')}, trained on {run.card.get('dataset', '?')}.")
    if not models:
        st.warning("Pick at least one model in the sidebar (or train one).", icon=":material/warning:")
        st.stop()
    return models, shipped_name


# ---------------------------------------------------------------- 1. the transformation
def transform_input(x: torch.Tensor, img_name: str) -> eq.Transform:
    st.header("1 · Transform the input")
    kind = st.radio("Transformation", ["shift", "rotation by 90°", "rotation by any angle", "flip"], horizontal=True,
                    key="eq-kind", bind="query-params")
    c1, c2, c3 = st.columns(3)
    if kind == "shift":
        dx = c1.slider("Shift right (px)", -8, 8, 3, key="eq-dx", bind="query-params")
        dy = c2.slider("Shift down (px)", -8, 8, 0, key="eq-dy", bind="query-params")
        fill = c3.radio("Fill", ["circular", "zeros"], horizontal=True, key="eq-fill", bind="query-params",
                        help="circular: what leaves one side comes back on the other (a torus); zeros: it is lost")
        T = eq.Transform("shift", dy, dx, fill)
    elif kind == "rotation by 90°":
        q = c1.select_slider("Quarter turns (counter-clockwise)", [1, 2, 3], value=1, key="eq-q", bind="query-params")
        T = eq.Transform("rot90", quarter=q)
    elif kind == "rotation by any angle":
        ang = c1.slider("Angle (degrees)", 0, 360, 30, step=5, key="eq-ang", bind="query-params")
        T = eq.Transform("rotate", angle=float(ang), fill="zeros")
    else:
        horiz = c1.radio("Direction", ["left ↔ right", "top ↕ bottom"], key="eq-flip", bind="query-params") == "left ↔ right"
        T = eq.Transform("flip", horizontal=horiz)
    i1, i2, i3 = st.columns([1, 1, 2])
    with i1:
        ui.show(image_figure(x, f"x: {img_name}", height=230), key="eq-x")
    with i2:
        ui.show(image_figure(T.apply(x[None])[0], f"T x: {T.label()}", height=230), key="eq-tx")
    with i3:
        st.markdown("**T′ for a layer with stride s** — shift: by (dy/s, dx/s) when s divides the shift (else the "
                    "nearest shift, and no exact T′ exists); rotation / flip: the same on every map; for p4 maps also a "
                    "cyclic shift of the rotation axis. For vectors (flatten, logits) T′ = identity: the error is an "
                    "**invariance** error.")
    return T


@st.fragment      # the transformation's controls rerun sections 1-3 (all of them read T), not the sidebar or section 4
def transformed(models: dict, shipped_name: dict, x: torch.Tensor, label, img_name: str, where: tuple) -> None:
    T = transform_input(x, img_name)
    layer_by_layer(models, shipped_name, x, T, where)
    prediction_as_input_moves(models, shipped_name, x, label, T)


# ---------------------------------------------------------------- 2. layer by layer
@st.fragment
def layer_by_layer(models: dict, shipped_name: dict, x: torch.Tensor, T: eq.Transform, where: tuple) -> None:
    st.header("2 · Layer by layer: f(Tx) beside T′f(x)")
    results = {name: errors_of(name, m, shipped_name, x, T) for name, m in models.items()}
    errs_fig = plots.errors_figure(results)
    ui.show(errs_fig, key="eq-errors")
    share.figure_csv_download(errs_fig, f"equivariance-errors-{T.label()}", key="eq-errors")
    st.caption("Green band: exact up to float rounding (< 1e-5). Hollow markers: no exact T′ exists for this layer "
               "(a shift its stride does not divide), the nearest shift is used.")
    numbers = st.expander("All the numbers", key="eq-numbers-open", on_change="rerun")   # the table only while open
    with numbers:
        if numbers.open:
            st.dataframe(pd.DataFrame([{"model": name, "layer": r.name, "kind": r.kind, "stride": r.stride,
                                        "error": f"{r.error:.2e}", "exact T′ exists": r.exact_transform}
                                       for name, res in results.items() for r in res]),
                         hide_index=True, width="stretch", height=260)

    p1, p2, p3, p4 = st.columns([2, 2, 1, 1])
    # by default: the first model that breaks the symmetry somewhere, at the first layer where it breaks
    broken = [(n, i) for n, rs in results.items() for i, r in enumerate(rs) if r.error > 1e-3 and r.kind != "vector"]
    pick = p1.selectbox("Model", list(results), index=list(results).index(broken[0][0]) if broken else 0,
                        key="eq-pick", bind="query-params")
    res = {r.name: r for r in results[pick]}
    first_bad = next((i for n, i in broken if n == pick), min(2, len(res) - 1))
    lay = p2.selectbox("Layer", list(res), index=first_bad, key="eq-layer", bind="query-params")
    r = res[lay]
    n_ch = int(r.f_tx.shape[0]) if r.f_tx.ndim >= 3 else 1
    if st.session_state.get("eq-ch", 0) > n_ch - 1:    # another layer may have fewer channels
        st.session_state["eq-ch"] = max(0, n_ch - 1)
    ch = p3.number_input("Channel", 0, max(0, n_ch - 1), 0, key="eq-ch", bind="query-params") if n_ch > 1 else 0
    rot = p4.number_input("Rotation slot", 0, 3, 0, key="eq-rot", bind="query-params",
                          help="p4 maps have one map per filter rotation") if r.kind == "p4 map" else 0
    ui.show(plots.triple_figure(r, int(ch), int(rot), title=f"{pick} · {lay} ({r.kind}, stride {r.stride})"),
            key="eq-triple")
    mm = st.columns(min(4, len(results)))
    for k, (name, rs) in enumerate(results.items()):
        last = rs[-1]
        mm[k % len(mm)].metric(f"logits · {name}", f"{last.error:.1e}", help=f"{name}: invariance error of the logits, "
                               "‖f(Tx) − f(x)‖ / ‖f(x)‖", delta="exact" if last.error < 1e-5 else "not invariant",
                               delta_color="normal" if last.error < 1e-5 else "inverse", delta_arrow="off")
    # a snippet reproduces a shipped model; one whose error is well above float rounding (which varies with threads)
    mine = [n for n in results if n in shipped_name]
    first = next((n for n in mine if results[n][-1].error > 1e-3), mine[0] if mine else None)
    if first is not None:
        share.notebook(page="equivariance", label=f"the invariance error of the logits of {first}",
                       shown=f"{results[first][-1].error:.1e}",
                       body=views.invariance_snippet(shipped_name[first], *where, T), key="equivariance-nb")


# ---------------------------------------------------------------- 3. output against shift / angle
@st.fragment
def prediction_as_input_moves(models: dict, shipped_name: dict, x: torch.Tensor, label, T: eq.Transform) -> None:
    x_np = x.numpy()
    st.header("3 · The prediction as the input moves")
    with torch.no_grad():
        cls = label if label is not None else int(next(iter(models.values()))(x[None]).argmax())
    cls_name = str(cls) if label is not None else f"class {cls} (predicted at no shift)"
    if T.kind == "shift":
        values = list(range(-8, 9))
        direction = (0, 1) if T.dy == 0 or T.dx != 0 else (1, 0)
        sweeps = {n: sweep_of(n, m, shipped_name, x, "shift", T.fill, direction) for n, m in models.items()}
        xlabel = f"shift {'right' if direction == (0, 1) else 'down'} (px, {T.fill} fill)"
    else:
        values = list(range(0, 361, 10))
        sweeps = {n: sweep_of(n, m, shipped_name, x, "rotate", "zeros") for n, m in models.items()}
        xlabel = "rotation (degrees, counter-clockwise)"
    sweep_fig = plots.sweep_figure(sweeps, values, cls, cls_name, xlabel)
    ui.show(sweep_fig, key="eq-sweep")
    share.figure_csv_download(sweep_fig, f"equivariance-sweep-{T.kind}", key="eq-sweep")
    g1, g2 = st.columns([1, 1])
    gm = g1.selectbox("Every shift (dy, dx) at once for", list(models), index=min(1, len(models) - 1),
                      key="eq-grid-model", bind="query-params")
    fill_g = T.fill if T.kind == "shift" else "circular"
    grid = cached_grid(shipped_name[gm], x_np, fill_g) if gm in shipped_name else eq.shift_grid(models[gm], x, 6, fill_g)
    with g1:
        ui.show(plots.grid_figure(grid, cls, f"p(“{cls}”) for every shift, {fill_g} fill"), key="eq-grid")
    with g2:
        stable = float((grid.argmax(-1) == cls).mean())
        st.metric(f"{gm}: shifts keeping the label “{cls}”", f"{stable:.0%}", help="of the 13×13 shifts in [-6, 6]²")
        st.markdown("A shift-**invariant** classifier paints this square one flat colour. Strides and max-pooling "
                    "give a checkerboard with a period of the total stride (aliasing); a flatten head or an MLP gives "
                    "a bright spot only near the training position.")


# ---------------------------------------------------------------- 4. consistency
@st.fragment
def consistency(models: dict, shipped_name: dict) -> None:
    xs, ys = test_digits()
    st.header("4 · Consistency over the test set (Zhang, 2019)")
    k1, k2 = st.columns(2)
    max_shift = k1.slider("Largest random shift (px)", 1, 8, 4, key="eq-cons-shift", bind="query-params")
    cfill = k2.radio("Fill", ["circular", "zeros"], horizontal=True, key="eq-cons-fill", bind="query-params")


    cons, rot_acc = {}, {}
    for name, m in models.items():
        if name in shipped_name:
            cons[name] = shipped_consistency(shipped_name[name], max_shift, cfill, sess.seed)
            rot_acc[name] = shipped_rotation_acc(shipped_name[name])
        else:
            cons[name] = eq.consistency(m, xs, max_shift, cfill, sess.seed)
            rot_acc[name] = eq.accuracy_under(m, xs, ys, ROTATIONS)
    b1, b2 = st.columns(2)
    with b1:
        ui.show(plots.bars_figure(cons, f"P(same label for two random shifts ≤ {max_shift} px)", "consistency"),
                key="eq-cons")
    with b2:
        ui.show(plots.bars_figure({n: float(a[1:].mean()) for n, a in rot_acc.items()},
                                  "test accuracy on digits turned by 90°, 180°, 270°", "accuracy"), key="eq-rotacc")
    share.csv_download("Consistency and rotated accuracy (CSV)", lambda: [
        {"model": n, "consistency": cons[n], "max_shift_px": max_shift, "fill": cfill,
         **{f"acc_rot{a}": float(v) for a, v in zip((0, 90, 180, 270), rot_acc[n])}} for n in cons],
        f"equivariance-consistency-{max_shift}px-{cfill}", key="eq-cons")
    st.caption(f"Consistency on all {len(xs)} test digits, each shifted twice (offsets uniform in "
               f"[−{max_shift}, {max_shift}]² on both axes). Upright test accuracy: "
               + ", ".join(f"{n} {a[0]:.3f}" for n, a in rot_acc.items()) + ".")


def try_this() -> None:
    ui.try_this([
        ("Shift by 1 px: the circular no-downsampling CNN stays at float rounding (~1e-7) in every layer; the max-pool "
        "CNN does not, from the layer right after its first pool. Now shift by 2, then by 4: which layers become "
        "exact again?"),
        ("Switch the fill to **zeros** and shift by 8 px: even the circular CNN is no longer exact -- the part of "
        "the digit that left the image is gone, so no T′ can bring it back. (At 1-4 px only the empty border "
        "leaves, and it stays exact.)"),
        ("Add the **p4 group CNN** and rotate by 90°: every layer is exact, and its accuracy on rotated digits equals "
        "its upright accuracy. Which digits does it confuse? (Think of 6 and 9.)"),
        ("Compare **max-pool** with **blur pool** in section 4: the blur costs almost nothing and lifts consistency "
        "from about 0.77 to about 0.99."),
        ("Train your own CNN with *random angle* augmentation and compare it with the p4 network at 45°: learned "
        "invariance is approximate, built-in invariance exact only for the group it was built for."),
    ])


x, label, img_name, where = choose_input()
chosen = choose_shipped()
run = train_your_own()
models, shipped_name = gather_models(chosen, run)
transformed(models, shipped_name, x, label, img_name, where)
consistency(models, shipped_name)
try_this()
