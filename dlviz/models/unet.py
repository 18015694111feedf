"""A small time-conditioned U-Net: the noise predictor ε_θ(x_t, t, y) of a DDPM (Ho et al., 2020).

The DDPM architecture (itself PixelCNN++'s / Ronneberger et al.'s U-Net) shrunk for 16x16 to 32x32
images on a CPU: residual blocks with GroupNorm and SiLU, a sinusoidal timestep embedding (as in the
Transformer) added inside every block, self-attention at the coarse resolutions, skip connections from
each encoder block to the decoder. Optionally class-conditional: a learned label embedding is added to
the time embedding, with one extra "null" label (index ``num_classes``) for classifier-free guidance
(Ho & Salimans, 2021). The output convolution starts at zero, so an untrained model predicts ε̂ = 0.

The config also records the noise schedule the model was trained with (``schedule``,
``num_timesteps``): the weights are only meaningful with it (see :func:`dlviz.ddpm.sampling.schedule_for`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.models import register_model
from dlviz.models.storage import store_as_half


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps ``(B,)`` -> ``(B, dim)`` (Vaswani et al. 2017, sec. 3.5)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]                                 # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv, add the (time + label) embedding, GroupNorm-SiLU-dropout-conv, plus a skip."""

    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(min(groups, cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(min(groups, cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:   # (B, cin, H, W), (B, E)
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h                                            # (B, cout, H, W)


class Attention(nn.Module):
    """Single-head self-attention over the H*W positions, with a residual connection."""

    def __init__(self, ch: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, ch), ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:                     # (B, C, H, W)
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).transpose(-1, -2).unbind(1)  # (B, HW, C)
        h = F.scaled_dot_product_attention(q, k, v)                          # (B, HW, C)
        return x + self.proj(h.transpose(-1, -2).reshape(B, C, H, W))


@register_model("unet")
class UNet(nn.Module):
    @dataclass
    class Config:
        in_channels: int = 3
        image_size: int = 32
        base_channels: int = 16
        channel_mults: tuple = (1, 2, 2)
        num_res_blocks: int = 1
        attention_resolutions: tuple = (8,)   # feature-map sizes that get self-attention
        num_classes: int = 0                  # 0 = unconditional; else labels 0..n-1 plus the null label n
        dropout: float = 0.0
        groups: int = 8
        schedule: str = "linear"              # the noise schedule the weights were trained with
        num_timesteps: int = 1000
        half_storage: bool = False            # state_dict() in float16 (halves a shipped file; loads into fp32)

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = c = config
        if c.image_size % (2 ** (len(c.channel_mults) - 1)):
            raise ValueError("image_size must be divisible by 2^(levels - 1)")
        ch0, E = c.base_channels, 4 * c.base_channels
        self.time_mlp = nn.Sequential(nn.Linear(ch0, E), nn.SiLU(), nn.Linear(E, E))
        self.label_emb = nn.Embedding(c.num_classes + 1, E) if c.num_classes > 0 else None
        self.conv_in = nn.Conv2d(c.in_channels, ch0, 3, padding=1)
        self.down, skips, ch, res = nn.ModuleList(), [ch0], ch0, c.image_size
        for level, mult in enumerate(c.channel_mults):
            for _ in range(c.num_res_blocks):
                block = nn.ModuleList([ResBlock(ch, ch0 * mult, E, c.groups, c.dropout)])
                ch = ch0 * mult
                if res in c.attention_resolutions:
                    block.append(Attention(ch, c.groups))
                self.down.append(block)
                skips.append(ch)
            if level < len(c.channel_mults) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(ch, ch, 3, stride=2, padding=1)]))
                skips.append(ch)
                res //= 2
        self.mid = nn.ModuleList([ResBlock(ch, ch, E, c.groups, c.dropout), Attention(ch, c.groups),
                                  ResBlock(ch, ch, E, c.groups, c.dropout)])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mults))):
            for _ in range(c.num_res_blocks + 1):
                block = nn.ModuleList([ResBlock(ch + skips.pop(), ch0 * mult, E, c.groups, c.dropout)])
                ch = ch0 * mult
                if res in c.attention_resolutions:
                    block.append(Attention(ch, c.groups))
                self.up.append(block)
            if level > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(ch, ch, 3, padding=1)]))
                res *= 2
        self.norm_out = nn.GroupNorm(min(c.groups, ch), ch)
        self.conv_out = nn.Conv2d(ch, c.in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        if c.half_storage:
            store_as_half(self)

    @property
    def null_class(self) -> int | None:
        """The label that means "no class" (classifier-free guidance), or None when unconditional."""
        return self.config.num_classes if self.config.num_classes > 0 else None

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """ε̂ for noisy images ``x`` (B, C, H, W) at timesteps ``t`` (B,); labels ``y`` (B,) or None (= null)."""
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels))   # (B, E)
        if self.label_emb is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.config.num_classes, dtype=torch.long, device=x.device)
            emb = emb + self.label_emb(y)
        h = self.conv_in(x)
        hs = [h]
        for block in self.down:
            if isinstance(block[0], ResBlock):
                h = block[0](h, emb)
                for extra in block[1:]:
                    h = extra(h)
            else:                                                   # a stride-2 downsampling conv
                h = block[0](h)
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, emb)), emb)
        for block in self.up:
            if isinstance(block[0], ResBlock):
                h = block[0](torch.cat([h, hs.pop()], dim=1), emb)
                for extra in block[1:]:
                    h = extra(h)
            else:                                                   # upsample + conv
                h = block[1](block[0](h))
        return self.conv_out(F.silu(self.norm_out(h)))              # (B, C, H, W)
