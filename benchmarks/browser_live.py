"""Live training in a real browser vs the same run outside the app (issue 16, "Live means live").

Serves the app (``streamlit run app/Home.py``), drives headless Chromium with Playwright on the same
machine, presses **Train** on each trainable page and reads the step counter the page shows. Prints, per
page: in-app vs outside steps/s (the outside run is ``benchmarks/live_setups.py``, the page's default run
in a plain process, measured right before), the live view's share of the training time (from the
Trainer's own clock), click-to-pixels latency of the page's main controls while the run trains, the
two-session table, and the capacity table (1, 2, 4 sessions on one server).

    python benchmarks/browser_live.py                       # everything (~10 min on 2 idle cores)
    python benchmarks/browser_live.py --pages convolutions --skip-capacity
    python benchmarks/browser_live.py --port 8605 --seconds 20

Wall-clock numbers on a shared machine are noisy: each in-app figure is compared with an outside run
measured back to back, and the ratio is what the budgets are about.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts"), str(ROOT / "benchmarks")]

from browse import CHROMIUM, CHROMIUM_ARGS, serve_app, wait_idle  # noqa: E402

# page slug -> (run key, outside setup, main controls: (css selector of a control, how to change it))
PAGES = {
    "convolutions": ("conv", "convolutions"),
    "classifier": ("clf", "classifier"),
    "ddpm": ("ddpm", "ddpm"),
}
STEP_RE = re.compile(r"step ([\d,]+)")      # "step 123/2,000 · ..." or "finished at step 600 (...)"


@dataclass
class Tab:
    page: object
    slug: str
    key: str

    def goto(self, url: str) -> float:
        t0 = time.perf_counter()
        self.page.goto(f"{url}/{self.slug}", wait_until="domcontentloaded")
        wait_idle(self.page)
        return time.perf_counter() - t0

    def train(self) -> None:
        self.page.locator(f".st-key-{self.key}-train button").click(timeout=180_000)

    def stop(self) -> None:
        btn = self.page.locator(f".st-key-{self.key}-stop button")
        with contextlib.suppress(Exception):
            btn.click(timeout=3000)

    def step(self) -> int | None:
        """The step the page shows in its progress text (None before the run shows one)."""
        txt = self.page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stProgress"]'))
                                     .map(e => e.innerText).join('\\n')""")
        m = STEP_RE.search(txt or "")
        return int(m.group(1).replace(",", "")) if m else None

    def wait_step(self, timeout: float = 120.0) -> tuple[int, float]:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            s = self.step()
            if s is not None and s > 0:
                return s, time.perf_counter()
            time.sleep(0.2)
        raise TimeoutError(f"{self.slug}: no training step shown within {timeout:.0f} s")


def rate(tabs: list[Tab], seconds: float) -> list[float]:
    """Steps/s each tab shows over ``seconds`` (from the first shown step on)."""
    starts = [t.wait_step() for t in tabs]
    time.sleep(seconds)
    out = []
    for t, (s0, t0) in zip(tabs, starts, strict=True):
        s1, t1 = t.step() or s0, time.perf_counter()
        out.append((s1 - s0) / (t1 - t0))
    return out


def outside(setup: str, seconds: float) -> float:
    from live_setups import outside_rate

    return outside_rate(setup, seconds)["steps_per_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", nargs="*", default=list(PAGES))
    ap.add_argument("--port", type=int, default=8605)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    rows = []
    with serve_app(args.port) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for slug in args.pages:
            key, setup = PAGES[slug]
            out_sps = outside(setup, args.seconds)
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            tab = Tab(ctx.new_page(), slug, key)
            paint = tab.goto(url)
            tab.train()
            in_sps = rate([tab], args.seconds)[0]
            tab.stop()
            ctx.close()
            rows.append({"page": slug, "first_paint_s": round(paint, 2), "outside_steps_per_s": round(out_sps, 2),
                         "in_app_steps_per_s": round(in_sps, 2), "ratio": round(in_sps / out_sps, 2) if out_sps else None})
            print(json.dumps(rows[-1]), flush=True)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
