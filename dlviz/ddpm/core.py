"""Denoising diffusion: the noise schedule, the forward process and one DDPM / DDIM reverse step
(the sampling loop is :mod:`dlviz.ddpm.sampling`).

Ho, Jain & Abbeel (2020), "Denoising Diffusion Probabilistic Models" (DDPM, equation numbers "Ho
eq. N" below); Song, Meng & Ermon (2021), "Denoising Diffusion Implicit Models" (DDIM, "Song eq. N");
Nichol & Dhariwal (2021), "Improved DDPM" (the cosine schedule, "Nichol eq. 17"); Ho & Salimans (2021),
"Classifier-Free Diffusion Guidance".

The schedule is its own object, independent of the network (like ``diffusers.DDPMScheduler``): it
holds the betas and everything precomputed from them, adds noise in closed form, and turns a
network's noise prediction into one reverse step. Indexing follows the paper, not diffusers:
``t = 0`` is the clean image (alpha_bar_0 = 1, nothing added) and ``t = 1..T`` are the noised ones, so
every array has ``T + 1`` entries and ``betas[0] = 0``.

Images live in ``[-1, 1]`` (``to_model_space`` / ``to_image_space`` convert from / to ``[0, 1]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


SCHEDULES = ("linear", "cosine", "quadratic")
# Where a sampler with fewer than T steps starts (names as in diffusers' ``timestep_spacing``; Lin et al. 2024,
# "Common Diffusion Noise Schedules and Sample Steps are Flawed"). "leading" starts one interval below T,
# as the DDIM paper's own code does; "trailing" starts at T itself.
SPACINGS = ("leading", "trailing")


def make_betas(kind: str, num_timesteps: int = 1000, beta_start: float = 1e-4,
               beta_end: float = 0.02) -> torch.Tensor:
    """``(T,)`` float64 betas beta_1..beta_T of a named schedule.

    ``linear`` is Ho et al. section 4 (1e-4 to 0.02 over T = 1000); ``quadratic`` is linear in
    sqrt(beta); both are rescaled by 1000 / T so a shorter chain reaches about the same alpha_bar_T
    (as improved-DDPM does). ``cosine`` defines alpha_bar directly (Nichol eq. 17) with s = 0.008 and
    betas clipped at 0.999.
    """
    T = int(num_timesteps)
    if T < 1:
        raise ValueError("num_timesteps must be at least 1")
    scale = 1000.0 / T
    if kind == "linear":
        return torch.linspace(beta_start * scale, min(beta_end * scale, 0.999), T, dtype=torch.float64)
    if kind == "quadratic":
        lo, hi = math.sqrt(beta_start * scale), math.sqrt(min(beta_end * scale, 0.999))
        return torch.linspace(lo, hi, T, dtype=torch.float64) ** 2
    if kind == "cosine":
        s = 0.008
        steps = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2      # Nichol eq. 17
        abar = f / f[0]
        return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)            # beta_t = 1 - abar_t / abar_{t-1}
    raise ValueError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")


def to_model_space(x01: torch.Tensor) -> torch.Tensor:
    return x01 * 2 - 1


def to_image_space(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).clamp(0, 1)


@dataclass
class StepOutput:
    prev_sample: torch.Tensor          # x_{t-1} (or x_s for a DDIM jump)  (B, C, H, W)
    pred_x0: torch.Tensor              # x̂_0 predicted from x_t and ε̂      (B, C, H, W)


class NoiseSchedule:
    """A discrete-time Gaussian diffusion with ``T`` steps (paper indexing, ``t = 0..T``)."""

    def __init__(self, num_timesteps: int = 1000, kind: str = "linear", beta_start: float = 1e-4,
                 beta_end: float = 0.02) -> None:
        if not (math.isfinite(beta_start) and math.isfinite(beta_end) and 0 <= beta_start <= beta_end < 1):
            raise ValueError(f"the betas must satisfy 0 <= beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
        self.kind, self.T = kind, int(num_timesteps)
        b = torch.cat([torch.zeros(1, dtype=torch.float64), make_betas(kind, self.T, beta_start, beta_end)])
        self.betas = b                                              # (T+1,), beta_0 = 0
        self.alphas = 1 - b                                         # alpha_t = 1 - beta_t
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)         # alpha_bar_t, alpha_bar_0 = 1
        abar, abar_prev = self.alphas_cumprod, torch.cat([torch.ones(1, dtype=torch.float64),
                                                          self.alphas_cumprod[:-1]])
        self.alphas_cumprod_prev = abar_prev
        one_minus = (1 - abar).clamp(min=1e-20)
        # Ho eq. 7: beta~_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t   (0 at t = 0)
        self.posterior_variance = torch.where(abar < 1, (1 - abar_prev) / one_minus * b, torch.zeros_like(b))
        # Ho eq. 7: mu~_t = coef_x0 * x_0 + coef_xt * x_t
        self.posterior_mean_coef_x0 = torch.where(abar < 1, b * abar_prev.sqrt() / one_minus, torch.ones_like(b))
        self.posterior_mean_coef_xt = torch.where(abar < 1, self.alphas.sqrt() * (1 - abar_prev) / one_minus,
                                                  torch.zeros_like(b))

    def __repr__(self) -> str:
        return f"NoiseSchedule(T={self.T}, kind={self.kind!r})"

    # ------------------------------------------------------------------ coefficients
    @property
    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t), ``(T+1,)`` (inf at t = 0)."""
        abar = self.alphas_cumprod
        return abar / (1 - abar)

    def _c(self, arr: torch.Tensor, t: int | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``arr[t]`` shaped to broadcast over ``like`` (t an int or a ``(B,)`` tensor)."""
        if isinstance(t, torch.Tensor) and t.ndim > 0:
            v = arr[t.long().cpu()].to(like.dtype).to(like.device)
            return v.view(-1, *([1] * (like.ndim - 1)))
        return torch.tensor(float(arr[int(t)]), dtype=like.dtype, device=like.device)

    def _check_t(self, t: int | torch.Tensor) -> None:
        lo, hi = (int(t.min()), int(t.max())) if isinstance(t, torch.Tensor) and t.numel() else (int(t), int(t))
        if lo < 0 or hi > self.T:
            raise ValueError(f"timestep out of range: t must be in [0, {self.T}], got {lo}..{hi}")

    # ------------------------------------------------------------------ forward process
    def q_step(self, x_prev: torch.Tensor, noise: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        """One forward step x_{t-1} -> x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) ε  (Ho eq. 2)."""
        self._check_t(t)
        b = self._c(self.betas, t, x_prev)
        return (1 - b).sqrt() * x_prev + b.sqrt() * noise

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        """Sample q(x_t | x_0): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) ε  (Ho eq. 4, closed form)."""
        self._check_t(t)
        a = self._c(self.alphas_cumprod, t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def predict_x0(self, xt: torch.Tensor, eps: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        """x̂_0 = (x_t - sqrt(1 - abar_t) ε̂) / sqrt(abar_t)  (Ho eq. 4 solved for x_0; cf. eq. 15)."""
        a = self._c(self.alphas_cumprod, t, xt)
        return (xt - (1 - a).sqrt() * eps) / a.sqrt()

    def predict_eps(self, xt: torch.Tensor, x0: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        """The noise that takes x_0 to x_t (Ho eq. 4 solved for ε); undefined at t = 0."""
        a = self._c(self.alphas_cumprod, t, xt)
        return (xt - a.sqrt() * x0) / (1 - a).clamp(min=1e-20).sqrt()       # 0 where no noise was added

    def posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: int | torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of q(x_{t-1} | x_t, x_0)  (Ho eqs. 6-7)."""
        self._check_t(t)
        mean = self._c(self.posterior_mean_coef_x0, t, xt) * x0 + self._c(self.posterior_mean_coef_xt, t, xt) * xt
        return mean, self._c(self.posterior_variance, t, xt).expand_as(mean)

    # ------------------------------------------------------------------ reverse process
    def ddpm_step(self, eps: torch.Tensor, t: int, xt: torch.Tensor, noise: torch.Tensor | None = None,
                  variance: str = "posterior", clip: bool = False) -> StepOutput:
        """One ancestral step x_t -> x_{t-1} (Ho Algorithm 2, eq. 11).

        The mean is mu_theta = (x_t - beta_t / sqrt(1 - abar_t) ε̂) / sqrt(alpha_t)  (Ho eq. 11), which
        equals the posterior mean (eq. 7) at x̂_0 (eq. 15); with ``clip`` x̂_0 is clipped to [-1, 1] first.
        sigma_t^2 is beta~_t (``"posterior"``, eq. 7) or beta_t (``"beta"``); both are in Ho section 3.2.
        No noise is added at t = 1 (Algorithm 2, line 3).
        """
        t = int(t)
        if not 1 <= t <= self.T:
            raise ValueError(f"a DDPM step needs 1 <= t <= {self.T}, got {t}")
        x0 = self.predict_x0(xt, eps, t)
        if clip:
            x0 = x0.clamp(-1, 1)
            mean, _ = self.posterior(x0, xt, t)
        else:
            b, a, abar = (self._c(arr, t, xt) for arr in (self.betas, self.alphas, self.alphas_cumprod))
            # Ho eq. 11; beta_t / sqrt(1 - abar_t) <= sqrt(beta_t), so it is 0 (not 0/0) where beta_t = 0
            mean = (xt - b / (1 - abar).clamp(min=1e-20).sqrt() * eps) / a.sqrt()
        if variance not in ("posterior", "beta"):
            raise ValueError("variance must be 'posterior' or 'beta'")
        var = self._c(self.posterior_variance if variance == "posterior" else self.betas, t, xt)
        if t > 1:
            if noise is None:
                noise = torch.randn_like(xt)
            mean = mean + var.sqrt() * noise                                            # Algorithm 2, line 4
        return StepOutput(mean, x0)

    def ddim_sigma(self, t: int, s: int, eta: float) -> float:
        """sigma_{t->s}(eta) = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)  (Song eq. 16)."""
        at, as_ = float(self.alphas_cumprod[t]), float(self.alphas_cumprod[s])
        if at >= 1.0 or eta == 0:        # no noise in x_t (then none in x_s either): a deterministic step
            return 0.0
        return eta * math.sqrt((1 - as_) / (1 - at)) * math.sqrt(max(0.0, 1 - at / as_))

    def ddim_step(self, eps: torch.Tensor, t: int, s: int, xt: torch.Tensor, eta: float = 0.0,
                  noise: torch.Tensor | None = None, clip: bool = False) -> StepOutput:
        """One DDIM jump x_t -> x_s, s < t  (Song eq. 12; eta = 0 is deterministic, eta = 1 is DDPM-like).

        x_s = sqrt(abar_s) x̂_0 + sqrt(1 - abar_s - sigma^2) ε̂ + sigma z, sigma from Song eq. 16.
        With s = t - 1 and eta = 1 this is exactly the DDPM step with sigma^2 = beta~_t.
        """
        t, s = int(t), int(s)
        if not 0 <= s < t <= self.T:
            raise ValueError(f"a DDIM step needs 0 <= s < t <= {self.T}, got t={t}, s={s}")
        x0 = self.predict_x0(xt, eps, t)
        if clip:
            x0 = x0.clamp(-1, 1)
            eps = self.predict_eps(xt, x0, t)       # keep ε̂ consistent with the clipped x̂_0
        as_ = self._c(self.alphas_cumprod, s, xt)
        sigma = self.ddim_sigma(t, s, eta)
        direction = (1 - as_ - sigma ** 2).clamp(min=0).sqrt() * eps                    # Song eq. 12, middle term
        prev = as_.sqrt() * x0 + direction
        if sigma > 0:
            if noise is None:
                noise = torch.randn_like(xt)
            prev = prev + sigma * noise                                                 # Song eq. 12, last term
        return StepOutput(prev, x0)

    def timesteps(self, num_steps: int, spacing: str = "leading") -> list[int]:
        """The visiting order of a sampler with ``num_steps`` steps, descending to 0 (length num_steps + 1).

        Evenly spaced in t. ``"trailing"`` starts at T: ``T, T - T/n, ..., 0``. ``"leading"`` (the default) is
        that grid one interval lower, ``T - T/n + 1, ..., 1, 0``, as Song et al.'s DDIM code and diffusers'
        default do. The difference matters for an ε-predicting network: at t = T the cosine schedule leaves
        sqrt(abar_T) ~ 5e-5 of the image, so x̂_0 = (x_T - sqrt(1 - abar_T) ε̂) / sqrt(abar_T) (Ho eq. 15)
        multiplies the network's error by ~20,000, and clipping it paints every channel at -1 or +1 (saturated
        colours) into the first jump. Both give ``[T, T-1, ..., 0]`` when ``num_steps = T``.
        """
        if spacing not in SPACINGS:
            raise ValueError(f"unknown timestep spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
        n = max(1, min(int(num_steps), self.T))
        grid = torch.linspace(self.T, 0, n + 1, dtype=torch.float64)
        if spacing == "leading":
            grid = torch.cat([grid[1:] + 1, torch.zeros(1, dtype=torch.float64)])
        return grid.round().long().tolist()

    def sample_timesteps(self, batch: int, generator: torch.Generator | None = None,
                         device: str | torch.device = "cpu") -> torch.Tensor:
        """``(batch,)`` training timesteps, uniform on 1..T (Ho Algorithm 1, line 3)."""
        return torch.randint(1, self.T + 1, (batch,), generator=generator).to(device)
