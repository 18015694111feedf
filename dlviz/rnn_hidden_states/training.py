"""Training the RNN page's models (Karpathy, Johnson & Fei-Fei, 2015, "Visualizing and Understanding
Recurrent Networks"): truncated back-propagation through time over the code corpus, and the synthetic
sequence tasks (bracket depth, counting).

:func:`make_trainer` is the only place this concept builds a :class:`dlviz.train.Trainer`; the recipes
(:mod:`dlviz.rnn_hidden_states.recipes`) and the page's live runs both use it, so a live run and a
shipped checkpoint are trained the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlviz.data import batches, sequence_task
from dlviz.models import build_model
from dlviz.models.rnn import CharRNN
from dlviz.rnn_hidden_states.core import TASK_SPECS
from dlviz.train import Trainer, make_optimizer

SETUPS = ("code", "bracket_depth", "counting")
TEXT_SEQ_LEN = 100


def code_vocab() -> str:
    from dlviz.rnn_hidden_states.core import code_vocab as vocab

    return vocab()


def text_batches(ids: torch.Tensor, seq_len: int, batch_size: int, seed: int = 0) -> Iterator:
    """Endless ``(x, y, reset)`` batches for truncated back-propagation through time.

    The corpus is cut into ``batch_size`` contiguous lanes read side by side, ``seq_len`` characters
    per step: row b of one batch continues row b of the previous one, so the loss can carry the
    hidden state across batches (as char-rnn does) and the model learns context longer than a window.
    ``reset`` is True at the start of each pass; each pass starts at a fresh random offset.
    x, y: ``(B, seq_len)`` (y is x shifted by one character).
    """
    g = torch.Generator().manual_seed(seed)
    lane = (len(ids) - seq_len - 1) // batch_size
    if lane < 2 * seq_len:
        raise ValueError("the text is too short for this batch size and sequence length")
    while True:
        shift = int(torch.randint(0, seq_len, (1,), generator=g))
        starts = torch.arange(batch_size) * lane + shift                     # (B,)
        for k, p in enumerate(range(0, lane - seq_len - 1, seq_len)):
            idx = starts[:, None] + p + torch.arange(seq_len + 1)             # (B, seq_len + 1)
            win = ids[idx]
            yield win[:, :-1], win[:, 1:], torch.tensor(k == 0)


class TextLoss:
    """Next-character cross-entropy that carries the recurrent state from batch to batch (detached)."""

    def __init__(self) -> None:
        self.state: list | None = None

    def __call__(self, model: CharRNN, batch):
        x, y, reset = batch
        if bool(reset) or self.state is None or _batch_of(self.state) != len(x):
            self.state = None
        logits, state = model.forward_with_state(x, self.state)              # (B, T, V)
        self.state = [tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach() for s in state]
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        return loss, {"bpc": float(loss.detach()) / 0.6931471805599453}


def _batch_of(state: list) -> int:
    s = state[0]
    return (s[0] if isinstance(s, tuple) else s).shape[1]


def task_loss(model: CharRNN, batch):
    x, y, mask = batch
    logits = model(x)                                         # (B, T, C)
    loss = F.cross_entropy(logits[mask], y[mask])
    acc = (logits.argmax(-1) == y)[mask].float().mean()
    return loss, {"acc": float(acc)}


def task_data(task: str, n: int, seed: int):
    spec = TASK_SPECS[task]
    return sequence_task(task, n=n, length=spec["length"], vocab_size=spec["vocab_size"], seed=seed)


@torch.no_grad()
def task_accuracy(model: CharRNN, task: str, n: int = 1000, seed: int = 12345) -> dict[str, float]:
    """Per-position and whole-sequence accuracy on a fresh test set (a seed never used in training)."""
    data = task_data(task, n, seed)
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    pred = model(data.inputs.to(dev)).argmax(-1).cpu()
    model.train(was)
    right = (pred == data.targets) | ~data.mask
    return {"test_acc": float(right[data.mask].float().mean()), "seq_acc": float(right.all(1).float().mean())}


@dataclass
class Setup:
    """A training set-up: what to learn and with which network."""

    data: str = "bracket_depth"     # code | bracket_depth | counting
    cell: str = "lstm"
    hidden_size: int = 32
    embed_dim: int = 16
    seed: int = 0


def build(setup: Setup) -> CharRNN:
    torch.manual_seed(setup.seed)
    if setup.data == "code":
        return build_model("char_rnn", vocab=code_vocab(), cell=setup.cell, hidden_size=setup.hidden_size,
                           embed_dim=setup.embed_dim)
    probe = task_data(setup.data, 2, 0)
    return build_model("char_rnn", vocab="".join(probe.input_vocab), num_classes=len(probe.target_vocab),
                       labels="|".join(probe.target_vocab), task=setup.data, cell=setup.cell,
                       hidden_size=setup.hidden_size, embed_dim=setup.embed_dim)


def make_trainer(model: CharRNN, *, lr: float = 3e-3, steps: int = 1000, batch_size: int = 32,
                 optimizer: str = "Adam", weight_decay: float = 0.0, seed: int = 0, grad_clip: float = 1.0,
                 eval_every: int = 50, sample_every: int = 0, device: str | None = None,
                 cosine: bool = False, threads: int | None = None, name: str = "run") -> Trainer:
    """A Trainer for ``model`` on its own data (the code corpus, or its synthetic task).

    ``cosine`` anneals the learning rate to 0 over ``steps`` (the shipped checkpoints use it).
    ``threads``: intra-op torch threads of the thread that trains (None: torch's default). With torch's
    OpenMP backend the count is per thread, so a page passes its session setting here.
    """
    from dlviz.rnn_hidden_states.core import corpus_split
    from dlviz.rnn_hidden_states.sampling import sample

    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps)) if cosine else None
    task = model.config.task
    if task == "text":
        train, held = corpus_split()
        ids = model.encode(train)
        val = held[:10_000]                                   # the first 10k of the held-out part
        stream = text_batches(ids, TEXT_SEQ_LEN, batch_size, seed)
        loss_fn = TextLoss()

        def eval_fn(m):
            from dlviz.rnn_hidden_states.sampling import bits_per_char

            return {"val_bpc": bits_per_char(m, val)}

        snap = (lambda m, step: sample(m, "def ", 160, 0.8, seed)) if sample_every else None
        return Trainer(model, loss_fn=_threaded(loss_fn, threads), optimizer=opt, batches=stream, steps=steps,
                       scheduler=sched, grad_clip=grad_clip, eval_fn=_threaded(eval_fn, threads),
                       eval_every=eval_every, snapshot_fn=snap, snapshot_every=sample_every, device=device, name=name)
    data = task_data(task, 8000, seed)
    stream = batches(data.inputs, data.targets, data.mask, batch_size=batch_size, seed=seed)
    return Trainer(model, loss_fn=_threaded(task_loss, threads), optimizer=opt, batches=stream, steps=steps,
                   grad_clip=grad_clip, scheduler=sched,
                   eval_fn=_threaded(lambda m: task_accuracy(m, task, n=500), threads), eval_every=eval_every,
                   device=device, name=name)


def _threaded(fn, threads: int | None):
    """``fn`` that first sets the calling thread's torch thread count (per thread with OpenMP)."""
    if not threads:
        return fn

    def wrapped(*args, **kwargs):
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return fn(*args, **kwargs)
    return wrapped


def live_trainer(learn: str, cell: str, hidden: int, *, lr: float, steps: int, batch_size: int, optimizer: str,
                 weight_decay: float, seed: int, device: str | None = None, threads: int | None = None
                 ) -> tuple[Trainer, dict]:
    """The page's "Train" button: ``(trainer, card extras)`` for a model that learns ``learn`` (``code`` or a
    task) with ``cell`` and ``hidden`` units; code models evaluate and sample every 100 steps."""
    from dataclasses import asdict

    setup = Setup(data=learn, cell=cell, hidden_size=hidden, embed_dim=32 if learn == "code" else 16, seed=seed)
    trainer = make_trainer(build(setup), lr=lr, steps=steps, batch_size=batch_size, optimizer=optimizer,
                           weight_decay=weight_decay, seed=seed, eval_every=100 if learn == "code" else 50,
                           sample_every=100 if learn == "code" else 0, device=device, threads=threads,
                           name=f"{learn}-{cell}")
    return trainer, {"setup": asdict(setup)}
