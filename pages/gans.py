"""Generative adversarial networks (Goodfellow et al. 2014): the two-player game on 2-D data, live, with D's
surface, G's warped noise grid and the gradients G receives; mode collapse measured as PacGAN and VEEGAN
measure it, over seeds; and the classic fixes, packing (PacGAN) and unrolled discriminators."""

from __future__ import annotations

import time
import zlib

import numpy as np
import pandas as pd
import streamlit as st
import torch
import ui

import share
from dlviz import gans as G
from dlviz.checkpoints import shipped
from dlviz.data import DataError
from dlviz.gans import images as I
from dlviz.gans import plots as P
from dlviz.gans import views
from dlviz.gans.metrics import mode_stats
from dlviz.gans.training import LIVE_DEFAULTS, ManualGame, make_live_dcgan, make_live_runs, seed_summary

PAGE_INFO = {
    "title": "GANs: the two-player game",
    "icon": ":material/sports_kabaddi:",
    "section": "Generative models",
    "order": 30,
    "question": "How do a generator and a discriminator train each other, and why does the generator drop modes?",
    "thumbnail": "dlviz.gans.views:thumbnail",
}
K = "gans"
SHIPPED, SHIPPED_DATA = views.SHIPPED, views.SHIPPED_DATA
METRIC_TITLES, LRS, OPTS = views.METRIC_TITLES, views.LRS, views.OPTS
BIND = "query-params"

ui.page_header(PAGE_INFO, (
    "A **generator** G maps noise $z$ to samples; a **discriminator** D scores samples as real or fake. D descends "
    "its loss, G descends its own: $\\min_G \\max_D\\, \\mathbb E_{p_{data}}[\\log D(x)] + \\mathbb E_z[\\log(1-D(G(z)))]$. "
    "Watch the game in 2-D, then **measure** how many modes of the data G really covers -- over several seeds, "
    "because one run is noise."))


# ---------------------------------------------------------------- sidebar: the live game
def sidebar_controls() -> dict | None:
    sb = st.sidebar
    sb.header("Train a 2-D GAN")
    key = sb.selectbox("Data", list(G.DATASETS), format_func=G.DATASETS.get, key=f"{K}-data", bind=BIND)
    points = None
    if key == "custom":
        points = custom_points(sb)
    loss = sb.selectbox("Loss", list(G.LOSSES), index=1, format_func=G.LOSSES.get, key=f"{K}-loss", bind=BIND)
    with sb.expander("Players", expanded=False):
        c1, c2 = st.columns(2)
        gw = c1.select_slider("G width", [16, 32, 64, 128, 256], LIVE_DEFAULTS["width"], key=f"{K}-gw", bind=BIND)
        gd = c2.slider("G hidden layers", 1, 5, 3, key=f"{K}-gd", bind=BIND)
        dw = c1.select_slider("D width", [16, 32, 64, 128, 256], LIVE_DEFAULTS["width"], key=f"{K}-dw", bind=BIND)
        dd = c2.slider("D hidden layers", 1, 5, 3, key=f"{K}-dd", bind=BIND)
        nz = c1.select_slider("Noise dimension", [1, 2, 3, 4, 8, 16], 2, key=f"{K}-nz", bind=BIND)
        nk = c2.radio("Noise", ["gaussian", "uniform"], key=f"{K}-noise", bind=BIND)
    c1, c2 = sb.columns(2)
    d_opt = c1.selectbox("D optimizer", OPTS, key=f"{K}-dopt", bind=BIND)
    g_opt = c2.selectbox("G optimizer", OPTS, key=f"{K}-gopt", bind=BIND)
    d_lr = c1.select_slider("D learning rate", LRS, LIVE_DEFAULTS["lr"], key=f"{K}-dlr", bind=BIND, format_func=lambda v: f"{v:g}")
    g_lr = c2.select_slider("G learning rate", LRS, LIVE_DEFAULTS["lr"], key=f"{K}-glr", bind=BIND, format_func=lambda v: f"{v:g}")
    d_steps = c1.slider("D steps per G step", 1, 5, 1, key=f"{K}-dsteps", bind=BIND)
    bs = c2.select_slider("Batch", [32, 64, 128, 256, 512], LIVE_DEFAULTS["batch_size"], key=f"{K}-bs", bind=BIND)
    steps = sb.number_input("Steps", 50, 20_000, LIVE_DEFAULTS["steps"], step=250, key=f"{K}-steps", bind=BIND)
    decay = sb.toggle("Decay both learning rates to 5 % (as the shipped runs)", True, key=f"{K}-decay", bind=BIND)
    sb.markdown("**Fixes for mode collapse**")
    pack = sb.slider("Packing m (PacGAN)", 1, 4, 1, key=f"{K}-pack", bind=BIND,
                     help="D judges m samples at once, all real or all fake: a collapsed G is easy to spot in a pack.")
    unroll = sb.slider("Unrolled D steps k", 0, 10, 0, key=f"{K}-unroll", bind=BIND,
                       help="G's loss is taken through D after k look-ahead updates (Metz et al. 2017); slower.")
    five = sb.toggle("Run 5 seeds (mean ± standard error)", key=f"{K}-five", bind=BIND)
    if key == "custom" and points is None:
        return None
    return dict(key=key, points=points, loss=loss, gw=gw, gd=gd, dw=dw, dd=dd, nz=nz, nk=nk, d_opt=d_opt, g_opt=g_opt,
                d_lr=float(d_lr), g_lr=float(g_lr), d_steps=d_steps, bs=bs, steps=int(steps), pack=pack,
                unroll=unroll, five=five, lr_final=0.05 if decay else 1.0)


