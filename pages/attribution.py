"""Attribution: Saliency, Integrated Gradients, SmoothGrad, Grad-CAM and Occlusion (captum) for a trained
classifier, Integrated Gradients' completeness as a number, and the sanity check of Adebayo et al. (2018)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

import share
import ui
from dlviz.attribution import core as attr
from dlviz.attribution import views as aviews
from dlviz.data import FOOD_CLASSES, PHOTO_NAMES
from dlviz.attribution import plots as aplots
from dlviz.plotting import to_hwc

PAGE_INFO = {
    "title": "Attribution",
    "icon": ":material/frame_inspect:",
    "section": "Classifier lab",
    "order": 50,
    "question": "Which pixels made the classifier decide -- and would the map look the same for a random model?",
    "thumbnail": "dlviz.attribution.views:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "An **attribution map** scores each input pixel by how much it pushed one class's logit. Five methods from "
    "captum explain the same decision; they rarely agree. Integrated Gradients promises **completeness** (its "
    "scores add up to the logit's change), and the **sanity check** of Adebayo et al. (2018) asks whether a map "
    "explains the model at all: destroy the weights layer by layer, and a faithful map must change."))
sess = ui.session()

# ---------------------------------------------------------------- sidebar: model
SHIPPED = {"food_cnn": ("food shapes", FOOD_CLASSES), "food_lenet5": ("food shapes", FOOD_CLASSES),
           "digits_cnn": ("digits", [str(i) for i in range(10)])}


@st.cache_resource(show_spinner="Loading validation images...", max_entries=3)
def validation_images(dataset: str, size: int, channels: int):
    from dlviz.classifier.core import load_data

    if dataset == "food shapes":
        return load_data("food shapes", n_train=10, n_val=1000, size=size).val
    from dlviz.data import digits

    return digits("test", seed=0, size=size)


@st.cache_data(show_spinner=False, max_entries=8)
def predictions(model_key: str, dataset: str, _net, _x) -> np.ndarray:
    from dlviz.metrics import predict

    return predict(_net, _x).argmax(1).numpy()


@st.cache_data(show_spinner="Computing attributions...", max_entries=32)
def maps_for(model_key: str, image_key: str, target: int, params: attr.Params, seed: int, methods: tuple, _net, _x):
    import captum.attr  # noqa: F401 - imported before the clock starts: the timings are of the methods alone

    out, times = {}, {}
    for m in methods:
        t0 = time.perf_counter()
        out[m] = attr.to_map(attr.attribute(_net, _x, target, m, params, seed), attr.SIGNED[m])[0].numpy()
        times[m] = time.perf_counter() - t0
    return out, times


@st.cache_data(show_spinner=False, max_entries=32)
def completeness(model_key: str, image_key: str, target: int, steps: int, baseline: str, _net, _x):
    return attr.ig_completeness(_net, _x, target, steps=steps, baseline=baseline)


@st.cache_data(show_spinner="Randomising layer by layer...", max_entries=8)
def sanity(model_key: str, image_key: str, target: int, params: attr.Params, seed: int, methods: tuple, _net, _xs,
           _targets):
    return attr.cascading_randomisation(_net, _xs, _targets, params, methods=methods, seed=seed)


@st.cache_resource(show_spinner="Checking which methods apply to this model...", max_entries=16)
def explainability(model_key: str, _model, _card) -> attr.Explainable:
    """Which methods apply to the model (cached by its key: one forward pass and a Grad-CAM try)."""
    return attr.explainability(ui.copy_model(_model).eval(), _card)


@dataclass
class Subject:
    """The classifier to explain: a private copy (captum adds hooks), its cache key, card, class names, input
    shape, and its validation set when the data it learned is known."""
    net: torch.nn.Module
    key: str
    card: dict
    names: list[str]
    channels: int
    size: int
    dataset: str | None
    val: object | None
    methods: tuple = attr.METHODS
    left_out: dict | None = None
    source: str = "shipped"
    label: str = ""


@dataclass
class Shown:
    """The image being explained (a batch of one) and where it came from."""
    x: torch.Tensor
    idx: int
    true_label: int | None
    key: str
    title: str
    photo: str | None = None       # a bundled photo's name (None: a validation image or an upload)


def choose_model() -> Subject:
    st.sidebar.header("Model")
    picked = ui.model_picker("attr", list(SHIPPED), run_key="clf", label="Classifier", prefer_run=False)
    if picked is None:
        st.info("Upload a dlviz checkpoint (.pt) of an image classifier in the sidebar.", icon=":material/upload:")
        st.stop()
    model, card = picked.model, picked.card
    if picked.source == "shipped":
        dataset, names = SHIPPED[picked.label]
    elif picked.source == "trained":   # the Train a classifier page's run: its card says what it learned
        names = list(card.get("class_names", []))
        dataset = "food shapes" if card.get("dataset") == "food shapes" else None
    else:
        dataset, names = None, None

    try:
        ex = explainability(picked.key, model, card)
    except attr.NotExplainable as e:    # a model of another kind: say which models the page explains, and why
        st.error(f"**{picked.label}** cannot be explained here. {e} The methods score input pixels by how much they "
                 "move one class's logit, so they need both pixels and class logits.", icon=":material/block:")
        st.stop()
    channels, size, k = ex.channels, ex.size, ex.n_classes
    names = names if names and len(names) == k else [f"class {i}" for i in range(k)]
    val = validation_images(dataset, size, channels) if dataset is not None else None
    net = ui.copy_model(model).eval()  # captum adds hooks: never on the shared cached model
    return Subject(net, picked.key, card, names, channels, size, dataset, val, ex.methods, ex.left_out,
                   picked.source, picked.label)


def clamp(key: str, top: int) -> None:
    """Keep a slider's kept value within a maximum that another control just lowered."""
    if st.session_state.get(key, 0) > top:
        st.session_state[key] = top


