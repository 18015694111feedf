"""app/ui.py helpers that are plain functions: page discovery, thumbnails, colour sanitising."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

import ui


def test_read_page_info_without_running_the_page(tmp_path):
    page = tmp_path / "demo.py"
    page.write_text('raise SystemExit("must not run")\nPAGE_INFO = {"title": "Demo", "section": "CNNs", '
                    '"order": 5, "question": "Why?"}\n')
    info = ui.read_page_info(page)
    assert (info.title, info.section, info.order, info.question, info.slug) == ("Demo", "CNNs", 5, "Why?", "demo")


def test_letterbox_keeps_aspect_and_size():
    img = np.zeros((10, 40, 3), dtype=np.uint8)
    out = ui.letterbox(img, 150, 300)
    assert out.shape == (150, 300, 3)
    dark = np.argwhere(out.sum(-1) == 0)
    h = dark[:, 0].max() - dark[:, 0].min() + 1
    w = dark[:, 1].max() - dark[:, 1].min() + 1
    assert w == 300 and abs(h - 75) <= 1  # scaled by 7.5 on both axes


def test_placeholder_colours_are_nudged_and_others_kept():
    fig = go.Figure([go.Heatmap(z=[[0, 1]], colorscale="Inferno"),
                     go.Scatter(y=[1, 2], marker={"color": [0, 1], "colorscale": "Magma"})])
    before = [c for _, c in fig.data[0].colorscale]
    ui._sanitise_colours(fig)
    after = [c for _, c in fig.data[0].colorscale]
    assert before[0] == "#000004" and after[0] == "#010004"
    assert before[1:] == after[1:]
    assert not any(ui._PLACEHOLDER.match(c) for _, c in fig.data[1].marker.colorscale)


def test_landing_thumbnails_are_written_and_current():
    """Every card image the landing page reads (app/thumbnails/<page>.png, from `python scripts/thumbnails.py`)
    exists and matches a fresh render of the page's thumbnail function (so a changed view is re-shot)."""
    import numpy as np
    import ui
    from PIL import Image

    for info in ui.discover_pages():
        if not info.thumbnail:
            continue
        path = ui.THUMBS_DIR / f"{info.slug}.png"
        assert path.is_file(), f"{path.name} missing: run python scripts/thumbnails.py {info.slug}"
        with Image.open(path) as im:
            saved = np.asarray(im.convert("RGB")).astype(int)
        fresh = ui.render_thumbnail(info.thumbnail).astype(int)
        assert saved.shape == fresh.shape == (150, 300, 3)
        assert np.abs(saved - fresh).mean() < 2.0, f"{path.name} is stale: run python scripts/thumbnails.py {info.slug}"


def test_live_views_refresh_less_often_while_more_runs_train(monkeypatch):
    """Two students, one server: with k runs training, every progress line and live view is scheduled k times
    less often (so k sessions' live views cost what one does), and a view whose k is stale reruns the page."""
    import test_jobs

    from dlviz import jobs

    old = jobs.registry()
    reg = jobs.set_registry(jobs.Registry(limit=3, grace_s=60, cores=3))
    asked: list[float | None] = []

    def fragment(run_every=None):
        asked.append(run_every)
        return lambda f: (lambda: None)        # scheduled, not run: only the interval is looked at

    monkeypatch.setattr(ui.st, "fragment", fragment)
    monkeypatch.setattr(ui, "get_run", lambda key: None)
    try:
        assert ui.live_scale() == 1                         # nothing running: the base intervals
        ui._progress("k", True)
        assert asked[-1] == ui.PROGRESS_EVERY
        a, b = (reg.submit({"": test_jobs._trainer()}, owner=o) for o in "ab")
        test_jobs._wait(lambda: a.trainer.step > 0 and b.trainer.step > 0)
        assert ui.live_scale() == 2
        ui._progress("k", True)
        assert asked[-1] == 2 * ui.PROGRESS_EVERY
        ui._progress("k", False)                            # an ended run's views do not refresh at all
        assert asked[-1] is None
        a.stop()
        assert ui.live_scale() == 1                         # Stop frees the slot at once: back to the base
        b.stop()
        for j in (a, b):
            j.trainer.join(5)
    finally:
        jobs.set_registry(old)


def test_live_figures_share_one_rebuild_budget(monkeypatch):
    """A live view's figures are rebuilt together at most every 10x their *summed* cost (<= ~10 % of the time),
    not every 10x each one's own cost (which let four figures take ~40 %); the same version is never rebuilt,
    and once the run has ended (throttle off) a new version is drawn at once."""
    import time

    clock = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(ui.st, "session_state", {})
    built = []

    def build(name):
        def f():
            built.append(name)
            clock[0] += 0.1                              # each figure costs 0.1 s to build
            return name
        return f

    for name in ("a", "b"):
        ui.live_cached(name, 1, build(name))
    assert built == ["a", "b"]
    ui.live_cached("a", 1, build("a"))                  # same version: reused
    clock[0] += 1.5                                     # > 10x one figure's cost (1 s), < 10x both (2 s)
    assert [ui.live_cached(n, 2, build(n)) for n in "ab"] == ["a", "b"] and built == ["a", "b"]
    clock[0] += 0.6                                     # now past 10 x 0.2 s since each was built
    ui.live_cached("a", 2, build("a"))
    assert built == ["a", "b", "a"]
    ui.st.session_state["dlviz-live-throttle"] = False  # the run ended: the final state is drawn unthrottled
    ui.live_cached("b", 3, build("b"))
    assert built == ["a", "b", "a", "b"]


def test_page_info_is_parsed_once_per_file_version_and_never_concurrently(tmp_path, monkeypatch):
    """Every session's every run builds the navigation from the pages' PAGE_INFO. ``ast.parse`` is not thread-safe
    in CPython 3.11 (eight sessions at once: "SystemError: AST constructor recursion depth mismatch"), so it runs
    under one lock, once per version of a file."""
    import ast
    import threading
    import time

    inside, most, calls = [0], [0], []
    real = ast.parse

    def slow_parse(src, *a, **k):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        calls.append(1)
        time.sleep(0.01)                       # long enough for another thread to arrive if nothing stops it
        try:
            return real(src, *a, **k)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(ast, "parse", slow_parse)
    files = []
    for i in range(6):
        f = tmp_path / f"p{i}.py"
        f.write_text(f'PAGE_INFO = {{"title": "P{i}", "order": {i}}}\n')
        files.append(f)
    threads = [threading.Thread(target=lambda: [ui.read_page_info(f) for f in files]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and len(calls) == 6             # never two at once; each file parsed once for 8 readers
    assert ui.read_page_info(files[2]).title == "P2"
    files[2].write_text('PAGE_INFO = {"title": "Renamed", "order": 2}\n# a longer file: a new version\n')
    assert ui.read_page_info(files[2]).title == "Renamed" and len(calls) == 7
