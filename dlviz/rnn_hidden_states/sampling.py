"""Reading and writing with a character RNN: bits per character, temperature, sampling, task answers.

Sampling draws each character from ``softmax(logits / T)``: T -> 0 is greedy decoding (the argmax,
which loops), T = 1 is the model's own distribution, large T tends to uniform noise (Karpathy, Johnson &
Fei-Fei, 2015; Hinton, Vinyals & Dean, 2015 for the temperature). Bits per character is the
cross-entropy of next-character prediction in base 2 -- the number a compressor built on the model
would spend per character.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from dlviz.data import DataError
from dlviz.models.rnn import CharRNN
from dlviz.rnn_hidden_states.core import _device, _eval_copy, corpus_split, encode_text


@functools.lru_cache(maxsize=1)
def corpus_words() -> frozenset[str]:
    """Every identifier-like word of the training part of the corpus."""
    import re

    return frozenset(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", corpus_split()[0]))


@torch.no_grad()
def bits_per_char(model: CharRNN, text: str, chunk: int = 500) -> float:
    """Cross-entropy of next-character prediction in bits per character (chunks read from zero state)."""
    model = _eval_copy(model)
    ids, _ = encode_text(model, text)
    n = (len(ids) - 1) // chunk
    if n < 1:
        raise DataError(f"Need more than {chunk} characters to measure bits per character.")
    seq = ids[: n * chunk + 1]
    x = torch.stack([seq[i * chunk:(i + 1) * chunk] for i in range(n)])          # (n, chunk)
    y = torch.stack([seq[i * chunk + 1:(i + 1) * chunk + 1] for i in range(n)])
    logits = model(x.to(_device(model))).cpu()
    return float(F.cross_entropy(logits.flatten(0, 1), y.flatten())) / math.log(2)


def next_char_distribution(model: CharRNN, prompt: str, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` for the character after ``prompt``: ``(C,)`` (one-hot at T=0)."""
    model = _eval_copy(model)
    ids, _ = encode_text(model, prompt)
    with torch.no_grad():
        logits = model(ids[None].to(_device(model)))[0, -1].double().cpu()
    return _tempered(logits, temperature, model.config.task == "text").numpy()


def _tempered(logits: torch.Tensor, temperature: float, is_text: bool) -> torch.Tensor:
    logits = logits.clone()
    if is_text:
        logits[0] = -math.inf                                  # never emit the "unknown" id
    if temperature <= 1e-6:
        p = torch.zeros_like(logits)
        p[int(logits.argmax())] = 1.0
        return p
    return torch.softmax(logits / temperature, -1)


def entropy_bits(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=np.float64)
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


@torch.no_grad()
def sample(model: CharRNN, prompt: str, n: int = 300, temperature: float = 1.0, seed: int = 0) -> str:
    """``n`` characters drawn one at a time from ``softmax(logits / temperature)`` after ``prompt``."""
    if model.config.task != "text":
        raise DataError("Only a next-character model can write text.")
    model = _eval_copy(model)
    dev = _device(model)
    ids, _ = encode_text(model, prompt or "\n")
    g = torch.Generator().manual_seed(seed)
    logits, state = model.forward_with_state(ids[None].to(dev))
    last = logits[0, -1].double().cpu()
    out = []
    for _ in range(n):
        p = _tempered(last, temperature, True)
        nxt = int(torch.multinomial(p, 1, generator=g))
        out.append(nxt)
        logits, state = model.forward_with_state(torch.tensor([[nxt]], device=dev), state)
        last = logits[0, -1].double().cpu()
    return model.decode(out)


MAX_PROMPT = 2000


def read_prompt(model: CharRNN, prompt: str, max_chars: int = MAX_PROMPT) -> tuple[str, list[str]]:
    """``(the prompt the sampler reads, notes)``: what it does differently from what was typed, in words.

    An empty prompt starts from a newline; a prompt over ``max_chars`` characters is cut to its last
    ``max_chars`` (the state after reading them is what the sampler continues from); characters the model
    never saw (accents, control characters such as NUL) are read as its "unknown" character. Never raises.
    """
    notes = []
    if len(prompt) > max_chars:
        notes.append(f"The prompt has {len(prompt):,} characters; the sampler reads only its last {max_chars:,} "
                     "and continues from there.")
        prompt = prompt[-max_chars:]
    if not prompt:
        notes.append("The prompt is empty: sampling starts from a newline.")
        return "", notes
    _, unknown = encode_text(model, prompt)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
        notes.append(f"The model never saw {shown} in training: it reads "
                     f"{'each of them' if len(unknown) > 1 else 'it'} as an unknown character, so what follows is "
                     "a guess from the rest of the prompt.")
    return prompt, notes


def known_word_rate(sample_text: str, known: set[str]) -> float:
    """Share of the identifier-like words in ``sample_text`` that occur in ``known`` (nan if none)."""
    import re

    words = re.findall(r"[A-Za-z_][A-Za-z_0-9]*", sample_text)
    return float(np.mean([w in known for w in words])) if words else float("nan")


@torch.no_grad()
def task_predictions(model: CharRNN, text: str) -> np.ndarray:
    """The class a task model predicts at every position of ``text``: ``(T,)`` int."""
    model = _eval_copy(model)
    ids, _ = encode_text(model, text)
    return model(ids[None].to(_device(model)))[0].argmax(-1).cpu().numpy()


