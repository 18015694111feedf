"""Benchmarks: print a table of timings against the budgets in the README. Not assertions.

    python benchmarks/run.py              # everything
    python benchmarks/run.py --only pages  # page renders only; other areas: rows, cold, busy

Rows come from (1) every page rendered with Streamlit's AppTest -- first render in a warm process and
a rerun (what a slider move costs without new work); (2) ``benchmarks/bench_*.py`` modules exposing
``rows()``; (3) cold start: ``streamlit run`` until the landing page is painted in Chromium; (4) the same
page rerun while a Trainer trains in the background vs idle.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "app"), str(ROOT / "scripts"), str(ROOT / "benchmarks")]
os.environ.setdefault("DLVIZ_DEVICE", "cpu")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as app/Home.py sets it


def page_rows() -> list[dict]:
    import ui
    from streamlit.testing.v1 import AppTest

    out = []
    for info in ui.discover_pages():
        at = AppTest.from_file(str(info.path), default_timeout=120)
        t0 = time.perf_counter()
        at.run()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.run()
        rerun = time.perf_counter() - t0
        ok = "" if not at.exception else " (EXCEPTION)"
        out.append(dict(area=f"page: {info.slug}", what=f"first render (warm process){ok}", value=first, unit="s",
                        budget="< 2 s"))
        out.append(dict(area=f"page: {info.slug}", what="rerun, nothing new to compute", value=rerun * 1000,
                        unit="ms", budget="< 150 ms"))
    return out


def module_rows() -> list[dict]:
    out = []
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
            out += mod.rows()
        except Exception as e:  # noqa: BLE001 - one broken module must not hide the others
            out.append(dict(area=path.stem, what=f"FAILED: {type(e).__name__}: {e}", value=float("nan"), unit="",
                            budget=""))
    return out


def cold_start_rows() -> list[dict]:
    import browse

    t0 = time.perf_counter()
    with browse.serve_app() as url:
        v = browse.visit_pages(url, [""], None)[0]
    total = time.perf_counter() - t0
    return [dict(area="app", what="cold start: streamlit run -> landing page painted", value=total - 0, unit="s",
                 budget="< 8 s"), dict(area="app", what="  of which the page load in Chromium", value=v.seconds,
                                       unit="s", budget="-")]


def busy_rows() -> list[dict]:
    """The Convolutions page rerun while idle vs while a digits CNN trains in a background thread."""
    import torch
    from streamlit.testing.v1 import AppTest

    from dlviz.data import batches, digits
    from dlviz.metrics import classification_loss
    from dlviz.models import build_model
    from dlviz.train import Trainer

    at = AppTest.from_file(str(ROOT / "pages" / "convolutions.py"), default_timeout=120)
    at.run()

    def rerun_time(n=5):
        ts = []
        for i in range(n):
            at.slider(key="conv-stride").set_value(1 + i % 3)
            t0 = time.perf_counter()
            at.run()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[n // 2]

    idle = rerun_time()
    d = digits("train", size=16)
    m = build_model("small_cnn")
    t = Trainer(m, loss_fn=classification_loss, optimizer=torch.optim.Adam(m.parameters(), 1e-3),
                batches=batches(d.images, d.labels, batch_size=64), steps=10**7).start()
    time.sleep(0.5)
    busy = rerun_time()
    t.stop()
    return [dict(area="page: convolutions", what="stride slider move, idle (median)", value=idle * 1000, unit="ms",
                 budget="-"),
            dict(area="page: convolutions", what="stride slider move while training (median)", value=busy * 1000,
                 unit="ms", budget="<= 2x idle"),
            dict(area="page: convolutions", what="ratio busy / idle", value=busy / idle, unit="x", budget="<= 2")]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["pages", "rows", "cold", "busy"], default=None)
    args = ap.parse_args()
    parts = {"pages": page_rows, "rows": module_rows, "cold": cold_start_rows, "busy": busy_rows}
    rows = []
    for name, fn in parts.items():
        if args.only in (None, name):
            rows += fn()
    w = max(len(r["area"]) for r in rows)
    w2 = max(len(r["what"]) for r in rows)
    print(f"{'area':{w}s}  {'what':{w2}s}  {'value':>10s}  unit       budget")
    for r in rows:
        print(f"{r['area']:{w}s}  {r['what']:{w2}s}  {r['value']:10.3g}  {r['unit']:9s}  {r['budget']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
