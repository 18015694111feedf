"""DDPM: noise an image step by step, watch a U-Net denoise a hotdog, compare schedules and samplers,
train your own, and put a number on the samples (Ho et al., 2020; Song et al., 2021)."""

from __future__ import annotations

import copy
import dataclasses

import streamlit as st
import torch
import ui

import share
from dlviz.checkpoints import CheckpointError, load_shipped
from dlviz.data import FOOD_CLASSES
from dlviz.ddpm import captions as C
from dlviz.ddpm import core as D
from dlviz.ddpm import plots as P
from dlviz.ddpm import sampling as S
from dlviz.ddpm import training as TR
from dlviz.ddpm import views as V
from dlviz.ddpm.background import estimate_seconds, fetch
from dlviz.ddpm.quality import NO_OBJECT_RULE, recognise, recognised_text, score_samples
from dlviz.metrics import CLASSIFIERS

PAGE_INFO = {
    "title": "Diffusion (DDPM)",
    "icon": ":material/blur_on:",
    "section": "Generative models",
    "order": 20,
    "question": "How does a network that only ever learned to predict noise turn pure noise into a hotdog?",
    "thumbnail": "dlviz.ddpm.views:thumbnail",
}

ui.page_header(PAGE_INFO, C.INTRO)
sess = ui.session()
GENERATORS = {"food shapes (hotdog generator)": "ddpm_food", "digits": "ddpm_digits"}
K = "ddpm"
BIND = "query-params"


# ---------------------------------------------------------------- cached computations
@st.cache_data(show_spinner=False, max_entries=64)
def source_image(kind: str, name: str, i: int) -> torch.Tensor:
    return V.source_image(kind, name, i)


@st.cache_data(show_spinner=False, max_entries=256)
def cached_forward(_img: torch.Tensor, key: tuple, t: int, kind: str, seed: int) -> V.ForwardView:
    return V.forward_view(_img, t, kind, seed)


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


# ---------------------------------------------------------------- long sampling: bounded, or in the background
INLINE_BUDGET = 1600     # image-evaluations of the U-Net computed in the script run (~5 s); more: background


@st.cache_resource(show_spinner=False)
def _finished() -> dict:
    """Finished sampling results by their arguments, shared by every session (they are deterministic)."""
    return {}


def background(slot: str, args: tuple, work, label: str, cost: int):
    """``work(progress)``'s result (:func:`dlviz.ddpm.background.fetch`), or None while a background job computes
    it, with its progress shown."""
    res, job = fetch(_finished(), st.session_state.setdefault(f"{K}-jobs", {}), slot, args, work, label, cost,
                     INLINE_BUDGET)
    if job is not None and job.done:
        st.error(f"{label} failed: {job.error}", icon=":material/error:")
    elif job is not None:
        @st.fragment(run_every=0.5)
        def poll() -> None:
            job.touch()
            if job.done:
                st.rerun(scope="app")
            st.progress(job.fraction, text=job.status_text() + " (in the background: the page stays usable)")

        poll()
    return res


def sampling(model, key: str, sampler: str, steps: int, eta: float, spacing: str, labels: tuple, w: float, seed: int,
             device: str):
    """A trajectory (None while it is sampled in the background)."""
    n_steps = C.T if sampler == "ddpm" else steps

    def work(progress):                # on its own copy: the cached model is shared by every session
        return S.generate(copy.deepcopy(model), sampler=sampler, num_steps=n_steps, eta=eta, labels=torch.tensor(labels),
                          guidance=w, seed=seed, device=device, progress=progress, spacing=spacing)

    return background(sampler, (key, sampler, n_steps, eta, spacing, labels, w, seed, device), work,
                      f"{sampler.upper()} · {n_steps:,} steps", C.network_evals(n_steps, w) * len(labels))


