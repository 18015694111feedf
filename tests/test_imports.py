"""dlviz is a library: importing it, or any of its modules, never imports streamlit (or the heavy
optional packages, which the pages that need them import lazily)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import dlviz

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(dlviz.__path__, "dlviz."))


def test_no_dlviz_module_imports_streamlit():
    code = (
        "import importlib, sys\n"
        f"mods = {_modules()!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "bad = [m for m in ('streamlit',) if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"streamlit was imported by dlviz: {out.stdout}"


def test_import_dlviz_is_light():
    code = "import sys, dlviz, dlviz.data, dlviz.train; print(','.join(m for m in ('streamlit', 'umap', 'captum', 'numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_no_source_file_mentions_streamlit_imports():
    for path in (ROOT / "dlviz").rglob("*.py"):
        for line in path.read_text().splitlines():
            s = line.strip()
            assert not (s.startswith("import streamlit") or s.startswith("from streamlit")), path
