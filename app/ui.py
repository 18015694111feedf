"""The only shared Streamlit code: the session sidebar, page chrome, cached loaders, image input,
figure export, and the training panel that runs a dlviz Trainer in the background.

Pages import it as ``import ui`` (``app/`` is on ``sys.path`` when Streamlit runs the entry point).
"""

from __future__ import annotations

import ast
import copy
import importlib
import math
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from dlviz.jobs import Job

ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "pages"
SECTIONS = ["CNNs", "Training deep nets", "Generative models", "Sequence models", "Classifier lab"]


# ---------------------------------------------------------------- page discovery (used by Home.py)
@dataclass(frozen=True)
class PageInfo:
    path: Path
    title: str
    icon: str
    section: str
    order: int
    question: str
    thumbnail: str | None

    @property
    def slug(self) -> str:
        return self.path.stem


_PAGE_INFO_LOCK = threading.Lock()
_PAGE_INFO: dict[tuple, PageInfo] = {}


def read_page_info(path: Path) -> PageInfo:
    """Read the ``PAGE_INFO = {...}`` literal of a page without running the page: parsed once per version of the
    file for the whole server, under a lock. Every session's every run asks (the navigation is built each run),
    and ``ast.parse`` is not thread-safe in CPython 3.11: with eight sessions loading pages at once one of them
    failed with "SystemError: AST constructor recursion depth mismatch"."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    with _PAGE_INFO_LOCK:
        if key not in _PAGE_INFO:
            _PAGE_INFO[key] = _parse_page_info(path)
        return _PAGE_INFO[key]


def _parse_page_info(path: Path) -> PageInfo:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    info: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PAGE_INFO" for t in node.targets):
            info = ast.literal_eval(node.value)
            break
    title = info.get("title", path.stem.replace("_", " ").capitalize())
    return PageInfo(path, title, info.get("icon", ":material/article:"), info.get("section", "More"),
                    int(info.get("order", 100)), info.get("question", ""), info.get("thumbnail"))


def discover_pages() -> list[PageInfo]:
    pages = [read_page_info(p) for p in sorted(PAGES_DIR.glob("*.py")) if not p.name.startswith("_")]
    rank = {s: i for i, s in enumerate(SECTIONS)}
    return sorted(pages, key=lambda p: (rank.get(p.section, len(SECTIONS)), p.order, p.title))


THUMBS_DIR = ROOT / "app" / "thumbnails"


def render_thumbnail(spec: str) -> np.ndarray:
    """Call ``"module:function"`` -> the card image, (150, 300, 3) uint8 (raises when the function fails)."""
    mod, fn = spec.split(":")
    arr = np.asarray(getattr(importlib.import_module(mod), fn)())
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).astype(np.uint8)
    return letterbox(arr)


@st.cache_data(show_spinner=False)
def thumbnail(spec: str, slug: str | None = None) -> np.ndarray | None:
    """A page card's image: the PNG written by ``python scripts/thumbnails.py`` (``app/thumbnails/<slug>.png``,
    so the landing page imports no torch and renders no model), else rendered from ``spec``; None when both
    fail (the card shows no image)."""
    if slug is not None and (THUMBS_DIR / f"{slug}.png").is_file():
        from PIL import Image

        try:
            with Image.open(THUMBS_DIR / f"{slug}.png") as im:
                return np.asarray(im.convert("RGB"))
        except OSError:
            pass
    try:
        return render_thumbnail(spec)
    except Exception:  # noqa: BLE001 - a missing thumbnail must not break the landing page
        return None


def letterbox(arr: np.ndarray, height: int = 150, width: int = 300) -> np.ndarray:
    """Fit an image into a ``height x width`` white card (nearest-neighbour upscaling keeps pixels crisp)."""
    from PIL import Image

    im = Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr).convert("RGB")
    s = min(height / im.height, width / im.width)
    resample = Image.NEAREST if s >= 2 else Image.LANCZOS
    im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), resample)
    card = Image.new("RGB", (width, height), (255, 255, 255))
    card.paste(im, ((width - im.width) // 2, (height - im.height) // 2))
    return np.asarray(card)


# ---------------------------------------------------------------- session sidebar
@dataclass(frozen=True)
class Session:
    device: str
    threads: int
    seed: int


def session_sidebar() -> Session:
    """The "session" area every page shares: device, torch threads, global seed."""
    import torch

    from dlviz.runtime import available_devices, default_device, set_threads

    with st.sidebar.expander("Session", icon=":material/memory:"):
        devs = available_devices()
        st.selectbox("Device", devs, index=devs.index(default_device()) if default_device() in devs else 0,
                     key="dlviz_device", help="CUDA or Apple MPS appear when present.")
        cores = os.cpu_count() or 1
        st.slider("Torch threads", 1, cores, min(cores, torch.get_num_threads()), key="dlviz_threads",
                  help="Intra-op threads torch uses for training and analysis.")
        st.number_input("Global seed", 0, 2**31 - 1, 0, key="seed", bind="query-params",
                        help="Seeds data order, initialisation and sampling on every page (and travels with a "
                             "copied link, so the view it reopens is the same).")
    s = session()
    if torch.get_num_threads() != s.threads:
        set_threads(s.threads)
    return s


def session() -> Session:
    ss = st.session_state
    return Session(ss.get("dlviz_device", "cpu"), int(ss.get("dlviz_threads", 1)), int(ss.get("seed", 0)))


# ---------------------------------------------------------------- page chrome
def page_header(info: dict, intro: str) -> None:
    st.title(info.get("title", ""))
    if info.get("question"):
        st.markdown(f"##### {info['question']}")
    st.markdown(intro)


def try_this(prompts: list[str]) -> None:
    with st.container(border=True):
        st.markdown("**:material/lightbulb: Try this**")
        for p in prompts:
            st.markdown(f"- {p}")


_PLACEHOLDER = re.compile(r"^#0000[0-3][0-9a-fA-F]$")


def _safe_colorscale(cs):
    """Streamlit's plotly theme treats colours #000000-#00003f as theme placeholders and repaints them
    (Inferno/Magma start at #000004, so zeros turn pink); nudge such colours off the placeholder range."""
    if not isinstance(cs, (list, tuple)):
        return cs
    out = []
    for entry in cs:
        if isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], str) \
                and _PLACEHOLDER.match(entry[1]):
            entry = (entry[0], "#01" + entry[1][3:])
        out.append(entry)
    return out


