"""Share, keep and export (issue 17), on every page at once.

- Every keyed value widget a page renders is bound to the URL (``bind="query-params"``), except the few listed
  in ``UNBOUND`` with the reason; a link with non-default values reopens the page with those values.
- A link the page cannot use (a value that is not an option, a parameter no control has) gives a note and the
  defaults, never an exception.
- Every page offers a notebook snippet: plain Python (no streamlit) that prints the page's headline number, and
  running it prints the number the page shows.
- The CSV helpers write what they were given (read back with the csv module).

Pages are discovered from pages/*.py, so a new page is held to this the moment it exists.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest
from pagetest import errors
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))

# Widgets deliberately not in the URL, per page: key -> why.
UNBOUND: dict[str, dict[str, str]] = {}

# AppTest element kinds that hold a value a link should carry.
VALUE_KINDS = ("selectbox", "radio", "slider", "select_slider", "number_input", "checkbox", "toggle",
               "multiselect", "text_input", "color_picker", "date_input", "time_input", "button_group")
# Options a link never chooses: they need a file or a run that a fresh session does not have.
_NOT_LINKABLE = re.compile(r"upload|my trained model|my own|your own|folder", re.I)

_rendered: dict[str, AppTest] = {}


def _render(page: str, params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=180)
    if params:
        at.query_params.update(params)
    at.run()
    return at


def _default(page: str) -> AppTest:
    if page not in _rendered:
        _rendered[page] = _render(page)
    return _rendered[page]


def _widgets(at: AppTest):
    """Every value widget with a user key, once (AppTest lists sidebar widgets in the main lists too)."""
    seen = {}
    for kind in VALUE_KINDS:
        for w in getattr(at, kind, []):
            key = getattr(w, "key", None)
            if key and not key.startswith("$$") and key not in seen:
                seen[key] = (kind, w)
    return seen


def _bound_key(w) -> str:
    return getattr(w.proto, "query_param_key", "") or ""


@pytest.mark.parametrize("page", PAGES)
def test_every_concept_control_is_in_the_url(page):
    at = _default(page)
    assert not errors(at), errors(at)
    widgets = _widgets(at)
    assert widgets, "a page with no controls?"
    exempt = UNBOUND.get(page, {})
    unbound = sorted(k for k, (_, w) in widgets.items() if not _bound_key(w) and k not in exempt)
    assert not unbound, f"{page}: controls not bound to the URL (bind='query-params'): {unbound}"


def _other_value(kind: str, w):
    """A legal value other than the current one, as the string a URL carries, or None."""
    if kind in ("selectbox", "radio", "select_slider"):
        opts = [str(o) for o in w.options]
        cur = _shown(kind, w)
        cands = [o for o in opts if o != cur and not _NOT_LINKABLE.search(o)]
        return cands[0] if cands else None
    if kind == "checkbox" or kind == "toggle":
        return "false" if w.value else "true"
    if kind == "slider" and isinstance(w.value, (int, float)) and not isinstance(w.value, bool):
        lo, hi = w.min, w.max
        v = hi if w.value != hi else lo
        return str(int(v)) if isinstance(w.value, int) else repr(float(v))
    return None


def _shown(kind: str, w) -> str:
    if kind in ("selectbox", "radio"):
        return str(w.options[w.index]) if w.index is not None else ""
    if kind == "select_slider":
        return str(w.format_func(w.value))
    if kind in ("checkbox", "toggle"):
        return "true" if w.value else "false"
    if kind == "slider":
        return str(int(w.value)) if isinstance(w.value, int) else repr(float(w.value))
    return str(w.value)


@pytest.mark.parametrize("page", PAGES)
def test_a_link_reopens_the_same_view(page):
    """Up to three bound controls set to non-default values through the URL come back with those values."""
    at = _default(page)
    picks = {}
    for key, (kind, w) in _widgets(at).items():
        if not _bound_key(w) or len(picks) >= 3:
            continue
        v = _other_value(kind, w)
        if v is not None:
            picks[key] = (kind, v)
    if not picks:
        pytest.skip(f"{page}: no bound control with a second legal value")
    linked = _render(page, {k: v for k, (_, v) in picks.items()})
    assert not errors(linked), errors(linked)
    got = _widgets(linked)
    for key, (kind, v) in picks.items():
        assert key in got, f"{page}: {key} vanished when opened from a link"
        assert _shown(kind, got[key][1]) == v, f"{page}: ?{key}={v} reopened as {_shown(kind, got[key][1])!r}"


# ---------------------------------------------------------------- notebook snippets
_HEADER = re.compile(r"^# dlviz notebook snippet \((?P<page>[^)]+)\): recomputes (?P<label>.+?) = (?P<shown>.+)$",
                     re.M)


def _page_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "success", "warning", "text", "subheader", "header", "title"):
        parts += [str(e.value) for e in getattr(at, kind, [])]
    for m in at.metric:
        parts += [str(m.label), str(m.value), str(getattr(m, "delta", "") or "")]
    return "\n".join(parts)


@pytest.mark.parametrize("page", PAGES)
def test_notebook_snippet_reproduces_the_headline(page):
    at = _default(page)
    snippets = [c.value for c in at.code if c.value.startswith("# dlviz notebook snippet")]
    assert len(snippets) == 1, f"{page}: expected one notebook snippet (share.notebook), found {len(snippets)}"
    code = snippets[0]
    head = _HEADER.search(code)
    assert head, f"{page}: snippet header malformed: {code.splitlines()[0]}"
    shown = head["shown"].strip()
    assert shown in _page_text(at), f"{page}: the snippet's number {shown!r} is not what the page shows"
    assert not re.search(r"^\s*(import|from)\s+streamlit", code, re.M), "a notebook snippet never needs streamlit"
    out = io.StringIO()
    ns: dict = {"__name__": "__snippet__"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"<{page} snippet>", "exec"), ns)
    printed = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    assert "result" in ns, f"{page}: the snippet must assign `result`"
    assert printed and shown in printed[-1], f"{page}: the snippet printed {printed[-1:]} , the page shows {shown!r}"


# ---------------------------------------------------------------- link notes (app/Home.py)
def _home(params: dict[str, str], page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=180)
    at.query_params.update(params)
    at.switch_page(str(Path("..") / "pages" / f"{page}.py"))
    at.run()
    return at


def test_a_bad_link_gives_a_note_and_the_defaults():
    at = _home({"attn-model": "a model that was removed", "no-such-control": "1"}, "attention")
    assert not at.exception, [e.value for e in at.exception]
    notes = " ".join(i.value for i in at.info)
    assert "attn-model" in notes and "not a value this control accepts" in notes, notes
    assert "no-such-control" in notes and "not a control on this page" in notes, notes
    model = next(w for w in at.selectbox if w.key == "attn-model")
    assert model.index == 0, "an unusable value falls back to the default"
    assert "no-such-control" not in at.query_params


def test_a_good_link_gives_no_note():
    at = _default("attention")
    model = next(w for w in at.selectbox if w.key == "attn-model")
    other = next(o for o in model.options[1:] if not _NOT_LINKABLE.search(o))
    at2 = _home({"attn-model": other}, "attention")
    assert not at2.exception
    assert not any("This link asked" in i.value for i in at2.info)
    assert next(w for w in at2.selectbox if w.key == "attn-model").value == other


def test_a_link_that_spells_out_defaults_gives_no_note():
    at = _default("attention")
    model = next(w for w in at.selectbox if w.key == "attn-model")
    at2 = _home({"attn-model": str(model.value), "attn-lr": "0.001", "seed": "0"}, "attention")
    assert not at2.exception
    assert not any("This link asked" in i.value for i in at2.info), [i.value for i in at2.info]
    at3 = _home({"attn-model": "no such model", "attn-lr": "0.001"}, "attention")   # a refused value still is
    notes = [i.value for i in at3.info if "This link asked" in i.value]
    assert notes and "attn-model" in notes[0] and "attn-lr" not in notes[0]



def test_session_settings_persist_across_page_changes():
    """The Session sidebar (device, threads, seed) lives in the entry point, so a value set on one page is the value
    on the next; the seed is bound to the URL as well."""
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=180)
    at.run()
    at.number_input(key="seed").set_value(7).run()
    at.slider(key="dlviz_threads").set_value(1).run()
    for page in ("curse_of_dimensionality", "attention"):
        at.switch_page(str(Path("..") / "pages" / f"{page}.py"))
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.number_input(key="seed").value == 7, page
        assert at.slider(key="dlviz_threads").value == 1, page
        assert at.selectbox(key="dlviz_device").value == "cpu", page

# ---------------------------------------------------------------- CSV helpers
def test_rows_to_csv_round_trips():
    import share

    rows = [{"model": "vanilla", "modes": 5.8, "n": np.int64(5)}, {"model": "pac2", "modes": 23.6, "extra": "x"}]
    back = list(csv.DictReader(io.StringIO(share.rows_to_csv(rows))))
    assert [r["model"] for r in back] == ["vanilla", "pac2"]
    assert float(back[0]["modes"]) == 5.8 and back[0]["n"] == "5" and back[1]["extra"] == "x"
    cols = list(csv.DictReader(io.StringIO(share.rows_to_csv({"step": [1, 2, 3], "loss": [0.5, 0.25, 0.125]}))))
    assert [float(r["loss"]) for r in cols] == [0.5, 0.25, 0.125]


def test_figure_csv_has_every_plotted_point():
    import plotly.graph_objects as go
    import share

    z = np.arange(6.0).reshape(2, 3)
    fig = go.Figure([go.Scatter(x=[0, 1, 2], y=[3.0, 4.0, 5.0], name="train"), go.Heatmap(z=z, name="map")])
    rows = list(csv.DictReader(io.StringIO(share.figure_csv(fig))))
    line = [r for r in rows if r["trace"] == "train"]
    assert [float(r["y"]) for r in line] == [3.0, 4.0, 5.0]
    cells = [r for r in rows if r["trace"] == "map"]
    assert len(cells) == 6
    assert {(int(r["x"]), int(r["y"])): float(r["z"]) for r in cells}[(2, 1)] == z[1, 2]


# ---------------------------------------------------------------- exports exist on every page
def _download_kinds(at: AppTest) -> set[str]:
    """The kinds of ``app/share.py`` downloads on the page, read off their keys (``<key>-csv`` ...)."""
    kinds = set()
    for d in at.get("download_button"):
        for suffix in ("csv", "figcsv", "png", "gif", "snippet"):
            if d.proto.id.endswith(f"-{suffix}"):
                kinds.add("csv" if suffix == "figcsv" else suffix)
    return kinds


# Pages with a time axis (a trajectory, an interpolation, a replay, training snapshots): they export GIFs.
TIME_AXIS = {"ddpm", "vae", "gans", "seq2seq", "attention", "rnn_hidden_states"}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_exports_its_numbers(page):
    kinds = _download_kinds(_default(page))
    assert "csv" in kinds, f"{page}: no CSV download of its measurements (share.csv_download / figure_csv_download)"
    assert "snippet" in kinds, f"{page}: no notebook snippet download"
    if page in TIME_AXIS:
        assert "gif" in kinds, f"{page}: time is an axis here, but there is no GIF download"