# ---------------------------------------------------------------- sidebar: image
def choose_image(sub: Subject) -> Shown:
    st.sidebar.header("Image")
    val, names = sub.val, sub.names
    sources = (["validation image"] if val is not None else []) + ["photo or upload"]
    src = st.sidebar.radio("Explain", sources, horizontal=True, key="attr-src", bind="query-params")
    if src == "validation image":
        only_wrong = st.sidebar.toggle("Only misclassified images", False, key="attr-wrong", bind="query-params")
        preds = predictions(sub.key, sub.dataset or "", sub.net, val.images)
        pool = np.nonzero(preds != val.labels.numpy())[0] if only_wrong else np.arange(len(val))
        if len(pool) == 0:
            st.sidebar.success("No misclassified validation image: showing all.")
            pool = np.arange(len(val))
        key = "attr-wrong-idx" if only_wrong else "attr-idx"
        clamp(key, max(1, len(pool) - 1))                   # another model's validation set may be smaller
        pos = st.sidebar.slider("Image", 0, max(1, len(pool) - 1), 0, key=key, bind="query-params",
                                disabled=len(pool) < 2)
        pos = min(pos, len(pool) - 1)
        idx = int(pool[pos])
        true_label = int(val.labels[idx])
        return Shown(val.images[idx:idx + 1], idx, true_label, f"{sub.dataset}-val-{idx}",
                     f"validation #{idx} (true: {names[true_label]})")
    img_name, img = ui.image_input("attr-img", size=sub.size, default="coffee")   # "attr-upload" is the checkpoint
    x = (img.mean(0, keepdim=True) if sub.channels == 1 else img)[None]     # (1, C, S, S)
    return Shown(x, -1, None, f"photo-{img_name}-{hash(x.numpy().tobytes())}", img_name,
                 photo=img_name if img_name in PHOTO_NAMES else None)


