"""Shipped checkpoints of the seq2seq page: the same GRU encoder-decoder trained with Bahdanau's additive
attention and without attention -- 64 units per direction on the date task and on string reversal, 32 on the
toy translation between two invented languages (word order far from the diagonal).

Each card records exact match of greedy decoding on held-out examples, overall and per input-length
bucket (``em_len_A_B``); ``em_longest`` is the longest bucket -- where Bahdanau, Cho & Bengio (2015,
Fig. 2) saw the fixed-length encoder-decoder collapse. ``cpu_time_s`` is the training's process CPU time.
"""

from __future__ import annotations

import time

import torch

from dlviz.recipes import Recipe, register_recipe
from dlviz.seq2seq.core import exact_match_by_length, spec_of, test_set
from dlviz.seq2seq.training import make_trainer, new_model

HIDDEN, EMBED, BATCH = 64, 32, 64
# name -> (task, attention, steps, learning rate, units); a pair with and without attention has one size.
# The toy translation (word level, 25 source words) uses 32 units: enough for the task, and a quarter of the bytes.
PLANS = {
    "s2s_dates_attn": ("dates", "additive", 600, 3e-3, HIDDEN),
    "s2s_dates_plain": ("dates", "none", 600, 3e-3, HIDDEN),
    "s2s_reverse_attn": ("reverse", "additive", 900, 3e-3, HIDDEN),
    "s2s_reverse_plain": ("reverse", "none", 900, 3e-3, HIDDEN),
    "s2s_translate_attn": ("translate", "additive", 600, 3e-3, 32),
    "s2s_translate_plain": ("translate", "none", 600, 3e-3, 32),
}
# what each card promises (re-measured by tests/test_checkpoints.py)
CLAIMS: dict[str, dict[str, tuple[str, float]]] = {
    "s2s_dates_attn": {"exact_match": (">=", 0.98)},
    "s2s_dates_plain": {"exact_match": (">=", 0.95)},
    "s2s_reverse_attn": {"exact_match": (">=", 0.97), "em_longest": (">=", 0.95)},
    "s2s_reverse_plain": {"em_len_4_7": (">=", 0.8), "em_longest": ("<=", 0.1)},
    "s2s_translate_attn": {"exact_match": (">=", 0.98), "em_longest": (">=", 0.95)},
    "s2s_translate_plain": {"em_len_5_6": (">=", 0.15), "em_longest": ("<=", 0.05)},
}
TEST_N = 600


def evaluate_seq2seq(model) -> dict[str, float]:
    """Exact match on the task's held-out examples, overall and per input-length bucket (deterministic)."""
    curve = exact_match_by_length(model, test_set(spec_of(model), TEST_N))
    longest = [v for v in curve.accuracy if v == v][-1]
    return {"exact_match": curve.overall, "em_longest": float(longest), **curve.as_dict()}


def _make(name: str) -> Recipe:
    task, attention, steps, lr, hidden = PLANS[name]

    def build():
        return new_model(task, attention, hidden_size=hidden, embed_dim=EMBED)

    def train(model, device: str) -> dict:
        torch.set_num_threads(1)
        opt = torch.optim.Adam(model.parameters(), lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.05)
        c0 = time.process_time()
        tr = make_trainer(model, steps=steps, batch_size=BATCH, optimizer=opt, scheduler=sched, seed=0,
                          eval_every=0, device=device)
        tr.run()
        if tr.status != "finished":
            raise RuntimeError(f"training ended {tr.status}: {tr.message}")
        return {"dataset": f"dlviz.data.seq2seq_tasks.seq2seq_task({task!r}, 8000, seed=0) (train); "
                           f"dlviz.seq2seq.core.test_set (held out, {TEST_N})",
                "steps": steps, "batch_size": BATCH, "optimizer": f"Adam lr={lr:g}, cosine to 5%",
                "teacher_forcing": 1.0, "cpu_time_s": round(time.process_time() - c0, 1), "threads": 1}

    label = "additive attention" if attention == "additive" else "no attention"
    return Recipe(name=name, summary=f"GRU encoder-decoder ({hidden} units), {label}, on {task}", build=build,
                  train=train, evaluate=evaluate_seq2seq, claims=CLAIMS[name])


for _name in PLANS:
    register_recipe(_make(_name))