def _sanitise_colours(fig) -> None:
    for tr in getattr(fig, "data", ()):
        for obj in (tr, getattr(tr, "marker", None)):
            cs = getattr(obj, "colorscale", None) if obj is not None else None
            if cs:
                try:
                    obj.colorscale = _safe_colorscale(cs)
                except (ValueError, AttributeError):
                    pass


def show(fig, key: str, **kwargs):
    """``st.plotly_chart`` with PNG export (camera icon) at 2x scale, named after ``key``."""
    _sanitise_colours(fig)
    config = {"displaylogo": False,
              "toImageButtonOptions": {"format": "png", "scale": 2, "filename": f"dlviz-{key}"}}
    config.update(kwargs.pop("config", {}))
    return st.plotly_chart(fig, key=key, config=config, **kwargs)


# ---------------------------------------------------------------- cached loaders
@st.cache_resource(show_spinner="Loading checkpoint...")
def _load_shipped(name: str, expected_arch):
    from dlviz.checkpoints import load_shipped

    return load_shipped(name, expected_arch=expected_arch)


def load_shipped(name: str, expected_arch: str | tuple[str, ...] | None = None):
    """``(model, card)`` of a shipped checkpoint, shared by every session: never mutate it
    (``copy.deepcopy`` to fine-tune). Shows an error and stops the page when it cannot load."""
    from dlviz.checkpoints import CheckpointError

    try:
        return _load_shipped(name, expected_arch)
    except CheckpointError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()