def custom_points(sb):
    """Points drawn on the canvas (a lasso or box adds a blob per target inside it) and/or pasted / uploaded rows."""
    drawn = st.session_state.setdefault(f"{K}-drawn", {"pts": np.zeros((0, 2)), "seen": None})
    targets = G.canvas_targets()
    sb.caption("Draw a lasso on the canvas (or box-select): each target inside adds a blob of 20 points.")
    with sb:
        ev = ui.show(P.canvas_figure(targets, drawn["pts"]), key=f"{K}-canvas", on_select="rerun",
                     selection_mode=("points", "lasso", "box"))
    if G.add_clicks(drawn, G.clicked_points(ev, targets)):
        st.rerun()
    if len(drawn["pts"]) and sb.button("Clear my drawing", key=f"{K}-clear"):
        drawn["pts"] = np.zeros((0, 2))
        st.rerun()
    text = sb.text_area("...or paste x,y rows (one point per line)", key=f"{K}-paste", height=80,
                        placeholder="0.1, 0.2\n-1.0, 0.5\n...")
    up = sb.file_uploader("...or a CSV with two numeric columns", type=["csv", "txt"], key=f"{K}-csv")
    raw = up.getvalue() if up is not None else text
    if not raw.strip() and not len(drawn["pts"]):
        sb.info("Draw or paste your points to train on them.", icon=":material/draw:")
        return None
    try:
        points = G.combine_points(G.parse_points(raw) if raw.strip() else None, drawn["pts"])
        sb.caption(f"{len(points):,} points ({len(drawn['pts']):,} drawn).")
        return points
    except DataError as e:
        sb.error(str(e), icon=":material/error:")


@st.cache_resource(show_spinner=False, max_entries=4)
def dataset(key: str, points_key: int, _points):
    return G.make_dataset(key, _points)


def start_training(cfg: dict | None):
    if cfg is None:
        raise DataError("give your points first (see the message above)")
    data = dataset(cfg["key"], zlib.crc32(np.asarray(cfg["points"]).tobytes()) if cfg["points"] is not None else 0,
                   cfg["points"])
    return make_live_runs(cfg, data, ui.session().seed)


CFG = sidebar_controls()
run = ui.training_panel(K, lambda: start_training(CFG))


