"""Write the landing page's card images: ``app/thumbnails/<page>.png``, one per page with a ``thumbnail`` in its
PAGE_INFO. The landing page then reads PNGs instead of importing torch and running models (cold start).

    python scripts/thumbnails.py            # all pages
    python scripts/thumbnails.py vae ddpm   # some

``tests/test_ui.py`` checks every file exists and matches a fresh render.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "app"):
    sys.path.insert(0, str(p))


def main(argv: list[str]) -> int:
    import ui
    from dlviz.imaging import png_bytes

    ui.THUMBS_DIR.mkdir(parents=True, exist_ok=True)
    for info in ui.discover_pages():
        if not info.thumbnail or (argv and info.slug not in argv):
            continue
        out = ui.THUMBS_DIR / f"{info.slug}.png"
        out.write_bytes(png_bytes(ui.render_thumbnail(info.thumbnail)))
        print(f"{out.relative_to(ROOT)}  ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
