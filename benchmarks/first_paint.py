"""Warm first paint of pages in a real browser (issue 16's budget: <= 2 s): navigation to the page's first full
script run ended and painted, the median of ``--n`` visits after one that warms the server's caches, each in a
fresh browser context (a new session), with the server's own run time beside it.

    python benchmarks/first_paint.py unet vit equivariance --n 4
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "app"), str(ROOT / "scripts"), str(ROOT / "benchmarks")]

from browse import CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402
from run_clock import RunClock  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pages", nargs="+")
    ap.add_argument("--n", type=int, default=4, help="measured visits per page (after one warm-up visit)")
    ap.add_argument("--port", type=int, default=8631)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with serve_app(args.port, timeout=300) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for slug in args.pages:
            paints, runs = [], []
            for i in range(args.n + 1):
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                clock = RunClock(page)
                t = clock.goto(f"{url}/{slug}")
                start = next((e.t for e in clock.events if e.kind == "start" and not e.fragments), None)
                end = next((e.t for e in clock.events if e.kind == "end" and not e.fragments), None)
                if i:                                                    # the first visit warms the caches
                    paints.append(t)
                    runs.append(end - start if start is not None and end is not None else float("nan"))
                page.context.close()
            print(f"{slug:22s} first paint {statistics.median(paints):.2f} s (median of {args.n}: "
                  f"{', '.join(f'{x:.2f}' for x in paints)}); server run {statistics.median(runs):.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
