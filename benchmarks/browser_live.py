"""Live training in a real browser vs the same run outside the app (issue 16, "Live means live").

Serves the app (``streamlit run app/Home.py``), drives headless Chromium with Playwright on the same
machine, presses **Train** on every trainable page (``tests/test_divergence.py::TRAINABLE``, which a test
keeps complete) and reads the step counter the page shows. Prints, per page: in-app vs outside steps/s (the
outside run is the Trainer the page's own Train button builds, made through AppTest and trained in a plain
process right before), the live view's share of the training time (from the Trainer's own clock),
click-to-pixels latency of the page's main control idle and while the run trains (timed from Streamlit's
own protocol, ``benchmarks/run_clock.py``), Stop to greyed-out, the warm first paint; then the sessions
table (1, 2, 4, 8 sessions training on one server, one more session moving a slider).

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

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")     # as app/Home.py sets it for the server
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "app"), str(ROOT / "scripts"), str(ROOT / "benchmarks")]

from browse import CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402
from run_clock import RunClock  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from test_divergence import TRAINABLE  # noqa: E402  page -> (hyperparameter key, run key, optimiser): every trainable page

# Every live run the benchmark presses Train on: name -> (page, hyperparameter key, run key, expander to open first).
# The pages with the shared hyperparameter panel, and the runs with a panel of their own (the GAN page's 2-D game and
# its DCGAN, whose Train button sits in an expander); tests/test_benchmarks.py keeps this complete.
RUNS = {p: (p, hp, key, None) for p, (hp, key, _) in TRAINABLE.items()} | {
    "gans": ("gans", "gans", "gans", None),
    "gans_dcgan": ("gans", "gans-img", "gans-img", "Train a DCGAN live"),
}

LONG_RUN = 20_000                          # steps of every benchmarked run
STEP_RE = re.compile(r"step ([\d,]+)")      # "step 123/2,000 · ..." or "finished at step 600 (...)"
TRAINING_KNOBS = re.compile(r"-(lr|steps|bs|opt|wd|train|pause|stop|seed)$")

# The main control of a page: the first visible slider in the page's main area that is not a training knob
# (a control that needs no training), else the first visible radio option there.
FIND_CONTROL = """() => {
  const keyOf = el => { const c = el.closest('[class*="st-key-"]');
    return c ? [...c.classList].find(x => x.startsWith('st-key-')).slice(7) : null; };
  const seen = el => el.offsetParent !== null;
  for (const sel of ['[data-testid="stSlider"]', '[data-testid="stRadio"] label']) {
    for (const el of document.querySelectorAll('[data-testid="stMain"] ' + sel)) {
      const k = keyOf(el);
      if (k && seen(el) && !/KNOBS/.test(k)) return [k, sel.includes('Slider') ? 'slider' : 'radio'];
    }
  }
  return null; }""".replace("KNOBS", TRAINING_KNOBS.pattern.replace("\\", "\\\\"))


@dataclass
class Tab:
    page: object
    slug: str
    hp: str
    key: str
    steps: int = LONG_RUN
    expander: str | None = None
    clock: RunClock | None = None
    _flip: bool = True

    def __post_init__(self) -> None:
        self.clock = RunClock(self.page)

    def goto(self, url: str) -> float:
        """First paint: navigation to the page's first full script run ended and painted. The run is long enough
        to outlast the measuring window (the steps control is in the URL): the default runs (600 steps of the digits
        CNN) end within seconds on an idle machine, and a finished run counts 0 steps/s."""
        paint = self.clock.goto(f"{url}/{self.slug}?{self.hp}-steps={self.steps}")
        if self.expander:                               # the run's panel is in an expander: open it (no rerun)
            self.page.locator('[data-testid="stExpander"] summary', has_text=self.expander).first.click()
            self.page.locator(f".st-key-{self.key}-train button").wait_for(state="visible", timeout=30_000)
        return paint

    def train(self) -> None:
        self.page.locator(f".st-key-{self.key}-train button").click(timeout=180_000)

    def stop(self, timeout: float = 3.0) -> None:
        btn = self.page.locator(f".st-key-{self.key}-stop button")
        with contextlib.suppress(Exception):
            btn.click(timeout=timeout * 1000)

    def step(self) -> int | None:
        """The step the page shows in its progress text (None before the run shows one)."""
        txt = self.page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stProgress"]'))
                                     .map(e => e.innerText).join('\\n')""")
        m = STEP_RE.search(txt or "")
        return int(m.group(1).replace(",", "")) if m else None

    def control(self) -> tuple[str, str] | None:
        """(key, kind) of the page's main control (see FIND_CONTROL)."""
        for _ in range(40):                             # a page still drawing after its first run: look again
            found = self.page.evaluate(FIND_CONTROL)
            if found:
                return tuple(found)
            self.clock.pump(0.25)
        return None

    def latency(self, control: tuple[str, str] | None, timeout: float = 20.0) -> float:
        """Click to pixels of one input on ``control`` (NaN, reported as such, when it did not answer in time)."""
        if control is None:
            return float("nan")
        key, kind = control
        try:                                            # focus/scroll first: the clock starts at the input itself
            if kind == "slider":
                loc = self.page.locator(f".st-key-{key} input[type=range]").first
                loc.focus(timeout=timeout * 1000)
                at_end = loc.evaluate("e => [Number(e.value) >= Number(e.max), Number(e.value) <= Number(e.min)]")
                right = (self._flip or at_end[1]) and not at_end[0]      # a slider at an end moves inwards

                def act() -> None:
                    self.page.keyboard.press("ArrowRight" if right else "ArrowLeft")
            else:
                option = self.page.locator(f'.st-key-{key} [data-testid="stRadioOption"]').nth(1 if self._flip else 0)
                option.scroll_into_view_if_needed(timeout=timeout * 1000)

                def act() -> None:
                    option.click(timeout=timeout * 1000)
        except Exception:  # noqa: BLE001 - a benchmark row, not a crash
            return float("nan")
        self._flip = not self._flip
        self.clock.pump(0.5)                            # let the previous input's run finish drawing
        try:
            return self.clock.latency(act, timeout=timeout)
        except Exception:  # noqa: BLE001 - a benchmark row, not a crash
            return float("nan")

    def wait_step(self, timeout: float = 120.0) -> tuple[int, float]:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            s = self.step()
            if s is not None and s > 0:
                return s, time.perf_counter()
            self.clock.pump(0.2)
        raise TimeoutError(f"{self.slug}: no training step shown within {timeout:.0f} s")


