"""Transformer-attention page rows: the server-side work of each interaction, and live training to 99 %.

Run alone with ``python benchmarks/bench_attention.py`` (prints the rows), or through ``benchmarks/run.py``.
Wall times depend on how busy the machine is; the live-training rows also give the process CPU time,
which is what an idle machine would take.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dlviz.attention import core as A  # noqa: E402
from dlviz.attention import training as T  # noqa: E402
from dlviz.checkpoints import load_shipped, shipped  # noqa: E402
from dlviz.attention import plots as P  # noqa: E402
from timing import best_of  # benchmarks/timing.py

INPUTS = {"attn_reverse": "abcdefgh", "attn_reverse_enc": "abcdefgh", "attn_sort": "hcafbdge",
          "attn_induction": "k3x9qmz7k3x9qmz7", "attn_code": None}


def _best(fn, repeat: int = 5) -> float:
    return best_of(fn, repeat)


def _code_text(n: int) -> str:
    from dlviz.data import code_text

    return code_text(20_000)[5_000:5_000 + n]


def _model_rows(name: str, text: str | None) -> list[dict]:
    model, card = load_shipped(name, expected_arch="tiny_transformer")
    spec = T.TaskSpec.from_dict(card["task"])
    text = text or _code_text(spec.length)
    L, H = model.config.n_layer, model.config.n_head
    area = f"attention: {name}"
    out = []
    t = _best(lambda: A.analyse(model, spec, text))
    out.append(dict(area=area, what=f"analyse a typed input ({len(text)} chars)", value=t * 1000, unit="ms",
                    budget="< 150 ms"))
    mask = np.ones((L, H))
    mask[0, 0] = 0
    t = _best(lambda: A.analyse(model, spec, text, head_mask=mask, causal=not model.config.causal))
    out.append(dict(area=area, what="analyse with a head off and the mask flipped", value=t * 1000, unit="ms",
                    budget="< 150 ms"))
    view = A.analyse(model, spec, text)
    t = _best(lambda: P.heads_grid(view.weights, view.tokens, pattern=next(iter(view.patterns.values()), None)))
    out.append(dict(area=area, what=f"figure: {L}x{H} heads grid", value=t * 1000, unit="ms", budget="< 100 ms"))
    query = None if len(view.tokens) <= 40 else len(view.tokens) - 1        # as the page: long input, last query
    t = _best(lambda: P.arcs_figure(view.weights[0], view.tokens, query=query))
    out.append(dict(area=area, what=f"figure: arcs of layer 1 ({'all queries' if query is None else 'one query'})",
                    value=t * 1000, unit="ms", budget="< 100 ms"))
    t = _best(lambda: P.arcs_figure(view.weights[0], view.tokens))
    if query is not None:
        out.append(dict(area=area, what="figure: arcs of layer 1 (all queries)", value=t * 1000, unit="ms",
                        budget="< 300 ms"))
    n_match, n_acc = (int(np.clip(k // spec.block_size, 32, 500)) for k in (4096, 8000))   # as the page
    t = _best(lambda: A.dataset_match(model, spec, n=n_match), repeat=2)
    out.append(dict(area=area, what=f"algorithm match of every head, {n_match} test sequences (cached)",
                    value=t * 1000, unit="ms", budget="< 1000 ms"))
    t = _best(lambda: A.head_ablation(model, spec, n=n_acc), repeat=2)
    out.append(dict(area=area, what=f"ablate each of {L * H} heads, {n_acc} test sequences (cached)",
                    value=t * 1000, unit="ms", budget="< 2000 ms"))
    return out


def interaction_rows() -> list[dict]:
    ships = shipped()
    return [row for name, text in INPUTS.items() if name in ships for row in _model_rows(name, text)]


def live_training_rows(tasks=("reverse", "copy"), threads: int = 2) -> list[dict]:
    """The page's default live run (1 layer x 2 heads, width 64, AdamW 1e-3, batch 64, 300 steps) until 99 %."""
    out = []
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for task in tasks:
            spec = T.TaskSpec(task, 8, 8, "decoder")
            torch.manual_seed(0)
            model = T.build_for_task(spec, 1, 2, 64)
            tr = T.make_trainer(model, spec, 300, lr=1e-3, batch_size=64, optimizer="AdamW", eval_every=10,
                                n_eval=256)
            c0 = time.process_time()
            tr.run()
            cpu = time.process_time() - c0
            hit = T.time_to_accuracy(tr, 0.99)
            area = f"attention: live {task} (decoder, length 8)"
            if hit is None:
                out.append(dict(area=area, what="never reached 99 % held-out token accuracy in 300 steps",
                                value=float("nan"), unit="s", budget="< 90 s"))
                continue
            step, wall = hit
            out.append(dict(area=area, what=f"wall time to 99 % held-out token accuracy (step {step})", value=wall,
                            unit="s", budget="< 90 s"))
            out.append(dict(area=area, what=f"CPU time for all 300 steps ({threads} threads)", value=cpu, unit="s",
                            budget="-"))
    finally:
        torch.set_num_threads(old)
    return out


def rows() -> list[dict]:
    return interaction_rows() + live_training_rows()


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for r in rows():
        print(f"{r['area']:42s} {r['what']:62s} {r['value']:9.1f} {r['unit']:5s} {r['budget']}")
