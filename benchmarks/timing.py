"""The one timing helper every benchmark module uses: best of a few wall-clock runs.

The best (not the mean) is reported because noise on a shared laptop only ever adds time.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int = 3, warmup: bool = False) -> float:
    """Smallest wall time of ``repeat`` calls of ``fn``, in seconds (one untimed call first if ``warmup``)."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
