"""The one training engine: every page, the CLI and the benchmarks train through :class:`Trainer`.

A Trainer runs steps over an endless batch stream, in the caller's thread (:meth:`Trainer.run`) or in a
background thread (:meth:`Trainer.start`) that a page polls. It records metrics (loss, throughput, any
scalars the step returns), periodic evaluations and snapshots; it can be paused, resumed and stopped
at any step; it detects divergence -- a non-finite loss, or an *explosion*: the smoothed loss far above its
early level, or stuck far above its best for a long window -- stops, and restores the last good weights
(kept only while the loss looked healthy); and it never writes a half-finished checkpoint (files are
written to a temporary name, then renamed).

Live runs (the app) set ``live_budget``: periodic snapshots/evaluations that would push their share of
the training time above it (counting what the last one cost) are skipped, so a costly snapshot (a DDPM sample) adapts its interval to its
cost. ``timing`` holds the seconds spent in steps and in periodic work; ``threads`` (optional) sets the
intra-op thread count of the training thread only (OpenMP thread counts are per thread).

Each browser session owns its Trainer (and its own copy of the model), so many runs can go at once.

    trainer = Trainer(model, loss_fn=lambda m, b: F.cross_entropy(m(b[0]), b[1]),
                      optimizer=torch.optim.Adam(model.parameters(), 1e-3),
                      batches=batches(x, y, batch_size=64), steps=500)
    trainer.start(); ...; trainer.stop()

CLI: ``python -m dlviz.train NAME`` reproduces the shipped checkpoint ``NAME`` (``--list`` lists them).
"""

from __future__ import annotations

import copy
import math
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

LossFn = Callable[[nn.Module, Any], "torch.Tensor | tuple[torch.Tensor, dict[str, float]]"]
StepFn = Callable[[Any], dict[str, float]]

TERMINAL = ("stopped", "finished", "diverged", "failed")

