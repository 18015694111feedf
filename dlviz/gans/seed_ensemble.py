"""Several seeds of one 2-D GAN trained at once: the "run 5 seeds" of PacGAN (Lin et al. 2018, Table 1) and VEEGAN
(Srivastava et al. 2017, Table 1) at the price of about one run.

A 2-D GAN's layers are tiny (64 units, a batch of a few hundred points), so on a CPU one training step costs
mostly the framework's per-operation overhead, not arithmetic. Stacking E independent ``gan_mlp`` models -- each
its own weights, data, noise and optimiser state -- turns their E small matrix products into one batched product
(``torch.baddbmm`` on (E, B, in) x (E, in, out)): on the shipped grid plan five seeds took 51.8 CPU-s each
instead of 131 one at a time, about the price of two runs.

Nothing is shared between the members: the losses are summed over members, so member e's gradient is exactly the
gradient of its own loss; Adam works element-wise, so one Adam over the stacked tensors is E independent Adams; and
each member draws its real batches and its noise from its own generator, seeded by its own seed, so a member's run
does not depend on which other seeds train beside it (``tests/test_gans_seed_ensemble.py`` checks all three
against plain ``gan_mlp`` models). The members are built by :func:`dlviz.models.build_model` after
``torch.manual_seed(seed)``, so each starts from the same weights a single run of that seed would, and they are
written back into those models at the end.

Plain MLP players only (no batch norm in G, no maxout in D) and the losses without a gradient penalty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.gans.core import d_terms, g_terms
from dlviz.gans.data import Dataset2D
from dlviz.models import build_model
from dlviz.models.gan import noise as draw_noise

LOSSES = ("minimax", "non-saturating", "least-squares", "hinge")


def _linears(seq: nn.Sequential) -> list[nn.Linear]:
    return [m for m in seq if isinstance(m, nn.Linear)]


class StackedMLP:
    """The Linear layers of E equal-shaped MLPs as stacked leaf tensors: weights (E, in, out), biases (E, 1, out)."""

    def __init__(self, mlps: Sequence[nn.Sequential], slope: float | None) -> None:
        layers = [_linears(s) for s in mlps]
        self.slope = slope              # LeakyReLU's negative slope; None: ReLU
        self.weights = [torch.stack([ls[i].weight.detach().t() for ls in layers]).contiguous().requires_grad_()
                        for i in range(len(layers[0]))]
        self.biases = [torch.stack([ls[i].bias.detach()[None] for ls in layers]).contiguous().requires_grad_()
                       for i in range(len(layers[0]))]

    def parameters(self) -> list[torch.Tensor]:
        return self.weights + self.biases

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(E, B, in) -> (E, B, out)."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.leaky_relu(x, self.slope) if self.slope is not None else F.relu(x)
        return x

    def write_back(self, mlps: Sequence[nn.Sequential]) -> None:
        """Copy member e's weights into ``mlps[e]``."""
        with torch.no_grad():
            for e, seq in enumerate(mlps):
                for lin, w, b in zip(_linears(seq), self.weights, self.biases):
                    lin.weight.copy_(w[e].t())
                    lin.bias.copy_(b[e, 0])


def _slope(model: nn.Module) -> float | None:
    act = model.config.activation
    if act == "leaky_relu":
        return 0.2
    if act == "relu":
        return None
    raise ValueError(f"seed ensembles train leaky_relu or relu players, not {act!r}")


