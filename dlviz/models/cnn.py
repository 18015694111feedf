"""SmallCNN: the LeNet-style convolutional classifier the app trains live (digits, food shapes).

conv(k) -> [norm] -> act -> maxpool(2), repeated per entry of ``channels``, then a linear head
(global average pool or flatten). ``feature_maps`` returns every intermediate map by name, for the
pages that show what each layer computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlviz.models import register_model

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
               "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "silu": nn.SiLU}


@register_model("small_cnn")
class SmallCNN(nn.Module):
    @dataclass
    class Config:
        in_channels: int = 1
        image_size: int = 16
        num_classes: int = 10
        channels: tuple = (8, 16)
        kernel_size: int = 3
        activation: str = "relu"
        batchnorm: bool = False
        head: str = "flatten"       # flatten | gap (global average pool)
        dropout: float = 0.0

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {c.activation!r}")
        layers, ch, size = [], c.in_channels, c.image_size
        for out in c.channels:
            block = [nn.Conv2d(ch, out, c.kernel_size, padding=c.kernel_size // 2)]
            if c.batchnorm:
                block.append(nn.BatchNorm2d(out))
            block += [ACTIVATIONS[c.activation](), nn.MaxPool2d(2)]
            layers.append(nn.Sequential(*block))
            ch, size = out, size // 2
        self.blocks = nn.ModuleList(layers)
        feat = ch if c.head == "gap" else ch * size * size
        self.head = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(feat, c.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(B, F)``."""
        for b in self.blocks:
            x = b(x)
        return x.mean(dim=(2, 3)) if self.config.head == "gap" else x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.features(x))

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate map for one batch: ``{"block1.conv": (B, C, H, W), ...}``."""
        out = {}
        for i, block in enumerate(self.blocks, 1):
            for layer in block:
                x = layer(x)
                out[f"block{i}.{type(layer).__name__.lower()}"] = x
        return out