# ---------------------------------------------------------------- prediction, target and settings
def choose_target(sub: Subject, shown: Shown) -> tuple[int, torch.Tensor, int]:
    """``(target class, class probabilities, predicted class)``."""
    with torch.no_grad():
        probs = torch.softmax(sub.net(shown.x), 1)[0]
    pred = int(probs.argmax())
    st.sidebar.header("Explain which class")
    names = sub.names
    if st.session_state.get("attr-target-for") not in (None, shown.key):    # a new image: explain its prediction
        st.session_state["attr-target"] = pred
    st.session_state["attr-target-for"] = shown.key
    target = st.sidebar.selectbox("Target class", list(range(len(names))), index=pred, key="attr-target",
                                  format_func=lambda i: f"{names[i]}{' (predicted)' if i == pred else ''}",
                                  bind="query-params")
    return target, probs, pred


def method_settings(size: int) -> tuple[attr.Params, float]:
    """The methods' parameters and the image opacity under the maps."""
    q = {"bind": "query-params"}
    with st.expander("Method settings", icon=":material/tune:"):
        s1, s2, s3, s4 = st.columns(4)
        ig_steps = s1.select_slider("IG steps", [4, 8, 16, 32, 50, 100, 200], 50, key="attr-igsteps", **q)
        baseline = s1.selectbox("Baseline x' (IG, Occlusion)", attr.BASELINES, key="attr-baseline", **q)
        sg_samples = s2.slider("SmoothGrad samples", 4, 64, 25, key="attr-sgn", **q)
        sg_noise = s2.slider("SmoothGrad noise (fraction of range)", 0.0, 0.5, 0.15, 0.05, key="attr-sgs", **q)
        clamp("attr-occw", max(3, size // 2))                  # the bounds follow the model's image size
        clamp("attr-occs", max(2, size // 4))
        occ_window = s3.slider("Occlusion patch", 2, max(3, size // 2), min(6, max(2, size // 2)), key="attr-occw", **q)
        occ_stride = s3.slider("Occlusion stride", 1, max(2, size // 4), min(3, max(1, size // 4)), key="attr-occs", **q)
        overlay = s4.slider("Show the image under the maps", 0.0, 0.8, 0.0, 0.1, key="attr-overlay", **q)
        params = attr.Params(ig_steps=ig_steps, baseline=baseline, sg_samples=sg_samples, sg_noise=sg_noise,
                             occ_window=occ_window, occ_stride=occ_stride)
        w, s = attr.occlusion_window(params, size)
        if (w, s) != (occ_window, occ_stride):
            s3.caption(f"Occlusion uses a {w}-px patch with stride {s}: a stride larger than the patch would leave "
                       "pixels that no patch covers (and no score)." if s != occ_stride else
                       f"Occlusion uses a {w}-px patch: the image is {size} px.")
    return params, overlay


# ---------------------------------------------------------------- the maps and IG's completeness
def explain(sub: Subject, shown: Shown, target: int, probs: torch.Tensor, pred: int, params: attr.Params,
            overlay: float) -> None:
    maps, times = maps_for(sub.key, shown.key, target, params, sess.seed, sub.methods, sub.net, shown.x)
    comp = completeness(sub.key, shown.key, target, params.ig_steps, params.baseline, sub.net, shown.x)

    c_img, c_probs = st.columns([1, 2])
    with c_img:
        st.image(np.repeat(np.repeat(to_hwc(shown.x[0]), max(1, 160 // sub.size), 0), max(1, 160 // sub.size), 1),
                 caption=shown.title, width=200)
        share.image_download(lambda: to_hwc(shown.x[0]), f"attribution-input-{shown.title}", key="attr-input")
        st.caption(f"Model: {sub.card.get('summary', sub.key)}")
    with c_probs:
        ui.show(ui.cached_figure("probs", (sub.key, shown.key, target), lambda: aplots.probs_figure(probs, sub.names, target)),
                key="attr-probs")
        verdict = "correct" if shown.true_label is not None and pred == shown.true_label else "wrong" if shown.true_label is not None else ""
        st.caption(f"Predicted **{sub.names[pred]}** ({float(probs[pred]):.0%}){f', which is {verdict}' if verdict else ''}. "
                   f"Explaining the logit of **{sub.names[target]}**.")

    maps_fig = ui.cached_figure("maps", (sub.key, shown.key, target, params, sess.seed, overlay, sub.methods),
                             lambda: aplots.maps_figure(shown.x[0], maps, attr.SIGNED, overlay=overlay, height=260))
    ui.show(maps_fig, key="attr-maps")
    share.figure_csv_download(maps_fig, f"attribution-maps-{sub.names[target]}", key="attr-maps", label="Maps (CSV)")
    magnitude = [m for m in sub.methods if not attr.SIGNED[m]]
    st.caption("Red/blue (IG, Occlusion): the pixel raised/lowered the logit of the target class. Inferno "
               f"({', '.join(magnitude)}): magnitude only. Each map is scaled to its own 99.5th percentile. "
               + " · ".join(f"{m}: {1000 * s:.0f} ms" for m, s in times.items()))
    for m, why in (sub.left_out or {}).items():
        st.info(f"**{m}** is not offered for this model: {why}.", icon=":material/info:")

    st.subheader("Integrated Gradients: completeness")
    q1, q2, q3, q4 = st.columns(4)
    q1.metric("Σ attributions", f"{comp.sum_attributions:.4f}", help="Sum of the IG scores over all pixels and channels.")
    share.notebook(page="attribution", label="the sum of the Integrated Gradients attributions",
                   shown=f"{comp.sum_attributions:.4f}", body=snippet(sub, shown, target, params), key="attribution-nb")
    q2.metric("f(x) − f(x')", f"{comp.difference:.4f}", help=f"Target logit on the image minus on the {params.baseline} baseline.")
    q3.metric("Gap", f"{comp.gap:+.4f}", help="Zero for the exact path integral; the Riemann/Gauss sum leaves an error.")
    q4.metric("Relative gap", f"{comp.relative_gap:.2%}", help=f"With {params.ig_steps} steps (Gauss-Legendre).")
    st.caption("Sundararajan et al. (2017): the attributions must add up to the change of the output between the baseline "
               "and the image. Fewer steps approximate the integral worse -- try 4.")
    share.csv_download("Completeness (CSV)", lambda: [{
        "model": sub.label, "image": shown.title, "target": sub.names[target], "ig_steps": params.ig_steps,
        "baseline": params.baseline, "sum_attributions": comp.sum_attributions, "f_x": comp.output,
        "f_baseline": comp.baseline_output, "gap": comp.gap, "relative_gap": comp.relative_gap}],
        "attribution-completeness", key="attr-completeness")


def snippet(sub: Subject, shown: Shown, target: int, params: attr.Params) -> str:
    """The notebook lines for Σ attributions of the image and class shown."""
    import re

    if sub.source == "shipped":
        source, name = "shipped", sub.label
    else:   # "Download this model" names the file attr_<arch>_<steps>steps.pt; an upload keeps its name
        name = (re.sub(r"[^A-Za-z0-9_-]+", "_", f"attr_{sub.card.get('arch', 'model')}_{sub.card.get('steps', 0)}steps")
                + ".pt") if sub.source == "trained" else sub.label
        source = "file"
    image = "validation" if shown.idx >= 0 else (f"photo:{shown.photo}" if shown.photo else f"file:{shown.title}")
    return aviews.completeness_snippet(model_source=source, model_name=name, dataset=sub.dataset, image=image,
                                       index=shown.idx, size=sub.size, channels=sub.channels, target=target,
                                       steps=params.ig_steps, baseline=params.baseline)


# ---------------------------------------------------------------- sanity check
@st.fragment
def sanity_check(sub: Subject, shown: Shown, target: int, params: attr.Params) -> None:
    st.header("The sanity check: randomise the model, layer by layer")
    st.markdown("Following Adebayo et al. (2018), the layers are re-initialised **cumulatively from the output down**; "
                "after each step every method is run again and its map compared with the original by **Spearman rank "
                "correlation** (of magnitudes), averaged over this image and three more. A map that stays similar while "
                "the model is destroyed is showing the *image* (edges, colours), not what the model computes.")
    n_layers = len(attr.randomisable_layers(sub.net))
    run_check = st.toggle(f"Run the sanity check ({n_layers} layers, {len(sub.methods)} methods)", key="attr-sanity",
                          help="Takes a few seconds the first time; cached afterwards.", bind="query-params")
    if run_check:
        xs, targets = shown.x, torch.tensor([target])
        val = sub.val
        if val is not None:
            others = [int(j) for j in np.random.default_rng(0).choice(len(val), 4, replace=False) if j != shown.idx][:3]
            extra = val.images[others]
            with torch.no_grad():
                extra_t = sub.net(extra).argmax(1)
            xs, targets = torch.cat([shown.x, extra]), torch.cat([targets, extra_t])
        res = sanity(sub.key, shown.key, target, params, sess.seed, sub.methods, sub.net, xs, targets)
        threshold = st.slider("Pass when the final rank correlation is below", 0.1, 0.9, 0.5, 0.05, key="attr-thr",
                              bind="query-params")
        passes = attr.verdict(res, threshold)
        cols = st.columns(len(sub.methods))
        for col, m in zip(cols, sub.methods):
            col.metric(m, f"{res.final(m):.2f}", "passes" if passes[m] else "fails",
                       delta_color="normal" if passes[m] else "inverse", delta_arrow="off",
                       help="Mean Spearman correlation with the original map once every layer is re-initialised.")
        sanity_key = (sub.key, shown.key, target, params, sess.seed)
        curves = ui.cached_figure("curves", (*sanity_key, threshold, sub.methods),
                               lambda: aplots.sanity_curves_figure(res.layers, res.correlation, threshold))
        ui.show(curves, key="attr-sanity-curves")
        share.figure_csv_download(curves, "attribution-sanity-check", key="attr-sanity-curves")
        magnitudes = {m: False for m in sub.methods}  # the check compares magnitude maps
        ui.show(ui.cached_figure("grid", (*sanity_key, sub.methods),
                              lambda: aplots.sanity_grid_figure(res.maps, res.layers, magnitudes)),
                key="attr-sanity-grid")
        st.caption("Rows: methods. Columns: the intact model, then one more layer re-initialised per column (left to "
                   "right, from the output towards the input). Grey: a constant map (Grad-CAM is all zero when no "
                   "channel has positive evidence left).")
    else:
        st.caption("Switch the toggle on to run it.")


def try_this() -> None:
    ui.try_this([
        "Run the sanity check on **food_cnn**: which method's map barely changes when every weight is random? "
        "(Hint: look at SmoothGrad and compare the last column with the image.)",
        "Set **IG steps** to 4 and read the completeness gap; then 200.",
        "Explain a class the model did *not* predict: does Grad-CAM find the hotdog in a donut image?",
        "Switch to **food_lenet5** and tick *Only misclassified images*: do the maps show *why* it was wrong?",
        "Change the IG baseline from black to blurred: which parts of the map survive?",
        "Upload your own photo: the model only knows 10 foods at 32x32 -- what does it latch on to?",
    ])


subject = choose_model()
shown = choose_image(subject)
target, probs, pred = choose_target(subject, shown)
params, overlay = method_settings(subject.size)
explain(subject, shown, target, probs, pred, params, overlay)
sanity_check(subject, shown, target, params)
try_this()
