"""The Vision Transformer (Dosovitskiy et al. 2021): an image as a sequence of patches, the tokens a
transformer reads, what its heads attend to and the attention rollout (Abnar & Zuidema 2020), and where
it loses to a CNN of the same size -- on shipped checkpoints or on a ViT trained live from the sidebar."""

from __future__ import annotations

import numpy as np
import share
import streamlit as st
import torch
import ui

from dlviz.checkpoints import shipped
from dlviz.classifier.core import run_trouble
from dlviz.data import DataError
from dlviz.vit import core as V
from dlviz.vit import efficiency, views
from dlviz.vit import plots as P
from dlviz.vit.training import DATASETS, LIVE_DEFAULTS, load_data, make_live_trainer, n_params

PAGE_INFO = {
    "title": "Vision Transformer",
    "icon": ":material/grid_view:",
    "section": "Sequence models",
    "order": 40,
    "question": "What does a transformer see in an image, and why does it need more data than a CNN?",
    "thumbnail": "dlviz.vit.views:thumbnail",
}
SHIPPED = {"vit_digits": ("digits", "digits · shipped ViT"), "vit_food": ("food", "food shapes · shipped ViT")}
K = "vit"

ui.page_header(PAGE_INFO, (
    "A ViT cuts the image into $p\\times p$ **patches**, maps each flattened patch to a vector with one linear "
    "layer, prepends a learned **[CLS]** token, adds learned **position embeddings**, and runs a plain "
    "transformer encoder; the class is read from [CLS]. Nothing in it knows that neighbouring pixels belong "
    "together -- it has to learn that from data, which is why it needs more data than a CNN."))

explore = st.sidebar.container()
# ---------------------------------------------------------------- sidebar: live training
st.sidebar.header("Train a ViT")
ds = st.sidebar.selectbox("Data", list(DATASETS), format_func=lambda k: DATASETS[k].label, key=f"{K}-data",
                          bind="query-params")
spec = DATASETS[ds]
c1, c2 = st.sidebar.columns(2)
patch_opts = [p for p in (2, 4, 8) if spec.size % p == 0]
t_patch = c1.select_slider("Patch size", patch_opts, spec.patch, key=f"{K}-tpatch", bind="query-params")
t_depth = c2.select_slider("Depth", [1, 2, 3, 4, 6], spec.vit["depth"], key=f"{K}-tdepth", bind="query-params")
c1, c2 = st.sidebar.columns(2)
t_dim = c1.select_slider("Width", [16, 32, 48, 64, 96], spec.vit["dim"], key=f"{K}-tdim", bind="query-params")
t_heads = c2.select_slider("Heads", [1, 2, 4, 8], spec.vit["heads"], key=f"{K}-theads", bind="query-params")
t_pos = st.sidebar.selectbox("Position embeddings", ["learned", "learned_2d", "none"], key=f"{K}-tpos", bind="query-params",
                             help="learned: one vector per patch (the paper's default); learned_2d: a row and a "
                                  "column vector, concatenated; none: the transformer sees a bag of patches.")
t_shift = st.sidebar.select_slider("Random shifts (augmentation, px)", [0, 1, 2], 1, key=f"{K}-tshift", bind="query-params")
hp = ui.hyperparameters(K, **LIVE_DEFAULTS)


def start_training():
    return make_live_trainer(ds, patch_size=t_patch, dim=t_dim, depth=t_depth, heads=t_heads, positions=t_pos,
                             max_shift=t_shift, steps=hp.steps, lr=hp.lr, batch_size=hp.batch_size,
                             optimizer=hp.optimizer, weight_decay=hp.weight_decay, seed=ui.session().seed)


run = ui.training_panel(K, start_training)
ui.training_monitor(K, metrics=("loss", "test_acc"), log_y=False)

