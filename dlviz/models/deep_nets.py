"""DeepNet: plain and residual networks of any depth, with selectable normalisation and initialisation.

The residual block is the "basic block" of He, Zhang, Ren & Sun (2016), "Deep residual learning for
image recognition": ``out = act(x + F(x))``, where the branch ``F`` is ``block_layers`` layers of
``fc -> norm -> act`` with the last activation moved after the addition. Its *plain* twin computes
``out = act(F(x))`` with exactly the same layers, so a plain/residual pair differs only in the skip.

* ``kind="mlp"`` uses ``nn.Linear`` layers on the flattened image; ``kind="cnn"`` uses 3x3 convolutions at
  constant resolution, global average pooling and a linear head.
* ``norm``: ``none``, ``batch`` (Ioffe & Szegedy, 2015), ``layer`` (Ba et al., 2016; for a CNN over
  (C, H, W) = GroupNorm with one group) or ``group`` (Wu & He, 2018); ``norm_position`` puts it
  ``before`` the activation (as in both papers) or ``after`` it.
* ``init``: ``default`` (PyTorch: uniform with variance 1/(3 fan_in)), ``kaiming`` (He et al., 2015:
  normal, variance gain^2/fan_in, zero bias) or ``xavier`` (Glorot & Bengio, 2010); ``zero_init_last``
  zeroes the last norm's scale in each block (Goyal et al., 2017), or, without a norm before the
  addition, the block's last layer -- so a residual block starts as the identity on its (non-negative
  ReLU) inputs.

Layers are named for the plots: ``stem``, ``b1.fc1``, ``b1.fc2``, ..., ``head``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlviz.models import register_model
from dlviz.models.cnn import ACTIVATIONS

NORMS = ("none", "batch", "layer", "group")
INITS = ("default", "kaiming", "xavier")
# gain of each activation for Kaiming/Xavier init (torch.nn.init.calculate_gain, or ReLU's for its cousins)
_GAINS = {"relu": 2 ** 0.5, "leaky_relu": (2 / (1 + 0.01 ** 2)) ** 0.5, "tanh": 5 / 3, "sigmoid": 1.0,
          "gelu": 2 ** 0.5, "elu": 2 ** 0.5, "silu": 2 ** 0.5}


def _norm(kind: str, norm: str, width: int, groups: int) -> nn.Module:
    if norm == "none":
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm1d(width) if kind == "mlp" else nn.BatchNorm2d(width)
    if norm == "layer":
        return nn.LayerNorm(width) if kind == "mlp" else nn.GroupNorm(1, width)
    if norm == "group":
        g = max(d for d in range(1, min(groups, width) + 1) if width % d == 0)
        return nn.GroupNorm(g, width)
    raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


class Layer(nn.Module):
    """One ``fc -> norm -> act`` (or ``fc -> act -> norm``) unit; ``act`` may be applied by the caller."""

    def __init__(self, c: DeepNet.Config, n_in: int):
        super().__init__()
        self.fc = (nn.Linear(n_in, c.width) if c.kind == "mlp"
                   else nn.Conv2d(n_in, c.width, 3, padding=1))
        self.norm = _norm(c.kind, c.norm, c.width, c.groups)
        self.act = ACTIVATIONS[c.activation]()
        self.after = c.norm_position == "after"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return self.norm(self.act(h)) if self.after else self.act(self.norm(h))


class Block(nn.Module):
    """``act(x + F(x))`` (residual) or ``act(F(x))`` (plain); F = ``block_layers`` layers."""

    def __init__(self, c: DeepNet.Config):
        super().__init__()
        self.residual = c.residual
        self.after = c.norm_position == "after"
        self.layers = nn.ModuleList(Layer(c, c.width) for _ in range(c.block_layers))

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """F(x): all layers, the last one without its activation (and, if ``after``, without its norm)."""
        for layer in self.layers[:-1]:
            x = layer(x)
        last = self.layers[-1]
        h = last.fc(x)
        return h if self.after else last.norm(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.branch(x)
        last = self.layers[-1]
        h = last.act(x + f if self.residual else f)
        return last.norm(h) if self.after else h


@register_model("deep_net")
class DeepNet(nn.Module):
    @dataclass
    class Config:
        kind: str = "mlp"              # mlp | cnn
        in_channels: int = 1
        image_size: int = 8
        num_classes: int = 10
        width: int = 64                # hidden units (mlp) or channels (cnn)
        depth: int = 4                 # number of blocks after the stem
        block_layers: int = 2          # layers per block (2 = the ResNet basic block)
        residual: bool = False
        norm: str = "none"             # none | batch | layer | group
        norm_position: str = "before"  # before | after the activation
        activation: str = "relu"
        init: str = "default"          # default | kaiming | xavier
        zero_init_last: bool = False
        groups: int = 8                # for norm="group"
        input_mean: float = 0.0        # inputs are standardised inside the model: (x - mean) / std
        input_std: float = 1.0

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.kind not in ("mlp", "cnn"):
            raise ValueError(f"kind must be 'mlp' or 'cnn', not {c.kind!r}")
        if c.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {c.activation!r}")
        if c.init not in INITS:
            raise ValueError(f"unknown init {c.init!r}; choose one of {', '.join(INITS)}")
        if c.norm_position not in ("before", "after"):
            raise ValueError("norm_position must be 'before' or 'after'")
        if c.depth < 0 or c.block_layers < 1 or c.width < 1:
            raise ValueError("depth >= 0, block_layers >= 1 and width >= 1 are required")
        n_in = c.in_channels * c.image_size ** 2 if c.kind == "mlp" else c.in_channels
        self.stem = Layer(c, n_in)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.depth))
        self.head = nn.Linear(c.width, c.num_classes)
        self._init_weights()

    # ------------------------------------------------------------------ init
    def _init_weights(self) -> None:
        c = self.config
        gain = _GAINS[c.activation]
        if c.init != "default":
            for name, layer in self.weight_layers().items():
                g = 1.0 if name == "head" else gain
                if c.init == "kaiming":
                    fan_in = layer.weight[0].numel()
                    nn.init.normal_(layer.weight, 0.0, g / fan_in ** 0.5)
                else:
                    nn.init.xavier_normal_(layer.weight, gain=g)
                nn.init.zeros_(layer.bias)
        if c.zero_init_last:
            for block in self.blocks:
                last = block.layers[-1]
                if c.norm != "none" and not block.after:
                    nn.init.zeros_(last.norm.weight)
                else:
                    nn.init.zeros_(last.fc.weight)
                    nn.init.zeros_(last.fc.bias)

    # ------------------------------------------------------------------ structure
    def weight_layers(self) -> dict[str, nn.Module]:
        """Every Linear/Conv layer, input side first: ``{"stem": ..., "b1.fc1": ..., "head": ...}``."""
        out: dict[str, nn.Module] = {"stem": self.stem.fc}
        for i, block in enumerate(self.blocks, 1):
            for j, layer in enumerate(block.layers, 1):
                out[f"b{i}.fc{j}"] = layer.fc
        out["head"] = self.head
        return out

    def norm_layers(self) -> dict[str, nn.Module]:
        """Every normalisation layer (empty for ``norm="none"``), named like its Linear/Conv layer."""
        out: dict[str, nn.Module] = {}
        if not isinstance(self.stem.norm, nn.Identity):
            out["stem"] = self.stem.norm
        for i, block in enumerate(self.blocks, 1):
            for j, layer in enumerate(block.layers, 1):
                if not isinstance(layer.norm, nn.Identity):
                    out[f"b{i}.fc{j}"] = layer.norm
        return out

    def activation_modules(self) -> dict[str, nn.Module]:
        """Every activation module; its *input* is the pre-activation of the layer of the same name."""
        out: dict[str, nn.Module] = {"stem": self.stem.act}
        for i, block in enumerate(self.blocks, 1):
            for j, layer in enumerate(block.layers, 1):
                out[f"b{i}.fc{j}"] = layer.act
        return out

    def representations(self) -> dict[str, nn.Module]:
        """Modules whose *output* is the representation after the stem and after each block."""
        out: dict[str, nn.Module] = {"stem": self.stem}
        for i, block in enumerate(self.blocks, 1):
            out[f"b{i}"] = block
        return out

    # ------------------------------------------------------------------ forward
    def body(self, x: torch.Tensor) -> torch.Tensor:
        """Features before the head: ``(B, width)``."""
        c = self.config
        x = (x - c.input_mean) / c.input_std           # (B, C, H, W)
        if c.kind == "mlp":
            x = x.flatten(1)                            # (B, C*H*W)
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)                                # (B, width) or (B, width, H, W)
        return x if c.kind == "mlp" else x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.body(x))
