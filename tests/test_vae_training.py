"""Tests for the VAE's data, live training and shipped checkpoints: data sets and bad folders, the
Trainer's logged terms and KL annealing, beta's effect, recognisable reconstructions from a short live
run, loss-health messages, and every shipped VAE against its card."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlviz.data import DataError
from dlviz.models import build_model
from dlviz.vae import elbo, encode
from dlviz.vae import embed
from dlviz.vae.training import default_config, image_folder_any, load_data, make_trainer


# --------------------------------------------------------------------------- data
def test_builtin_data_sets():
    d = load_data("digits", "train")
    assert d.shape == (1, 16, 16) and len(d) + len(load_data("digits", "test")) == 1797
    h = load_data("hotdog", "test", limit=20)
    assert h.shape == (3, 32, 32) and h.class_names == ["hotdog"] and len(h) == 20
    f = load_data("food", "test", limit=30)
    assert f.num_classes == 10
    with pytest.raises(DataError):
        load_data("cifar", "train")


def test_missing_local_data_and_bad_folders_give_messages(tmp_path):
    with pytest.raises(DataError, match="not in"):
        load_data("mnist", "train", root=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        image_folder_any(tmp_path / "nope")
    with pytest.raises(DataError, match="at least 10"):
        image_folder_any(tmp_path)
    with pytest.raises(DataError):
        image_folder_any("  ")


def test_a_flat_folder_of_one_class_is_enough(tmp_path):
    from PIL import Image

    for i in range(12):
        Image.fromarray(np.full((20, 30, 3), 20 * i, np.uint8)).save(tmp_path / f"hotdog{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    tr = image_folder_any(tmp_path, "train")
    te = image_folder_any(tmp_path, "test")
    assert tr.shape == (3, 32, 32) and len(tr) + len(te) == 12 and tr.class_names == [tmp_path.name]
    assert tr.meta["skipped"] == 1


# --------------------------------------------------------------------------- training
def test_trainer_logs_the_two_terms_and_anneals_beta():
    torch.manual_seed(0)
    m = build_model("conv_vae", **default_config("digits", latent_dim=4))
    tr = make_trainer(m, load_data("digits", "train"), steps=12, beta=2.0, warmup=8,
                      test=load_data("digits", "test"), eval_every=6, eval_n=32).run()
    h = tr.history()
    assert {"recon", "kl", "elbo", "beta", "test_elbo"} <= set(h)
    betas = h["beta"][1]
    assert betas[0] == 0.0 and betas[4] == pytest.approx(2.0 * 4 / 8) and betas[-1] == 2.0
    for r, k, e in zip(h["recon"][1], h["kl"][1], h["elbo"][1]):
        assert e == pytest.approx(-r - k, rel=1e-5)
    assert set(h["test_elbo"][0]) == {0, 6, 12}
    with pytest.raises(DataError, match="expects"):
        make_trainer(m, load_data("hotdog", "test", limit=8))


def test_a_larger_beta_buys_a_smaller_kl():
    x = load_data("digits", "train")
    kls = {}
    for beta in (0.25, 4.0):
        torch.manual_seed(0)
        m = build_model("conv_vae", **{**default_config("digits", latent_dim=8), "hidden": 0})
        make_trainer(m, x, steps=80, beta=beta, lr=4e-3, batch_size=32).run()
        kls[beta] = elbo(m, x.images[:256], generator=torch.Generator().manual_seed(0)).kl.mean()
    assert kls[4.0] < 0.5 * kls[0.25]


def test_a_fresh_digits_vae_reconstructs_recognisable_digits_quickly():
    """A fresh live run must give reconstructions the shipped digit classifier reads after
    ``RECOGNISABLE_STEPS`` steps at the page's defaults; the benchmark times the same run (< 30 s)."""
    from dlviz.checkpoints import load_shipped
    from dlviz.metrics import accuracy
    from dlviz.vae import reconstruct
    from dlviz.vae.training import LIVE_DEFAULTS, RECOGNISABLE_STEPS

    torch.manual_seed(0)
    m = build_model("conv_vae", **default_config("digits", latent_dim=16))
    make_trainer(m, load_data("digits", "train"), steps=RECOGNISABLE_STEPS, lr=LIVE_DEFAULTS["lr"],
                 batch_size=LIVE_DEFAULTS["batch_size"]).run()
    test = load_data("digits", "test")
    clf, _ = load_shipped("digits_cnn")
    acc = accuracy(clf, reconstruct(m, test.images), test.labels)
    assert acc >= 0.8, f"only {acc:.0%} of the reconstructions are read as the right digit"


# --------------------------------------------------------------------------- shipped checkpoints
def _shipped_vaes():
    from dlviz.checkpoints import shipped

    return {n: ck for n, ck in shipped().items() if ck.arch == "conv_vae"}


