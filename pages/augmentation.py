"""Data augmentation: compose torchvision transforms v2 in the sidebar, preview them on dataset images and
photos, and measure their effect -- the same model trained with and without them, side by side."""

from __future__ import annotations

import dataclasses

import share
import streamlit as st

import ui
from dlviz.augmentation import core as augm
from dlviz.augmentation.core import AUGMENTATIONS, Aug
from dlviz.classifier import core as clf
from dlviz.classifier import plots as cplots
from dlviz.classifier.training import make_trainer
from dlviz.data import PHOTO_NAMES
from dlviz.imaging import tile, to_uint8, upscale

PAGE_INFO = {
    "title": "Data augmentation",
    "icon": ":material/auto_awesome_mosaic:",
    "section": "Classifier lab",
    "order": 30,
    "question": "What do random crops, flips, colour jitter and mixup do to the images -- and to validation accuracy?",
    "thumbnail": "dlviz.augmentation.core:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "An **augmentation** is a random change of a training image that should not change its label: the network "
    "sees a new variant every epoch, so it cannot memorise the few images it has. Compose a pipeline of "
    "torchvision **transforms v2** in the sidebar, look at what it does, then **measure** it: the same network, "
    "the same initial weights and the same batches, trained with and without the pipeline."))
sess = ui.session()

@st.cache_resource(show_spinner=False)
def preview_inputs(source: str):
    return augm.preview_images(source)


@st.cache_data(show_spinner=False, max_entries=16)
def make_preview(source: str, image_id: str, spec: tuple, n_variants: int, seed: int, _images, _labels, _names):
    return augm.preview(_images, _labels, spec, n_variants=n_variants, seed=seed, class_names=_names)


@st.cache_resource(show_spinner="Loading images...", max_entries=4)
def exp_data(source: str, n_train: int, seed: int) -> clf.DataSplit:
    return clf.load_data(source, n_train=n_train, n_val=1000, seed=seed)


# ---------------------------------------------------------------- sidebar: the pipeline
def pipeline(box, exp_source: str) -> tuple[Aug, ...]:
    """The pipeline, in ``box``; one per experiment data set (``aug-names-<data>``), so the digits' default can
    leave out the horizontal flip that turns a digit into no digit."""
    box.header("Pipeline")
    slug = exp_source.split()[0]
    order = box.multiselect("Augmentations, applied in this order", list(AUGMENTATIONS),
                            default=list(augm.DEFAULT_PIPELINES[exp_source]), key=f"aug-names-{slug}",
                            bind="query-params", format_func=lambda n: AUGMENTATIONS[n].label,
                            help=f"The pipeline for the {exp_source} experiment (each data set keeps its own). "
                                 "Per-image transforms draw fresh random parameters for every image; "
                                 "MixUp/CutMix then mix the batch (with both, one is picked per batch).")
    if exp_source == "digits" and "hflip" in order:
        box.warning("A mirrored digit is often no digit (2, 3, 4, 7, 9) — or another one: this flip changes labels.",
                    icon=":material/flip:")
    spec: list[Aug] = []
    for name in order:
        info = AUGMENTATIONS[name]
        if not info.params:
            spec.append(Aug(name))
            continue
        with box.expander(info.label, expanded=False):
            st.caption(info.help)
            vals = {}
            for p in info.params:
                is_int = float(p.step).is_integer() and float(p.lo).is_integer()
                if is_int:
                    vals[p.key] = st.slider(p.label, int(p.lo), int(p.hi), int(p.default), int(p.step),
                                            key=f"aug-{name}-{p.key}", bind="query-params")
                else:
                    vals[p.key] = st.slider(p.label, float(p.lo), float(p.hi), float(p.default), float(p.step),
                                            key=f"aug-{name}-{p.key}", bind="query-params")
        spec.append(augm.aug(name, **vals))
    spec_t = tuple(spec)
    st.session_state["aug-spec"] = spec_t  # the Train a classifier page offers this pipeline too
    box.caption(f"**Pipeline:** {augm.describe(spec_t)}")
    return spec_t


