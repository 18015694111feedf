"""RNN hidden states: the model's traces, text features, unit search, projections, gates, gradients
through time (autograd vs closed form and brute-force Jacobians), sampling, and live training."""

from __future__ import annotations

import io
import itertools
import math
import sysconfig
import tokenize
from pathlib import Path

import numpy as np
import pytest
import torch

from dlviz.rnn_hidden_states import core as R
from dlviz.rnn_hidden_states import sampling as G
from dlviz.data import DataError, sequence_task
from dlviz.data.sequence_tasks import bracket_depth_targets, count_targets
from dlviz.models import build_model
from dlviz.rnn_hidden_states.text_features import FEATURES, task_features, text_features

CELLS = ("rnn", "gru", "lstm")


def small(cell: str, layers: int = 1, hidden: int = 12, seed: int = 0, **kw):
    torch.manual_seed(seed)
    return build_model("char_rnn", cell=cell, hidden_size=hidden, embed_dim=6, num_layers=layers, **kw).eval()


# ---------------------------------------------------------------------- the model
@pytest.mark.parametrize("cell", CELLS)
def test_trace_matches_the_modules(cell):
    m = small(cell, layers=2)
    x = torch.randint(1, len(m.config.vocab), (3, 17))
    tr = m.trace(x)
    assert tr.h.shape == (2, 3, 17, 12)
    torch.testing.assert_close(tr.logits, m(x), atol=1e-5, rtol=1e-5)
    nodes, h_last = m.step_states(x, "h")
    torch.testing.assert_close(h_last.detach(), tr.h[-1, :, -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.stack(nodes, 1).detach(), tr.h[-1], atol=1e-5, rtol=1e-5)


def test_lstm_gates_and_cells_match_an_independent_lstm_cell():
    m = small("lstm")
    x = torch.randint(1, len(m.config.vocab), (2, 15))
    tr = m.trace(x)
    lay = m.layers[0]
    cell = torch.nn.LSTMCell(6, 12)
    cell.load_state_dict({"weight_ih": lay.weight_ih_l0, "weight_hh": lay.weight_hh_l0,
                          "bias_ih": lay.bias_ih_l0, "bias_hh": lay.bias_hh_l0})
    h = c = torch.zeros(2, 12)
    emb = m.embed(x)
    with torch.no_grad():
        for t in range(15):
            pre = emb[:, t] @ lay.weight_ih_l0.T + lay.bias_ih_l0 + h @ lay.weight_hh_l0.T + lay.bias_hh_l0
            h, c = cell(emb[:, t], (h, c))
            torch.testing.assert_close(tr.c[0, :, t], c, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(tr.gates["forget"][0, :, t], torch.sigmoid(pre[:, 12:24]), atol=1e-5,
                                       rtol=1e-5)
    o = tr.gates["output"]
    torch.testing.assert_close(o * torch.tanh(tr.c), tr.h, atol=1e-5, rtol=1e-5)
    for g in ("input", "forget", "output"):
        assert tr.gates[g].min() >= 0 and tr.gates[g].max() <= 1


def test_gru_gates_reproduce_the_hidden_state():
    m = small("gru")
    tr = m.trace(torch.randint(1, 90, (2, 11)))
    h_prev = torch.cat([torch.zeros_like(tr.h[:, :, :1]), tr.h[:, :, :-1]], dim=2)
    z, n = tr.gates["update"], tr.gates["new"]
    torch.testing.assert_close((1 - z) * n + z * h_prev, tr.h, atol=1e-5, rtol=1e-5)


def test_forget_bias_is_set_and_config_is_validated():
    m = small("lstm", forget_bias=2.5)
    b = m.layers[0].bias_ih_l0 + m.layers[0].bias_hh_l0
    assert torch.allclose(b[12:24], torch.full((12,), 2.5))
    with pytest.raises(ValueError):
        build_model("char_rnn", cell="transformer")


def test_encoding_unknown_characters_and_task_vocabulary():
    m = small("lstm")
    ids, unknown = R.encode_text(m, "x = 'é'\n")
    assert unknown == ["é"] and ids[5] == 0 and m.decode(ids[:3]) == "x ="
    with pytest.raises(DataError, match="empty"):
        R.encode_text(m, "")
    task = build_model("char_rnn", vocab="()a", num_classes=9, task="bracket_depth", hidden_size=4)
    assert R.encode_text(task, "(a)")[0].tolist() == [0, 2, 1]
    with pytest.raises(DataError, match="reads only"):
        R.encode_text(task, "(b)")


# ---------------------------------------------------------------------- text features
def _tokenize_truth(src: str):
    lines = src.splitlines(keepends=True)
    starts = np.cumsum([0] + [len(line) for line in lines])
    n = len(src)
    s, c, d, tq = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        a = starts[tok.start[0] - 1] + tok.start[1]
        b = starts[tok.end[0] - 1] + tok.end[1]
        if tok.type == tokenize.STRING:
            k = next(i for i, ch in enumerate(tok.string) if ch in "'\"")   # skip the prefix (f, r, b)
            s[a + k:b - 1] = 1             # inside from the opening quote until the closing one is read
            tq[a + k:b - 1] = tok.string[k:k + 3] in ('"' * 3, "'" * 3)
        elif tok.type == tokenize.COMMENT:
            c[a:b] = 1
        elif tok.type == tokenize.OP and tok.string in "([{":
            d[a] += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            d[a] -= 1
    return s, c, np.cumsum(d), tq


@pytest.mark.parametrize("module", ["textwrap.py", "shlex.py", "tokenize.py", "string.py"])
def test_string_comment_and_bracket_features_agree_with_pythons_tokenizer(module):
    src = (Path(sysconfig.get_paths()["stdlib"]) / module).read_text().expandtabs(4)
    feats = text_features(src)
    s, c, d, tq = _tokenize_truth(src)
    assert np.array_equal(feats["in_string"], s)
    assert np.array_equal(feats["in_docstring"], tq) and np.array_equal(feats["in_short_string"], s - tq)
    assert tq.sum() > 100 and (s - tq).sum() > 100
    assert np.array_equal(feats["in_comment"], c)
    assert np.array_equal(feats["bracket_depth"], d)


def test_features_of_a_hand_written_line():
    text = "    x = f(a, 'b)')  # ok\ny"
    f = text_features(text)
    assert set(f) == set(FEATURES) and all(len(v) == len(text) for v in f.values())
    i = text.index("'")
    assert f["in_string"][i:i + 3].tolist() == [1, 1, 1] and f["in_string"][i + 3] == 0
    assert f["bracket_depth"][text.index("(")] == 1 and f["bracket_depth"][text.index(")  ")] == 0
    assert f["paren_depth"][text.index("b")] == 1        # the ')' inside the string does not close
    assert f["indent"][:6].tolist() == [1, 2, 3, 4, 4, 4]
    assert f["column"][:3].tolist() == [1, 2, 3] and f["column"][text.index("\n")] == 0
    assert f["in_comment"][text.index("ok")] == 1 and f["in_comment"][-1] == 0
    assert f["word_length"][text.index("x")] == 1 and f["is_newline"].sum() == 1
    assert text_features("a.bc")["after_dot"].tolist() == [0, 0, 1, 1]
    assert text_features('"""a\n"b"\n"""x')["in_string"].tolist() == [1] * 11 + [0, 0]


def test_task_features_match_the_task_targets():
    data = sequence_task("bracket_depth", n=5, length=30, seed=3)
    for row in data.inputs:
        text = data.decode_input(row)
        depth = task_features("bracket_depth", text)["depth"]
        assert np.array_equal(depth, bracket_depth_targets(row[None])[0].numpy())
    data = sequence_task("counting", n=5, length=25, vocab_size=4, seed=3)
    for row in data.inputs:
        text = data.decode_input(row)
        f = task_features("counting", text, "abcd")
        assert np.array_equal(np.minimum(f["count"], 8), count_targets(row[None], 8)[0].numpy())
        assert np.array_equal(sum(f[f"count_{s}"] for s in "abcd"), np.arange(1, 26))


# ---------------------------------------------------------------------- units and projections
def test_correlations_equal_numpy_corrcoef_and_constants_give_zero():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 7))
    X[:, 3] = 1.5                                             # a dead unit
    feats = {"a": rng.normal(size=200), "b": X[:, 5] * -2 + 1, "const": np.zeros(200)}
    C = R.correlations(X, feats)
    for f, v in enumerate(feats.values()):
        for u in range(7):
            want = 0.0 if u == 3 or f == 2 else np.corrcoef(v, X[:, u])[0, 1]
            assert C[f, u] == pytest.approx(want, abs=1e-12)
    top = R.best_units(C, list(feats), per_feature=1)
    assert (top[0].feature, top[0].unit) == ("b", 5) and top[0].r == pytest.approx(-1.0)


