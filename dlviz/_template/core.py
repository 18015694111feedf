"""TEMPLATE core: the concept's mathematics. Pure functions of tensors/arrays; no streamlit, no plotly.

Return small dataclasses of numpy arrays so the page can cache them with ``st.cache_data`` and the plots can
draw them. Test every number here against an independent computation (a closed form, autograd, brute force).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Measurement:
    """What the page's headline number is computed from."""

    values: np.ndarray           # (N,) one value per input
    mean: float                  # the number the page shows with st.metric


@torch.no_grad()
def measure(model: nn.Module, x: torch.Tensor) -> Measurement:
    """The concept's measurement of ``model`` on inputs ``x`` (N, C, H, W); here: the mean output norm."""
    model.eval()
    out = model(x).flatten(1)                                   # (N, K)
    v = out.norm(dim=1).numpy()                                 # (N,)
    return Measurement(v, float(v.mean()))
