"""The RNN page's shipped checkpoints, trained by :func:`dlviz.rnn_hidden_states.training.make_trainer`
exactly as the page's live runs are:

* ``rnn_code_lstm`` / ``rnn_code_gru`` / ``rnn_code_rnn`` -- character models of Python's standard
  library (Karpathy, Johnson & Fei-Fei, 2015), one per cell type, same width, so the page can compare
  their gradients through time on equal terms;
* ``rnn_bracket_lstm`` -- an LSTM that outputs the bracket depth after each character.
"""

from __future__ import annotations

from dlviz.recipes import Recipe, register_recipe
from dlviz.rnn_hidden_states.core import TRAIN_CHARS
from dlviz.rnn_hidden_states.training import TEXT_SEQ_LEN, Setup, build, make_trainer, task_accuracy


# ---------------------------------------------------------------------- shipped checkpoints
def _train_code(cell: str, steps: int, lr: float):
    def train(model, device: str) -> dict:
        make_trainer(model, lr=lr, steps=steps, batch_size=32, eval_every=0, seed=0, device=device,
                     cosine=True, name=f"code_{cell}").run()
        return {"dataset": f"code corpus (Python stdlib), first {TRAIN_CHARS:,} characters (rest held out)",
                "steps": steps, "batch_size": 32, "seq_len": TEXT_SEQ_LEN, "state": "carried across batches (TBPTT)",
                "optimizer": f"Adam lr={lr} cosine-annealed to 0, grad clip 1.0"}
    return train


def _evaluate_code(model) -> dict:
    from dlviz.rnn_hidden_states.core import corpus_split
    from dlviz.rnn_hidden_states.sampling import bits_per_char

    _, held = corpus_split()
    found = _best_r(model, ("in_string", "bracket_depth", "indent", "column"))
    return {"val_bpc": bits_per_char(model, held[:20_000]), **found}


def _best_r(model, names) -> dict:
    """The best single unit's |r| with each feature on held-out data (LSTM: cell state; else h)."""
    from dlviz.rnn_hidden_states.core import correlations, reference_states

    S, feats = reference_states(model, "c" if model.config.cell == "lstm" else "h")
    corr = correlations(S, {k: feats[k] for k in names})
    return {f"best_r_{k}": float(abs(corr[i]).max()) for i, k in enumerate(names)}


def _train_bracket(model, device: str) -> dict:
    steps = 1500
    make_trainer(model, lr=3e-3, steps=steps, batch_size=64, eval_every=0, seed=0, device=device,
                 cosine=True, name="bracket").run()
    return {"dataset": "sequence_task('bracket_depth', n=8000, length=48, seed=0)", "steps": steps,
            "batch_size": 64, "optimizer": "Adam lr=3e-3 cosine-annealed to 0, grad clip 1.0"}


def _evaluate_bracket(model) -> dict:
    return {**task_accuracy(model, "bracket_depth"), **_best_r(model, ("depth",))}


CODE_CLAIMS = {   # bits per held-out character; a bracket-depth unit for the gated cells
    "lstm": {"val_bpc": ("<=", 2.0), "best_r_bracket_depth": (">=", 0.5)},
    "gru": {"val_bpc": ("<=", 2.0), "best_r_bracket_depth": (">=", 0.5)},
    "rnn": {"val_bpc": ("<=", 2.25)},
}
for _cell, _steps, _lr in (("lstm", 10000, 3e-3), ("gru", 4000, 3e-3), ("rnn", 4000, 2e-3)):
    register_recipe(Recipe(
        name=f"rnn_code_{_cell}",
        summary=f"{_cell.upper()} char model (1 layer, 128 units) of Python's standard library",
        build=(lambda c=_cell: build(Setup("code", c, hidden_size=128, embed_dim=32))),
        train=_train_code(_cell, _steps, _lr), evaluate=_evaluate_code, claims=CODE_CLAIMS[_cell]))

register_recipe(Recipe(
    name="rnn_bracket_lstm",
    summary="LSTM (32 units) that outputs the bracket depth after each character of '( ) a' strings",
    build=lambda: build(Setup("bracket_depth", "lstm", hidden_size=32, embed_dim=8)),
    train=_train_bracket, evaluate=_evaluate_bracket,
    claims={"test_acc": (">=", 0.99), "best_r_depth": (">=", 0.9)}))
