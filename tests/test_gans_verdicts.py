"""The GAN page's packing verdicts (dlviz.gans.results.packing_verdict): they compare vanilla and packed runs on the
grid and on the ring from the cards' mean ± standard error, and call a difference an effect only beyond two
standard errors of the difference."""

from __future__ import annotations

from types import SimpleNamespace

from dlviz.gans.results import packing_verdict


def _card(modes, modes_se, kl, kl_se):
    return SimpleNamespace(card={"over_seeds": {"modes_captured": {"mean": modes, "se": modes_se},
                                                "reverse_kl": {"mean": kl, "se": kl_se}}})


def test_a_difference_beyond_two_standard_errors_is_an_effect_and_one_within_is_not():
    avail = {"gan_ring_vanilla": _card(6.0, 0.3, 0.40, 0.20), "gan_ring_pac2": _card(8.0, 0.0, 0.10, 0.05)}
    text = packing_verdict(avail)
    # modes: +2.0 against 2 x 0.3 -> an effect; KL: -0.30 against 2 x sqrt(0.2^2 + 0.05^2) = 0.41 -> none
    assert "On the ring, in the shipped runs, packing raises the modes captured from 6.0 to 8.0 (+2.0 ± 0.3" in text
    assert "There, packing changes the reverse KL by -0.30 (± 0.21): **no clear effect**" in text
    assert "grid" not in text                                 # no grid pair shipped: no grid sentence


def test_both_pairs_are_judged_and_a_missing_pair_is_skipped():
    avail = {"gan_grid_vanilla": _card(0.4, 0.2, 1.0, 0.1), "gan_grid_pac2": _card(0.0, 0.0, 0.7, 0.1),
             "gan_ring_vanilla": _card(6.0, 1.0, 0.4, 0.2), "gan_ring_pac2": _card(8.0, 0.0, 0.1, 0.05)}
    text = packing_verdict(avail)
    assert text.index("On the grid") < text.index("On the ring")
    assert "packing lowers the reverse KL from 1.00 to 0.70" in text          # -0.30 beyond 2 x 0.14
    assert packing_verdict({"gan_ring_vanilla": avail["gan_ring_vanilla"]}) == ""


def test_the_budget_sentence_compares_only_the_grid_runs_with_the_papers_grid_result():
    """The sentence follows the caption quoting PacGAN's grid result (23.8 modes, 91.3 % high quality): the ring runs
    are not compared with it, and what falls short is said from the numbers -- samples between the modes (a low
    high-quality share) or samples on too few modes (collapse)."""
    from dlviz.gans.results import budget_sentence

    def card(data, hq, modes, steps):
        return SimpleNamespace(card={"dataset": f"{data} (make_dataset)", "steps": steps, "over_seeds": {
            "high_quality_frac": {"mean": hq, "se": 0.01}, "modes_captured": {"mean": modes, "se": 0.5}}})

    names = {"gan_grid_vanilla": "grid vanilla", "gan_grid_pac2": "grid packed", "gan_ring_pac2": "ring packed"}
    avail = {"gan_grid_vanilla": card("grid", 0.91, 9.0, 40000), "gan_grid_pac2": card("grid", 0.26, 13.6, 40000),
             "gan_ring_pac2": card("ring", 0.79, 7.8, 8000)}
    text = budget_sentence(avail, names)
    assert "(40,000 steps)" in text and "91% (grid vanilla), 26% (grid packed)" in text
    assert "keep 9.0 (grid vanilla), 13.6 (grid packed) of the 25 modes" in text
    assert "Most samples of grid packed lie between the modes" in text
    assert "Where the samples do sit on the modes (grid vanilla), they sit on too few of them" in text
    assert "ring" not in text and "8,000" not in text
    low = budget_sentence({"gan_grid_pac2": card("grid", 0.07, 1.6, 4000)}, names)
    assert "lie between the modes" in low and "collapsed" not in low
    assert budget_sentence({"gan_ring_pac2": avail["gan_ring_pac2"]}, names) == ""


