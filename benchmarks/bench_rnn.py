"""RNN hidden-states rows: the server-side work behind each interaction of the page (a 200-character text
on the shipped code LSTM), the first-load analyses, and live training of a bracket-depth LSTM to 99 %.

    python benchmarks/run.py --only rows       # with every other module's rows
    python benchmarks/bench_rnn.py             # these rows only
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as app/Home.py sets it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from timing import best_of  # benchmarks/timing.py

AREA = "page: rnn_hidden_states"


def _best(fn, repeat: int = 3) -> float:
    return best_of(fn, repeat)


def _row(what: str, seconds: float, budget: str, unit: str = "ms") -> dict:
    return {"area": AREA, "what": what, "value": seconds * (1000 if unit == "ms" else 1), "unit": unit,
            "budget": budget}


def interaction_rows() -> list[dict]:
    from dlviz.rnn_hidden_states import core as R
    from dlviz.rnn_hidden_states import sampling as G
    from dlviz.checkpoints import load_shipped
    from dlviz.rnn_hidden_states import plots as P

    model, _ = load_shipped("rnn_code_lstm", expected_arch="char_rnn")
    _, held = R.corpus_split()
    text = held[40_000:40_200]                                     # 200 held-out characters
    out = []

    def typing():                                                  # a new text: everything the first tab redraws
        hs = R.hidden_states(model, text)
        S = hs.states("c")
        R.correlations(S, R.features_of("text", text))
        P.states_heatmap(S / np.maximum(np.abs(S).max(0), 1e-6), text, list(range(48)), zmax=1.0)
        P.colored_text_html(text, S[:, 0])

    typing()
    out.append(_row("type a 200-char text: states, features, r, heatmap, coloured text", _best(typing), "< 200 ms"))
    hs = R.hidden_states(model, text)
    S = hs.states("c")
    out.append(_row("switch unit: recolour the 200-char text", _best(lambda: P.colored_text_html(text, S[:, 7])),
                    "< 50 ms"))
    out.append(_row("PCA of the 200 states (2-D) + figure",
                    _best(lambda: P.trajectory_figure(R.pca(S, 2).coords, text)), "< 100 ms"))
    sat = R.gate_saturation(hs)
    out.append(_row("gates tab: heatmaps + saturation figures",
                    _best(lambda: (P.gates_heatmaps({k: v[0] for k, v in hs.gates.items()}, text, list(range(32))),
                                   P.saturation_figure(sat.left, sat.right, sat.low, sat.high))), "< 150 ms"))
    out.append(_row("sample 300 characters (temperature 0.8)", _best(lambda: G.sample(model, "def ", 300, 0.8)),
                    "< 300 ms"))
    out.append(_row("first load: unit search on 6,000 held-out chars (cached after)",
                    _best(lambda: R.correlations(*R.reference_states(model, "c")), repeat=1), "< 3000 ms"))
    out.append(_row("gradient through time, 200 chars, one model (autograd, float64)",
                    _best(lambda: R.gradient_through_time(model, text, "h"), repeat=1), "< 1500 ms"))
    rnn = R.fresh_model("rnn", 128, spectral_radius=1.0, vocab=model.config.vocab)
    out.append(_row("spectral-radius slider: untrained RNN gradient, 200 chars",
                    _best(lambda: R.gradient_through_time(rnn, text, "h"), repeat=1), "< 1000 ms"))
    try:
        import umap  # noqa: F401
        out.append(_row("UMAP of the 200 states (first call compiles)", _best(lambda: R.umap(S, 2), repeat=1),
                        "-", unit="s"))
    except ImportError:
        pass
    return out


def training_rows(target: float = 0.99, max_steps: int = 1500) -> list[dict]:
    """The page's default live run: a 32-unit LSTM on bracket depth, until held-out accuracy >= target."""
    from dlviz.rnn_hidden_states.training import Setup, build, make_trainer

    model = build(Setup("bracket_depth", "lstm", hidden_size=32, embed_dim=16, seed=0))
    trainer = make_trainer(model, lr=3e-3, steps=50, batch_size=64, eval_every=0, seed=0)
    t0, c0 = time.perf_counter(), time.process_time()
    reached = None
    while True:                                   # 50 steps at a time; each run ends with a held-out test
        trainer.run()
        if trainer.latest("test_acc") >= target:
            reached = trainer.step
            break
        if trainer.step >= max_steps or trainer.status != "finished":
            break
        trainer.extend(50)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    label = f"live training: bracket-depth LSTM to {target:.0%} test accuracy"
    return [{"area": "train: rnn bracket depth", "what": label + (f" ({reached} steps)" if reached else " (NOT reached)"),
             "value": wall, "unit": "s", "budget": "< 60 s"},
            {"area": "train: rnn bracket depth", "what": "  the same, CPU seconds of the process", "value": cpu,
             "unit": "s", "budget": "-"},
            {"area": "train: rnn bracket depth", "what": f"  steps/s ({torch.get_num_threads()} torch threads)",
             "value": trainer.step / wall, "unit": "steps/s", "budget": "-"}]


def rows() -> list[dict]:
    from dlviz.checkpoints import shipped

    out = []
    if "rnn_code_lstm" in shipped():
        out += interaction_rows()
    else:
        out.append({"area": AREA, "what": "SKIPPED: rnn_code_lstm is not shipped", "value": float("nan"),
                    "unit": "", "budget": ""})
    return out + training_rows()


if __name__ == "__main__":
    for r in rows():
        print(f"{r['area']:28s} {r['what']:72s} {r['value']:10.3g} {r['unit']:8s} {r['budget']}")
