"""Serve the real app on a loopback port and visit pages in headless Chromium (Playwright).

Used by tests/test_browser.py and by developers to look at what they built:

    python scripts/browse.py                     # every page -> artifacts/screenshots/*.png
    python scripts/browse.py convolutions vae    # just these pages
    python scripts/browse.py --port 8501 --no-serve convolutions   # an app you already run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DLVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(port: int | None = None, timeout: float = 60.0) -> Iterator[str]:
    """Run ``streamlit run app/Home.py`` on 127.0.0.1 and yield its base URL; stop it afterwards."""
    port = port or free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "DLVIZ_DEVICE": "cpu"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "Home.py"), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false"]
    log = open(ROOT / "artifacts" / f"streamlit-{port}.log", "w") if (ROOT / "artifacts").is_dir() else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.time()
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode}")
            if time.time() - t0 > timeout:
                raise TimeoutError("streamlit did not become healthy in time")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Visit:
    page: str
    seconds: float
    exceptions: list[str]
    errors: list[str]
    screenshot: Path | None


def wait_idle(page, timeout_s: float = 120.0) -> None:
    """Wait until the app has rendered and is no longer running its script: no running indicator,
    no spinner, no skeleton, for a full second."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    busy_sel = ('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"], '
                '[data-testid="stSpinner"], [data-testid="stSkeleton"]')
    t0 = time.time()
    quiet, last = 0, -1
    while time.time() - t0 < timeout_s:
        busy = page.locator(busy_sel).count() > 0
        n = page.locator('[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]').count()
        quiet = quiet + 1 if (not busy and n > 0 and n == last) else 0  # nothing running, nothing new
        last = n
        if quiet >= 6:
            return
        time.sleep(0.25)


def visit_pages(url: str, slugs: list[str], out_dir: Path | None, width: int = 1400, height: int = 1000,
                full_page: bool = True) -> list[Visit]:
    from playwright.sync_api import sync_playwright

    visits = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": width, "height": height})
        page = ctx.new_page()
        for slug in slugs:
            t0 = time.time()
            page.goto(f"{url}/{slug}", wait_until="domcontentloaded")
            wait_idle(page)
            secs = time.time() - t0
            exc = [e.inner_text()[:500] for e in page.locator('[data-testid="stException"]').all()]
            errs = [e.inner_text()[:300] for e in page.locator('[data-testid="stAlertContentError"]').all()]
            shot = None
            if out_dir is not None and full_page:  # the main area scrolls inside the app: grow the viewport
                h = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
                                  " return m ? m.getBoundingClientRect().height + 160 : document.body.scrollHeight; }")
                page.set_viewport_size({"width": width, "height": int(min(max(h, height), 12000))})
                time.sleep(0.8)
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                shot = out_dir / f"{slug or 'home'}.png"
                page.screenshot(path=str(shot), full_page=full_page)
            visits.append(Visit(slug or "home", secs, exc, errs, shot))
            page.set_viewport_size({"width": width, "height": height})
        browser.close()
    return visits


def main() -> int:
    sys.path.insert(0, str(ROOT / "app"))
    import ui

    ap = argparse.ArgumentParser()
    ap.add_argument("pages", nargs="*", help="page slugs (file stems); default: home and every page")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--no-serve", action="store_true", help="use an app already running on --port")
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "screenshots"))
    ap.add_argument("--viewport", action="store_true", help="screenshot the viewport only, not the full page")
    args = ap.parse_args()
    slugs = args.pages or [""] + [p.slug for p in ui.discover_pages()]
    (ROOT / "artifacts").mkdir(exist_ok=True)
    ctx = contextlib.nullcontext(f"http://127.0.0.1:{args.port}") if args.no_serve else serve_app(args.port)
    with ctx as url:
        for v in visit_pages(url, slugs, Path(args.out), full_page=not args.viewport):
            flag = "EXCEPTION" if v.exceptions else ("error shown" if v.errors else "ok")
            print(f"{v.page:28s} {v.seconds:6.2f} s  {flag}  {v.screenshot}")
            for e in v.exceptions + v.errors:
                print("   ", e.replace("\n", " ")[:300])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
