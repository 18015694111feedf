"""Seeds trained together (dlviz.gans.seed_ensemble) are the same runs as seeds trained one at a time: checked against
plain gan_mlp models updated by torch's own Adam on dlviz.gans.core's losses, step for step."""

from __future__ import annotations

import pytest
import torch

from dlviz.gans.core import d_loss, g_loss
from dlviz.gans.data import make_dataset
from dlviz.gans.seed_ensemble import LOSSES, SeedEnsemble
from dlviz.models import build_model

MODEL = {"g_width": 16, "g_depth": 2, "d_width": 16, "d_depth": 2, "noise_dim": 2}


def _reference_run(seed: int, loss: str, pack: int, batches: list, lr: float) -> torch.nn.Module:
    """One seed alone: the model a single run builds, Adam(0.5, 0.999) per player, D then G each round."""
    torch.manual_seed(seed)
    m = build_model("gan_mlp", pack=pack, **MODEL)
    d_opt = torch.optim.Adam(m.D.parameters(), lr=lr, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(m.G.parameters(), lr=lr, betas=(0.5, 0.999))
    for real, z_d, z_g in batches:
        with torch.no_grad():
            fake = m.G(z_d)
        ld = d_loss(loss, m.discriminate(real), m.discriminate(fake))
        d_opt.zero_grad()
        ld.backward()
        d_opt.step()
        lg = g_loss(loss, m.discriminate(m.G(z_g)))
        g_opt.zero_grad()
        lg.backward()
        g_opt.step()
    return m


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("pack", [1, 2])
def test_each_member_follows_its_own_single_run_step_for_step(loss, pack):
    seeds, steps, n, lr = [3, 11, 5], 4, 32 * pack, 5e-3
    g = torch.Generator().manual_seed(0)
    data = make_dataset("grid")
    batches = [(torch.stack([data.sample(n, g) for _ in seeds]), torch.randn(len(seeds), n, 2, generator=g),
                torch.randn(len(seeds), n, 2, generator=g)) for _ in range(steps)]
    ens = SeedEnsemble(seeds, loss=loss, lr=lr, pack=pack, **MODEL)
    for real, z_d, z_g in batches:
        ens.step(real, z_d, z_g)
    for e, (s, model) in enumerate(zip(seeds, ens.finish())):
        ref = _reference_run(s, loss, pack, [(r[e], a[e], b[e]) for r, a, b in batches], lr)
        for (name, p), q in zip(model.state_dict().items(), ref.state_dict().values()):
            assert torch.allclose(p, q, atol=1e-5, rtol=1e-4), f"seed {s}, {name}: max diff {(p - q).abs().max():.2e}"


def test_a_member_does_not_depend_on_the_seeds_beside_it():
    data = make_dataset("ring")
    together = SeedEnsemble([0, 1], lr=2e-3, steps=30, lr_final=0.5, pack=2, **MODEL).train(data, 30, 16)
    for s, model in zip([0, 1], together):
        alone = SeedEnsemble([s], lr=2e-3, steps=30, lr_final=0.5, pack=2, **MODEL).train(data, 30, 16)[0]
        for p, q in zip(model.state_dict().values(), alone.state_dict().values()):
            assert torch.allclose(p, q, atol=1e-5, rtol=1e-4)
    a, b = (m.state_dict()["G.0.weight"] for m in together)
    assert not torch.allclose(a, b), "two seeds trained to the same weights"


def test_training_moves_the_weights_and_decays_the_learning_rate_to_its_final_fraction():
    ens = SeedEnsemble([0], lr=1e-3, steps=20, lr_final=0.1, **MODEL)
    torch.manual_seed(0)
    before = build_model("gan_mlp", **MODEL).state_dict()
    after = ens.train(make_dataset("grid"), 20, 16)[0].state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before), "a layer did not train"
    assert ens.d_opt.param_groups[0]["lr"] == pytest.approx(1e-4, rel=1e-6)
    assert ens.g_opt.param_groups[0]["lr"] == pytest.approx(1e-4, rel=1e-6)
    assert all(torch.isfinite(v).all() for v in after.values())


def test_a_non_finite_member_stops_the_run_and_names_its_seed():
    ens = SeedEnsemble([4, 9], lr=1e-3, **MODEL)
    with torch.no_grad():
        ens.D.weights[0][1, 0, 0] = float("nan")           # seed 9's D
    with pytest.raises(RuntimeError, match="seed 9"):
        ens.train(make_dataset("grid"), 5, 8, check_every=1)


@pytest.mark.parametrize("bad", [{"g_batchnorm": True}, {"d_maxout": 3}, {"activation": "tanh"}])
def test_players_it_cannot_stack_are_refused(bad):
    with pytest.raises(ValueError):
        SeedEnsemble([0], **{**MODEL, **bad})


def test_the_gradient_penalty_loss_is_refused():
    with pytest.raises(ValueError, match="wgan-gp"):
        SeedEnsemble([0], loss="wgan-gp", **MODEL)


def test_the_shipped_recipes_train_their_seeds_together():
    from dlviz.gans.recipes import MODEL as SHIPPED_MODEL
    from dlviz.gans.recipes import train_seeds
    from dlviz.gans.training import mode_eval

    data = make_dataset("ring")
    models = train_seeds(data, 2, "non-saturating", 20, 16, 1e-3, 0.5, seeds=(0, 1))
    assert len(models) == 2
    for m in models:
        assert m.config.pack == 2 and m.config.g_width == SHIPPED_MODEL["g_width"]
        assert set(mode_eval(m, data)) >= {"modes_captured", "high_quality_frac", "reverse_kl"}
