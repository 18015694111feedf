"""The classic CNN architectures, shrunk to 32x32 inputs so a laptop CPU trains them in seconds.

* ``lenet5``          -- LeCun et al. (1998), *Gradient-based learning applied to document recognition*:
                         two 5x5 convolutions with pooling, then fully connected layers 120 -> 84.
* ``small_vgg``       -- Simonyan & Zisserman (2015), *Very deep convolutional networks*: stages of stacked
                         3x3 convolutions, each stage halving the resolution and doubling the channels.
* ``small_inception`` -- Szegedy et al. (2015), *Going deeper with convolutions* (GoogLeNet): Inception
                         modules run 1x1, 3x3, 5x5 and pooled branches in parallel and concatenate them.
* ``small_resnet``    -- He et al. (2016), *Deep residual learning*: basic blocks ``y = act(x + F(x))``
                         (CIFAR-style ResNet-8/14/20 with ``blocks=(1,1,1)/(2,2,2)/(3,3,3)``).

All four share one layout: ``self.body`` (an ordered ``nn.Sequential`` of named stages ending in the last
spatial feature map, ``(B, C, h, w)``), then ``self.neck`` (pooling/flatten and any hidden layers) giving the
penultimate features ``(B, F)``, then ``self.classifier`` (one ``nn.Linear``). So every model has
``features(x)`` (for the UMAP of penultimate features), ``feature_maps(x)`` (every stage's output, by name)
and ``cam_layer`` (the last spatial stage, where Grad-CAM looks). The activation function is selectable.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from dlviz.models import register_model
from dlviz.models.cnn import ACTIVATIONS

CLASSIC_ARCHS = ("lenet5", "small_vgg", "small_inception", "small_resnet")


def _act(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _conv_bn_act(cin: int, cout: int, k: int, act: str, bn: bool = True, stride: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(_act(act))
    return nn.Sequential(*layers)


class _Classic(nn.Module):
    """Shared plumbing: body -> neck -> classifier."""

    body: nn.Sequential
    neck: nn.Module
    classifier: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(B, F)``: the input of the final linear layer."""
        return self.neck(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.classifier(self.features(x))

    @property
    def cam_layer(self) -> nn.Module:
        """The last spatial stage (output ``(B, C, h, w)``): Grad-CAM's usual target layer."""
        return self.body[-1]

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stage's output for one batch, in order: ``{"conv1": (B, C, H, W), ...}``."""
        out = {}
        for name, stage in self.body.named_children():
            x = stage(x)
            out[name] = x
        return out


@register_model("lenet5")
class LeNet5(_Classic):
    @dataclass
    class Config:
        in_channels: int = 3
        image_size: int = 32
        num_classes: int = 10
        channels: tuple = (6, 16)       # the two 5x5 convolutions (no padding, as in 1998)
        hidden: tuple = (120, 84)       # the fully connected layers before the classifier
        activation: str = "relu"        # LeNet used a scaled tanh
        pool: str = "max"               # max | avg (LeNet's subsampling was an average)

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', not {c.pool!r}")
        pool = nn.MaxPool2d if c.pool == "max" else nn.AvgPool2d
        stages, ch, size = OrderedDict(), c.in_channels, c.image_size
        for i, out in enumerate(c.channels, 1):
            if size - 4 < 2:
                raise ValueError(f"image_size {c.image_size} is too small for {len(c.channels)} 5x5 convolutions")
            stages[f"conv{i}"] = nn.Sequential(nn.Conv2d(ch, out, 5), _act(c.activation), pool(2))
            ch, size = out, (size - 4) // 2
        self.body = nn.Sequential(stages)
        neck: list[nn.Module] = [nn.Flatten()]
        feat = ch * size * size
        for h in c.hidden:
            neck += [nn.Linear(feat, h), _act(c.activation)]
            feat = h
        self.neck = nn.Sequential(*neck)
        self.classifier = nn.Linear(feat, c.num_classes)


@register_model("small_vgg")
class SmallVGG(_Classic):
    @dataclass
    class Config:
        in_channels: int = 3
        image_size: int = 32
        num_classes: int = 10
        channels: tuple = (16, 32, 64)   # one stage per entry; each ends in a 2x2 max-pool
        convs_per_stage: int = 2         # VGG's stacked 3x3 convolutions
        activation: str = "relu"
        batchnorm: bool = True
        hidden: int = 128                # VGG's fully connected layer (0: none)
        dropout: float = 0.0

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        stages, ch, size = OrderedDict(), c.in_channels, c.image_size
        for i, out in enumerate(c.channels, 1):
            if size < 2:
                raise ValueError(f"image_size {c.image_size} is too small for {len(c.channels)} stages")
            layers = [_conv_bn_act(ch if j == 0 else out, out, 3, c.activation, c.batchnorm)
                      for j in range(c.convs_per_stage)]
            stages[f"stage{i}"] = nn.Sequential(*layers, nn.MaxPool2d(2))
            ch, size = out, size // 2
        self.body = nn.Sequential(stages)
        feat = ch * size * size
        neck: list[nn.Module] = [nn.Flatten()]
        if c.hidden:
            neck += [nn.Dropout(c.dropout), nn.Linear(feat, c.hidden), _act(c.activation)]
            feat = c.hidden
        neck.append(nn.Dropout(c.dropout))
        self.neck = nn.Sequential(*neck)
        self.classifier = nn.Linear(feat, c.num_classes)


class InceptionModule(nn.Module):
    """GoogLeNet's module: four parallel branches concatenated along channels.

    ``(c1, c3r, c3, c5r, c5, pp)``: a 1x1 branch; 1x1 reduce then 3x3; 1x1 reduce then 5x5;
    3x3 max-pool then 1x1 projection. Output channels ``c1 + c3 + c5 + pp``; resolution unchanged.
    """

    def __init__(self, cin: int, spec: tuple, act: str, bn: bool = True):
        super().__init__()
        c1, c3r, c3, c5r, c5, pp = spec
        self.branch1 = _conv_bn_act(cin, c1, 1, act, bn)
        self.branch3 = nn.Sequential(_conv_bn_act(cin, c3r, 1, act, bn), _conv_bn_act(c3r, c3, 3, act, bn))
        self.branch5 = nn.Sequential(_conv_bn_act(cin, c5r, 1, act, bn), _conv_bn_act(c5r, c5, 5, act, bn))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), _conv_bn_act(cin, pp, 1, act, bn))
        self.out_channels = c1 + c3 + c5 + pp

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, c1+c3+c5+pp, H, W)
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


