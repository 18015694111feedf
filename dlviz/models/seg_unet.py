"""The segmentation U-Net of Ronneberger, Fischer & Brox (2015), small enough to train on a laptop CPU.

A contracting path (two 3x3 conv + BatchNorm + ReLU per level, then 2x2 max-pooling, channels doubling)
and an expanding path (2x2 transposed-conv upsampling, concatenation with the encoder's map of the same
level -- the *skip connection* -- then two 3x3 convs), ending in a 1x1 conv to one logit per class.

Differences from the paper, for small images: "same" padding (the output is as large as the input, no
cropping of the skipped maps), BatchNorm after every conv, channels capped at ``max_channels``.

``skips`` switches the skip connections: ``all`` (the U-Net), ``none`` (a plain encoder-decoder: the
decoder sees only the upsampled bottleneck), ``no-top`` (only the highest-resolution skip removed, as in
Wilm et al. 2024). ``forward(x, return_features=True)`` also returns every level's maps (the page draws them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlviz.models import register_model
from dlviz.models.storage import store_as_half

SKIPS = ("all", "none", "no-top")


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


@register_model("seg_unet")
class SegUNet(nn.Module):
    @dataclass
    class Config:
        in_channels: int = 3
        num_classes: int = 6
        image_size: int = 64
        depth: int = 3               # number of 2x poolings (levels = depth + 1)
        base_channels: int = 16
        max_channels: int = 64
        skips: str = "all"           # all | none | no-top
        half_storage: bool = False   # state_dict() in float16 (halves a shipped file; loads into fp32)

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = c = config
        if c.skips not in SKIPS:
            raise ValueError(f"skips must be one of {SKIPS}, not {c.skips!r}")
        if not 1 <= c.depth <= 5:
            raise ValueError("depth must be between 1 and 5")
        if c.image_size % (2 ** c.depth):
            raise ValueError(f"image_size {c.image_size} must be divisible by 2^depth = {2 ** c.depth}")
        self.widths = [min(c.base_channels * 2 ** i, c.max_channels) for i in range(c.depth + 1)]
        w = self.widths
        self.enc = nn.ModuleList([_double_conv(c.in_channels if i == 0 else w[i - 1], w[i]) for i in range(c.depth)])
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(w[c.depth - 1], w[c.depth])
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in range(c.depth)])
        self.dec = nn.ModuleList([_double_conv(w[i] * (2 if self.has_skip(i) else 1), w[i]) for i in range(c.depth)])
        self.head = nn.Conv2d(w[0], c.num_classes, 1)
        if c.half_storage:
            store_as_half(self)

    def has_skip(self, level: int) -> bool:
        """Whether decoder level ``level`` (0 = full resolution) receives the encoder's map of that level."""
        s = self.config.skips
        return s == "all" or (s == "no-top" and level > 0)

    def level_shapes(self) -> list[dict]:
        """Per level: resolution, encoder and decoder channels, and whether a skip crosses (for drawing the U)."""
        c = self.config
        return [{"level": i, "size": c.image_size // 2 ** i, "enc": self.widths[i],
                 "dec": self.widths[i] if i < c.depth else None, "skip": i < c.depth and self.has_skip(i)}
                for i in range(c.depth + 1)]

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """Logits ``(B, K, H, W)``; with ``return_features`` also ``{"enc": [...], "dec": [...]}`` per level."""
        skips, enc_maps = [], []
        h = x                                                    # (B, C_in, H, W)
        for block in self.enc:
            h = block(h)                                         # (B, w_i, H / 2^i, W / 2^i)
            skips.append(h)
            enc_maps.append(h)
            h = self.pool(h)
        h = self.bottleneck(h)                                   # (B, w_depth, H / 2^depth, ...)
        enc_maps.append(h)
        dec_maps: list[torch.Tensor | None] = [None] * self.config.depth
        for i in reversed(range(self.config.depth)):
            h = self.up[i](h)                                    # (B, w_i, H / 2^i, ...)
            if self.has_skip(i):
                h = torch.cat([skips[i], h], dim=1)              # the skip connection: (B, 2 w_i, ...)
            h = self.dec[i](h)
            dec_maps[i] = h
        logits = self.head(h)                                    # (B, K, H, W)
        if return_features:
            return logits, {"enc": enc_maps, "dec": dec_maps}
        return logits
