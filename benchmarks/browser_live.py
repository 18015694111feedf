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

# page slug -> (run key, outside setup, main control: (label, control selector, how, figure it redraws))
PAGES = {
    "convolutions": ("conv", "convolutions", ("stride slider", ".st-key-conv-stride input[type=range]", "key",
                                               ".st-key-conv-out")),
    "classifier": ("clf", "classifier", ("confusion-matrix colouring", ".st-key-clf-cm-norm label", "click",
                                         '[class*="st-key-clf-cm-"]:not(.st-key-clf-cm-norm)')),
    "ddpm": ("ddpm", "ddpm", ("scrub t slider", ".st-key-ddpm-rev-t input[type=range]", "key", ".st-key-ddpm-rev-ddim-1")),
}
LONG_RUN = 20_000                          # steps of every benchmarked run
STEP_RE = re.compile(r"step ([\d,]+)")      # "step 123/2,000 · ..." or "finished at step 600 (...)"


@dataclass
class Tab:
    page: object
    slug: str
    key: str
    _flip: bool = True

    def goto(self, url: str) -> float:
        t0 = time.perf_counter()
        # a run long enough to outlast the measuring window (the steps control is in the URL): the default runs
        # (600 steps of the digits CNN) end within seconds on an idle machine, and a finished run counts 0 steps/s
        self.page.goto(f"{url}/{self.slug}?{self.key}-steps={LONG_RUN}", wait_until="domcontentloaded")
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

    def latency(self, control: tuple, timeout: float = 60.0) -> float:
        """Like :meth:`latency_once`; NaN (reported as such) when the control did not answer in time."""
        try:
            return self.latency_once(control, timeout)
        except Exception:  # noqa: BLE001 - a benchmark row, not a crash
            return float("nan")

    def latency_once(self, control: tuple, timeout: float = 60.0) -> float:
        """Seconds from a control's input to the browser showing a changed figure (click to pixels)."""
        _, sel, how, target = control
        self.page.locator(target).first.wait_for(timeout=timeout * 1000)
        self.page.evaluate(f"() => {{ window.__before = document.querySelector({json.dumps(target)}).innerHTML; }}")
        loc = self.page.locator(sel).first
        t0 = time.perf_counter()
        if how == "key":
            loc.focus(timeout=timeout * 1000)
            self.page.keyboard.press("ArrowRight" if self._flip else "ArrowLeft")
            self._flip = not self._flip
        else:
            loc.click(timeout=timeout * 1000)
        self.page.wait_for_function(f"() => {{ const e = document.querySelector({json.dumps(target)});"
                                    f" return e && e.innerHTML !== window.__before; }}", polling="raf",
                                    timeout=timeout * 1000)
        return time.perf_counter() - t0

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


def server_rss_mb(port: int) -> float:
    """Resident memory of the streamlit process serving ``port`` (from /proc)."""
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
            if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
                for line in (d / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError):
            continue
    return float("nan")


def live_view_share(stats: Path, key: str) -> tuple[float, float]:
    """(periodic snapshot/eval time, monitor redraw time) as shares of the optimisation-step time of the
    last run under ``key`` (from the app's DLVIZ_LIVE_STATS log)."""
    rows = [json.loads(x) for x in stats.read_text().splitlines() if x.strip()] if stats.exists() else []
    rows = [r for r in rows if r["key"] == key]
    if not rows:
        return float("nan"), float("nan")
    last = rows[-1]["run"]
    rows = [r for r in rows if r["run"] == last]
    tm = next(iter(rows[-1]["trainers"].values()))
    step_s = tm["step_s"] or float("nan")
    return tm["periodic_s"] / step_s, sum(r["views_s"] for r in rows) / step_s


def open_tabs(browser, url: str, slug: str, key: str, n: int) -> list[Tab]:
    tabs = []
    for _ in range(n):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        tabs.append(Tab(ctx.new_page(), slug, key))
    for t in tabs:
        t.goto(url)
    return tabs


def close(tabs: list[Tab]) -> None:
    for t in tabs:
        t.stop()
    time.sleep(1.0)
    for t in tabs:
        t.page.context.close()


