"""ConvVAE: a small convolutional variational autoencoder (Kingma & Welling 2014, "Auto-Encoding
Variational Bayes"), with the beta of a beta-VAE (Higgins et al. 2017) applied by the loss in
:mod:`dlviz.vae`.

Encoder: ``len(channels)`` stride-2 4x4 convolutions (each halves the image) -> [hidden linear] ->
the posterior ``q(z|x) = N(mu, diag(exp(logvar)))``. Decoder: the mirror image with transposed
convolutions, giving the parameters of ``p(x|z)``:

* ``likelihood="bernoulli"``: per-pixel logits (grey images in [0, 1], e.g. the digits);
* ``likelihood="gaussian"``: a per-pixel mean (sigmoid, so in [0, 1]) and one learned noise scale
  ``sigma`` shared by every pixel (Rybkin et al. 2021, "Simple and Effective VAE Training with
  Calibrated Decoders") -- the right choice for colour images such as the food shapes.

The model only computes; :func:`dlviz.vae.elbo` and :func:`dlviz.vae.vae_loss` turn it into a bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.models import register_model

LIKELIHOODS = ("bernoulli", "gaussian")
LOGVAR_RANGE = (-12.0, 8.0)      # posterior log-variance is clamped here for numerical safety
MIN_LOG_SIGMA = -5.0             # the Gaussian decoder's noise scale never goes below exp(-5) ~ 0.007


@register_model("conv_vae")
class ConvVAE(nn.Module):
    @dataclass
    class Config:
        in_channels: int = 1
        image_size: int = 16
        latent_dim: int = 16
        channels: tuple = (32, 64)     # one stride-2 conv per entry: image_size must divide by 2**len
        hidden: int = 128              # width of the linear layer before the code (0: none)
        likelihood: str = "bernoulli"  # bernoulli | gaussian

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, not {c.likelihood!r}")
        if not 1 <= c.latent_dim <= 256:
            raise ValueError(f"latent_dim must be in [1, 256], got {c.latent_dim}")
        depth = len(c.channels)
        if depth < 1 or c.image_size % (2 ** depth) != 0:
            raise ValueError(f"image_size {c.image_size} must be divisible by 2**{depth} "
                             f"(one halving per entry of channels={tuple(c.channels)})")
        self.bottom = c.image_size // 2 ** depth            # spatial size of the last feature map
        feat = c.channels[-1] * self.bottom ** 2
        enc, ch = [], c.in_channels
        for out in c.channels:
            enc += [nn.Conv2d(ch, out, 4, stride=2, padding=1), nn.SiLU()]
            ch = out
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        width = c.hidden or feat
        self.enc_fc = nn.Sequential(nn.Linear(feat, c.hidden), nn.SiLU()) if c.hidden else nn.Identity()
        self.to_stats = nn.Linear(width, 2 * c.latent_dim)          # -> (mu, logvar)
        dec_fc = [nn.Linear(c.latent_dim, width), nn.SiLU()]
        if c.hidden:
            dec_fc += [nn.Linear(c.hidden, feat), nn.SiLU()]
        self.dec_fc = nn.Sequential(*dec_fc)
        dec, rev = [], list(reversed(c.channels))
        for i, ch in enumerate(rev):
            last = i == len(rev) - 1
            out = c.in_channels if last else rev[i + 1]
            dec.append(nn.ConvTranspose2d(ch, out, 4, stride=2, padding=1))
            if not last:
                dec.append(nn.SiLU())
        self.decoder = nn.Sequential(*dec)
        if c.likelihood == "gaussian":
            self.log_sigma = nn.Parameter(torch.tensor(-1.0))

    # ------------------------------------------------------------------ the two halves
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C, H, W)`` -> ``(mu, logvar)``, each ``(B, D)``: the diagonal Gaussian q(z|x)."""
        h = self.enc_fc(self.encoder(x))                    # (B, width)
        mu, logvar = self.to_stats(h).chunk(2, dim=-1)      # (B, D), (B, D)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z (B, D)`` -> the decoder's output ``(B, C, H, W)``: logits (Bernoulli) or mean (Gaussian)."""
        h = self.dec_fc(z).view(len(z), self.config.channels[-1], self.bottom, self.bottom)
        out = self.decoder(h)                               # (B, C, H, W)
        return out if self.config.likelihood == "bernoulli" else torch.sigmoid(out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One reparameterised pass: ``(decoder output, mu, logvar, z)``."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)   # z ~ q(z|x), differentiable
        return self.decode(z), mu, logvar, z

    # ------------------------------------------------------------------ the likelihood p(x|z)
    @property
    def sigma(self) -> float | None:
        """The Gaussian decoder's pixel noise scale (None for Bernoulli)."""
        return float(self._log_sigma().detach().exp()) if self.config.likelihood == "gaussian" else None

    def _log_sigma(self) -> torch.Tensor:
        return MIN_LOG_SIGMA + F.softplus(self.log_sigma - MIN_LOG_SIGMA)   # smooth floor

    def log_px_z(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)`` summed over pixels, per image ``(B,)``, in nats."""
        if self.config.likelihood == "bernoulli":
            # -BCE; for grey levels in (0, 1) this is the cross-entropy of a Bernoulli per pixel
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
        log_sigma = self._log_sigma()
        sq = ((x - out) ** 2).flatten(1)                                      # (B, C*H*W)
        per_pixel = -0.5 * sq * torch.exp(-2 * log_sigma) - log_sigma - 0.5 * math.log(2 * math.pi)
        return per_pixel.sum(1)

    def mean_image(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's expected image in [0, 1] ``(B, C, H, W)``."""
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out