# ---------------------------------------------------------------- which model, which image
explore.header("Explore")
AVAILABLE = shipped()
live_ok = run is not None and run.trainer.step > 0
sources = [s for s in SHIPPED if s in AVAILABLE] + (["live"] if live_ok else [])
if not sources:
    st.error("No ViT checkpoint is shipped here and no run has trained yet: press **Train** in the sidebar, or "
             "reproduce one with `python -m dlviz.train vit_digits`.", icon=":material/error:")
    st.stop()
src = explore.radio("Model", sources, index=len(sources) - 1 if live_ok else 0, bind="query-params",
                    key=f"{K}-src-{len(sources)}" if live_ok else f"{K}-src",    # a stable key for shipped models
                    format_func=lambda s: SHIPPED[s][1] if s in SHIPPED else f"my run ({run.trainer.name})")
if src in SHIPPED:
    model, card = ui.load_shipped(src, expected_arch="vit")
    dkey, mkey = SHIPPED[src][0], src
else:
    t = run.trainer
    model, dkey, step = t.model_copy(), t.vit_data, t.step
    card = {"arch": "vit", "data": dkey, "steps": step, "summary": f"trained live ({step:,} steps)"}
    trouble = run_trouble(t.history(), 0.1, acc_key="test_acc")          # 10 classes in both data sets
    if trouble:
        st.warning(f"This run went wrong: {trouble}.", icon=":material/trending_up:")
    mkey = f"live-{id(t)}-{step}"
    ui.download_model(ui.Picked(model, card, "trained", f"run:{run.id}@{step}", "live"), K, container=explore)


@st.cache_resource(show_spinner="Loading data...", max_entries=4)
def test_data(key: str):
    return load_data(key, "test")


try:
    test = test_data(dkey)
except DataError as e:
    st.error(str(e), icon=":material/error:")
    st.stop()
cfg = model.config
idx = int(explore.number_input(f"Test image # (0-{len(test) - 1})", 0, len(test) - 1, 0, key=f"{K}-img",
                                 bind="query-params"))
img = test.images[idx]


@st.cache_data(show_spinner=False, max_entries=8)
def test_accuracy(mk: str, _model, _test) -> float:
    from dlviz.metrics import accuracy

    return accuracy(_model, _test.images, _test.labels)


acc = test_accuracy(mkey, model, test)
explore.metric("Test accuracy", f"{acc:.1%}", help=f"On all {len(test)} held-out images of {dkey}.")
share.notebook(page="vit", label=f"test accuracy of {src if src in SHIPPED else 'your ViT'}", shown=f"{acc:.1%}",
               key=f"{K}-nb", container=explore,
               body=views.accuracy_snippet({"shipped": src} if src in SHIPPED else
                                           {"file": f"vit_vit_{card['steps']}steps.pt"}, dkey))
explore.caption(f"{n_params(model):,} parameters · {cfg.patch_size}×{cfg.patch_size} patches · width {cfg.dim} · "
                f"depth {cfg.depth} · {cfg.heads} heads · positions: {cfg.positions}"
                + (f" · reproduce with `{card['reproduce']}`" if card.get("reproduce") else ""))


