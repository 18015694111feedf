"""GAN players, each registered as one module that holds both: ``model.G`` (noise -> sample) and
``model.D`` (sample -> one real number, a logit for the minimax / non-saturating losses).

* ``gan_mlp`` -- MLPs for 2-D data (Goodfellow et al. 2014). With ``pack = m`` D reads m samples side by
  side, (B, m * 2) (PacGAN, Lin et al. 2018). ``g_batchnorm`` puts batch norm before each hidden activation
  of G, ``d_maxout = k`` makes D's hidden layers maxout units of k pieces (Goodfellow et al. 2013) and
  ``init_std > 0`` draws every weight from N(0, init_std^2) with zero biases: together with ReLU in G, the
  2-D setup of PacGAN's reference code (4 x 400 BN-ReLU generator, 3 x 200 maxout-5 discriminator, std 0.02).
* ``dcgan`` -- the DCGAN of Radford et al. 2016 at 16x16 or 32x32: transposed convolutions with batch
  norm in G, strided convolutions with LeakyReLU in D (no batch norm in D, so the gradient penalty of
  WGAN-GP stays per-sample). With ``num_classes > 0`` it is conditional: G reads a class embedding beside z
  and D adds a projection term <embed(y), h> (Miyato & Koyama 2018). ``g_cond = "every"`` also makes every
  batch norm of G class-conditional (its scale and shift looked up per class: conditional batch norm, de Vries
  et al. 2017, the generator of Miyato & Koyama 2018), so the label reaches every block of G, not only its
  input. ``d_mbstd = k`` appends a minibatch-standard-deviation channel to D's last feature map (Karras et al.
  2018, section 3): D sees how much a group of k samples varies, so a G that ignores z is easy to spot.
  ``d_aux = w > 0`` gives D a class head as well (AC-GAN, Odena et al. 2017): D learns to name the class of real
  images and G to make fakes D names as asked, each with weight w; ``d_label_maps`` feeds D the label as one-hot
  input channels as well (the conditional GAN of Mirza & Osindero 2014). All default to the original model (label at
  G's input only, no minibatch statistics, no class head).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dlviz.models import register_model


def _mlp(sizes: list[int], act: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2) if act == "leaky_relu" else nn.ReLU() if act == "relu" else nn.Tanh())
    return nn.Sequential(*layers)


class Maxout(nn.Module):
    """A linear map to ``out_features * pieces`` values and the maximum over each group of ``pieces``."""

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(*x.shape[:-1], self.out_features, self.pieces).amax(-1)


def _maxout_mlp(sizes: list[int], pieces: int) -> nn.Sequential:
    """Hidden layers of maxout units, a linear output layer."""
    layers: list[nn.Module] = [Maxout(a, b, pieces) for a, b in zip(sizes[:-2], sizes[1:-1])]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


def _bn_mlp(sizes: list[int], act: str) -> nn.Sequential:
    """Hidden layers linear (no bias) -> batch norm -> activation; a linear output layer with bias."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b),
                   nn.LeakyReLU(0.2) if act == "leaky_relu" else nn.ReLU() if act == "relu" else nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


def noise(n: int, dim: int, kind: str = "gaussian", generator: torch.Generator | None = None,
          device: torch.device | str | None = None) -> torch.Tensor:
    """``n`` noise vectors (n, dim): standard normal, or uniform on [-1, 1]."""
    if kind == "uniform":
        return 2 * torch.rand(n, dim, generator=generator, device=device) - 1
    return torch.randn(n, dim, generator=generator, device=device)


