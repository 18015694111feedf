"""Models for the equivariance page: one configurable CNN family and an MLP, each a knob away from
(or towards) a symmetry.

* ``equi_cnn`` -- conv blocks with **circular** padding (exactly shift-equivariant on the torus) or
  **zero** padding (border effects); downsampling by nothing, a **strided** conv, max- or average-pooling
  (equivariant only to shifts that are multiples of the stride: aliasing), or **blur pooling**
  (Zhang, 2019, "Making convolutional networks shift-invariant again": max over 2x2 at stride 1, then a
  binomial blur subsampled by 2); a **global-average-pool** head (invariant) or **flatten + linear**
  (position-dependent); and ``group="p4"``: group convolutions over the rotations by 90 degrees
  (Cohen & Welling, 2016, "Group equivariant convolutional networks"), where every filter is applied
  in four rotations and feature maps carry a rotation axis ``(B, C, 4, H, W)``.
* ``equi_mlp`` -- a multilayer perceptron on the flattened image: no built-in symmetry at all.

``feature_maps(x)`` returns every intermediate tensor by name, in order, ending with ``"logits"``.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.models import register_model

DOWNSAMPLE = ("none", "stride", "maxpool", "avgpool", "blurpool")


class P4Conv(nn.Module):
    """A p4 group convolution (Cohen & Welling, 2016).

    ``lifting=True``: input ``(B, C, H, W)`` -> output ``(B, O, 4, H', W')``, output rotation ``r`` uses
    the filter rotated by ``r`` quarter turns. Otherwise input ``(B, C, 4, H, W)``: output rotation ``r``
    uses the filter rotated spatially by ``r`` *and* cyclically shifted by ``r`` along its rotation axis.
    Rotating the input by 90 degrees then rotates every output map and rolls the rotation axis by one:
    ``f(rot x)[:, :, s] = rot(f(x)[:, :, s - 1])``.
    """

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding_mode: str = "circular",
                 lifting: bool = False, dilation: int = 1):
        super().__init__()
        self.cin, self.cout, self.k, self.stride, self.lifting = cin, cout, k, stride, lifting
        self.dilation = dilation
        self.padding_mode = padding_mode
        shape = (cout, cin, k, k) if lifting else (cout, cin, 4, k, k)
        fan_in = cin * k * k * (1 if lifting else 4)
        # PyTorch's default conv init (Kaiming uniform, a = sqrt 5): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        self.weight = nn.Parameter(torch.empty(shape).uniform_(-1, 1) / fan_in ** 0.5)
        self.bias = nn.Parameter(torch.zeros(cout))

    def full_weight(self) -> torch.Tensor:
        """The stacked filter bank ``(O * 4, C * 4 or C, k, k)`` of an ordinary conv2d."""
        banks = []
        for r in range(4):
            w = torch.rot90(self.weight, r, dims=(-2, -1))
            if not self.lifting:
                w = torch.roll(w, shifts=r, dims=2)          # (O, C, 4, k, k): input rotation s -> s - r
                w = w.reshape(self.cout, self.cin * 4, self.k, self.k)
            banks.append(w)
        return torch.stack(banks, 1).reshape(self.cout * 4, -1, self.k, self.k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.lifting:
            b, c, g, h, w = x.shape                         # (B, C, 4, H, W)
            x = x.reshape(b, c * g, h, w)
        p = self.dilation * (self.k // 2)
        if self.padding_mode == "circular":
            x = F.pad(x, (p, p, p, p), mode="circular")
            p = 0
        y = F.conv2d(x, self.full_weight(), self.bias.repeat_interleave(4), self.stride, p, self.dilation)
        return y.reshape(y.shape[0], self.cout, 4, y.shape[-2], y.shape[-1])   # (B, O, 4, H', W')


class BlurPool(nn.Module):
    """Anti-aliased downsampling (Zhang, 2019): a 3x3 binomial blur ``[1, 2, 1]^T [1, 2, 1] / 16``,
    applied per channel, evaluated at every second pixel."""

    def __init__(self, padding_mode: str = "circular"):
        super().__init__()
        f = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (f[:, None] * f[None, :] / 16.0)[None, None], persistent=False)
        self.padding_mode = padding_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (1, 1, 1, 1), mode="circular" if self.padding_mode == "circular" else "reflect")
        return F.conv2d(x, self.kernel.expand(c, 1, 3, 3), stride=2, groups=c)


class _MaxStride1(nn.Module):
    """Max over each 2x2 window at stride 1 (the first half of Zhang's MaxBlurPool), size-preserving."""

    def __init__(self, padding_mode: str):
        super().__init__()
        self.mode = "circular" if padding_mode == "circular" else "replicate"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.pad(x, (0, 1, 0, 1), mode=self.mode), 2, 1)


