"""Python's own standard library as a character corpus (read from the running interpreter).

Quotes, brackets and indentation give recurrent units something to track (Karpathy, Johnson &
Fei-Fei, 2015, "Visualizing and Understanding Recurrent Networks"). The files are read in sorted
order, so the corpus is the same for the same Python version and size.
"""

from __future__ import annotations

import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from dlviz.data.core import DataError

# Modules chosen for clean, ordinary Python (no huge tables of data).
_PREFERRED = ["textwrap.py", "string.py", "shlex.py", "fnmatch.py", "bisect.py", "heapq.py",
              "functools.py", "contextlib.py", "dataclasses.py", "enum.py", "copy.py", "abc.py",
              "keyword.py", "operator.py", "random.py", "statistics.py", "fractions.py", "glob.py",
              "posixpath.py", "shutil.py", "tempfile.py", "argparse.py", "csv.py", "difflib.py",
              "pprint.py", "reprlib.py", "calendar.py", "configparser.py", "inspect.py", "ast.py"]


@lru_cache(maxsize=4)
def _stdlib_text() -> str:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [root / f for f in _PREFERRED if (root / f).is_file()]
    if len(files) < 5:  # an unusual interpreter layout: fall back to whatever is there
        files = sorted(p for p in root.glob("*.py") if p.stat().st_size < 200_000)
    if not files:
        raise DataError(f"No Python sources found under {root}; cannot build the code corpus.")
    parts = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text.expandtabs(4))
    return "\n".join(parts)


def code_text(size: int = 200_000, ascii_only: bool = True) -> str:
    """The first ``size`` characters of the standard-library corpus (``ascii_only`` drops the rest)."""
    text = _stdlib_text()
    if ascii_only:
        text = "".join(ch for ch in text if ch == "\n" or 32 <= ord(ch) < 127)
    if size <= 0:
        raise DataError("size must be positive")
    return text[:size]


@dataclass
class CharVocab:
    """A character vocabulary: ``encode`` maps text to ``(T,)`` int64 ids; unknown chars map to id 0."""

    chars: list[str]

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(["\x00"] + sorted(set(text) - {"\x00"}))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.chars)}
        return torch.tensor([index.get(c, 0) for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] if 0 <= int(i) < len(self.chars) else "?" for i in ids)
