"""dlviz.jobs: the server-wide run registry -- run limit and queue, Stop frees the slot at once, the CPU
split between runs, and orphaned runs (their browser session gone) stop after the grace period."""

from __future__ import annotations

import threading
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.jobs import Registry
from dlviz.train import Trainer


def _trainer(steps=10_000, delay=0.002):
    model = nn.Linear(4, 1)
    x, y = torch.randn(64, 4), torch.randn(64, 1)

    def loss(m, _batch):
        time.sleep(delay)                      # a step that takes a while, like a real one
        return F.mse_loss(m(x), y)

    return Trainer(model, loss_fn=loss, optimizer=torch.optim.SGD(model.parameters(), 1e-3),
                   batches=iter(lambda: 0, 1), steps=steps)


def _wait(cond, timeout=10.0):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "condition not reached in time"
        time.sleep(0.01)


def test_limit_queue_position_and_stop_frees_the_slot():
    reg = Registry(limit=2, grace_s=60, cores=4)
    a, b, c, d = (reg.submit({"": _trainer()}, owner=o) for o in "abcd")
    _wait(lambda: a.trainer.step > 0 and b.trainer.step > 0)
    assert [j.state for j in (a, b, c, d)] == ["running", "running", "queued", "queued"]
    assert (reg.position(c), reg.position(d), reg.position(a)) == (1, 2, 0)
    assert c.active and c.trainer.step == 0 and c.trainer.status == "idle"
    assert a.trainer.threads == b.trainer.threads == 2          # 4 cores / 2 slots
    assert reg.wait_estimate(c) > 0 and reg.wait_estimate(d) >= reg.wait_estimate(c)
    a.stop()                                                    # frees its slot at once: c starts
    assert a.state == "done" and c.state == "running" and reg.position(d) == 1
    _wait(lambda: c.trainer.step > 0)
    d.stop()                                                    # a queued job never starts
    assert d.trainer.status == "stopped" and "waiting" in d.trainer.message and d.trainer.step == 0
    for j in (b, c):
        j.stop()
    for j in (a, b, c):
        j.trainer.join(5)
        assert not j.trainer.alive


def test_a_finished_run_hands_its_slot_to_the_next():
    reg = Registry(limit=1, grace_s=60, cores=1, reap_every=0.05)
    a = reg.submit({"": _trainer(steps=20)})
    b = reg.submit({"": _trainer(steps=20)})
    assert b.queued
    _wait(lambda: b.trainer.status == "finished")             # the reaper thread started b when a ended
    assert a.trainer.status == "finished" and not b.active and not a.active


def test_orphaned_run_stops_after_grace_and_frees_the_cpu():
    reg = Registry(limit=2, grace_s=0.3, cores=2, reap_every=0.05)
    kept = reg.submit({"": _trainer()}, owner="here")
    gone = reg.submit({"": _trainer()}, owner="closed-tab")
    alive = {"here"}
    reg.session_alive = lambda sid: sid in alive
                                                               # no heartbeats: only the probe speaks
    _wait(lambda: gone.trainer.status == "stopped", timeout=5)
    gone.trainer.join(5)
    assert not gone.trainer.alive                              # its thread ended: the core is free
    assert "gone" in gone.trainer.message
    assert kept.trainer.status == "running" and kept.trainer.alive
    threads = {t.name for t in threading.enumerate()}
    assert sum(n.startswith("dlviz-train") for n in threads) >= 1
    alive.clear()                                              # the other tab closes too
    _wait(lambda: not kept.trainer.alive, timeout=5)


def test_heartbeat_without_probe_keeps_a_run_and_reattach_changes_owner():
    reg = Registry(limit=1, grace_s=0.3, cores=1, reap_every=0.05)
    job = reg.submit({"": _trainer()}, owner="s1", extras={"page-state": 1})
    for _ in range(12):                                        # 0.6 s > grace, but heartbeats keep it
        job.heartbeat()
        time.sleep(0.05)
    assert job.trainer.status == "running"
    assert reg.get(job.id) is job and reg.get("nope") is None
    reg.claim(job, "s2")                                       # a reload: a new session takes it over
    assert job.owner == "s2" and job.extras == {"page-state": 1}
    _wait(lambda: job.trainer.status == "stopped", timeout=5)  # no more heartbeats: stopped after grace
    job.trainer.join(5)
    assert not job.trainer.alive
