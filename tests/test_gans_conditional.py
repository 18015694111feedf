"""The conditional DCGAN's options: the label reaches every block of G (conditional batch norm), D's minibatch
standard deviation sees a batch's spread, old configs build the module they always built, and the shipped
conditional food model's D really uses the label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dlviz.models import build_model
from dlviz.models.gan import MinibatchStd, _CondBatchNorm

CKPT = Path(__file__).resolve().parent.parent / "checkpoints"
BN_TYPES = (_CondBatchNorm, nn.BatchNorm1d, nn.BatchNorm2d)


def _cond(size: int = 32, **kw) -> nn.Module:
    torch.manual_seed(0)
    ch = 3 if size == 32 else 1
    return build_model("dcgan", image_size=size, channels=ch, g_width=8, d_width=8, num_classes=10, **kw).eval()


def _blocks(G: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    """(layer before the batch norm, activation after it) of every normalised block of G, input to output."""
    out = []
    for seq in (G.fc, G.up):
        mods = list(seq)
        out += [(mods[i - 1], mods[i + 1]) for i, m in enumerate(mods) if isinstance(m, BN_TYPES)]
    return out


def _block_responses(model: nn.Module, z: torch.Tensor, ya: torch.Tensor, yb: torch.Tensor) -> list[float]:
    """For each block: hold its pre-normalisation activations at their values for labels ``ya``, change only the
    label to ``yb``, and measure how far the block's output moves (max |difference|)."""
    G = model.G
    blocks = _blocks(G)
    pre_a, post_a = {}, {}
    hooks = [pre.register_forward_hook(lambda m, i, o, k=k: pre_a.__setitem__(k, o.detach().clone()))
             for k, (pre, _) in enumerate(blocks)]
    hooks += [post.register_forward_hook(lambda m, i, o, k=k: post_a.__setitem__(k, o.detach().clone()))
              for k, (_, post) in enumerate(blocks)]
    with torch.no_grad():
        G(z, ya)
    for h in hooks:
        h.remove()
    moved = []
    for k, (pre, post) in enumerate(blocks):
        got = {}
        h1 = pre.register_forward_hook(lambda m, i, o, k=k: pre_a[k])             # the block's input held fixed
        h2 = post.register_forward_hook(lambda m, i, o, got=got: got.__setitem__("o", o.detach().clone()))
        with torch.no_grad():
            G(z, yb)
        h1.remove()
        h2.remove()
        moved.append(float((got["o"] - post_a[k]).abs().max()))
    return moved