@register_model("gan_mlp")
class GAN2D(nn.Module):
    """A generator and a discriminator MLP for 2-D data."""

    @dataclass
    class Config:
        data_dim: int = 2
        noise_dim: int = 2
        noise: str = "gaussian"          # gaussian | uniform
        g_width: int = 128
        g_depth: int = 3                 # hidden layers
        d_width: int = 128
        d_depth: int = 3
        pack: int = 1                    # PacGAN's m
        activation: str = "leaky_relu"   # leaky_relu | relu | tanh (G's, and D's unless maxout)
        g_batchnorm: bool = False        # batch norm before each hidden activation of G
        d_maxout: int = 0                # > 1: D's hidden layers are maxout units of this many pieces
        init_std: float = 0.0            # > 0: weights ~ N(0, init_std^2), biases 0 (0: PyTorch's default)

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = c = config
        g_sizes = [c.noise_dim] + [c.g_width] * c.g_depth + [c.data_dim]
        d_sizes = [c.data_dim * c.pack] + [c.d_width] * c.d_depth + [1]
        self.G = _bn_mlp(g_sizes, c.activation) if c.g_batchnorm else _mlp(g_sizes, c.activation)
        self.D = _maxout_mlp(d_sizes, c.d_maxout) if c.d_maxout > 1 else _mlp(d_sizes, c.activation)
        if c.init_std > 0:
            for mod in self.modules():
                if isinstance(mod, nn.Linear):
                    nn.init.normal_(mod.weight, 0.0, c.init_std)
                    if mod.bias is not None:
                        nn.init.zeros_(mod.bias)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return noise(n, self.config.noise_dim, self.config.noise, generator, next(self.parameters()).device)

    def generate(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.G(self.noise(n, generator))                      # (n, 2)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D's output for samples ``x`` (B*m, 2) packed m at a time: (B,)."""
        return self.D(x.reshape(len(x) // self.config.pack, -1)).squeeze(-1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z)


class _CondBatchNorm(nn.Module):
    """Batch norm without its own affine, scaled and shifted by a per-class (gamma, beta): conditional batch
    norm (de Vries et al. 2017), as in the generator of Miyato & Koyama 2018. Starts as plain batch norm
    (gamma 1, beta 0)."""

    def __init__(self, features: int, num_classes: int, dims: int) -> None:
        super().__init__()
        self.bn = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(features, affine=False)
        self.gamma, self.beta = nn.Embedding(num_classes, features), nn.Embedding(num_classes, features)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shape = (len(x), -1) + (1,) * (x.dim() - 2)
        return self.bn(x) * self.gamma(y).view(shape) + self.beta(y).view(shape)


def _run(seq: nn.Sequential, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """``seq(h)``, passing the labels ``y`` to each conditional batch norm."""
    for mod in seq:
        h = mod(h, y) if isinstance(mod, _CondBatchNorm) else mod(h)
    return h


class _DCGenerator(nn.Module):
    def __init__(self, c) -> None:
        super().__init__()
        w = c.g_width
        self.embed = nn.Embedding(c.num_classes, c.noise_dim) if c.num_classes else None
        every = bool(c.num_classes) and c.g_cond == "every"

        def bn(n: int, dims: int) -> nn.Module:
            if every:
                return _CondBatchNorm(n, c.num_classes, dims)
            return nn.BatchNorm2d(n) if dims == 2 else nn.BatchNorm1d(n)

        n_up = {16: 2, 32: 3}[c.image_size]
        chans = [w * 2 ** (n_up - i) for i in range(n_up + 1)]        # e.g. 4w, 2w, w for 16x16
        self.fc = nn.Sequential(nn.Linear(c.noise_dim * (2 if c.num_classes else 1), chans[0] * 16),
                                bn(chans[0] * 16, 1), nn.ReLU())
        ups = []
        for a, b in zip(chans[:-1], chans[1:]):
            ups += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), bn(b, 2), nn.ReLU()]
        self.up = nn.Sequential(*ups, nn.Conv2d(chans[-1], c.channels, 3, padding=1), nn.Sigmoid())
        self.c0 = chans[0]

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return _run(self.up, _run(self.fc, z, y).view(len(z), self.c0, 4, 4), y)   # (B, C, S, S) in [0, 1]


class MinibatchStd(nn.Module):
    """One extra channel: the standard deviation of each feature over a group of ``group`` samples, averaged
    over features and positions (Karras et al. 2018, section 3). Samples ``i, i + B/g, ...`` form a group;
    the group is the largest divisor of the batch not above ``group``."""

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group, b) + 1) if b % d == 0)
        s = x.view(g, b // g, c, h, w)
        s = (s.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))          # (B/g,)
        return torch.cat([x, s.repeat(g).view(b, 1, 1, 1).expand(b, 1, h, w)], 1)


class _DCDiscriminator(nn.Module):
    def __init__(self, c) -> None:
        super().__init__()
        w = c.d_width
        n_down = {16: 2, 32: 3}[c.image_size]
        self.maps = c.num_classes if c.num_classes and c.d_label_maps else 0
        chans = [c.channels + self.maps] + [w * 2 ** i for i in range(n_down)]   # e.g. C, w, 2w for 16x16
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1), nn.LeakyReLU(0.2)]
        if c.d_mbstd > 0:                                              # no parameters: the keys stay the same
            layers.append(MinibatchStd(c.d_mbstd))
        self.body = nn.Sequential(*layers, nn.Flatten())
        feat = (chans[-1] + (c.d_mbstd > 0)) * (c.image_size // 2 ** n_down) ** 2
        self.out = nn.Linear(feat, 1)
        self.embed = nn.Embedding(c.num_classes, feat) if c.num_classes else None
        self.aux = nn.Linear(feat, c.num_classes) if c.num_classes and c.d_aux > 0 else None

    def both(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's real/fake logit (B,) and, with ``d_aux``, its class logits (B, K) (else None)."""
        if self.maps:                                                  # one constant one-hot map per class
            onehot = nn.functional.one_hot(y, self.maps).to(x.dtype)
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        h = self.body(x)                                               # (B, F)
        out = self.out(h).squeeze(-1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)                     # projection discriminator
        return out, (self.aux(h) if self.aux is not None else None)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.both(x, y)[0]                                      # (B,)


@register_model("dcgan")
class DCGAN(nn.Module):
    """A DCGAN generator and discriminator for 16x16 or 32x32 images in [0, 1]."""

    @dataclass
    class Config:
        image_size: int = 16             # 16 | 32
        channels: int = 1
        noise_dim: int = 32
        g_width: int = 32
        d_width: int = 32
        num_classes: int = 0             # > 0: conditional on the class
        noise: str = "gaussian"
        g_cond: str = "input"            # input: the label beside z only | every: also every batch norm of G
        d_mbstd: int = 0                 # > 0: a minibatch-stddev channel in D over groups of this size
        d_aux: float = 0.0               # > 0: D also classifies (AC-GAN); the weight of that loss for D and G
        d_label_maps: bool = False       # D also reads the label as one-hot input channels (Mirza & Osindero 2014)

    def __init__(self, config: Config) -> None:
        super().__init__()
        if config.image_size not in (16, 32):
            raise ValueError("the DCGAN is built for 16x16 or 32x32 images")
        if config.g_cond not in ("input", "every"):
            raise ValueError(f"g_cond must be 'input' or 'every', not {config.g_cond!r}")
        self.config = config
        self.G = _DCGenerator(config)
        self.D = _DCDiscriminator(config)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return noise(n, self.config.noise_dim, self.config.noise, generator, next(self.parameters()).device)

    def generate(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
                 ) -> torch.Tensor:
        z = self.noise(n, generator)
        if self.config.num_classes and labels is None:
            labels = torch.randint(self.config.num_classes, (n,), generator=generator).to(z.device)
        return self.G(z, labels if self.config.num_classes else None)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(z, y)
