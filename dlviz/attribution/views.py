"""The attribution page's landing-page card and its notebook snippet."""

from __future__ import annotations

import numpy as np
import torch

from dlviz.imaging import to_uint8


def thumbnail() -> np.ndarray:
    """Landing-page card: a food image beside its noise-averaged gradient magnitude for the predicted class
    (plain autograd on 16 noisy copies in one batch, so the card needs no captum), ``(H, W, 3)`` uint8."""
    from dlviz.checkpoints import load_shipped
    from dlviz.data import food_shapes

    model, _ = load_shipped("food_cnn")
    img = food_shapes(1, seed=11).images                               # (1, 3, 32, 32)
    target = int(model(img).argmax())
    g = torch.Generator().manual_seed(0)
    x = (img + 0.1 * torch.randn(16, 3, 32, 32, generator=g)).requires_grad_(True)
    model(x)[:, target].sum().backward()
    sal = x.grad.abs().sum(1).mean(0)                                  # (32, 32)
    sal = (sal / (sal.max() + 1e-12)).clamp(0, 1)                     # (32, 32) in [0, 1]
    heat = torch.stack([sal.sqrt(), sal ** 1.5, 0.3 * sal])            # a black-red-yellow ramp
    return to_uint8(torch.cat([img[0], heat], dim=2))                 # (32, 64, 3)


def completeness_snippet(*, model_source: str, model_name: str, dataset: str | None, image: str, index: int,
                         size: int, channels: int, target: int, steps: int, baseline: str) -> str:
    """Notebook lines (dlviz only) that recompute the page's Σ IG attributions for the image and class shown.

    model_source: "shipped" (``model_name`` is the checkpoint) or "file" (``model_name`` is the ``.pt`` file of a
    downloaded or uploaded model). image: ``"validation"`` (``index`` into the validation set of ``dataset``),
    ``"photo:<name>"`` (a bundled photo) or ``"file:<name>"`` (an uploaded image).
    """
    if model_source == "shipped":
        lines = ["from dlviz.checkpoints import load_shipped", f"model, card = load_shipped({model_name!r})"]
    else:
        lines = ["from dlviz.checkpoints import load_checkpoint",
                 f"model, card = load_checkpoint({model_name!r})   # the .pt file of this model"]
    lines.append("from dlviz.attribution import core as attr")
    if image == "validation":
        if dataset == "food shapes":
            lines += ["from dlviz.classifier.core import load_data",
                      f"val = load_data('food shapes', n_train=10, n_val=1000, size={size}).val"]
        else:
            lines += ["from dlviz.data import digits", f"val = digits('test', seed=0, size={size})"]
        lines.append(f"x = val.images[{index}:{index + 1}]")
    else:
        kind, _, name = image.partition(":")
        if kind == "photo":
            lines += ["from dlviz.data import photo", f"img = photo({name!r}, {size})"]
        else:
            lines += ["from dlviz.data.external import load_image", "from dlviz.data.photos import square",
                      f"img = square(load_image(open({name!r}, 'rb').read()), {size})   # your image file"]
        lines.append("x = (img.mean(0, keepdim=True) if %d == 1 else img)[None]" % channels)
    lines += [f"result = attr.ig_completeness(model.eval(), x, {target}, steps={steps}, baseline={baseline!r})",
              'print(f"{result.sum_attributions:.4f}")']
    return "\n".join(lines)