def checkpoint_upload(key: str, expected_arch: str | tuple[str, ...] | None = None, container=None):
    """A file uploader for a ``.pt`` checkpoint; returns ``(model, card)`` or None (errors shown)."""
    from dlviz.checkpoints import CheckpointError, load_checkpoint

    where = container or st.sidebar
    f = where.file_uploader("Load a checkpoint (.pt)", type=["pt", "pth"], key=f"{key}-ckpt")
    if f is None:
        return None
    try:
        return load_checkpoint(f.getvalue(), expected_arch=expected_arch)
    except CheckpointError as e:
        where.error(str(e), icon=":material/error:")
        return None


@st.cache_data(show_spinner=False, max_entries=4)
def _decode_upload(raw: bytes) -> np.ndarray:
    from dlviz.data.external import load_image

    return load_image(raw).numpy()


def image_input(key: str, size: int | None = None, container=None, default: str = "chelsea the cat"):
    """Pick a bundled photo or upload an image. Returns ``(name, (3, H, W) tensor in [0, 1])``.

    A bad upload shows a clear error and falls back to the chosen photo.
    """
    import torch

    from dlviz.data import PHOTO_NAMES, DataError, photo
    from dlviz.data.photos import square

    where = container or st.sidebar
    name = where.selectbox("Photo", PHOTO_NAMES, index=PHOTO_NAMES.index(default), key=f"{key}-photo",
                         bind="query-params")
    up = where.file_uploader("...or upload an image", type=None, key=f"{key}-upload",
                             help="PNG, JPEG, GIF, WebP, TIFF... up to 25 MB; any mode (RGBA, palette, CMYK).")
    if up is not None:
        try:
            img = torch.from_numpy(_decode_upload(up.getvalue()))
            return up.name, (square(img, size) if size else img)
        except DataError as e:
            where.error(f"{up.name}: {e}", icon=":material/broken_image:")
    return name, photo(name, size)


# ---------------------------------------------------------------- the one model picker
MY_MODEL = "my trained model"
UPLOAD = "upload a checkpoint"


@dataclass
class Picked:
    """The model a page analyses, wherever it came from.

    ``key`` is the one cache-key scheme every page uses for ``st.cache_data`` (pass the model itself as an
    ``_underscored`` argument): ``shipped:<name>``, ``run:<run id>:<trainer>@<step>`` or ``upload:<sha1>``.
    A shipped or uploaded model is shared by every session: never mutate it (``copy_model`` first).
    """

    model: object
    card: dict
    source: str            # "shipped" | "trained" | "upload"
    key: str
    label: str


@st.cache_resource(show_spinner="Loading checkpoint...", max_entries=8)
def _load_upload(digest: str, _raw: bytes, expected_arch):
    from dlviz.checkpoints import load_checkpoint

    return load_checkpoint(_raw, expected_arch=expected_arch)


