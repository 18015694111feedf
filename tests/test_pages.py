"""Every page renders headlessly with its default controls and raises nothing.

Pages are discovered from pages/*.py, so a new page is covered the moment it exists. The landing page
(app/Home.py) is rendered too, and must link every page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))


def _errors(at: AppTest) -> list[str]:
    out = [e.value for e in at.exception]
    out += [f"st.error: {e.value}" for e in at.error]
    return out


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_renders(page: Path) -> None:
    at = AppTest.from_file(str(page), default_timeout=60)
    at.run()
    assert not _errors(at), _errors(at)
    assert len(at.title) >= 1, "every page starts with its title"
    assert at.markdown or at.caption, "every page explains itself"


def test_home_lists_every_page() -> None:
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=60)
    at.run()
    assert not _errors(at), _errors(at)
    import ui

    infos = ui.discover_pages()
    assert {p.path.stem for p in infos} == {p.stem for p in PAGES}
    text = " ".join(m.value for m in at.caption)
    for info in infos:
        assert info.question in text, f"landing page has no card for {info.title}"


def test_every_page_declares_page_info() -> None:
    import ui

    for info in ui.discover_pages():
        assert info.section in ui.SECTIONS, f"{info.path.name}: unknown section {info.section!r}"
        assert info.question.endswith("?"), f"{info.path.name}: the card's question should be a question"
        if info.thumbnail:
            arr = ui.thumbnail(info.thumbnail)
            assert arr is not None and arr.ndim == 3 and arr.shape[2] == 3, f"{info.path.name}: bad thumbnail"


def test_readme_lists_every_page():
    import ui

    readme = (ROOT / "README.md").read_text()
    for info in ui.discover_pages():
        assert f"| {info.title} |" in readme, f"README's page table lacks {info.title}: run scripts/readme_pages.py"
