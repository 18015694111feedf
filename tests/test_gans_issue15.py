"""Issues 15 and 17 on the GAN page: bad points (text, one column, NaN, a million rows) give a clear message; a
learning rate that makes the game diverge stops with a message and the replay keeps only the last good snapshots;
the replay exports as a GIF; the shipped model's modes are recounted by the notebook snippet."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from pagetest import errors, run_of, stop_runs
from streamlit.testing.v1 import AppTest

from dlviz.data import DataError
from dlviz.gans import make_dataset, parse_points, views

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "gans.py")
MILLION = "\n".join(f"{i % 7},{i % 5}" for i in range(1_000_000))
BAD = [("1,2\nfoo,bar\n" + "3,4\n" * 10, "holds text"),
       ("\n".join(str(i) for i in range(20)), "has one column"),
       ("1,2\nnan,3\n" + "3,4\n" * 10, "NaN or infinity"),
       (MILLION, "is too many: at most 100,000")]


@pytest.mark.parametrize("text,msg", BAD, ids=["text", "one column", "NaN", "a million rows"])
def test_bad_points_give_a_clear_message(text, msg):
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=msg):
        parse_points(text)
    with pytest.raises(DataError, match=msg):
        parse_points(text.encode())                                      # the same file, uploaded
    assert time.perf_counter() - t0 < 10                                 # a million rows is refused quickly


def test_the_page_shows_each_message_and_starts_no_run():
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    at.sidebar.selectbox(key="gans-data").set_value("custom").run()
    for text, msg in BAD:
        at.sidebar.text_area(key="gans-paste").input(text).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(msg in e.value for e in at.sidebar.error), [e.value for e in at.sidebar.error]
        at.sidebar.button(key="gans-train").click().run()
        assert not at.exception and run_of(at, "gans") is None


def _diverging_run():
    from dlviz.gans.training import make_trainer
    from dlviz.models import build_model

    data = make_dataset("ring")
    torch.manual_seed(0)
    m = build_model("gan_mlp", noise_dim=2, noise="gaussian", g_width=64, g_depth=3, d_width=64, d_depth=3, pack=1)
    tr = make_trainer(m, data, steps=600, batch_size=256, loss="non-saturating", d_lr=0.1, g_lr=0.1,
                      snapshot_fn=views.snapshot_fn("non-saturating", data), snapshot_every=1)   # every step: some fall between the good step and the blow-up
    return tr.run(), data


def test_a_diverged_run_replays_only_its_last_good_snapshots():
    tr, data = _diverging_run()
    assert tr.status == "diverged" and 0 < tr.step < 600                 # rolled back to a good step
    taken = [s for s, _ in tr.snapshots]
    assert any(s > tr.step for s in taken), "this run took a snapshot between the good step and the blow-up"
    good = views.replay_snapshots(tr)
    assert good and all(s <= tr.step for s, _ in good)
    assert [s for s, _ in good] == [s for s in taken if s <= tr.step]
    assert all(np.isfinite(sn.fake).all() and np.isfinite(sn.heat).all() for _, sn in good)
    frames = views.replay_frames(good, data.sample(300, torch.Generator().manual_seed(0)).numpy(), data.bounds(),
                                 data.modes, "non-saturating", size=120, max_frames=10)
    assert len(frames) == min(10, len(good)) and frames[0].shape == (120, 120, 3) and frames[0].dtype == np.uint8


def test_a_replay_frame_puts_each_point_where_it_is():
    snap = views.Snapshot(step=7, fake=np.array([[0.5, -0.5]]), heat=np.full((4, 4), 1.0, np.float32),
                          xs=np.linspace(-1, 1, 4), ys=np.linspace(-1, 1, 4), warp=np.zeros((2, 2, 2)),
                          arrows=np.zeros((0, 2)))
    real = np.array([[-0.5, 0.5]])
    img = views.replay_frame(snap, real, (-1, 1, -1, 1), size=101)
    assert tuple(img[25, 25]) == (31, 119, 180)                          # real: upper left, blue
    assert tuple(img[75, 75]) == (255, 127, 14)                          # fake: lower right, orange
    corner = img[50, 95].astype(int)                                     # D says "real" everywhere: light blue
    assert corner[2] > corner[0]


def test_the_page_stops_a_diverging_game_and_replays_the_good_part():
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    sb = at.sidebar
    sb.selectbox(key="gans-data").set_value("ring")
    sb.select_slider(key="gans-dlr").set_value(0.1)
    sb.select_slider(key="gans-glr").set_value(0.1)
    sb.toggle(key="gans-decay").set_value(False)
    sb.number_input(key="gans-steps").set_value(600)
    sb.button(key="gans-train").click().run()
    try:
        run = run_of(at, "gans")
        t0 = time.time()
        while run.active and time.time() - t0 < 300:
            time.sleep(0.5)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        tr = run.trainer
        assert tr.status == "diverged", tr.status
        assert any("diverged" in e.value and "last good state" in e.value for e in at.error)
        scrub = next(s for s in at.select_slider if s.key and s.key.startswith("gans-scrub"))
        assert max(int(o) for o in scrub.options) <= tr.step and int(scrub.value) <= tr.step
        assert any(f"ends at step {tr.step:,}" in c.value for c in at.caption)
    finally:
        stop_runs(at, "gans")


def test_the_default_view_offers_its_snippet_and_exports():
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    assert not errors(at), errors(at)
    code = next(c.value for c in at.code if c.value.startswith("# dlviz notebook snippet"))
    shown = next(m.value for m in at.metric if m.label == "Modes captured")
    assert code.splitlines()[0].endswith(f"= {shown}")
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Samples per mode (CSV)" in labels and "Interpolation (GIF)" in labels