def live_view(r) -> None:
    t = r.trainer
    snaps = views.replay_snapshots(t)           # never a snapshot of weights a divergence threw away
    if not snaps:
        return
    held = st.session_state.get(f"{K}-live")
    if held is None or held[0] != id(t) or (held[2] != snaps[-1][0] and (time.time() - held[1] > 1.0 or not r.active)):
        snap = snaps[-1][1]
        d = t.gan_data
        fig = P.layered_figure(snap, views.real_points(d), t.gan_loss, d.bounds(), modes=d.modes, height=430)
        held = (id(t), time.time(), snap.step, fig)
        st.session_state[f"{K}-live"] = held
    ui.show(held[3], key=f"{K}-live-fig")
    st.caption(views.live_caption(t.name, held[2]))
    share.csv_download("Training log (CSV)", lambda: views.history_rows(r.trainers), f"gans-training-log-{t.step}steps",
                       key=f"{K}-live-log")


ui.training_monitor(K, metrics=("d_loss", "g_loss", "modes_captured"), live=live_view, log_y=False)


# ---------------------------------------------------------------- which model
def _sources() -> list[str]:
    avail = shipped()
    out = [s for s in SHIPPED if s in avail]
    if run is not None and run.trainer.step > 0:
        out += [f"live:{n}" for n in run.trainers]
    return out


def _load(src: str):
    """(model, data, loss, trainer or None) for a source."""
    if src in SHIPPED:
        model, card = ui.load_shipped(src, expected_arch="gan_mlp")
        return model, G.make_dataset(SHIPPED_DATA[src]), card.get("loss", "non-saturating"), None, card
    tr = run.trainers[src[5:]]
    return tr.model_copy(), tr.gan_data, tr.gan_loss, tr, {}


# ---------------------------------------------------------------- 1. the game, step by step
@st.fragment
def the_game() -> None:
    st.subheader("1 · The game, layer by layer")
    srcs = _sources()
    if not srcs:
        st.info("No GAN is shipped here yet and no run has trained: press **Train** in the sidebar.",
                icon=":material/info:")
        return
    default = len(srcs) - 1 if any(s.startswith("live:") for s in srcs) else 0
    if run is not None and default and st.session_state.get(f"{K}-seen-run") != run.id:   # a new run: show it
        st.session_state[f"{K}-seen-run"] = run.id
        st.session_state[f"{K}-src"] = srcs[default]
    if st.session_state.get(f"{K}-src") not in (None, *srcs):
        st.session_state.pop(f"{K}-src")
    src = st.radio("Model", srcs, index=default, horizontal=True, format_func=views.source_label, key=f"{K}-src", bind=BIND)
    model, data, loss, tr, card = _load(src)
    layers = st.pills("Layers", P.LAYERS, selection_mode="multi", default=list(P.LAYERS), key=f"{K}-layers",
                      bind=BIND)
    man_key = f"{K}-manual"
    manual = st.session_state.get(man_key)
    if manual is not None and manual.source != (src, tr.step if tr else 0):
        manual = st.session_state[man_key] = None
    c_fig, c_ctl = st.columns([3, 1])
    with c_ctl:
        st.markdown("**Move one player**")
        n = st.select_slider("Updates per click", [1, 10, 100], 10, key=f"{K}-nman", bind=BIND)
        b1, b2 = st.columns(2)
        step_d, step_g = b1.button("Step D", key=f"{K}-stepd"), b2.button("Step G", key=f"{K}-stepg")
        if step_d or step_g:
            if manual is None:
                manual = st.session_state[man_key] = ManualGame(ui.copy_model(model), loss, (src, tr.step if tr else 0))
            manual.step("D" if step_d else "G", n, data)
        if manual is not None and st.button("Back to the model", key=f"{K}-reset"):
            manual = st.session_state[man_key] = None
        st.caption(views.MANUAL_CAPTION)
    snap_step = None
    if manual is not None:
        shown, title = manual.model.eval(), manual.title
    else:
        shown, title = model, None
        good = views.replay_snapshots(tr) if tr is not None else []
        if good:
            steps_avail = [s for s, _ in good]
            snap_step = st.select_slider("Replay: step", steps_avail, value=steps_avail[-1], key=f"{K}-scrub-{id(tr)}")
            if tr.status == "diverged":
                st.caption(f"The replay ends at step {tr.step:,}, the last good state the run kept.")
            share.gif_download(lambda: views.replay_frames(good, views.real_points(data), data.bounds(), data.modes, loss),
                               f"gans-replay-{src[5:] or 'run'}-{steps_avail[-1]}steps", key=f"{K}-replay",
                               label="Replay (GIF)", frame_ms=150)
    with c_fig:
        if snap_step is not None:
            snap = dict(good)[snap_step]
        else:
            snap = views.snapshot(shown, loss, tr.step if tr else card.get("steps", 0), data.bounds(),
                                  shown.noise(500, torch.Generator().manual_seed(1)).cpu())
        fig = P.layered_figure(snap, views.real_points(data), loss, data.bounds(), layers=layers or (), modes=data.modes)
        if title:
            fig.update_layout(title=title)
        ui.show(fig, key=f"{K}-game")
    if data.has_modes and snap_step is None:
        with torch.no_grad():
            x = shown.generate(2500, torch.Generator().manual_seed(0)).numpy()
        ms = mode_stats(x, data.modes, data.sigma)
        for col, (label, value, help_) in zip(st.columns(4), views.mode_cards(ms)):
            col.metric(label, value, help=help_)
        hist = P.mode_histogram_figure(ms.counts, data.modes, ms.min_count)
        ui.show(hist, key=f"{K}-hist")
        share.figure_csv_download(hist, f"gans-{src}-modes", key=f"{K}-hist", label="Samples per mode (CSV)")
        if src in SHIPPED and manual is None:
            share.notebook(page="gans", label="modes captured", shown=f"{ms.modes_captured} / {ms.n_modes}",
                           body=views.snippet_body(src, SHIPPED_DATA[src]), key="gans-nb")