def test_the_reference_gap_quotes_the_cards_steps_and_the_one_sample_count():
    from dlviz.gans.results import PAPER_UPDATES, reference_gap

    avail = {n: SimpleNamespace(card={"steps": 40000}) for n in ("gan_grid_vanilla", "gan_grid_pac2")}
    text = reference_gap(avail, {"gan_grid_vanilla": 19, "gan_grid_pac2": 24})
    assert "take 40,000 updates (10× fewer)" in text and PAPER_UPDATES / 40000 == 10
    assert "reach 19 (vanilla) and 24 (PacGAN) of 25 modes" in text
    bare = reference_gap({})
    assert "× fewer" not in bare and "of 25 modes" not in bare and bare.endswith("out of its budget.")


def test_the_one_sample_count_counts_modes_with_any_high_quality_sample():
    """PacGAN's rule (one high-quality sample captures a mode), checked against the samples themselves: the number of
    modes whose nearest-mode high-quality count is >= 1, never below this page's 20-sample count of the card."""
    import numpy as np
    import pytest
    import torch

    from dlviz.checkpoints import load_shipped, shipped
    from dlviz.gans.data import make_dataset
    from dlviz.gans.results import grid_one_sample_modes

    avail = shipped()
    if "gan_grid_pac2" not in avail:
        pytest.skip("gan_grid_pac2 is not shipped")
    got = grid_one_sample_modes(("gan_grid_pac2", "gan_ring_pac2"))
    assert set(got) == {"gan_grid_pac2"}                                  # ring checkpoints are not counted
    model, _ = load_shipped("gan_grid_pac2")
    data = make_dataset("grid")
    with torch.no_grad():
        x = model.generate(2500, torch.Generator().manual_seed(0)).numpy().astype(np.float64)
    d = np.linalg.norm(x[:, None] - data.modes[None], axis=-1)           # (n, 25)
    near, hq = d.argmin(1), d.min(1) <= 3 * data.sigma
    assert got["gan_grid_pac2"] == len(np.unique(near[hq]))
    assert got["gan_grid_pac2"] >= avail["gan_grid_pac2"].card["metrics"]["modes_captured"]


def _long_row(steps, modes, modes_se, hq):
    return {"plan": "gan_grid_pac2", "recipe_steps": 40000, "steps": steps, "seeds": [0, 1, 2, 3, 4],
            "modes_captured": {"mean": modes, "se": modes_se}, "high_quality_frac": {"mean": hq, "se": 0.01}}


def test_the_longer_run_sentence_calls_a_move_within_two_standard_errors_no_new_modes():
    from dlviz.gans.results import longer_run_sentence

    rows = [_long_row(20000, 11.0, 0.5, 0.6), _long_row(40000, 12.8, 1.1, 0.77), _long_row(80000, 13.6, 1.5, 0.86)]
    text = longer_run_sentence(rows)
    # 13.6 - 12.8 = 0.8 against 2 x sqrt(1.1^2 + 1.5^2) = 3.7: no move; the base is the recipe's own 40,000
    assert "from 40,000 to 80,000 updates the modes captured went 12.8 ± 1.1 → 13.6 ± 1.5" in text
    assert "77% → 86%" in text and "found no new ones" in text
    moved = longer_run_sentence([_long_row(40000, 12.0, 0.3, 0.7), _long_row(80000, 20.0, 0.4, 0.9)])
    assert "moved by +8.0 (more than two standard errors)" in moved and "no new ones" not in moved


def test_the_longer_run_sentence_needs_the_recipes_length_and_a_longer_one():
    from dlviz.gans.results import longer_run_sentence

    assert longer_run_sentence([]) == ""
    assert longer_run_sentence([_long_row(20000, 11.0, 0.5, 0.6)]) == ""           # no row at the recipe's 40,000
    assert longer_run_sentence([_long_row(40000, 12.8, 1.1, 0.77)]) == ""          # nothing longer