def _perturb_cbn(model: nn.Module) -> None:
    """Give every class its own scale and shift (a fresh model starts at gamma 1, beta 0 for every class)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.G.modules():
            if isinstance(m, _CondBatchNorm):
                m.gamma.weight.add_(0.3 * torch.randn(m.gamma.weight.shape, generator=g))
                m.beta.weight.add_(0.3 * torch.randn(m.beta.weight.shape, generator=g))


@pytest.mark.parametrize("size", [16, 32])
def test_the_label_reaches_every_generator_block(size):
    m = _cond(size, g_cond="every")
    _perturb_cbn(m)
    z = torch.randn(6, m.config.noise_dim, generator=torch.Generator().manual_seed(2))
    ya, yb = torch.arange(6), (torch.arange(6) + 3) % 10
    moved = _block_responses(m, z, ya, yb)
    assert len(moved) == {16: 3, 32: 4}[size]            # the fc block and every upsampling block
    assert all(d > 1e-3 for d in moved), moved


def test_the_original_generator_reads_the_label_at_its_input_only():
    m = _cond(32)                                         # g_cond defaults to "input"
    z = torch.randn(6, m.config.noise_dim, generator=torch.Generator().manual_seed(2))
    moved = _block_responses(m, z, torch.arange(6), (torch.arange(6) + 3) % 10)
    assert moved == [0.0] * 4                             # with its input held, no block sees the label
    with torch.no_grad():                                 # ... but the label does change the images (at G's input)
        assert not torch.allclose(m.G(z, torch.arange(6)), m.G(z, (torch.arange(6) + 3) % 10))


def test_every_blocks_label_embedding_learns():
    m = _cond(32, g_cond="every").train()
    cbn = [mod for mod in m.G.modules() if isinstance(mod, _CondBatchNorm)]
    assert len(cbn) == 4
    x = m.G(torch.randn(8, m.config.noise_dim), torch.arange(8))
    (x ** 2).mean().backward()
    for mod in cbn:
        assert mod.gamma.weight.grad.abs().sum() > 0 and mod.beta.weight.grad.abs().sum() > 0
        assert mod.gamma.weight.grad[8:].abs().sum() == 0      # classes 8, 9 were not asked for: no gradient


def test_minibatch_std_sees_the_batch():
    layer = MinibatchStd(4)
    same = torch.ones(8, 3, 2, 2)
    assert torch.allclose(layer(same)[:, -1], torch.zeros(8, 2, 2), atol=1e-3)
    x = torch.randn(8, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    out = layer(x)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], x)
    g0 = x[[0, 2, 4, 6]]                                  # samples i, i + B/g, ... form a group
    want = g0.std(0, unbiased=False).mean()
    assert torch.allclose(out[0, -1], want.expand(2, 2), atol=1e-5)
    assert layer(torch.randn(6, 3, 2, 2)).shape == (6, 4, 2, 2)      # 6 is not a multiple of 4: groups of 3
    assert torch.allclose(layer(torch.randn(1, 3, 2, 2))[:, -1], torch.zeros(1, 2, 2), atol=1e-3)


def test_d_with_minibatch_std_judges_a_sample_by_its_batch():
    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8)
    others = x.clone()
    others[1:] = others[0]                                # the same first image, now among copies of itself
    for mbstd, changes in ((0, False), (4, True)):
        D = _cond(32, d_mbstd=mbstd).D
        with torch.no_grad():
            a, b = D(x, y)[0], D(others, y)[0]
        assert (not torch.allclose(a, b)) is changes


@pytest.mark.parametrize("name", ["dcgan_digits", "dcgan_food"])
def test_old_shipped_configs_build_the_same_module(name):
    from dlviz.checkpoints import read_payload

    if not (CKPT / f"{name}.pt").is_file():
        pytest.skip(f"{name} is not shipped")
    card = json.loads((CKPT / f"{name}.json").read_text())
    assert "g_cond" not in card["config"] and "d_mbstd" not in card["config"]     # written before the options
    m = build_model("dcgan", **card["config"])
    sd = read_payload(CKPT / f"{name}.pt")["state_dict"]
    mine = m.state_dict()
    assert list(mine) == list(sd) and all(mine[k].shape == sd[k].shape for k in sd)
    assert not any(isinstance(mod, (_CondBatchNorm, MinibatchStd)) for mod in m.modules())
    m.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})   # strict


# the first dcgan_digits_cond (shipped until 2026-12-03): its config and its weights' names and shapes
OLD_COND = {"image_size": 16, "channels": 1, "noise_dim": 32, "g_width": 16, "d_width": 16, "num_classes": 10,
            "noise": "gaussian"}
OLD_COND_SHAPES = {
    "G.embed.weight": (10, 32), "G.fc.0.weight": (1024, 64), "G.fc.0.bias": (1024,), "G.fc.1.weight": (1024,),
    "G.fc.1.bias": (1024,), "G.fc.1.running_mean": (1024,), "G.fc.1.running_var": (1024,),
    "G.fc.1.num_batches_tracked": (), "G.up.0.weight": (64, 32, 4, 4), "G.up.1.weight": (32,), "G.up.1.bias": (32,),
    "G.up.1.running_mean": (32,), "G.up.1.running_var": (32,), "G.up.1.num_batches_tracked": (),
    "G.up.3.weight": (32, 16, 4, 4), "G.up.4.weight": (16,), "G.up.4.bias": (16,), "G.up.4.running_mean": (16,),
    "G.up.4.running_var": (16,), "G.up.4.num_batches_tracked": (), "G.up.6.weight": (1, 16, 3, 3),
    "G.up.6.bias": (1,), "D.body.0.weight": (16, 1, 4, 4), "D.body.0.bias": (16,), "D.body.2.weight": (32, 16, 4, 4),
    "D.body.2.bias": (32,), "D.out.weight": (1, 512), "D.out.bias": (1,), "D.embed.weight": (10, 512)}


def test_the_old_conditional_config_builds_the_old_module_and_computes_the_old_function():
    import torch.nn.functional as F

    torch.manual_seed(0)
    m = build_model("dcgan", **OLD_COND).eval()
    sd = m.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == OLD_COND_SHAPES
    with torch.no_grad():                                 # give the batch norms non-trivial statistics
        for p in ("G.fc.1", "G.up.1", "G.up.4"):
            sd[p + ".running_mean"].normal_(0, 0.1)
            sd[p + ".bias"].normal_(0, 0.1)
            sd[p + ".running_var"].uniform_(0.5, 2)
    z, y = torch.randn(5, 32), torch.tensor([0, 1, 2, 7, 9])

    def bn(h, p):                                         # eval-mode batch norm written out
        shape = (1, -1) + (1,) * (h.dim() - 2)
        return ((h - sd[p + ".running_mean"].view(shape)) / (sd[p + ".running_var"].view(shape) + 1e-5).sqrt()
                * sd[p + ".weight"].view(shape) + sd[p + ".bias"].view(shape))

    # the original forward, by hand: the label embedding beside z, then Linear-BN-ReLU and two up blocks
    h = torch.cat([z, sd["G.embed.weight"][y]], 1) @ sd["G.fc.0.weight"].T + sd["G.fc.0.bias"]
    h = F.relu(bn(h, "G.fc.1")).view(5, 64, 4, 4)
    h = F.relu(bn(F.conv_transpose2d(h, sd["G.up.0.weight"], stride=2, padding=1), "G.up.1"))
    h = F.relu(bn(F.conv_transpose2d(h, sd["G.up.3.weight"], stride=2, padding=1), "G.up.4"))
    want_x = torch.sigmoid(F.conv2d(h, sd["G.up.6.weight"], sd["G.up.6.bias"], padding=1))
    f = F.leaky_relu(F.conv2d(want_x, sd["D.body.0.weight"], sd["D.body.0.bias"], stride=2, padding=1), 0.2)
    f = F.leaky_relu(F.conv2d(f, sd["D.body.2.weight"], sd["D.body.2.bias"], stride=2, padding=1), 0.2).flatten(1)
    want_d = (f @ sd["D.out.weight"].T).squeeze(1) + sd["D.out.bias"] + (sd["D.embed.weight"][y] * f).sum(1)
    with torch.no_grad():
        x = m.G(z, y)
        assert torch.allclose(x, want_x, atol=1e-5) and torch.allclose(m.D(x, y), want_d, atol=1e-4)


def _shipped_food_cond():
    from dlviz.checkpoints import load_shipped, shipped

    if "dcgan_food_cond" not in shipped():
        pytest.skip("dcgan_food_cond is not shipped")
    return load_shipped("dcgan_food_cond", expected_arch="dcgan")


def test_the_shipped_food_model_uses_both_new_options_and_its_recipe_claims_them():
    from dlviz.recipes import get_recipe

    model, card = _shipped_food_cond()
    assert card["config"]["g_cond"] == "every" and card["config"]["d_mbstd"] > 0
    claims = get_recipe("dcgan_food_cond").claims
    assert {"sample_acc", "within_class_spread", "classes_present", "fd"} <= set(claims)
    assert claims["within_class_spread"][0] == ">="        # a lower bound on variety, not only a cap
    assert card["claims"] == {k: list(v) for k, v in claims.items()}


def test_the_shipped_food_discriminator_prefers_the_true_label():
    from dlviz.metrics import real_reference

    model, _ = _shipped_food_cond()
    real = real_reference("food_shapes")
    x, y = real.images[:400], real.labels[:400]
    with torch.no_grad():
        true = model.D(x, y)
        wrong = torch.stack([model.D(x, (y + s) % 10) for s in range(1, 10)])    # every wrong label
    assert (true > wrong.mean(0)).float().mean() > 0.8     # real images score higher under their own class
    assert float(true.mean() - wrong.mean()) > 0.5


def test_blank_samples_never_count_as_recognised():
    """The DCGAN's sample accuracy uses the DDPM page's "no object" rule: a plain square is never a hit."""
    from dlviz.ddpm.quality import NO_OBJECT, recognise
    from dlviz.gans.images import classifier_for, evaluate_dcgan

    class Blank(nn.Module):
        config = build_model("dcgan", image_size=32, channels=3, num_classes=10).config

        def __init__(self) -> None:
            super().__init__()
            self.p = nn.Parameter(torch.zeros(1))
            self.G = lambda z, y: torch.tensor([0.9, 0.5, 0.1]).view(1, 3, 1, 1).expand(len(z), 3, 32, 32).clone()

        def noise(self, n, generator=None):
            return torch.randn(n, 32, generator=generator)

    v = recognise(classifier_for("food_shapes"), Blank().G(torch.zeros(20, 32), None))
    assert np.all(v.predicted == NO_OBJECT)
    out = evaluate_dcgan(Blank(), "food_shapes", n=100)
    assert out["sample_acc"] == 0.0 and out["within_class_spread"] == 0.0


def _tiny_images(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten classes a D can tell apart at a glance: class k is a 16x16 image of brightness (k + 0.5) / 10."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(10, (n,), generator=g)
    x = ((y.float() + 0.5) / 10).view(n, 1, 1, 1).expand(n, 1, 16, 16) + 0.02 * torch.randn(n, 1, 16, 16, generator=g)
    return x.clamp(0, 1), y


def _label_margin(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean of D(real, its label) minus D(real, a wrong label), over every wrong label."""
    with torch.no_grad():
        wrong = torch.stack([model.D(x, (y + s) % 10) for s in range(1, 10)]).mean(0)
        return float((model.D(x, y) - wrong).mean())


