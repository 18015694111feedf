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


def test_a_copied_link_reopens_the_same_view():
    """Change two controls in the browser, press "Copy link to this view", open the copied address in a fresh
    browser context (no shared session or storage): the controls come back with the same values."""
    _require()
    import browse
    from playwright.sync_api import sync_playwright

    (ROOT / "artifacts").mkdir(exist_ok=True)
    with browse.serve_app() as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browse.CHROMIUM, args=browse.CHROMIUM_ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        page = ctx.new_page()
        page.goto(f"{url}/attention", wait_until="domcontentloaded")
        browse.wait_idle(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        model = sidebar.get_by_role("combobox", name="Model")     # a react-aria combobox: type, then Enter
        model.click()
        model.press("ArrowDown")
        model.press_sequentially("attn_sort")
        model.press("Enter")
        browse.wait_idle(page)
        steps = sidebar.get_by_label("Steps")
        steps.fill("1234")
        steps.press("Enter")
        browse.wait_idle(page)
        assert "attn-model=" in page.url and "attn-steps=1234" in page.url, page.url
        page.locator("#dlviz-copy-link-btn").click()
        page.wait_for_function("() => document.querySelector('#dlviz-copy-link-url').value.length > 0")
        link = page.locator("#dlviz-copy-link-url").input_value()
        assert link == page.url
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == link
        fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        fresh.goto(link, wait_until="domcontentloaded")
        browse.wait_idle(fresh)
        sb = fresh.locator('[data-testid="stSidebar"]')
        assert sb.get_by_role("combobox", name="Model").input_value() == "attn_sort"
        assert sb.get_by_label("Steps").input_value() == "1234"
        assert not fresh.locator('[data-testid="stException"]').count()
        fresh.screenshot(path=str(ROOT / "artifacts" / "copied-link.png"))
        browser.close()
