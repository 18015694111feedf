"""Train a classifier: the first coursework's loop -- data, architecture, loss, optimiser, schedule and
augmentation in the sidebar; train live; read the confusion matrix, the confident mistakes and the
feature embedding of what the model learned."""

from __future__ import annotations

import numpy as np
import share
import streamlit as st
import torch

import ui
from dlviz.augmentation.core import AUGMENTATIONS, Aug, describe
from dlviz.classifier import captions as C
from dlviz.classifier import core as clf
from dlviz.classifier import plots as cplots
from dlviz.classifier import views as cviews
from dlviz.classifier.training import make_trainer
from dlviz.data import FOOD_CLASSES, DataError
from dlviz.imaging import png_bytes, tile, to_uint8
from dlviz.metrics import predict
from dlviz.models.cnn import ACTIVATIONS
from dlviz.plotting import to_hwc

PAGE_INFO = {
    "title": "Train a classifier",
    "icon": ":material/model_training:",
    "section": "Classifier lab",
    "order": 20,
    "question": "Which classes does my CNN confuse, how confidently, and where do its features overlap?",
    "thumbnail": "dlviz.classifier.core:thumbnail",
}

ui.page_header(PAGE_INFO, C.INTRO)
sess = ui.session()
SHIPPED = {"shipped food_lenet5 (mid-training)": "food_lenet5", "shipped food_cnn (fully trained)": "food_cnn"}

Data = cviews.Data


@st.cache_resource(show_spinner="Loading images...", max_entries=4)
def get_data(source: str, n_train: int, seed: int, folder: str, zip_id: str, val_fraction: float,
             _raw: bytes | None) -> clf.DataSplit:
    """Shared and read-only: cache_resource avoids copying tens of MB of images on every rerun."""
    if _raw is not None:
        data = clf.image_folder_from_zip(_raw)
        return clf.folder_split(data, val_fraction, seed)
    return clf.load_data(source, n_train=n_train, n_val=1000, seed=seed, folder=folder, val_fraction=val_fraction)


@st.cache_resource(show_spinner=False, max_entries=24)
def _pngs(key: tuple, _images: torch.Tensor, scale: int) -> list[bytes]:
    return [png_bytes(to_uint8(im), scale) for im in _images]


def image_strip(key: tuple, images: torch.Tensor, captions: list[str], scale: int = 3, width: int = 84) -> None:
    """Small images with captions, upscaled with nearest neighbour so pixels stay crisp. The PNGs are cached
    under ``key`` (a rerun re-sends bytes instead of re-encoding), and st.image is far cheaper than a plotly
    subplot grid."""
    st.image(_pngs(key, images, scale), caption=captions, width=width)


@st.cache_data(show_spinner="Evaluating on the validation images...", max_entries=6)
def evaluate(_model, model_key: str, data_key: tuple, _val) -> clf.Results:
    return clf.evaluate(_model, _val)


@st.cache_data(show_spinner=False, max_entries=6)
def pca(model_key: str, data_key: tuple, _features) -> np.ndarray:
    return clf.embed_pca(_features)


@st.cache_data(show_spinner=False, max_entries=12)
def agreement(model_key: str, data_key: tuple, kind: str, _points, _labels) -> float:
    return clf.neighbour_agreement(_points, _labels)