def model_picker(key: str, shipped: dict[str, str] | list[str] | None = None, *, run_key: str | None = None,
                 expected_arch: str | tuple[str, ...] | None = None, upload: bool = True,
                 label: str = "Model", container=None, prefer_run: bool = True,
                 accept_run: Callable[[Run], bool] | None = None) -> Picked | None:
    """"Shipped checkpoint / my trained model / upload" in one widget, the same on every page.

    ``shipped`` maps display labels to checkpoint names (a list uses the names as labels); ``run_key`` is the
    ``training_panel`` key whose run (every trainer of it) can be picked once it has taken a step, and
    ``accept_run`` may refuse a run the page cannot show (trained on other data). A new run is selected as soon
    as it exists when ``prefer_run``. Returns None (with a message) when nothing can be shown yet.
    """
    import hashlib

    from dlviz.checkpoints import CheckpointError, shipped as shipped_names

    where = container or st.sidebar
    names = shipped if isinstance(shipped, dict) else {n: n for n in (shipped or [])}
    on_disk = set(shipped_names())
    options = {lab: ("shipped", name) for lab, name in names.items() if name in on_disk}
    run = get_run(run_key) if run_key else None
    if run is not None and (accept_run is None or accept_run(run)):
        for tname, t in run.trainers.items():
            if t.step > 0:
                lab = MY_MODEL + (f": {tname}" if tname else "")
                options[lab] = ("trained", tname)
    if upload:
        options[UPLOAD] = ("upload", None)
    if not options:
        where.info("No model yet: press **Train** to train one.", icon=":material/play_arrow:")
        return None
    labels = list(options)
    wkey = f"{key}-model"
    fresh = run is not None and st.session_state.get(f"{wkey}-seen-run") != run.id
    if fresh and prefer_run and any(options[lab][0] == "trained" for lab in labels):
        st.session_state[f"{wkey}-seen-run"] = run.id
        st.session_state[wkey] = next(lab for lab in labels if options[lab][0] == "trained")
    if st.session_state.get(wkey) not in labels:
        st.session_state.pop(wkey, None)

    choice = where.selectbox(label, labels, key=wkey, bind="query-params")  # labels stay fixed while a run trains
    kind, what = options[choice]
    if kind == "shipped":
        model, card = load_shipped(what, expected_arch=expected_arch)
        return Picked(model, card, "shipped", f"shipped:{what}", choice)
    if kind == "trained":
        t = run.trainers[what]
        step = t.step
        model = t.model_copy()
        card = {**run.card, "steps": step, "summary": f"trained live in this session ({step:,} steps)",
                "metrics": {k: t.latest(k) for k in t.history()}}
        where.caption(f"Your run at step {step:,} of {t.total:,}" + (" (still training: the views show the "
                      "weights of that step)" if t.status in ("running", "paused") else "") + ".")
        picked = Picked(model, card, "trained", f"run:{run.id}:{what}@{step}", f"{choice} (step {step:,})")
        download_model(picked, key, container=where)
        return picked
    f = where.file_uploader("Checkpoint (.pt)", type=["pt", "pth"], key=f"{key}-ckpt-upload")
    if f is None:
        where.caption("Upload a `.pt` file saved by dlviz (a shipped one or a model you trained and downloaded).")
        return None
    raw = f.getvalue()
    digest = hashlib.sha1(raw).hexdigest()
    try:
        model, card = _load_upload(digest, raw, expected_arch)
    except CheckpointError as e:
        where.error(f"{f.name}: {e}", icon=":material/error:")
        return None
    return Picked(model, card, "upload", f"upload:{digest[:16]}", f.name)


def download_model(picked: Picked, key: str, container=None) -> None:
    """A "Download this model" button: one ``.pt`` with its card inside, built only when clicked; load it back
    through any page's "upload a checkpoint" (on this machine or another)."""
    from dlviz.checkpoints import checkpoint_bytes

    where = container or st.sidebar
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{key}_{picked.card.get('arch', 'model')}_{picked.card.get('steps', 0)}steps")
    where.download_button("Download this model (.pt)", lambda: checkpoint_bytes(picked.model, picked.card, stem),
                          file_name=f"{stem}.pt", mime="application/octet-stream", key=f"{key}-download-model",
                          icon=":material/download:", on_click="ignore", width="stretch",
                          help="Weights, config and card in one file; it survives closing the tab.")


# ---------------------------------------------------------------- training
@dataclass
class Hyper:
    lr: float
    steps: int
    batch_size: int
    optimizer: str
    weight_decay: float


_LRS = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]


