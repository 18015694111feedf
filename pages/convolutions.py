"""Convolutions: a kernel sliding over an image, the output-size formula, and what a small CNN learns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import share
import torch
import ui

from dlviz.convolutions import core as conv
from dlviz.convolutions import plots as cplots
from dlviz.convolutions import training, views
from dlviz.plotting import image_figure

PAGE_INFO = {
    "title": "Convolutions",
    "icon": ":material/grid_on:",
    "section": "CNNs",
    "order": 10,
    "question": "What does sliding a small kernel over an image compute, and what kernels does a CNN learn?",
    "thumbnail": "dlviz.convolutions.views:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "A convolution layer slides a small grid of weights (the **kernel**) over the image and writes one dot "
    "product per position into a **feature map**. Stride, padding and dilation decide how many positions "
    "there are; training decides what the weights are. On every signed map below (kernel weights, feature maps, "
    "learned filters) **red is positive, white zero, blue negative**; each colour bar gives the scale."))


def input_image():
    """Sidebar: the photo every kernel slides over."""
    st.sidebar.header("Input")
    return ui.image_input("conv-img", size=160)   # "conv-upload" is the model picker's checkpoint


@st.fragment
def slide_kernel(img_name: str, image: torch.Tensor) -> None:
    """1 · A hand-picked kernel, its feature map, and the output-size formula evaluated live."""
    st.header("1 · Slide a kernel over a photo")
    c_ctrl, c_kernel = st.columns([1, 1])
    with c_ctrl:
        preset = st.selectbox("Kernel", list(conv.KERNELS) + ["custom 3×3", "custom 5×5"], index=3,
                              key="conv-kernel", bind="query-params")
        mode = st.radio("Channels", ["gray", "per channel"], horizontal=True, key="conv-mode", bind="query-params",
                        help="gray: one map of the luminance; per channel: the kernel applied to R, G and B "
                             "separately.")
        s1, s2, s3 = st.columns(3)
        stride = s1.slider("Stride", 1, 8, 1, key="conv-stride", bind="query-params")
        padding = s2.slider("Padding", 0, 8, 1, key="conv-pad", bind="query-params")
        dilation = s3.slider("Dilation", 1, 6, 1, key="conv-dil", bind="query-params")
        pad_mode = st.selectbox("Padding fills with", ["zeros", "reflect", "replicate", "circular"],
                                key="conv-padmode", bind="query-params")
    with c_kernel:
        if preset.startswith("custom"):
            k = 3 if "3" in preset else 5
            start = np.zeros((k, k))
            start[k // 2, k // 2] = 1.0
            edited = st.data_editor(pd.DataFrame(start, columns=[str(i) for i in range(k)]),
                                    key=f"conv-custom-{k}", width="stretch", hide_index=True)
            kernel = np.nan_to_num(edited.to_numpy(dtype=float))
            st.caption("Edit the cells: this is your kernel (the identity to start with).")
        else:
            kernel = conv.KERNELS[preset]
        ui.show(cplots.signed_heatmap(kernel, "kernel weights", annotate=True, height=260, colorbar_title="weight"),
                key="conv-kernel-fig")

    try:
        res = conv.convolve(image, kernel, stride=stride, padding=padding, dilation=dilation, mode=mode,
                            padding_mode=pad_mode)
    except ValueError as e:
        st.error(f"{e}. Lower the dilation or stride, or add padding.", icon=":material/error:")
        st.stop()

    out = res.output
    h, w = res.input.shape[1:]
    oh, ow = out.shape[1:]
    c_in, c_out = st.columns(2)
    with c_in:
        ui.show(image_figure(res.input, f"input: {img_name} ({h}×{w})", height=380), key="conv-in")
    with c_out:
        if mode == "gray":
            fig = cplots.signed_heatmap(out[0], f"feature map ({oh}×{ow})", height=380, robust=True,
                                        colorbar_title="output")
        else:
            lo, hi = float(out.min()), float(out.max())
            fig = image_figure((out - lo) / (hi - lo + 1e-8), f"feature map per channel ({oh}×{ow})", height=380)
        ui.show(fig, key="conv-out")
        share.csv_download("Feature map (CSV)", lambda: [{"channel": c, "row": i, "col": j, "value": float(out[c, i, j])}
                                                          for c in range(out.shape[0]) for i in range(out.shape[1])
                                                          for j in range(out.shape[2])],
                           f"conv-feature-map-{preset}-s{stride}-p{padding}-d{dilation}", key="conv-out")
        if mode == "gray":
            st.caption("Colours clipped at the 99th percentile of |output| (border pixels would wash out the rest).")
        else:
            st.caption("Per channel: the R, G and B maps rescaled together to [0, 1] and shown as the colours of an "
                       "image (not the signed scale): grey is the middle of the range, not zero.")

    kk = kernel.shape[0]
    m1, m2, m3 = st.columns(3)
    m1.metric("Output size", f"{oh} × {ow}", help="Measured from the feature map torch computed.")
    m2.metric("Kernel span with dilation", f"{dilation * (kk - 1) + 1} px")
    m3.metric("Multiply–adds", f"{conv.macs(oh, ow, kk, out.shape[0]):,}")
    st.markdown("**Output size formula** (height), evaluated live: "
                f"$\\lfloor (n + 2p - d(k-1) - 1)/s \\rfloor + 1$ = `{res.formula_h}`")
    if conv.output_size(h, kk, stride, padding, dilation) != oh:  # the formula must agree with torch
        st.error("The formula disagrees with the computed map: please report this.")


@st.cache_data(show_spinner=False)
def digits_data() -> training.DigitsData:
    return training.digits_data()


def filters_figure(filt: torch.Tensor):
    return cplots.signed_grid_figure(filt, [f"filter {i}" for i in range(len(filt))], cols=8, height_per_row=120,
                                     colorbar_title="weight")


def train_cnn(data: training.DigitsData) -> None:
    """2 · Sidebar: train a fresh digits CNN in the background and watch its first-layer filters form."""
    st.header("2 · What a small CNN learns on handwritten digits")
    st.markdown("A two-layer CNN (8 then 16 filters of 3×3) on scikit-learn's 8×8 digits, upsampled to 16×16. "
                "The shipped model is loaded; **Train** in the sidebar starts a fresh one and you can watch "
                "its first-layer filters form.")
    st.sidebar.header("Train a digits CNN")
    hp = ui.hyperparameters("conv", lr=3e-3, steps=600, batch_size=64)

    def start_training():
        seed = ui.session().seed
        trainer = training.digits_trainer(
            training.new_digits_cnn(seed), data, steps=hp.steps, lr=hp.lr, batch_size=hp.batch_size,
            optimizer=hp.optimizer, weight_decay=hp.weight_decay, seed=seed, eval_every=100,
            snapshot_fn=lambda m, step: conv.first_layer_filters(m), snapshot_every=25)
        return trainer, {"arch": "small_cnn", "config": training.digits_cnn_config(),
                         "dataset": training.DIGITS_DATASET, "optimizer": f"{hp.optimizer} lr={hp.lr:g}",
                         "batch_size": hp.batch_size, "seed": seed}

    ui.training_panel("conv", start_training)

    def live_view(r) -> None:
        t = r.trainer
        hist = t.history()
        acc = ui.live_cached("conv-acc", t.step, lambda: cplots.accuracy_figure({"": hist}))
        ui.show(acc, key="conv-live-acc")
        if t.snapshots:
            step, filt = t.snapshots[-1]
            ui.show(ui.live_cached("conv-filters", step, lambda: filters_figure(filt)), key="conv-live-filters")
            st.caption(f"First-layer filters at step {step} (one colour scale for all eight).")
        if r.active:
            return
        verdict = ui.live_cached("conv-verdict", (r.id, t.step), lambda: views.run_verdict(
            hist, views.dead_relu_share(t.model_copy().eval(), data.xte)))
        if verdict:
            st.warning(verdict, icon=":material/trending_flat:")
        d1, d2 = st.columns(2)
        share.csv_download("Training history (CSV)", lambda: [
            {"metric": k, "step": s_, "value": v} for k, (ss, vs) in hist.items() for s_, v in zip(ss, vs)],
            f"conv-run-{t.step}steps", key="conv-history", container=d1)
        if t.snapshots:
            share.gif_download(lambda: views.filter_frames(t.snapshots), f"conv-filters-{t.step}steps",
                               key="conv-filters", container=d2, label="Filters over training (GIF)")

    ui.training_monitor("conv", metrics=("loss",), live=live_view)


def inspect_model(data: training.DigitsData) -> None:
    """The shipped or trained CNN: accuracy, one prediction, its filters and feature maps."""
    from dlviz.metrics import accuracy, predict

    picked = ui.model_picker("conv", {"shipped checkpoint": "digits_cnn"}, run_key="conv",
                             expected_arch="small_cnn", label="Model to inspect", container=st)
    if picked is None:
        return
    model, xte, yte = picked.model, data.xte, data.yte
    acc = accuracy(model, xte, yte)
    idx = st.slider("Test digit", 0, len(xte) - 1, 0, key="conv-digit", bind="query-params")
    x = xte[idx:idx + 1]
    probs = torch.softmax(predict(model, x), 1)[0]
    maps = model.feature_maps(x)

    a1, a2, a3 = st.columns(3)
    a1.metric("Test accuracy", f"{acc:.1%}", help=f"On {len(xte)} held-out digits.")
    a2.metric("Prediction", f"{int(probs.argmax())}", f"true label {int(yte[idx])}", delta_color="off")
    a3.metric("Confidence", f"{float(probs.max()):.1%}")
    share.csv_download("Class probabilities (CSV)", lambda: [{"digit": c, "probability": float(p)} for c, p in
                       enumerate(probs)], f"conv-digit-{idx}-probabilities", key="conv-probs")
    share.notebook(page="convolutions", label=f"the test accuracy of {picked.label}", shown=f"{acc:.1%}",
                   body=views.accuracy_snippet(picked.source, picked.key, picked.label, picked.card),
                   key="convolutions-nb")

    f1, f2 = st.columns([1, 2])
    with f1:
        ui.show(image_figure(x[0], "input digit", height=260), key="conv-digit-img")
    with f2:
        ui.show(filters_figure(conv.first_layer_filters(model)), key="conv-filters")
    layer = st.selectbox("Feature maps of layer", list(maps), key="conv-layer", bind="query-params")
    fm = maps[layer][0]
    ui.show(cplots.signed_grid_figure(fm, [f"ch {i}" for i in range(len(fm))], cols=8, height_per_row=110,
                                      colorbar_title="activation"), key="conv-maps")


def try_this() -> None:
    ui.try_this([
        "Set **dilation** to 3 with a 3×3 kernel: the span becomes 7 px but the kernel still has 9 weights.",
        "Pick *Sobel x* on the astronaut, then *Sobel y*: which edges survive in each map?",
        "Stride 4 with no padding: check the formula against the output size before you look.",
        ("Train with learning rate 3 and plain **SGD**: the loss never explodes, yet the run ends at chance level "
         "(10 %) with dead ReLUs. Then try **Adam** at 3: the loss explodes on step 2, training stops and the "
         "starting weights are restored."),
        "Compare the shipped filters with a model trained for only 50 steps: do edge detectors appear early?",
    ])


img_name, image = input_image()
slide_kernel(img_name, image)
data = digits_data()
train_cnn(data)
inspect_model(data)
try_this()
