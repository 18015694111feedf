"""DDPM: noise an image step by step, watch a U-Net denoise a hotdog, compare schedules and samplers,
train your own, and put a number on the samples (Ho et al., 2020; Song et al., 2021)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import streamlit as st
import torch
import ui

from dlviz.checkpoints import CheckpointError, load_shipped
from dlviz.data import FOOD_CLASSES
from dlviz.ddpm import core as D
from dlviz.ddpm import plots as P
from dlviz.ddpm import training as TR
from dlviz.ddpm import views as V
from dlviz.imaging import gif_bytes, quantize, to_uint8
from dlviz.metrics import CLASSIFIERS, classify

PAGE_INFO = {
    "title": "Diffusion (DDPM)",
    "icon": ":material/blur_on:",
    "section": "Generative models",
    "order": 20,
    "question": "How does a network that only ever learned to predict noise turn pure noise into a hotdog?",
    "thumbnail": "dlviz.ddpm.views:thumbnail",
}

ui.page_header(PAGE_INFO, (
    "A **DDPM** destroys an image in T = 1,000 small steps of Gaussian noise, then trains a U-Net ε̂(x_t, t, y) "
    "to say which noise was added. Run backwards from pure noise, those predictions *generate* images. "
    "Below: the forward process under three noise schedules, a trained model denoising step by step "
    "(DDPM's 1,000 steps beside DDIM's 50), class-conditioning with guidance, a live training run, and a "
    "number for how good the samples are."))
sess = ui.session()
GENERATORS = {"food shapes (hotdog generator)": "ddpm_food", "digits": "ddpm_digits"}
K = "ddpm"


# ---------------------------------------------------------------- cached computations
@st.cache_data(show_spinner=False, max_entries=64)
def source_image(kind: str, name: str, i: int) -> torch.Tensor:
    from dlviz.data import digits, food_shapes

    if kind == "food":
        return food_shapes(100, seed=7, classes=[name]).images[i]
    return digits("all", size=32).images[i]


@st.cache_data(show_spinner=False, max_entries=256)
def cached_forward(_img: torch.Tensor, key: tuple, t: int, kind: str, seed: int) -> V.ForwardView:
    return V.forward_view(_img, t, kind, seed)


@st.cache_data(show_spinner="Sampling...", max_entries=24)
def trajectory(_model, key: str, sampler: str, steps: int, eta: float, labels: tuple, w: float, seed: int,
               device: str) -> D.Trajectory:
    """``key`` (the model picker's) identifies ``_model`` for the cache."""
    return D.generate(_model, sampler=sampler, num_steps=steps, eta=eta, labels=torch.tensor(labels), guidance=w,
                      seed=seed, device=device)


@st.cache_data(show_spinner="Generating and scoring...", max_entries=32)
def quality(_model, key: str, _clf, data: str, n_per: int, steps: int, w: float, seed: int):
    from dlviz.metrics import measure, real_floor_images, real_reference

    imgs, lab = D.generate_per_class(_model, n_per, num_steps=steps, guidance=w, seed=seed)
    return measure(imgs, lab, _clf, real_reference(data), floor_images=real_floor_images(data, len(imgs)))


@st.cache_resource(show_spinner=False)
def classifier(name: str):
    """The shipped classifier that scores samples (None, with a warning, when it cannot load)."""
    try:
        return load_shipped(name, expected_arch="small_cnn")[0]
    except CheckpointError as e:
        st.warning(f"No classifier to score the samples: {e}", icon=":material/warning:")
        return None


@st.cache_data(show_spinner="Drawing the training images...")
def train_images(dataset: str, seed: int):
    return TR.training_data(TR.SPECS[dataset])


# ================================================================ 1. forward process
def forward_process() -> None:
    st.header("1 · The forward process: noise an image step by step")
    c1, c2 = st.columns([1, 2])
    with c1:
        src = st.radio("Image", ["food shape", "digit", "photo"], horizontal=True, key="ddpm-src")
        if src == "food shape":
            fcls = st.selectbox("Food", FOOD_CLASSES, key="ddpm-fwd-food")
            idx = st.number_input("Which one", 0, 99, 0, key="ddpm-fwd-idx")
            img_name, key_img = f"{fcls} #{idx}", ("food", fcls, int(idx))
        elif src == "digit":
            idx = st.number_input("Digit index", 0, 1796, 0, key="ddpm-fwd-digit")
            img_name, key_img = f"digit #{idx}", ("digit", "", int(idx))
        else:
            img_name, photo = ui.image_input("ddpm-fwd", size=64, container=st.container())
            key_img = ("photo", img_name, 0)
        t = st.slider("Timestep t", 0, 1000, 250, key="ddpm-fwd-t",
                      help="t = 0 is the clean image; t = 1000 is (almost) pure noise.")
    image = photo if src == "photo" else source_image(*key_img)
    views = {k: cached_forward(image, key_img, t, k, sess.seed) for k in D.SCHEDULES}
    zoom = max(1, 128 // image.shape[-1])
    with c2:
        row = np.stack([image.permute(1, 2, 0).numpy()] + [v.closed_form for v in views.values()])  # (4, H, W, C)
        ui.show(P.picture_figure(P.montage([quantize(row)], scale=zoom),
                                 f"{img_name} at t = {t} (the same ε for all three)",
                                 col_labels=["x_0 (clean)"] + [f"x_{t}, {k}" for k in views], height=240),
                key="ddpm-fwd-pics")
    ui.show(P.schedule_figure(V.schedule_curves(), t), key="ddpm-schedules")
    m = st.columns(3)
    for col, (k, v) in zip(m, views.items(), strict=True):
        col.metric(f"{k}: ᾱ_{t}", f"{v.alpha_bar:.3f}", help="Signal kept = √ᾱ_t; noise std = √(1 − ᾱ_t).")
        snr = f"{v.snr:.3g}" if np.isfinite(v.snr) else "∞"
        col.caption(f"SNR **{snr}** (= 1 at t = {V.t_where_snr_crosses(k)}) · noise std measured in the picture: "
                    f"**{v.noise_std_closed:.3f}** (theory √(1−ᾱ) = {np.sqrt(1 - v.alpha_bar):.3f}); "
                    f"after {t} single steps (eq. 2): **{v.noise_std_stepwise:.3f}**")
    with st.expander("Closed form (Ho eq. 4) vs. t single steps (eq. 2): the same distribution"):
        st.markdown("q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) lets training jump to any t in one draw. "
                    "Iterating x_t = √(1 − β_t) x_{t−1} + √β_t ε_t with fresh noise gives a *different* picture "
                    "(other noise) with the *same* statistics -- compare the noise levels above.")
        v = views["linear"]
        ui.show(P.picture_figure(P.montage([quantize(np.stack([v.closed_form, v.stepwise]))], scale=zoom),
                                 f"linear schedule, t = {t}", height=220,
                                 col_labels=["closed form, eq. 4", f"{t} single steps, eq. 2"]),
                key="ddpm-fwd-steps")


# ================================================================ sidebar: the generator
def pick_generator() -> tuple[ui.Picked, object, str, str] | None:
    """The model the sections below sample from: a shipped U-Net, the EMA of your run, or an upload.
    Returns the pick, the model, its cache key and the dataset it makes (None: nothing to show yet)."""
    st.sidebar.header("Generator")
    picked = ui.model_picker("ddpm-gen", GENERATORS, run_key=K, expected_arch="unet", prefer_run=False,
                             accept_run=lambda r: TR.ema_step(r.trainer) is not None)
    if picked is None:
        return None
    model, key = picked.model, picked.key
    if picked.source == "trained":                   # sample from the moving average, as of its last snapshot
        model, step = TR.trained_model(ui.get_run(K).trainer)
        key = f"{picked.key}/ema@{step}"
    dataset = TR.dataset_of(model)
    if dataset is None:
        c = model.config
        st.error(f"This U-Net makes {c.in_channels}x{c.image_size}x{c.image_size} images; the page can judge "
                 "digits (1x16x16) and food shapes (3x32x32) only.", icon=":material/error:")
        return None
    return picked, model, key, dataset


def class_names(dataset: str) -> list[str]:
    return FOOD_CLASSES if dataset == "food_shapes" else [str(i) for i in range(10)]


# ================================================================ 2. reverse process
def reverse_process(model, key: str, dataset: str, clf) -> tuple[float, int]:
    """Sample with DDIM (and DDPM on demand) and scrub the trajectory; returns the guidance scale and the
    seed (section 3 measures at the same settings)."""
    st.header("2 · The reverse process: denoise step by step")
    classes = class_names(dataset)
    r1, r2, r3, r4 = st.columns(4)
    cls = r1.selectbox("Class (y)", ["one of each"] + classes, index=1, key=f"ddpm-cls-{dataset}",
                       help="The label the U-Net is conditioned on.")
    guidance = r2.slider("Guidance scale w", 0.0, 6.0, 4.0 if dataset == "food_shapes" else 2.0, 0.5,
                         key=f"ddpm-w-{dataset}",
                         help="ε̂ = ε̂(x, ∅) + w·(ε̂(x, y) − ε̂(x, ∅)). w = 0: unconditional; 1: plain conditional; "
                              ">1: pushed towards the class (classifier-free guidance).")
    n_img = r3.slider("Images", 2, 16, 8, key="ddpm-n")
    seed = r4.number_input("Seed (x_T)", 0, 10_000, sess.seed, key="ddpm-seed")
    s1, s2, s3 = st.columns([1, 1, 2])
    ddim_steps = s1.select_slider("DDIM steps", [5, 10, 20, 25, 50, 100, 200, 500, 1000], 50, key="ddpm-ddim-steps")
    eta = s2.slider("DDIM η", 0.0, 1.0, 0.0, 0.1, key="ddpm-eta", help="0: deterministic DDIM; 1: as noisy as DDPM.")
    labels = (torch.arange(n_img) % len(classes)) if cls == "one of each" else torch.full((n_img,), classes.index(cls))
    args = (tuple(labels.tolist()), float(guidance), int(seed), sess.device)
    ddim = trajectory(model, key, "ddim", ddim_steps, eta, *args)
    est = ddim.seconds / max(1, ddim.num_steps) * 1000
    run_ddpm = s3.toggle(f"Also run DDPM (all 1,000 steps) from the same x_T (≈ {est:.0f} s)", key="ddpm-run-ddpm",
                         help="Ancestral sampling (Ho Algorithm 2): 1,000 network evaluations, 2,000 with "
                              "guidance. Estimated from the DDIM run's time per step; cached once computed.")
    trajs = {f"DDIM · {ddim_steps} steps · η={eta:g}": ddim}
    if run_ddpm:
        trajs = {"DDPM · 1,000 steps": trajectory(model, key, "ddpm", 1000, 1.0, *args), **trajs}
    T = ddim.timesteps[0]
    tsel = st.slider("Scrub the trajectory: noise level t", 0, T, T * 3 // 5, key="ddpm-rev-t",
                     help="Shows, for each sampler, the recorded step nearest to t.")
    big = model.config.image_size >= 32
    cols = st.columns(len(trajs))
    for col, (name, tr) in zip(cols, trajs.items(), strict=True):
        f = tr.frame(tsel)
        with col:
            rows = V.trajectory_rows(tr, f) + [tr.xt[-1]]                           # + the final samples x_0
            ui.show(P.picture_figure(P.montage(rows, scale=3 if big else 5),
                                     f"{name}: t = {tr.timesteps[f]}", ["x_t", "ε̂", "x̂_0", "final x_0"],
                                     col_labels=[classes[k][:6] for k in labels.tolist()] if cls == "one of each"
                                     else None, label_width=90, width_hint=1000 // len(trajs)),
                    key=f"ddpm-rev-{'ddpm' if 'DDPM' in name else 'ddim'}-{len(trajs)}")
            st.caption(f"{tr.num_steps} steps · {tr.num_steps * (2 if guidance not in (0, 1) else 1):,} network "
                       f"evaluations · {tr.seconds:.1f} s")
    if clf is not None:
        mc = st.columns(len(trajs))
        for col, (name, tr) in zip(mc, trajs.items(), strict=True):
            _, pred = classify(clf, tr.samples)
            hit = int((pred == labels.numpy()).sum())
            col.metric(f"{name.split(' ·')[0]}: recognised as the requested class", f"{hit} / {len(pred)}",
                       help=f"The shipped {CLASSIFIERS[dataset]} classifier's verdict on the final samples.")
            col.caption("classifier says: " + ", ".join(classes[p] for p in pred))
    if st.toggle("Animate both samplers (play button) and export a GIF", key="ddpm-animate"):
        ts, frames = V.animation_frames(list(trajs.values()), n_frames=40)
        row_labels = [f"{k.split(' ·')[0]} {r}" for k in trajs for r in ("x_t", "x̂_0")]
        pics = [P.montage(rows, scale=2) for rows in frames]
        ui.show(P.animation_figure(pics, [f"t = {v}" for v in ts], "press ▶ to play the reverse process",
                                   row_labels, label_width=110), key="ddpm-anim")
        fname = re.sub(r"[^A-Za-z0-9_.@-]+", "_", key)
        st.download_button("Download the trajectory as a GIF", gif_bytes(pics, frame_ms=80, hold_last_ms=1500),
                           file_name=f"ddpm-{fname}-{cls}.gif", mime="image/gif", icon=":material/download:")
    return float(guidance), int(seed)


# ================================================================ 3. sample quality
def sample_quality(model, key: str, card: dict, dataset: str, clf, guidance: float, seed: int) -> None:
    st.header("3 · How good are the samples? A number for it")
    classes = class_names(dataset)
    st.markdown(f"The shipped **{CLASSIFIERS[dataset]}** classifier judges the samples: does it recognise the class "
                "that was asked for, and how far are the samples from real images in its feature space (the "
                "**Fréchet distance**, FD: 0 only for identical feature statistics)? A finite set of *real* images "
                "never reaches 0 either, so each FD is shown beside the real-vs-real FD of the same size.")
    cm = card.get("metrics", {})
    if all(k in cm for k in ("sample_acc", "fd", "fd_real_floor")):
        k1, k2, k3, k4 = st.columns(4)
        k1.metric("Card: samples recognised", f"{cm['sample_acc']:.1%}", help=card.get("quality_protocol", ""))
        k2.metric("Card: FD to real", f"{cm['fd']:.2f}", help="Fréchet distance in the classifier's feature space.")
        k3.metric("Card: FD real vs real", f"{cm['fd_real_floor']:.2f}", help="What a perfect generator would score.")
        k4.metric("Trained for", f"{card.get('steps', 0):,} steps",
                  help=f"{card.get('wall_time_s', 0) / 60:.0f} min wall time on {card.get('device', 'cpu')}, "
                       f"{card.get('threads', '?')} thread(s), {card.get('train_cpu_time_s', '?')} s of CPU time.")
        st.caption(f"Card protocol: {card.get('quality_protocol', '')}. Reproduce: `{card.get('reproduce', '')}`.")
    q1, q2, q3 = st.columns(3)
    n_per = q1.select_slider("Samples per class", [5, 10, 20, 50], 10, key="ddpm-q-n")
    q_steps = q2.select_slider("DDIM steps", [10, 25, 50], 10, key="ddpm-q-steps")
    sweep = q3.toggle("Sweep the guidance scale (w = 0, 1, 2, 4)", key="ddpm-q-sweep",
                      help="Higher w: samples look more like their class, but less varied.")
    if clf is None or not st.toggle(f"Measure now: {n_per * len(classes)} samples at w = {guidance:g} "
                                    f"(the guidance slider above)", key="ddpm-q-go"):
        return
    ws = sorted({0.0, 1.0, 2.0, 4.0, guidance}) if sweep else [guidance]
    results = {w: quality(model, key, clf, dataset, n_per, q_steps, w, seed) for w in ws}
    q = results[guidance]
    a1, a2, a3 = st.columns(3)
    a1.metric("Recognised as the requested class", f"{q.accuracy:.0%}", help=f"Chance: {1 / len(classes):.0%}.")
    a2.metric("FD to real images", f"{q.fd:.2f}")
    a3.metric("FD real vs real (floor)", f"{q.fd_real:.2f}")
    title = f"accuracy per requested class (w = {guidance:g}, {q.n} samples; dotted: chance)"
    fig = P.per_class_figure(classes, q.per_class_acc, 1 / len(classes), title=title)
    if sweep:
        g1, g2 = st.columns([3, 2])
        with g2:
            ui.show(P.guidance_sweep_figure(ws, [results[w].accuracy for w in ws], [results[w].fd for w in ws],
                                            q.fd_real), key="ddpm-q-sweep-fig")
        with g1:
            ui.show(fig, key="ddpm-q-class")
    else:
        ui.show(fig, key="ddpm-q-class")


# ================================================================ 4. live training
def training_controls() -> None:
    """The sidebar's "train your own" settings and its Train button (the run is read back by the model
    picker on the next rerun and by :func:`live_training`)."""
    st.sidebar.header("Train your own DDPM")
    train_ds = st.sidebar.radio("Data", ["digits", "food shapes"], horizontal=True, key="ddpm-train-ds")
    width = st.sidebar.select_slider("U-Net width (base channels)", [8, 16, 32], 16, key="ddpm-width")
    sched_kind = st.sidebar.selectbox("Noise schedule", D.SCHEDULES, index=1, key="ddpm-sched")
    hp = ui.hyperparameters(K, lr=2e-3, steps=2000, batch_size=32)
    snap_every = st.sidebar.select_slider("Draw samples every", [25, 50, 100, 200, 500], 100, key="ddpm-snap")

    def start_training():
        spec = TR.SPECS["digits" if train_ds == "digits" else "food_shapes"]
        data = train_images(spec.dataset, sess.seed)
        model = TR.fresh_model(spec, base_channels=width, schedule=sched_kind, seed=sess.seed)
        score = classifier(CLASSIFIERS[spec.dataset])
        trainer, _ = TR.make_trainer(
            model, data, steps=hp.steps, lr=hp.lr, batch_size=hp.batch_size, optimizer=hp.optimizer,
            weight_decay=hp.weight_decay, hflip=spec.hflip, snapshot_every=snap_every, seed=sess.seed,
            device=sess.device, snapshot_guidance=spec.eval_guidance,
            score_fn=TR.sample_scorer(score) if score is not None else None)
        return trainer, {"dataset": spec.dataset, "config": dataclasses.asdict(model.config)}

    ui.training_panel(K, start_training)


def live_view(r) -> None:
    tr = r.trainer
    names, vals = ui.live_cached("ddpm-buckets-data", tr.step, lambda: TR.bucket_losses(tr))
    if names:
        ui.show(ui.live_cached("ddpm-buckets", tuple(vals), lambda: P.bucket_loss_figure(
            names, vals, title="ε-prediction loss by timestep (last 300 steps)")), key="ddpm-live-buckets")
    snaps = tr.snapshots[-6:]
    if snaps:
        def snap_figure():
            rows = [to_uint8(s.images) for _, s in snaps]
            return P.picture_figure(P.montage(rows, scale=3 if rows[0].shape[1] >= 32 else 4),
                                    "samples during training (one per class, same noise)",
                                    [f"step {st_}" for st_, _ in snaps], height=80 + 70 * len(rows))

        ui.show(ui.live_cached("ddpm-snaps", snaps[-1][0], snap_figure), key="ddpm-live-snaps")


def live_training() -> None:
    st.header("4 · Train your own: watch the samples emerge")
    st.markdown("**Train** in the sidebar starts a fresh U-Net. Every few steps the moving average of its weights "
                "draws one sample per class (DDIM, 20 steps, w = 2 for digits, 4 for food) from the *same* noise, "
                "and the classifier scores them (`sample_acc`). The bar chart shows the loss per timestep bucket: "
                "which noise levels are hard?")
    ui.training_monitor(K, metrics=("loss", "sample_acc"), live=live_view)
    if ui.get_run(K) is None:
        st.info("No run yet: press **Train** in the sidebar. On digits the samples become readable after a few "
                "hundred steps (about a minute on a laptop CPU).",
                icon=":material/model_training:")


def try_this() -> None:
    ui.try_this([
        ("Section 1: set t = 500 and compare the three schedules. Which one has already destroyed the image? "
         "Where does each one's SNR cross 1?"),
        "Section 2: DDIM with **5 steps** vs 50: how much worse are the samples, and how much faster?",
        ("Set the guidance scale to **0** (unconditional): what does the model make when nobody asks for a hotdog? "
         "Then try w = 6: sharper classes, but do all hotdogs start to look alike?"),
        "Scrub t from 1000 down: at which t does x̂_0 first look like a hotdog? (Coarse shape first, details last.)",
        "DDIM with η = 1 and 1000 steps *is* DDPM: compare it with the DDPM panel from the same seed.",
        "Train on digits with the **linear** schedule, then with **cosine**: which gives readable digits sooner?",
        "Section 3: sweep the guidance scale. Recognition rises with w -- does the Fréchet distance follow, or do "
        "the samples get less varied than real food?",
    ])


forward_process()
generator = pick_generator()
training_controls()
if generator is not None:
    picked, model, key, dataset = generator
    clf = classifier(CLASSIFIERS[dataset])
    guidance, seed = reverse_process(model, key, dataset, clf)
    sample_quality(model, key, picked.card, dataset, clf, guidance, seed)
live_training()
try_this()