# ---------------------------------------------------------------- 2. the measurements over time, over seeds
def measurements() -> None:
    st.subheader("2 · The measurements over time")
    if run is None or run.trainer.step == 0:
        st.caption("Train a run (or 5 seeds) to record the measurements over time here.")
        return
    hist = {n: t.history() for n, t in run.trainers.items()}
    f1 = P.measurements_figure(hist, ("modes_captured", "high_quality_frac", "reverse_kl"), METRIC_TITLES)
    ui.show(f1, key=f"{K}-modes-time")
    f2 = P.measurements_figure(hist, ("distance", "d_acc", "g_grad"), METRIC_TITLES)
    ui.show(f2, key=f"{K}-game-time")
    d1, d2 = st.columns(2)
    share.figure_csv_download(f1, "gans-modes-over-time", key=f"{K}-modes-time", container=d1,
                              label="Mode measurements (CSV)")
    share.csv_download("Every recorded metric (CSV)", lambda: views.history_rows(run.trainers), "gans-training-log",
                       key=f"{K}-log", container=d2)
    st.caption(views.GAME_CAPTION)
    if run.trainer.gan_data.has_modes:
        st.dataframe(pd.DataFrame(views.seed_rows(seed_summary(run.trainers))), hide_index=True, width="stretch")
        if len(run.trainers) == 1:
            st.caption("One run is one draw: switch on **Run 5 seeds** to get a standard error.")


