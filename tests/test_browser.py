"""Serve the real app (``streamlit run app/Home.py``) on a loopback port and visit every page in headless
Chromium. Fails on any Streamlit exception element; saves one screenshot per page under
artifacts/screenshots/.

Skipped (with the reason) when Chromium or Playwright is missing, unless DLVIZ_REQUIRE_BROWSER=1 (CI sets
it), in which case their absence is a failure.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

pytestmark = pytest.mark.browser


def _require() -> None:
    import browse

    missing = []
    if not (Path(browse.CHROMIUM).exists() or shutil.which("chromium")):
        missing.append("chromium (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        if os.environ.get("DLVIZ_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required but missing: {', '.join(missing)}")
        pytest.skip(f"missing: {', '.join(missing)}")


def test_every_page_in_chromium():
    _require()
    import browse
    import ui

    slugs = [""] + [p.slug for p in ui.discover_pages()]
    (ROOT / "artifacts").mkdir(exist_ok=True)
    with browse.serve_app() as url:
        visits = browse.visit_pages(url, slugs, ROOT / "artifacts" / "screenshots", full_page=False)
    assert len(visits) == len(slugs)
    failures = {v.page: v.exceptions for v in visits if v.exceptions}
    assert not failures, f"Streamlit exceptions: {failures}"
    errors = {v.page: v.errors for v in visits if v.errors}
    assert not errors, f"pages show errors with default controls: {errors}"
    for v in visits:
        assert v.screenshot is not None and v.screenshot.stat().st_size > 5_000
