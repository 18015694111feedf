"""TinyTransformer: a nanoGPT-style transformer small enough to read head by head.

Token embedding + positions (sinusoidal as in Vaswani et al., 2017, "Attention Is All You Need",
learned as in GPT, or none) -> ``n_layer`` blocks of [LayerNorm -> multi-head self-attention ->
residual, LayerNorm -> MLP -> residual] (pre-LN, as in GPT-2) -> LayerNorm -> a linear head over
``num_classes`` per position.

The attention can be causal (a decoder: position t sees 0..t) or bidirectional (an encoder). Every
forward pass can return what a student wants to inspect: the attention weights and the pre-softmax
scores ``QK^T / sqrt(d_head)`` of every layer and head; and it accepts a ``head_mask`` ``(n_layer,
n_head)`` that scales (0 = ablates) each head's output before the output projection (Michel et al.,
2019, "Are Sixteen Heads Really Better than One?").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlviz.models import register_model

POSITIONS = ("learned", "sinusoidal", "none")


def sinusoidal_positions(n_positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """``(n_positions, dim)``: ``PE[p, 2i] = sin(p w_i)``, ``PE[p, 2i+1] = cos(p w_i)``, ``w_i = base^(-2i/dim)``."""
    pos = torch.arange(n_positions, dtype=torch.float64).unsqueeze(1)        # (P, 1)
    freqs = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)    # (ceil(dim/2),)
    angles = pos * freqs                                                     # (P, ceil(dim/2))
    pe = torch.zeros(n_positions, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return pe.float()


class SelfAttention(nn.Module):
    """Multi-head self-attention that can hand back its weights and scores."""

    def __init__(self, n_embd: int, n_head: int, bias: bool, dropout: float):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be a multiple of n_head ({n_head})")
        self.n_head, self.d_head = n_head, n_embd // n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)   # q, k, v for all heads at once
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, causal: bool, head_mask: torch.Tensor | None = None,
                need_weights: bool = False):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)                                   # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, self.d_head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d)
        if not need_weights:   # the fused kernel: same result, no (T, T) matrices kept (training, evaluation)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                               dropout_p=self.dropout.p if self.training else 0.0)   # (B, H, T, d)
            return self._merge(y, head_mask), None, None
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_head)                # (B, H, T, T)
        if causal:
            future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)   # (T, T) True above diagonal
            att = scores.masked_fill(future, float("-inf"))
        else:
            att = scores
        att = F.softmax(att, dim=-1)                                               # (B, H, T, T) rows sum to 1
        y = self.dropout(att) @ v                                                  # (B, H, T, d)
        return self._merge(y, head_mask), att, scores

    def _merge(self, y: torch.Tensor, head_mask: torch.Tensor | None) -> torch.Tensor:
        B, H, T, d = y.shape
        if head_mask is not None:   # scale (0: ablate) each head's output before the projection
            y = y * head_mask.to(y.dtype).view(1, H, 1, 1)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, H * d))      # (B, T, C)


class Block(nn.Module):
    def __init__(self, c: TinyTransformer.Config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c.n_embd) if c.layernorm else nn.Identity()
        self.attn = SelfAttention(c.n_embd, c.n_head, c.bias, c.dropout)
        self.mlp = None
        if c.mlp_ratio > 0:
            self.ln_2 = nn.LayerNorm(c.n_embd) if c.layernorm else nn.Identity()
            self.mlp = nn.Sequential(nn.Linear(c.n_embd, c.mlp_ratio * c.n_embd, bias=c.bias), nn.GELU(),
                                     nn.Linear(c.mlp_ratio * c.n_embd, c.n_embd, bias=c.bias),
                                     nn.Dropout(c.dropout))

    def forward(self, x, causal, head_mask=None, need_weights=False):
        a, att, scores = self.attn(self.ln_1(x), causal, head_mask, need_weights)
        x = x + a
        if self.mlp is not None:
            x = x + self.mlp(self.ln_2(x))
        return x, att, scores


@register_model("tiny_transformer")
class TinyTransformer(nn.Module):
    @dataclass
    class Config:
        vocab_size: int = 9          # input tokens
        num_classes: int = 9         # output classes per position (a language model: = vocab_size)
        block_size: int = 32         # the longest sequence
        n_layer: int = 2
        n_head: int = 2
        n_embd: int = 64
        causal: bool = True          # decoder (True) or encoder (False)
        positions: str = "learned"   # learned | sinusoidal | none
        mlp_ratio: int = 4           # 0: attention-only
        layernorm: bool = True
        bias: bool = True
        dropout: float = 0.0

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.positions not in POSITIONS:
            raise ValueError(f"unknown positions {c.positions!r}; choose one of {', '.join(POSITIONS)}")
        if not (1 <= c.n_layer and 1 <= c.n_head and c.vocab_size >= 1 and c.num_classes >= 1):
            raise ValueError("n_layer, n_head, vocab_size and num_classes must be positive")
        if c.n_embd % c.n_head:
            raise ValueError(f"n_embd ({c.n_embd}) must be a multiple of n_head ({c.n_head})")
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        if c.positions == "learned":
            self.wpe = nn.Embedding(c.block_size, c.n_embd)
        else:
            pe = sinusoidal_positions(c.block_size, c.n_embd) if c.positions == "sinusoidal" \
                else torch.zeros(c.block_size, c.n_embd)
            self.register_buffer("pe", pe, persistent=False)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd) if c.layernorm else nn.Identity()
        self.head = nn.Linear(c.n_embd, c.num_classes, bias=c.bias)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def position_embeddings(self) -> torch.Tensor:
        """``(block_size, n_embd)``: what is added to the token embedding at each position."""
        return self.wpe.weight if self.config.positions == "learned" else self.pe

    def _check(self, idx: torch.Tensor, head_mask: torch.Tensor | None) -> None:
        c = self.config
        if idx.ndim != 2:
            raise ValueError(f"expected token ids of shape (B, T), got {tuple(idx.shape)}")
        if idx.shape[1] > c.block_size:
            raise ValueError(f"sequence of {idx.shape[1]} tokens is longer than block_size {c.block_size}")
        if head_mask is not None and tuple(head_mask.shape) != (c.n_layer, c.n_head):
            raise ValueError(f"head_mask must be ({c.n_layer}, {c.n_head}), got {tuple(head_mask.shape)}")

    def run(self, idx: torch.Tensor, head_mask: torch.Tensor | None = None, causal: bool | None = None,
            need_weights: bool = True):
        """``idx`` (B, T) -> ``(logits (B, T, classes), attn (B, L, H, T, T), scores (B, L, H, T, T))``.

        ``scores`` are the raw ``QK^T/sqrt(d)`` before the causal mask; ``attn`` the softmax after it.
        ``causal`` overrides the config (to switch the mask off on a decoder and see what changes).
        Without ``need_weights`` the last two are ``None``.
        """
        self._check(idx, head_mask)
        causal = self.config.causal if causal is None else causal
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.position_embeddings()[:T])   # (B, T, C)
        atts, scores = [], []
        for i, block in enumerate(self.blocks):
            x, a, s = block(x, causal, None if head_mask is None else head_mask[i], need_weights)
            atts.append(a)
            scores.append(s)
        logits = self.head(self.ln_f(x))                                 # (B, T, classes)
        if not need_weights:
            return logits, None, None
        return logits, torch.stack(atts, 1), torch.stack(scores, 1)

    def forward(self, idx: torch.Tensor, head_mask: torch.Tensor | None = None,
                causal: bool | None = None) -> torch.Tensor:  # (B, T) -> (B, T, classes)
        return self.run(idx, head_mask, causal, need_weights=False)[0]