def test_a_matching_aware_d_learns_that_image_and_label_must_agree():
    from dlviz.gans.training import make_game

    x, y = _tiny_images()
    margins = {}
    for mismatch in (False, True):
        torch.manual_seed(0)
        m = build_model("dcgan", image_size=16, channels=1, g_width=8, d_width=8, num_classes=10)
        game = make_game(m, d_lr=2e-3, g_lr=2e-3, seed=0)
        game.mismatch = mismatch
        for i in range(60):
            idx = torch.arange(i * 32, i * 32 + 32) % len(x)
            game.fake = lambda n, labels, r=x[idx]: r.clone()     # a G that has matched the data, label by label
            game.step_d(x[idx], y[idx])
        margins[mismatch] = _label_margin(m.eval(), x, y)
    # fakes identical to the reals: only the wrong-label pairs tell D anything about labels
    assert margins[True] > 1.0 and abs(margins[False]) < 0.5, margins


def test_mode_seeking_charges_a_generator_that_ignores_z():
    from dlviz.gans.training import make_game

    torch.manual_seed(0)
    m = build_model("dcgan", image_size=16, channels=1, g_width=8, d_width=8, num_classes=10)
    y = torch.arange(16) % 10
    plain = make_game(m, seed=0).step_g(16, None, y)
    seek = make_game(m, seed=0, diversity=1.0).step_g(16, None, y)
    assert "mode_seeking" not in plain and seek["mode_seeking"] > 0
    with torch.no_grad():
        m.G.fc[0].weight[:, : m.config.noise_dim] = 0   # G now ignores z: two z at one label give one image
    blind = make_game(m, seed=0, diversity=1.0).step_g(16, None, y)
    assert blind["mode_seeking"] < 1e-6 and blind["g_loss"] > 1e4   # 1 / (ratio + 1e-5)