def test_pca_matches_scikit_learn():
    from sklearn.decomposition import PCA

    X = np.random.default_rng(1).normal(size=(60, 9)) @ np.diag(np.arange(1, 10.0))
    p = R.pca(X, 3)
    ref = PCA(3).fit(X)
    np.testing.assert_allclose(np.abs(p.coords), np.abs(ref.transform(X)), atol=1e-8)
    np.testing.assert_allclose(p.explained, ref.explained_variance_ratio_, atol=1e-10)


def test_linear_probe_recovers_a_linear_target_and_not_noise():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 6))
    targets = {"linear": X @ np.array([1.0, -2, 0, 0, 3, 0]) + 0.5, "noise": rng.normal(size=2000),
               "constant": np.ones(2000)}
    r2 = R.probe_r2(X, targets)
    assert r2["linear"] == pytest.approx(1.0, abs=1e-6)
    assert abs(r2["noise"]) < 0.02 and math.isnan(r2["constant"])


def test_gate_saturation_counts():
    hs = R.HiddenStates("ab", np.zeros(4), np.zeros((1, 4, 2)), None,
                        gates={"forget": np.array([[[0.05, 0.5], [0.95, 0.5], [0.95, 0.99], [0.5, 0.01]]])})
    sat = R.gate_saturation(hs)
    assert sat.left["forget"].tolist() == [0.25, 0.25] and sat.right["forget"].tolist() == [0.5, 0.25]
    assert sat.overall("forget") == pytest.approx(0.625)


