"""The Trainer: runs, stops mid-run, resumes, records metrics, handles divergence, and keeps concurrent
runs apart. Numbers are checked against a bare PyTorch loop on the same data and seed."""

from __future__ import annotations

import threading
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlviz.data import batches
from dlviz.train import Trainer, make_optimizer


def _regression(seed: int = 0, n: int = 256):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return x, x @ w + 0.01 * torch.randn(n, 1, generator=g)


def _mse(model, batch):
    x, y = batch
    return F.mse_loss(model(x), y)


def _trainer(lr=0.05, steps=200, seed=0, **kw):
    torch.manual_seed(seed)
    model = nn.Linear(4, 1)
    x, y = _regression(seed)
    return Trainer(model, loss_fn=_mse, optimizer=torch.optim.SGD(model.parameters(), lr=lr),
                   batches=batches(x, y, batch_size=32, seed=seed), steps=steps, **kw)


def test_matches_a_bare_pytorch_loop():
    t = _trainer(steps=150).run()
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = _regression(0)
    it = batches(x, y, batch_size=32, seed=0)
    losses = []
    for _ in range(150):
        xb, yb = next(it)
        loss = F.mse_loss(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    steps, recorded = t.history("loss")
    assert steps == list(range(1, 151))
    assert recorded == pytest.approx(losses, rel=1e-6, abs=1e-9)
    assert torch.allclose(t.model.weight, model.weight)
    assert t.status == "finished" and t.progress().fraction == 1.0


def test_stop_mid_run_keeps_a_step_boundary_and_resume_finishes():
    slow = threading.Event()

    def eval_fn(m):
        return {"w0": float(m.weight[0, 0])}

    t = _trainer(steps=100_000, eval_fn=eval_fn, eval_every=1000)
    t.start()
    time.sleep(0.3)
    t.stop()
    assert t.status == "stopped" and not t.alive
    assert 0 < t.step < 100_000
    n_loss = len(t.history("loss")[0])
    assert n_loss == t.step  # exactly one loss per completed step: nothing half-done
    # resume: start again continues from the same step with the same optimizer
    t.total = t.step + 50
    step_before = t.step
    t.start()
    t.join(20)
    assert t.status == "finished" and t.step == step_before + 50
    assert t.history("loss")[0][-1] == t.step
    assert not slow.is_set()


def test_pause_and_resume():
    t = _trainer(steps=100_000)
    t.start()
    time.sleep(0.2)
    t.pause()
    assert t.status == "paused"
    for _ in range(50):                   # the step in flight finishes (slow on a loaded machine), then none follow
        s = t.step
        time.sleep(0.2)
        if t.step == s:
            break
    time.sleep(0.3)
    assert t.step == s and t.status == "paused"
    t.resume()
    time.sleep(0.2)
    assert t.step > s
    t.stop()


def test_divergence_is_detected_and_last_good_state_restored():
    t = _trainer(lr=10.0, steps=500, good_state_every=1000)
    w_init = t.model.weight.detach().clone()
    t.run()
    assert t.status == "diverged"
    assert "diverged" in t.message and "learning rate" in t.message
    assert t.step == 0  # the last good state is the initial one here
    assert torch.equal(t.model.weight, w_init)
    assert all(torch.isfinite(p).all() for p in t.model.parameters())


def test_metrics_eval_and_snapshots():
    t = _trainer(steps=100, eval_fn=lambda m: {"val": 1.0}, eval_every=25,
                 snapshot_fn=lambda m, step: m.weight.detach().clone(), snapshot_every=50)
    t.run()
    steps, vals = t.history("val")
    assert steps == [0, 25, 50, 75, 100] and vals == [1.0] * 5
    assert [s for s, _ in t.snapshots] == [0, 50, 100]
    assert torch.equal(t.snapshots[-1][1], t.model.weight)
    p = t.progress()
    assert p.steps_per_s > 0 and p.eta_s == 0


def test_two_concurrent_runs_do_not_interfere():
    a, b = _trainer(steps=400, seed=1), _trainer(steps=400, seed=1)
    lone = _trainer(steps=400, seed=1).run()
    a.start()
    b.start()
    a.join(30)
    b.join(30)
    assert a.status == b.status == "finished"
    assert a.history("loss")[1] == pytest.approx(lone.history("loss")[1], rel=1e-6)
    assert b.history("loss")[1] == pytest.approx(lone.history("loss")[1], rel=1e-6)
    assert a.model is not b.model


def test_failure_is_reported_not_raised():
    def bad_loss(model, batch):
        raise ValueError("shape mismatch in my model")

    model = nn.Linear(4, 1)
    t = Trainer(model, loss_fn=bad_loss, optimizer=torch.optim.SGD(model.parameters(), 0.1),
                batches=batches(*_regression(), batch_size=8), steps=10)
    t.start()
    t.join(5)
    assert t.status == "failed" and "shape mismatch" in t.message


def test_save_during_training_is_whole(tmp_path):
    from dlviz.checkpoints import load_checkpoint
    from dlviz.data import digits
    from dlviz.metrics import classification_loss
    from dlviz.models import build_model

    d = digits("train", size=16)
    model = build_model("small_cnn")
    t = Trainer(model, loss_fn=classification_loss, optimizer=make_optimizer("Adam", model.parameters(), 1e-3),
                batches=batches(d.images, d.labels, batch_size=32), steps=100_000)
    t.start()
    for i in range(3):
        time.sleep(0.1)
        path = t.save(tmp_path / "live.pt", {"note": i})
        _, card = load_checkpoint(path)
        assert card["note"] == i and card["steps"] >= 0
    t.stop()
    assert not list(tmp_path.glob("*.tmp"))


def test_trainer_argument_errors():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError):
        Trainer(model, batches=iter([]), steps=1)
    with pytest.raises(ValueError):
        Trainer(model, batches=iter([]), steps=1, loss_fn=_mse)
    with pytest.raises(ValueError):
        make_optimizer("Adagrad-ish", model.parameters(), 0.1)


