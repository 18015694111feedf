"""Variational autoencoders (Kingma & Welling 2014): reconstructions and their ELBO, the latent map,
the decoded manifold, interpolation, latent sliders, KL per unit and the beta trade-off -- on shipped
checkpoints or on a VAE trained live from the sidebar."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st
import torch
import ui

import share
from dlviz import vae as V
from dlviz.checkpoints import shipped
from dlviz.data import DataError
from dlviz.imaging import tile, to_uint8, upscale
from dlviz.train import make_optimizer
from dlviz.vae import captions as C, embed, expost, views
from dlviz.vae import plots as P, state as S
from dlviz.vae.training import DATASETS, LIVE_DEFAULTS, SWEEP_BETAS, folder_note
from dlviz.vae.views import Explored

PAGE_INFO = {
    "title": "Variational autoencoders",
    "icon": ":material/blur_on:",
    "section": "Generative models",
    "order": 10,
    "question": "What does a VAE learn to put in its latent space, and what does the ELBO trade off?",
    "thumbnail": "dlviz.vae.views:thumbnail",
}
SHIPPED = {"vae_digits2": ("digits", "digits · 2-D latent"), "vae_digits16": ("digits", "digits · 16-D latent"),
           "vae_food32": ("food", "food shapes · 32-D latent"), "vae_hotdog32": ("hotdog", "hotdogs · 32-D latent")}
K = "vae"
BIND = "query-params"
T0 = time.perf_counter()

ui.page_header(PAGE_INFO, C.INTRO)


@st.cache_resource(show_spinner="Loading data...", max_entries=8)
def data(key: str, split: str, root: str | None, folder: str | None):
    return V.load_data(key, split, root=root or "data", folder=folder)


@st.cache_resource(show_spinner="Encoding the test set...", max_entries=6)
def analyse(ck: str, _model, _test) -> dict:
    return views.analysis(_model, _test)


@st.cache_resource(max_entries=32, show_spinner=False)
def path_views(ck: str, ia: int, ib: int, steps: int, method: str, _model, _A, _emb) -> dict:
    return views.interpolation_view(_model, _A["mu"], ia, ib, steps, method, _A["proj"], _emb)


@st.cache_resource(max_entries=8, show_spinner="Importance sampling (IWAE)...")
def iwae(ck: str, k: int, _model, _x):
    return views.iwae_estimate(_model, _x, k)


# ---------------------------------------------------------------- sidebar: live training
def train_sidebar():
    st.sidebar.header("Train a VAE")
    ds = st.sidebar.selectbox("Data", list(DATASETS), format_func=lambda k: DATASETS[k].label, key=f"{K}-data",
                              bind=BIND)
    root = folder = None
    if ds in ("mnist", "fashion"):
        root = st.sidebar.text_input("Folder holding the torchvision data", "data", key=f"{K}-root", bind=BIND)
    elif ds == "folder":
        folder = st.sidebar.text_input("Image folder (flat, or one sub-folder per class)", key=f"{K}-folder",
                                       placeholder="~/Pictures/hotdogs", bind=BIND)
        if (counts := C.folder_summary(folder, data)) is not None:   # what the folder gives, what it left out
            st.sidebar.caption(counts)
    c1, c2 = st.sidebar.columns(2)
    latent = c1.select_slider("Latent size", [1, 2, 4, 8, 16, 32, 64], 16, key=f"{K}-latent", bind=BIND)
    beta = c2.select_slider("β", [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], 1.0, key=f"{K}-beta", bind=BIND,
                            help="β > 1 pushes codes toward the prior (β-VAE): a smaller KL, blurrier reconstructions.")
    warmup = st.sidebar.number_input("KL warm-up steps (β ramps up from 0)", 0, 10_000, 0, step=100, key=f"{K}-warm",
                                     bind=BIND)
    decoder = st.sidebar.selectbox("Decoder p(x|z)", ["auto", "bernoulli", "gaussian"], key=f"{K}-dec", bind=BIND,
                                   help="auto: Bernoulli for grey images, Gaussian with a learned σ for colour.")
    sweep = st.sidebar.toggle(C.SWEEP_LABEL, key=f"{K}-sweep", bind=BIND)
    hp = ui.hyperparameters(K, **LIVE_DEFAULTS)

    def start_training():
        runs = V.make_runs(data(ds, "train", root, folder), data(ds, "test", root, folder), ds, latent,
                           SWEEP_BETAS if sweep else (beta,), likelihood=None if decoder == "auto" else decoder,
                           make_optimizer=lambda p: make_optimizer(hp.optimizer, p, hp.lr, hp.weight_decay),
                           seed=ui.session().seed, steps=hp.steps, warmup=int(warmup), batch_size=hp.batch_size,
                           eval_every=max(50, hp.steps // 20))
        note = folder_note(data(ds, "train", root, folder).meta) if ds == "folder" else ""
        return runs, {"data": (ds, root, folder), "data_note": note}   # the run's card: what the views load for it

    run = ui.training_panel(K, start_training)
    ui.training_monitor(K, metrics=("recon", "kl", "test_elbo"), live=live_view)
    return run


def live_view(r) -> None:
    for msg in views.loss_warnings(r.trainers):     # a VAE's loss saturates instead of turning NaN: look for it
        st.warning(msg, icon=":material/trending_up:")
    if r.card.get("data_note"):
        st.info(f"From the folder: {r.card['data_note']}.", icon=":material/folder_off:")
    t = r.trainer
    shown = st.session_state.get(f"{K}-explored")     # the views below the tabs follow the run they show
    if not st.session_state.get(f"{K}-full-run") and views.should_follow(
            shown, r.trainers.get(str(shown[0])[5:], t).step if shown else 0, time.time(), r.active):
        st.rerun(scope="app")
    k, r_, f_ = r.card["data"]
    snap = st.session_state.get(f"{K}-live-snap")     # redraw at most every 2 s: the poll runs twice a second
    if S.snapshot_due(snap, id(t), t.step, time.time(), r.active):
        (mos_fig, fig), cost = S.timed(views.live_snapshot, t.model_copy(), data(k, "test", r_, f_))
        snap = (id(t), time.time(), t.step, mos_fig, fig, cost)
        st.session_state[f"{K}-live-snap"] = snap
    mos_fig, fig = snap[3], snap[4]
    c_img, c_map = st.columns([3, 2])
    with c_img:                                     # a PNG inside the figure: no media file for a fragment to lose
        ui.show(mos_fig, key=f"{K}-live-images")
        st.caption(C.live_caption(t.name, snap[2]))
    with c_map:
        ui.show(fig, key=f"{K}-live-map")
        st.caption("The test codes now (posterior means).")
    share.csv_download("Training log (CSV)", lambda: views.history_rows(r.trainers), f"vae-training-log-{t.step}steps",
                       key=f"{K}-live-log")


# ---------------------------------------------------------------- which model
def pick_model(explore, run, available) -> Explored:
    # Not ui.model_picker (yet): the page's tests drive this radio (key vae-src-*, options "my run · β=...",
    # values "live:<trainer>"), and the picker is a selectbox keyed vae-model with other labels.
    explore.header("Explore")
    sources, default = views.model_sources(SHIPPED, available, run)
    if not sources:
        st.error(C.NO_MODEL, icon=":material/error:")
        st.stop()
    S.follow_new_run(st.session_state, K, sources, default, run.id if run is not None else None)
    src = explore.radio("Model", sources, index=default, key=f"{K}-src", bind=BIND,
                        format_func=lambda s: SHIPPED[s][1] if s in SHIPPED else f"my run · {s[5:] or 'live'}")
    try:
        return S.explore_source(src, SHIPPED, run, lambda s: ui.load_shipped(s, expected_arch="conv_vae"), data)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()


def summary(m: Explored, A: dict, run) -> None:
    rows = views.summary_metrics(A, len(m.test), int(np.prod(m.test.shape)), m.model.config.latent_dim,
                                 m.model.config.likelihood)
    for col, (label, value, help_) in zip(st.columns(len(rows)), rows):
        col.metric(label, value, help=help_)
    st.caption(C.nats_caption(m.model, m.test.images, float(A["elbo"].mean())))
    card = m.card
    if card.get("metrics"):
        st.caption(C.card_caption(m.src, card))
    elif m.src not in SHIPPED:
        st.caption(C.run_caption(m.step, run.trainers[m.src[5:]].status == "running"))
        if run.card.get("data_note"):
            st.caption(f"From the folder: {run.card['data_note']}.")
    share.notebook(page="vae", label="the test ELBO", shown=rows[0][1], body=views.snippet_body(
        m.src if m.src in SHIPPED else None, m.dkey, *(run.card["data"][1:] if m.src not in SHIPPED else ())),
        key="vae-nb")


# ---------------------------------------------------------------- 1. reconstructions
@st.fragment
def reconstructions(m: Explored, A: dict) -> None:
    c1, c2 = st.columns([2, 1])
    how = c1.radio("Show", views.SELECTIONS, horizontal=True, key=f"{K}-show", bind=BIND)
    n_show = c2.slider("Images", 4, 16, 12, key=f"{K}-nshow", bind=BIND)
    idx = views.select_images(A["elbo"], how, n_show, seed=ui.session().seed)
    ui.show(ui.cached_figure("vae-recon", (m.ck, tuple(int(i) for i in idx)),
                             lambda: views.reconstruction_view(m.model, m.test, list(idx), A["elbo"])), key=f"{K}-recon")
    st.caption(C.RECONSTRUCTIONS)
    names = m.test.class_names
    share.csv_download("These images' ELBO (CSV)", lambda: C.recon_rows(A, idx, m.test.labels, names),
                       f"vae-{m.src}-elbo-{how}", key=f"{K}-recon")
    if m.model.config.likelihood == "gaussian":
        st.caption(C.gaussian_caption(float(m.model.sigma)))


# ---------------------------------------------------------------- 2. latent map + interpolation
def map_method(m: Explored, A: dict, run):
    """Which 2-D map the views draw: (method, positions, UMAP job, the radio's choice, whether a run trains)."""
    live_training = run is not None and run.active and m.src not in SHIPPED
    if m.model.config.latent_dim <= 2:
        return "identity", A["xy"], None, "PCA", live_training
    cache = embed.umap_cache_path(m.src) if m.src in SHIPPED else None
    job = None if live_training else embed.umap_job(m.ck, A["mu"], seed=0, cache=cache)
    want = st.radio("Map", ["UMAP", "PCA"], horizontal=True, key=f"{K}-proj", bind=BIND, help=C.MAP_HELP)
    method = "umap" if (want == "UMAP" and job is not None and job.embedding is not None) else "pca"
    return method, job.embedding if method == "umap" else A["xy"], job, want, live_training


def latent_map(m: Explored, A: dict, run) -> tuple[str, np.ndarray, int]:
    """The map, two endpoints and the paths between them; returns (map method, map positions, image A)."""
    test, ck, D = m.test, m.ck, m.model.config.latent_dim
    labels, names = test.labels.numpy(), test.class_names
    method, emb_xy, job, want, live_training = map_method(m, A, run)
    S.pick_from_map(st.session_state, K, ck, st.session_state.get(f"{K}-map"))   # a click sets A or B
    n_test = len(test)
    other = V.farthest_other_class(A["mu"], np.asarray(labels))  # B: far away, another class: a long path
    defaults = views.clamp_endpoints(st.session_state, K, n_test, {"A": 0, "B": other})
    c1, c2, c3, c4, c5 = st.columns([1, 1, 1.2, 1.3, 1.3])
    ia = int(c1.number_input("Image A (#)", 0, n_test - 1, defaults["A"], key=f"{K}-A", bind=BIND))
    ib = int(c2.number_input("Image B (#)", 0, n_test - 1, defaults["B"], key=f"{K}-B", bind=BIND))
    c3.radio("A click on the map sets", ["A", "B"], horizontal=True, key=f"{K}-target", bind=BIND)
    steps = c4.slider("Steps", 3, 15, 9, key=f"{K}-steps-ip", bind=BIND)
    color_by = c5.radio("Colour by", ["class", "ELBO"], horizontal=True, key=f"{K}-color", bind=BIND,
                        index=1 if test.num_classes == 1 else 0)
    pv = path_views(ck, ia, ib, steps, method, m.model, A, emb_xy)
    thumbs_on = st.toggle("Draw images on the map", key=f"{K}-thumbs", bind=BIND)
    cm, ci = st.columns([3, 2])
    with cm:
        fig = ui.cached_figure("vae-map", (ck, method, color_by, ia, ib, steps, thumbs_on), lambda: views.map_view(
            test, emb_xy, method, A["hover"], A["elbo"] if color_by == "ELBO" else None, pv["on_map"], ia, ib, thumbs_on))
        ui.show(fig, key=f"{K}-map", on_select="rerun", selection_mode="points")
        st.caption(views.map_caption(method, D, A["proj"].explained))
        status = C.umap_status(D, want, method, live_training, job)
        if status is not None and status[0] != "wait":
            getattr(st, status[0])(status[1], icon=":material/hourglass_top:" if status[0] == "info" else
                                   ":material/warning:")
        elif status is not None:
            @st.fragment(run_every=1.0)
            def _await_umap() -> None:
                if job.done:
                    st.rerun(scope="app")
                st.info(C.umap_wait(len(A["mu"]), time.perf_counter() - job.started), icon=":material/hourglass_top:")
            _await_umap()
    with ci:
        ui.show(pv["strips"], key=f"{K}-strips")
        ui.show(pv["norms"], key=f"{K}-norms")
        g = st.columns(3)
        for col, mode in zip(g, V.INTERPOLATIONS):
            share.gif_download(lambda mode=mode: views.interpolation_frames(m.model, A["mu"], ia, ib, steps, mode,
                               max(2, 128 // test.shape[1])), f"vae-{m.src}-{ia}-to-{ib}-{mode}",
                               key=f"{K}-gif-{mode}", container=col, label=f"{mode.capitalize()} path (GIF)")
        share.figure_csv_download(pv["norms"], f"vae-{m.src}-{ia}-to-{ib}-norms", key=f"{K}-norms", container=g[2],
                                  label="|z| (CSV)")
        st.caption(C.midpoint_caption(pv["mid"], D))
        sel = st.session_state.get(f"{K}-last-click")
        if sel and sel[0] == ck:
            i = int(sel[1][0])
            pair = tile(torch.cat([test.images[i:i + 1], V.reconstruct(m.model, test.images[i:i + 1])]), ncol=2)
            st.image(pair, width=160, caption=C.clicked_caption(i, names[labels[i]], float(A["elbo"][i])))
            share.image_download(lambda: pair, f"vae-{m.src}-image{i}-and-reconstruction", key=f"{K}-clicked")
    return method, emb_xy, ia


# ---------------------------------------------------------------- 3. manifold
@st.fragment
def manifold(m: Explored, A: dict, ia: int) -> None:
    D, stats = m.model.config.latent_dim, A["stats"]
    c1, c2, c3, c4 = st.columns(4)
    if D <= 2:
        da, db = 0, (1 if D == 2 else None)
    else:
        top = stats.top_dims(2)
        fmt = lambda d: f"z{d} (KL {float(stats.kl_per_dim[d]):.2f})"  # noqa: E731
        da = c1.selectbox("Horizontal: dimension", range(D), index=top[0], format_func=fmt, key=f"{K}-da", bind=BIND)
        db = c2.selectbox("Vertical: dimension", range(D), index=top[1], format_func=fmt, key=f"{K}-db", bind=BIND)
    n = c3.slider("Grid size", 5, 25, 15, key=f"{K}-n", bind=BIND)
    cover = c4.slider("Prior mass covered", 0.5, 0.998, 0.9, 0.002, key=f"{K}-cover", bind=BIND,
                      help="The grid runs over N(0,1) quantiles from (1-c)/2 to (1+c)/2: every cell is equally likely.")
    base_choice = st.radio("Other dimensions held at", ["0 (the prior mean)", "image A's code"], horizontal=True,
                           key=f"{K}-base", disabled=D <= 2, bind=BIND)
    if da == db:
        st.warning("Pick two different dimensions.", icon=":material/warning:")
        return
    use_a = base_choice.startswith("image") and D > 2
    base = torch.from_numpy(A["mu"][ia]) if use_a else None
    dims = (da,) if db is None else (da, db)
    ui.show(ui.cached_figure("vae-manifold", (m.ck, dims, n, cover, f"A{ia}" if use_a else "0"),
                             lambda: views.manifold_view(m.model, dims, n, cover, base)), key=f"{K}-manifold")
    st.caption(C.manifold_caption(da, db))


# ---------------------------------------------------------------- 4. latent sliders
def latent_sliders(m: Explored, A: dict, method: str, emb_xy: np.ndarray, ia: int) -> None:
    D, stats, ck = m.model.config.latent_dim, A["stats"], m.ck

    @st.fragment
    def sliders() -> None:
        t0 = time.perf_counter()
        dims = list(range(D)) if D <= 8 else sorted(stats.top_dims(8))
        bkey = f"{K}-zbase-{ck}"          # the code the sliders start from, per model; the sliders' keys: vae-z<d>

        def set_code(z: torch.Tensor, keep_link: bool = False) -> None:   # a link's values stay for its sliders
            S.set_code(st.session_state, K, bkey, dims, z, st.query_params if keep_link else None)

        if bkey not in st.session_state:
            set_code(torch.from_numpy(A["mu"][ia]), keep_link=True)
        b1, b2, b3 = st.columns(3)
        if b1.button("Sample from the prior", icon=":material/casino:", key=f"{K}-prior"):
            set_code(torch.randn(D))
        if b2.button("Image A's code", icon=":material/image:", key=f"{K}-toA"):
            set_code(torch.from_numpy(A["mu"][ia]))
        if b3.button("All zero (prior mean)", icon=":material/exposure_zero:", key=f"{K}-zero"):
            set_code(torch.zeros(D))
        c_sl, c_img = st.columns([3, 2])
        with c_sl:
            cols = st.columns(2)
            z = st.session_state[bkey].clone()
            for j, d in enumerate(dims):
                z[d] = cols[j % 2].slider(C.slider_label(d, float(stats.kl_per_dim[d]), bool(stats.active[d])),
                                          -4.0, 4.0, step=0.05, key=f"{K}-z{d}", bind=BIND)
            if D > len(dims):
                st.caption(C.sliders_caption(len(dims), D))
        with c_img:
            img = V.decode(m.model, z[None])
            pic = upscale(to_uint8(img[0]), max(4, 224 // m.test.shape[1]))
            st.image(pic, width=224)
            share.image_download(lambda: pic, f"vae-{m.src}-decoded-code", key=f"{K}-decoded")
            logp = V.prior_log_prob(z)
            cap = st.empty()
            star = views.place_on_map(z[None].numpy(), method, A["proj"], A["mu"], emb_xy)[0]
            small = S.held(st.session_state, f"{K}-smallmap", (ck, method),   # this session's own: only the star moves
                           lambda: views.small_map_figure(emb_xy, m.test, A["hover"]))
            small.data[-1].update(x=[float(star[0])], y=[float(star[1])])
            ui.show(small, key=f"{K}-slider-map")
            cap.caption(C.code_caption(float(z.norm()), D, logp, 1000 * (time.perf_counter() - t0)))

    sliders()


# ---------------------------------------------------------------- 5. samples: the prior or a fitted mixture
@st.cache_resource(show_spinner="Fitting a mixture to the training codes...", max_entries=6)
def code_mixture(ck: str, _model, dkey: str, droot, dfolder):
    return expost.fit_code_mixture(_model, data(dkey, "train", droot, dfolder).images)


@st.cache_data(show_spinner="Scoring 500 samples...", max_entries=32)
def scored(ck: str, source: str, seed: int, _model, _mixture, dkey: str) -> dict:
    return expost.sample_quality(expost.draw(_model, 500, source, _mixture, seed)[1], dkey)


@st.fragment
def samples(m: Explored) -> None:
    c1, c2, c3 = st.columns([2, 1, 1])
    source = c1.radio("Sample from", expost.SOURCES, format_func=expost.SOURCE_NAMES.get, horizontal=True,
                      key=f"{K}-from", bind=BIND, help=C.SAMPLE_SOURCE_HELP)
    n, seed = c2.slider("Images", 8, 64, 32, 8, key=f"{K}-nsamples", bind=BIND), int(
        c3.number_input("Seed", 0, 9999, 0, key=f"{K}-sample-seed", bind=BIND))
    mix = code_mixture(m.ck, m.model, m.dkey, m.droot, m.dfolder) if source == "mixture" else None
    pic = upscale(tile(expost.draw(m.model, n, source, mix, seed)[1], ncol=8), max(3, 96 // m.test.shape[1]))
    st.image(pic, width=min(800, pic.shape[1]), caption=C.SAMPLES)
    share.image_download(lambda: pic, f"vae-{m.src}-samples-{source}-seed{seed}", key=f"{K}-samples")
    if m.src in SHIPPED or st.button("Score 500 samples", key=f"{K}-score"):
        st.caption(expost.quality_text(scored(m.ck, source, seed, m.model, mix, m.dkey), source))


# ---------------------------------------------------------------- 6. diagnostics
def diagnostics(m: Explored, A: dict, run, available) -> None:
    c1, c2 = st.columns(2)
    with c1:
        s = A["stats"]
        kl = ui.cached_figure("vae-kl", (m.ck,), lambda: P.kl_per_dim_figure(s.kl_per_dim.numpy(), s.activity.numpy(),
                                                                               s.threshold))
        ui.show(kl, key=f"{K}-kl")
        share.figure_csv_download(kl, f"vae-{m.src}-kl-per-unit", key=f"{K}-kl")
        st.caption(C.KL_PER_UNIT)
        n_iw = min(C.IWAE_IMAGES, len(m.test))
        if st.button(f"Estimate log p(x) by importance sampling (k = {C.IWAE_K}, {n_iw} images)", key=f"{K}-iwae"):
            st.session_state[f"{K}-iwae-{m.ck}"] = True
        if st.session_state.get(f"{K}-iwae-{m.ck}"):
            lp, el = iwae(m.ck, C.IWAE_K, m.model, m.test.images[:n_iw])
            i1, i2 = st.columns(2)
            i1.metric(f"IWAE-{C.IWAE_K} bound", f"{lp:.1f} nats", f"{lp - el:+.1f} over the ELBO")
            i2.metric("ELBO (same images)", f"{el:.1f} nats")
            st.caption(C.iwae_caption(m.model.config.likelihood))
    with c2:
        rd = P.rate_distortion_figure(S.rd_points(available, m.dkey, run), C.this_model_point(A, m.model.config.latent_dim))
        ui.show(rd, key=f"{K}-rd")
        share.figure_csv_download(rd, f"vae-{m.dkey}-rate-distortion", key=f"{K}-rd")
        st.caption(C.RATE_DISTORTION)


st.session_state[f"{K}-full-run"] = True   # the live view follows the run only from its own (fragment) reruns
explore = st.sidebar.container()       # filled by pick_model, once we know whether a live run exists
run, available = train_sidebar(), shipped()
m = pick_model(explore, run, available)
A = analyse(m.ck, m.model, m.test)
summary(m, A, run)
tabs = st.tabs(["Reconstructions", "Latent map & interpolation", "Manifold", "Latent sliders", "Samples", "Diagnostics"])
with tabs[0]:
    reconstructions(m, A)
with tabs[1]:
    method, emb_xy, ia = latent_map(m, A, run)
with tabs[2]:
    manifold(m, A, ia)
with tabs[3]:
    latent_sliders(m, A, method, emb_xy, ia)
with tabs[4]:
    samples(m)
with tabs[5]:
    diagnostics(m, A, run, available)
st.session_state[f"{K}-explored"] = (m.src, m.step, time.time(), time.perf_counter() - T0)
st.session_state[f"{K}-full-run"] = False

ui.try_this(C.TRY_THIS)