# ---------------------------------------------------------------- 1. preview
@st.fragment
def what_it_does(spec_t: tuple[Aug, ...]) -> None:
    st.header("1 · What the pipeline does")
    p1, p2, p3 = st.columns([2, 1, 1])
    source = p1.radio("Preview on", ["food shapes", "digits", "a photo"], horizontal=True, key="aug-src",
                       bind="query-params")
    n_variants = p2.slider("Variants per image", 3, 10, 7, key="aug-nv", bind="query-params")
    if "aug-seed" not in st.session_state:
        st.session_state["aug-seed"] = sess.seed
    p3.number_input("Preview seed", 0, 10**6, key="aug-seed", bind="query-params",
                    help="The same seed draws the same variants.")
    p3.button("New draw", icon=":material/casino:", key="aug-redraw",
              on_click=lambda: st.session_state.update({"aug-seed": int(st.session_state["aug-seed"]) + 1}))
    seed = int(st.session_state["aug-seed"])
    if source == "a photo":
        img_name, img = ui.image_input("aug", size=128, container=st.container())
        images, labels, names = img[None], None, [img_name]
    else:
        images, labels, names = preview_inputs(source)
    image_id = source if source != "a photo" else f"{names[0]}-{hash(images.numpy().tobytes())}"
    try:
        prev = make_preview(source, image_id, spec_t, n_variants, seed, images, labels, names)
    except (ValueError, RuntimeError) as e:
        st.error(f"This pipeline cannot run on these images: {e}", icon=":material/error:")
        st.stop()
    scale = max(1, 96 // images.shape[-1])
    for r in range(prev.images.shape[0]):
        pics = [upscale(px, scale) for px in to_uint8(prev.images[r])]         # (H*s, W*s, 3) uint8 each
        caps = ["original"] + [augm.label_text(lab, prev.class_names) if labels is not None else f"variant {v}"
                               for v, lab in enumerate(prev.labels[r, 1:], 1)]
        st.image(pics, caption=caps, width=96 if images.shape[-1] <= 96 else 128)
    change = augm.mean_change(prev)
    st.caption(f"Column 1 is the original; the others are independent draws. Mean absolute pixel change "
               f"{change:.3f} (on a 0-1 scale). MixUp/CutMix captions give the mixed label.")
    d1, d2, d3 = st.columns([1, 1, 2])
    share.image_download(lambda: tile(prev.images, pad=2), f"augmentation-{source}-seed{seed}", "aug-preview", d1,
                         label="All variants (PNG)")
    share.csv_download("Every variant (CSV)", lambda: augm.preview_rows(prev), f"augmentation-{source}-seed{seed}",
                       "aug-preview", d2)
    with d3:
        share.notebook(page="augmentation", label="mean absolute pixel change of the preview", shown=f"{change:.3f}",
                       key="aug-nb", body=augm.preview_snippet(source, spec_t, n_variants, seed,
                                                               photo=names[0] if source == "a photo" and
                                                               names[0] in PHOTO_NAMES else None))


# ---------------------------------------------------------------- 2. the measured effect
def n_train_images(exp_source: str, n_train: int) -> int:
    """How many training images the experiment trains on: the food-shapes slider, or the digits' split (counted)."""
    return n_train if exp_source == "food shapes" else len(exp_data(exp_source, n_train, sess.seed).train.labels)


def experiment_data(box) -> str:
    box.header("Experiment")
    return box.selectbox("Data", ["food shapes", "digits"], key="aug-exp-data", bind="query-params")


def does_it_help(box, exp_source: str, spec_t: tuple[Aug, ...]) -> None:
    st.header("2 · Does it help? Train with and without")
    n_train = box.select_slider("Training images", [100, 250, 500, 1000, 2000, 4000], 500, key="aug-exp-n",
                                disabled=exp_source != "food shapes", bind="query-params",
                                help="Augmentation matters most when images are few.")
    arch = box.selectbox("Architecture", list(clf.ARCHS), key="aug-exp-arch", bind="query-params")
    hp = ui.hyperparameters("aug", lr=3e-3, steps=600, batch_size=64, optimizer="Adam", container=box)

    def start_experiment():
        data = exp_data(exp_source, n_train, sess.seed)
        base = clf.Setup(arch=arch, optimizer=hp.optimizer, lr=hp.lr, weight_decay=hp.weight_decay,
                         steps=hp.steps, batch_size=hp.batch_size, seed=sess.seed,
                         eval_every=max(10, hp.steps // 20))
        with_aug = dataclasses.replace(base, augment=spec_t)
        card = {"spec": augm.describe(spec_t), "data": (exp_source, len(data.train.labels)), "arch": arch,
                "classes": len(data.class_names)}
        # the same seed: identical initial weights and identical batches -- only the augmentation differs
        return {"without": make_trainer(base, data, device=sess.device, name="without"),
                "with": make_trainer(with_aug, data, device=sess.device, name="with")}, card

    run = ui.training_panel("aug", start_experiment, label="Train both", container=box)
    ui.training_monitor("aug", metrics=("val_acc", "train_acc", "loss"), log_y=False)

    if run is None:
        st.info(f"**Train both** (sidebar) trains a {arch} twice on {n_train_images(exp_source, n_train):,} "
                f"{exp_source} images: once plain, once with *{augm.describe(spec_t)}*. Both start from the same "
                "weights and see the same batches; only the augmentation differs.", icon=":material/science:")
        return
    exp = run.card
    hist = {name: t.history() for name, t in run.trainers.items()}
    done = {name: t.step for name, t in run.trainers.items()}
    st.caption(f"Run: {exp['arch']} on {exp['data'][0]} ({exp['data'][1]:,} training images), with = "
               f"*{exp['spec']}*. Steps done: " + ", ".join(f"{n} {s}" for n, s in done.items()) + ".")
    val = augm.compare_at_equal_steps(hist, "val_acc", done)
    tr = augm.compare_at_equal_steps(hist, "train_acc", done)
    if val is None:
        st.info("The two runs have no evaluation step in common yet, so they cannot be compared"
                + (": train longer." if not run.active else " (they are training)."), icon=":material/balance:")
        return
    final, at = val.values, val.step
    for n, t in run.trainers.items():
        trouble = clf.run_trouble(t.history(), 1 / exp.get("classes", 10))
        if trouble:
            st.warning(f"The run **{n}** went wrong: {trouble}.", icon=":material/trending_up:")
    e1, e2, e3 = st.columns(3)
    e1.metric(f"Validation accuracy, without (step {at})", f"{final['without']:.1%}")
    e2.metric(f"Validation accuracy, with (step {at})", f"{final['with']:.1%}",
              f"{100 * (final['with'] - final['without']):+.1f} points",
              help="Positive: the augmentation helped on held-out images. Both runs at the same step.")
    if tr is not None and tr.step == at:
        gap = {n: tr.values[n] - final[n] for n in final}
        e3.metric("Train − validation gap (with / without)", f"{gap['with']:.1%} / {gap['without']:.1%}",
                  help="Training accuracy is measured on un-augmented training images. A smaller gap is less "
                       "over-fitting.")
    if not val.equal_progress:
        st.caption(f"The runs stopped at different steps ({', '.join(f'{n} {s}' for n, s in done.items())}): both are "
                   f"compared at step {at}, the last evaluation both reached.")
    c1, c2 = st.columns([1, 2])
    with c1:
        cmp_fig = cplots.comparison_figure(final, f"Validation accuracy at step {at}")
        ui.show(cmp_fig, key="aug-compare")
    with c2:
        curves = cplots.curves_figure(hist, (("train_acc", "val_acc"),))
        ui.show(curves, key="aug-curves")
    d1, d2, _ = st.columns(3)
    share.figure_csv_download(curves, "augmentation-with-without-curves", "aug-curves", d1, label="Curves (CSV)")
    share.csv_download("Comparison (CSV)", lambda: [{"run": n, "step": at, "val_acc": v, "steps_done": done[n],
                                                     "pipeline": exp["spec"] if n == "with" else "none"}
                                                    for n, v in final.items()], "augmentation-comparison", "aug-cmp", d2)
    st.caption("One run each: differences of a point or two can be noise -- change the global seed and train "
               "again before you believe them.")


def try_this() -> None:
    ui.try_this([
        "With **100** training images, train with *Random resized crop + Horizontal flip*: how many points of validation "
        "accuracy does it buy, and what happens to the train-validation gap?",
        "Add **Vertical flip** and **Rotation 180°**: ice cream cones and tacos have an 'up'. Does accuracy drop?",
        "Turn **Colour jitter** hue to 0.5 on food shapes: a blue watermelon is still a watermelon -- or is it?",
        "Preview **MixUp** with alpha 2 and read the captions: what is a '55% donut + 45% taco' supposed to teach?",
        "Use **4000** images: is augmentation still worth its training time?",
    ])


pipe_box, exp_box = st.sidebar.container(), st.sidebar.container()
exp_source = experiment_data(exp_box)          # first: the pipeline's default depends on the data
spec = pipeline(pipe_box, exp_source)
what_it_does(spec)
does_it_help(exp_box, exp_source, spec)
try_this()
