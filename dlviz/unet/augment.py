"""Augmentation for segmentation: the image, its mask and its weight map move together.

One sampling grid per image combines a random flip, a random rotation and the U-Net paper's elastic
deformation (Ronneberger et al. 2015, sec. 3.1: random displacement vectors on a coarse 3x3 grid, drawn
from a Gaussian with standard deviation ``elastic_px`` pixels, interpolated bicubically to every pixel).
The image and the weight map are resampled bilinearly, the mask by nearest neighbour, all with
reflection at the border, so a label still sits on the pixel it describes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugSpec:
    flips: bool = False
    rotation_deg: float = 0.0     # uniform in [-deg, deg]
    elastic_px: float = 0.0       # std of the 3x3 grid displacements, in pixels (0 = off)

    @property
    def active(self) -> bool:
        return self.flips or self.rotation_deg > 0 or self.elastic_px > 0


def elastic_field(n: int, size: int, std_px: float, generator: torch.Generator | None = None,
                  grid: int = 3) -> torch.Tensor:
    """Displacements ``(n, size, size, 2)`` in grid_sample units (2/size per pixel): Gaussian vectors on a
    ``grid x grid`` lattice, interpolated bicubically (corners aligned)."""
    coarse = torch.randn(n, 2, grid, grid, generator=generator) * std_px * (2.0 / size)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)


def sampling_grid(n: int, size: int, spec: AugSpec, generator: torch.Generator | None = None) -> torch.Tensor:
    """Where each output pixel reads from ``(n, size, size, 2)``: flip, rotation, then elastic shift."""
    theta = torch.zeros(n, 2, 3)
    ang = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(spec.rotation_deg)
    cos, sin = torch.cos(ang), torch.sin(ang)
    fx = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if spec.flips else torch.ones(n)
    fy = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if spec.flips else torch.ones(n)
    theta[:, 0, 0], theta[:, 0, 1] = cos * fx, -sin * fy
    theta[:, 1, 0], theta[:, 1, 1] = sin * fx, cos * fy
    g = F.affine_grid(theta, (n, 1, size, size), align_corners=False)
    if spec.elastic_px > 0:
        g = g + elastic_field(n, size, spec.elastic_px, generator)
    return g


def augment(images: torch.Tensor, masks: torch.Tensor, weights: torch.Tensor | None, spec: AugSpec,
            generator: torch.Generator | None = None):
    """Augmented ``(images (B, C, H, W), masks (B, H, W), weights (B, H, W) or None)``."""
    if not spec.active:
        return images, masks, weights
    n, size = images.shape[0], images.shape[-1]
    g = sampling_grid(n, size, spec, generator)
    x = F.grid_sample(images, g, mode="bilinear", padding_mode="reflection", align_corners=False)
    m = F.grid_sample(masks[:, None].float(), g, mode="nearest", padding_mode="reflection",
                      align_corners=False)[:, 0].round().long()
    w = None
    if weights is not None:
        w = F.grid_sample(weights[:, None], g, mode="bilinear", padding_mode="reflection", align_corners=False)[:, 0]
    return x.clamp(0, 1), m, w
