"""ActMLP: a plain multilayer perceptron with a selectable activation, for the dead-ReLU counter.

Flatten -> [Linear -> activation] per entry of ``hidden`` -> Linear. Used by the Activations and losses
page to show how a too-large learning rate kills ReLU units (Lu et al., 2019, "Dying ReLU and
initialization: theory and numerical examples"), and that leaky ReLU (Maas et al., 2013) cannot die.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlviz.models import register_model

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU, "tanh": nn.Tanh,
               "sigmoid": nn.Sigmoid, "silu": nn.SiLU}


@register_model("act_mlp")
class ActMLP(nn.Module):
    @dataclass
    class Config:
        in_features: int = 64          # digits: 8x8 greyscale
        hidden: tuple = (64, 64, 64)
        num_classes: int = 10
        activation: str = "relu"

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {c.activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = c.in_features
        for h in c.hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[c.activation]()]
            width = h
        layers.append(nn.Linear(width, c.num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B, classes)
        return self.net(x)
