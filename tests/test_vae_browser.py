"""The VAE page in headless Chromium: a click on a point of the latent map makes it endpoint A, the
interpolation path follows, and the slider tab's prior sample redraws -- with no exception anywhere."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# page pixel position of the point of the first trace (a class) farthest from every other trace's points
# (paths and endpoints are drawn on top and would take the click)
_POINT_JS = """() => {
  const gds = [...document.querySelectorAll('.js-plotly-plot')].filter(g => g.offsetParent !== null);
  const gd = gds.find(g => g.data && g.data.length > 2 && g._fullLayout && g._fullLayout.xaxis);
  if (!gd) return null;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const px = (x, y) => [box.left + xa._offset + xa.l2p(x), box.top + ya._offset + ya.l2p(y)];
  const others = [];
  gd._fullData.forEach(t => { if (t.name && !/^[0-9]$/.test(t.name)) for (let j = 0; j < t.x.length; j++)
                                others.push(px(t.x[j], t.y[j])); });
  const tr = gd._fullData[0];
  let best = null, bestD = -1;
  for (let i = 0; i < tr.x.length; i++) {
    const p = px(tr.x[i], tr.y[i]);
    const d = Math.min(...others.map(o => Math.hypot(o[0] - p[0], o[1] - p[1])));
    if (d > bestD) { bestD = d; best = {x: p[0], y: p[1], idx: tr.customdata[i]}; }
  }
  return best;
}"""


def test_click_on_the_map_sets_endpoint_a():
    from test_browser import _require

    _require()
    import browse

    (ROOT / "artifacts").mkdir(exist_ok=True)
    from playwright.sync_api import sync_playwright

    with browse.serve_app() as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browse.CHROMIUM, args=browse.CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/vae", wait_until="domcontentloaded")
        browse.wait_idle(page, 180)
        page.get_by_role("tab", name="Latent map & interpolation").click()
        time.sleep(2)
        a_input = page.get_by_label("Image A (#)")
        before = a_input.input_value()
        pt = None
        for _ in range(120):                        # the map draws after the tab opens
            pt = page.evaluate(_POINT_JS)
            if pt is not None:
                break
            time.sleep(0.5)
        assert pt is not None, "the latent map did not draw"
        assert str(pt["idx"]) != before
        page.mouse.move(pt["x"], pt["y"])             # WebGL picking happens on hover
        time.sleep(0.5)
        page.mouse.click(pt["x"], pt["y"])
        for _ in range(120):
            time.sleep(0.5)
            if a_input.input_value() == str(pt["idx"]):
                break
        assert a_input.input_value() == str(pt["idx"]), "clicking a point did not make it endpoint A"
        browse.wait_idle(page, 120)
        assert page.get_by_role("button", name="path (GIF)").count() == 2     # linear and spherical, built on click
        page.get_by_role("tab", name="Latent sliders").click()
        page.get_by_role("button", name="Sample from the prior").click()
        browse.wait_idle(page, 120)
        page.screenshot(path=str(ROOT / "artifacts" / "vae-browser.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()
