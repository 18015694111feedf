"""The Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words: Transformers for
Image Recognition at Scale") and attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow
in Transformers"): the analysis behind the ViT page.

* :mod:`dlviz.vit.core` -- :func:`patchify` / :func:`unpatchify`, attention per layer and head,
  :func:`rollout`, the position embeddings' similarity map and its locality, the patch-shift measure;
* :mod:`dlviz.vit.training` -- the data, the ViT and matched-budget CNN configs, the Trainer;
* :mod:`dlviz.vit.efficiency` -- ViT vs CNN against the number of training images (shipped curve);
* :mod:`dlviz.vit.views` / :mod:`dlviz.vit.plots` -- arrays and figures for the page;
* :mod:`dlviz.vit.recipes` -- the shipped checkpoints ``vit_digits`` and ``vit_food``.

The model itself is ``dlviz.models.vit.ViT`` (registered as ``"vit"``).
"""

from __future__ import annotations

from dlviz.vit.core import (
    AttentionResult,
    analyse,
    cls_rollout_map,
    patch_shift_errors,
    patchify,
    position_locality,
    position_similarity,
    rollout,
    unpatchify,
)

__all__ = ["AttentionResult", "analyse", "cls_rollout_map", "patch_shift_errors", "patchify", "position_locality",
           "position_similarity", "rollout", "unpatchify"]