# ---------------------------------------------------------------- 1. sidebar: data
def choose_data() -> Data:
    st.sidebar.header("Data")
    local_sets = clf.local_torchvision_sets("data")
    sources = ["food shapes", "digits", *local_sets, "image folder"]
    source = st.sidebar.selectbox("Dataset", sources, key="clf-source", bind="query-params",
                                  help="MNIST, FashionMNIST and CIFAR10 appear when they are in ./data (never "
                                       "downloaded).")
    n_train, folder, upload, val_fraction = 4000, "", None, 0.2
    if source == "food shapes":
        n_train = st.sidebar.select_slider("Training images", [250, 500, 1000, 2000, 4000, 8000], 4000, key="clf-n",
                                           bind="query-params")
    elif source in local_sets:
        n_train = st.sidebar.select_slider("Training images", [1000, 2000, 5000, 10000, 20000], 5000, key="clf-n-tv",
                                           bind="query-params")
    elif source == "image folder":
        folder = st.sidebar.text_input("Folder (one sub-folder per class)", key="clf-folder", bind="query-params",
                                       placeholder="~/Pictures/food",
                                       help="e.g. food/hotdog/*.jpg, food/pizza/*.jpg")
        upload = st.sidebar.file_uploader("...or upload the folder as a .zip", type=["zip"], key="clf-zip")
        val_fraction = st.sidebar.slider("Validation fraction", 0.1, 0.5, 0.2, 0.05, key="clf-valfrac",
                                         bind="query-params")
    zip_id = f"{upload.name}:{upload.size}:{upload.file_id}" if upload is not None else ""
    key = (source, n_train, sess.seed, folder.strip(), zip_id, val_fraction)
    if source == "image folder" and not folder.strip() and upload is None:
        return Data(source, key, None, "Enter the path of a folder with one sub-folder per class, or upload it as "
                                       "a .zip.")
    try:
        return Data(source, key, get_data(*key, upload.getvalue() if upload is not None else None), None)
    except DataError as e:
        return Data(source, key, None, str(e))


