"""The GAN game as training steps: :class:`Game` takes ``d_steps`` discriminator updates, then one
generator update (Goodfellow et al. 2014, Algorithm 1), optionally through a discriminator unrolled
``k`` steps (Metz et al. 2017) and with packed discriminator inputs (PacGAN). :func:`make_trainer` wraps a
Game in a :class:`dlviz.train.Trainer` (``step_fn``) that records the losses, D's accuracy, the size of
the gradient G receives, the divergence D's loss estimates and, every ``eval_every`` steps, the mode
metrics; it stops on a non-finite *or exploding* loss and restores the last good weights of both
players and their optimisers.

:meth:`Game.step_d` / :meth:`Game.step_g` move one player alone (the page's "step D only / step G only").
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlviz.gans.core import d_loss, distance_estimate, g_loss, gradient_penalty, unrolled_params
from dlviz.gans.data import Dataset2D
from dlviz.gans.metrics import mode_stats
from dlviz.train import Trainer, make_optimizer

EXPLODE = 1e4          # |loss| above this stops a run: a loss that large has left the game
LIVE_DEFAULTS = {"steps": 3000, "batch_size": 256, "lr": 2e-3, "optimizer": "Adam", "width": 64}   # as the recipes
EVAL_N = 2500          # samples per mode measurement (PacGAN, VEEGAN)


def make_gan_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """Adam/AdamW with beta1 = 0.5 (Radford et al. 2016), any other optimiser as :mod:`dlviz.train` makes it."""
    if name == "Adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))
    if name == "AdamW":
        return torch.optim.AdamW(params, lr=lr, betas=(0.5, 0.999))
    return make_optimizer(name, params, lr)


class Game:
    """Both players of ``model`` (``model.G``, ``model.D``) and their optimisers, and one round of play."""

    def __init__(self, model: nn.Module, loss: str = "non-saturating", *, d_opt: torch.optim.Optimizer,
                 g_opt: torch.optim.Optimizer, d_steps: int = 1, unroll: int = 0, gp_weight: float = 10.0,
                 seed: int = 0, diversity: float = 0.0, mismatch: bool = False, diversity_pool: int = 1) -> None:
        self.model, self.loss = model, loss
        self.diversity = float(diversity)    # > 0: MSGAN's mode-seeking term for a conditional image G
        self.mismatch = bool(mismatch)       # a conditional D also learns real images with a wrong label as fake
        self.diversity_pool = int(diversity_pool)   # > 1: the mode-seeking distance on images averaged in p x p
        self.d_opt, self.g_opt = d_opt, g_opt
        self.d_steps, self.unroll, self.gp_weight = int(d_steps), int(unroll), gp_weight
        self.images = not hasattr(model, "discriminate")
        self.pack = getattr(model.config, "pack", 1)
        self.gen = torch.Generator().manual_seed(seed + 7)
        self.reason = ""
        self.schedulers: list = []       # stepped once per round (e.g. a learning-rate decay of both players)

    # -------------------------------------------------------------- the players' outputs
    def fake(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        z = self.model.noise(n, self.gen)
        return self.model.G(z) if not self.images else self.model.G(z, y)

    def d(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.D(x, y) if self.images else self.model.discriminate(x)

    def _aux_weight(self) -> float:
        return float(getattr(self.model.config, "d_aux", 0.0)) if self.images else 0.0

    def _d_objective(self, real: torch.Tensor, fake: torch.Tensor, y=None) -> tuple[torch.Tensor, dict]:
        aux = self._aux_weight()
        if aux > 0:                                  # AC-GAN: D also learns the class of the real images
            (out_r, cls_r), out_f = self.model.D.both(real, y), self.d(fake, y)
        else:
            out_r, out_f = self.d(real, y), self.d(fake, y)
        base = d_loss(self.loss, out_r, out_f)
        if self.mismatch and self.images and y is not None:
            # the matching-aware D of GAN-CLS (Reed et al. 2016, Algorithm 1): a real image with a wrong label is one
            # more kind of fake, so D must check that image and label agree: (L(real, fake) + L(real, wrong)) / 2
            k = self.model.config.num_classes
            wrong = (y + torch.randint(1, k, y.shape, generator=self.gen).to(y.device)) % k
            base = 0.5 * (base + d_loss(self.loss, out_r, self.d(real, wrong)))
        loss = base + aux * F.cross_entropy(cls_r, y) if aux > 0 else base
        if self.loss == "wgan-gp":
            if self.images:                                     # per image, at the image's own label
                gp = gradient_penalty(lambda x: self.model.D(x, y), real, fake, self.gen)
            else:                                               # per packed input (B, m * 2)
                gp = gradient_penalty(self.model.D, real.reshape(len(out_r), -1), fake.reshape(len(out_f), -1),
                                      self.gen)
            loss = loss + self.gp_weight * gp
        thr = 0.5 if self.loss == "least-squares" else 0.0
        acc = 0.5 * ((out_r > thr).float().mean() + (out_f <= thr).float().mean())
        return loss, {"d_loss": float(loss.detach()), "distance": distance_estimate(self.loss, float(base.detach())),
                      "d_real": float(out_r.detach().mean()), "d_fake": float(out_f.detach().mean()), "d_acc": float(acc)}

    # -------------------------------------------------------------- one player at a time
    def step_d(self, real: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, float]:
        """One discriminator update on a real batch (B*m, ...) and as many fresh fakes."""
        self.model.train()
        with torch.no_grad():
            fake = self.fake(len(real), y)
        loss, info = self._d_objective(real, fake, y)
        self.d_opt.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            self.d_opt.step()
        return info

    def step_g(self, n: int, reals: list[torch.Tensor] | None = None, y: torch.Tensor | None = None
               ) -> dict[str, float]:
        """One generator update on ``n`` fresh fakes (through a D unrolled on ``reals`` when ``unroll``)."""
        self.model.train()
        seek = self.diversity > 0 and self.images and y is not None and n >= 2
        if seek:      # n fakes and h more at the first h labels, in one batch (so batch norm treats them alike)
            h = n // 2
            z = self.model.noise(n + h, self.gen)
            both = self.model.G(z, torch.cat([y, y[:h]]))
            fake, twin = both[:n], both[n:]
        else:
            fake = self.fake(n, y)
        fake.retain_grad()
        if self.unroll and reals and not self.images:
            D = self.model.D
            state = {name: self.d_opt.state[p] for name, p in D.named_parameters() if p in self.d_opt.state}
            adam = isinstance(self.d_opt, torch.optim.Adam)
            params = unrolled_params(D, self.loss, [r.reshape(-1, D[0].in_features) for r in reals[: self.unroll]],
                                     fake.reshape(-1, D[0].in_features), self.d_opt.param_groups[0]["lr"],
                                     opt_state=state if adam else None, inner="adam" if adam else "sgd",
                                     betas=self.d_opt.param_groups[0].get("betas", (0.5, 0.999)),
                                     gp_weight=self.gp_weight)
            out = torch.func.functional_call(D, params, (fake.reshape(-1, D[0].in_features),)).squeeze(-1)
        elif self._aux_weight() > 0:                 # AC-GAN: G also wants D to name the class it was asked for
            out, cls_f = self.model.D.both(fake, y)
        else:
            out = self.d(fake, y)
        loss = g_loss(self.loss, out)
        if self._aux_weight() > 0 and not (self.unroll and reals and not self.images):
            loss = loss + self._aux_weight() * F.cross_entropy(cls_f, y)
        info = {}
        if seek:      # mode seeking (Mao et al. 2019, eq. 3): two z at the same label should give two images
            a, b = fake[:h], twin
            if self.diversity_pool > 1:        # coarse variety only: pixel noise does not count as a different image
                a, b = F.avg_pool2d(a, self.diversity_pool), F.avg_pool2d(b, self.diversity_pool)
            ratio = (a - b).abs().mean() / (z[:h] - z[n:]).abs().mean()
            loss = loss + self.diversity / (ratio + 1e-5)
            info["mode_seeking"] = float(ratio.detach())
        self.g_opt.zero_grad(set_to_none=True)
        self.d_opt.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            self.g_opt.step()
        self.d_opt.zero_grad(set_to_none=True)       # G's backward also reached D: D does not learn from it
        g = fake.grad
        gnorm = float(g.flatten(1).norm(dim=1).mean() * len(g)) if g is not None else math.nan
        return {"g_loss": float(loss.detach()), "g_grad": gnorm, **info}   # |dL_G/dx| per fake sample (x n: per-sample scale)

    def step(self, batch) -> dict[str, float]:
        """``d_steps`` D updates, then one G update. ``batch``: real chunks (S, B, ...) or ``(chunks, labels)``."""
        reals, ys = (batch if isinstance(batch, (tuple, list)) else (batch, None))
        info: dict[str, float] = {}
        for i in range(self.d_steps):
            info = self.step_d(reals[i], None if ys is None else ys[i])
        extra = [reals[(self.d_steps + j) % len(reals)] for j in range(self.unroll)]
        y = None if ys is None else ys[0]
        info.update(self.step_g(len(reals[0]), extra, y))
        for sch in self.schedulers:
            sch.step()
        bad = [k for k in ("d_loss", "g_loss") if not math.isfinite(info[k]) or abs(info[k]) > EXPLODE]
        info["loss"] = info["d_loss"]
        if bad:
            what = " and ".join({"d_loss": "D's", "g_loss": "G's"}[k] + f" loss ({info[k]:.3g})" for k in bad)
            self.reason = (f"{what} {'became non-finite' if any(not math.isfinite(info[k]) for k in bad) else 'exploded'}"
                           " -- a learning rate this high makes the game diverge.")
            info["loss"] = math.nan
        return info


class GANTrainer(Trainer):
    """A Trainer whose good state includes both optimisers, and whose divergence message says which loss broke."""

    game: Game

    def _keep_good(self) -> None:
        super()._keep_good()
        self._good_opts = (copy.deepcopy(self.game.d_opt.state_dict()), copy.deepcopy(self.game.g_opt.state_dict()))

    def _restore_good(self) -> int:
        step = super()._restore_good()
        self.game.d_opt.load_state_dict(self._good_opts[0])
        self.game.g_opt.load_state_dict(self._good_opts[1])
        return step

    def _loop(self) -> None:
        super()._loop()
        if self.status == "diverged" and self.game.reason:
            good = self.step
            self.message = (f"Training diverged: {self.game.reason} Both players' weights from step {good} (the last "
                            "good state) were restored; lower the learning rates and train again.")


def real_chunks(data: Dataset2D, batch: int, chunks: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """Endless fresh real batches, ``chunks`` at a time: (chunks, batch, 2)."""
    g = torch.Generator().manual_seed(seed)
    while True:
        yield data.sample(chunks * batch, g).view(chunks, batch, 2)


def image_chunks(images: torch.Tensor, labels: torch.Tensor, batch: int, chunks: int, seed: int = 0):
    """Endless shuffled image batches, ``chunks`` at a time: ((chunks, B, C, H, W), (chunks, B))."""
    g = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(len(images), generator=g), 0
    while True:
        idx = []
        for _ in range(chunks):
            if pos + batch > len(perm):
                perm, pos = torch.randperm(len(images), generator=g), 0
            idx.append(perm[pos:pos + batch])
            pos += batch
        idx = torch.stack(idx)
        yield images[idx], labels[idx]


def mode_eval(model: nn.Module, data: Dataset2D, n: int = EVAL_N, seed: int = 0,
              min_count: int | None = None) -> dict[str, float]:
    """The mode metrics of ``n`` samples from fixed noise (deterministic for a seed); ``min_count`` high-quality
    samples capture a mode (default: this page's 20 of 2,500; PacGAN's logger counts 1)."""
    if not data.has_modes:
        return {}
    with torch.no_grad():
        x = model.generate(n, torch.Generator().manual_seed(seed)).cpu().numpy()
    return mode_stats(x, data.modes, data.sigma, min_count=min_count).as_dict()


def make_game(model: nn.Module, loss: str = "non-saturating", *, d_lr: float = 1e-3, g_lr: float = 1e-3,
              d_optimizer: str = "Adam", g_optimizer: str = "Adam", d_steps: int = 1, unroll: int = 0,
              seed: int = 0, diversity: float = 0.0, mismatch: bool = False, diversity_pool: int = 1) -> Game:
    return Game(model, loss, d_opt=make_gan_optimizer(d_optimizer, model.D.parameters(), d_lr),
                g_opt=make_gan_optimizer(g_optimizer, model.G.parameters(), g_lr), d_steps=d_steps, unroll=unroll,
                seed=seed, diversity=diversity, mismatch=mismatch, diversity_pool=diversity_pool)


class ManualGame:
    """"Step D only / step G only" by hand, on a copy of a model (fresh Adam, lr 1e-3, for each player)."""

    def __init__(self, model_copy: nn.Module, loss: str, source, seed: int = 5) -> None:
        self.model, self.source, self.d, self.g = model_copy, source, 0, 0
        self.game = make_game(model_copy, loss, d_lr=1e-3, g_lr=1e-3)
        self.gen = torch.Generator().manual_seed(seed)

    def step(self, player: str, n: int, data: Dataset2D, batch: int = 128) -> None:
        bs = batch * self.model.config.pack
        for _ in range(n):
            if player == "D":
                self.game.step_d(data.sample(bs, self.gen))
            else:
                self.game.step_g(bs)
        if player == "D":
            self.d += n
        else:
            self.g += n

    @property
    def title(self) -> str:
        return f"after {self.d} D and {self.g} G updates by hand"


def make_trainer(model: nn.Module, data: Dataset2D, *, steps: int = 3000, batch_size: int = 128,
                 loss: str = "non-saturating", d_lr: float = 1e-3, g_lr: float = 1e-3, d_optimizer: str = "Adam",
                 g_optimizer: str = "Adam", d_steps: int = 1, unroll: int = 0, seed: int = 0, eval_every: int = 0,
                 snapshot_fn: Callable | None = None, snapshot_every: int = 0, lr_final: float = 1.0,
                 name: str = "gan") -> GANTrainer:
    """A Trainer for a 2-D GAN (``gan_mlp``) on ``data``: each step is one round of :class:`Game`.

    ``batch_size`` counts D's inputs: with packing m, each batch holds ``batch_size * m`` samples.
    ``lr_final < 1`` decays both learning rates geometrically to that fraction over the run."""
    game = make_game(model, loss, d_lr=d_lr, g_lr=g_lr, d_optimizer=d_optimizer, g_optimizer=g_optimizer,
                     d_steps=d_steps, unroll=unroll, seed=seed)
    if lr_final < 1.0:
        gamma = lr_final ** (1.0 / max(1, steps))
        game.schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, gamma) for o in (game.d_opt, game.g_opt)]
    n = batch_size * model.config.pack
    eval_fn = (lambda m: mode_eval(m, data)) if data.has_modes else None
    tr = GANTrainer(model, step_fn=game.step, batches=real_chunks(data, n, d_steps + unroll, seed), steps=steps,
                    eval_fn=eval_fn, eval_every=eval_every or max(50, steps // 30), snapshot_fn=snapshot_fn,
                    snapshot_every=snapshot_every, name=name)
    tr.game = game
    tr.gan_data = data
    return tr


def make_image_trainer(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, steps: int = 2000,
                       batch_size: int = 64, loss: str = "non-saturating", d_lr: float = 2e-4, g_lr: float = 2e-4,
                       d_steps: int = 1, seed: int = 0, eval_fn: Callable | None = None, eval_every: int = 0,
                       snapshot_fn: Callable | None = None, snapshot_every: int = 0, name: str = "dcgan",
                       diversity: float = 0.0, mismatch: bool = False, diversity_pool: int = 1) -> GANTrainer:
    """A Trainer for a ``dcgan`` on ``images`` (N, C, H, W) in [0, 1] (labels used when it is conditional).

    ``diversity = w > 0`` adds MSGAN's mode-seeking term to a conditional G's loss (Mao et al. 2019): w divided by
    mean |G(z1, y) - G(z2, y)| / mean |z1 - z2| over half a batch, so a G that ignores z pays for it
    (``diversity_pool = p > 1``: the images averaged over p x p blocks first, our variant, so G cannot buy that
    variety with pixel noise).
    ``mismatch`` makes a conditional D matching-aware (GAN-CLS, Reed et al. 2016): real images with a wrong label
    count as fake too. Without it D never sees a real image with the wrong label, and its projection term can
    learn to score real images *lower* under their own class."""
    game = make_game(model, loss, d_lr=d_lr, g_lr=g_lr, d_steps=d_steps, seed=seed, diversity=diversity,
                     mismatch=mismatch, diversity_pool=diversity_pool)
    if not model.config.num_classes:
        stream = (x for x, _ in image_chunks(images, labels, batch_size, d_steps, seed))
    else:
        stream = image_chunks(images, labels, batch_size, d_steps, seed)
    tr = GANTrainer(model, step_fn=game.step, batches=stream, steps=steps, eval_fn=eval_fn,
                    eval_every=eval_every if eval_fn else 0, snapshot_fn=snapshot_fn, snapshot_every=snapshot_every,
                    name=name)
    tr.game = game
    return tr


def seed_summary(trainers: dict[str, Trainer], keys: tuple[str, ...] = ("modes_captured", "high_quality_frac",
                 "reverse_kl")) -> dict[str, tuple[float, float, int]]:
    """``{metric: (mean, standard error, runs)}`` of each run's latest measurement."""
    from dlviz.gans.metrics import mean_se

    out = {}
    for k in keys:
        vals = [t.latest(k) for t in trainers.values()]
        vals = [v for v in vals if np.isfinite(v)]
        m, se = mean_se(vals)
        out[k] = (m, se, len(vals))
    return out