OPTIMIZERS = {
    "Adam": lambda params, lr, wd: torch.optim.Adam(params, lr=lr, weight_decay=wd),
    "AdamW": lambda params, lr, wd: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
    "SGD": lambda params, lr, wd: torch.optim.SGD(params, lr=lr, weight_decay=wd),
    "SGD + momentum": lambda params, lr, wd: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd),
    "RMSprop": lambda params, lr, wd: torch.optim.RMSprop(params, lr=lr, weight_decay=wd),
}


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """An optimiser by its display name (see ``OPTIMIZERS``)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr, weight_decay)


@dataclass
class Progress:
    """A consistent view of a run, cheap to read from another thread."""

    step: int
    total: int
    status: str            # idle | running | paused | stopped | finished | diverged | failed
    steps_per_s: float
    eta_s: float
    elapsed_s: float
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0

    @property
    def active(self) -> bool:
        return self.status in ("running", "paused")


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    return batch


class Trainer:
    """Runs ``steps`` optimisation steps of ``model`` over ``batches``.

    Give either ``loss_fn(model, batch) -> loss`` (or ``(loss, {name: scalar})``) together with an
    ``optimizer`` -- the Trainer does zero_grad / backward / clip / step -- or a custom
    ``step_fn(batch) -> {"loss": ..., ...}`` that does its own update (GANs, several optimisers).

    ``eval_fn(model) -> {name: scalar}`` runs every ``eval_every`` steps and at the end, in eval mode
    and without gradients; ``snapshot_fn(model, step) -> Any`` runs every ``snapshot_every`` steps
    (e.g. learned filters or samples a page wants to animate). Both are recorded with their step.
    """

    def __init__(self, model: nn.Module, *, batches: Iterable, steps: int,
                 loss_fn: LossFn | None = None, optimizer: torch.optim.Optimizer | None = None,
                 step_fn: StepFn | None = None, scheduler: Any = None, grad_clip: float | None = None,
                 eval_fn: Callable[[nn.Module], dict[str, float]] | None = None, eval_every: int = 0,
                 snapshot_fn: Callable[[nn.Module, int], Any] | None = None, snapshot_every: int = 0,
                 good_state_every: int = 25, device: str | torch.device | None = None,
                 name: str = "run", explode_factor: float | None = 100.0, explode_window: int = 100,
                 live_budget: float | None = None, threads: int | None = None) -> None:
        if (loss_fn is None) == (step_fn is None):
            raise ValueError("give exactly one of loss_fn (with optimizer) or step_fn")
        if loss_fn is not None and optimizer is None:
            raise ValueError("loss_fn needs an optimizer")
        self.model = model
        self.device = torch.device(device) if device is not None else next(
            (p.device for p in model.parameters()), torch.device("cpu"))
        self.loss_fn, self.step_fn, self.optimizer, self.scheduler = loss_fn, step_fn, optimizer, scheduler
        self.grad_clip = grad_clip
        self.eval_fn, self.eval_every = eval_fn, eval_every
        self.snapshot_fn, self.snapshot_every = snapshot_fn, snapshot_every
        self.good_state_every = max(1, good_state_every)
        self.name = name
        self.total = int(steps)
        self.step = 0
        self.status = "idle"
        self.message = ""
        self.error: str | None = None
        self._batches: Iterator = iter(batches)
        self._lock = threading.RLock()          # held during a step: readers see step boundaries
        self._metrics_lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_reason = ""
        self._running = threading.Event()
        self._running.set()
        self._thread: threading.Thread | None = None
        self._history: dict[str, tuple[list[int], list[float]]] = {}
        self.snapshots: list[tuple[int, Any]] = []
        self._times: deque[float] = deque(maxlen=50)
        self._elapsed = 0.0
        self._t_start = 0.0
        self._good: tuple[int, dict, dict | None] | None = None
        self._last_eval = -1
        self.explode_factor, self.explode_window = explode_factor, max(1, int(explode_window))
        self._watch = ExplosionWatch(explode_factor, self.explode_window)
        self.live_budget, self.threads = live_budget, threads
        self.timing = {"step_s": 0.0, "periodic_s": 0.0, "periodic_runs": 0, "periodic_skipped": 0,
                       "periodic_last_s": 0.0}

    # ------------------------------------------------------------------ control
    def start(self) -> Trainer:
        """Run in a daemon thread; returns at once. Calling it after a stop resumes the run."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._prepare()
        self._thread = threading.Thread(target=self._loop, name=f"dlviz-train-{self.name}", daemon=True)
        self._thread.start()
        return self

    def run(self) -> Trainer:
        """Run to the end (or until stopped / diverged) in the calling thread."""
        self._prepare()
        self._loop()
        return self

    def stop(self, wait: bool = True, timeout: float = 10.0, reason: str = "") -> None:
        """Ask the run to stop after the current step; the model keeps the weights of that step.
        ``reason`` (e.g. who stopped it) starts the status message."""
        self._stop_reason = reason
        self._stop.set()
        self._running.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def pause(self) -> None:
        if self.status == "running":
            self._running.clear()
            self.status = "paused"

    def resume(self) -> None:
        if self.status == "paused":
            self.status = "running"
            self._running.set()

    def extend(self, steps: int) -> None:
        """Raise the step budget by ``steps`` (call :meth:`start` again to continue a finished run)."""
        self.total += int(steps)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ reading
    def progress(self) -> Progress:
        elapsed = self._elapsed + (time.perf_counter() - self._t_start if self.status == "running" else 0.0)
        sps = 0.0
        if len(self._times) >= 2:
            span = self._times[-1] - self._times[0]
            sps = (len(self._times) - 1) / span if span > 0 else 0.0
        eta = (self.total - self.step) / sps if sps > 0 else math.inf
        return Progress(self.step, self.total, self.status, sps, eta, elapsed, self.message)

    def history(self, name: str | None = None):
        """``{metric: (steps, values)}`` copies (or one metric's ``(steps, values)``)."""
        with self._metrics_lock:
            if name is not None:
                s, v = self._history.get(name, ([], []))
                return list(s), list(v)
            return {k: (list(s), list(v)) for k, (s, v) in self._history.items()}

    def latest(self, name: str, default: float = math.nan) -> float:
        with self._metrics_lock:
            s, v = self._history.get(name, ([], []))
            return v[-1] if v else default

    def model_copy(self) -> nn.Module:
        """A deep copy of the model at a step boundary (safe to analyse while training goes on)."""
        with self._lock:
            m = copy.deepcopy(self.model)
        return m.eval()

    def save(self, path, card: dict | None = None):
        """Write a checkpoint of the model at the current step boundary (atomically)."""
        from dlviz.checkpoints import save_checkpoint

        card = dict(card or {})
        card.setdefault("steps", self.step)
        card.setdefault("wall_time_s", round(self.progress().elapsed_s, 2))
        with self._lock:
            return save_checkpoint(path, self.model, card)

    def record(self, name: str, value: float, step: int | None = None) -> None:
        with self._metrics_lock:
            s, v = self._history.setdefault(name, ([], []))
            s.append(self.step if step is None else step)
            v.append(float(value))

    # ------------------------------------------------------------------ internals
    def _prepare(self) -> None:
        self._stop.clear()
        self._running.set()
        if self.status not in ("running", "paused"):
            self.status = "running"
            self.message = ""
        if self._good is None:
            self._keep_good()

    def _keep_good(self) -> None:
        opt = copy.deepcopy(self.optimizer.state_dict()) if self.optimizer is not None else None
        self._good = (self.step, copy.deepcopy(self.model.state_dict()), opt)

    def _restore_good(self) -> int:
        assert self._good is not None
        step, state, opt = self._good
        self.model.load_state_dict(state)
        if opt is not None and self.optimizer is not None:
            self.optimizer.load_state_dict(opt)
        return step

    def _one_step(self, batch: Any) -> dict[str, float]:
        if self.step_fn is not None:
            out = self.step_fn(batch)
            return {k: float(v) for k, v in out.items()}
        self.model.train()
        out = self.loss_fn(self.model, batch)
        loss, extra = (out if isinstance(out, tuple) else (out, {}))
        if not torch.isfinite(loss):
            return {"loss": float(loss.detach())}
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip:
            gn = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            extra = {**extra, "grad_norm": float(gn)}
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return {"loss": float(loss.detach()), **{k: float(v) for k, v in extra.items()}}

    def _within_budget(self, final: bool) -> bool:
        """Whether a due periodic call fits ``live_budget`` (always at step 0 and at the end): the time spent so
        far plus what the last call cost must stay within the budget's share of the step time, so the share
        approaches the budget from below instead of overshooting it by one call."""
        if final or self.live_budget is None or self.step == 0:
            return True
        tm = self.timing
        if tm["periodic_s"] + tm["periodic_last_s"] <= self.live_budget * tm["step_s"]:
            return True
        tm["periodic_skipped"] += 1
        return False

    def _periodic(self, final: bool = False) -> None:
        eval_due = self.eval_fn is not None and (final or (self.eval_every and self.step % self.eval_every == 0))
        snap_due = self.snapshot_fn is not None and (final or (self.snapshot_every and self.step % self.snapshot_every == 0))
        if not (eval_due or snap_due) or not self._within_budget(final):
            return
        t0 = time.perf_counter()
        self._periodic_now(final)
        self.timing["periodic_last_s"] = cost = time.perf_counter() - t0
        self.timing["periodic_s"] += cost
        self.timing["periodic_runs"] += 1

    def _periodic_now(self, final: bool) -> None:
        due = final or (self.eval_every and self.step % self.eval_every == 0)
        if self.eval_fn is not None and due and self._last_eval != self.step:
            self._last_eval = self.step
            was = self.model.training
            self.model.eval()
            with torch.no_grad():
                res = self.eval_fn(self.model)
            self.model.train(was)
            for k, v in res.items():
                self.record(k, v)
        if self.snapshot_fn is not None and (final or (self.snapshot_every and self.step % self.snapshot_every == 0)):
            was = self.model.training
            self.model.eval()
            with torch.no_grad():
                snap = self.snapshot_fn(self.model, self.step)
            self.model.train(was)
            with self._metrics_lock:
                if not self.snapshots or self.snapshots[-1][0] != self.step:
                    self.snapshots.append((self.step, snap))

    def _loop(self) -> None:
        self._t_start = time.perf_counter()
        if self.threads:
            torch.set_num_threads(int(self.threads))   # this thread's OpenMP team only
        try:
            if self.step == 0:
                with self._lock:
                    self._periodic()
            while self.step < self.total:
                if self._stop.is_set():
                    break
                if not self._running.is_set():
                    self._elapsed += time.perf_counter() - self._t_start
                    self._running.wait()
                    self._t_start = time.perf_counter()
                    self._times.clear()
                    continue
                t0 = time.perf_counter()
                batch = _to(next(self._batches), self.device)
                with self._lock:
                    metrics = self._one_step(batch)
                    loss = metrics.get("loss", 0.0)
                    why = (f"the loss became {loss}" if not math.isfinite(loss)
                           else self._watch.update(loss))
                    if why:
                        good = self._restore_good()
                        self._watch = ExplosionWatch(self.explode_factor, self.explode_window)
                        self.status = "diverged"
                        self.message = (f"Training diverged at step {self.step + 1}: {why}. "
                                        f"The learning rate is probably too high. The weights from step {good} "
                                        f"(the last good state) were restored.")
                        self.step = good
                        return
                    self.step += 1
                    self._times.append(time.perf_counter())
                    self.timing["step_s"] += self._times[-1] - t0
                    if self.step % self.good_state_every == 0 and self._watch.healthy:
                        self._keep_good()
                    self._periodic()
                with self._metrics_lock:
                    for k, v in metrics.items():
                        s, vals = self._history.setdefault(k, ([], []))
                        s.append(self.step)
                        vals.append(v)
            with self._lock:
                if self.step >= self.total:
                    self._periodic(final=True)
            self.status = "finished" if self.step >= self.total else "stopped"
            if self.status == "stopped":
                self.message = (f"{self._stop_reason} " if self._stop_reason else "") + \
                    f"Stopped at step {self.step}; the model keeps the weights of that step."
        except Exception as e:  # noqa: BLE001 - reported to the page, never raised into it
            self.status = "failed"
            self.error = traceback.format_exc()
            self.message = f"Training failed at step {self.step}: {type(e).__name__}: {e}"
        finally:
            self._elapsed += time.perf_counter() - self._t_start
            self._t_start = time.perf_counter()


