"""The server-wide run registry: many students, one server (issue 16, "Live means live").

Every Train click becomes a :class:`Job` (one or several :class:`dlviz.train.Trainer` side by side) in
one process-wide :class:`Registry`, under a short id that the app puts in the page URL, so a reloaded
page finds its run again. The registry

* runs at most ``limit`` jobs at once and queues the rest first-come first-served, with a position and
  an estimated wait; Stop (or a finished run) frees the slot at once and the next job starts;
* splits the CPU: each running job's trainers use ``cores // limit`` intra-op threads, so concurrent runs
  do not oversubscribe the cores (torch's OpenMP thread count is per thread);
* stops a job whose owner is gone -- no heartbeat (and, in the app, no connected browser session) for
  ``grace_s`` seconds -- so a closed tab does not burn a core for the rest of the run.

The limit comes from ``DLVIZ_MAX_RUNS`` (default ``max(2, cores // 2)``: two runs of one thread each on a
2-core laptop, eight of two threads on 16 cores), the grace
period from ``DLVIZ_RUN_GRACE_S`` (default 120 s). A TA serving a class sets them per server; see
docs/live-training.md for measured capacities. No streamlit here: the app passes a session probe.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

QUEUED, RUNNING, DONE = "queued", "running", "done"


def default_limit() -> int:
    env = os.environ.get("DLVIZ_MAX_RUNS", "").strip()
    if env:
        return max(1, int(env))
    return max(2, (os.cpu_count() or 1) // 2)


def default_grace() -> float:
    env = os.environ.get("DLVIZ_RUN_GRACE_S", "").strip()
    return float(env) if env else 120.0


@dataclass(eq=False)
class Job:
    """The trainers one Train click started, as the registry tracks them."""

    id: str
    trainers: dict
    owner: str = ""
    key: str = ""
    extras: dict = field(default_factory=dict)       # page state to restore on reattach
    card: dict = field(default_factory=dict)         # what the run trains on (data, task, config): its card
    state: str = QUEUED
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    last_seen: float = field(default_factory=time.monotonic)
    stop_reason: str = ""
    registry: Registry | None = field(default=None, repr=False)

    @property
    def trainer(self):
        return next(iter(self.trainers.values()))

    @property
    def active(self) -> bool:
        """Queued, or a trainer still running/paused."""
        if self.state == QUEUED:
            return True
        return any(t.status in ("running", "paused") for t in self.trainers.values())

    @property
    def queued(self) -> bool:
        return self.state == QUEUED

    def heartbeat(self) -> None:
        self.last_seen = time.monotonic()

    def remaining_s(self) -> float:
        """Estimated seconds until this job ends (inf when unknown)."""
        if self.state == DONE:
            return 0.0
        etas = []
        for t in self.trainers.values():
            p = t.progress()
            etas.append(p.eta_s if p.steps_per_s > 0 else math.inf)
        return max(etas) if etas else 0.0

    def stop(self) -> None:
        """Stop at once (a queued job never starts); the registry hands the slot to the next job."""
        (self.registry or registry()).stop(self)


class Registry:
    """Process-wide jobs: run limit, FIFO queue, thread split, reaping of orphaned jobs."""

    def __init__(self, limit: int | None = None, grace_s: float | None = None, cores: int | None = None,
                 keep_done_s: float = 3600.0, reap_every: float = 1.0) -> None:
        self.limit = limit or default_limit()
        self.grace_s = default_grace() if grace_s is None else grace_s
        self.cores = cores or os.cpu_count() or 1
        self.keep_done_s = keep_done_s
        self.session_alive: Callable[[str], bool] | None = None   # the app's "is this browser session connected"
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self._reap_every = reap_every
        self._reaper: threading.Thread | None = None

    # ---------------------------------------------------------------- public
    def submit(self, trainers: dict, owner: str = "", key: str = "", extras: dict | None = None) -> Job:
        """Register a new job; it starts now if a slot is free, else it waits in the queue."""
        with self._lock:
            job = Job(secrets.token_hex(4), dict(trainers), owner=owner, key=key, extras=dict(extras or {}),
                      registry=self)
            self._jobs[job.id] = job
            self._pump()
        self._ensure_reaper()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def claim(self, job: Job, owner: str) -> None:
        """A new browser session (a reload) takes over ``job``."""
        job.owner = owner
        job.heartbeat()

    def stop(self, job: Job, reason: str = "") -> None:
        with self._lock:
            was = job.state
            job.state, job.stop_reason = DONE, reason
            for t in job.trainers.values():
                if was == QUEUED:
                    t.status = "stopped"
                    t.message = reason or "Stopped before it started (it was waiting for a free slot)."
                else:
                    t.stop(wait=False, reason=reason)
            self._pump()

    def running(self) -> list[Job]:
        with self._lock:
            self._refresh()
            return [j for j in self._jobs.values() if j.state == RUNNING]

    def queue(self) -> list[Job]:
        with self._lock:
            self._refresh()
            return sorted((j for j in self._jobs.values() if j.state == QUEUED), key=lambda j: j.submitted)

    def position(self, job: Job) -> int:
        """1-based place in the queue (0 when not queued)."""
        q = self.queue()
        return q.index(job) + 1 if job in q else 0

    def wait_estimate(self, job: Job) -> float:
        """Seconds until ``job`` gets a slot: slots free as running jobs end (their ETAs); each job ahead in
        the queue then holds a slot for as long as its own budget needs at the rate of the jobs now running
        (inf when no rate is known yet)."""
        pos = self.position(job)
        if pos == 0:
            return 0.0
        free_at = sorted(j.remaining_s() for j in self.running())
        free_at += [0.0] * max(0, self.limit - len(free_at))
        ahead = self.queue()[:pos - 1]
        for j in ahead:                              # each takes the earliest free slot
            free_at.sort()
            free_at[0] += self._duration(j)
        free_at.sort()
        return free_at[0]

    def threads_per_job(self) -> int:
        return max(1, self.cores // self.limit)

    def reap(self, now: float | None = None) -> list[Job]:
        """Stop jobs whose owner is gone for longer than the grace period; forget long-finished ones."""
        now = time.monotonic() if now is None else now
        stopped = []
        with self._lock:
            self._refresh()
            for job in list(self._jobs.values()):
                if job.state != DONE and self.session_alive is not None and job.owner:
                    try:
                        if self.session_alive(job.owner):
                            job.last_seen = now
                    except Exception:  # noqa: BLE001 - a probe failure must not kill the reaper
                        pass
                if job.state != DONE and now - job.last_seen > self.grace_s:
                    self.stop(job, f"Stopped: the browser session that started it was gone for more than "
                                   f"{self.grace_s:g} s.")
                    stopped.append(job)
                elif job.state == DONE and now - job.last_seen > self.keep_done_s:
                    del self._jobs[job.id]
        return stopped

    # ---------------------------------------------------------------- internals
    def _duration(self, job: Job) -> float:
        rates = [t.progress().steps_per_s for j in self.running() for t in j.trainers.values()]
        rates = [r for r in rates if r > 0]
        if not rates:
            return math.inf
        return max(t.total - t.step for t in job.trainers.values()) / (sum(rates) / len(rates))

    def _refresh(self) -> None:
        """Mark running jobs whose trainers all ended as done, then start queued jobs in free slots."""
        for j in self._jobs.values():
            if j.state == RUNNING and not any(t.alive or t.status in ("running", "paused")
                                              for t in j.trainers.values()):
                j.state = DONE
        self._pump(refresh=False)

    def _pump(self, refresh: bool = True) -> None:
        if refresh:
            self._refresh()
            return
        n_running = sum(j.state == RUNNING for j in self._jobs.values())
        for j in sorted((j for j in self._jobs.values() if j.state == QUEUED), key=lambda j: j.submitted):
            if n_running >= self.limit:
                break
            j.state, j.started = RUNNING, time.monotonic()
            for t in j.trainers.values():
                if getattr(t, "threads", None) is None:
                    t.threads = self.threads_per_job()
                t.start()
            n_running += 1

    def _ensure_reaper(self) -> None:
        with self._lock:                 # the loop clears _reaper under the same lock before it exits
            if self._reaper is not None:
                return
            self._reaper = threading.Thread(target=self._reap_loop, name="dlviz-run-reaper", daemon=True)
            self._reaper.start()

    def _reap_loop(self) -> None:
        while True:
            time.sleep(self._reap_every)
            self.reap()
            with self._lock:
                if not any(j.state != DONE for j in self._jobs.values()):
                    self._reaper = None
                    return


_REGISTRY: Registry | None = None
_REGISTRY_LOCK = threading.Lock()


def registry() -> Registry:
    """The process-wide registry (created on first use from the environment)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = Registry()
        return _REGISTRY


def set_registry(reg: Registry) -> Registry:
    """Replace the process-wide registry (tests; a server that configures its limit at start-up)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        _REGISTRY = reg
    return reg


def describe_wait(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown yet"
    return f"about {seconds:.0f} s" if seconds < 90 else f"about {seconds / 60:.1f} min"


__all__ = ["Job", "Registry", "registry", "set_registry", "default_limit", "default_grace", "describe_wait"]
