"""Cold start (issue 16): ``streamlit run app/Home.py`` to the landing page painted in headless Chromium.

Starts a fresh server each time (nothing imported, no cache warm), opens the landing page as soon as the port
answers, and waits for the first full script run to end and the browser to paint it (Streamlit's own
``script_finished`` message, see run_clock.py). Prints each try and the median.

    python benchmarks/cold_start.py --tries 3
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "benchmarks")]

from browse import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402
from run_clock import RunClock  # noqa: E402


def one(browser, port: int) -> tuple[float, float]:
    """(seconds to the port answering, seconds to the landing page painted), both from the launch."""
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "Home.py"), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.perf_counter() - t0 > 120:
                    raise TimeoutError("the server did not answer in 120 s") from None
                time.sleep(0.02)
        t_port = time.perf_counter() - t0
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        clock = RunClock(page)
        clock.goto(f"http://127.0.0.1:{port}/")
        t_paint = time.perf_counter() - t0
        page.context.close()
        return t_port, t_paint
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tries", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        rows = []
        for i in range(args.tries):
            t_port, t_paint = one(browser, free_port())
            rows.append(t_paint)
            print(f"try {i + 1}: server answering {t_port:.2f} s, landing page painted {t_paint:.2f} s", flush=True)
        print(f"cold start, median of {len(rows)}: {statistics.median(rows):.2f} s (budget 5 s; "
              f"load average {os.getloadavg()[0]:.1f})")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
