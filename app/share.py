"""Share, keep and export what a student found (issue 17): links, downloads, notebook snippets.

- **Links.** A page's concept controls are Streamlit widgets with ``bind="query-params"`` (their ``key`` is the
  URL parameter), so the address bar always holds the view. :func:`link_panel` shows that address with a copy
  button; :func:`check_link` (run by ``app/Home.py`` around every page) notes parameters a page could not use
  -- a hand-edited value, a model that is no longer shipped -- instead of failing silently.
- **Downloads.** Figures already export PNG from their camera icon (``ui.show``). Here: CSV of a table or of a
  figure's traces, PNG of an image, GIF of a sequence. Every file is built by a callable only when its button is
  clicked (``st.download_button(data=callable)``), so a download never reruns the page's heavy work.
- **Notebook snippets.** :func:`notebook` shows the few lines of plain Python (dlviz, no streamlit) that
  recompute a page's headline number; ``tests/test_notebook_snippets.py`` runs every page's snippet and checks it
  prints the number the page shows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import streamlit as st

# URL parameters that are not widget values: Streamlit's own, and the live-run ids (``ui.training_panel``).
_NOT_WIDGETS = re.compile(r"^(embed|embed_options|run-.+)$")
_SNAPSHOT = "dlviz-url-snapshot"
_NOTES = "dlviz-url-notes"
SNIPPET_MARK = "# dlviz notebook snippet"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "dlviz"


# ---------------------------------------------------------------- links
_COPY_LINK = """
<div class="dlviz-copy-link" style="text-align:right">
<button type="button" id="dlviz-copy-link-btn" title="Copy the address of this view: every control bound to the URL"
 style="white-space:nowrap;padding:0.3rem 0.7rem;font-size:0.85rem;border:1px solid rgba(49,51,63,0.25);border-radius:0.5rem;
 background:transparent;color:inherit;font-family:inherit;cursor:pointer"><span>Copy link to this view</span></button>
<input id="dlviz-copy-link-url" readonly aria-label="Link to this view"
 style="display:none;width:100%;margin-top:0.3rem;font-size:0.75rem;padding:0.2rem;border-radius:0.3rem;
 border:1px solid rgba(49,51,63,0.25);background:transparent;color:inherit">