# ---------------------------------------------------------------- 3. the shipped results over seeds
def shipped_results() -> None:
    st.subheader("3 · Mode collapse over seeds: the shipped runs")
    avail = shipped()
    rows = views.shipped_rows(avail, SHIPPED, METRIC_TITLES)
    if not rows:
        st.caption("No GAN checkpoints are shipped here (`python -m dlviz.train gan_grid_vanilla`).")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(views.shipped_caption(avail, SHIPPED))
    for text in (views.budget_sentence(avail, SHIPPED), views.packing_verdict(avail),
                 views.longer_run_sentence(views.load_long_run(), avail["gan_grid_pac2"].card.get("config")
                                           if "gan_grid_pac2" in avail else None)):
        if text:
            st.markdown(text)
    sweep = views.load_sweep()
    if sweep:
        st.markdown("**The paper's network sizes**, 5 seeds each, measured by `benchmarks/gan_grid_sweep.py` "
                    "(weights not shipped: over the checkpoint size budget even in float16)")
        st.dataframe(pd.DataFrame(views.sweep_rows(sweep, METRIC_TITLES)), hide_index=True, width="stretch")
        st.markdown(views.sweep_verdict(sweep))
    ref = views.load_sweep(views.REF_SWEEP)
    if ref:
        st.markdown("**PacGAN's reference architecture**, narrower, measured the same way")
        st.dataframe(pd.DataFrame(views.sweep_rows(ref, METRIC_TITLES)), hide_index=True, width="stretch")
        st.markdown(views.ref_sweep_verdict(ref))
    st.markdown(views.reference_gap(avail, one_sample_modes(tuple(sorted(avail)))))


one_sample_modes = st.cache_data(show_spinner=False, max_entries=4)(views.grid_one_sample_modes)


# ---------------------------------------------------------------- 4. an image GAN
KI = f"{K}-img"
IMG_SHIPPED = I.SHIPPED                                               # checkpoint -> (image set, label)


