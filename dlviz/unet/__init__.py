"""U-Net segmentation (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015): per-class IoU, Dice, boundary F1, merged touching objects, the paper's border
weight map, and what the skip connections are for (ablations after Wilm et al. 2024 and Kamath et al. 2023).

Modules: :mod:`.core` (measurements, weight map), :mod:`.losses`, :mod:`.augment` (flips, rotations,
elastic deformation), :mod:`.training` (data sets, Trainer), :mod:`.views`, :mod:`.plots`, :mod:`.recipes`.
"""

from dlviz.unet.core import (boundary_f1, count_merges, dice_per_class, evaluate_masks, iou_per_class, mean_iou,
                             weight_map)

__all__ = ["boundary_f1", "count_merges", "dice_per_class", "evaluate_masks", "iou_per_class", "mean_iou",
           "weight_map"]