# ---------------------------------------------------------------------- gradients through time
def test_vanilla_rnn_jacobians_equal_the_closed_form_product():
    m = small("rnn", hidden=10)
    ids = torch.randint(1, 90, (14,))
    J = R.jacobians_through_time(m, ids, "h")                # (T, H, H), computed in float64
    assert J.dtype == torch.float64
    m = m.double()
    h = m.trace(ids[None]).h[0, 0]                            # (T, H)
    W = m.layers[0].weight_hh_l0.detach()
    P = torch.eye(10, dtype=torch.float64)
    for t in range(13, -1, -1):                               # dh_T/dh_t = prod_s diag(1 - h_s^2) W
        torch.testing.assert_close(J[t], P, atol=1e-12, rtol=1e-9)
        if t > 0:
            P = P @ (torch.diag(1 - h[t] ** 2) @ W)


@pytest.mark.parametrize("wrt", ["h", "c"])
def test_lstm_jacobian_equals_brute_force(wrt):
    m = small("lstm", hidden=8).double()
    ids = torch.randint(1, 90, (10,))
    J = R.jacobians_through_time(m, ids, wrt)
    tr = m.trace(ids[None])
    emb = m.embed(ids[None]).detach()
    t = 4
    h_t, c_t = tr.h[0, :, t], tr.c[0, :, t]

    def rest(v):                                             # run steps t+1.. from a perturbed state
        state = (v[None, None], c_t[None]) if wrt == "h" else (h_t[None], v[None, None])
        out, _ = m.layers[0](emb[:, t + 1:], state)
        return out[0, -1]

    ref = torch.autograd.functional.jacobian(rest, (h_t if wrt == "h" else c_t)[0].clone())
    torch.testing.assert_close(J[t], ref, atol=1e-12, rtol=1e-9)
    # lag 0: dh_T/dh_T = I; dh_T/dc_T = diag(o_T * (1 - tanh(c_T)^2))
    o, c = tr.gates["output"][0, 0, -1], tr.c[0, 0, -1]
    last = torch.eye(8, dtype=torch.float64) if wrt == "h" else torch.diag(o * (1 - torch.tanh(c) ** 2))
    torch.testing.assert_close(J[-1], last, atol=1e-12, rtol=1e-9)