# ---------------------------------------------------------------- 1. patches
def patches() -> None:
    st.header("1 · An image is a sequence of patches")

    @st.fragment
    def _body() -> None:
        size = img.shape[-1]
        opts = [p for p in range(1, size + 1) if size % p == 0]
        p = st.select_slider("Patch size p", opts, cfg.patch_size, key=f"{K}-patch-{size}", bind="query-params")
        g = size // p
        c1, c2, c3 = st.columns(3)
        c1.metric("Tokens", f"{g * g} + [CLS]", help=f"A {g}×{g} grid of patches.")
        c2.metric("Numbers per patch", f"{img.shape[0] * p * p}", help="C · p · p: the length of a flattened patch.")
        c3.metric("Attention weights per head", f"{(g * g + 1) ** 2:,}", help="(tokens + 1)²: the cost grows with "
                  "the fourth power of 1/p.")
        a, b = st.columns([1, 2])
        grid_px, seq_px = views.patch_grid(img, p, scale=max(1, 256 // size)), views.patch_sequence(img, p, scale=max(1, 32 // p))
        with a:
            ui.show(P.rgb_figure(grid_px, height=280), key=f"{K}-grid")
            share.image_download(lambda: grid_px, f"vit-patches-{dkey}-{idx}-p{p}", f"{K}-grid", label="Grid (PNG)")
        with b:
            ui.show(P.rgb_figure(seq_px, height=120), key=f"{K}-seq")
            share.image_download(lambda: seq_px, f"vit-sequence-{dkey}-{idx}-p{p}", f"{K}-seq", label="Sequence (PNG)")
            n = g * g
            st.caption(f"The {min(n, 64)} {'first ' if n > 64 else ''}patches in reading order (row by row), after "
                       "the dark [CLS] slot. This is all a ViT gets: a list. Their arrangement on the grid survives "
                       "only in the position embeddings." + (f" (Showing 64 of {n}.)" if n > 64 else ""))
            if p != cfg.patch_size:
                st.info(f"The model below was trained with {cfg.patch_size}×{cfg.patch_size} patches; the slider "
                        "here only changes this picture.", icon=":material/info:")

    _body()


# ---------------------------------------------------------------- 2. tokens
def tokens() -> None:
    st.header("2 · Tokens: linear patch embedding, [CLS] and positions")
    with torch.no_grad():
        z0 = model.embed(img[None])[0].numpy()                                   # (T, D)
    a, b = st.columns([3, 2])
    with a:
        tok_fig = P.tokens_figure(z0, f"z₀ = [CLS; x_p E] + E_pos for image #{idx}", height=300)
        ui.show(tok_fig, key=f"{K}-tokens")
        share.figure_csv_download(tok_fig, f"vit-tokens-{mkey}-{idx}", f"{K}-tokens", label="Tokens (CSV)")
        st.caption("Each column is one token: [CLS] (the same learned vector for every image) and one linear map "
                   "E of each flattened patch, plus its position embedding.")
    with b:
        pcs, var = views.embedding_filters(model, k=min(12, cfg.dim))
        ui.show(P.filters_figure(pcs, var), key=f"{K}-filters")
        st.caption(f"The first {len(pcs)} principal components of the {cfg.dim} embedding filters (rows of E), with "
                   "the share of variance each holds (Dosovitskiy et al. Fig. 7 left).")
    sim = V.position_similarity(model)
    if sim is None:
        st.info("This model has no position embeddings: it cannot tell where a patch was.", icon=":material/info:")
        return
    g = model.grid
    c1, c2 = st.columns([3, 1])
    with c1:
        m = views.mosaic(sim.reshape(g, g, g, g))
        ui.show(P.mosaic_figure(m, [str(i) for i in range(g)], [str(j) for j in range(g)], g, colorscale="RdBu",
                                zmin=-1, zmax=1, height=420, hover="cos %{z:.2f}",
                                title="Cosine similarity of position embeddings"), key=f"{K}-possim")
        share.csv_download("Similarities (CSV)", lambda: [{"patch a": i, "patch b": j, "cosine": float(sim[i, j])}
                                                          for i in range(g * g) for j in range(g * g)],
                           f"vit-position-similarity-{mkey}", f"{K}-possim")
    ps = position_structure(mkey, sim)
    c2.metric("Same row / column", f"{ps.row_col:+.2f}", f"{ps.z('row_col'):+.1f} sd vs shuffled patches", delta_color="off",
              delta_arrow="off",
              help="Mean cosine similarity of pairs of patches in the same row or column minus that of all other "
                   "pairs; beside it, how far above the same score with the patches' positions shuffled.")
    c2.metric("Distance from centre", f"{ps.radial:+.2f}", f"{ps.z('radial'):+.1f} sd vs shuffled patches", delta_color="off",
              delta_arrow="off",
              help="Correlation between similarity and minus the difference of the two patches' distances from "
                   "the image centre (1: a pure ring code).")
    c2.caption(views.position_caption(ps, g))
    if ps.z("row_col") < 3 and mkey != "vit_food" and "vit_food" in AVAILABLE:
        fm = ui.load_shipped("vit_food", expected_arch="vit")[1]["metrics"]
        c2.caption(f"The shipped food ViT (an 8×8 grid of patches) shows rows, columns and rings clearly (its card: "
                   f"same row/column {fm['position_row_col']:+.2f}, centre distance {fm['position_radial']:+.2f}): "
                   "pick it in the sidebar.")


@st.cache_data(show_spinner=False, max_entries=16)
def position_structure(mk: str, _sim) -> V.PositionStructure:
    return V.position_structure(_sim)


# ---------------------------------------------------------------- 3. attention
@st.cache_data(show_spinner=False, max_entries=32)
def attention_of(mk: str, i: int, _model, _img) -> V.AttentionResult:
    return V.analyse(_model, _img)


def attention() -> None:
    st.header("3 · What [CLS] attends to, head by head, and the rollout")
    res = attention_of(mkey, idx, model, img)
    probs = res.probs[0]
    pred = int(probs.argmax())
    names = test.class_names

    @st.fragment
    def _body() -> None:
        c1, c2, c3 = st.columns(3)
        fusion = c1.radio("Fuse heads by", V.HEAD_FUSIONS, horizontal=True, key=f"{K}-fusion", bind="query-params",
                          help="mean: Abnar & Zuidema's rollout; max / min: variants that keep the strongest "
                               "(weakest) head per pair of tokens.")
        start = c2.select_slider("Roll out from layer", list(range(1, cfg.depth + 1)), 1, key=f"{K}-start-{cfg.depth}",
                                bind="query-params")
        alpha = c3.slider("Overlay opacity", 0.0, 1.0, 0.6, 0.05, key=f"{K}-alpha", bind="query-params")
        roll = res.rollout_map(0, head_fusion=fusion, start_layer=start - 1)    # (g, g), sums to 1
        a, b = st.columns([2, 3])
        with a:
            over = views.overlay(img, roll, alpha=alpha, scale=max(1, 256 // img.shape[-1]))
            ui.show(P.rgb_figure(over, height=300, title="Rollout from [CLS]"), key=f"{K}-rollout")
            r1, r2 = st.columns(2)
            share.image_download(lambda: over, f"vit-rollout-{mkey}-{idx}", f"{K}-rollout", r1, label="PNG")
            share.csv_download("CSV", lambda: [{"row": i, "col": j, "rollout": float(roll[i, j])}
                                               for i in range(roll.shape[0]) for j in range(roll.shape[1])],
                               f"vit-rollout-{mkey}-{idx}", f"{K}-rollout", r2)
            st.metric("Prediction", f"{names[pred]} ({probs[pred]:.0%})",
                      delta="correct" if pred == int(test.labels[idx]) else f"wrong: it is {names[int(test.labels[idx])]}",
                      delta_color="normal" if pred == int(test.labels[idx]) else "inverse")
            if dkey == "digits":
                mass, uniform = views.foreground_fraction(img, roll, cfg.patch_size)
                st.metric("Rollout on the ink", f"{mass:.0%}", help="Share of the rollout on patches whose mean "
                          f"brightness exceeds 0.25; a uniform map would give {uniform:.0%} (the share of such patches).",
                          delta=f"{mass - uniform:+.0%} vs uniform")
        with b:
            maps = res.head_maps(0)                                              # (L, heads, g, g)
            maps = np.concatenate([maps, maps.mean(1, keepdims=True)], 1)
            g = res.grid
            ui.show(P.mosaic_figure(views.mosaic(maps), [f"layer {i}" for i in range(1, cfg.depth + 1)],
                                    [f"head {h}" for h in range(1, cfg.heads + 1)] + ["mean"], g, zmin=0,
                                    height=90 + 80 * cfg.depth, hover="attention %{z:.3f}"), key=f"{K}-heads")
            st.caption("Raw attention of the [CLS] query to each patch, per layer and head (the rest of each row "
                       "goes to [CLS] itself). The rollout on the left multiplies the layers, adding the identity "
                       "for the residual path: ½A + ½I per layer, rows re-normalised.")
        ent = res.entropy()
        st.caption(f"Mean attention entropy per layer (nats; {np.log(res.att.shape[-1]):.2f} = uniform over all "
                   f"tokens): " + ", ".join(f"layer {i + 1}: {e:.2f}" for i, e in enumerate(ent.mean(1))))

    _body()


# ---------------------------------------------------------------- 4. ViT vs CNN
def vit_vs_cnn() -> None:
    st.header("4 · ViT vs CNN: who needs more data?")
    curve = efficiency.load()
    if curve is None:
        st.warning("The measured curve is not shipped here; reproduce it with `python -m dlviz.vit.efficiency` "
                   "(it trains a ViT and a CNN at every training-set size, for each seed: minutes of CPU).",
                   icon=":material/warning:")
        return
    mt = curve.meta
    a, b = st.columns([3, 1])
    with a:
        eff = P.efficiency_figure(curve.sizes, curve.vit, curve.cnn, f"ViT ({mt['vit_params']:,} parameters)",
                                  f"CNN ({mt['cnn_params']:,} parameters)")
        ui.show(eff, key=f"{K}-eff")
        share.csv_download("Measured accuracies (CSV)", lambda: [
            {"training images": int(n), "model": m, "seed": int(sd), "test accuracy": float(acc_[k, i])}
            for m, acc_ in (("ViT", curve.vit), ("CNN", curve.cnn)) for k, sd in enumerate(mt["seeds"])
            for i, n in enumerate(curve.sizes)], "vit-vs-cnn-digits", f"{K}-eff")
    v, c = curve.vit.mean(0), curve.cnn.mean(0)
    sv, sc = curve.stderr(curve.vit), curve.stderr(curve.cnn)
    for i in (0, -1):
        b.metric(f"{curve.sizes[i]:,} images: CNN / ViT", f"{c[i]:.0%} / {v[i]:.0%}",
                 help=f"Mean over {len(mt['seeds'])} seeds ± standard error: CNN {c[i]:.1%} ± {sc[i]:.1%}, "
                      f"ViT {v[i]:.1%} ± {sv[i]:.1%}.")
    gap = c - v
    j = int(gap.argmax())
    b.metric("Largest CNN lead", f"{gap[j]:+.1%}", help=f"at {curve.sizes[j]} training images (mean over seeds)")
    vc, cc = mt["vit_config"], mt["cnn_config"]
    st.caption(
        f"**What was measured:** the test accuracy on all {mt['n_test']} held-out digits of a fresh ViT "
        f"({vc['patch_size']}×{vc['patch_size']} patches, width {vc['dim']}, depth {vc['depth']}, {vc['heads']} heads; "
        f"{mt['vit_params']:,} parameters) and a fresh SmallCNN (channels {tuple(cc['channels'])}, "
        f"{cc['kernel_size']}×{cc['kernel_size']} convolutions, {mt['cnn_params']:,} parameters), each trained on the "
        f"first n images of a class-balanced order of the training split with the same recipe ({mt['recipe']}); "
        + (f"line: the mean over seeds {mt['seeds']} (a seed sets the initialisation, the class-balanced order "
           f"the n images are taken from, and the batches), band: ± one standard error of that mean. " if len(mt["seeds"]) > 1 else
           f"one seed ({mt['seeds'][0]}) per point: the spread between seeds was not measured. ")
        + f"Measured once offline ({mt['cpu_time_s']:.0f} s of "
        f"CPU); reproduce with `{mt['reproduce']}`. The convolution's locality and weight sharing are the prior "
        "the ViT lacks (Dosovitskiy et al. Sec. 3.1, 'Inductive bias').")


# ---------------------------------------------------------------- 5. equivariance
@st.cache_data(show_spinner="Measuring...", max_entries=16)
def shift_errors(mk: str, shifts: tuple[int, ...], n: int, _model, _test) -> dict:
    return V.patch_shift_errors(_model, _test.images[:n], list(shifts))


@st.cache_data(show_spinner=False, max_entries=4)
def logit_errors(mk: str, shifts: tuple[int, ...], n: int, _model, _test) -> dict:
    return V.logit_shift_errors(_model, _test.images[:n], list(shifts))


def equivariance() -> None:
    st.header("5 · Shifts: a patch-size shift vs a one-pixel shift")
    p = cfg.patch_size
    shifts = tuple(sorted({1, max(1, p // 2), p, 2 * p} - {0}))
    n = min(128 if model.grid ** 2 <= 16 else 32, len(test))        # 65 tokens cost ~16x more per image
    err = shift_errors(mkey, shifts, n, model, test)
    ui.show(P.equivariance_figure(err, p), key=f"{K}-equi")
    share.csv_download("Errors (CSV)", lambda: [{"shift px": s_, **{k: float(v) for k, v in e.items()}}
                                                for s_, e in err.items()], f"vit-shift-errors-{mkey}", f"{K}-equi")
    st.markdown("**How much the logits change** (‖f(Tx) − f(x)‖ / ‖f(x)‖):")
    cnn = None
    if dkey == "digits" and "digits_cnn" in AVAILABLE:         # the Convolutions page's CNN, same images
        cnn_model, _ = ui.load_shipped("digits_cnn", expected_arch="small_cnn")
        cnn = logit_errors("digits_cnn", (1, p), n, cnn_model, test)
    cols = st.columns(len(shifts) + (cnn is not None))
    for col, s_ in zip(cols, shifts):
        col.metric(f"ViT logits · {s_} px", f"{err[s_]['logits']:.3f}",
                   help="The invariance error ‖f(Tx) − f(x)‖ / ‖f(x)‖ of the logits.")
    if cnn is not None:
        cols[-1].metric(f"CNN logits · 1 / {p} px", f"{cnn[1]:.3f} / {cnn[p]:.3f}",
                        help="The same measure on the shipped digits CNN (digits_cnn, dlviz/models/cnn.py).")
    e1, ep = err[1], err[p]
    more = "more" if ep["logits"] > e1["logits"] else "less"
    st.caption(
        f"The Equivariance page's measure, ‖f(Tx) − T′f(x)‖ / ‖f(x)‖, on {n} test images shifted right "
        f"circularly (what leaves on the right re-enters on the left). The patch tokens form a "
        f"{model.grid}×{model.grid} map with stride {p}: for a shift by a multiple of {p} px, T′ moves the tokens by "
        f"whole cells and the patch embedding is exactly equivariant (error {ep['patch embedding']:.1e}); for a "
        f"1-px shift no token shift matches -- the patches cut the strokes elsewhere (error "
        f"{e1['patch embedding']:.2f}). Adding the position embeddings breaks even the {p}-px case (error "
        f"{ep['+ positions']:.2f}). At the logits a {p}-px shift changes this model's output {more} than a 1-px "
        f"shift ({ep['logits']:.3f} vs {e1['logits']:.3f}): what it tolerates is what it was trained on (the "
        "shipped models saw random 1-px shifts), not a built-in symmetry. Without position embeddings (train one "
        f"with *Position embeddings: none*) the ViT is a bag of patches and its logits ignore a {p}-px circular shift.")


patches()
tokens()
attention()
vit_vs_cnn()
equivariance()
ui.try_this([
    "Slide the **patch size** in section 1 to 1 and to the full image: how many tokens, and how many attention "
    "weights per head? Why did the paper use 16×16 patches on 224×224 images?",
    "Compare the heads of layer 1 with the last layer: which attend to a few patches, which to everything?",
    "Find a misclassified digit (the prediction turns red) and read its rollout: where was the model looking?",
    "Train with **Position embeddings: none** and open section 5: the logits no longer change under a patch-size "
    "shift, but they do under a 1-px shift. Does the accuracy suffer?",
    "In section 4, read the curve at 20 images. Then train a ViT live on the digits with the sidebar defaults: "
    "how many seconds to 95 %?",
])