def rate(tabs: list[Tab], seconds: float) -> list[float]:
    """Steps/s each tab shows over ``seconds`` (from the first shown step on)."""
    starts = [t.wait_step() for t in tabs]
    tabs[0].clock.pump(seconds)
    out = []
    for t, (s0, t0) in zip(tabs, starts, strict=True):
        s1, t1 = t.step() or s0, time.perf_counter()
        out.append((s1 - s0) / (t1 - t0))
    return out


def outside(name: str, seconds: float) -> tuple[float, int]:
    """(steps/s, steps) of the page's own default run, as long as the page allows, (the Trainer its Train button builds, via AppTest) training in a
    background thread of this plain process: no server, no browser, no script reruns."""
    from streamlit.testing.v1 import AppTest

    slug, hp, key, _ = RUNS[name]
    at = AppTest.from_file(str(ROOT / "pages" / f"{slug}.py"), default_timeout=300)
    at.run()
    if at.exception:
        raise RuntimeError(f"{slug} failed in AppTest: {at.exception[0].value[:300]}")
    steps = min(LONG_RUN, int(at.number_input(key=f"{hp}-steps").max))   # some pages cap their runs lower
    at.number_input(key=f"{hp}-steps").set_value(steps).run()
    at.button(key=f"{key}-train").click().run()
    run = at.session_state[f"dlviz-run-{key}"]
    trainer = next(iter(run.trainers.values()))           # the first progress line the page shows
    try:
        t_end = time.perf_counter() + 120
        while trainer.step == 0 and time.perf_counter() < t_end:
            time.sleep(0.05)
        s0, t0 = trainer.step, time.perf_counter()
        time.sleep(seconds)
        return (trainer.step - s0) / (time.perf_counter() - t0), steps
    finally:
        run.stop()
        for t in run.trainers.values():
            t.join(10)


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