def test_input_jacobian_by_finite_differences():
    m = small("gru", hidden=6).double()
    ids = torch.randint(1, 90, (8,))
    J = R.jacobians_through_time(m, ids, "x")                # (T, H, E)
    emb = m.embed(ids[None]).detach()
    t, e, eps = 3, 2, 1e-6
    plus, minus = emb.clone(), emb.clone()
    plus[0, t, e] += eps
    minus[0, t, e] -= eps
    fd = (m.layers[0](plus)[0][0, -1] - m.layers[0](minus)[0][0, -1]) / (2 * eps)
    torch.testing.assert_close(J[t, :, e], fd.detach(), atol=1e-8, rtol=1e-6)


def test_gradient_flow_vanishes_for_a_contracting_rnn_and_survives_in_a_remembering_lstm():
    text = "def f(x):\n    return x + 1\n" * 2
    rnn = R.gradient_through_time(R.fresh_model("rnn", 32, spectral_radius=0.5, seed=0), text)
    lstm = R.gradient_through_time(R.fresh_model("lstm", 32, seed=0, forget_bias=6.0), text, wrt="c")
    assert rnn.norms[0] == pytest.approx(math.sqrt(32), rel=1e-5)      # dh_T/dh_T = I
    assert rnn.decay_per_step() < 0.6 and rnn.at(40) < 1e-8
    assert lstm.at(40) > 1e3 * rnn.at(40)


# ---------------------------------------------------------------------- prediction and sampling
def test_bits_per_char_is_the_cross_entropy_of_the_chunks():
    m = small("lstm")
    text = "import os\nprint(os.getcwd())\n" * 3
    ids = m.encode(text)
    chunk = 20
    logits = m(torch.stack([ids[i * chunk:(i + 1) * chunk] for i in range(4)]))
    targets = torch.stack([ids[i * chunk + 1:(i + 1) * chunk + 1] for i in range(4)])
    want = float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()).detach()) / math.log(2)
    assert G.bits_per_char(m, text[:81], chunk=chunk) == pytest.approx(want, rel=1e-6)
    with pytest.raises(DataError):
        G.bits_per_char(m, "short", chunk=20)


def test_temperature_shapes_the_next_character_distribution():
    m = small("lstm")
    p1 = G.next_char_distribution(m, "for i in ", 1.0)
    logits = m(m.encode("for i in ")[None])[0, -1].double().detach()
    logits[0] = -math.inf
    np.testing.assert_allclose(p1, torch.softmax(logits / 1.0, -1).numpy(), atol=1e-12)
    ents = [G.entropy_bits(G.next_char_distribution(m, "for i in ", t)) for t in (0.0, 0.3, 1.0, 3.0, 100.0)]
    assert ents[0] == 0 and all(a < b for a, b in itertools.pairwise(ents))
    assert ents[-1] == pytest.approx(math.log2(len(m.config.vocab) - 1), abs=0.01)


def test_sampling_is_seeded_and_greedy_at_zero_temperature():
    m = small("gru")
    assert G.sample(m, "x", 30, 1.0, seed=1) == G.sample(m, "x", 30, 1.0, seed=1)
    greedy, prompt = G.sample(m, "x", 12, 0.0), "x"
    for ch in greedy:                                         # each character is the argmax after the prefix
        p = G.next_char_distribution(m, prompt, 0.0)
        assert m.config.vocab[int(p.argmax())] == ch
        prompt += ch


def test_sampled_characters_follow_the_distribution():
    m = small("rnn", hidden=4)
    m.head.bias.data[:] = torch.linspace(-3, 3, len(m.config.vocab))   # a lopsided distribution
    p = G.next_char_distribution(m, "a", 1.0)
    draws = [G.sample(m, "a", 1, 1.0, seed=s) for s in range(1500)]
    top = np.argsort(-p)[:3]
    for i in top:
        freq = np.mean([d == m.config.vocab[i] for d in draws])
        assert abs(freq - p[i]) < 4 * math.sqrt(p[i] * (1 - p[i]) / 1500) + 1e-3


def test_known_word_rate():
    assert G.known_word_rate("def foo(bar): return baz", {"def", "return", "foo"}) == pytest.approx(0.6)
    assert math.isnan(G.known_word_rate("((( )))", {"x"}))


