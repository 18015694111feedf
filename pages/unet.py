"""U-Net segmentation (Ronneberger, Fischer & Brox 2015): per-pixel classes on plates of food and on touching
cells; per-class IoU, boundary F1 and merged objects measured; the U drawn with its tensor shapes (click a
level to see its maps); the border weight map; ablations of the skip connections, of the weight map and
of elastic augmentation; and the same U inside the DDPM's denoiser."""

from __future__ import annotations

import time
import zlib

import numpy as np
import pandas as pd
import share
import streamlit as st
import ui

from dlviz.checkpoints import shipped
from dlviz.classifier.core import run_trouble
from dlviz.data import DataError
from dlviz.unet import core, plots, views
from dlviz.unet.augment import AugSpec
from dlviz.unet.losses import LOSSES
from dlviz.unet.recipes import PLANS, SUMMARY
from dlviz.unet.training import ABLATIONS, DATASETS, LIVE_DEFAULTS, load_data, make_runs, predict_masks

PAGE_INFO = {
    "title": "U-Net segmentation",
    "icon": ":material/grid_view:",
    "section": "CNNs",
    "order": 60,
    "question": "What do a U-Net's skip connections buy, and where does a segmentation go wrong?",
    "thumbnail": "dlviz.unet.views:thumbnail",
}
K = "unet"
AVAILABLE = shipped()
SHIPPED = [n for n in PLANS if n in AVAILABLE]
GROUPS = {"Skip connections (foods, 200 images)": ["unet_foods", "unet_foods_noskip", "unet_foods_notop"],
          "Border weight map (touching cells)": ["unet_cells_wce", "unet_cells_ce"],
          "Elastic deformation (foods, 20 images)": ["unet_foods20", "unet_foods20_elastic"]}

ui.page_header(PAGE_INFO, (
    "**Segmentation** gives every pixel a class. A **U-Net** contracts the image to coarse maps that know *what* "
    "is there, expands them back to full size, and at every level **concatenates** the encoder's sharp map of the "
    "same resolution (a *skip connection*) so the decoder also knows *where* the edges are. Train one here in about "
    "a minute, measure it (IoU, boundary F1, merged objects), and switch the skips off to see what they buy."))


# ---------------------------------------------------------------- sidebar: live training
@st.cache_resource(show_spinner="Drawing the data...", max_entries=8)
def data(key: str, split: str, n: int | None, folder: str | None):
    return load_data(key, split, n, folder=folder)