def open_tabs(browser, url: str, name: str, n: int, steps: int = LONG_RUN) -> list[Tab]:
    slug, hp, key, expander = RUNS[name]
    tabs = []
    for _ in range(n):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        tabs.append(Tab(ctx.new_page(), slug, hp, key, steps, expander))
    for t in tabs:
        t.goto(url)
    return tabs


def close(tabs: list[Tab]) -> None:
    for t in tabs:
        t.stop()
    time.sleep(1.0)
    for t in tabs:
        t.page.context.close()


def per_page(browser, url: str, stats: Path, name: str, seconds: float) -> dict:
    out_sps, steps = outside(name, seconds)
    tab = open_tabs(browser, url, name, 1, steps)[0]          # the first visit warms the page's caches
    paint = statistics.median(tab.goto(url) for _ in range(3))   # later visits: a warm page's first paint
    control = tab.control()
    tab.train()                                       # the rate first: work a control starts (a UMAP job on the
    in_sps = rate([tab], seconds)[0]                  # classifier page) must not share the rate's window
    busy_lat = statistics.median(tab.latency(control) for _ in range(3))
    t0 = time.perf_counter()                          # Stop: click to the button greyed out
    ended = tab.page.evaluate(f"() => document.querySelector('.st-key-{tab.key}-stop button')?.disabled")
    tab.stop(timeout=0.1 if ended else 30)
    try:
        tab.page.wait_for_function(f"() => document.querySelector('.st-key-{tab.key}-stop button')?.disabled",
                                   timeout=30_000)
        stop_lat = float("nan") if ended else time.perf_counter() - t0     # nan: the run had ended already
    except Exception:  # noqa: BLE001 - reported as inf, not a crash of the table
        stop_lat = float("inf")
    time.sleep(1.5)
    idle_lat = statistics.median(tab.latency(control) for _ in range(3))     # after the run: nothing trains
    periodic, views = live_view_share(stats, tab.key)
    tab.page.context.close()
    return {"page": name, "steps": steps, "outside_steps_per_s": round(out_sps, 2), "in_app_steps_per_s": round(in_sps, 2),
            "ratio": round(in_sps / out_sps, 2) if out_sps else None,
            "snapshot_eval_share": round(periodic, 3), "monitor_share": round(views, 3),
            "control": control[0] if control else None, "latency_idle_s": round(idle_lat, 2),
            "latency_training_s": round(busy_lat, 2), "stop_s": round(stop_lat, 2),
            "warm_first_paint_s": round(paint, 2)}


def sessions(browser, url: str, port: int, n_train: int, seconds: float, slug: str = "convolutions") -> dict:
    """``n_train`` sessions train ``slug`` at once; one more session moves a slider meanwhile."""
    tabs = open_tabs(browser, url, slug, n_train + 1)
    trainers, idle = tabs[:-1], tabs[-1]
    key = idle.key
    control = idle.control()
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
        running[0].stop(timeout=30)
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
    ap.add_argument("--pages", nargs="*", default=sorted(RUNS), choices=sorted(RUNS))
    ap.add_argument("--port", type=int, default=8605)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--capacity", nargs="*", type=int, default=[1, 2, 4, 8], help="sessions training at once")
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
        for name in args.pages:
            print(json.dumps(per_page(browser, url, stats, name, args.seconds)), flush=True)
        print("\n## sessions training at once (convolutions) + one idle session moving a slider")
        for n in args.capacity:
            print(json.dumps(sessions(browser, url, args.port, n, args.seconds)), flush=True)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