def test_an_auxiliary_classifier_is_trained_on_real_labels():
    from dlviz.gans.training import make_game

    x, y = _tiny_images()
    torch.manual_seed(0)
    m = build_model("dcgan", image_size=16, channels=1, g_width=8, d_width=8, num_classes=10, d_aux=1.0)
    assert build_model("dcgan", image_size=16, channels=1, num_classes=10).D.aux is None      # off by default
    game = make_game(m, d_lr=2e-3, g_lr=2e-3, seed=0)
    for i in range(60):
        idx = torch.arange(i * 32, i * 32 + 32) % len(x)
        game.step_d(x[idx], y[idx])
    with torch.no_grad():
        acc = float((m.eval().D.both(x, y)[1].argmax(1) == y).float().mean())
    assert acc > 0.3                                      # chance: 0.1


def test_label_maps_give_d_the_label_as_input_channels():
    m = _cond(16, d_label_maps=True)
    assert m.D.body[0].in_channels == 1 + 10 and _cond(16).D.body[0].in_channels == 1
    x = torch.rand(4, 1, 16, 16)
    seen = {}
    m.D.body[0].register_forward_hook(lambda mod, i, o: seen.__setitem__("x", i[0]))
    with torch.no_grad():
        m.D(x, torch.tensor([0, 3, 3, 9]))
    assert torch.equal(seen["x"][:, :1], x)
    assert torch.equal(seen["x"][:, 1:].mean((2, 3)), nn.functional.one_hot(torch.tensor([0, 3, 3, 9]), 10).float())


