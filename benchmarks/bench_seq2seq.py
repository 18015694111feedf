"""Seq2seq rows: the server-side work behind the page's interactions (decode a typed date greedily and
by beam search, the accuracy-vs-length curve of a shipped model) and the issue's live-training budget --
the default task (dates, additive attention, the page's default settings) to >= 95 % exact match, timed
from the Train click (the training pool is built inside the timed span), on the page's thread count (1, see
dlviz.seq2seq.training.TRAIN_THREADS) and, for comparison, on 2 threads.

    python benchmarks/bench_seq2seq.py             # these rows only
    python benchmarks/bench_seq2seq.py --browser   # and type-to-pixels in headless Chromium (serves the app)
    python benchmarks/run.py --only rows           # with every other module's rows
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from timing import best_of  # noqa: E402

AREA = "page: seq2seq"


def _row(what: str, value: float, unit: str, budget: str, area: str = AREA) -> dict:
    return {"area": area, "what": what, "value": value, "unit": unit, "budget": budget}


def interaction_rows() -> list[dict]:
    from dlviz.checkpoints import load_shipped, shipped
    from dlviz.seq2seq import core as C
    from dlviz.seq2seq import plots as P
    from dlviz.seq2seq import views as V

    if "s2s_dates_attn" not in shipped():
        return []
    model, _ = load_shipped("s2s_dates_attn", expected_arch="seq2seq")
    text = "21st of september 1998"

    def typed(width: int):
        return lambda: P.alignment_figure(V.attention_view(C.decode(model, text, beam_width=width)))

    test = C.test_set(C.spec_of(model), 600)
    return [_row("type a date: greedy decode + attention figure", 1000 * best_of(typed(1)), "ms", "< 100 ms"),
            _row("the same, beam width 8", 1000 * best_of(typed(8)), "ms", "< 300 ms"),
            _row("accuracy vs length: 600 held-out greedy decodes", best_of(lambda: C.exact_match_by_length(model, test),
                                                                            1), "s", "< 3 s")]


def server_rows() -> list[dict]:
    """Server time of a typed input in Streamlit's AppTest: AppTest reruns the whole page (it does not run fragments
    alone), so this bounds the fragment rerun a browser triggers from above. Median over 5 typed dates."""
    import statistics

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "app"))
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "seq2seq.py"), default_timeout=120)
    at.run()
    times = []
    for text in ["21st of september 1998", "march 4, 2001", "4/7/1776", "july 4, 1776", "3rd of march 1998"]:
        t0 = time.perf_counter()
        at.text_input(key="s2s-text-dates").input(text).run()
        times.append(time.perf_counter() - t0)
    return [_row("type a date: whole-page rerun, server time (AppTest, median of 5)", 1000 * statistics.median(times),
                 "ms", "<= 100 ms")]


def training_rows(target: float = 0.95, threads: int | None = None, max_steps: int = 1200) -> list[dict]:
    """The default live run to ``target``; ``threads`` None: the page's own count (TRAIN_THREADS), else forced."""
    from dlviz.seq2seq.training import LIVE_DEFAULTS, TRAIN_THREADS, _pool, make_trainer, new_model
    from dlviz.train import make_optimizer

    threads = threads or TRAIN_THREADS
    torch.set_num_threads(threads)
    _pool.cache_clear()
    torch.manual_seed(0)
    t0, c0 = time.perf_counter(), time.process_time()
    model = new_model("dates", "additive")
    opt = make_optimizer("Adam", model.parameters(), LIVE_DEFAULTS["lr"])
    tr = make_trainer(model, steps=25, batch_size=LIVE_DEFAULTS["batch_size"], optimizer=opt, eval_every=25,
                      threads=threads)
    reached = None
    while True:
        tr.run()
        if tr.latest("exact_match") >= target:
            reached = tr.step
            break
        if tr.step >= max_steps or tr.status != "finished":
            break
        tr.extend(25)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    area = "train: seq2seq dates (default)"
    what = f"live training to {target:.0%} exact match, {threads} thread{'s' * (threads > 1)}" + (
        f" ({reached} steps, held-out {tr.latest('exact_match'):.1%})" if reached else " (NOT reached)")
    load = os.getloadavg()[0]
    return [_row(what, wall, "s", "<= 90 s", area),
            _row("  the same, CPU seconds of the process", cpu, "s", "-", area),
            _row(f"  machine load average during the run (on {os.cpu_count()} cores)", load, "", "-", area)]


def browser_rows(port: int | None = None) -> list[dict]:
    """Type-to-pixels in headless Chromium against the real server (section 1 is a fragment, so a typed input
    reruns only that section): the median over 5 typed dates of Enter -> the attention figure redrawn."""
    import json
    import statistics

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from browse import CHROMIUM, CHROMIUM_ARGS, serve_app, wait_idle
    from playwright.sync_api import sync_playwright

    fig = ".st-key-s2s-align"
    times = []
    with serve_app(port) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/seq2seq", wait_until="domcontentloaded")
        wait_idle(page)
        for text in ["21st of september 1998", "march 4, 2001", "4/7/1776", "july 4, 1776", "3rd of march 1998"]:
            page.evaluate(f"() => {{ window.__before = document.querySelector({json.dumps(fig)}).innerHTML; }}")
            box = page.locator(".st-key-s2s-text-dates input").first
            box.fill(text)
            t0 = time.perf_counter()
            box.press("Enter")
            page.wait_for_function(f"() => {{ const e = document.querySelector({json.dumps(fig)});"
                                   " return e && e.innerHTML !== window.__before; }", polling="raf", timeout=30_000)
            times.append(time.perf_counter() - t0)
            wait_idle(page)
        browser.close()
    return [_row("type a date, Enter -> attention figure redrawn (browser, median of 5)",
                 1000 * statistics.median(times), "ms", "<= 300 ms"),
            _row("  the slowest of the 5", 1000 * max(times), "ms", "-")]


def rows() -> list[dict]:
    # the page's thread count, then 2 threads for comparison (the count a 1-run-per-server registry would give)
    return interaction_rows() + server_rows() + training_rows() + training_rows(threads=2)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--browser", action="store_true", help="also the type-to-pixels rows (serves the app)")
    ap.add_argument("--port", type=int, default=None)
    a = ap.parse_args()
    for r in rows() + (browser_rows(a.port) if a.browser else []):
        print(f"{r['area']:<34} {r['what']:<70} {r['value']:>9.3g} {r['unit']:<4} {r['budget']}")
