"""PacGAN's reference 2-D setup as options of ``gan_mlp`` (batch-norm ReLU generator, maxout discriminator,
N(0, 0.02) initialisation), the sweep script's reference-code mode count, and the page helpers moved into
``dlviz.gans.views``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dlviz.gans import views
from dlviz.gans.data import grid
from dlviz.gans.metrics import mode_stats
from dlviz.models import build_model
from dlviz.models.gan import Maxout


def test_maxout_is_the_max_over_pieces_of_a_linear_map():
    torch.manual_seed(0)
    mo = Maxout(3, 4, 5)
    x = torch.randn(7, 3)
    lin = x @ mo.linear.weight.T + mo.linear.bias                       # (7, 20), unit u's pieces at u*5 .. u*5+4
    want = torch.stack([lin[:, u * 5:(u + 1) * 5].max(1).values for u in range(4)], 1)
    assert torch.allclose(mo(x), want)


def test_paper_options_build_the_reference_architecture():
    m = build_model("gan_mlp", g_width=40, g_depth=4, d_width=20, d_depth=3, pack=2, activation="relu",
                    g_batchnorm=True, d_maxout=5, init_std=0.02)
    bns = [layer for layer in m.G if isinstance(layer, nn.BatchNorm1d)]
    lins = [layer for layer in m.G if isinstance(layer, nn.Linear)]
    assert len(bns) == 4 and all(isinstance(layer, nn.ReLU) for layer in m.G if not isinstance(layer, (nn.Linear, nn.BatchNorm1d)))
    assert all(layer.bias is None for layer in lins[:-1]) and lins[-1].bias is not None      # BN replaces the hidden biases
    mos = [layer for layer in m.D if isinstance(layer, Maxout)]
    assert len(mos) == 3 and mos[0].in_features == 4 and all(layer.pieces == 5 for layer in mos)
    w = torch.cat([p.detach().flatten() for n, p in m.named_parameters() if n.endswith("weight") and p.dim() == 2])
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
    assert all(float(p.detach().abs().max()) == 0 for n, p in m.named_parameters() if n.endswith("bias") and "D" in n)
    x = m.generate(8)
    assert x.shape == (8, 2) and m.discriminate(x).shape == (4,)


def test_default_gan_mlp_is_unchanged():
    m = build_model("gan_mlp")
    assert not any(isinstance(layer, (nn.BatchNorm1d, Maxout)) for layer in m.modules())


def test_unrolled_step_runs_through_a_maxout_discriminator():
    from dlviz.gans.data import make_dataset
    from dlviz.gans.training import make_trainer

    torch.manual_seed(0)
    m = build_model("gan_mlp", g_width=16, d_width=16, pack=2, g_batchnorm=True, d_maxout=3)
    tr = make_trainer(m, make_dataset("grid"), steps=3, batch_size=8, unroll=2, eval_every=3).run()
    assert tr.status == "finished"


def test_reference_count_of_one_sample_per_mode_against_twenty():
    d = grid()
    x = np.concatenate([np.repeat(d.modes[:1], 30, 0), d.modes[1:5]])      # 30 on mode 0, 1 on modes 1..4
    assert mode_stats(x, d.modes, d.sigma, min_count=1).modes_captured == 5
    assert mode_stats(x, d.modes, d.sigma, min_count=20).modes_captured == 1


def test_sweep_script_records_the_reference_count(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import json

    from gan_grid_sweep import main, summarise

    main({"pack": 2, "gw": 8, "gd": 2, "dw": 8, "dd": 2, "bs": 10, "lr": 1e-3, "steps": 2, "bn": 1, "maxout": 3,
          "init": 0.02, "act": "relu", "beta1": 0.8, "seeds": [0]})
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["modes_any"] >= row["modes_captured"] and 0 <= row["hq_batch_stats"] <= 1
    p = tmp_path / "r.jsonl"
    p.write_text(json.dumps(row) + "\n")
    s = summarise([str(p)])["pac2"]
    assert s["modes_any"]["values"] == [row["modes_any"]] and s["config"]["maxout"] == 3


def test_page_helpers():
    d = grid()
    assert np.array_equal(views.real_points(d), views.real_points(d)) and views.real_points(d, 10).shape == (10, 2)
    assert views.source_label("gan_grid_pac2") == views.SHIPPED["gan_grid_pac2"]
    assert views.source_label("live:seed 3") == "my run · seed 3" and views.source_label("live:") == "my run · live"
    assert "step 1,200" in views.live_caption("seed 0", 1200) and views.live_caption("", 5).startswith("Your run")
    rows = views.seed_rows({"modes_captured": (6.0, 1.5, 5)})
    assert rows == [{"measure": "modes captured", "mean": 6.0, "standard error": 1.5, "runs": 5}]
    assert set(views.SHIPPED) == set(views.SHIPPED_DATA) and len(views.TRY_THIS) >= 5


@pytest.mark.parametrize("k", [1, 20])
def test_min_count_bounds(k):
    d = grid()
    x = np.repeat(d.modes, k, 0)
    assert mode_stats(x, d.modes, d.sigma, min_count=k).modes_captured == 25
    assert mode_stats(x[k:], d.modes, d.sigma, min_count=k).modes_captured == 24


def test_reference_sweep_summary_and_verdict():
    import math

    from dlviz.gans.metrics import mean_se

    ref = views.load_sweep(views.REF_SWEEP)
    assert {"vanilla", "pac2"} <= set(ref)
    for e in ref.values():
        c = e["config"]
        assert c["bn"] and c["maxout"] == 5 and c["beta1"] == 0.8 and len(e["seeds"]) >= 3
        for k in ("modes_captured", "modes_any", "high_quality_frac", "reverse_kl"):
            vals = [v for v in e[k]["values"] if v is not None]
            mu, se = mean_se(vals)
            assert e[k]["n"] == len(vals) and e[k]["mean"] == pytest.approx(mu, abs=1e-4)
            assert math.isnan(se) or e[k]["se"] == pytest.approx(se, abs=1e-4)
        assert all(a >= b for a, b in zip(e["modes_any"]["values"], e["modes_captured"]["values"]))
    text = views.ref_sweep_verdict(ref)
    hq = max(ref[k]["high_quality_frac"]["mean"] for k in ("vanilla", "pac2"))
    assert f"at most {hq:.0%}" in text and "not reached" in text
    v, p = ref["vanilla"]["reverse_kl"], ref["pac2"]["reverse_kl"]
    clear = abs(p["mean"] - v["mean"]) > 2 * math.hypot(v["se"], p["se"])
    rkl = text[text.index("Here packing"):]
    assert ("no clear effect" not in rkl.split(").")[0]) == clear
    rows = views.sweep_rows(ref, views.METRIC_TITLES)
    assert all("maxout-5" in r["run"] and "modes with ≥ 1 sample" in r for r in rows)
