"""The monkey test (issue 15): every page, random legal values for every widget, no exception element.

Each page is rendered with its defaults, then for ``DLVIZ_MONKEY_ROUNDS`` rounds (default 3) a random handful of
the widgets *now on the page* (re-enumerated after every run, so widgets that appear only for some settings
are reached) get random legal values -- extremes a third of the time -- and the page reruns. Any exception
element fails the test with the settings that led to it, so it can be replayed. ``st.error`` messages are
allowed: a clear message is the right answer to a setting that cannot work. Buttons are not pressed (training
runs have their own tests) and uploaders are left empty (``tests/test_bad_inputs.py`` feeds them).

A longer soak: ``DLVIZ_MONKEY_ROUNDS=40 DLVIZ_MONKEY_SEED=7 pytest tests/test_monkey.py``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from pagetest import force_options
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
ROUNDS = int(os.environ.get("DLVIZ_MONKEY_ROUNDS", "3"))
SEED = int(os.environ.get("DLVIZ_MONKEY_SEED", "0"))
PER_ROUND = 4            # widgets changed per round
KINDS = ("selectbox", "radio", "select_slider", "multiselect", "button_group", "slider", "number_input",
         "checkbox", "toggle", "text_input", "text_area")
TEXTS = ["", " ", "a", "ÿ€漢字🙂", "x\x00y", "0", "-1", "1e309", "nan", "../../etc/passwd", "A" * 5000]


def _extreme(rng: random.Random) -> bool:
    return rng.random() < 1 / 3


def _number(rng, lo, hi, step, is_int):
    if lo is None:
        lo = -1e6 if not is_int else -10**6
    if hi is None:
        hi = 1e6 if not is_int else 10**6
    if _extreme(rng):
        return rng.choice([lo, hi])
    if is_int:
        step = int(step or 1)
        return lo + step * rng.randint(0, max(0, (int(hi) - int(lo)) // step))
    if step:
        n = int(round((hi - lo) / step))
        return min(hi, lo + step * rng.randint(0, max(0, n)))
    return rng.uniform(lo, hi)


def _randomise(kind: str, w, rng: random.Random) -> str:
    """Set ``w`` to a random legal value; returns a description for the failure message."""
    if kind in ("selectbox", "radio"):
        opts = list(w.options)
        if not opts:
            return ""
        s = opts[-1] if _extreme(rng) else rng.choice(opts)
        force_options(w, s)
        return repr(s)
    if kind in ("select_slider", "multiselect", "button_group"):
        opts = list(w.options)
        if not opts:
            return ""
        if kind == "select_slider":
            vals = [opts[0] if rng.random() < .5 else opts[-1]] if _extreme(rng) else [rng.choice(opts)]
            if isinstance(w.value, (tuple, list)):
                i, j = sorted(rng.sample(range(len(opts)), 2)) if len(opts) > 1 else (0, 0)
                vals = [opts[i], opts[j]]
        elif kind == "multiselect":
            vals = rng.sample(opts, rng.randint(0, len(opts))) if not _extreme(rng) else rng.choice([[], opts])
        else:
            vals = [rng.choice(opts)]
        force_options(w, [str(v) for v in vals])
        return repr(vals)
    if kind in ("checkbox", "toggle"):
        v = rng.random() < .5
        w.set_value(v)
        return repr(v)
    if kind == "slider":
        if not isinstance(w.value, (int, float, tuple, list)) or isinstance(w.value, bool):
            return ""
        is_int = isinstance(w.value if not isinstance(w.value, (tuple, list)) else w.value[0], int)
        a = _number(rng, w.min, w.max, w.step, is_int)
        if isinstance(w.value, (tuple, list)):
            b = _number(rng, w.min, w.max, w.step, is_int)
            w.set_range(min(a, b), max(a, b))
            return repr((min(a, b), max(a, b)))
        w.set_value(a)
        return repr(a)
    if kind == "number_input":
        is_int = isinstance(w.value, int)
        v = _number(rng, w.min, w.max, w.step, is_int)
        w.set_value(int(v) if is_int else float(v))
        return repr(v)
    if kind in ("text_input", "text_area"):
        v = rng.choice(TEXTS)
        w.set_value(v[: w.max_chars] if getattr(w, "max_chars", None) else v)
        return repr(v[:20])
    return ""


def _widgets(at: AppTest):
    out = []
    seen = set()
    for kind in KINDS:
        for w in getattr(at, kind, []):
            if w.id in seen or w.disabled:
                continue
            seen.add(w.id)
            out.append((kind, w))
    return out


def _exceptions(at: AppTest) -> list[str]:
    return [e.value[:500] + "\n" + "\n".join(e.stack_trace[-4:]) for e in at.exception]


@pytest.mark.parametrize("page", PAGES)
def test_random_legal_values_raise_nothing(page):
    rng = random.Random(f"{page}:{SEED}")
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=240)
    at.run()
    assert not _exceptions(at), _exceptions(at)
    history = []
    for r in range(ROUNDS):
        widgets = _widgets(at)
        if not widgets:
            break
        changed = []
        for kind, w in rng.sample(widgets, min(PER_ROUND, len(widgets))):
            desc = _randomise(kind, w, rng)
            if desc:
                changed.append(f"{kind} {w.key or w.label!r} = {desc}")
        history.append(f"round {r}: " + "; ".join(changed))
        at.run()
        exc = _exceptions(at)
        assert not exc, f"{page}: exception after\n" + "\n".join(history) + "\n\n" + "\n".join(exc)