@pytest.mark.parametrize("name", sorted(_shipped_vaes()))
def test_shipped_vae_loads_strictly_and_reconstructs_within_its_card(name):
    from dlviz.checkpoints import load_checkpoint
    from dlviz.vae.recipes import CHANNELS, PLANS
    from dlviz.vae import recon_mse

    ck = _shipped_vaes()[name]
    # the wider food models (5x the weights) are stored as float16: their files stay near 1 MB
    assert ck.path.stat().st_size < (1_100_000 if name in CHANNELS else 500_000)
    assert (ck.card.get("storage") == "float16") == (name in CHANNELS)
    model, card = load_checkpoint(ck.path, expected_arch="conv_vae")       # strict: every weight fits
    assert model.config.latent_dim == PLANS[name][1]
    assert "test_elbo" in card["metrics"] and card["claims"]["test_elbo"][0] == ">="
    op, bound = card["claims"]["recon_mse"]
    mse = recon_mse(model, load_data(PLANS[name][0], "test").images)
    assert op == "<=" and mse <= bound
    assert mse == pytest.approx(card["metrics"]["recon_mse"], rel=1e-3, abs=5e-6)   # cards keep 5 decimals


def test_shipped_beta_sweep_traces_a_rate_distortion_curve():
    ck = _shipped_vaes().get("vae_digits16")
    if ck is None:
        pytest.skip("vae_digits16 is not shipped")
    sweep = sorted(ck.card["beta_sweep"], key=lambda p: p["beta"])
    kl, rec = [p["kl"] for p in sweep], [p["recon"] for p in sweep]
    assert all(a > b for a, b in zip(kl, kl[1:])), "a larger beta must buy a smaller KL"
    assert all(a < b for a, b in zip(rec, rec[1:])), "...and pay with a worse reconstruction"


@pytest.mark.parametrize("name", sorted(n for n, ck in _shipped_vaes().items() if ck.card["config"]["latent_dim"] > 2))
def test_shipped_umap_caches_match_their_checkpoints(name):
    from dlviz.checkpoints import load_checkpoint
    from dlviz.vae.recipes import PLANS, umap_cache_path

    path = umap_cache_path(name)
    if not path.is_file():
        pytest.skip(f"no UMAP cache for {name} (the page computes it in the background)")
    model, _ = load_checkpoint(_shipped_vaes()[name].path)
    codes = encode(model, load_data(PLANS[name][0], "test").images)[0].numpy()
    assert embed.load_cache(path, codes) is not None, f"{path.name} is stale: run python -m dlviz.vae.recipes umap"


def test_a_beta_sweep_starts_every_run_from_the_same_weights():
    from dlviz.vae import make_runs

    tr, te = load_data("digits", "train", limit=64), load_data("digits", "test", limit=16)
    runs = make_runs(tr, te, "digits", 4, (0.5, 2.0), seed=3, steps=7, batch_size=16)
    assert list(runs) == ["β=0.5", "β=2"] and all(t.total == 7 and t.vae_data == "digits" for t in runs.values())
    a, b = (t.model.state_dict() for t in runs.values())
    assert all(torch.equal(a[k], b[k]) for k in a)          # same init: only beta differs between the runs


def test_loss_health_flags_exploding_and_stalled_runs_only():
    from dlviz.vae.training import loss_health

    good = [180 - 0.2 * i for i in range(300)]
    assert loss_health(good) is None and loss_health(good[:10]) is None
    assert "exploded" in loss_health([180.0] * 5 + [1e25] * 20)
    assert "exploded" in loss_health([900.0] * 5 + [3040.0] * 200)          # Gaussian decoder, much worse
    assert "not improved" in loss_health([180.0] * 5 + [193.0] * 250)
    assert loss_health([-3000.0] * 5 + [-3500.0] * 250) is None             # negative losses: fine when falling


def test_too_high_a_learning_rate_is_flagged_even_without_nans():
    from dlviz.vae.training import loss_health

    torch.manual_seed(0)
    m = build_model("conv_vae", **default_config("digits", latent_dim=4))
    t = make_trainer(m, load_data("digits", "train"), steps=40, optimizer=torch.optim.Adam(m.parameters(), 10.0)).run()
    # the loss never turns non-finite, but it explodes: the Trainer's explosion watch stops the run within a few
    # steps of its early window and rolls back (the page's loss_health remains for explosions it does not see)
    assert t.status == "diverged" and "explod" in t.message and t.step < 20
    assert "exploded" in loss_health([178.0] * 5 + [4.4e20] * 20)


def test_umap_cache_tolerates_last_bit_differences_but_not_other_codes(tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(100, 16)).astype(np.float32)
    path = embed.save_cache(tmp_path / "c.npz", codes, rng.normal(size=(100, 2)))
    assert embed.load_cache(path, codes) is not None
    assert embed.load_cache(path, codes + np.float32(3e-5)) is not None       # another CPU's rounding
    assert embed.load_cache(path, codes + np.float32(0.05)) is None           # a retrained model's codes
    assert embed.load_cache(path, codes[:50]) is None                          # other data