def hyperparameters(key: str, lr: float = 1e-3, steps: int = 500, batch_size: int = 64,
                    optimizer: str = "Adam", weight_decay: float = 0.0, max_steps: int = 20_000,
                    container=None) -> Hyper:
    """The standard training knobs, in the sidebar (or ``container``)."""
    from dlviz.train import OPTIMIZERS

    where = container or st.sidebar
    lrs = sorted(set(_LRS + [lr]))
    lr_v = where.select_slider("Learning rate", lrs, value=lr, key=f"{key}-lr", bind="query-params", format_func=lambda v: f"{v:g}")
    c1, c2 = where.columns(2)
    steps_v = c1.number_input("Steps", 10, max_steps, steps, step=50, key=f"{key}-steps", bind="query-params")
    bs_v = c2.select_slider("Batch", [2, 4, 8, 16, 32, 64, 128, 256], value=batch_size, key=f"{key}-bs", bind="query-params")
    opts = list(OPTIMIZERS)
    opt_v = where.selectbox("Optimizer", opts, index=opts.index(optimizer), key=f"{key}-opt", bind="query-params")
    wd_v = where.select_slider("Weight decay", [0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1], value=weight_decay,
                               key=f"{key}-wd", bind="query-params", format_func=lambda v: f"{v:g}")
    return Hyper(float(lr_v), int(steps_v), int(bs_v), opt_v, float(wd_v))


# A Train click becomes a job in the server-wide registry (dlviz.jobs): a run limit with a queue, the CPU
# split between runs, and the run's id in the URL so a reload reattaches. Ids per key: ?run-<key>=<id>.
Run = Job
LIVE_BUDGET = 0.10          # periodic snapshots/evaluations of a live run: at most this share of its time
_STATS = os.environ.get("DLVIZ_LIVE_STATS")   # benchmarks: append live-view timings here (JSON lines)


def _run_key(key: str) -> str:
    return f"dlviz-run-{key}"


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def _session_alive(session_id: str) -> bool:
    from streamlit.runtime import Runtime

    return Runtime.instance().is_active_session(session_id)


def _registry():
    from dlviz.jobs import registry

    reg = registry()
    if reg.session_alive is None:
        try:
            from streamlit.runtime import Runtime

            if Runtime.exists():
                reg.session_alive = _session_alive
        except ImportError:  # pragma: no cover - older streamlit: heartbeats alone keep runs alive
            pass
    return reg


def get_run(key: str) -> Run | None:
    """This session's run under ``key``, or -- after a reload -- the run whose id is in the URL."""
    ss = st.session_state
    run = ss.get(_run_key(key))
    if run is None:
        rid = st.query_params.get(f"run-{key}")
        run = _registry().get(rid) if rid else None
        if run is not None:                      # reattach: this session now owns the run
            _registry().claim(run, _session_id())
            for k, v in run.extras.items():      # page state its start() had set (e.g. the DDPM's EMA)
                ss.setdefault(k, v)
            ss[_run_key(key)] = run
    return run


def _start_run(key: str, start: Callable[[], object], where) -> Run | None:
    ss = st.session_state
    before = {k: id(v) for k, v in ss.items()}
    try:
        made = start()
    except Exception as e:  # noqa: BLE001 - a bad setting must not crash the page
        where.error(f"Could not start training: {e}", icon=":material/error:")
        return None
    made, card = made if isinstance(made, tuple) else (made, {})
    trainers = made if isinstance(made, dict) else {"": made}
    for t in trainers.values():
        if getattr(t, "live_budget", 0) is None:
            t.live_budget = LIVE_BUDGET
    extras = {k: v for k, v in ss.items() if before.get(k) != id(v) and not str(k).startswith("dlviz-")}
    run = _registry().submit(trainers, owner=_session_id(), key=key, extras=extras)
    run.card = dict(card)
    ss[_run_key(key)] = run
    st.query_params[f"run-{key}"] = run.id
    return run


