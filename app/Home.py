"""dlviz -- the entry point: page config, navigation over pages/, the session sidebar, the landing page.

Run with ``streamlit run app/Home.py``.
"""

from __future__ import annotations

import os

# Training runs in background threads beside the script thread; each gets its own OpenMP team. With
# spinning waits, two teams on a 2-core laptop slow each other down ~10x; passive waits avoid that.
# Must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's small matrices: no spinning BLAS threads

import sys
from pathlib import Path

import streamlit as st
from streamlit import config as _st_config

# Also when started from another folder (no .streamlit/config.toml): no full gc.collect after every
# script and fragment run -- it holds the GIL and stalls live training (docs/live-training.md).
if _st_config.get_option("runner.postScriptGC"):
    _st_config.set_option("runner.postScriptGC", False)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # dlviz works even when not pip-installed
    sys.path.insert(0, str(ROOT))
APP = Path(__file__).resolve().parent
if str(APP) not in sys.path:
    sys.path.insert(0, str(APP))

import share
import ui

st.set_page_config(page_title="dlviz: deep learning, measured", page_icon=":material/neurology:", layout="wide")

PAGES = ui.discover_pages()


def landing() -> None:
    st.title(":material/neurology: dlviz")
    st.markdown("##### Deep learning you can measure: live PyTorch, offline, on your laptop.")
    st.markdown(
        "Each page takes one idea from the course, shows it on a real model -- shipped, or trained live from "
        "the sidebar -- and puts a **number** on it that you can try to break. Everything runs offline on "
        "the CPU; bring your own images or text where a page offers it.")
    for section in ui.SECTIONS + sorted({p.section for p in PAGES} - set(ui.SECTIONS)):
        group = [p for p in PAGES if p.section == section]
        if not group:
            continue
        st.subheader(section)
        cols = st.columns(4)
        for i, p in enumerate(group):
            with cols[i % 4].container(border=True, height=330):
                thumb = ui.thumbnail(p.thumbnail, p.slug) if p.thumbnail else None
                if thumb is not None:
                    st.image(thumb, width="stretch")
                st.markdown(f"**{p.title}**")
                st.caption(p.question)
                st.page_link(str(p.path), label="Open", icon=":material/arrow_forward:")


pages = {"": [st.Page(landing, title="Home", icon=":material/home:", default=True)]}
for p in PAGES:
    pages.setdefault(p.section, []).append(st.Page(str(p.path), title=p.title, icon=p.icon, url_path=p.slug))
nav = st.navigation(pages, expanded=True)
ui.session_sidebar()
_, link_col = st.columns([3, 1])           # top right of every page, above its title
share.link_panel(link_col)
# A link's parameters the page cannot use (hand-edited, a model no longer shipped) are noted at the top of the
# page, never an exception: the controls fall back to their defaults (app/share.py).
page_id = nav.url_path or "home"
share.snapshot_link(page_id)
link_notes = st.container()
try:
    nav.run()
finally:
    share.show_link_notes(share.check_link(page_id, st.session_state.keys()), link_notes)
