"""Synthetic sequence tasks whose correct answer -- and correct attention / hidden state -- is known.

* ``copy``     y = x
* ``reverse``  y = x reversed (the ideal attention of output i is on input L-1-i)
* ``sort``     y = sorted(x)
* ``bracket_depth``  x is a string over ``( ) a``; y_t = nesting depth after reading x_t
* ``counting`` y_t = how many times x_t has appeared in x_0..x_t (capped)
* ``induction`` x = random tokens followed by a repeat of them; in the repeat, y_t = x_{t+1}, the
  token that followed the previous occurrence of x_t (Olsson et al., 2022, induction heads)

Two layouts:

* aligned (``causal=False``): ``inputs`` and ``targets`` are ``(N, L)`` and position t is labelled
  by ``targets[:, t]`` -- for encoders and RNNs that read the whole input;
* causal (``causal=True``): for copy/reverse/sort the sequence is ``x SEP y`` and the model predicts
  the next token; ``mask`` marks the positions whose next token is part of y. Bracket depth,
  counting and induction are causal already and keep their aligned layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlviz.data.core import DataError

TASKS = ("copy", "reverse", "sort", "bracket_depth", "counting", "induction")
_SYMBOLS = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class SequenceTask:
    """A batch of task examples.

    inputs: ``(N, T)`` int64 token ids; targets: ``(N, T)`` int64 class ids; mask: ``(N, T)`` bool,
    True where the target is scored. ``input_vocab`` / ``target_vocab`` name the ids.
    """

    name: str
    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    input_vocab: list[str]
    target_vocab: list[str]
    causal: bool
    sep: int | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def decode_input(self, ids) -> str:
        return "".join(self.input_vocab[int(i)] for i in ids)

    def encode_input(self, text: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.input_vocab)}
        bad = sorted({c for c in text if c not in index})
        if bad:
            raise DataError(f"Characters {''.join(bad)!r} are not in this task's vocabulary "
                            f"{''.join(self.input_vocab)!r}.")
        return torch.tensor([index[c] for c in text], dtype=torch.long)


def _aligned_targets(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "copy":
        return x.clone()
    if name == "reverse":
        return x.flip(1)
    if name == "sort":
        return x.sort(dim=1).values
    raise AssertionError(name)


def bracket_depth_targets(x: torch.Tensor, open_id: int = 0, close_id: int = 1) -> torch.Tensor:
    """Depth after each token: cumulative sum of +1 for ``(`` and -1 for ``)``."""
    step = (x == open_id).long() - (x == close_id).long()
    return step.cumsum(dim=1)


def count_targets(x: torch.Tensor, cap: int) -> torch.Tensor:
    """For each position, the number of times its token has appeared so far (inclusive), capped."""
    onehot = torch.nn.functional.one_hot(x, int(x.max()) + 1)
    running = onehot.cumsum(dim=1)
    return running.gather(2, x.unsqueeze(-1)).squeeze(-1).clamp(max=cap)


def sequence_task(name: str, n: int = 1000, length: int = 12, vocab_size: int = 8, seed: int = 0,
                  causal: bool = False, max_depth: int = 8, max_count: int = 8) -> SequenceTask:
    """Generate ``n`` examples of task ``name`` with sequences of ``length`` tokens."""
    if name not in TASKS:
        raise DataError(f"Unknown task {name!r}; choose one of {', '.join(TASKS)}.")
    if not 2 <= vocab_size <= len(_SYMBOLS):
        raise DataError(f"vocab_size must be in [2, {len(_SYMBOLS)}]")
    if length < 2:
        raise DataError("length must be at least 2")
    g = torch.Generator().manual_seed(seed)
    symbols = list(_SYMBOLS[:vocab_size])

    if name == "bracket_depth":
        # a random walk on depth that never goes below 0 nor above max_depth; 'a' is a filler token
        x = torch.empty(n, length, dtype=torch.long)
        depth = torch.zeros(n, dtype=torch.long)
        for t in range(length):
            r = torch.rand(n, generator=g)
            tok = torch.where(r < 0.4, 0, torch.where(r < 0.8, 1, 2))
            tok = torch.where((tok == 1) & (depth == 0), 0, tok)
            tok = torch.where((tok == 0) & (depth >= max_depth), 1, tok)
            depth = depth + (tok == 0).long() - (tok == 1).long()
            x[:, t] = tok
        y = bracket_depth_targets(x)
        return SequenceTask(name, x, y, torch.ones_like(x, dtype=torch.bool), ["(", ")", "a"],
                            [str(d) for d in range(max_depth + 1)], causal=True)

    if name == "counting":
        x = torch.randint(0, vocab_size, (n, length), generator=g)
        y = count_targets(x, max_count)
        return SequenceTask(name, x, y, torch.ones_like(x, dtype=torch.bool), symbols,
                            [str(c) for c in range(max_count + 1)], causal=True)

    if name == "induction":
        half = length // 2
        first = torch.randint(0, vocab_size, (n, half), generator=g)
        x = torch.cat([first, first], dim=1)[:, :length]
        if x.shape[1] < length:  # odd length: pad with one random token
            x = torch.cat([x, torch.randint(0, vocab_size, (n, 1), generator=g)], dim=1)
        y = torch.roll(x, -1, dims=1)
        mask = torch.zeros_like(x, dtype=torch.bool)
        mask[:, half:2 * half - 1] = True  # in the repeat, the next token is predictable
        return SequenceTask(name, x, y, mask, symbols, symbols, causal=True)

    x = torch.randint(0, vocab_size, (n, length), generator=g)
    y = _aligned_targets(name, x)
    if not causal:
        return SequenceTask(name, x, y, torch.ones_like(x, dtype=torch.bool), symbols, symbols, causal=False)
    sep = vocab_size
    seq = torch.cat([x, torch.full((n, 1), sep), y], dim=1)  # (N, 2L+1)
    inputs, targets = seq[:, :-1], seq[:, 1:]
    mask = torch.zeros_like(inputs, dtype=torch.bool)
    mask[:, length:] = True  # positions L..2L-1 predict y_0..y_{L-1}
    return SequenceTask(name, inputs, targets, mask, symbols + ["|"], symbols + ["|"], causal=True, sep=sep)