def training_panel(key: str, start: Callable[[], object], label: str = "Train", container=None) -> Run | None:
    """Train / Pause / Stop buttons and, right under them, the progress (bar, steps/s, ETA, or the queue
    position and estimated wait). ``start()`` builds a Trainer (or ``{name: Trainer}``), optionally with a card,
    ``(trainers, {"dataset": ...})`` (kept as ``Run.card``), and is called only on a Train click; the run joins the server-wide registry (run limit, queue) and trains in background
    threads. Stopping keeps the weights of the last finished step and frees the slot at once."""
    where = container or st.sidebar
    run = get_run(key)
    if st.session_state.pop(f"dlviz-train-clicked-{key}", False):   # set by the Train button's callback
        if run is not None:
            run.stop()
        run = _start_run(key, start, where) or run
    active = run is not None and run.active
    # Every button acts before it is drawn (Train through the flag its callback sets, Pause and Stop in their
    # callbacks), so the one rerun a click causes already draws the new state: no second, st.rerun()-triggered
    # run of the whole page, and Train is greyed out at once.
    where.button(label, key=f"{key}-train", type="primary", icon=":material/play_arrow:", disabled=active,
                 width="stretch", on_click=_flag_train, args=(key,))
    c2, c3 = where.columns(2)
    paused = active and not run.queued and all(t.status == "paused" for t in run.trainers.values())
    c2.button("Resume" if paused else "Pause", key=f"{key}-pause", disabled=not active or run.queued,
              icon=":material/play_circle:" if paused else ":material/pause:", width="stretch",
              on_click=_pause_or_resume, args=(key,))
    c3.button("Stop", key=f"{key}-stop", icon=":material/stop:", disabled=not active, width="stretch",
              on_click=_stop, args=(key,))
    if run is not None:
        with where:
            _progress(key, active)
    return run


def _flag_train(key: str) -> None:
    st.session_state[f"dlviz-train-clicked-{key}"] = True


def _pause_or_resume(key: str) -> None:
    run = get_run(key)
    if run is None or not run.active or run.queued:
        return
    paused = all(t.status == "paused" for t in run.trainers.values())
    for t in run.trainers.values():
        t.resume() if paused else t.pause()


STOP_WAIT_S = 3.0


def _stop(key: str) -> None:
    run = get_run(key)
    if run is not None and run.active:
        run.stop()
        # Let the step in flight finish (milliseconds; a snapshot at most ~1 s) so that the rerun this click causes
        # draws the stopped run, not a run that is still stopping.
        for t in run.trainers.values():
            t.join(STOP_WAIT_S)


def _fmt_eta(s: float) -> str:
    if not math.isfinite(s):
        return "–"
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


PROGRESS_EVERY = float(os.environ.get("DLVIZ_PROGRESS_EVERY", "0.5"))
LIVE_EVERY = float(os.environ.get("DLVIZ_LIVE_EVERY", "1.0"))       # the live chart/view's shortest interval


def live_scale() -> int:
    """How many runs train on this server now (at least 1). Progress lines and live views refresh that many
    times less often, so N students' live views together cost the server and the browsers what one student's
    does, and the runs keep the CPU (issue 16: two students, one server). A view whose scale is out of date
    (another run started or ended) reruns the page once to pick up the new interval."""
    try:
        return max(1, len(_registry().running()))
    except Exception:  # noqa: BLE001 - no registry yet: one run
        return 1


def _progress(key: str, active: bool) -> None:
    scale = live_scale() if active else 1

    @st.fragment(run_every=PROGRESS_EVERY * scale if active else None)
    def _bar() -> None:
        from dlviz.jobs import describe_wait

        r = get_run(key)
        if r is None:
            return
        r.heartbeat()
        if active and r.active and not r.queued and live_scale() != scale:
            st.rerun(scope="app")       # another run started or ended: the page reruns with the new intervals
        if r.queued:
            reg = _registry()
            st.progress(0.0, text=f"queued: number {reg.position(r)} in line for one of {reg.limit} training "
                                  f"slot(s) · wait {describe_wait(reg.wait_estimate(r))}")
            return
        for name, t in r.trainers.items():
            p = t.progress()
            label = f"**{name}** · " if name else ""
            text = (f"{label}step {p.step:,}/{p.total:,} · {p.steps_per_s:.3g} steps/s · ETA {_fmt_eta(p.eta_s)}"
                    if p.active else f"{label}{p.status} at step {p.step:,} ({p.elapsed_s:.1f} s)")
            st.progress(min(1.0, p.fraction), text=text)
            if p.status == "diverged":
                st.error(p.message, icon=":material/trending_up:")
            elif p.status == "failed":
                st.error(p.message, icon=":material/error:")
            elif p.status == "stopped":
                st.info(p.message, icon=":material/stop_circle:")
        if active and not r.active:  # just ended: redraw the page with the final state
            st.rerun(scope="app")

    _bar()