# ---------------------------------------------------------------- 2. sidebar: model, loss, optimisation
def choose_setup() -> clf.Setup:
    st.sidebar.header("Model")
    arch = st.sidebar.selectbox("Architecture", list(clf.ARCHS), key="clf-arch", bind="query-params",
                                help="All take 32x32 inputs; see the Architectures page for their layer tables.")
    activation = st.sidebar.selectbox("Activation", list(ACTIVATIONS), key="clf-act", bind="query-params")
    st.sidebar.header("Loss")
    loss = st.sidebar.selectbox("Loss", clf.LOSSES, key="clf-loss", bind="query-params")
    smoothing = (st.sidebar.slider("Label smoothing eps", 0.0, 0.5, 0.1, 0.05, key="clf-eps", bind="query-params")
                 if loss == "label smoothing" else 0.1)
    gamma = st.sidebar.slider("Focal gamma", 0.0, 5.0, 2.0, 0.5, key="clf-gamma",
                                                bind="query-params") if loss == "focal" else 2.0
    st.sidebar.header("Optimisation")
    hp = ui.hyperparameters("clf", lr=3e-3, steps=800, batch_size=64, optimizer="Adam")
    schedule = st.sidebar.selectbox("Schedule", clf.SCHEDULES, index=clf.SCHEDULES.index("one-cycle"),
                                    key="clf-sched", bind="query-params")
    st.sidebar.header("Augmentation")
    page_spec: tuple[Aug, ...] | None = st.session_state.get("aug-spec")  # the Data augmentation page's pipeline
    use_page = page_spec is not None and st.sidebar.toggle(
        "Use the pipeline from *Data augmentation*", key="clf-use-aug-page", bind="query-params", help=describe(page_spec or ()))
    if use_page:
        augment = page_spec
        st.sidebar.caption(describe(augment))
    else:
        picked = st.sidebar.multiselect("Augmentations (default settings)", list(AUGMENTATIONS), key="clf-aug", bind="query-params",
                                        format_func=lambda n: AUGMENTATIONS[n].label,
                                        help="Tune each one on the Data augmentation page.")
        augment = tuple(Aug(n) for n in picked)
    return clf.Setup(arch=arch, activation=activation, loss=loss, smoothing=smoothing, gamma=gamma,
                     optimizer=hp.optimizer, lr=hp.lr, weight_decay=hp.weight_decay, schedule=schedule,
                     steps=hp.steps, batch_size=hp.batch_size, augment=augment, seed=sess.seed,
                     eval_every=max(10, hp.steps // 20))


# ---------------------------------------------------------------- 3. sidebar: train
def train(setup: clf.Setup, data: Data) -> None:
    def start_training():
        if data.split is None:
            raise DataError(data.error or "no data")
        card = {"dataset": data.source, "data_key": data.key, "arch": setup.arch,
                "class_names": list(data.split.class_names)}
        return make_trainer(setup, data.split, device=sess.device, name=setup.arch), card

    ui.training_panel("clf", start_training)
    if data.split is None:
        st.error(data.error, icon=":material/folder_off:")
        st.stop()


# ---------------------------------------------------------------- 4. the data and the set-up
def data_and_setup(setup: clf.Setup, data: Data) -> None:
    split = data.split
    st.caption(C.data_caption(split.train.name or data.source, split.note, split.train.num_classes, split.train.shape))
    with st.expander("Data, schedule and augmentation", icon=":material/tune:"):
        d1, d2 = st.columns([3, 2])
        with d1:
            first = C.first_of_each_class(split.val.labels, split.val.num_classes)
            image_strip(("samples", data.key), split.val.images[first],
                        [split.class_names[int(split.val.labels[i])] for i in first], width=80)
            share.image_download(lambda: tile(split.val.images[first], ncol=10, pad=2), "classifier-samples",
                                 "clf-samples", label="These images (PNG)")
        with d2:
            sched = cplots.schedule_figure(clf.lr_curve(setup.schedule, setup.steps, setup.lr),
                                           f"{setup.schedule} schedule, peak lr {setup.lr:g}")
            ui.show(sched, key="clf-schedule")
            share.figure_csv_download(sched, f"classifier-{setup.schedule}-schedule", "clf-schedule")
            st.caption(f"Augmentation: {describe(setup.augment)}. Loss: {setup.loss}.")

    def live(r) -> None:             # accuracy on an axis that spans [0, 1] from the first step
        ui.show(cplots.curves_figure({"": r.trainer.history()}, (("train_acc", "val_acc"),), height=260),
                key="clf-live-acc")

    ui.training_monitor("clf", metrics=("loss",), live=live)


# ---------------------------------------------------------------- 5. which model to read
def choose_model(data: Data) -> ui.Picked:
    split = data.split
    # the shipped models are always offered (a link names one whatever the data); they read only food shapes
    fits_shipped = data.source == "food shapes" and split.train.shape == C.SHIPPED_SHAPE
    run = ui.get_run("clf")
    if run is not None and run.trainer.step > 0 and run.card.get("data_key") != data.key:
        st.caption(C.other_data_caption(run.card.get("dataset", "?")))
    st.header("What the model gets wrong")
    picked = ui.model_picker("clf", SHIPPED, run_key="clf", label="Results of", container=st.container(),
                             accept_run=lambda r: r.card.get("data_key") == data.key)
    if picked is None:
        st.info("Train a model in the sidebar to see its confusion matrix, mistakes and features here.",
                icon=":material/play_arrow:")
        st.stop()
    if picked.source == "shipped" and not fits_shipped:
        st.info(C.not_food_shapes(data.source), icon=":material/swap_horiz:")
        st.stop()
    c, h, w = split.val.shape
    try:
        k = predict(picked.model, split.val.images[:2]).shape[1]
    except Exception as e:  # noqa: BLE001 - an uploaded model for other images must not crash the page
        st.error(f"This model cannot classify {c}x{h}x{w} images: {e}", icon=":material/error:")
        st.stop()
    if k != split.val.num_classes:
        st.error(f"This model has {k} outputs; the data has {split.val.num_classes} classes.", icon=":material/error:")
        st.stop()
    return picked


# ---------------------------------------------------------------- 6. the numbers
def headline(picked: ui.Picked, data: Data) -> clf.Results:
    res = evaluate(picked.model, picked.key, data.key, data.split.val)
    names = res.class_names
    model_note = cviews.model_note(picked.source, picked.card, SHIPPED.get(picked.label, picked.label))
    for col, (label, value, delta, help_) in zip(st.columns(4), C.headline_metrics(res, model_note)):
        if delta is None:
            col.metric(label, value, help=help_)
        else:
            col.metric(label, value, delta, delta_color="off", delta_arrow="off")
    st.caption(f"Model: {model_note}.")
    share.notebook(page="classifier", label=f"validation accuracy of {picked.label}", shown=f"{res.accuracy:.1%}",
                   key="clf-nb", body=cviews.accuracy_snippet(cviews.snippet_model(picked.source, picked.key, picked.card, picked.label),
                                                cviews.snippet_data(data.key)))
    if picked.source == "trained":
        trouble = clf.run_trouble(ui.get_run("clf").trainer.history(), 1 / len(names))
        if trouble:
            st.warning(f"This run went wrong: {trouble}.", icon=":material/trending_up:")
        curves = cplots.curves_figure({"": ui.get_run("clf").trainer.history()})
        ui.show(curves, key="clf-curves")
        share.figure_csv_download(curves, "classifier-training-curves", "clf-curves")
        st.caption(C.CURVES)
    return res


# ---------------------------------------------------------------- 7. confusion matrix, per class
def confusion(picked: ui.Picked, data: Data, res: clf.Results) -> None:
    names, model_key = res.class_names, picked.key
    cm_col, pc_col = st.columns([3, 2])
    cell_key = f"clf-cell-{model_key}"
    cell = st.session_state.get(cell_key, C.default_cell(res.confusion))
    with cm_col:
        normalise = st.toggle("Colour by row rate (else by count)", True, key="clf-cm-norm", bind="query-params")
        cm_fig = ui.cached_figure("cm", (model_key, data.key, normalise, cell),
                               lambda: cplots.confusion_figure(res.confusion, names, normalise, selected=cell))
        event = ui.show(cm_fig, key=f"clf-cm-{model_key}", on_select="rerun", selection_mode="points")
        pts = (event.selection.points if event is not None and event.selection else []) or []
        if pts:
            new = (int(round(pts[0]["y"])), int(round(pts[0]["x"])))
            if new != cell:
                st.session_state[cell_key] = cell = new
                st.rerun()
    with pc_col:
        ui.show(ui.cached_figure("perclass", (model_key, data.key),
                              lambda: cplots.per_class_figure(res.per_class_accuracy, names,
                                                              height=max(260, 28 * len(names) + 60))),
                key="clf-perclass")
        tops = res.top_confusions(3)
        if tops:
            st.markdown(C.most_confused(tops))
        share.csv_download("Confusion matrix (CSV)", lambda: cviews.confusion_rows(res), "classifier-confusion",
                           "clf-cm")
        share.csv_download("Every prediction (CSV)", lambda: cviews.prediction_rows(res), "classifier-predictions",
                           "clf-preds")

    true_c, pred_c = cell
    idx = res.cell(true_c, pred_c)
    st.subheader(C.cell_title(names[true_c], names[pred_c], len(idx), true_c == pred_c))
    if len(idx):
        show_idx = idx[:20]
        image_strip(("cell", model_key, data.key, cell), data.split.val.images[show_idx],
                    [f"{float(res.probs[i, pred_c]):.0%}" for i in show_idx])
        share.image_download(lambda: tile(data.split.val.images[show_idx], ncol=10, pad=2),
                             f"classifier-true-{names[true_c]}-predicted-{names[pred_c]}", "clf-cell",
                             label="These images (PNG)")
        st.caption(C.CELL)
    else:
        st.caption("No validation image falls in this cell. Click a cell with a count.")


# ---------------------------------------------------------------- 8. the most confident mistakes
def confident_mistakes(picked: ui.Picked, data: Data, res: clf.Results) -> None:
    names = res.class_names
    st.subheader("Most confidently wrong")
    wrong = res.confidently_wrong(20)
    if len(wrong):
        image_strip(("wrong", picked.key, data.key), data.split.val.images[wrong],
                    [C.mistake_caption(names[int(res.labels[i])], names[int(res.preds[i])], float(res.confidence[i]))
                     for i in wrong], width=96)
        w1, w2, _ = st.columns(3)
        share.image_download(lambda: tile(data.split.val.images[wrong], ncol=10, pad=2), "classifier-confident-mistakes",
                             "clf-wrong", w1, label="These images (PNG)")
        share.csv_download("Their labels (CSV)", lambda: cviews.prediction_rows(res, wrong), "classifier-confident-mistakes",
                           "clf-wrong", w2)
        st.caption(C.MISTAKES)
    else:
        st.success("No validation image is misclassified.", icon=":material/check_circle:")


# ---------------------------------------------------------------- 9. feature embedding
@st.fragment          # the PCA/UMAP radio reruns only this section, not the page (and its live run's views)
def feature_embedding(picked: ui.Picked, data: Data, res: clf.Results) -> None:
    names, model_key, val = res.class_names, picked.key, data.split.val
    st.subheader("Penultimate-layer features")
    method = st.radio("Embedding", ["PCA", "UMAP"], horizontal=True, key="clf-emb", bind="query-params",
                      help=C.EMBEDDING_HELP)
    points_pca = pca(model_key, data.key, res.features)
    umap_job = None
    if method == "UMAP":
        job_key = (model_key, data.key, sess.seed)
        held = st.session_state.get("clf-umap-job")
        if held is None or held[0] != job_key:
            held = (job_key, clf.UmapJob(res.features.numpy(), seed=sess.seed).start())
            st.session_state["clf-umap-job"] = held
        umap_job = held[1]
    pending = umap_job is not None and not umap_job.done

    @st.fragment(run_every=1.0 if pending else None)
    def embedding_view() -> None:
        pts2, label = points_pca, "PCA"
        if umap_job is not None:
            if umap_job.error:
                st.warning(f"UMAP failed ({umap_job.error}); showing PCA.", icon=":material/warning:")
            elif not umap_job.done:
                st.info("UMAP is computing in the background; PCA is shown until it is ready.",
                        icon=":material/hourglass_top:")
            else:
                pts2, label = umap_job.result, "UMAP"
        emb_fig = ui.cached_figure("embedding", (model_key, data.key, label, sess.seed),
                                lambda: cplots.embedding_figure(pts2, res.labels, res.preds, res.confidence, names,
                                                                label))
        ev = ui.show(emb_fig, key=f"clf-embedding-{label}", on_select="rerun", selection_mode="points")
        a_2d = agreement(model_key, data.key, label, pts2, res.labels.numpy())
        a_full = agreement(model_key, data.key, "features", res.features.numpy(), res.labels.numpy())
        e1, e2, e3 = st.columns([1, 1, 2])
        for col, (lab, value, help_) in zip((e1, e2), C.agreement_metrics(label, a_2d, a_full, res.features.shape[1])):
            col.metric(lab, value, help=help_)
        share.csv_download(f"{label} map (CSV)", lambda: cviews.prediction_rows(res, points=np.asarray(pts2)),
                           f"classifier-{label}-map", f"clf-emb-{label}", e3)
        sel = (ev.selection.points if ev is not None and ev.selection else []) or []
        with e3:
            if sel and "customdata" in sel[0]:
                i = int(sel[0]["customdata"][0])
                st.image(to_hwc(val.images[i]), width=96,
                         caption=f"#{i}: true {names[int(res.labels[i])]}, predicted {names[int(res.preds[i])]} "
                                 f"({float(res.confidence[i]):.0%})")
            else:
                st.caption(C.chance_caption(len(names)))
        if pending and umap_job.done:  # ready: redraw the page once so the polling stops
            st.rerun(scope="app")

    embedding_view()


def try_this() -> None:
    ui.try_this([
        "Train **LeNet-5** with the **sigmoid** activation and plain **SGD**: how long until validation accuracy moves? "
        "Now switch to ReLU.",
        "Use only **250** training images and watch the dashed (train) and solid (validation) curves part; then add "
        "*Random resized crop* and *Horizontal flip* and train again.",
        "Compare **ResNet-14** and **Plain-14** (the same net without skip connections) at learning rate 0.01.",
        "Set the learning rate to **10** with **Adam**: the loss never turns infinite, yet the run ends at chance "
        f"({1 / len(FOOD_CLASSES):.0%} on the food shapes) and the page says so. Then **3** with plain **SGD**: "
        "BatchNorm and the one-cycle warm-up keep the default CNN training. How close does it come to the default "
        "run's validation accuracy?",
        "Train with **label smoothing 0.3**: the accuracy barely changes, but what happens to the confidence of the "
        "mistakes?",
        "Open the UMAP: are the misclassified crosses between two clusters, or deep inside the wrong one?",
    ])


data = choose_data()
setup = choose_setup()
train(setup, data)
data_and_setup(setup, data)
picked = choose_model(data)
results = headline(picked, data)
confusion(picked, data, results)
confident_mistakes(picked, data, results)
feature_embedding(picked, data, results)
try_this()
