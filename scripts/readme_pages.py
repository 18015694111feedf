"""Rewrite the page table in README.md (between the pages markers) from every page's PAGE_INFO."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "app"))


def table() -> str:
    import ui

    lines = ["| Section | Page | The question it answers |", "|---|---|---|"]
    for p in ui.discover_pages():
        lines.append(f"| {p.section} | {p.title} | {p.question} |")
    return "\n".join(lines)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = re.sub(r"(<!-- pages:start -->\n).*?(\n<!-- pages:end -->)", lambda m: m.group(1) + table() + m.group(2),
                 text, flags=re.DOTALL)
    readme.write_text(new)
    print("README page table:", "updated" if new != text else "already current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
