"""Half-precision storage for shipped checkpoints: the floating tensors of a state dict written as float16 (half
the file), copied back into the float32 model by ``load_checkpoint``. Models opt in per instance (a config flag
such as ``half_storage``, or :func:`store_as_half` on the instance), so a model the page trains live is untouched.
"""

from __future__ import annotations

import torch
from torch import nn


def state_dict_to_half(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """A state-dict hook: every floating tensor of ``state_dict`` becomes float16."""
    for k, v in state_dict.items():
        if v.is_floating_point():
            state_dict[k] = v.half()


def store_as_half(model: nn.Module) -> nn.Module:
    """Make ``model.state_dict()`` (and so its checkpoint) hold float16 tensors; returns ``model``."""
    hook = getattr(model, "register_state_dict_post_hook", None) or model._register_state_dict_hook
    hook(state_dict_to_half)
    return model


@torch.no_grad()
def round_to_half(model: nn.Module) -> None:
    """Round the weights to their float16 values, so a card measures the model that is shipped."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            t.copy_(t.half().float())