def test_the_captions_name_the_players_the_cards_hold():
    """The architecture in the shipped runs' caption and in the reference gap comes from each card's config, so a
    retrained recipe cannot leave stale words behind."""
    from dlviz.gans.results import players, reference_gap, shipped_caption

    small = {"g_depth": 3, "g_width": 64, "d_depth": 3, "d_width": 64, "activation": "leaky_relu"}
    big = {**small, "g_depth": 4, "g_width": 128, "activation": "relu"}
    assert players(small) == "G 3×64, D 3×64, leaky-ReLU" and players(big) == "G 4×128, D 3×64, ReLU"
    avail = {"gan_grid_pac2": SimpleNamespace(card={"config": big, "steps": 40000, "dataset": "grid (...)"}),
             "gan_ring_pac2": SimpleNamespace(card={"config": small, "steps": 8000, "dataset": "ring (...)"})}
    cap = shipped_caption(avail, ["gan_grid_pac2", "gan_ring_pac2"])
    assert "grid: G 4×128, D 3×64, ReLU" in cap and "ring: G 3×64, D 3×64, leaky-ReLU" in cap
    gap = reference_gap(avail)
    assert "with G 4×128, D 3×64, ReLU and no batch norm or maxout" in gap and "3×64 leaky" not in gap


def test_the_longer_run_sentence_says_whose_players_it_measured():
    from dlviz.gans.results import longer_run_sentence

    old = {"g_depth": 3, "g_width": 64, "d_depth": 3, "d_width": 64, "activation": "leaky_relu"}
    new = {**old, "g_depth": 4, "g_width": 128, "d_width": 128, "activation": "relu"}
    rows = [{**_long_row(s, m, 1.0, 0.8), "players": old} for s, m in ((40000, 14.8), (80000, 15.0))]
    assert "(PacGAN (m = 2), the recipe shipped before, with G 3×64, D 3×64, leaky-ReLU, its decay" in \
        longer_run_sentence(rows, new)
    assert "(PacGAN (m = 2), the shipped recipe (G 3×64, D 3×64, leaky-ReLU), its decay" in \
        longer_run_sentence(rows, old)


def test_the_verdict_counts_the_seeds_the_mean_hides():
    """Two vanilla seeds collapsing onto 1 and 0 modes and three near 25 give a mean with a huge standard error: the
    verdict counts the collapsed seeds of each run, and says nothing about them when no seed collapsed."""
    def card(values):
        mu = sum(values) / len(values)
        return SimpleNamespace(card={"over_seeds": {"modes_captured": {"mean": mu, "se": 5.0, "values": values}}})

    avail = {"gan_grid_vanilla": card([1.0, 0.0, 17.0, 25.0, 24.0]), "gan_grid_pac2": card([24.0, 20.0, 23.0, 23.0, 17.0])}
    text = packing_verdict(avail)
    assert "**no clear effect**" in text and "Seeds that kept at most one mode: vanilla 2 of 5, PacGAN 0 of 5." in text
    avail["gan_grid_vanilla"] = card([12.0, 14.0, 9.0, 10.0, 11.0])
    assert "Seeds that kept" not in packing_verdict(avail)


def test_the_budget_sentence_does_not_call_a_run_near_the_papers_count_collapsed():
    from dlviz.gans.results import budget_sentence

    def card(hq, modes):
        return SimpleNamespace(card={"dataset": "grid (make_dataset)", "steps": 40000, "over_seeds": {
            "high_quality_frac": {"mean": hq, "se": 0.01}, "modes_captured": {"mean": modes, "se": 1.0}}})

    names = {"gan_grid_vanilla": "vanilla", "gan_grid_pac2": "packed"}
    text = budget_sentence({"gan_grid_vanilla": card(0.58, 13.4), "gan_grid_pac2": card(0.95, 21.4)}, names)
    assert "(vanilla), they sit on too few of them" in text and "packed), they sit" not in text
    assert "packed comes within 2.4 modes of the paper's count with 95% of its samples on a mode." in text