def make_live_runs(cfg: dict, data: Dataset2D, base_seed: int = 0):
    """The page's live run from its sidebar settings ``cfg``: one Trainer (or five, ``{"seed s": Trainer}``, with
    ``cfg["five"]``) of a fresh ``gan_mlp``, snapshotting the layered view about 60 times."""
    from dlviz.gans.views import snapshot_fn
    from dlviz.models import build_model

    seeds = [base_seed + i for i in range(5)] if cfg["five"] else [base_seed]
    runs = {}
    for s in seeds:
        torch.manual_seed(s)
        m = build_model("gan_mlp", noise_dim=cfg["nz"], noise=cfg["nk"], g_width=cfg["gw"], g_depth=cfg["gd"],
                        d_width=cfg["dw"], d_depth=cfg["dd"], pack=cfg["pack"])
        tr = make_trainer(m, data, steps=cfg["steps"], batch_size=cfg["bs"], loss=cfg["loss"], d_lr=cfg["d_lr"],
                          g_lr=cfg["g_lr"], d_optimizer=cfg["d_opt"], g_optimizer=cfg["g_opt"],
                          d_steps=cfg["d_steps"], unroll=cfg["unroll"], seed=s, lr_final=cfg["lr_final"],
                          snapshot_fn=snapshot_fn(cfg["loss"], data), snapshot_every=max(10, cfg["steps"] // 60),
                          name=f"seed {s}")
        tr.gan_loss = cfg["loss"]
        runs[f"seed {s}" if cfg["five"] else ""] = tr
    return runs if cfg["five"] else runs[""]


def make_live_dcgan(key: str, conditional: bool, steps: int, lr: float, loss: str, seed: int = 0) -> GANTrainer:
    """The page's live DCGAN (narrow: 16 channels) on image set ``key``, snapshotting its fixed-noise grid ~40 times.
    A conditional one gets the shipped conditional recipe's model and training options (label in every G block,
    matching-aware D, minibatch standard deviation, mode seeking)."""
    from dlviz.gans.images import dcgan_config, load_images
    from dlviz.gans.views import image_snapshot_fn
    from dlviz.models import build_model

    data = load_images(key)
    extra, opts = {}, {}
    if conditional:
        from dlviz.gans.recipes import IMAGE_PLANS

        extra, opts = IMAGE_PLANS["dcgan_digits_cond" if key == "digits" else "dcgan_food_cond"][7:9]
    torch.manual_seed(seed)
    m = build_model("dcgan", **{**dcgan_config(key, conditional), "g_width": 16, "d_width": 16, **extra})
    tr = make_image_trainer(m, data.images, data.labels, steps=steps, batch_size=64, loss=loss, d_lr=lr, g_lr=lr,
                            seed=seed, snapshot_fn=image_snapshot_fn(), snapshot_every=max(10, steps // 40),
                            name="dcgan", **opts)
    tr.img_key = key
    return tr
