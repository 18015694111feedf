"""Receptive fields: the theoretical field of any unit of any CNN, checked by brute force, and the
effective field (Luo et al., 2016) that grows only like the square root of depth."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
import torch
import share
import ui

from dlviz.receptive_fields import effective as erfm
from dlviz.receptive_fields import core as rfm
from dlviz.receptive_fields import plots as plots
from dlviz.receptive_fields import views as views

PAGE_INFO = {
    "title": "Receptive fields",
    "icon": ":material/filter_center_focus:",
    "section": "CNNs",
    "order": 20,
    "question": "What part of the image does one unit actually see?",
    "thumbnail": "dlviz.receptive_fields.views:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "Each unit of a conv layer computes from a window of the input: its **receptive field**. Stacking layers "
    "grows the window by $(k-1)\\,d\\cdot$(product of earlier strides) per layer. But not every pixel in the "
    "window matters equally: the **effective** receptive field -- the input gradient of one unit -- is a "
    "roughly Gaussian blob in the middle of the theoretical box, and the deeper the stack, the smaller the share of "
    "the box it fills (section 4)."))
sess = ui.session()

APP_MODELS = {"digits CNN (shipped, 16×16)": ("digits_cnn", 16), "food CNN (shipped, 32×32)": ("food_cnn", 32)}
PRESETS = list(views.STACK_PRESETS)


@dataclass
class Network:
    """What the sidebar picked: a family, the input size and, for app models, the checkpoint and its picker."""
    family: str
    size: int
    preset: str | None = None
    arch: str | None = None
    ckpt: str | None = None
    picked: ui.Picked | None = None


def choose_network() -> Network:
    st.sidebar.header("Network")
    family = st.sidebar.radio("Network", ["Classic architecture", "My own stack", "App model (trained)"],
                              key="rf-family", label_visibility="collapsed", bind="query-params")
    if family == "Classic architecture":
        arch = st.sidebar.selectbox("Architecture", list(rfm.TORCHVISION_MODELS), index=3, key="rf-arch",
                                    help="torchvision's definitions, built without weights (shapes only).",
                                    bind="query-params")
        design = rfm.default_input_size(arch)
        if st.session_state.get("rf-size-of") not in (None, arch):   # another architecture: its design size
            st.session_state["rf-size"] = design
        st.session_state["rf-size-of"] = arch
        size = st.sidebar.select_slider("Input size", [64, 96, 128, 160, 192, 224, 256, 299, 320, 384, 512],
                                        value=design, key="rf-size", bind="query-params")
        return Network(family, size, arch=arch)
    if family == "My own stack":
        preset = st.sidebar.selectbox("Start from", PRESETS, key="rf-preset", bind="query-params",
                                      help="A stack to edit in section 1 (your edits are not part of the page's link).")
        size = st.sidebar.select_slider("Input size", [16, 24, 32, 48, 64, 96, 128], value=64, key="rf-stack-size",
                                        bind="query-params")
        return Network(family, size, preset=preset)
    # shipped only (no run, no upload): sections 2 and 3 need the test images of the data the model learned
    picked = ui.model_picker("rf", {lab: name for lab, (name, _) in APP_MODELS.items()}, expected_arch="small_cnn",
                             upload=False)
    if picked is None:
        st.stop()
    ckpt, size = APP_MODELS[picked.label]
    return Network(family, size, ckpt=ckpt, picked=picked)


@st.cache_data(show_spinner="Tracing the network...", max_entries=32)
def arch_table(arch: str, size: int) -> list:
    return rfm.receptive_field(rfm.torchvision_model(arch), size)


@st.cache_resource(max_entries=16)
def stack_model(specs: tuple, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return rfm.build_stack(list(specs), in_channels=3, channels=8).eval()


@st.cache_data(max_entries=16)
def stack_table(specs: tuple, size: int) -> list:
    return rfm.receptive_field(stack_model(specs, 0), size)


@st.cache_data(max_entries=4)
def app_data(name: str):
    """The first 200 test images of the dataset a shipped app model was trained on."""
    from dlviz.data import image_dataset

    data = image_dataset("digits" if name == "digits_cnn" else "food_shapes", split="test",
                         size=16 if name == "digits_cnn" else 32, n=400)
    return data.images[:200], data.labels[:200], data.class_names


@dataclass
class Traced:
    """Section 1's result: the traced rows, the model (None for weightless torchvision ones), the chosen layer."""
    rows: list
    model: torch.nn.Module | None
    specs: tuple | None
    layer: str
    row: object