class SeedEnsemble:
    """E ``gan_mlp`` models of one configuration, one per seed, trained together (see the module docstring)."""

    def __init__(self, seeds: Sequence[int], loss: str = "non-saturating", lr: float = 2e-3, betas=(0.5, 0.999),
                 steps: int = 1, lr_final: float = 1.0, **model_kwargs) -> None:
        if loss not in LOSSES:
            raise ValueError(f"seed ensembles train the losses {', '.join(LOSSES)}, not {loss!r}")
        self.seeds, self.loss = list(seeds), loss
        self.models = []
        for s in self.seeds:                      # the same initial weights as a single run of seed s
            torch.manual_seed(s)
            self.models.append(build_model("gan_mlp", **model_kwargs))
        c = self.models[0].config
        if c.g_batchnorm or c.d_maxout > 1:
            raise ValueError("seed ensembles train plain MLP players (no batch norm, no maxout)")
        self.config, slope = c, _slope(self.models[0])
        self.G = StackedMLP([m.G for m in self.models], slope)
        self.D = StackedMLP([m.D for m in self.models], slope)
        self.g_opt = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        self.d_opt = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
        gamma = lr_final ** (1.0 / max(1, steps))
        self.schedulers = ([torch.optim.lr_scheduler.ExponentialLR(o, gamma) for o in (self.d_opt, self.g_opt)]
                           if lr_final < 1.0 else [])
        self.gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        self.step_count = 0

    @property
    def size(self) -> int:
        return len(self.seeds)

    def noise(self, n: int) -> torch.Tensor:
        """Each member's noise from its own generator: (E, n, noise_dim)."""
        return torch.stack([draw_noise(n, self.config.noise_dim, self.config.noise, g) for g in self.gens])

    def real(self, data: Dataset2D, n: int) -> torch.Tensor:
        """Each member's real batch from its own generator: (E, n, 2)."""
        return torch.stack([data.sample(n, g) for g in self.gens])

    def _d(self, x: torch.Tensor) -> torch.Tensor:
        """D's outputs for samples (E, B*m, 2) packed m at a time: (E, B)."""
        E, n, dim = x.shape
        return self.D(x.reshape(E, n // self.config.pack, dim * self.config.pack)).squeeze(-1)

    def step(self, real: torch.Tensor, z_d: torch.Tensor, z_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One D update on ``real`` (E, n, 2) against G(z_d), then one G update on G(z_g): the round of
        :class:`dlviz.gans.training.Game` with ``d_steps = 1``. Returns each member's (D loss, G loss), (E,) each."""
        with torch.no_grad():
            fake = self.G(z_d)
        r, f = d_terms(self.loss, self._d(real), self._d(fake))
        ld = r.mean(1) + f.mean(1)                                   # (E,): each member's own loss
        self.d_opt.zero_grad(set_to_none=True)
        ld.sum().backward()                                          # member e's gradient = its own loss's
        self.d_opt.step()
        lg = g_terms(self.loss, self._d(self.G(z_g))).mean(1)        # (E,)
        self.g_opt.zero_grad(set_to_none=True)
        lg.sum().backward()
        self.g_opt.step()
        for p in self.D.parameters():                                # G's backward also reached D: D does not learn
            p.grad = None
        for s in self.schedulers:
            s.step()
        self.step_count += 1
        return ld.detach(), lg.detach()

    def train(self, data: Dataset2D, steps: int, batch_size: int,
              on_progress: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
              check_every: int = 100) -> list[nn.Module]:
        """``steps`` rounds on ``data`` (``batch_size`` D inputs, so ``batch_size * pack`` samples a batch); stops
        with an error naming the seed whose losses became non-finite. Returns the trained models, in seed order."""
        n = batch_size * self.config.pack
        for i in range(1, steps + 1):
            ld, lg = self.step(self.real(data, n), self.noise(n), self.noise(n))
            if i % check_every == 0 or i == steps:
                bad = [s for s, a, b in zip(self.seeds, ld.tolist(), lg.tolist())
                       if not (math.isfinite(a) and math.isfinite(b))]
                if bad:
                    raise RuntimeError(f"seed {bad[0]}: the losses became non-finite at step {i}")
                if on_progress is not None:
                    on_progress(i, ld, lg)
        return self.finish()

    def finish(self) -> list[nn.Module]:
        """The members as plain ``gan_mlp`` models (eval mode)."""
        self.G.write_back([m.G for m in self.models])
        self.D.write_back([m.D for m in self.models])
        return [m.eval() for m in self.models]
