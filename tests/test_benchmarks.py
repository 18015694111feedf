"""The browser benchmark (benchmarks/browser_live.py) presses Train on every live run the app has: a page that gains a
training panel is measured the moment it exists, as timm's tests cover every registered model."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "scripts")]

# training panels the benchmark does not time, with the reason
NOT_BENCHMARKED = {
    "batchnorm": 1,   # the learning-rate sweep: a dozen runs of <= 1,000 steps, each over before a rate settles
}


def test_every_training_panel_has_a_benchmark_row():
    from browser_live import RUNS

    panels = Counter()
    for page in (ROOT / "pages").glob("*.py"):
        if not page.name.startswith("_"):
            panels[page.stem] += len(re.findall(r"\bui\.training_panel\(", page.read_text()))
    benched = Counter(slug for slug, *_ in RUNS.values())
    for page, n in panels.items():
        assert benched[page] + NOT_BENCHMARKED.get(page, 0) == n, (
            f"{page}: {n} training panels, {benched[page]} benchmarked, {NOT_BENCHMARKED.get(page, 0)} excused")
    assert set(benched) <= set(panels), f"benchmark rows for pages without a panel: {set(benched) - set(panels)}"


def test_an_expander_the_benchmark_opens_exists_on_its_page():
    from browser_live import RUNS

    for name, (slug, _, _, expander) in RUNS.items():
        if expander:
            assert f'"{expander}"' in (ROOT / "pages" / f"{slug}.py").read_text(), (
                f"{name}: pages/{slug}.py has no expander labelled {expander!r}")