# ---------------------------------------------------------------- 1. the table
def layer_by_layer(net: Network) -> Traced:
    st.header("1 · Layer by layer")
    family, size = net.family, net.size
    model, specs = None, None
    if family == "Classic architecture":
        rows = arch_table(net.arch, size)
    elif family == "My own stack":
        st.caption(f"Edit the stack (add or delete rows), starting from *{net.preset}*. Conv layers are followed "
                   "by a ReLU.")
        edited = st.data_editor(pd.DataFrame(views.stack_table(net.preset)), num_rows="dynamic",
                                key=f"rf-stack-{PRESETS.index(net.preset)}", width="stretch",
                                column_config={"kind": st.column_config.SelectboxColumn(
                                    options=["conv", "maxpool", "avgpool"], required=True),
                                    "kernel": st.column_config.NumberColumn(min_value=1, max_value=15, required=True),
                                    "stride": st.column_config.NumberColumn(min_value=1, max_value=8, required=True),
                                    "padding": st.column_config.NumberColumn(min_value=0, max_value=10,
                                                                             required=True),
                                    "dilation": st.column_config.NumberColumn(min_value=1, max_value=8,
                                                                              required=True)})
        try:
            specs = tuple(views.stack_specs(edited.dropna().to_dict("records")))
            model = stack_model(specs, sess.seed)
            rows = stack_table(specs, size)
        except (ValueError, RuntimeError) as e:
            st.error(f"This stack does not work on a {size}×{size} input: {str(e).splitlines()[0]}",
                     icon=":material/error:")
            st.stop()
    else:
        model = net.picked.model
        rows = rfm.receptive_field(model, size)

    spatial = [r for r in rows if len(r.out_shape) == 3 and r.name != "input"]
    if not spatial:
        st.error("This network has no spatial layer at this input size.")
        st.stop()
    leaves = st.toggle("Only leaf layers (hide blocks / Sequential containers)",
                       value=family != "Classic architecture", key="rf-leaves", bind="query-params")
    shown = [r for r in rows if r.leaf or not leaves]
    names = [r.name for r in spatial if r.leaf or not leaves] or [r.name for r in spatial]
    convs = [n for n in names if n.startswith("conv")]
    default = convs[-1] if family == "My own stack" and convs else names[min(len(names) - 1, int(len(names) * 0.6))]
    layer = st.selectbox("Layer", names, index=names.index(st.session_state.get("rf-layer", default))
                         if st.session_state.get("rf-layer") in names else names.index(default), key="rf-layer",
                         bind="query-params")
    row = next(r for r in rows if r.name == layer)

    c_tab, c_fig = st.columns([1.15, 1])
    with c_tab:
        df = pd.DataFrame([r.as_dict() for r in shown])
        for col in ("rf", "jump", "start"):      # "159x255" beside plain numbers: one type per column
            if df[col].map(type).nunique() > 1:
                df[col] = df[col].astype(str)
        st.dataframe(df, hide_index=True, width="stretch", height=330,
                     column_config={"merged": st.column_config.CheckboxColumn(help="branches with different fields "
                                    "merged upstream: the largest path's field is shown")})
    with c_fig:
        growth = plots.growth_figure(shown, highlight=layer)
        ui.show(growth, key="rf-growth")
        share.figure_csv_download(growth, "receptive-field-growth", key="rf-growth")

    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Receptive field", f"{row.rf[0]:g} × {row.rf[1]:g} px",
              help="r = 1 + Σ (k_l − 1)·d_l·Π_{i<l} s_i, traced through the real network.")
    m2.metric("Jump (effective stride)", f"{row.jump[0]:g} px", help="input pixels between neighbouring units")
    m3.metric("Effective padding", f"{row.padding[0]:g} px",
              help="how far unit (0, 0)'s field starts before pixel 0")
    m4.metric("Output size", "×".join(str(s) for s in row.out_shape))
    share.notebook(page="receptive_fields", label=f"the receptive field of {layer}", shown=f"{row.rf[0]:g} × {row.rf[1]:g} px",
                   body=views.snippet_body(family, layer, size, arch=net.arch, specs=specs,
                                           ckpt=net.ckpt), key="receptive_fields-nb")
    if row.merged:
        st.info(f"**{layer}** sits after branches that merge (residual additions, inception concatenations, "
                "squeeze-excitation products): its receptive field is that of the **largest path**, i.e. the union "
                f"of the paths' windows. {row.note}", icon=":material/call_merge:")
    if row.approx:
        st.caption(f"Approximation: {row.note}")
    wider = views.field_vs_input(row, (size, size))
    if wider:
        st.caption(wider)
    return Traced(rows, model, specs, layer, row)


