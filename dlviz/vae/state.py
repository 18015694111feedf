"""The VAE page's per-session bookkeeping as plain functions of a mapping (the page passes
``st.session_state``; a test passes a dict): which source the radio shows, which code the latent
sliders start from, which figures are held between reruns. No Streamlit."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

import torch

from dlviz.vae.views import slider_value


def follow_new_run(state: MutableMapping, prefix: str, sources: list[str], default: int, run_id) -> None:
    """A run the page has not seen yet is explored at once; a remembered source that is no longer offered is
    forgotten (the radio falls back to its default)."""
    if run_id is not None and len(sources) > default and sources[default].startswith("live:") \
            and state.get(f"{prefix}-seen-run") != run_id:
        state[f"{prefix}-seen-run"] = run_id
        state[f"{prefix}-src"] = sources[default]
    if state.get(f"{prefix}-src") not in (None, *sources):
        state.pop(f"{prefix}-src")


def set_code(state: MutableMapping, prefix: str, base_key: str, dims: list[int], z: torch.Tensor,
             link: MutableMapping | None = None) -> None:
    """Start the latent sliders (keys ``<prefix>-z<d>``) from code ``z``; a slider whose value a link
    (``link``, the query parameters) sets and that has no value yet keeps the link's value."""
    state[base_key] = z.clone()
    for d in dims:
        k = f"{prefix}-z{d}"
        if not (link is not None and k in link and k not in state):
            state[k] = slider_value(z[d])


def held(state: MutableMapping, key: str, signature, build: Callable):
    """``build()``'s result, kept in ``state[key]`` and rebuilt only when ``signature`` changes."""
    h = state.get(key)
    if h is None or h[0] != signature:
        h = (signature, build())
        state[key] = h
    return h[1]


def timed(fn, *args):
    """``(fn(*args), seconds it took)``: what a live view's snapshot cost, for :func:`snapshot_due`."""
    import time

    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


def snapshot_due(snap: tuple | None, trainer_id: int, step: int, now: float, active: bool,
                 every_s: float = 2.0) -> bool:
    """Whether the live panel redraws its snapshot ``(trainer id, time, step, mosaic, map[, seconds it took])``:
    another trainer, or a new step and either ``max(every_s, 10 x its cost)`` seconds passed (the live view's
    10 % budget) or the run ended."""
    wait = max(every_s, 10.0 * snap[5]) if snap is not None and len(snap) > 5 else every_s
    return snap is None or snap[0] != trainer_id or (snap[2] != step and (now - snap[1] > wait or not active))


def pick_from_map(state: MutableMapping, prefix: str, ck: str, event) -> None:
    """A click on the map (plotly selection ``event``) sets endpoint A or B, whichever ``<prefix>-target``
    says; the same click seen again on a later rerun changes nothing."""
    from dlviz.vae.views import clicked_points

    cd = clicked_points(event)
    if cd and state.get(f"{prefix}-last-click") != (ck, tuple(cd)):
        state[f"{prefix}-last-click"] = (ck, tuple(cd))
        state[f"{prefix}-{state.get(f'{prefix}-target', 'A')}"] = int(cd[0])


def rd_points(available: dict, dataset: str, run) -> list[dict]:
    """The rate-distortion plot's points for a model of ``dataset``: the shipped 16-D digits sweep (digits only)
    and the student's finished runs on the same data."""
    from dlviz.vae.views import rate_distortion_points

    sc = available.get("vae_digits16")
    sweep = sc.card.get("beta_sweep", []) if dataset == "digits" and sc is not None else []
    mine = run is not None and run.card.get("data", (None,))[0] == dataset
    return rate_distortion_points(sweep, run.trainers if mine else {})


def explore_source(src: str, shipped: dict, run, load: Callable, data: Callable):
    """The :class:`~dlviz.vae.views.Explored` model of the radio's choice ``src``: a shipped checkpoint
    (``load(name) -> (model, card)``, its data ``shipped[src][0]``) or a live run's trainer ``live:<name>`` (a
    copy of its weights now, on the run's data); ``data(key, split, root, folder)`` loads the test images."""
    from dlviz.vae.views import Explored

    if src in shipped:
        model, card = load(src)
        (dkey, droot, dfolder), mkey, step = (shipped[src][0], None, None), src, card.get("steps", 0)
    else:
        tr = run.trainers[src[5:]]
        step = tr.step
        model, card, (dkey, droot, dfolder), mkey = tr.model_copy(), {}, run.card["data"], f"live-{id(tr)}-{step}"
    return Explored(src, model, card, dkey, data(dkey, "test", droot, dfolder), f"{mkey}|{dkey}|{droot}|{dfolder}",
                    step, droot, dfolder)
