"""The four losses the U-Net page trains with, each ``(logits (B, K, H, W), target (B, H, W), weights) -> scalar``.

* ``ce``: pixel-wise cross-entropy;
* ``dice``: 1 - the soft Dice coefficient averaged over classes (Milletari, Navab & Ahmadi 2016), with
  softmax probabilities in place of the hard masks;
* ``focal``: ``-(1 - p_t)^γ log p_t`` with γ = 2 (Lin et al. 2017): easy pixels count less;
* ``wce``: cross-entropy weighted per pixel by the U-Net paper's weight map w(x) (Ronneberger et al.
  2015, eqs. 1-2), so the thin background lines between touching objects weigh up to w0 = 10 times more.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = {"ce": "cross-entropy", "dice": "soft Dice", "focal": "focal (γ = 2)",
          "wce": "weighted cross-entropy (border weight map)"}


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - mean_k 2 Σ p_k t_k / (Σ p_k + Σ t_k)`` over the batch; ``eps`` smooths absent classes."""
    k = logits.shape[1]
    p = logits.softmax(1)                                               # (B, K, H, W)
    t = F.one_hot(target, k).permute(0, 3, 1, 2).to(p.dtype)            # (B, K, H, W)
    inter = (p * t).sum((0, 2, 3))
    total = p.sum((0, 2, 3)) + t.sum((0, 2, 3))
    return 1 - ((2 * inter + eps) / (total + eps)).mean()


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    logp = F.log_softmax(logits, 1).gather(1, target[:, None])[:, 0]      # (B, H, W): log p_t
    return (-(1 - logp.exp()) ** gamma * logp).mean()


def seg_loss(name: str, logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The loss ``name`` (see :data:`LOSSES`)."""
    if name == "ce":
        return F.cross_entropy(logits, target)
    if name == "dice":
        return soft_dice_loss(logits, target)
    if name == "focal":
        return focal_loss(logits, target)
    if name == "wce":
        if weights is None:
            raise ValueError("the weighted cross-entropy needs the weight maps")
        return (weights * F.cross_entropy(logits, target, reduction="none")).mean()   # eq. 1, averaged
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
