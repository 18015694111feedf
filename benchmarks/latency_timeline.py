"""Where a control's click-to-pixels goes while a run trains (issue 16): one page, its main control, a timeline.

For each input: the moment of the key press, when the browser *sent* the rerun request (BackMsg on the
websocket), when the server's run started (``new_session``) and ended (``script_finished``), and the periodic
fragment runs in between. Separates browser-side delay (press -> sent), server queueing (sent -> start) and the
run itself (start -> end).

    python benchmarks/latency_timeline.py --page convolutions --presses 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "app"), str(ROOT / "scripts"), str(ROOT / "benchmarks")]

from browse import CHROMIUM, CHROMIUM_ARGS, serve_app  # noqa: E402
from browser_live import Tab, TRAINABLE  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--page", default="convolutions")
    ap.add_argument("--port", type=int, default=8611)
    ap.add_argument("--presses", type=int, default=5)
    ap.add_argument("--idle", action="store_true", help="do not train (the baseline)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    hp, key, _ = TRAINABLE[args.page]
    with serve_app(args.port, timeout=300) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        sent: list[tuple[float, str]] = []

        def on_sent(payload):
            if isinstance(payload, str):
                return
            try:
                m = BackMsg.FromString(payload)
            except Exception:  # noqa: BLE001
                return
            kind = m.WhichOneof("type")
            if kind == "rerun_script" and not m.rerun_script.is_auto_rerun:      # an input, not a run_every tick
                sent.append((time.perf_counter(), m.rerun_script.fragment_id or "full"))

        page.on("websocket", lambda ws: ws.on("framesent", on_sent))
        tab = Tab(page, args.page, hp, key, 20_000)
        tab.goto(url)
        control = tab.control()
        print("control", control)
        if not args.idle:
            tab.train()
            tab.wait_step()
            tab.clock.pump(3)
        rows = []
        k, kind = control
        loc = page.locator(f".st-key-{k} input[type=range]").first
        right = True
        for _ in range(args.presses):
            periodic = tab.clock.periodic_fragments(1.5)      # the live views' fragments: not this control's run
            n_ev, n_sent = len(tab.clock.events), len(sent)
            t0 = time.perf_counter()
            loc.focus(timeout=20_000)
            t_focus = time.perf_counter()
            at_end = loc.evaluate("e => [Number(e.value) >= Number(e.max), Number(e.value) <= Number(e.min)]")
            right = (right or at_end[1]) and not at_end[0]
            page.keyboard.press("ArrowRight" if right else "ArrowLeft")
            right = not right
            t_press = time.perf_counter()
            deadline = t_press + 30
            st_ = en = ts = None
            while time.perf_counter() < deadline:
                mine = [t for t, f in sent[n_sent:] if f == "full" or f not in periodic]
                if mine:
                    ts = mine[0]
                    evs = [e for e in tab.clock.events[n_ev:] if not set(e.fragments) & periodic]
                    st_ = next((e.t for e in evs if e.kind == "start" and e.t >= ts - 0.01), None)
                    if st_ is not None:
                        en = next((e for e in evs if e.kind == "end" and e.t >= st_), None)
                        if en is not None:
                            break
                tab.clock.pump(0.005)
            if en is None:
                print("no run ended within 30 s", ts, st_)
                continue
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")
            t_paint = time.perf_counter()
            evs = tab.clock.events[n_ev:]
            n_frag = sum(1 for e in tab.clock.events[n_ev:] if e.kind == "end" and set(e.fragments) & periodic
                         and ts <= e.t <= en.t)
            rows.append((t_press - t0, ts - t_press, st_ - ts, en.t - st_, t_paint - en.t, t_paint - t0))
            print(f"{'fragment' if en.fragments else 'full'} run: focus {t_focus - t0:5.2f}  press {t_press - t_focus:5.2f}  press->sent {ts - t_press:5.2f}  "
                  f"sent->start {st_ - ts:5.2f}  run {en.t - st_:5.2f} (status {en.status})  end->painted {t_paint - en.t:5.2f}"
                  f"  total {t_paint - t0:5.2f}  fragment runs ended during the run {n_frag}", flush=True)
        if rows:
            names = ("focus+press", "press->sent", "sent->start", "run", "end->painted", "total")
            print("median", "  ".join(f"{n} {statistics.median(r[i] for r in rows):.2f}" for i, n in enumerate(names)))
        tab.stop()
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