class _Grouped(nn.Module):
    """Apply a 2-D layer to a p4 map ``(B, C, 4, H, W)`` by folding the rotation axis into channels."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            return self.inner(x)
        b, c, g, h, w = x.shape
        y = self.inner(x.reshape(b, c * g, h, w))
        return y.reshape(b, c, g, y.shape[-2], y.shape[-1])


@register_model("equi_cnn")
class EquiCNN(nn.Module):
    @dataclass
    class Config:
        in_channels: int = 1
        image_size: int = 24
        num_classes: int = 10
        channels: tuple = (8, 16, 32)
        kernel_size: int = 3
        padding_mode: str = "circular"   # circular | zeros
        downsample: str = "maxpool"      # none | stride | maxpool | avgpool | blurpool
        head: str = "gap"                # gap | flatten
        group: str = "none"              # none | p4
        batchnorm: bool = True           # per-channel affine at eval time: keeps every symmetry
        dilations: tuple = ()            # per conv layer (default all 1); without downsampling, growing
        #                                  dilations (1, 2, 4) widen the receptive field and keep equivariance

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.padding_mode not in ("circular", "zeros"):
            raise ValueError(f"padding_mode must be circular or zeros, not {c.padding_mode!r}")
        if c.downsample not in DOWNSAMPLE:
            raise ValueError(f"downsample must be one of {DOWNSAMPLE}, not {c.downsample!r}")
        if c.head not in ("gap", "flatten") or c.group not in ("none", "p4"):
            raise ValueError("head must be gap or flatten; group none or p4")
        if c.kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd (a centred kernel)")
        dil = tuple(c.dilations) or (1,) * len(c.channels)
        if len(dil) != len(c.channels) or min(dil) < 1:
            raise ValueError("dilations must give one value >= 1 per conv layer")
        n_down = len(c.channels) - 1 if c.downsample != "none" else 0
        if c.image_size % (2 ** n_down):
            raise ValueError(f"image_size must be divisible by {2 ** n_down}")
        blocks, ch, size = [], c.in_channels, c.image_size
        for i, out in enumerate(c.channels):
            stride = 2 if (c.downsample == "stride" and i > 0) else 1
            if c.group == "p4":
                conv: nn.Module = P4Conv(ch, out, c.kernel_size, stride, c.padding_mode, lifting=i == 0,
                                         dilation=dil[i])
            else:
                conv = nn.Conv2d(ch, out, c.kernel_size, stride, dil[i] * (c.kernel_size // 2), dil[i],
                                 padding_mode=c.padding_mode)
            layers: OrderedDict[str, nn.Module] = OrderedDict(conv=conv)
            if c.batchnorm:   # p4 maps (B, C, 4, H, W): one mean/scale per channel, shared by rotations
                layers["bn"] = nn.BatchNorm3d(out) if c.group == "p4" else nn.BatchNorm2d(out)
            layers["relu"] = nn.ReLU()
            size //= stride
            if i < len(c.channels) - 1 and c.downsample in ("maxpool", "avgpool", "blurpool"):
                if c.downsample == "maxpool":
                    layers["pool"] = _Grouped(nn.MaxPool2d(2))
                elif c.downsample == "avgpool":
                    layers["pool"] = _Grouped(nn.AvgPool2d(2))
                else:
                    layers["maxs1"] = _Grouped(_MaxStride1(c.padding_mode))
                    layers["blur"] = _Grouped(BlurPool(c.padding_mode))
                size //= 2
            blocks.append(nn.Sequential(layers))
            ch = out
        self.blocks = nn.ModuleList(blocks)
        feat = ch if c.head == "gap" else ch * size * size * (4 if c.group == "p4" else 1)
        self.head = nn.Linear(feat, c.num_classes)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.head == "gap":
            return x.flatten(2).mean(-1)          # (B, C): over space (and rotations for p4)
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        for b in self.blocks:
            x = b(x)
        return self.head(self._pool(x))

    def feature_maps(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """``{"block1.conv": (B, C, H, W) or (B, C, 4, H, W) for p4, ..., "logits": (B, classes)}``."""
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for i, block in enumerate(self.blocks, 1):
            for name, layer in block.named_children():
                x = layer(x)
                out[f"block{i}.{name}"] = x
        out["logits"] = self.head(self._pool(x))
        return out


@register_model("equi_mlp")
class EquiMLP(nn.Module):
    @dataclass
    class Config:
        in_channels: int = 1
        image_size: int = 24
        num_classes: int = 10
        hidden: tuple = (128, 64)

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        dims = [c.in_channels * c.image_size ** 2, *c.hidden]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.head = nn.Linear(dims[-1], c.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        x = x.flatten(1)
        for lin in self.layers:
            x = torch.relu(lin(x))
        return self.head(x)

    def feature_maps(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = x.flatten(1)
        for i, lin in enumerate(self.layers, 1):
            x = torch.relu(lin(x))
            out[f"fc{i}"] = x                      # (B, hidden)
        out["logits"] = self.head(x)
        return out
