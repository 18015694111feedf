"""Small, shared measurement helpers: classification loss and accuracy, evaluated in batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def classification_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
    """Cross-entropy on an ``(images, labels)`` batch; also reports the batch accuracy."""
    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    return loss, {"acc": float(acc)}


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits for ``x`` in eval mode, batch by batch, on the model's device; returned on the CPU."""
    was = model.training
    model.eval()
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    out = torch.cat([model(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)])
    model.train(was)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict(model, x).argmax(1) == y).float().mean())