@register_model("small_inception")
class SmallInception(_Classic):
    @dataclass
    class Config:
        in_channels: int = 3
        image_size: int = 32
        num_classes: int = 10
        stem: int = 32
        # one Inception module per entry (c1, c3r, c3, c5r, c5, pool_proj); a 2x2 max-pool follows all
        # but the last
        modules: tuple = ((16, 16, 24, 4, 8, 8), (24, 24, 32, 8, 16, 16), (32, 32, 48, 8, 16, 16))
        activation: str = "relu"
        batchnorm: bool = True
        dropout: float = 0.0

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        stages = OrderedDict(stem=nn.Sequential(_conv_bn_act(c.in_channels, c.stem, 3, c.activation, c.batchnorm),
                                                nn.MaxPool2d(2)))
        ch, size = c.stem, c.image_size // 2
        for i, spec in enumerate(c.modules, 1):
            mod = InceptionModule(ch, tuple(spec), c.activation, c.batchnorm)
            last = i == len(c.modules)
            if not last and size < 2:
                raise ValueError(f"image_size {c.image_size} is too small for {len(c.modules)} modules")
            stages[f"inception{i}"] = mod if last else nn.Sequential(mod, nn.MaxPool2d(2))
            ch = mod.out_channels
            size = size if last else size // 2
        self.body = nn.Sequential(stages)
        self.neck = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(c.dropout))
        self.classifier = nn.Linear(ch, c.num_classes)


class BasicBlock(nn.Module):
    """ResNet's basic block: ``act(shortcut(x) + bn(conv(act(bn(conv(x))))))``.

    The shortcut is the identity, or a strided 1x1 convolution + BN when the shape changes ("option B").
    With ``residual=False`` the shortcut is dropped: the same block as a plain network, for comparison.
    """

    def __init__(self, cin: int, cout: int, stride: int, act: str, residual: bool = True):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = _act(act)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = _act(act)
        self.shortcut: nn.Module = nn.Identity()
        if residual and (stride != 1 or cin != cout):
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, cin, H, W) -> (B, cout, H/stride, W/stride)
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + self.shortcut(x)
        return self.act2(out)


@register_model("small_resnet")
class SmallResNet(_Classic):
    @dataclass
    class Config:
        in_channels: int = 3
        image_size: int = 32
        num_classes: int = 10
        widths: tuple = (16, 32, 64)   # one stage per entry; every stage after the first halves the size
        blocks: tuple = (1, 1, 1)      # basic blocks per stage: (1,1,1) is ResNet-8, (3,3,3) ResNet-20
        activation: str = "relu"
        residual: bool = True          # False: the same network without skip connections ("plain")

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if len(c.widths) != len(c.blocks):
            raise ValueError("widths and blocks need one entry per stage")
        stages = OrderedDict(stem=_conv_bn_act(c.in_channels, c.widths[0], 3, c.activation))
        ch, size = c.widths[0], c.image_size
        for i, (w, n) in enumerate(zip(c.widths, c.blocks), 1):
            stride = 1 if i == 1 else 2
            if stride == 2 and size < 2:
                raise ValueError(f"image_size {c.image_size} is too small for {len(c.widths)} stages")
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(ch, w, stride if j == 0 else 1, c.activation, c.residual))
                ch = w
            size = size // stride
            stages[f"stage{i}"] = nn.Sequential(*blocks)
        self.body = nn.Sequential(stages)
        self.neck = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(ch, c.num_classes)
