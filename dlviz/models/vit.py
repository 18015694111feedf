"""A small Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words").

An image ``(B, C, H, W)`` is cut into ``g x g`` non-overlapping ``p x p`` patches (``g = H / p``); each
flattened patch is mapped by one linear layer to a ``dim``-vector (the *patch embedding*, Eq. 1 of the
paper: ``z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos``); a learned ``[CLS]`` token is prepended and
learned position embeddings are added; then ``depth`` pre-LN encoder blocks [LN -> multi-head self-
attention -> residual, LN -> MLP -> residual] (Eqs. 2-3) and a final LN; the class is read from the
[CLS] token's output (Eq. 4).

Position embeddings: ``learned`` -- one free vector per grid cell, as the paper's default (its Fig. 7
shows their cosine similarities); ``learned_2d`` -- a row vector and a column vector of ``dim / 2`` each,
concatenated (the paper's "2-dimensional" variant, Appendix D.4); ``none``.

``forward(x, return_attention=True)`` also returns every layer's attention weights ``(B, heads, T, T)``
(``T = 1 + g^2``, token 0 is [CLS]); ``feature_maps`` returns the patch tokens of every stage as
``(B, dim, g, g)`` maps for the equivariance measure (:mod:`dlviz.equivariance.core`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.models import register_model

POSITIONS = ("learned", "learned_2d", "none")


class Attention(nn.Module):
    """Multi-head self-attention (no mask: every token sees every token) that can return its weights."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.heads, self.d_head = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)        # W_q, W_k, W_v of all heads, stacked along the output
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)                                          # 3 x (B, T, D)
        q, k, v = (t.view(B, T, self.heads, self.d_head).transpose(1, 2) for t in (q, k, v))  # (B, h, T, d)
        if not need_weights:
            y = F.scaled_dot_product_attention(q, k, v)                                 # (B, h, T, d)
            att = None
        else:   # softmax(q k^T / sqrt(d)) (Vaswani et al. 2017, Eq. 1), rows sum to 1
            att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.d_head), dim=-1)  # (B, h, T, T)
            y = att @ v                                                                 # (B, h, T, d)
        return self.proj(y.transpose(1, 2).reshape(B, T, D)), att


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(mlp_ratio * dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        a, att = self.attn(self.ln1(x), need_weights)
        x = x + a                          # Eq. 2
        return x + self.mlp(self.ln2(x)), att   # Eq. 3


@register_model("vit")
class ViT(nn.Module):
    @dataclass
    class Config:
        in_channels: int = 1
        image_size: int = 16
        num_classes: int = 10
        patch_size: int = 4
        dim: int = 64
        depth: int = 4
        heads: int = 4
        mlp_ratio: int = 2
        positions: str = "learned"    # learned | learned_2d | none
        dropout: float = 0.0

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.positions not in POSITIONS:
            raise ValueError(f"unknown positions {c.positions!r}; choose one of {', '.join(POSITIONS)}")
        if c.patch_size < 1 or c.image_size % c.patch_size:
            raise ValueError(f"patch_size ({c.patch_size}) must divide image_size ({c.image_size})")
        if c.positions == "learned_2d" and c.dim % 2:
            raise ValueError("learned_2d positions need an even dim")
        self.grid = g = c.image_size // c.patch_size
        self.patch_embed = nn.Linear(c.in_channels * c.patch_size ** 2, c.dim)   # E of Eq. 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim))
        if c.positions == "learned":
            self.pos_embed = nn.Parameter(0.02 * torch.randn(1, 1 + g * g, c.dim))   # [CLS] + one per patch
        elif c.positions == "learned_2d":
            self.pos_cls = nn.Parameter(0.02 * torch.randn(1, 1, c.dim))
            self.pos_row = nn.Parameter(0.02 * torch.randn(g, c.dim // 2))
            self.pos_col = nn.Parameter(0.02 * torch.randn(g, c.dim // 2))
        self.blocks = nn.ModuleList(Block(c.dim, c.heads, c.mlp_ratio, c.dropout) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        self.head = nn.Linear(c.dim, c.num_classes)

    @property
    def num_tokens(self) -> int:
        return 1 + self.grid ** 2

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, g*g, C*p*p)``: patches in row-major order, each flattened (C, p, p)."""
        from dlviz.vit.core import patchify

        return patchify(x, self.config.patch_size)

    def position_embeddings(self) -> torch.Tensor | None:
        """``(1 + g*g, dim)``: row 0 for [CLS], then one row per patch (row-major); None without."""
        c = self.config
        if c.positions == "learned":
            return self.pos_embed[0]
        if c.positions == "learned_2d":
            g = self.grid
            grid = torch.cat([self.pos_row[:, None].expand(g, g, -1), self.pos_col[None].expand(g, g, -1)], -1)
            return torch.cat([self.pos_cls[0], grid.reshape(g * g, c.dim)], 0)
        return None

    def embed(self, x: torch.Tensor, positions: bool = True) -> torch.Tensor:
        """``z_0`` of Eq. 1: ``(B, 1 + g*g, dim)``."""
        c = self.config
        if x.shape[1:] != (c.in_channels, c.image_size, c.image_size):
            raise ValueError(f"the ViT expects images {(c.in_channels, c.image_size, c.image_size)}, "
                             f"got {tuple(x.shape[1:])}")
        tok = self.patch_embed(self.patches(x))                                   # (B, N, D)
        z = torch.cat([self.cls_token.expand(len(x), -1, -1), tok], 1)            # (B, 1 + N, D)
        pe = self.position_embeddings()
        return z + pe if positions and pe is not None else z

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        """Logits ``(B, classes)``; with ``return_attention`` also the list of each layer's attention
        weights ``(B, heads, T, T)``."""
        z = self.embed(x)
        atts = []
        for blk in self.blocks:
            z, att = blk(z, need_weights=return_attention)
            atts.append(att)
        logits = self.head(self.norm(z[:, 0]))                                    # Eq. 4: from [CLS]
        return (logits, atts) if return_attention else logits

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The patch tokens of every stage as maps ``(B, dim, g, g)`` (one pixel per patch, so a map's
        stride is the patch size), then the logits ``(B, classes)``."""
        g, out = self.grid, {}

        def as_map(z: torch.Tensor) -> torch.Tensor:                              # (B, 1+N, D) -> (B, D, g, g)
            return z[:, 1:].transpose(1, 2).reshape(len(z), -1, g, g)

        out["patch embedding"] = as_map(self.embed(x, positions=False))
        z = self.embed(x)
        out["+ positions"] = as_map(z)
        for i, blk in enumerate(self.blocks, 1):
            z, _ = blk(z)
            out[f"block {i}"] = as_map(z)
        out["logits"] = self.head(self.norm(z[:, 0]))
        return out