# ---------------------------------------------------------------- 2. one unit on the photo
@st.fragment
def what_the_unit_sees(net: Network, tr: Traced) -> None:
    family, size, model, layer, row = net.family, net.size, tr.model, tr.layer, tr.row
    st.header("2 · What does this unit see?")
    if family == "App model (trained)":
        xs, ys, class_names = app_data(net.ckpt)
        idx = st.slider("Test image", 0, len(xs) - 1, 3, key="rf-img", bind="query-params")
        image = xs[idx]
        img_label = f"test image {idx} ({class_names[int(ys[idx])]})"
    else:
        img_label, image = ui.image_input("rf", size=size)
        if family == "My own stack" and image.shape[0] != 3:
            image = image[:3]

    hh, ww = row.size
    ci = (hh - 1) // 2
    cj = (ww - 1) // 2
    # one pair of unit sliders per layer (its name in the link), starting at the centre unit
    tag = "".join(ch if ch.isalnum() else "_" for ch in layer)
    ki, kj = f"rf-i-{tag}", f"rf-j-{tag}"
    for k, top in ((ki, hh - 1), (kj, ww - 1)):          # a smaller input shrinks the map under the sliders
        if st.session_state.get(k, 0) > top:
            st.session_state[k] = top
    ev = st.session_state.get("rf-pick")
    pts = list((ev or {}).get("selection", {}).get("points", [])) if hasattr(ev, "get") else []
    if pts and "x" in pts[0] and "y" in pts[0]:           # a click on the map: x = column, y = row
        clicked = (int(round(float(pts[0]["y"]))), int(round(float(pts[0]["x"]))))
        if st.session_state.get("rf-last-click") != clicked and 0 <= clicked[0] < hh and 0 <= clicked[1] < ww:
            st.session_state[ki], st.session_state[kj] = clicked
            st.session_state["rf-last-click"] = clicked

    color_by = st.radio("Colour the feature map by", ["fraction of the field on the image"]
                        + ([] if model is None else ["activation (mean |value| over channels)"]),
                        horizontal=True, key="rf-colour", bind="query-params")
    if color_by.startswith("activation"):
        x_in = image[None].to(next(model.parameters()).dtype)
        fmap = rfm.layer_output(model, x_in, layer)[0].abs().mean(0)
        map_title = f"{layer}: mean |activation| ({hh}×{ww})"
    else:
        fmap = rfm.coverage(row, (size, size))
        map_title = f"{layer}: fraction of each unit's field on the image ({hh}×{ww})"

    s1, s2 = st.columns(2)
    i = s1.slider("Unit row", 0, hh - 1, ci, key=ki, bind="query-params") if hh > 1 else 0
    j = s2.slider("Unit column", 0, ww - 1, cj, key=kj, bind="query-params") if ww > 1 else 0
    c_map, c_img = st.columns(2)
    with c_map:
        ui.show(plots.pick_map_figure(fmap, (i, j), map_title), key="rf-pick", on_select="rerun",
                selection_mode="points")
        st.caption("Click a cell (or use the sliders) to pick a unit.")
    with c_img:
        ui.show(plots.field_on_image_figure(image, row, (i, j), f"unit ({i}, {j}) on {img_label}"), key="rf-field")
    t, lft, b, r = row.region(i, j)
    ct, cl, cb, cr = row.clipped_region(i, j, (size, size))
    on_img = (cb - ct + 1) * (cr - cl + 1) / (row.rf[0] * row.rf[1])
    u1, u2 = st.columns(2)
    u1.metric(f"Unit ({i}, {j}) sees rows / columns", f"{ct}–{cb} / {cl}–{cr}",
              help=f"unclipped window: rows {t:g}..{b:g}, columns {lft:g}..{r:g}")
    u2.metric("Share of its field on the image", f"{on_img:.0%}", help="the rest of the window is padding")

    if family != "Classic architecture":
        margin = max(4, int(row.rf[0]) // 4)
        ring = [(a, c) for a in range(max(0, ct - margin), min(size, cb + margin + 1))
                for c in range(max(0, cl - margin), min(size, cr + margin + 1))]
        if st.button(f"Check by brute force: perturb each of the {len(ring):,} pixels in and around the window",
                     key="rf-probe", help=f"the window plus a ring of {margin} px: one forward pass per pixel"):
            with st.spinner(f"{len(ring):,} forward passes..."):
                hit = rfm.probe(model, size, layer.split("#")[0], pixels=ring)[:, i, j]
            moved = [p for p, h in zip(ring, hit.tolist()) if h]
            level, text = views.probe_verdict(moved, len(ring), (ct, cl, cb, cr), (i, j))
            getattr(st, level)(text, icon=":material/fact_check:")


@st.cache_data(show_spinner="Back-propagating from the unit...", max_entries=16)
def erf_stack(specs: tuple, layer: str, size: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(16, 3, size, size, generator=g)
    return {"random init": erfm.erf_map(stack_model(specs, seed), x, layer)}

@st.cache_data(show_spinner="Back-propagating from the unit...", max_entries=16)
def erf_app(model_key: str, name: str, layer: str, seed: int, _trained) -> dict:
    from dlviz.models import build_model

    trained = _trained                 # cached under model_key (ui.model_picker's key)
    torch.manual_seed(seed)
    fresh = build_model("small_cnn", trained.config).eval()
    x = app_data(name)[0][:64]
    return {"trained": erfm.erf_map(trained, x, layer), "random init": erfm.erf_map(fresh, x, layer)}


# ---------------------------------------------------------------- 3. effective receptive field
def effective_field(net: Network, tr: Traced) -> float:
    family, size, layer = net.family, net.size, tr.layer
    st.header("3 · The effective receptive field (Luo et al., 2016)")
    st.markdown("The mean of $|\\partial y_{unit} / \\partial x|$ over inputs: how strongly each pixel actually moves the "
                "unit. Red box: theoretical field. Dotted blue square: the smallest square around the unit's centre "
                "holding the chosen share of the gradient mass -- the ERF size reported below.")
    frac = st.select_slider("Share of the gradient mass that defines the ERF size", [0.5, 0.68, 0.8, 0.9, 0.95, 0.99],
                            value=0.95, key="rf-frac", format_func=lambda v: f"{v:.0%}", bind="query-params")
    if family == "Classic architecture":
        st.info("The effective receptive field needs weights and real inputs: pick **My own stack** or an **App model** "
                "in the sidebar. Section 4 below measures it for plain stacks of any depth.", icon=":material/info:")
        return frac
    erfs = (erf_stack(tr.specs, layer, size, sess.seed) if family == "My own stack"
            else erf_app(net.picked.key, net.ckpt, layer, sess.seed, net.picked.model))
    cols = st.columns(len(erfs))
    full = []
    for col, (name, e) in zip(cols, erfs.items()):
        with col:
            fig = plots.erf_figure(e, f"{name}: ERF of {layer}, centre unit {e.unit}", fraction=frac)
            ui.show(fig, key=f"rf-erf-{name}")
            share.figure_csv_download(fig, f"erf-{layer}-{name}", key=f"rf-erf-{name}", label="ERF map (CSV)")
            a, b2 = st.columns(2)
            a.metric("Theoretical size", f"{e.row.rf[0]:g} px")
            b2.metric(f"ERF size ({frac:.0%} of |grad|)", f"{e.size(frac)} px",
                      delta=f"{e.size(frac) / e.row.rf[0]:.0%} of the box", delta_color="off", delta_arrow="off")
            if e.size(frac) >= 0.9 * e.row.rf[0]:
                full.append(name)
    if full:
        st.caption(f"Here ({', '.join(full)}) the ERF is at least 90 % of the box: this few layers have not yet "
                   "concentrated the gradient in the middle. The blob's share of the box shrinks as depth grows: pick "
                   "a deeper layer, the *deep plain* stack, or see section 4.")
    ui.show(plots.erf_profile_figure(erfs), key="rf-erf-profile")
    return frac


@st.cache_data(show_spinner="Measuring ERFs for every depth...", max_entries=16)
def depth_curve(max_depth: int, act: str, init: str, seed: int, frac: float):
    depths = sorted({1, 2, 3, 4, 6, 8, 12, 16, 24, 32} & set(range(1, max_depth + 1)) | {max_depth})
    return erfm.erf_vs_depth(depths, activation=act, init=init, seed=seed, fraction=frac)


# ---------------------------------------------------------------- 4. ERF vs depth
@st.fragment
def erf_against_depth(frac: float) -> None:
    st.header("4 · Theoretical vs effective size against depth")
    d1, d2, d3 = st.columns(3)
    max_depth = d1.select_slider("Deepest stack (3×3 convs, stride 1)", [4, 8, 12, 16, 24, 32], value=16,
                                 key="rf-depth", bind="query-params")
    act = d2.selectbox("Non-linearity", ["relu", "tanh", "none"], key="rf-act", bind="query-params")
    init = d3.selectbox("Weights", ["random", "uniform"], key="rf-init", bind="query-params",
                        help="random: He-uniform init; uniform: every kernel an average (the textbook case)")
    curve = depth_curve(max_depth, act, init, sess.seed, frac)
    ui.show(plots.depth_figure(curve), key="rf-depth-fig")
    share.csv_download("Sizes against depth (CSV)", lambda: {
        "depth": curve.depths, "theoretical_px": curve.theoretical, "effective_px": curve.effective,
        "radius_px": curve.radius, "mass_fraction": [curve.fraction] * len(curve.depths)},
        f"erf-vs-depth-{act}-{init}", key="rf-depth")
    c, r2 = erfm.sqrt_fit(curve.depths, curve.effective)
    e1, e2, e3 = st.columns(3)
    e1.metric(f"Theoretical at depth {curve.depths[-1]}", f"{curve.theoretical[-1]} px")
    e2.metric(f"Effective at depth {curve.depths[-1]}", f"{curve.effective[-1]} px",
              delta=f"{curve.effective[-1] / curve.theoretical[-1]:.0%} of the box", delta_color="off", delta_arrow="off")
    e3.metric("Fit ERF ≈ c·√n", f"c = {c:.2f}", delta=f"R² = {r2:.3f}", delta_color="off", delta_arrow="off")


def try_this() -> None:
    ui.try_this([
        ("Pick **ResNet-50**, layer `layer4`: the field is 427 px -- wider than the 224-px image. Colour the map by "
        "*fraction of the field on the image*: the corner units see mostly padding."),
        ("Pick **MobileNet v3 (small)**: after its first squeeze-excitation block every unit sees the *whole* image "
        "(a global average pool feeds back into every position)."),
        ("In **My own stack**, start from the *dilated VGG-like* stack, pick layer `conv2` and run the brute-force "
        "check: its 9-px field has holes (only 25 of its 81 pixels reach the unit). Then pick `conv5`: the max-pool "
        "in between filled them."),
        "Compare the **trained** and **random** food CNN ERFs: does training make the blob wider or narrower?",
        ("In section 4, switch the weights to *uniform* and the non-linearity to *none*: the ERF is then exactly a "
        "binomial-like bell whose width grows like √n (the central limit theorem at work)."),
    ])


net = choose_network()
traced = layer_by_layer(net)
what_the_unit_sees(net, traced)
frac = effective_field(net, traced)
erf_against_depth(frac)
try_this()