# ---------------------------------------------------------------------- training
def test_text_batches_continue_each_lane_and_the_loss_carries_state():
    from dlviz.rnn_hidden_states.training import TextLoss, text_batches

    ids = torch.arange(2000) % 90 + 1
    it = text_batches(ids, 10, 4, seed=0)
    x1, y1, r1 = next(it)
    x2, y2, r2 = next(it)
    assert bool(r1) and not bool(r2)
    assert torch.equal(y1[:, :-1], x1[:, 1:]) and torch.equal(x2[:, 0], y1[:, -1])   # lanes continue
    m = small("lstm")
    loss = TextLoss()
    loss(m, (x1, y1, r1))
    carried = loss.state[0][0].clone()
    logits_carried, _ = m.forward_with_state(x2, loss.state)
    loss(m, (x2, y2, r2))
    assert not carried.requires_grad and not torch.allclose(logits_carried, m(x2))   # the state mattered


def test_a_bracket_depth_lstm_learns_live():
    from dlviz.rnn_hidden_states.training import Setup, build, make_trainer, task_accuracy

    model = build(Setup("bracket_depth", "lstm", hidden_size=32, embed_dim=16, seed=0))
    trainer = make_trainer(model, lr=3e-3, steps=600, batch_size=64, eval_every=0, seed=0)
    trainer.run()
    assert trainer.status == "finished"
    assert task_accuracy(model, "bracket_depth", n=300)["test_acc"] >= 0.95


# ---------------------------------------------------------------------- figures
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_every_figure_builds_from_real_analysis(cell):
    from dlviz.rnn_hidden_states import plots as P

    m = small(cell)
    text = 'x = f("a(b")  # c\n' * 3
    hs = R.hidden_states(m, text)
    S = hs.states("c" if cell == "lstm" else "h")
    assert P.states_heatmap(S, text, [0, 3]).data[0].z.shape == (2, len(text))
    html = P.colored_text_html(text, S[:, 0])
    assert html.count("<span") == len(text) and "&quot;" in html
    assert len(P.trajectory_figure(R.pca(S, 3).coords, text).data) == 2
    gates = {k: v[0] for k, v in hs.gates.items()}
    assert len(P.gates_heatmaps(gates, text, [0, 1, 2]).data) == len(gates)
    sat = R.gate_saturation(hs)
    assert len(P.saturation_figure(sat.left, sat.right, sat.low, sat.high).data) == 2 * len(sat.left)
    assert len(P.unit_trace_figure(text, {"a": S[:, 0]}, secondary={"b": S[:, 1]}).data) == 2
    flow = R.gradient_through_time(m, text)
    assert len(P.gradient_figure({"m": (flow.lags, flow.norms)}).data) == 1
    p = G.next_char_distribution(m, "x", 1.0)
    assert len(P.distribution_figure({"T=1": p}, m.config.vocab).data[0].x) == 15


# ---------------------------------------------------------------------- the page
PAGE = Path(__file__).resolve().parent.parent / "pages" / "rnn_hidden_states.py"
TABS = ["Units over time", "Find interpretable units", "Trajectory", "Gates", "Gradients through time", "Sampling"]


def test_page_every_tab_renders_with_its_measurement():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGE), default_timeout=180)
    at.run()
    for tab in TABS:
        at.session_state["rnn-tab"] = tab
        at.run()
        assert not at.exception and not at.error, (tab, [e.value for e in at.exception], [e.value for e in at.error])
        assert at.metric, f"{tab}: no measurement shown"


def test_page_refuses_bad_text_in_words():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PAGE), default_timeout=180)
    at.run()
    at.sidebar.selectbox(key="rnn-model").set_value("Bracket-depth LSTM")
    at.run()
    at.selectbox(key="rnn-pick-bracket_depth").set_value("type my own")
    at.run()
    at.text_area(key="rnn-own-bracket_depth").input("(a)b{")
    at.run()
    assert not at.exception
    assert any("reads only the characters" in e.value for e in at.error)
    at.sidebar.selectbox(key="rnn-model").set_value("Code LSTM")
    at.run()
    at.selectbox(key="rnn-pick-text").set_value("type my own")
    at.run()
    at.text_area(key="rnn-own-text").input("π = 3.14159  # ünïcode")
    at.run()
    assert not at.exception and not at.error
    assert any("never saw" in w.value for w in at.warning)