# ================================================================ 1. forward process
@st.fragment
def forward_process() -> None:
    st.header("1 · The forward process: noise an image step by step")
    c1, c2 = st.columns([1, 2])
    with c1:
        src = st.radio("Image", ["food shape", "digit", "photo"], horizontal=True, key="ddpm-src", bind=BIND)
        if src == "food shape":
            fcls = st.selectbox("Food", FOOD_CLASSES, key="ddpm-fwd-food", bind=BIND)
            idx = st.number_input("Which one", 0, 99, 0, key="ddpm-fwd-idx", bind=BIND)
            img_name, key_img = f"{fcls} #{idx}", ("food", fcls, int(idx))
        elif src == "digit":
            idx = st.number_input("Digit index", 0, 1796, 0, key="ddpm-fwd-digit", bind=BIND)
            img_name, key_img = f"digit #{idx}", ("digit", "", int(idx))
        else:
            img_name, photo = ui.image_input("ddpm-fwd", size=64, container=st.container())
            key_img = ("photo", img_name, 0)
        t = st.slider("Timestep t", 0, 1000, 250, key="ddpm-fwd-t", bind=BIND,
                      help="t = 0 is the clean image; t = 1000 is (almost) pure noise.")
    image = photo if src == "photo" else source_image(*key_img)
    views = {k: cached_forward(image, key_img, t, k, sess.seed) for k in D.SCHEDULES}
    zoom = max(1, 128 // image.shape[-1])
    with c2:
        ui.show(P.forward_row_figure(image, views, img_name, t, zoom), key="ddpm-fwd-pics")
    ui.show(P.schedule_figure(V.schedule_curves(), t), key="ddpm-schedules")
    share.figure_csv_download(lambda: P.schedule_figure(V.schedule_curves(), t, max_points=None),
                              "ddpm-noise-schedules", key="ddpm-schedules",
                              label="Schedules: β, ᾱ, SNR (CSV)")
    m = st.columns(3)
    for col, (k, v) in zip(m, views.items(), strict=True):
        col.metric(f"{k}: ᾱ_{t}", f"{v.alpha_bar:.3f}", help="Signal kept = √ᾱ_t; noise std = √(1 − ᾱ_t).")
        col.caption(C.snr_caption(v, V.t_where_snr_crosses(k)))
    closed = st.expander("Closed form (Ho eq. 4) vs. t single steps (eq. 2): the same distribution",
                         key="ddpm-fwd-closed-open", on_change="rerun")      # drawn only while open
    with closed:
        if closed.open:
            st.markdown(C.CLOSED_FORM)
            v = views["linear"]
            ui.show(P.closed_form_figure(v.closed_form, v.stepwise, t, zoom), key="ddpm-fwd-steps")


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
        st.error(C.wrong_size(model.config.in_channels, model.config.image_size), icon=":material/error:")
        return None
    return picked, model, key, dataset


# ================================================================ 2. reverse process
def reverse_process(model, key: str, dataset: str, clf, card: dict, source: str) -> tuple[float, int]:
    """Sample with DDIM (and DDPM on demand) and scrub the trajectory; returns the guidance scale and the
    seed (section 3 measures at the same settings)."""
    st.header("2 · The reverse process: denoise step by step")
    classes = V.class_names(dataset)
    r1, r2, r3, r4 = st.columns(4)
    cls = r1.selectbox("Class (y)", ["one of each"] + classes, index=1, key="ddpm-cls", bind=BIND,
                       help="The label the U-Net is conditioned on.")
    guidance = r2.slider("Guidance scale w", 0.0, 6.0, 4.0 if dataset == "food_shapes" else 2.0, 0.5,
                         key="ddpm-w", bind=BIND, help=C.GUIDANCE_HELP)
    n_img = r3.slider("Images", 2, 16, 8, key="ddpm-n", bind=BIND)
    seed = r4.number_input("Seed (x_T)", 0, 2**31 - 1, min(sess.seed, 2**31 - 1), key="ddpm-seed", bind=BIND,
                           help="Starts at the Global seed (Session, in the sidebar) the first time the page opens.")
    s1, s2, s4, s3 = st.columns([1, 1, 1, 2])
    ddim_steps = s1.select_slider("DDIM steps", [5, 10, 20, 25, 50, 100, 200, 500, 1000], C.DDIM_STEPS, key="ddpm-ddim-steps",
                                  bind=BIND)
    eta = s2.slider("DDIM η", 0.0, 1.0, 0.0, 0.1, key="ddpm-eta", bind=BIND,
                    help="0: deterministic DDIM; 1: as noisy as DDPM.")
    spacing = s4.radio("DDIM starts at", D.SPACINGS, key="ddpm-spacing", bind=BIND, horizontal=True,
                       format_func=C.SPACING_NAMES.get, help=C.spacing_help(S.schedule_for(model), ddim_steps))
    labels = (torch.arange(n_img) % len(classes)) if cls == "one of each" else torch.full((n_img,), classes.index(cls))
    args = (tuple(labels.tolist()), float(guidance), int(seed), sess.device)
    ddim = sampling(model, key, "ddim", ddim_steps, eta, spacing, *args)
    est = estimate_seconds(ddim.step_seconds, C.T) if ddim is not None else float("nan")
    run_ddpm = s3.toggle(C.ddpm_toggle_label(est), key="ddpm-run-ddpm", bind=BIND, help=C.DDPM_HELP)
    trajs = {f"DDIM · {ddim_steps} steps · η={eta:g}": ddim}
    if run_ddpm:
        trajs = {f"DDPM · {C.T:,} steps": sampling(model, key, "ddpm", C.T, 1.0, "leading", *args), **trajs}
    sched = S.schedule_for(model)
    opts = V.common_timesteps([S.recorded_timesteps(sched, "ddpm" if "DDPM" in n else "ddim", ddim_steps,
                                                    spacing=spacing) for n in trajs])
    if st.session_state.get("ddpm-rev-t") not in (None, *opts):          # a value the new options lack: the nearest
        st.session_state["ddpm-rev-t"] = V.nearest(opts, st.session_state["ddpm-rev-t"])
    tsel = st.select_slider("Scrub the trajectory: noise level t", opts, V.nearest(opts, sched.T * 3 // 5),
                            key="ddpm-rev-t", bind=BIND,
                            help="The noise levels every sampler shown recorded: each panel shows exactly this t.")
    big = model.config.image_size >= 32
    cols = st.columns(len(trajs))
    for col, (name, tr) in zip(cols, trajs.items(), strict=True):
        if tr is None:
            continue
        f = tr.frame(tsel)
        which = "ddpm" if "DDPM" in name else "ddim"
        with col:
            ui.show(P.trajectory_figure(V.trajectory_rows(tr, f) + [tr.xt[-1]], f"{name}: t = {tr.timesteps[f]}",
                                        [classes[k][:6] for k in labels.tolist()] if cls == "one of each" else None,
                                        scale=3 if big else 5, width_hint=1000 // len(trajs)),
                    key=f"ddpm-rev-{which}-{len(trajs)}")
            st.caption(C.trajectory_caption(tr.num_steps, guidance, tr.seconds, est if which == "ddpm" else None))
            d1, d2 = st.columns(2)
            share.gif_download(lambda tr=tr: V.trajectory_gif_frames(tr), f"ddpm-{which}-{cls}-seed{seed}",
                               key=f"ddpm-gif-{which}", container=d1, label="Denoising (GIF)", frame_ms=80)
            share.image_download(lambda tr=tr: P.montage([tr.xt[-1]], scale=4), f"ddpm-{which}-samples-seed{seed}",
                                 key=f"ddpm-png-{which}", container=d2, label="Samples (PNG)")
    if clf is not None:
        verdicts(trajs, clf, classes, labels, dataset)
        if ddim is not None:
            headline_snippet(source, card, dataset, labels, ddim_steps, eta, guidance, seed, ddim, clf)
    done = [tr for tr in trajs.values() if tr is not None]
    if done and st.toggle("Animate the samplers (play button)", key="ddpm-animate", bind=BIND):
        ts, frames = V.animation_frames(done, n_frames=40)
        row_labels = [f"{k.split(' ·')[0]} {r}" for k, tr in trajs.items() if tr is not None for r in ("x_t", "x̂_0")]
        pics = [P.montage(rows, scale=2) for rows in frames]
        ui.show(P.animation_figure(pics, [f"t = {v}" for v in ts], "press ▶ to play the reverse process",
                                   row_labels, label_width=110), key="ddpm-anim")
        share.gif_download(lambda: pics, f"ddpm-animation-{cls}-seed{seed}", key="ddpm-anim", frame_ms=80,
                           label="This animation (GIF)")
    return float(guidance), int(seed)


def verdicts(trajs: dict, clf, classes: list[str], labels: torch.Tensor, dataset: str) -> None:
    """How many samples the classifier recognises as the class asked for (an image with no object: none)."""
    mc = st.columns(len(trajs))
    for col, (name, tr) in zip(mc, trajs.items(), strict=True):
        if tr is None:
            continue
        v = recognise(clf, tr.samples)
        col.metric(f"{name.split(' ·')[0]}: recognised as the requested class", recognised_text(v, labels.numpy()),
                   help=f"The shipped {CLASSIFIERS[dataset]} classifier's verdict on the final samples.")
        col.caption("classifier says: " + ", ".join(v.names(classes)))
    st.caption(NO_OBJECT_RULE)


def headline_snippet(source: str, card: dict, dataset: str, labels, steps: int, eta: float, guidance: float,
                     seed: int, ddim, clf) -> None:
    v = recognise(clf, ddim.samples)
    shown = recognised_text(v, labels.numpy())
    body = V.snippet_body(source if source in GENERATORS.values() else "ddpm_food", CLASSIFIERS[dataset],
                          labels.tolist(), steps, eta, guidance, seed)
    if source not in GENERATORS.values():
        body = C.not_shipped_note() + body
    share.notebook(page="ddpm", label="DDIM samples recognised as the requested class", shown=shown, body=body,
                   key="ddpm-nb")


# ================================================================ 3. sample quality
def quality(model, key: str, clf, dataset: str, n_per: int, steps: int, w: float, seed: int):
    """Samples of every class, scored (None while they are drawn in the background)."""
    def work(progress):
        return score_samples(copy.deepcopy(model), clf, dataset, n_per, steps, w, seed, progress)

    n = n_per * max(1, model.config.num_classes)
    return background(f"quality-w{w:g}", ("quality", key, dataset, n_per, steps, w, seed), work,
                      f"{n} samples at w = {w:g}", n * C.network_evals(steps, w))


def sample_quality(model, key: str, card: dict, dataset: str, clf, guidance: float, seed: int) -> None:
    st.header("3 · How good are the samples? A number for it")
    classes = V.class_names(dataset)
    st.markdown(C.quality_intro(CLASSIFIERS[dataset]))
    rows, caption = V.card_metrics(card)
    for col, (label, value, help_) in zip(st.columns(max(1, len(rows))), rows):
        col.metric(label, value, help=help_)
    if caption:
        st.caption(caption)
    q1, q2, q3 = st.columns(3)
    n_per = q1.select_slider("Samples per class", [5, 10, 20, 50], 10, key="ddpm-q-n", bind=BIND)
    q_steps = q2.select_slider("DDIM steps", [10, 25, 50], 10, key="ddpm-q-steps", bind=BIND)
    sweep = q3.toggle(C.SWEEP_LABEL, key="ddpm-q-sweep", bind=BIND,
                      help="Higher w: samples look more like their class, but less varied.")
    if clf is None or not st.toggle(C.measure_label(n_per * len(classes), guidance), key="ddpm-q-go", bind=BIND):
        return
    ws = sorted({*C.SWEEP_WS, guidance}) if sweep else [guidance]
    results = {w: quality(model, key, clf, dataset, n_per, q_steps, w, seed) for w in ws}
    if any(r is None for r in results.values()):
        return
    q, v = results[guidance]
    acc = V.recognised_share(v, q.requested)
    a1, a2, a3, a4 = st.columns(4)
    a1.metric("Recognised as the requested class", f"{acc:.0%}", help=C.recognised_help(len(classes), q.accuracy))
    a2.metric("No object", f"{v.blank.mean():.0%}", help="Samples with nothing standing out from the background.")
    a3.metric("FD to real images", f"{q.fd:.2f}")
    a4.metric("FD real vs real (floor)", f"{q.fd_real:.2f}")
    per = V.per_class_share(v, q.requested, len(classes))
    fig = P.per_class_figure(classes, per, 1 / len(classes), title=C.per_class_title(guidance, q.n))
    g1, g2 = st.columns([3, 2]) if sweep else (st.container(), None)
    with g1:
        ui.show(fig, key="ddpm-q-class")
        share.figure_csv_download(fig, f"ddpm-per-class-w{guidance:g}", key="ddpm-q-class")
    if sweep:
        with g2:
            sw = P.guidance_sweep_figure(ws, [V.recognised_share(results[w][1], results[w][0].requested) for w in ws],
                                         [results[w][0].fd for w in ws], q.fd_real)
            ui.show(sw, key="ddpm-q-sweep-fig")
            share.figure_csv_download(sw, f"ddpm-guidance-sweep-{n_per}per-class", key="ddpm-q-sweep")


# ================================================================ 4. live training
def training_controls() -> None:
    """The sidebar's "train your own" settings and its Train button (the run is read back by the model
    picker on the next rerun and by :func:`live_training`)."""
    st.sidebar.header("Train your own DDPM")
    train_ds = st.sidebar.radio("Data", ["digits", "food shapes"], horizontal=True, key="ddpm-train-ds", bind=BIND)
    st.sidebar.caption(C.readable_for("digits" if train_ds == "digits" else "food_shapes"))
    width = st.sidebar.select_slider("U-Net width (base channels)", [8, 16, 32], 16, key="ddpm-width", bind=BIND)
    sched_kind = st.sidebar.selectbox("Noise schedule", D.SCHEDULES, index=1, key="ddpm-sched", bind=BIND)
    hp = ui.hyperparameters(K, lr=2e-3, steps=2000, batch_size=32)
    snap_every = st.sidebar.select_slider("Draw samples every", [25, 50, 100, 200, 500], 100, key="ddpm-snap",
                                          bind=BIND)

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
        fig = ui.live_cached("ddpm-buckets", tuple(vals), lambda: P.bucket_loss_figure(names, vals, title=C.BUCKETS_TITLE))
        ui.show(fig, key="ddpm-live-buckets")
        share.figure_csv_download(fig, "ddpm-loss-by-timestep", key="ddpm-live-buckets")
    snaps = list(tr.snapshots)
    if snaps:
        ui.show(ui.live_cached("ddpm-snaps", snaps[-1][0], lambda: P.snapshots_figure(snaps[-6:])),
                key="ddpm-live-snaps")
    c1, c2 = st.columns(2)
    if snaps:
        share.gif_download(lambda: V.snapshot_frames(snaps), f"ddpm-training-snapshots-{tr.step}steps",
                           key="ddpm-live-snaps", container=c1, label="Samples over training (GIF)", frame_ms=250)
    share.csv_download("Training log (CSV)", lambda: V.history_rows(tr), f"ddpm-training-log-{tr.step}steps",
                       key="ddpm-live-log", container=c2)


def live_training() -> None:
    st.header("4 · Train your own: watch the samples emerge")
    st.markdown(C.live_intro())
    ui.training_monitor(K, metrics=("loss", "sample_acc"), live=live_view)
    if ui.get_run(K) is None:
        st.info(C.NO_RUN, icon=":material/model_training:")


def try_this() -> None:
    ui.try_this([
        ("Section 1: set t = 500 and compare the three schedules. Which one has already destroyed the image? "
         "Where does each one's SNR cross 1?"),
        "Section 2: DDIM with **5 steps** vs 50: how much worse are the samples, and how much faster?",
        ("Set the guidance scale to **0** (unconditional): what does the model make when nobody asks for a hotdog? "
         "Then try w = 6: sharper classes, but do all hotdogs start to look alike?"),
        "Scrub t from the top down: at which t does x̂_0 first look like a hotdog? (Coarse shape first, details last.)",
        C.SPACING_PROMPT,
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
    source = picked.key.removeprefix("shipped:") if picked.source == "shipped" else picked.key
    guidance, seed = reverse_process(model, key, dataset, clf, picked.card, source)
    sample_quality(model, key, picked.card, dataset, clf, guidance, seed)
live_training()
try_this()
