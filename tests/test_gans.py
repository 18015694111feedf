"""GAN mathematics against closed forms and hand-made answers: each loss's terms, the optimal discriminator
D* = p / (p + q) (found by brute force point by point, and by training a D to convergence), the minimax
value -log 4 at the optimum and the divergences the other losses' optima estimate (computed here by
independent numerical integration), the gradient penalty, packing, the unrolled D, the mode metrics,
the point parser's errors, and the game's divergence guard."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlviz.data import DataError
from dlviz.gans import core, data, metrics
from dlviz.models import build_model

torch.set_num_threads(1)
X = np.linspace(-8, 8, 4001)
DX = X[1] - X[0]


def _normal(x, mu, s):
    return np.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))


P, Q = _normal(X, 0.0, 1.0), _normal(X, 1.5, 0.7)


def _integrand(kind, d, p, q):
    r, f = core.d_terms(kind, torch.as_tensor(d, dtype=torch.float64), torch.as_tensor(d, dtype=torch.float64))
    return p * r.numpy() + q * f.numpy()


# ------------------------------------------------------------------ the losses' terms
def test_terms_match_their_formulas():
    d = torch.linspace(-4, 4, 17, dtype=torch.float64)
    s = torch.sigmoid(d)
    r, f = core.d_terms("minimax", d, d)
    assert torch.allclose(r, -torch.log(s)) and torch.allclose(f, -torch.log(1 - s))
    assert torch.allclose(core.g_terms("minimax", d), torch.log(1 - s))
    assert torch.allclose(core.g_terms("non-saturating", d), -torch.log(s))
    r, f = core.d_terms("least-squares", d, d)
    assert torch.allclose(r, (d - 1) ** 2 / 2) and torch.allclose(f, d ** 2 / 2)
    assert torch.allclose(core.g_terms("least-squares", d), (d - 1) ** 2 / 2)
    r, f = core.d_terms("hinge", d, d)
    assert torch.allclose(r, torch.clamp(1 - d, min=0)) and torch.allclose(f, torch.clamp(1 + d, min=0))
    r, f = core.d_terms("wgan-gp", d, d)
    assert torch.equal(r, -d) and torch.equal(f, d)
    assert core.d_terms("minimax", torch.zeros(1), torch.zeros(1))[0].item() == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="unknown loss"):
        core.d_loss("nope", d, d)


def test_saturating_generator_gradient_vanishes_where_d_wins():
    """Goodfellow et al. Sec. 3: when D rejects a fake confidently (d -> -inf), log(1 - D) has no gradient."""
    d = torch.tensor([-8.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(core.g_loss("minimax", d), d)
    (g_ns,) = torch.autograd.grad(core.g_loss("non-saturating", d), d)
    assert abs(g_mm.item()) < 1e-3 and abs(g_ns.item()) > 0.99


# ------------------------------------------------------------------ optimal discriminators
@pytest.mark.parametrize("kind", ["minimax", "least-squares", "hinge"])
def test_optimal_d_is_the_pointwise_minimiser_found_by_brute_force(kind):
    cand = np.linspace(-12, 12, 24001) if kind == "minimax" else np.linspace(-2, 2, 4001)
    idx = np.arange(0, len(X), 50)
    p, q = P[idx] + 1e-12, Q[idx] + 1e-12
    vals = _integrand(kind, cand[None, :], p[:, None], q[:, None])       # (points, candidates)
    best = cand[vals.argmin(1)]
    d_star = core.optimal_d(kind, p, q)
    if kind == "minimax":
        ok = np.abs(d_star) < 11
        assert np.allclose(best[ok], d_star[ok], atol=2e-3)
        assert np.allclose(1 / (1 + np.exp(-d_star)), p / (p + q))        # D* = p / (p + q)
    elif kind == "least-squares":
        assert np.allclose(best, p / (p + q), atol=1e-3)
    else:
        clear = np.abs(p - q) > 1e-6 * (p + q)
        assert np.allclose(best[clear], np.sign(p - q)[clear])


def test_minimax_optimum_is_log4_minus_twice_js_and_minus_log4_when_equal():
    m = (P + Q) / 2
    js = 0.5 * np.sum(P * np.log(P / m) + Q * np.log(Q / m)) * DX           # independent integration
    L = np.sum(_integrand("minimax", core.optimal_d("minimax", P, Q), P, Q)) * DX
    assert L == pytest.approx(math.log(4) - 2 * js, abs=1e-6)
    assert core.distance_estimate("minimax", L) == pytest.approx(js, abs=1e-6)
    L_same = np.sum(_integrand("minimax", core.optimal_d("minimax", P, P), P, P)) * DX
    assert -L_same == pytest.approx(-math.log(4), abs=1e-6)                  # V(D*, G) = -log 4 at p_g = p_data


def test_least_squares_and_hinge_optima_estimate_their_divergences():
    tri = np.sum((P - Q) ** 2 / (P + Q)) * DX                                  # triangular discrimination
    tv = 0.5 * np.sum(np.abs(P - Q)) * DX                                      # total variation
    L_ls = np.sum(_integrand("least-squares", core.optimal_d("least-squares", P, Q), P, Q)) * DX
    L_h = np.sum(_integrand("hinge", core.optimal_d("hinge", P, Q), P, Q)) * DX
    assert core.distance_estimate("least-squares", L_ls) == pytest.approx(tri, abs=1e-6)
    assert core.distance_estimate("hinge", L_h) == pytest.approx(tv, abs=1e-6)


def test_trained_discriminator_converges_to_p_over_p_plus_q():
    """A D trained on samples of two fixed 2-D Gaussians approaches D*(x) = p / (p + q)."""
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(D.parameters(), 1e-2)
    mu_q = torch.tensor([1.0, 0.0])
    for _ in range(400):
        real, fake = torch.randn(512, 2), torch.randn(512, 2) + mu_q
        loss = core.d_loss("minimax", D(real).squeeze(-1), D(fake).squeeze(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.tensor([[-1.0, 0.0], [0.0, 0.5], [0.5, 0.0], [1.0, -0.5], [2.0, 0.0]])
    p = torch.exp(-0.5 * (x ** 2).sum(1))
    q = torch.exp(-0.5 * ((x - mu_q) ** 2).sum(1))
    with torch.no_grad():
        got = torch.sigmoid(D(x).squeeze(-1))
    assert torch.allclose(got, p / (p + q), atol=0.05), (got, p / (p + q))


def test_wasserstein_estimate_of_a_shift_with_the_optimal_critic():
    """For N(0, 1) vs N(mu, 1) the 1-Lipschitz critic f(x) = -x attains W_1 = mu (Kantorovich-Rubinstein)."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(200_000, generator=g), torch.randn(200_000, generator=g) + 0.7
    L = float(core.d_loss("wgan-gp", -real, -fake))
    assert core.distance_estimate("wgan-gp", L) == pytest.approx(0.7, abs=0.01)