</div>
<script>
(function () {
  const btn = document.getElementById("dlviz-copy-link-btn");
  const box = document.getElementById("dlviz-copy-link-url");
  if (!btn || btn.dataset.bound) return;
  btn.dataset.bound = "1";
  btn.addEventListener("click", async function () {
    const url = window.location.href;
    box.value = url; box.style.display = "block"; box.select();
    let ok = false;
    try { if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(url); ok = true; } }
    catch (e) { ok = false; }
    if (!ok) { try { ok = document.execCommand("copy"); } catch (e) { ok = false; } }
    const label = btn.querySelector("span");
    label.textContent = ok ? "Link copied" : "Select the link below and copy it";
    setTimeout(function () { label.textContent = "Copy link to this view"; }, 2500);
  });
})();
</script>
"""


def link_panel(container=None) -> None:
    """"Copy link to this view": copies the browser's address, which holds every control bound to the URL
    (``bind="query-params"``), and shows it for copying by hand where the clipboard is not allowed (plain http).
    A run in progress is not in the link (its id is, so a reload of this tab reattaches to it)."""
    (container or st.sidebar).html(_COPY_LINK, unsafe_allow_javascript=True)


def snapshot_link(page_id: str) -> None:
    """Before a page runs: on the first run of a page view, remember the URL parameters it was opened with."""
    last = st.session_state.get(_SNAPSHOT)
    if last is not None and last[0] == page_id:
        return
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    st.session_state[_SNAPSHOT] = (page_id, params, False)


def check_link(page_id: str, known_keys: Iterable[str]) -> list[str]:
    """After the page ran once: the parameters of the opening URL that the page did not use.

    Streamlit drops a bound widget's parameter when its value is invalid (not an option, out of range, unparsable);
    a copied link never holds a default (defaults are kept out of the URL), so a dropped parameter is one the page
    could not use. A parameter no widget claims is unknown: it is removed from the address. Returns the notes.
    """
    snap = st.session_state.get(_SNAPSHOT)
    if snap is None or snap[0] != page_id or snap[2]:
        return st.session_state.get(_NOTES, [])
    _, params, _ = snap
    known = set(known_keys)
    notes = []
    for k, values in params.items():
        if _NOT_WIDGETS.match(k):
            continue
        shown = ", ".join(values)[:60]
        if k not in known:
            notes.append(f"`{k}` is not a control on this page")
            if k in st.query_params:
                del st.query_params[k]
        elif k not in st.query_params and not _is_value(st.session_state.get(k), values):
            notes.append(f"`{k}={shown}` is not a value this control accepts")
    st.session_state[_SNAPSHOT] = (page_id, params, True)
    st.session_state[_NOTES] = notes
    return notes


def _is_value(value, asked: list[str]) -> bool:
    """The control holds what the link asked for (a hand-made link may spell out a default, which Streamlit then
    drops from the address: that is not a value the page refused)."""
    if value is None:
        return False
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) != len(asked):
        return False
    for v, a in zip(values, asked, strict=True):
        if isinstance(v, bool):
            if a.strip().lower() != str(v).lower():
                return False
        elif isinstance(v, (int, float)):
            try:
                if float(a) != float(v):
                    return False
            except ValueError:
                return False
        elif str(v) != a:
            return False
    return True


def show_link_notes(notes: Sequence[str], container) -> None:
    if notes:
        container.info("This link asked for something the page cannot show now, so those controls are at their "
                       "defaults: " + "; ".join(notes) + ".", icon=":material/link_off:")


# ---------------------------------------------------------------- downloads
def rows_to_csv(rows: Sequence[Mapping[str, object]] | Mapping[str, Sequence[object]]) -> str:
    """CSV text of a list of dicts (one per row) or a dict of equal-length columns."""
    if isinstance(rows, Mapping):
        cols = list(rows)
        n = max((len(rows[c]) for c in cols), default=0)
        rows = [{c: (rows[c][i] if i < len(rows[c]) else "") for c in cols} for i in range(n)]
    rows = list(rows)
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(v) for k, v in r.items()})
    return buf.getvalue()


def _cell(v):
    if isinstance(v, (np.floating, float)):
        return repr(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v


def figure_csv(fig) -> str:
    """The numbers behind a plotly figure, long-form: one row per point (trace, x, y[, z]); heatmaps one row per
    cell. What a student needs to redo the plot elsewhere."""
    rows = []
    for i, tr in enumerate(fig.data):
        name = tr.name if getattr(tr, "name", None) else f"trace {i}"
        x, y, z = (getattr(tr, a, None) for a in ("x", "y", "z"))
        if z is not None and np.ndim(z) == 2:          # heatmap / surface
            z = np.asarray(z, dtype=float)
            xs = np.arange(z.shape[1]) if x is None else np.asarray(x)
            ys = np.arange(z.shape[0]) if y is None else np.asarray(y)
            for r in range(z.shape[0]):
                for c in range(z.shape[1]):
                    rows.append({"trace": name, "x": xs[c], "y": ys[r], "z": z[r, c]})
            continue
        if x is None and y is None:
            continue
        n = len(y) if y is not None else len(x)
        xs = list(range(n)) if x is None else list(x)
        ys = [None] * n if y is None else list(y)
        zs = None if z is None else list(z)
        for j in range(n):
            row = {"trace": name, "x": xs[j] if j < len(xs) else None, "y": ys[j]}
            if zs is not None:
                row["z"] = zs[j]
            rows.append(row)
    return rows_to_csv(rows)


def _button(where, label: str, data: Callable[[], bytes | str], file_name: str, mime: str, key: str,
            help: str | None = None) -> None:
    where.download_button(label, data, file_name=file_name, mime=mime, key=key, on_click="ignore",
                          icon=":material/download:", help=help)


def csv_download(label: str, rows: Callable[[], object], name: str, key: str, container=None) -> None:
    """A CSV download of a measurement table; ``rows()`` (list of dicts or dict of columns) runs only on click."""
    _button(container or st, label, lambda: rows_to_csv(rows()), f"dlviz-{_safe_name(name)}.csv", "text/csv",
            key=f"{key}-csv")


def figure_csv_download(fig, name: str, key: str, container=None, label: str = "Data (CSV)") -> None:
    """A CSV download of the numbers plotted in ``fig``, or in the figure ``fig()`` returns (built on click)."""
    _button(container or st, label, lambda: figure_csv(fig() if callable(fig) else fig),
            f"dlviz-{_safe_name(name)}.csv", "text/csv", key=f"{key}-figcsv",
            help="One row per plotted point (trace, x, y); heatmaps one row per cell.")


def image_download(image: Callable[[], np.ndarray], name: str, key: str, container=None,
                   label: str = "Image (PNG)") -> None:
    """A PNG download of an image: uint8 pixels ``(H, W[, 3])``, or floats in [0, 1] laid out ``(H, W[, 3])``;
    built on click."""
    from dlviz.imaging import png_bytes, quantize

    def build() -> bytes:
        a = np.asarray(image())
        return png_bytes(a if a.dtype == np.uint8 else quantize(a), scale=max(1, 256 // max(a.shape[:2])))

    _button(container or st, label, build, f"dlviz-{_safe_name(name)}.png", "image/png",
            key=f"{key}-png")


def gif_download(frames: Callable[[], object], name: str, key: str, container=None,
                 label: str = "Animation (GIF)", scale: int = 1, frame_ms: int = 120, hold_last_ms: int = 0) -> None:
    """A GIF download of a sequence of frames -- uint8 ``(H, W, 3)`` frames or images ``(T, C, H, W)`` in [0, 1]
    (a trajectory, an interpolation, a replay); built on click."""
    from dlviz.imaging import gif_bytes

    _button(container or st, label, lambda: gif_bytes(frames(), scale=scale, frame_ms=frame_ms, hold_last_ms=hold_last_ms),
            f"dlviz-{_safe_name(name)}.gif",
            "image/gif", key=f"{key}-gif")


# ---------------------------------------------------------------- notebook snippets
def snippet(page: str, label: str, shown: str, body: str) -> str:
    """The full text of a notebook snippet: a header naming the number it recomputes, then ``body``, which must
    assign ``result`` and print it formatted exactly as the page shows it."""
    return f"{SNIPPET_MARK} ({page}): recomputes {label} = {shown}\n" + body.strip() + "\n"


def notebook(page: str, label: str, shown: str, body: str, key: str, container=None) -> None:
    """"Reproduce in a notebook": the lines of plain Python that recompute the page's headline number
    (``label`` = ``shown``, as the page prints it), shown with a copy button and downloadable as a ``.py``."""
    code = snippet(page, label, shown, body)
    where = container or st
    with where.expander("Reproduce in a notebook", icon=":material/code:"):
        st.caption(f"Plain Python with dlviz (no streamlit): these lines recompute **{label} = {shown}** as "
                   "shown above. Paste them into a notebook or run the file.")
        st.code(code, language="python")
        _button(st, "Download (.py)", lambda: code, f"dlviz-{_safe_name(page)}.py", "text/x-python",
                key=f"{key}-snippet")