def sidebar_training():
    st.sidebar.header("Train a U-Net")
    ds = st.sidebar.selectbox("Data", list(DATASETS), format_func=lambda k: DATASETS[k].label, key=f"{K}-data",
                      bind="query-params")
    folder = None
    if ds == "folder":
        folder = st.sidebar.text_input("Folder with images/ and masks/ (same file names)", key=f"{K}-folder", bind="query-params",
                                       placeholder="~/data/plates")
    n_train = st.sidebar.select_slider("Training images", [20, 35, 50, 100, 200, 400], 200, key=f"{K}-n", bind="query-params",
                                       help="The paper trained on 30 images (ISBI 2012) with heavy augmentation.")
    c1, c2 = st.sidebar.columns(2)
    depth = c1.select_slider("Depth (poolings)", [1, 2, 3, 4], 3, key=f"{K}-depth", bind="query-params")
    width = c2.select_slider("Base width", [4, 8, 16, 32], 8, key=f"{K}-width", bind="query-params",
                             help="Channels at full resolution; doubled at every level (capped at 8x).")
    skips = st.sidebar.radio("Skip connections", ["all", "none", "no-top"], horizontal=True, key=f"{K}-skips",
                     bind="query-params")
    loss = st.sidebar.selectbox("Loss", list(LOSSES), format_func=LOSSES.get, key=f"{K}-loss", bind="query-params")
    c1, c2, c3 = st.sidebar.columns([1, 1.2, 1.2])
    flips = c1.checkbox("Flips", True, key=f"{K}-flips", bind="query-params")
    rot = c2.number_input("Rotation ±°", 0, 180, 15, step=5, key=f"{K}-rot", bind="query-params")
    elastic = c3.number_input("Elastic σ px", 0.0, 6.0, 0.0, step=0.5, key=f"{K}-elastic", bind="query-params",
                              help="Random displacements on a 3x3 grid, interpolated bicubically (the paper's sec. 3.1).")
    ablation = st.sidebar.selectbox("Side by side (same seed and data)", ["none", *ABLATIONS], key=f"{K}-ablation", bind="query-params",
                                    format_func=lambda a: {"none": "one run", "skips": "full / no skips / no top skip",
                                                           "weight map": "CE / weighted CE",
                                                           "elastic": "without / with elastic"}[a])
    hp = ui.hyperparameters(K, **LIVE_DEFAULTS)

    def start():
        from dlviz.train import make_optimizer

        if DATASETS[ds].size % 2 ** depth:
            raise DataError(f"A {DATASETS[ds].size}-px image cannot be pooled {depth} times; lower the depth.")
        train, test = data(ds, "train", n_train, folder), data(ds, "test", None, folder)
        runs = make_runs(train, test, depth=depth, base_channels=width, skips=skips, loss=loss,
                         aug=AugSpec(flips, float(rot), float(elastic)), ablation=None if ablation == "none" else ablation,
                         seed=ui.session().seed, steps=hp.steps, batch_size=hp.batch_size, eval_every=max(25, hp.steps // 10),
                         make_optimizer=lambda p: make_optimizer(hp.optimizer, p, hp.lr, hp.weight_decay))
        for t in runs.values():
            t.unet_data = ds, folder
        return runs

    run = ui.training_panel(K, start)
    ui.training_monitor(K, metrics=("loss", "test_mean_iou", "test_boundary_f1"), live=live_view, log_y=False)
    return run


def live_view(r) -> None:
    snap = st.session_state.get(f"{K}-live-snap")
    t = r.trainer
    if snap is None or snap[0] != id(t) or (snap[2] != t.step and (time.time() - snap[1] > 2.0 or not r.active)):
        ds, folder = t.unet_data
        test = data(ds, "test", None, folder)
        rows = [views.to_rgb(test.images[0]), views.color_mask(test.masks[0].numpy())]
        titles = ["test image", "truth"]
        for name, tr in r.trainers.items():
            rows.append(views.color_mask(predict_masks(tr.model_copy(), test.images[:1])[0]))
            titles.append(name or "prediction")
        snap = (id(t), time.time(), t.step, plots.images_figure(rows, titles, height=200))
        st.session_state[f"{K}-live-snap"] = snap
        frames = st.session_state.get(f"{K}-live-frames")
        if frames is None or frames[0] != id(t):
            frames = (id(t), [])
        frames[1].append(views.side_by_side(rows))           # one frame per redraw: the run as it learned
        del frames[1][:-80]
        st.session_state[f"{K}-live-frames"] = frames
    ui.show(snap[3], key=f"{K}-live")
    frames = st.session_state.get(f"{K}-live-frames")
    if not r.active and frames and frames[0] == id(t) and len(frames[1]) > 1:
        share.gif_download(lambda: list(frames[1]), "unet-prediction-during-training", f"{K}-live", scale=3,
                           label="The prediction as it trained (GIF)", frame_ms=250)


# ---------------------------------------------------------------- which model
def choose_model(run):
    st.sidebar.header("Explore")
    live = [f"live:{n}" for n in run.trainers] if run is not None and run.trainer.step > 0 else []
    sources = SHIPPED + live
    if not sources:
        st.error("No U-Net checkpoint is shipped here and no run has trained yet: press **Train** in the sidebar, or "
                 "reproduce one with `python -m dlviz.train unet_foods`.", icon=":material/error:")
        st.stop()
    src = st.sidebar.radio("Model", sources, index=len(SHIPPED) if live else 0,
                           # a new key when live runs appear (selects the run); a stable one for links to shipped models
                           key=f"{K}-src-{zlib.crc32('|'.join(sources).encode())}" if live else f"{K}-src",
                           bind="query-params",
                           format_func=lambda s: f"{s} · {SUMMARY[s]}" if s in SUMMARY else f"my run · {s[5:] or 'live'}")
    if src in SHIPPED:
        model, card = ui.load_shipped(src, expected_arch="seg_unet")
        return model, card, src, PLANS[src].data, None
    tr = run.trainers[src[5:]]
    ds, folder = tr.unet_data
    model, step = tr.model_copy(), tr.step
    card = {"arch": "seg_unet", "data": ds, "steps": step, "summary": f"trained live ({step:,} steps)",
            "trouble": run_trouble(tr.history())}
    ui.download_model(ui.Picked(model, card, "trained", f"run:{run.id}:{src[5:]}@{step}", src), K)
    return model, card, f"live-{id(tr)}-{step}", ds, folder


@st.cache_data(show_spinner="Segmenting the test set...", max_entries=16)
def analyse(mkey: str, ds: str, folder: str | None, _model) -> dict:
    test = data(ds, "test", None, folder)
    pred = predict_masks(_model, test.images)
    r = core.evaluate_masks(pred, test.masks.numpy(), test.instances.numpy(), test.num_classes)
    per_img = [core.mean_iou(p, t, test.num_classes) for p, t in zip(pred, test.masks.numpy())]
    return {"pred": pred, "iou": r.iou, "mean_iou": r.mean_iou, "dice": r.dice, "bf1": r.boundary_f1,
            "merges": r.merges, "pixel_acc": r.pixel_acc, "per_image_iou": np.array(per_img)}


@st.cache_data(max_entries=64, show_spinner=False)
def features(mkey: str, ds: str, folder: str | None, i: int, _model) -> dict:
    return views.level_features(_model, data(ds, "test", None, folder).images[i])


@st.cache_resource(max_entries=32, show_spinner=False)
def u_fig(arch: str, lvl: int | None, _levels: list[dict], in_ch: int, out_label: str, title: str = "", height: int = 340):
    """The U depends on the architecture and the selected level only: built once each (plotly shapes are slow)."""
    return plots.u_figure(_levels, lvl, title=title, in_channels=in_ch, out_label=out_label, height=height)


@st.cache_data(max_entries=64, show_spinner=False)
def weights_of(ds: str, folder: str | None, i: int) -> np.ndarray:
    test = data(ds, "test", None, folder)
    return core.weight_map(test.masks[i].numpy(), test.instances[i].numpy(), test.num_classes)


# ---------------------------------------------------------------- 1. the measurement
def measurements(A: dict, test, card: dict, src: str, ds: str, folder: str | None) -> None:
    st.subheader("1 · How good is the segmentation?")
    if card.get("trouble"):
        st.warning(f"This run went wrong: {card['trouble']}.", icon=":material/trending_up:")
    painted = np.unique(A["pred"])
    if len(painted) == 1:
        st.warning(f"This model paints every test pixel *{test.class_names[int(painted[0])]}*: it has learned only "
                   "that class (a learning rate too high, or too few steps), so the numbers below measure nothing "
                   "else.", icon=":material/format_color_fill:")
    m = A["merges"]
    c = st.columns(4)
    c[0].metric("Mean IoU", f"{A['mean_iou']:.3f}", help="Per-class |P∩T| / |P∪T| over the whole test set, averaged "
                "over the classes present (background included).")
    c[1].metric("Boundary F1", f"{A['bf1']:.3f}", help="Predicted boundary pixels within 1 px of a true boundary "
                "(precision) and vice versa (recall); F1 per foreground class and image, then averaged.")
    c[2].metric("Merged objects", f"{m.merged} of {m.true_objects}", help="True objects that share a connected "
                f"component of the prediction with another object of their class. {m.touching} of the "
                f"{m.true_objects} test objects touch one of their class.")
    c[3].metric("Pixel accuracy", f"{A['pixel_acc']:.1%}", help="Easy to inflate: most pixels are background.")
    ui.show(plots.iou_bars(test.class_names, {"IoU": A["iou"], "Dice": A["dice"]}, height=260), key=f"{K}-iou")
    d1, d2 = st.columns([1, 3])
    share.csv_download("Per class (CSV)", lambda: [{"class": n, "IoU": float(a), "Dice": float(b)}
                                                   for n, a, b in zip(test.class_names, A["iou"], A["dice"])],
                       f"unet-per-class-{src}", f"{K}-iou", d1)
    with d2:
        share.notebook(page="unet", label=f"mean IoU of {src}", shown=f"{A['mean_iou']:.3f}", key=f"{K}-nb",
                       body=views.mean_iou_snippet({"shipped": src} if src in AVAILABLE else
                                                   {"file": f"unet_seg_unet_{card.get('steps', 0)}steps.pt"}, ds, folder))
    cap = (f"Measured on the {len(test)} fixed test images. Dice = 2·IoU/(1+IoU) class by class; "
           f"{m.missed} objects were missed (no predicted component holds most of them).")
    if card.get("metrics"):
        cap += (f" Card of `{src}`: mean IoU {card['metrics']['mean_iou']:.3f}, trained {card.get('steps')} steps on "
                f"{card.get('n_train')} images in {card.get('wall_time_s')} s; reproduce with `{card.get('reproduce')}`.")
    st.caption(cap)


# ---------------------------------------------------------------- 2. predictions, errors, the U and its maps
def explore(model, A: dict, test, mkey: str, ds: str, folder: str | None) -> None:
    st.subheader("2 · Where does it fail? Inside the U")

    @st.fragment
    def _explore() -> None:
        n = len(test)
        order = np.argsort(A["per_image_iou"], kind="stable")
        c1, c2, c3 = st.columns([2, 1.4, 1.4])
        pick = c2.radio("Images", ["in order", "worst first"], horizontal=True, key=f"{K}-order", bind="query-params")
        j = c1.slider("Test image", 0, n - 1, 0, key=f"{K}-img", bind="query-params")
        i = int(order[j]) if pick == "worst first" else j
        names = ["all classes", *test.class_names[1:]]
        cls_name = c3.selectbox("Errors of class", names, key=f"{K}-cls", bind="query-params")
        cls = None if cls_name == "all classes" else test.class_names.index(cls_name)
        pred, true = A["pred"][i], test.masks[i].numpy()
        imgs = [views.to_rgb(test.images[i]), views.color_mask(true), views.color_mask(pred),
                views.error_overlay(test.images[i], pred, true, cls)]
        iou_i = A["per_image_iou"][i]
        ui.show(plots.images_figure(imgs, [f"test image #{i}", "truth", f"prediction (mIoU {iou_i:.2f})",
                                           "errors: red FP · blue FN"], height=250), key=f"{K}-pred")
        share.image_download(lambda: views.side_by_side(imgs), f"unet-{mkey}-test{i}", f"{K}-pred",
                             label="These four (PNG)")
        e = views.error_map(pred, true, cls)
        st.caption(f"Image #{i}: {int((e == 1).sum())} false-positive and {int((e == 2).sum())} false-negative pixels"
                   f" ({cls_name}). Errors hug the boundaries: that is what boundary F1 measures and IoU barely does.")

        levels = model.level_shapes()
        st.markdown("**The U** · click a box (or pick a level) to see that level's feature maps for this image")
        ev = st.session_state.get(f"{K}-u")
        pts = (ev or {}).get("selection", {}).get("points", []) if ev else []
        cd = [p.get("customdata") for p in pts if isinstance(p.get("customdata"), (int, float))]
        if cd and st.session_state.get(f"{K}-u-last") != (mkey, cd[0]):
            st.session_state[f"{K}-u-last"] = (mkey, cd[0])
            st.session_state[f"{K}-level"] = int(cd[0])
        if st.session_state.get(f"{K}-level", 0) > len(levels) - 1:
            st.session_state[f"{K}-level"] = 0
        lvl = st.radio("Level", list(range(len(levels))), horizontal=True, key=f"{K}-level", bind="query-params",
                       format_func=lambda v: f"{v} ({levels[v]['size']}×{levels[v]['size']})")
        ui.show(u_fig(str(model.config), lvl, levels, test.images.shape[1],
                      f"out<br>{test.num_classes}×{test.size}×{test.size}"),
                key=f"{K}-u", on_select="rerun", selection_mode="points")
        F = features(mkey, ds, folder, i, model)
        rows = {f"encoder {lvl}": F["enc"][lvl]}
        if lvl < len(F["dec"]) and F["dec"][lvl] is not None:
            rows[f"decoder {lvl}"] = F["dec"][lvl]
        chans = {k: views.strongest_channels(v, 8) for k, v in rows.items()}
        ui.show(plots.feature_maps_figure(rows, chans), key=f"{K}-maps")
        sharp = {k: views.sharpness(v) for k, v in rows.items()}
        st.caption("The 8 channels with the largest spatial variance of each map, each rescaled to its own range. "
                   "Fine detail (mean difference between neighbouring pixels, in units of each map's standard "
                   "deviation): " + ", ".join(f"{k} {v:.2f}" for k, v in sharp.items()) + ". Encoder maps respond to "
                   "edges and texture; decoder maps turn into class regions. "
                   + ("This level's decoder gets the encoder's map through the skip." if model.has_skip(lvl)
                      else "No skip reaches this level's decoder: it sees only the upsampled coarse maps."
                      if lvl < len(levels) - 1 else "The bottleneck has no decoder twin."))
        wexp = st.expander("The border weight map of this image (the paper's eq. 2)", icon=":material/line_weight:",
                           key=f"{K}-wmap-open", on_change="rerun")     # drawn only while open
        with wexp:
            if wexp.open:
                weight_map(test, ds, folder, i, true)

    _explore()


def weight_map(test, ds: str, folder: str | None, i: int, true: np.ndarray) -> None:
    """Inside the explore section's expander: the paper's eq. 2 weight map of test image ``i``."""
    w = weights_of(ds, folder, i)
    cw, ci = st.columns([3, 2])
    with cw:
        wfig = plots.weight_map_figure(w, "w(x) = w_c(x) + 10·exp(-(d1+d2)²/(2·5²))", height=300)
        ui.show(wfig, key=f"{K}-wmap")
        share.figure_csv_download(wfig, f"unet-weight-map-{ds}-{i}", f"{K}-wmap", label="Weights (CSV)")
    with ci:
        inst = test.instances[i].numpy()
        lines = (true == 0) & (inst > 0)
        st.image(views.color_instances(inst), caption="true instances", width="stretch")
        if lines.any():
            st.caption(f"On the {int(lines.sum())} separating-line pixels the weight averages "
                       f"{w[lines].mean():.1f}; on the rest of the background {w[(true == 0) & ~lines].mean():.2f}. "
                       "Weighted CE pays that much more for painting over the gap between touching objects.")
        else:
            st.caption("No two objects of one class touch here, so the border term only lifts the gaps.")


# ---------------------------------------------------------------- 3. ablations
@st.cache_data(max_entries=64, show_spinner=False)
def shipped_prediction(name: str, i: int) -> np.ndarray:
    mdl, _ = ui.load_shipped(name, expected_arch="seg_unet")
    return predict_masks(mdl, data(PLANS[name].data, "test", None, None).images[i:i + 1])[0]


@st.fragment          # switching a tab reruns only this section, and only the open tab is drawn
def ablations() -> None:
    st.subheader("3 · Ablations, side by side")
    st.markdown("Each group differs in **one** setting; same seed, data, batches and steps. The numbers are each "
                f"checkpoint's card: measured on the fixed test set ({', '.join(sorted({f'{d.n_test} images' for d in DATASETS.values()}))}) when it was trained, re-measured by the "
                "test suite, reproducible with `python -m dlviz.train NAME`. One seed per setting.")
    avail = {g: [n for n in ns if n in AVAILABLE] for g, ns in GROUPS.items()}
    tabs = st.tabs(list(GROUPS), key=f"{K}-abl-tab", on_change="rerun", bind="query-params")
    for tab, (g, names) in zip(tabs, avail.items()):
        with tab:
            if not tab.open:
                continue
            if len(names) < 2:
                st.info("These checkpoints are not shipped here; reproduce them with `python -m dlviz.train "
                        + " ".join(GROUPS[g]) + "`, or train the ablation live (sidebar: *Side by side*).")
                continue
            rows = views.ablation_rows(names)
            st.dataframe(pd.DataFrame(rows).set_index("checkpoint"), width="stretch",
                         column_config={"mean IoU": st.column_config.NumberColumn(format="%.3f"),
                                        "boundary F1": st.column_config.NumberColumn(format="%.3f")})
            ablation_pictures(g, names)
            try:
                st.caption(views.verdict(g, rows))
            except (TypeError, ValueError):   # a card without these metrics: the table says what there is
                pass


def ablation_pictures(g: str, names: list[str]) -> None:
    @st.fragment
    def _pics() -> None:
        ds = PLANS[names[0]].data
        test = data(ds, "test", None, None)
        i = st.slider("Test image", 0, len(test) - 1, 3, key=f"{K}-abl-{zlib.crc32(g.encode())}",
                      bind="query-params")
        imgs, titles = [views.to_rgb(test.images[i]), views.color_mask(test.masks[i].numpy())], ["image", "truth"]
        for n in names:
            imgs.append(views.color_mask(shipped_prediction(n, i)))
            titles.append(SUMMARY[n])
        ui.show(plots.images_figure(imgs, titles, height=230), key=f"{K}-abl-img-{zlib.crc32(g.encode())}")
        share.image_download(lambda: views.side_by_side(imgs), f"unet-ablation-{names[0]}-test{i}",
                             f"{K}-abl-img-{zlib.crc32(g.encode())}", label="These images (PNG)")

    _pics()


# ---------------------------------------------------------------- 4. the same U in the DDPM
def ddpm_link() -> None:
    st.subheader("4 · The same U denoises the DDPM")
    ck = AVAILABLE.get("ddpm_food") or AVAILABLE.get("ddpm_digits")
    st.markdown("The diffusion page's noise predictor ε̂(x_t, t) (`dlviz/models/unet.py`) is a U-Net too: it contracts, "
                "expands, and concatenates each encoder level into the decoder. It adds a timestep embedding to every "
                "block, residual blocks with GroupNorm, and self-attention at the coarse levels; its output is an "
                "image of noise instead of class logits.")
    if ck is not None:
        cfg = ck.card["config"]
        ui.show(u_fig(f"ddpm:{cfg}", None, views.ddpm_levels(cfg), cfg["in_channels"],
                      f"ε̂<br>{cfg['in_channels']}×{cfg['image_size']}²",
                      f"the DDPM's denoiser ({ck.name}): channels×size×size", 300), key=f"{K}-ddpm-u")
    try:
        st.page_link(str(ui.PAGES_DIR / "ddpm.py"), label="Open the DDPM page", icon=":material/arrow_forward:")
    except Exception:  # noqa: BLE001 - a page rendered on its own (tests) has no navigation to link into
        st.markdown("Open **Diffusion (DDPM)** in the navigation.")


run = sidebar_training()
try:
    model, card, mkey, ds, folder = choose_model(run)
    test = data(ds, "test", None, folder)
except DataError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()
A = analyse(mkey, ds, folder, model)
measurements(A, test, card, mkey, ds, folder)
explore(model, A, test, mkey, ds, folder)
ablations()
ddpm_link()
ui.try_this([
    "Pick *unet_foods_noskip*, open level 0 and compare its decoder maps with the full U-Net's: blur instead of edges. "
    "Then read boundary F1 in the ablation table.",
    "Choose *worst first* and step through the worst test images: which class fails, and is it the interior or the rim?",
    "On *touching cells*, compare *unet_cells_ce* with *unet_cells_wce*: count the merged cells, then open the weight map.",
    "Train live with **20 training images** and side by side *without / with elastic*: does the deformation help here?",
    "Train with *Side by side: full / no skips / no top skip* for a minute and watch the three boundary-F1 curves.",
])