def test_a_live_conditional_dcgan_trains_with_the_shipped_recipes_fixes():
    from dlviz.gans.recipes import IMAGE_PLANS
    from dlviz.gans.training import make_live_dcgan

    for key, name in (("digits", "dcgan_digits_cond"), ("food_shapes", "dcgan_food_cond")):
        tr = make_live_dcgan(key, True, 2, 3e-4, "non-saturating").run()
        model_opts, train_opts = IMAGE_PLANS[name][7:9]
        assert tr.status == "finished"
        assert all(getattr(tr.model.config, k) == v for k, v in model_opts.items())
        assert (tr.game.mismatch, tr.game.diversity) == (train_opts["mismatch"], train_opts["diversity"])
    plain = make_live_dcgan("digits", False, 2, 3e-4, "non-saturating")
    assert plain.model.config.g_cond == "input" and plain.game.diversity == 0 and not plain.game.mismatch


def test_pooled_mode_seeking_does_not_count_pixel_noise_as_variety():
    from dlviz.gans.training import make_game

    m = build_model("dcgan", image_size=16, channels=1, g_width=8, d_width=8, num_classes=10)
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None]) % 2 * 2 - 1).float()      # +-1, mean 0 per 2x2
    base = m.G

    class NoisyG(nn.Module):                              # z moves only a zero-mean pixel pattern (plus G's output)
        def __init__(self) -> None:
            super().__init__()
            self.g = base

        def forward(self, z, y):
            return 0 * self.g(z, y) + 0.5 + 0.1 * z[:, :1, None, None] * checker

    m.G = NoisyG()
    y = torch.arange(16) % 10
    pixel = make_game(m, seed=0, diversity=1.0).step_g(16, None, y)["mode_seeking"]
    pooled = make_game(m, seed=0, diversity=1.0, diversity_pool=2).step_g(16, None, y)["mode_seeking"]
    assert pixel > 0.01 and pooled < 1e-6