def image_gan() -> None:
    st.subheader("4 · An image GAN: the third hotdog generator")
    st.markdown("A DCGAN (Radford et al. 2016): G upsamples $z$ with transposed convolutions, D downsamples with "
                "strided ones. The same game, in 256 or 3,072 dimensions instead of 2.")
    with st.expander("Train a DCGAN live", expanded=False):
        c1, c2, c3, c4, c5 = st.columns(5)
        key = c1.selectbox("Images", list(I.IMAGE_SETS), format_func=I.IMAGE_SETS.get, key=f"{KI}-data", bind=BIND)
        cond = c2.toggle("Conditional (on the class)", key=f"{KI}-cond", bind=BIND)
        steps = c3.number_input("Steps", 20, 10_000, 1000, step=100, key=f"{KI}-steps", bind=BIND)
        lr = c4.select_slider("Learning rate", LRS, 3e-4, key=f"{KI}-lr", bind=BIND, format_func=lambda v: f"{v:g}")
        loss = c5.selectbox("Loss", list(G.LOSSES), index=1, key=f"{KI}-loss", bind=BIND)
        irun = ui.training_panel(KI, lambda: make_live_dcgan(key, cond, int(steps), float(lr), loss,
                                                             ui.session().seed),
                                 label="Train the DCGAN", container=st.container())

        def live(r) -> None:
            t = r.trainer
            if t.snapshots:
                ui.show(P.image_grid_figure(t.snapshots[-1][1], f"fixed noise, step {t.snapshots[-1][0]:,}", 300),
                        key=f"{KI}-live")
                st.caption(f"D's accuracy {t.latest('d_acc'):.2f} (near 1: D is winning); |∂L_G/∂x| per sample "
                           f"{t.latest('g_grad'):.3g} (near 0: G's gradient has vanished).")

        ui.training_monitor(KI, metrics=("d_loss", "g_loss", "d_acc"), live=live, log_y=False)
    avail = shipped()
    srcs = [s for s in IMG_SHIPPED if s in avail] + (["live"] if irun is not None and irun.trainer.step > 0 else [])
    if not srcs:
        st.caption("No DCGAN is shipped here; train one above (or `python -m dlviz.train dcgan_digits`).")
        return
    if st.session_state.get(f"{KI}-src") not in (None, *srcs):
        st.session_state.pop(f"{KI}-src")
    if "live" in srcs and st.session_state.get(f"{KI}-seen-run") != irun.id:      # a new run: show it
        st.session_state[f"{KI}-seen-run"] = irun.id
        st.session_state[f"{KI}-src"] = "live"
    src = st.radio("Image model", srcs, index=len(srcs) - 1, horizontal=True, key=f"{KI}-src", bind=BIND,
                   format_func=lambda s: IMG_SHIPPED[s][1] if s in IMG_SHIPPED else "my run")
    if src == "live":
        tr = irun.trainer
        model, ikey = tr.model_copy(), tr.img_key
    else:
        model, _ = ui.load_shipped(src, expected_arch="dcgan")
        ikey, tr = IMG_SHIPPED[src][0], None
    scale = max(2, 128 // model.config.image_size)
    names = I.class_names(ikey)
    label = None
    if model.config.num_classes:
        pick = st.selectbox("Ask G for", ["every class in turn"] + names, key=f"{KI}-class", bind=BIND)
        label = names.index(pick) if pick in names else None
    c1, c2 = st.columns(2)
    with c1:
        seed = st.number_input("Noise seed", 0, 10_000, 0, key=f"{KI}-seed", bind=BIND)
        x = I.generate(model, 32, seed=int(seed), labels=I.requested(model, 32, label))
        ui.show(P.image_grid_figure(views.mosaic(x, 8, 2), "samples", 300), key=f"{KI}-samples")
        good = views.replay_snapshots(tr) if tr is not None else []
        if good:
            steps_avail = [s for s, _ in good]
            at_step = st.select_slider("Fixed-noise grid at step", steps_avail, steps_avail[-1], key=f"{KI}-scrub")
            ui.show(P.image_grid_figure(dict(good)[at_step], f"the same z at step {at_step:,}", 300),
                    key=f"{KI}-fixed")
            share.gif_download(lambda: [g for _, g in good], f"gans-dcgan-training-{steps_avail[-1]}steps",
                               key=f"{KI}-fixed", label="Samples over training (GIF)", scale=2, frame_ms=200)
    with c2:
        sph = st.toggle("Spherical interpolation", True, key=f"{KI}-slerp", bind=BIND)
        path = I.interpolate(model, 9, seed=int(seed), spherical=sph, label=label or 0)
        ui.show(P.image_grid_figure(views.mosaic(path, 9, scale // 2 or 1), "z₀ → z₁", 140), key=f"{KI}-interp")
        share.gif_download(lambda: path, f"gans-dcgan-interpolation-seed{int(seed)}", key=f"{KI}-interp",
                           label="Interpolation (GIF)", scale=max(2, scale // 2))
        div, cards = I.reading_cards(model, ikey, 500, int(seed), label)
        for col, (lab, val, help_) in zip([c for _ in range(0, len(cards), 2) for c in st.columns(2)], cards):
            col.metric(lab, val, help=help_)
        st.bar_chart(pd.DataFrame({"samples": div.counts}, index=names), height=180)
        share.csv_download("Classes among the samples (CSV)", lambda: {"class": names, "samples": list(div.counts)},
                           f"gans-dcgan-classes-seed{int(seed)}", key=f"{KI}-classes")
    compare_generators(ikey)


@st.cache_resource(show_spinner="Sampling the generators...", max_entries=2)
def _comparison(key: str, names: tuple[str, ...]):
    return I.compare(I.generators_for({n: ui.load_shipped(n)[0] for n in names}), key, n=200)


def compare_generators(key: str) -> None:
    names = tuple(n for n in I.COMPARE.get(key, ()) if n in shipped())
    st.markdown("**VAE, GAN and DDPM on one measure**")
    if len(names) < 2 or not st.toggle("Measure them (about a minute of sampling the first time)", key=f"{KI}-cmp",
                                       bind=BIND):
        st.caption("The same shared classifier and Fréchet distance as the DDPM page, 200 samples each.")
        return
    rows = _comparison(key, names)
    st.dataframe(pd.DataFrame(I.table_rows(rows)), hide_index=True, width="stretch")
    st.caption(I.COMPARE_CAPTION)


the_game()
measurements()
shipped_results()
image_gan()
ui.try_this(views.TRY_THIS)
