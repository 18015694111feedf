"""Training an encoder-decoder on a seq2seq task: the only place the seq2seq page builds a Trainer.

The loss is the cross-entropy of every target token and ``</s>`` (padding ignored). With a teacher-forcing
ratio below 1 the decoder is fed its own previous prediction instead of the true token that often
(scheduled sampling, Bengio et al. 2015), so training sees the mistakes greedy decoding will make.
Every ``eval_every`` steps the run records ``exact_match``: greedy decodes of held-out examples that are
exactly right.
"""

from __future__ import annotations

import functools
import random
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from dlviz.data.seq2seq_tasks import seq2seq_task, task_spec
from dlviz.models import build_model
from dlviz.models.seq2seq import PAD, SRC_SPECIALS, TGT_SPECIALS, Seq2Seq
from dlviz.seq2seq.core import exact_match, source_tensor, spec_of, target_tensors, test_set
from dlviz.train import Trainer

# what the page's sidebar starts from: the default task reaches >= 95 % exact match within these steps
LIVE_DEFAULTS = {"lr": 3e-3, "steps": 400, "batch_size": 64}
POOL = 8_000                         # training examples per run (fresh seeds; the test seed is apart)
# One intra-op thread: a decoder step is a few (64 x 64) matrix products, too small to split, so a second OpenMP
# thread only adds synchronisation -- measured (benchmarks/bench_seq2seq.py, idle 2-core machine): the default
# run to 95 % exact match took 3.3 s on 1 thread and 9.4 s on 2; on a loaded machine a 2-thread step was ~10x
# slower than a 1-thread one (0.27 s vs 0.03 s), which is where a 115 s live run came from.
TRAIN_THREADS = 1


def new_model(task: str, attention: str = "additive", cell: str = "gru", hidden_size: int = 64,
              embed_dim: int = 32, reverse_lengths: tuple[int, int] = (4, 24)) -> Seq2Seq:
    """A fresh encoder-decoder sized for ``task``'s vocabularies and limits."""
    spec = task_spec(task, reverse_lengths)
    lo = spec.lengths[0] if task == "reverse" else 1
    return build_model("seq2seq", task=task, src_tokens=spec.src_tokens, tgt_tokens=spec.tgt_tokens,
                       word_level=spec.word_level, min_src_len=lo, max_src_len=spec.max_src_len,
                       max_tgt_len=spec.max_tgt_len, cell=cell, attention=attention, hidden_size=hidden_size,
                       embed_dim=embed_dim)


def training_pool(model: Seq2Seq, n: int = POOL, seed: int = 0):
    """``(src, tgt_in, tgt_out)`` tensors of ``n`` training examples (numbers: the test values left out);
    cached, so a second run on the same task starts at once."""
    c = model.config
    return _pool(c.task, tuple(c.src_tokens), tuple(c.tgt_tokens), c.min_src_len, c.max_src_len, n, seed)


@functools.lru_cache(maxsize=4)
def _pool(task_name: str, src_tokens: tuple, tgt_tokens: tuple, lo: int, hi: int, n: int, seed: int):
    vocab = SimpleNamespace(src_vocab=list(SRC_SPECIALS) + list(src_tokens),
                            tgt_vocab=list(TGT_SPECIALS) + list(tgt_tokens))
    task = seq2seq_task(task_name, n, seed=seed, reverse_lengths=(lo, hi))
    exs = task.examples
    if task_name == "numbers":
        held = {tuple(e.source) for e in test_set(task.spec).examples}
        exs = [e for e in exs if tuple(e.source) not in held]
    return source_tensor(vocab, [e.source for e in exs]), *target_tensors(vocab, [e.target for e in exs])


def _batches(src, tin, tout, batch_size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    n = len(src)
    while True:
        idx = torch.randint(0, n, (batch_size,), generator=g)
        s, ti, to = src[idx], tin[idx], tout[idx]
        S = int((s != PAD).sum(1).max())                   # trim the padding this batch does not need
        T = int((to != PAD).sum(1).max())
        yield s[:, :S], ti[:, :T], to[:, :T]


def seq2seq_loss(model: Seq2Seq, batch, teacher_forcing: float = 1.0, generator=None):
    src, tin, tout = batch
    logits, _ = model(src, tin, teacher_forcing=teacher_forcing, generator=generator)   # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), tout.flatten(), ignore_index=PAD)
    ok = ((logits.argmax(-1) == tout) | (tout == PAD)).all(1).float().mean()
    return loss, {"train_exact": float(ok)}


def make_trainer(model: Seq2Seq, *, steps: int = 1200, lr: float = 3e-3, batch_size: int = 64,
                 teacher_forcing: float = 1.0, optimizer: torch.optim.Optimizer | None = None, seed: int = 0,
                 eval_every: int = 100, eval_n: int = 300, grad_clip: float = 1.0, name: str = "seq2seq",
                 device: str | None = None, scheduler=None, pool: int = POOL, threads: int | None = TRAIN_THREADS
                 ) -> Trainer:
    """A Trainer for ``model`` on its task; records ``exact_match`` on ``eval_n`` held-out examples.

    ``threads`` (default :data:`TRAIN_THREADS`, 1) is the training thread's intra-op thread count; ``None``
    leaves it to the caller (the app's run registry splits the cores between runs)."""
    if not 0.0 <= teacher_forcing <= 1.0:
        raise ValueError("the teacher-forcing ratio must lie in [0, 1]")
    src, tin, tout = training_pool(model, n=pool, seed=seed)
    opt = optimizer or torch.optim.Adam(model.parameters(), lr)
    test = test_set(spec_of(model), eval_n)
    g = torch.Generator().manual_seed(seed + 1)
    random.seed(seed)

    def eval_fn(m: Seq2Seq) -> dict[str, float]:
        return {"exact_match": exact_match(m, test)}

    return Trainer(model, loss_fn=lambda m, b: seq2seq_loss(m, b, teacher_forcing, g), optimizer=opt,
                   batches=_batches(src, tin, tout, batch_size, seed), steps=steps, grad_clip=grad_clip,
                   eval_fn=eval_fn, eval_every=eval_every, name=name, device=device, scheduler=scheduler,
                   threads=threads)