# ---------------------------------------------------------------- explosion (finite but runaway losses)
def _scripted(losses, **kw):
    """A Trainer whose step_fn replays ``losses`` and nudges a weight, so rollbacks are visible."""
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    seq = iter(losses)

    def step(_batch):
        with torch.no_grad():
            model.weight += 1.0
        return {"loss": next(seq)}

    return Trainer(model, step_fn=step, batches=iter(lambda: 0, 1), steps=len(losses), **kw)


def test_explosion_of_a_finite_loss_is_caught_and_rolled_back():
    losses = [1.0] * 50 + [1.0 * 3 ** k for k in range(1, 40)]      # finite, but x3 per step from step 51
    t = _scripted(losses, good_state_every=10).run()
    assert t.status == "diverged" and "exploded" in t.message and "learning rate" in t.message
    # the smoothed loss passes 100x the early level (1.0) a few steps after 51; rollback goes to a state
    # saved while the loss was healthy (<= 3x its best), i.e. at or before step 50
    assert t.step <= 50 and t.step % 10 == 0
    assert float(t.model.weight.detach()) == t.step                              # the weights of that step


def test_a_loss_that_rises_and_stays_up_is_caught():
    from dlviz.train import ExplosionWatch

    w = ExplosionWatch(factor=100.0, window=30)
    reasons = [w.update(v) for v in [2.0] * 10 + [0.05] * 100 + [8.0] * 60]
    first = next(i for i, r in enumerate(reasons) if r)
    assert "stayed up" in reasons[first]
    # smoothed loss crosses both 2x early (4.0) and 10x best (0.5) a few steps after index 110, then 30 more
    assert 110 + 30 <= first <= 110 + 30 + 10


def test_healthy_runs_are_not_flagged():
    from dlviz.train import ExplosionWatch

    g = torch.Generator().manual_seed(0)
    decay = [2.3 * 0.99 ** i + 0.05 * float(torch.rand(1, generator=g)) for i in range(2000)]   # noisy descent
    spiky = [1.0 if i % 97 else 60.0 for i in range(2000)]                                      # rare spikes
    rising = [0.5 + i / 2000 for i in range(2000)]          # e.g. a KL term warming up: 3x, not 100x
    for series in (decay, spiky, rising, [-5.0 - i for i in range(500)]):
        w = ExplosionWatch()
        assert not any(w.update(v) for v in series)
    assert _trainer(steps=300).run().status == "finished"    # the regression problem at a sane lr


def test_live_budget_skips_costly_periodic_calls():
    took = []

    def slow_snapshot(m, step):
        t0 = time.perf_counter()
        time.sleep(0.02)
        took.append(time.perf_counter() - t0)
        return step

    free = _trainer(steps=200, snapshot_fn=slow_snapshot, snapshot_every=1).run()
    capped = _trainer(steps=200, snapshot_fn=slow_snapshot, snapshot_every=1, live_budget=0.1).run()
    assert len(free.snapshots) == 201
    assert capped.status == "finished" and capped.snapshots[0][0] == 0 and capped.snapshots[-1][0] == 200
    tm = capped.timing
    assert tm["periodic_skipped"] > 0 and len(capped.snapshots) < 201
    # a call runs only if the time so far plus the last call's cost fits the budget, so past step 0's call and the
    # final one (always made) the share overshoots only by how much one call took longer than the one before it
    took = took[-len(capped.snapshots):]
    assert tm["periodic_last_s"] == pytest.approx(took[-1], abs=0.01)
    assert tm["periodic_s"] <= 0.1 * tm["step_s"] + took[0] + took[-1] + (max(took) - min(took)) + 0.005
