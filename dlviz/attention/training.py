"""The tasks the attention page trains and probes, their data, their right answers and the live trainer.

A :class:`TaskSpec` names a task of :func:`dlviz.data.sequence_task` (copy, reverse, sort, induction,
counting, bracket depth) or ``code`` -- next-character prediction on Python's standard library -- and
the layout: a *decoder* (causal attention; copy/reverse/sort written as ``x|y``, predicting ``y`` one
token at a time) or an *encoder* (bidirectional attention, output i aligned with input i).

For ``induction`` a ``min_length`` makes the sequence length vary, so the repeat starts at a different
place each time: a fixed positional offset cannot solve it and the model has to find the previous
occurrence by content -- an induction head (Olsson et al., 2022).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from dlviz.data import CharVocab, DataError, SequenceTask, batches, code_text, sequence_task
from dlviz.data.sequence_tasks import bracket_depth_targets, count_targets
from dlviz.models import build_model
from dlviz.train import Trainer, make_optimizer

XY_TASKS = ("copy", "reverse", "sort")
TASKS = ("copy", "reverse", "sort", "induction", "counting", "bracket_depth", "code")
LAYOUTS = ("decoder", "encoder")
CODE_CHARS = 300_000          # size of the code corpus
MAX_COUNT, MAX_DEPTH = 8, 8
# the pattern of :func:`dlviz.attention.core.algorithm_patterns` that is each task's algorithm (None: no one key)
ALGORITHM = {"copy": "copy source", "reverse": "mirror", "sort": "next in sorted order", "induction": "induction",
             "counting": "same token", "code": "induction", "bracket_depth": None}   # the class ranges of counting and bracket depth
_SPLIT = {"train": 0, "test": 1, "watch": 2}


@dataclass(frozen=True)
class TaskSpec:
    """What a model was trained on; stored in its checkpoint card as ``card["task"]``."""

    name: str = "reverse"
    length: int = 8          # tokens of x (code: the context length)
    vocab_size: int = 8      # distinct symbols (ignored for code and bracket depth)
    layout: str = "decoder"  # decoder | encoder
    min_length: int = 0      # induction: lengths vary in [min_length, length] when > 0

    def __post_init__(self) -> None:
        if self.name not in TASKS:
            raise DataError(f"Unknown task {self.name!r}; choose one of {', '.join(TASKS)}.")
        if self.layout not in LAYOUTS:
            raise DataError(f"Unknown layout {self.layout!r}; choose decoder or encoder.")
        if self.name == "code" and self.layout != "decoder":
            raise DataError("A language model on code must be a decoder (it predicts the next character).")
        if self.length < 2:
            raise DataError("length must be at least 2")
        if self.min_length and not 2 <= self.min_length <= self.length:
            raise DataError("min_length must lie in [2, length]")

    @property
    def causal(self) -> bool:
        return self.layout == "decoder"

    @property
    def block_size(self) -> int:
        """Tokens the model must read: ``2L`` for ``x|y`` (x, separator, y minus its last token)."""
        return 2 * self.length if self.name in XY_TASKS and self.causal else self.length

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TaskSpec:
        return cls(**{k: d[k] for k in ("name", "length", "vocab_size", "layout", "min_length") if k in d})


@lru_cache(maxsize=1)
def code_vocab() -> CharVocab:
    return CharVocab.from_text(code_text(CODE_CHARS))


@lru_cache(maxsize=64)
def vocabularies(spec: TaskSpec) -> tuple[list[str], list[str]]:
    """``(input tokens, output classes)``; for decoder ``x|y`` tasks the last input token is the separator."""
    if spec.name == "code":
        chars = code_vocab().chars
        return list(chars), list(chars)
    t = sequence_task(spec.name, n=1, length=spec.length, vocab_size=spec.vocab_size,
                      causal=spec.causal, max_depth=MAX_DEPTH, max_count=MAX_COUNT)
    return list(t.input_vocab), list(t.target_vocab)


def make_data(spec: TaskSpec, n: int, seed: int = 0, split: str = "train") -> SequenceTask:
    """``n`` examples; ``split`` (train | test | watch) draws from a disjoint random stream."""
    s = 1000 * seed + _SPLIT[split]
    if spec.name == "code":
        return _code_windows(spec, n, s, split)
    lengths = range(spec.min_length, spec.length + 1) if spec.min_length else [spec.length]
    parts = []
    for j, length in enumerate(lengths):
        m = n // len(lengths) + (j < n % len(lengths))
        if m:
            parts.append(sequence_task(spec.name, n=m, length=length, vocab_size=spec.vocab_size, seed=s + 7 * j,
                                       causal=spec.causal, max_depth=MAX_DEPTH, max_count=MAX_COUNT))
    T = max(p.inputs.shape[1] for p in parts)

    def pad(t: torch.Tensor, v) -> torch.Tensor:   # padding goes after the tokens: a decoder never sees it
        return F.pad(t, (0, T - t.shape[1]), value=v)

    first = parts[0]
    return SequenceTask(spec.name, torch.cat([pad(p.inputs, 0) for p in parts]),
                        torch.cat([pad(p.targets, 0) for p in parts]),
                        torch.cat([pad(p.mask, False) for p in parts]), first.input_vocab, first.target_vocab,
                        first.causal, first.sep)


@lru_cache(maxsize=2)
def _code_ids(train: bool) -> torch.Tensor:
    text = code_text(CODE_CHARS)
    cut = int(0.9 * len(text))                      # the last 10 % of the corpus is held out
    return code_vocab().encode(text[:cut] if train else text[cut:])


def _code_windows(spec: TaskSpec, n: int, seed: int, split: str) -> SequenceTask:
    ids = _code_ids(split == "train")
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, len(ids) - spec.length - 1, (n,), generator=g)
    w = ids[start.unsqueeze(1) + torch.arange(spec.length + 1)]               # (n, T+1)
    chars = code_vocab().chars
    return SequenceTask("code", w[:, :-1], w[:, 1:], torch.ones(n, spec.length, dtype=torch.bool),
                        list(chars), list(chars), causal=True)


def encode_text(spec: TaskSpec, text: str) -> torch.Tensor:
    """Typed text -> ``(T,)`` ids of the task's input vocabulary (the separator is not typeable)."""
    if not text:
        raise DataError("Type at least one character.")
    vin = vocabularies(spec)[0]
    allowed = vin[:-1] if spec.name in XY_TASKS and spec.causal else vin
    index = {c: i for i, c in enumerate(allowed)}
    bad = sorted({c for c in text if c not in index})
    if bad:
        shown = "".join(allowed) if len(allowed) < 40 else "printable ASCII"
        raise DataError(f"{''.join(bad)!r} is not in this model's vocabulary ({shown}).")
    return torch.tensor([index[c] for c in text], dtype=torch.long)