def per_page(browser, url: str, stats: Path, slug: str, seconds: float) -> dict:
    key, setup, control = PAGES[slug]
    out_sps = outside(setup, seconds)
    tab = open_tabs(browser, url, slug, key, 1)[0]
    t0 = time.perf_counter()
    tab.goto(url)                                   # second visit: a warm page's first paint
    paint = time.perf_counter() - t0
    idle_lat = statistics.median(tab.latency(control) for _ in range(3))
    tab.train()
    in_sps = rate([tab], seconds)[0]
    busy_lat = statistics.median(tab.latency(control) for _ in range(3))
    tab.stop()
    time.sleep(1.5)
    periodic, views = live_view_share(stats, key)
    tab.page.context.close()
    return {"page": slug, "outside_steps_per_s": round(out_sps, 2), "in_app_steps_per_s": round(in_sps, 2),
            "ratio": round(in_sps / out_sps, 2) if out_sps else None,
            "snapshot_eval_share": round(periodic, 3), "monitor_share": round(views, 3),
            f"latency_s[{control[0]}] idle": round(idle_lat, 2), "while training": round(busy_lat, 2),
            "warm_first_paint_s": round(paint, 2)}


def sessions(browser, url: str, port: int, n_train: int, seconds: float, slug: str = "convolutions") -> dict:
    """``n_train`` sessions train ``slug`` at once; one more session moves a slider meanwhile."""
    key, _, control = PAGES[slug]
    tabs = open_tabs(browser, url, slug, key, n_train + 1)
    trainers, idle = tabs[:-1], tabs[-1]
    for t in trainers:
        t.train()
    for t in trainers:                              # each shows a progress line (running or queued)
        t.page.wait_for_function("""() => document.querySelector('[data-testid="stProgress"]')""", timeout=120_000)
    running = [t for t in trainers if not _queued(t)]
    queued = len(trainers) - len(running)
    rates = rate(running, seconds) if running else []
    lat = [idle.latency(control) for _ in range(3)]
    stop_lat = None
    if running:                                     # Stop answers: click to the button greying out
        t0 = time.perf_counter()
        running[0].stop()
        try:
            running[0].page.wait_for_function(
                f"() => document.querySelector('.st-key-{key}-stop button')?.disabled", timeout=30_000)
            stop_lat = time.perf_counter() - t0
        except Exception:  # noqa: BLE001 - reported as "> 30 s", not a crash of the whole table
            stop_lat = float("inf")
    rss = server_rss_mb(port)
    close(tabs)
    return {"sessions_training": n_train, "running": len(running), "queued": queued,
            "steps_per_s_each": [round(r, 1) for r in rates],
            "idle_session_latency_s": round(statistics.median(lat), 2),
            "stop_latency_s": round(stop_lat, 2) if stop_lat is not None else None, "server_rss_mb": round(rss)}


def _queued(tab: Tab) -> bool:
    txt = tab.page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stProgress"]'))
                               .map(e => e.innerText).join(' ')""")
    return "queued" in (txt or "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", nargs="*", default=list(PAGES))
    ap.add_argument("--port", type=int, default=8605)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--capacity", nargs="*", type=int, default=[1, 2, 4], help="sessions training at once")
    args = ap.parse_args()
    import torch
    from playwright.sync_api import sync_playwright

    stats = ROOT / "artifacts" / f"live-stats-{args.port}.jsonl"
    stats.parent.mkdir(exist_ok=True)
    stats.unlink(missing_ok=True)
    os.environ["DLVIZ_LIVE_STATS"] = str(stats)
    torch.set_num_threads(1)                 # the outside runs: one thread, as each app run gets on 2 cores
    print(f"# {os.cpu_count()} cores; run limit {os.environ.get('DLVIZ_MAX_RUNS', 'default')}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    with serve_app(args.port, timeout=300) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        print("\n## per page (in-app vs outside, live-view shares of the step time, control latency)")
        for slug in args.pages:
            print(json.dumps(per_page(browser, url, stats, slug, args.seconds)), flush=True)
        print("\n## sessions training at once (convolutions) + one idle session moving a slider")
        for n in args.capacity:
            print(json.dumps(sessions(browser, url, args.port, n, args.seconds)), flush=True)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
