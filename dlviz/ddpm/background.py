"""Long sampling off the script thread: a :class:`Job` runs ``fn(progress)`` in a daemon thread, counts its steps,
estimates what is left from the speed so far, and gives up on its own when it is cancelled or nobody has asked
about it for a while (the page that wanted it was closed or moved on). No streamlit here: a page polls
:attr:`Job.done` and :meth:`Job.status_text` from a fragment.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
import weakref
from collections.abc import Callable

_LIVE: weakref.WeakSet = weakref.WeakSet()       # jobs whose thread may still run


@atexit.register
def _stop_all(timeout: float = 5.0) -> None:
    """At interpreter exit, stop every job at its next step (a thread inside torch at shutdown aborts Python)."""
    jobs = list(_LIVE)
    for job in jobs:
        job.cancel()
    for job in jobs:
        job.wait(timeout)


class Cancelled(Exception):
    """Raised inside a job's work by its progress hook when the job was cancelled or abandoned."""


class Job:
    """``fn(progress)`` in a background thread; ``progress(done, total)`` is called by the work as it goes.

    ``abandon_after`` seconds without a :meth:`touch` (a poll from the page) cancel the job at its next step,
    so a closed tab does not keep the CPU busy."""

    def __init__(self, fn: Callable[[Callable[[int, int], None]], object], label: str = "",
                 abandon_after: float = 20.0, start: bool = True) -> None:
        self.fn, self.label, self.abandon_after = fn, label, abandon_after
        self.result: object = None
        self.error: str | None = None
        self.done_steps, self.total_steps = 0, 0
        self.started = self.finished_at = None
        self._seen = time.monotonic()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"dlviz-job-{label}", daemon=True)
        if start:
            self.start()

    def start(self) -> Job:
        if not self._thread.is_alive() and not self._done.is_set():
            self.started = time.perf_counter()
            _LIVE.add(self)
            self._thread.start()
        return self

    def run_here(self) -> Job:
        """Run in the calling thread (short work: no thread, no polling)."""
        self.started = time.perf_counter()
        self._run()
        return self

    def _progress(self, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled")
        if time.monotonic() - self._seen > self.abandon_after:
            self._cancel.set()
            raise Cancelled(f"nobody asked for it for {self.abandon_after:.0f} s")
        self.done_steps, self.total_steps = int(done), int(total)

    def _run(self) -> None:
        try:
            self.result = self.fn(self._progress)
            self.done_steps = self.total_steps
        except Cancelled as e:
            self.error = f"cancelled ({e})"
        except Exception as e:  # noqa: BLE001 - reported to the page, never raised into it
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.finished_at = time.perf_counter()
            self._done.set()

    # ---------------------------------------------------------------- what a page reads
    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def ok(self) -> bool:
        return self.done and self.error is None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def touch(self) -> None:
        """Someone still wants the result (resets the abandon clock)."""
        self._seen = time.monotonic()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished_at or time.perf_counter()) - self.started

    @property
    def fraction(self) -> float:
        return self.done_steps / self.total_steps if self.total_steps else 0.0

    def eta(self) -> float:
        """Seconds left at the speed measured so far (nan before the first step)."""
        if not self.done_steps or not self.total_steps:
            return math.nan
        return self.elapsed / self.done_steps * (self.total_steps - self.done_steps)

    def status_text(self) -> str:
        if self.done:
            return f"{self.label}: {'done' if self.ok else self.error} after {self.elapsed:.0f} s"
        if not self.total_steps:
            return f"{self.label}: starting"
        left = self.eta()
        eta = f"about {left:.0f} s left at the speed so far" if math.isfinite(left) else "measuring the speed"
        return (f"{self.label}: step {self.done_steps:,} of {self.total_steps:,} · {self.elapsed:.0f} s so far · "
                f"{eta}")


def estimate_seconds(step_seconds: float, steps: int) -> float:
    """An estimate of a run of ``steps`` sampler steps from a measured time per step (nan when unmeasured)."""
    return float(step_seconds) * int(steps) if math.isfinite(step_seconds) and step_seconds > 0 else math.nan


def fetch(done: dict, jobs: dict, slot: str, args: tuple, work, label: str, cost: int, inline_budget: int,
          keep: int = 32) -> tuple[object | None, Job | None]:
    """``work(progress)``'s result for ``args``, computed once: ``(result, None)`` from ``done`` (a cache shared
    by everyone asking, bounded to ``keep`` entries) or computed here when ``cost <= inline_budget``; else
    ``(None, job)`` with the background job for ``slot`` in ``jobs`` (one per slot: a job for other arguments is
    cancelled). A failed job is returned done, with its ``error``, and forgotten (the next call retries)."""
    if args in done:
        return done[args], None
    job = jobs.get(slot)
    if job is not None and job.args != args:
        job.cancel()
        job = None
    if job is None:
        job = Job(work, label, start=cost > inline_budget)
        job.args = args
        jobs[slot] = job
        if cost <= inline_budget:
            job.run_here()
    job.touch()
    if not job.done:
        return None, job
    jobs.pop(slot, None)
    if not job.ok:
        return None, job
    done[args] = job.result
    while len(done) > keep:
        done.pop(next(iter(done)), None)
    return job.result, None
