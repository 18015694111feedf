"""Arrays and words the Convolutions page shows: the landing-page thumbnail, filter frames for a GIF, a verdict
on a run that ended at chance level."""

from __future__ import annotations

import numpy as np

from dlviz.convolutions.core import KERNELS, convolve
from dlviz.imaging import to_uint8


def thumbnail() -> np.ndarray:
    """Landing-page card: a photo beside its Sobel-x feature map, ``(H, 2W, 3)`` uint8."""
    from dlviz.data import photo

    x = photo("chelsea the cat", 96)                                            # (3, 96, 96)
    y = convolve(x, KERNELS["Sobel x (vertical edges)"], padding=1).output[0]    # (96, 96)
    y = (y - y.min()) / (y.max() - y.min() + 1e-8)
    return np.concatenate([to_uint8(x), to_uint8(y)], axis=1)


def colour_signed(a: np.ndarray, lim: float | None = None) -> np.ndarray:
    """Signed values ``(H, W)`` -> ``(H, W, 3)`` uint8 on the page's diverging scale (:data:`plots.SIGNED`:
    red positive, white 0, blue negative), symmetric around 0 with ``lim`` (default: the largest magnitude)."""
    import plotly.graph_objects as go

    from dlviz.convolutions.plots import SIGNED

    scale = go.Heatmap(colorscale=SIGNED).colorscale          # exactly the charts' colours, evenly spaced stops
    stops = np.array([[int(v) for v in c[c.index("(") + 1:-1].split(",")] for _, c in scale], dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    lim = float(np.abs(a).max()) if lim is None else float(lim)
    t = (np.clip(a / (lim or 1.0), -1, 1) + 1) / 2 * (len(stops) - 1)
    lo = np.floor(t).astype(int).clip(0, len(stops) - 2)
    f = (t - lo)[..., None]
    return np.round(stops[lo] * (1 - f) + stops[lo + 1] * f).astype(np.uint8)


def filter_frames(snapshots: list, pad: int = 1, scale: int = 8) -> list[np.ndarray]:
    """One ``(H, W, 3)`` uint8 frame per snapshot ``(step, filters (C_out, C_in, k, k))``: the first-layer filters
    side by side on one diverging scale shared by all frames (so a colour means the same weight in every frame)."""
    if not snapshots:
        return []
    lim = max(float(np.abs(np.asarray(f)).max()) for _, f in snapshots) or 1.0
    frames = []
    for _, filt in snapshots:
        f = np.asarray(filt, dtype=np.float64)[:, 0]                      # (C_out, k, k)
        k = f.shape[-1]
        row = np.full((k + 2 * pad, len(f) * (k + pad) + pad, 3), 255, np.uint8)
        for i, m in enumerate(f):
            row[pad:pad + k, pad + i * (k + pad):pad + i * (k + pad) + k] = colour_signed(m, lim)
        frames.append(np.repeat(np.repeat(row, scale, 0), scale, 1))
    return frames


def dead_relu_share(model, x) -> dict[str, float]:
    """``{layer: share of its ReLU units (channel x position) that are zero for every image in x}``."""
    import torch

    with torch.no_grad():
        maps = model.feature_maps(x)
    return {k: float((v <= 0).all(0).float().mean()) for k, v in maps.items() if k.endswith("relu")}


def run_verdict(history: dict, dead: dict[str, float], n_classes: int = 10) -> str | None:
    """A finished run stuck at chance level, in words and measured numbers (its loss did not explode, so the
    Trainer had nothing to stop). ``history``: the Trainer's ``{metric: (steps, values)}``; ``dead``:
    :func:`dead_relu_share` of the final model. None for a run that learned something."""
    import math

    steps, acc = history.get("test_acc", ([], []))
    _, loss = history.get("loss", ([], []))
    if not acc or not loss:
        return None
    chance = 1.0 / n_classes
    if acc[-1] > chance + 0.05:
        return None
    tail = loss[-min(50, len(loss)):]
    mean_loss = sum(tail) / len(tail)
    worst = max(dead.items(), key=lambda kv: kv[1]) if dead else None
    peak = max(loss)
    text = (f"The run ended at chance level: test accuracy {acc[-1]:.1%} at step {steps[-1]:,} (chance "
            f"{chance:.0%}), mean loss of the last {len(tail)} steps {mean_loss:.3f} (ln {n_classes} = "
            f"{math.log(n_classes):.3f}, the loss of a uniform guess). Its loss peaked at {peak:.3g} "
            f"({peak / loss[0]:.1f}× its first value) without exploding, so training ran to the end.")
    if worst and worst[1] > 0.5:
        text += (f" {worst[1]:.0%} of the ReLU units of `{worst[0]}` are zero for every test digit (dead): the "
                 "output hardly depends on the input and little gradient flows back. Lower the learning rate.")
    return text


def accuracy_snippet(source: str, model_key: str, label: str, card: dict) -> str:
    """Notebook lines (dlviz only) that recompute the test accuracy the page shows for the inspected model: a
    shipped checkpoint by name; a trained or uploaded one from its ``.pt`` file (the page's "Download this model"
    names it ``conv_<arch>_<steps>steps.pt``)."""
    import re

    if source == "shipped":
        load = f"from dlviz.checkpoints import load_shipped\nmodel, card = load_shipped({model_key.split(':', 1)[1]!r})\n"
    else:
        path = (re.sub(r"[^A-Za-z0-9_-]+", "_", f"conv_{card.get('arch', 'model')}_{card.get('steps', 0)}steps") + ".pt"
                if source == "trained" else label)
        load = ("from dlviz.checkpoints import load_checkpoint\n"
                f"model, card = load_checkpoint({path!r})   # the .pt file of this model\n")
    return (load + "from dlviz.convolutions import training\nfrom dlviz.metrics import accuracy\n"
            "data = training.digits_data()\nresult = accuracy(model, data.xte, data.yte)\n"
            'print(f"{result:.1%}")')
