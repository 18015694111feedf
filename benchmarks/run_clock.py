"""Click-to-pixels for any Streamlit control, timed from the app's own protocol.

A :class:`RunClock` listens to one Playwright page's websocket and decodes Streamlit's ``ForwardMsg`` frames:
every script run starts with a ``new_session`` message and ends with ``script_finished``, both carrying the run's
id and, for a fragment run, its fragment ids (``metadata.run``). It also decodes the browser's ``BackMsg``
frames: when the browser *asked* for a rerun, of which fragment, and whether a user input or a ``run_every``
timer asked (``is_auto_rerun``). :meth:`RunClock.latency` sends an input, takes the first rerun request the
browser sent for an input after it, waits for the end of the first run that started after that request and
carries its fragment (or is a full run, for a full request) -- Streamlit may batch a queued periodic fragment
into the same run, which still counts -- then for two animation frames (the browser has painted), and returns
the seconds from the input. So no page needs a hand-picked "figure that changes", and a control inside a
periodic live view is timed too: the benchmark works on every page as it is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

FULL_OK = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_SUCCESSFULLY")
EARLY = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


@dataclass
class Event:
    t: float
    kind: str                      # "start" or "end"
    run_id: str
    fragments: tuple[str, ...]
    status: int = -1


@dataclass
class RunClock:
    page: object
    events: list[Event] = field(default_factory=list)
    sent: list[tuple[float, str]] = field(default_factory=list)     # (time, fragment id or "") of rerun requests
    _fragments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def attach(ws) -> None:
            ws.on("framereceived", self._frame)
            ws.on("framesent", self._sent)
        self.page.on("websocket", attach)

    def _sent(self, payload) -> None:
        if isinstance(payload, str):
            return
        t = time.perf_counter()
        try:
            msg = BackMsg.FromString(payload)
        except Exception:  # noqa: BLE001 - not a BackMsg frame
            return
        if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.is_auto_rerun:   # not a run_every tick
            self.sent.append((t, msg.rerun_script.fragment_id))

    def _frame(self, payload) -> None:
        if isinstance(payload, str):
            return
        t = time.perf_counter()
        try:
            msg = ForwardMsg.FromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg frame
            return
        kind = msg.WhichOneof("type")
        run = msg.metadata.run
        if kind == "new_session":
            frags = tuple(run.fragment_ids)
            self._fragments[run.script_run_id] = frags
            self._started[run.script_run_id] = t
            self.events.append(Event(t, "start", run.script_run_id, frags))
        elif kind == "script_finished":
            frags = self._fragments.get(run.script_run_id, tuple(run.fragment_ids))
            self.events.append(Event(t, "end", run.script_run_id, frags, int(msg.script_finished)))

    def pump(self, seconds: float) -> None:
        """Let Playwright deliver websocket events (they arrive only while the sync API waits)."""
        self.page.wait_for_timeout(seconds * 1000)

    def periodic_fragments(self, seconds: float = 2.5) -> set[str]:
        """Fragment ids that ran on their own over ``seconds`` (the live views of a run)."""
        n0 = len(self.events)
        self.pump(seconds)
        return {f for e in self.events[n0:] for f in e.fragments}

    def wait_for_run(self, since: int, ignore: set[str], timeout: float, full_only: bool = False) -> Event:
        """The first run that ended after event ``since`` and is not one of the ``ignore``d fragments."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            for e in self.events[since:]:
                if e.kind != "end" or e.status == EARLY:
                    continue
                if not e.fragments and (e.status == FULL_OK or not full_only):
                    return e
                if e.fragments and not full_only and not set(e.fragments) <= ignore:
                    return e
            self.pump(0.005)
        raise TimeoutError(f"no script run ended within {timeout:.0f} s")

    def wait_for_answer(self, since: int, sent_since: int, timeout: float) -> Event:
        """The end of the first run that answers the first rerun request sent after ``sent_since``: it started
        after the request and carries the requested fragment (any fragments for none: a full run).

        A fragment run that ends "early for rerun" has usually drawn everything: Streamlit reports the first of
        several queued fragments so when the next one is pending. It is the answer unless a run that redraws the
        same fragment (or the whole page) starts right after it; then that run's end is."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if len(self.sent) > sent_since:
                ts, frag = self.sent[sent_since]
                mine = [e for e in self.events[since:] if self._started.get(e.run_id, -1.0) >= ts - 0.01
                        and (not e.fragments or (frag in e.fragments if frag else False))]
                for i, e in enumerate(mine):
                    if e.kind != "end":
                        continue
                    if e.status != EARLY:
                        return e
                    redo = [x for x in mine[i + 1:] if x.kind == "start" and x.t - e.t < 0.05]
                    if not redo and time.perf_counter() - e.t > 0.05:
                        return e
            self.pump(0.005)
        what = "the browser sent no rerun request" if len(self.sent) <= sent_since else "no answering run ended"
        raise TimeoutError(f"{what} within {timeout:.0f} s")

    def latency(self, act: Callable[[], None], ignore: set[str] = frozenset(), timeout: float = 60.0) -> float:
        """Seconds from ``act()`` (an input) to the end of the run it caused, painted. (``ignore`` is kept for
        callers that name the periodic fragments; the answer is found from the browser's request.)"""
        n0, s0 = len(self.events), len(self.sent)
        t0 = time.perf_counter()
        act()
        self.wait_for_answer(n0, s0, timeout)
        self.page.evaluate(PAINTED)
        return time.perf_counter() - t0

    def goto(self, url: str, timeout: float = 180.0) -> float:
        """Seconds from navigating to ``url`` to its first full script run ended and painted (first paint)."""
        n0 = len(self.events)
        t0 = time.perf_counter()
        self.page.goto(url, wait_until="commit")
        self.wait_for_run(n0, set(), timeout, full_only=True)
        self.page.evaluate(PAINTED)
        return time.perf_counter() - t0
