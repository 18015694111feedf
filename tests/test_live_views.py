"""Live views draw as SVG, not WebGL (issue 16, "Live means live").

A live view is redrawn every second while a run trains. Plotly's WebGL traces (``scattergl``, ``scatter3d``, ...)
are redrawn by the browser's GPU process; where the browser has no GPU (headless, a software-rendered or remote
desktop, the 2-core benchmark machine) that cost ~0.6 of a core for one small loss chart and starved both the
training and the page's controls (``python benchmarks/latency_timeline.py``; docs/live-training.md). SVG draws a
few hundred points in milliseconds.

Every trainable page is opened, Train is pressed, and every chart the page draws while the run is active is
read: no WebGL trace, except in the static charts listed in ``STATIC_GL`` (never redrawn by a live fragment),
where thousands of points need it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pagetest import run_of, stop_runs
from streamlit.testing.v1 import AppTest
from test_divergence import TRAINABLE

from dlviz.plotting import MAX_CURVE_POINTS, metrics_figure

ROOT = Path(__file__).resolve().parent.parent
WEBGL = ("gl", "3d", "surface", "mesh", "cone", "streamtube", "volume", "isosurface")

# chart key (the end of its element id) -> why WebGL is right there
STATIC_GL: dict[str, str] = {
    "clf-embedding-PCA": "penultimate features of the validation images; drawn once per inspected model, not live",
    "clf-embedding-UMAP": "the same embedding by UMAP",
    "rnn-traj3d": "a 3-D trajectory of the hidden state (3-D needs WebGL); drawn once per text, not live",
}


def _is_webgl(trace_type: str) -> bool:
    return any(trace_type.endswith(s) or trace_type.startswith(s) for s in WEBGL)


def _charts(at: AppTest) -> dict[str, set[str]]:
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[el.proto.id] = {t.get("type", "scatter") for t in spec.get("data", [])}
    return out


def test_the_live_metric_chart_is_svg_and_bounded():
    hist = {"run": {"loss": (list(range(5000)), [1.0 / (i + 1) for i in range(5000)]),
                    "acc": (list(range(0, 5000, 100)), [0.5] * 50)}}
    fig = metrics_figure(hist, ("loss", "acc"))
    types = {tr.type for tr in fig.data}
    assert types == {"scatter"}, types
    assert max(len(tr.x) for tr in fig.data) == MAX_CURVE_POINTS
    last = [tr for tr in fig.data if tr.showlegend is not False and tr.line.width == 2][0]
    assert last.x[-1] == 4999 and last.x[0] == 0, "thinning keeps both ends of the curve"


@pytest.mark.parametrize("page", sorted(TRAINABLE))
def test_a_training_page_draws_no_webgl_in_its_live_views(page):
    hp, run_key, _ = TRAINABLE[page]
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=240)
    at.query_params.update({f"{hp}-steps": "2000"})
    at.run()
    assert not at.exception, [e.value[:300] for e in at.exception]
    at.button(key=f"{run_key}-train").click().run()
    try:
        run = run_of(at, run_key)
        assert run is not None, "Train started no run"
        at.run()                                  # a script run while the run is active: the live views drawn
        assert not at.exception, [e.value[:300] for e in at.exception]
        charts = _charts(at)
        assert charts, f"{page}: no chart while training"
        bad = {cid: sorted(t for t in types if _is_webgl(t)) for cid, types in charts.items()
               if any(_is_webgl(t) for t in types) and not any(cid.endswith("-" + k) for k in STATIC_GL)}
        assert not bad, f"{page}: WebGL traces in charts a live view redraws: {bad}"
    finally:
        stop_runs(at, run_key)


def test_the_gan_game_draws_no_webgl_while_it_trains():
    """The GAN page's 2-D game (samples, decision surface, warped noise grid, gradient arrows) is its live view."""
    at = AppTest.from_file(str(ROOT / "pages" / "gans.py"), default_timeout=240)
    at.run()
    at.sidebar.number_input(key="gans-steps").set_value(2000)
    at.sidebar.button(key="gans-train").click().run()
    try:
        assert run_of(at, "gans") is not None, "Train started no run"
        at.run()
        assert not at.exception, [e.value[:300] for e in at.exception]
        charts = _charts(at)
        bad = {cid: sorted(t for t in types if _is_webgl(t)) for cid, types in charts.items()
               if any(_is_webgl(t) for t in types)}
        assert charts and not bad, f"WebGL traces on the GAN page while it trains: {bad}"
    finally:
        stop_runs(at, "gans")
