"""Shipped checkpoints for the Transformer-attention page: tiny transformers on tasks with a known algorithm.

* ``attn_reverse``      decoder, ``x|y`` reverse of 8 tokens; its first-layer heads read the mirrored position;
* ``attn_reverse_enc``  the same task for a bidirectional encoder (output i aligned with input i);
* ``attn_sort``         decoder, ``x|y`` sort of 8 tokens;
* ``attn_induction``    attention-only, 2 layers, sinusoidal positions, on repeated random sequences of
  varying length: a previous-token head in layer 1 and an induction head in layer 2 (Olsson et al., 2022);
* ``attn_code``         a character-level language model on Python's standard library.

Every card stores the task under ``card["task"]`` (a :class:`dlviz.attention.training.TaskSpec`) and the
name of the algorithm the page scores the heads against under ``card["algorithm"]``.
"""

from __future__ import annotations

import math

import numpy as np

from dlviz.attention.core import dataset_match
from dlviz.attention.training import TaskSpec, build_for_task, make_data, make_trainer, task_metrics
from dlviz.recipes import Recipe, register_recipe


def _recipe(name: str, summary: str, spec: TaskSpec, arch: dict, steps: int, lr: float, algorithm: str | None,
            claims: dict, batch_size: int = 64, n_test: int = 2000, seed: int = 0) -> Recipe:
    def train(model, device: str) -> dict:
        make_trainer(model, spec, steps, lr=lr, batch_size=batch_size, optimizer="AdamW", seed=seed,
                     device=device, eval_every=max(steps // 10, 1), name=name).run()
        return {"task": spec.to_dict(), "algorithm": algorithm, "architecture": arch, "steps": steps,
                "batch_size": batch_size, "optimizer": f"AdamW lr={lr:g}, grad clip 1.0",
                "dataset": f"dlviz.attention.training.make_data({spec!r}, 20000, seed={seed}) (train split)"}

    def evaluate(model) -> dict:
        test = make_data(spec, n_test, seed=seed, split="test")
        m = task_metrics(model, test)
        out = {"test_acc": m["token_acc"], "test_seq_acc": m["seq_acc"]}
        if spec.name == "code":
            out["test_bits_per_char"] = _bits_per_char(model, test)
        for pattern, score in dataset_match(model, spec, n=256, seed=seed).items():
            key = pattern.replace(" ", "_") + "_match"
            out[key] = float(np.nanmax(score)) if np.isfinite(score).any() else 0.0
        return out

    return register_recipe(Recipe(name=name, summary=summary, build=lambda: build_for_task(spec, **arch),
                                  train=train, evaluate=evaluate, claims=claims, seed=seed))


def _bits_per_char(model, data) -> float:
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        logits = model(data.inputs)
        nats = F.cross_entropy(logits[data.mask], data.targets[data.mask])
    return float(nats) / math.log(2)


_recipe("attn_reverse", "TinyTransformer decoder (2 layers x 2 heads, d=32) reversing 8 tokens as x|y",
        TaskSpec("reverse", 8, 8, "decoder"), dict(n_layer=2, n_head=2, n_embd=32), steps=600, lr=2e-3,
        algorithm="mirror", claims={"test_acc": (">=", 0.99), "mirror_match": (">=", 0.95)})
_recipe("attn_reverse_enc", "TinyTransformer encoder (1 layer x 2 heads, d=32) reversing 8 tokens in place",
        TaskSpec("reverse", 8, 8, "encoder"), dict(n_layer=1, n_head=2, n_embd=32), steps=400, lr=2e-3,
        algorithm="mirror", claims={"test_acc": (">=", 0.99), "mirror_match": (">=", 0.95)})
_recipe("attn_sort", "TinyTransformer decoder (2 layers x 2 heads, d=32, sinusoidal) sorting 8 tokens as x|y",
        TaskSpec("sort", 8, 8, "decoder"), dict(n_layer=2, n_head=2, n_embd=32, positions="sinusoidal"),
        steps=2000, lr=2e-3, algorithm="next in sorted order", claims={"test_acc": (">=", 0.99)})
_recipe("attn_induction", "Attention-only TinyTransformer (2 x 2 heads, d=48, sinusoidal) continuing repeats",
        TaskSpec("induction", 24, 36, "decoder", min_length=12),
        dict(n_layer=2, n_head=2, n_embd=48, positions="sinusoidal", mlp_ratio=0), steps=3000, lr=2e-3,
        algorithm="induction",
        claims={"test_acc": (">=", 0.98), "induction_match": (">=", 0.95), "previous_token_match": (">=", 0.9)})
_recipe("attn_code", "Character-level TinyTransformer LM (2 layers x 4 heads, d=48) on Python's standard library",
        TaskSpec("code", 128, 0, "decoder"), dict(n_layer=2, n_head=4, n_embd=48), steps=3000, lr=3e-3,
        algorithm="induction", batch_size=32, claims={"test_acc": (">=", 0.55)})
