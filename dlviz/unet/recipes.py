"""Shipped U-Nets (Ronneberger et al. 2015) for the ablations the page shows side by side. Every pair differs in
one setting only, with the same seed, data, batches and step budget:

* skips: ``unet_foods`` (full U-Net) vs ``unet_foods_noskip`` (no skip connections) vs ``unet_foods_notop``
  (only the top, full-resolution skip removed) -- on 200 plates of foods, 64x64;
* weight map: ``unet_cells_wce`` (weighted cross-entropy, the border weight map, w0 = 10, σ = 5 px) vs
  ``unet_cells_ce`` (plain cross-entropy) -- on 200 images of touching cells; the card's
  ``merged_instances`` counts the objects lost to merging on the test set;
* elastic deformation at 20 training images: ``unet_foods20_elastic`` vs ``unet_foods20``.

Each card records ``mean_iou``, ``boundary_f1`` (1-px tolerance), ``merged_instances`` and ``pixel_acc`` on the
data set's fixed test set (48 images), plus the number of true and of touching objects there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from dlviz.models import build_model
from dlviz.recipes import Recipe, register_recipe
from dlviz.unet.augment import AugSpec
from dlviz.unet.core import count_merges
from dlviz.unet.training import evaluate_model, load_data, make_trainer, model_config, predict_masks


@dataclass(frozen=True)
class Plan:
    data: str
    n_train: int
    skips: str = "all"
    loss: str = "ce"
    elastic_px: float = 0.0
    steps: int = 500
    lr: float = 1e-2
    batch_size: int = 8
    depth: int = 3
    base_channels: int = 8
    max_channels: int = 32


ROT = 20.0
PLANS: dict[str, Plan] = {
    "unet_foods": Plan("foods64", 200),
    "unet_foods_noskip": Plan("foods64", 200, skips="none"),
    "unet_foods_notop": Plan("foods64", 200, skips="no-top"),
    "unet_cells_wce": Plan("cells64", 200, loss="wce", steps=400),
    "unet_cells_ce": Plan("cells64", 200, loss="ce", steps=400),
    "unet_foods20": Plan("foods64", 20, steps=250),
    "unet_foods20_elastic": Plan("foods64", 20, elastic_px=2.0, steps=250),
}
SUMMARY = {"unet_foods": "full U-Net", "unet_foods_noskip": "no skip connections",
           "unet_foods_notop": "top skip removed", "unet_cells_wce": "weighted CE (border weight map)",
           "unet_cells_ce": "plain CE", "unet_foods20": "20 training images, flips + rotations",
           "unet_foods20_elastic": "20 training images, flips + rotations + elastic"}


def build_for(p: Plan) -> torch.nn.Module:
    cfg = model_config(load_data(p.data, "test"), p.depth, p.base_channels, p.skips, max_channels=p.max_channels,
                       half_storage=True)
    return build_model("seg_unet", cfg)


def evaluate_plan(model: torch.nn.Module, data: str) -> dict[str, float]:
    test = load_data(data, "test")
    out = evaluate_model(model, test)
    m = count_merges(predict_masks(model, test.images), test.masks.numpy(), test.instances.numpy())
    return {**out, "true_objects": float(m.true_objects), "touching_objects": float(m.touching)}


def _make(name: str) -> Recipe:
    p = PLANS[name]

    def train(model, device: str) -> dict:
        opt = torch.optim.Adam(model.parameters(), p.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, p.steps, eta_min=p.lr * 0.05)
        aug = AugSpec(flips=True, rotation_deg=ROT, elastic_px=p.elastic_px)
        tr = make_trainer(model, load_data(p.data, "train", p.n_train), loss=p.loss, aug=aug, steps=p.steps,
                          batch_size=p.batch_size, optimizer=opt, scheduler=sched, seed=0, device=device, name=name)
        cpu0 = time.process_time()
        tr.run()
        cpu = time.process_time() - cpu0
        if tr.status != "finished":
            raise RuntimeError(f"training ended {tr.status}: {tr.message}")
        return {"dataset": f"{p.data}: dlviz.unet.training.load_data({p.data!r}, 'train', {p.n_train}); test: the "
                           f"fixed {p.data} test set (48 images)",
                "n_train": p.n_train, "steps": p.steps, "batch_size": p.batch_size, "loss": p.loss,
                "augmentation": f"flips, rotation ±{ROT:g}°" + (f", elastic 3x3 grid σ={p.elastic_px:g} px" if p.elastic_px else ""),
                "optimizer": f"Adam lr={p.lr:g}, cosine to 5%", "skips": p.skips,
                "cpu_time_s": round(cpu, 1), "threads": torch.get_num_threads()}

    return Recipe(name=name, summary=f"U-Net on {p.data}: {SUMMARY[name]}", build=lambda: build_for(p), train=train,
                  evaluate=lambda m: evaluate_plan(m, p.data), claims=CLAIMS[name])


# what each card promises (re-measured by tests/test_checkpoints.py); set below the measured values
CLAIMS: dict[str, dict[str, tuple[str, float]]] = {
    "unet_foods": {"mean_iou": (">=", 0.55), "boundary_f1": (">=", 0.4)},
    "unet_foods_noskip": {"mean_iou": (">=", 0.3)},
    "unet_foods_notop": {"mean_iou": (">=", 0.45)},
    "unet_cells_wce": {"mean_iou": (">=", 0.8)},
    "unet_cells_ce": {"mean_iou": (">=", 0.8)},
    "unet_foods20": {"mean_iou": (">=", 0.25)},
    "unet_foods20_elastic": {"mean_iou": (">=", 0.25)},
}
for _name in PLANS:
    register_recipe(_make(_name))