@st.cache_resource(show_spinner=False, max_entries=128)
def cached_figure(kind: str, key: tuple, _build):
    """A figure (or any view) built once per ``(kind, key)`` for every session: reruns that change nothing skip
    building it and plotly's validation. ``key`` must name everything the figure shows."""
    return _build()


def live_cached(name: str, version, build: Callable[[], object], min_interval: float = 1.0):
    """``build()`` once per ``version`` for a live view, and at most every ``max(min_interval, 10 x the
    cost of all live figures)`` seconds: the figures a page's live view rebuilds together (those built in the
    last 30 s) share one budget, so rebuilding them all costs <= ~10 % of the time. Between rebuilds the last
    result is reused. Pages wrap the figures of their ``training_monitor(live=...)`` callback in it."""
    import time

    cache = st.session_state.setdefault("dlviz-live-cache", {})
    now = time.perf_counter()
    hit = cache.get(name)
    throttle = st.session_state.get("dlviz-live-throttle", True)   # off once the run has ended
    together = sum(c[3] for c in cache.values() if now - c[2] < 30.0)            # this live view's build cost
    if hit is not None and (hit[0] == version or (throttle and now - hit[2] < max(min_interval, 10 * together))):
        return hit[1]
    obj = build()
    cache[name] = (version, obj, now, time.perf_counter() - now)
    return obj


def training_monitor(key: str, metrics: tuple[str, ...] = ("loss",), live: Callable[[Run], None] | None = None,
                     every: float = 1.0, log_y: bool = True, colors: dict[str, str] | None = None) -> None:
    """The live metric chart (and the page's ``live`` view) of the run under ``key``: redrawn every
    ``max(every, 1)`` s while it trains, figures rebuilt only when their data changed and within the
    live-view budget (:func:`live_cached`). Progress and messages sit with the buttons (training_panel)."""
    run = get_run(key)
    if run is None:
        return
    active = run.active
    scale = live_scale() if active else 1

    @st.fragment(run_every=max(LIVE_EVERY, every) * scale if active else None)
    def _monitor() -> None:
        import time

        from dlviz.plotting import metrics_figure

        t0 = time.perf_counter()
        r = get_run(key)
        if r is None:
            return
        if r.queued:
            st.info("Your run is waiting for a training slot; its progress is shown under the Train button.",
                    icon=":material/hourglass_top:")
            return
        st.session_state["dlviz-live-throttle"] = r.active
        version = tuple(t.step for t in r.trainers.values())
        fig = live_cached(f"{key}-metrics", version, lambda: metrics_figure(
            {name: t.history() for name, t in r.trainers.items()}, metrics, log_y=log_y, colors=colors))
        show(fig, key=f"{key}-metrics")
        if live is not None:
            live(r)
        if _STATS:
            import json

            with open(_STATS, "a", encoding="utf-8") as f:
                f.write(json.dumps({"key": key, "run": r.id, "views_s": time.perf_counter() - t0,
                                    "trainers": {n: {**t.timing, "step": t.step} for n, t in r.trainers.items()}})
                        + "\n")

    _monitor()


def copy_model(model):
    """A private, trainable copy of a shared (cached) model."""
    m = copy.deepcopy(model)
    m.train()
    return m