def test_gradient_penalty_of_a_linear_critic():
    D = torch.nn.Linear(2, 1, bias=True)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[3.0, 4.0]]))                             # |w| = 5
    gp = core.gradient_penalty(D, torch.randn(64, 2), torch.randn(64, 2))
    assert gp.item() == pytest.approx(16.0)                                    # (5 - 1)^2


# ------------------------------------------------------------------ packing and unrolling
def test_pack_puts_m_samples_side_by_side():
    x = torch.arange(12.0).view(6, 2)
    p = core.pack(x, 3)
    assert p.shape == (2, 6) and torch.equal(p[1], torch.tensor([6.0, 7, 8, 9, 10, 11]))
    with pytest.raises(ValueError):
        core.pack(x, 4)


def test_unrolled_step_matches_torch_adam_and_carries_g_gradient():
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    real = torch.randn(32, 2)
    theta = torch.randn(2, requires_grad=True)
    fake = torch.randn(32, 2) + theta
    params = core.unrolled_params(D, "minimax", [real], fake, lr=0.01, betas=(0.5, 0.999))
    ref = build_copy(D)
    opt = torch.optim.Adam(ref.parameters(), lr=0.01, betas=(0.5, 0.999))
    loss = core.d_loss("minimax", ref(real).squeeze(-1), ref(fake.detach()).squeeze(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    for (n, p), r in zip(params.items(), ref.parameters()):
        assert torch.allclose(p, r, atol=1e-6), n
    out = torch.func.functional_call(D, params, (fake,)).sum()
    (g,) = torch.autograd.grad(out, theta)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    sgd = core.unrolled_params(D, "minimax", [real], fake, lr=0.1, inner="sgd")
    grads = torch.autograd.grad(core.d_loss("minimax", D(real).squeeze(-1), D(fake).squeeze(-1)), list(D.parameters()))
    for (n, p), p0, g0 in zip(sgd.items(), D.parameters(), grads):
        assert torch.allclose(p, p0 - 0.1 * g0, atol=1e-6), n


def build_copy(m):
    import copy

    return copy.deepcopy(m)


# ------------------------------------------------------------------ mode metrics
GRID = data.grid()


def test_all_samples_on_one_mode():
    s = metrics.mode_stats(np.repeat(GRID.modes[:1], 2500, 0), GRID.modes, GRID.sigma)
    assert (s.modes_captured, s.high_quality_frac) == (1, 1.0)
    assert s.reverse_kl == pytest.approx(math.log(25))


def test_every_mode_its_share_is_perfect():
    s = metrics.mode_stats(np.repeat(GRID.modes, 100, 0), GRID.modes, GRID.sigma)
    assert (s.modes_captured, s.high_quality_frac, s.reverse_kl) == (25, 1.0, 0.0)


def test_three_sigma_boundary_and_far_samples():
    near = GRID.modes + np.array([2.9 * GRID.sigma, 0])
    far = GRID.modes + np.array([0, 3.1 * GRID.sigma])
    s = metrics.mode_stats(np.concatenate([near, far, np.full((50, 2), 50.0)]), GRID.modes, GRID.sigma, min_count=1)
    assert s.high_quality_frac == pytest.approx(25 / 100)
    assert s.modes_captured == 25 and s.reverse_kl == pytest.approx(0.0)


def test_reverse_kl_of_an_uneven_histogram_and_the_capture_threshold():
    ring = data.ring()
    x = np.concatenate([np.repeat(ring.modes[:1], 3, 0), ring.modes[1:2]])
    s = metrics.mode_stats(x, ring.modes, ring.sigma, min_count=1)
    assert s.reverse_kl == pytest.approx(0.75 * math.log(0.75 * 8) + 0.25 * math.log(0.25 * 8))
    counts = [19] + [100] * 24
    x = np.concatenate([np.repeat(GRID.modes[i:i + 1], c, 0) for i, c in enumerate(counts)])
    x = np.concatenate([x, np.full((2500 - len(x), 2), 99.0)])
    s = metrics.mode_stats(x, GRID.modes, GRID.sigma)
    assert s.min_count == 20 and s.modes_captured == 24                       # this app's count: < 20 of 2,500 is lost
    assert math.isnan(metrics.mode_stats(np.full((10, 2), 99.0), GRID.modes, GRID.sigma).reverse_kl)


def test_mean_and_standard_error():
    m, se = metrics.mean_se([1.0, 2.0, 3.0, float("nan")])
    assert m == 2.0 and se == pytest.approx(1 / math.sqrt(3))


# ------------------------------------------------------------------ data
def test_grid_and_ring_geometry():
    assert sorted(set(GRID.modes[:, 0])) == [-4, -2, 0, 2, 4] and len(GRID.modes) == 25
    ring = data.ring()
    assert np.allclose(np.linalg.norm(ring.modes, axis=1), 1.0) and len(ring.modes) == 8
    x = GRID.sample(20000, torch.Generator().manual_seed(0)).numpy()
    s = metrics.mode_stats(x, GRID.modes, GRID.sigma)
    assert s.modes_captured == 25 and s.high_quality_frac > 0.98 and s.reverse_kl < 0.01
    for key in ("moons", "spiral"):
        d = data.make_dataset(key)
        assert not d.has_modes and d.sample(10).shape == (10, 2)


@pytest.mark.parametrize("text,msg", [
    ("1,2\n3,x\n" + "1,1\n" * 10, "text"),
    ("\n".join(str(i) for i in range(20)), "one column"),
    ("1,2\nnan,3\n" + "1,1\n" * 10, "NaN"),
    ("1,2\n" * 100_001, "too many"),
    ("1,2\n3,4", "too few"),
    ("", "No points"),
])
def test_bad_points_give_clear_errors(text, msg):
    with pytest.raises(DataError, match=msg):
        data.parse_points(text)


def test_points_parse_with_header_and_other_separators():
    pts = data.parse_points("x;y\n" + "\n".join(f"{i};{-i * 0.5}" for i in range(10)))
    assert pts.shape == (10, 2) and pts[3, 1] == -1.5
    pts = data.parse_points("\n".join(f"{i}\t{i}" for i in range(10)).encode())
    assert pts.shape == (10, 2)


# ------------------------------------------------------------------ models and the game
def test_dcgan_shapes_and_conditioning():
    for size, c, k in ((16, 1, 0), (32, 3, 10)):
        m = build_model("dcgan", image_size=size, channels=c, num_classes=k).eval()
        y = torch.arange(4) % max(k, 1)
        x = m.generate(4, torch.Generator().manual_seed(0), labels=y if k else None)
        assert x.shape == (4, c, size, size) and 0 <= x.min() and x.max() <= 1
        assert m.D(x, y if k else None).shape == (4,)


def test_packed_discriminator_reads_m_samples():
    m = build_model("gan_mlp", pack=3)
    assert m.D[0].in_features == 6 and m.discriminate(torch.randn(12, 2)).shape == (4,)


@pytest.mark.parametrize("loss", list(core.LOSSES))
def test_a_short_game_runs_and_records_the_measurements(loss):
    from dlviz.gans.training import make_trainer

    torch.manual_seed(0)
    m = build_model("gan_mlp", g_width=32, d_width=32, g_depth=2, d_depth=2, pack=2 if loss == "hinge" else 1)
    tr = make_trainer(m, data.ring(), steps=30, batch_size=32, loss=loss, d_steps=2,
                      unroll=2 if loss in ("minimax", "wgan-gp") else 0, eval_every=10).run()
    assert tr.status == "finished", tr.message
    h = tr.history()
    for k in ("d_loss", "g_loss", "distance", "d_acc", "g_grad", "modes_captured", "reverse_kl"):
        assert k in h and all(math.isfinite(v) for v in h[k][1] if k != "reverse_kl"), k


def test_an_exploding_learning_rate_stops_and_keeps_the_last_good_state():
    from dlviz.gans.training import make_trainer

    torch.manual_seed(0)
    m = build_model("gan_mlp", g_width=32, d_width=32)
    tr = make_trainer(m, data.grid(), steps=400, batch_size=32, loss="wgan-gp", d_lr=1e3, g_lr=1e3,
                      d_optimizer="SGD", g_optimizer="SGD").run()
    assert tr.status == "diverged"
    assert "diverged" in tr.message and ("exploded" in tr.message or "non-finite" in tr.message)
    assert all(torch.isfinite(p).all() for p in m.parameters())
    assert tr.step < 400