class ExplosionWatch:
    """Flags a loss that explodes while staying finite (issue 16: diverging runs must be caught early).

    The loss is smoothed with an exponential moving average (``alpha``). Its *early level* is the lowest
    of the first ``early`` losses (not their mean: Adam at a huge learning rate jumps 10^6-fold on step 2,
    and a mean that includes the jump would never be exceeded). A run has exploded when

    * the smoothed loss exceeds ``factor`` x the early level (no healthy run ends 100x above its start), or
    * for ``window`` consecutive steps the smoothed loss stayed above 2x the early level *and* 10x its best
      value so far (training has undone itself and is not coming back).

    ``healthy`` is False while the smoothed loss is more than 3x its best: the Trainer keeps no "good"
    weights then, so a rollback goes to weights from before the trouble began. Only positive losses are
    watched (a GAN's or an ELBO's sign conventions vary); ``factor=None`` switches the watch off.
    """

    def __init__(self, factor: float | None = 100.0, window: int = 100, early: int = 10, alpha: float = 0.1) -> None:
        self.factor, self.window, self.early, self.alpha = factor, window, early, alpha
        self.n, self.early_min = 0, math.inf
        self.smooth: float | None = None
        self.best = math.inf
        self.bad_run = 0

    @property
    def early_level(self) -> float:
        return self.early_min if self.n else math.nan

    @property
    def healthy(self) -> bool:
        return self.smooth is None or not (self.smooth > 3.0 * self.best)

    def update(self, loss: float) -> str:
        """Feed one finite loss; returns a reason when the run has exploded, else ``""``."""
        if self.factor is None or loss < 0:
            return ""
        self.n += 1
        if self.n <= self.early:
            self.early_min = min(self.early_min, loss)
        self.smooth = loss if self.smooth is None else (1 - self.alpha) * self.smooth + self.alpha * loss
        if self.n <= self.early:
            self.best = min(self.best, self.smooth)
            return ""
        early = self.early_level
        if early > 0 and self.smooth > self.factor * early:
            return (f"the loss exploded (smoothed {self.smooth:.3g}, {self.smooth / early:.0f}x its early "
                    f"level {early:.3g})")
        self.bad_run = self.bad_run + 1 if (self.smooth > 2.0 * early and self.smooth > 10.0 * self.best) else 0
        self.best = min(self.best, self.smooth)
        if self.bad_run >= self.window:
            return (f"the loss rose and stayed up (smoothed {self.smooth:.3g} for {self.window} steps, above "
                    f"twice its early level {early:.3g} and 10x its best {self.best:.3g})")
        return ""


def main(argv: list[str] | None = None) -> int:
    """``python -m dlviz.train NAME`` -- reproduce a shipped checkpoint (see ``--list``)."""
    import argparse

    from dlviz import recipes

    p = argparse.ArgumentParser(prog="python -m dlviz.train", description=main.__doc__)
    p.add_argument("names", nargs="*", help="checkpoint names (see --list), or 'all'")
    p.add_argument("--list", action="store_true", help="list the shipped checkpoints and exit")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: best available)")
    p.add_argument("--out", default=None, help="folder to write to (default: the checkpoints folder)")
    args = p.parse_args(argv)
    if args.list or not args.names:
        for r in recipes.all_recipes().values():
            print(f"{r.name:28s} {r.summary}")
        return 0
    names = list(recipes.all_recipes()) if args.names == ["all"] else args.names
    for name in names:
        path = recipes.reproduce(name, device=args.device, out_dir=args.out)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