def example_text(spec: TaskSpec, seed: int = 0) -> str:
    """A held-out example as the text a student would type (for ``x|y`` decoders: only ``x``)."""
    full = TaskSpec(spec.name, spec.length, spec.vocab_size, spec.layout)   # full length: nothing padded
    ids = make_data(full, 1, seed=seed, split="test").inputs[0]
    if spec.name in XY_TASKS and spec.causal:
        ids = ids[:spec.length]
    vin = vocabularies(spec)[0]
    return "".join(vin[i] for i in ids.tolist())


def _xy_rule(name: str, x: torch.Tensor) -> torch.Tensor:
    return {"copy": x, "reverse": x.flip(0), "sort": x.sort().values}[name]


def truth_targets(spec: TaskSpec, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For one input ``(T,)``: the right output at each position and which positions are scored."""
    T = len(ids)
    targets = torch.zeros(T, dtype=torch.long)
    scored = torch.zeros(T, dtype=torch.bool)
    if spec.name in XY_TASKS and spec.causal:
        sep = len(vocabularies(spec)[0]) - 1
        hits = (ids == sep).nonzero()
        if len(hits):
            L = int(hits[0])
            y = _xy_rule(spec.name, ids[:L])
            n = min(L, T - L)
            targets[L:L + n], scored[L:L + n] = y[:n], True
    elif spec.name in XY_TASKS:
        targets, scored[:] = _xy_rule(spec.name, ids), True
    elif spec.name == "code":
        targets[:-1], scored[:-1] = ids[1:], True
    elif spec.name == "counting":
        targets, scored[:] = count_targets(ids.unsqueeze(0), MAX_COUNT)[0], True
    elif spec.name == "bracket_depth":
        depth = bracket_depth_targets(ids.unsqueeze(0))[0]
        scored = (depth >= 0) & (depth <= MAX_DEPTH) & (depth.cummin(0).values >= 0)
        targets = depth.clamp(0, MAX_DEPTH)
    else:  # induction
        half = T // 2
        if half >= 2 and torch.equal(ids[half:2 * half], ids[:half]):   # the task's own layout: x x
            targets[half:2 * half - 1], scored[half:2 * half - 1] = ids[half + 1:2 * half], True
        else:  # anywhere else: positions whose token occurred exactly once before are unambiguous
            for t in range(1, T):
                prev = (ids[:t] == ids[t]).nonzero()
                if len(prev) == 1:
                    targets[t], scored[t] = ids[int(prev[0]) + 1], True
    return targets, scored


# --------------------------------------------------------------------------- models and training
def build_for_task(spec: TaskSpec, n_layer: int = 2, n_head: int = 2, n_embd: int = 64,
                   positions: str = "learned", mlp_ratio: int = 4, **extra):
    """A :class:`~dlviz.models.transformer.TinyTransformer` sized for ``spec``."""
    vin, vout = vocabularies(spec)
    return build_model("tiny_transformer", vocab_size=len(vin), num_classes=len(vout), block_size=spec.block_size,
                       n_layer=n_layer, n_head=n_head, n_embd=n_embd, causal=spec.causal, positions=positions,
                       mlp_ratio=mlp_ratio, **extra)


def task_loss(model, batch):
    """Cross-entropy over the scored positions; also reports their accuracy."""
    x, y, m = batch
    logits = model(x)                                                        # (B, T, classes)
    loss = F.cross_entropy(logits[m], y[m])
    acc = (logits[m].argmax(-1) == y[m]).float().mean()
    return loss, {"acc": float(acc)}


@torch.no_grad()
def task_metrics(model, data: SequenceTask, head_mask: torch.Tensor | None = None, causal: bool | None = None,
                 batch_size: int = 1024) -> dict[str, float]:
    """``token_acc`` over scored positions and ``seq_acc`` (every scored position right)."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    hm = None if head_mask is None else head_mask.to(dev)
    right = total = seqs = 0
    for i in range(0, len(data), batch_size):
        x, y, m = (t[i:i + batch_size].to(dev) for t in (data.inputs, data.targets, data.mask))
        ok = (model(x, head_mask=hm, causal=causal).argmax(-1) == y) & m
        right += int(ok.sum())
        total += int(m.sum())
        seqs += int((ok | ~m).all(1).sum())
    model.train(was)
    return {"token_acc": right / max(total, 1), "seq_acc": seqs / max(len(data), 1)}


def make_trainer(model, spec: TaskSpec, steps: int, lr: float = 3e-3, batch_size: int = 64,
                 optimizer: str = "AdamW", weight_decay: float = 0.0, seed: int = 0, device: str = "cpu",
                 n_train: int = 20_000, eval_every: int = 25, n_eval: int = 500,
                 watch: torch.Tensor | None = None, name: str = "run") -> Trainer:
    """A :class:`~dlviz.train.Trainer` on ``spec`` that records held-out ``token_acc`` / ``seq_acc`` and,
    every ``eval_every`` steps, the elapsed training time ``time_s`` and a snapshot of the attention on one
    ``watch`` example:
    ``{"weights": (L, H, T, T), "tokens": [...], "match": {pattern: (L, H)}}``."""
    from dlviz.attention.core import algorithm_patterns, match_score

    torch.manual_seed(seed)
    train = make_data(spec, n_train, seed=seed, split="train")
    test = make_data(spec, n_eval, seed=seed, split="test")
    watch_x = (watch if watch is not None else make_data(spec, 1, seed=seed, split="watch").inputs[0]).long()
    watch_scored = truth_targets(spec, watch_x)[1]
    pats = algorithm_patterns(spec, watch_x.unsqueeze(0), watch_scored.unsqueeze(0))
    tokens = [vocabularies(spec)[0][i] for i in watch_x.tolist()]

    def snapshot(m, step):
        _, att, _ = m.run(watch_x.unsqueeze(0).to(next(m.parameters()).device))
        w = att[0].cpu().numpy()
        return {"weights": w, "tokens": tokens, "patterns": {k: p[0] for k, p in pats.items()},
                "match": {k: match_score(w, p[0]) for k, p in pats.items()}}

    def evaluate(m):  # held-out accuracy, and the training time so far (pauses excluded)
        return {**task_metrics(m, test), "time_s": trainer.progress().elapsed_s}

    trainer = Trainer(model, loss_fn=task_loss, optimizer=make_optimizer(optimizer, model.parameters(), lr, weight_decay),
                      batches=batches(train.inputs, train.targets, train.mask, batch_size=batch_size, seed=seed),
                      steps=steps, grad_clip=1.0, eval_fn=evaluate, eval_every=eval_every,
                      snapshot_fn=snapshot, snapshot_every=eval_every, device=device, name=name)
    return trainer


def time_to_accuracy(trainer: Trainer, threshold: float = 0.99) -> tuple[int, float] | None:
    """``(step, seconds)`` of the first evaluation with held-out ``token_acc >= threshold``, or None."""
    steps, accs = trainer.history("token_acc")
    _, secs = trainer.history("time_s")
    for s, a, t in zip(steps, accs, secs):
        if a >= threshold:
            return s, t
    return None
