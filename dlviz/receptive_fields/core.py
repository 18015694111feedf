"""Receptive fields: which input pixels can change one unit of a CNN layer.

*Theoretical* receptive field (Araujo, Norris & Sim, 2019, "Computing receptive fields of convolutional
neural networks", Distill; Dumoulin & Visin, 2016): for a plain stack of layers with kernel ``k_l``,
stride ``s_l``, padding ``p_l`` and dilation ``d_l``,

    r_L = 1 + sum_l (k_l - 1) * d_l * prod_{i<l} s_i        (receptive-field size)
    j_L = prod_l s_l                                         (jump: input pixels between neighbours)
    P_L = sum_l p_l * prod_{i<l} s_i                         (effective padding)

and output unit ``u`` of layer L sees input pixels ``[-P_L + u * j_L, -P_L + u * j_L + r_L - 1]``.

:func:`receptive_field` computes this table for *any* PyTorch model -- a hand-built stack, the app's
small CNNs, or torchvision's AlexNet / VGG / ResNet / GoogLeNet / MobileNet -- by running the model once
on a ``meta`` tensor (no memory, no arithmetic) under a dispatch mode that follows every aten operation.
Where paths merge (residual ``+``, inception ``cat``, squeeze-excitation ``*``), the receptive field is
the union of the paths' regions -- that of the largest path -- and the row says so (``merged``).

:func:`probe` checks it by brute force (perturb one input pixel at a time, see which outputs change);
:func:`torchvision_model` builds the classic architectures without weights. The *effective* receptive
field (Luo et al., 2016) is in :mod:`dlviz.receptive_fields.effective`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from dlviz.receptive_fields.tracer import ATTR, Axis, Info, run_traced, spatial


# ------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class RFRow:
    """One row of the receptive-field table: the output of one module call.

    name: the module's path in ``model.named_modules()`` ("layer1.0.conv1"; "input" for the first row;
    a module called more than once gets "#2", "#3"... on its later calls). type: the module class.
    out_shape: the output shape without the batch dimension, e.g. ``(C, H', W')``; size: ``(H', W')``.
    rf: receptive-field size (rows, cols) in input pixels. jump: the effective stride (input pixels
    between neighbouring units; 0 after a global pool / flatten / dense layer, where every unit sees
    the same region). start: the first input pixel (row, col) of unit (0, 0)'s region, ``= -padding``
    (it can be negative: the region runs into the zero padding). merged: a branch merge (residual add,
    inception concat, squeeze-excitation product) of paths with *different* receptive fields lies
    upstream, and the receptive field is that of the largest path (the union of their regions).
    approx: some op was handled approximately (see note). leaf: the module has no children.
    """

    name: str
    type: str
    out_shape: tuple[int, ...]
    size: tuple[int, int]
    rf: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]
    merged: bool = False
    approx: bool = False
    leaf: bool = True
    note: str = ""

    @property
    def padding(self) -> tuple[float, float]:
        """Effective padding: how far before pixel 0 the region of unit (0, 0) begins."""
        return (-self.start[0], -self.start[1])

    @property
    def center(self) -> tuple[float, float]:
        """Centre (row, col) of unit (0, 0)'s region, in input pixel coordinates."""
        return (self.start[0] + (self.rf[0] - 1) / 2, self.start[1] + (self.rf[1] - 1) / 2)

    @property
    def is_global(self) -> bool:
        return self.jump == (0.0, 0.0)

    @property
    def rf_size(self) -> float:
        """One number for a square table: the larger of the two sides."""
        return max(self.rf)

    def region(self, i: int = 0, j: int = 0) -> tuple[float, float, float, float]:
        """``(top, left, bottom, right)`` (inclusive, unclipped) input region of output unit (i, j)."""
        top = self.start[0] + i * self.jump[0]
        left = self.start[1] + j * self.jump[1]
        return (top, left, top + self.rf[0] - 1, left + self.rf[1] - 1)

    def clipped_region(self, i: int, j: int, input_hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """The region of unit (i, j) clipped to the image (what the unit can actually see)."""
        t, lft, b, r = self.region(i, j)
        return (max(0, math.floor(t)), max(0, math.floor(lft)),
                min(input_hw[0] - 1, math.ceil(b)), min(input_hw[1] - 1, math.ceil(r)))

    def as_dict(self) -> dict:
        def num(v):
            return int(v) if float(v).is_integer() else round(float(v), 3)

        sq = self.rf[0] == self.rf[1] and self.jump[0] == self.jump[1] and self.start[0] == self.start[1]
        pick = (lambda t: num(t[0])) if sq else (lambda t: f"{num(t[0])}x{num(t[1])}")
        return {"layer": self.name, "type": self.type,
                "output": "x".join(str(s) for s in self.out_shape),
                "rf": pick(self.rf), "jump": pick(self.jump), "start": pick(self.start),
                "merged": self.merged, "note": self.note}


def _norm_input_size(model: nn.Module, input_size) -> tuple[int, int, int]:
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    input_size = tuple(int(v) for v in input_size)
    if len(input_size) == 3:
        return input_size  # type: ignore[return-value]
    if len(input_size) != 2:
        raise ValueError(f"input_size must be an int, (H, W) or (C, H, W), not {input_size!r}")
    ch = None
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            ch = m.in_channels
            break
        if isinstance(m, nn.Linear):
            ch = 1
            break
    cfg = getattr(model, "config", None)
    ch = getattr(cfg, "in_channels", None) or ch or 3
    return (ch, *input_size)


def receptive_field(model: nn.Module, input_size: int | Sequence[int], layer: str | nn.Module | None = None,
                    *, leaves_only: bool = False) -> list[RFRow]:
    """The theoretical receptive field of every layer of ``model``, as a list of :class:`RFRow`.

    model: any ``nn.Module`` taking one ``(B, C, H, W)`` image batch (torchvision classifiers, the app's
    small CNNs, an ``nn.Sequential`` stack). It is not modified; it runs once on a ``meta`` tensor
    (shapes only -- about 0.1 s for ResNet-50), falling back to a real zero image when a model cannot.
    input_size: ``H`` (square), ``(H, W)`` or ``(C, H, W)``; the channel count defaults to the first
    conv layer's ``in_channels``.
    layer: ``None`` for the whole table; a module name (as in ``model.named_modules()``, or the
    ``"name#2"`` label of a later call) or a module: the table up to and including that layer, so that
    ``receptive_field(m, 224, "layer3")[-1]`` is the answer for ``layer3``.
    leaves_only: drop the rows of container modules (``Sequential``, residual blocks, ...).

    Row 0 is the input itself (rf 1, jump 1, start 0). Each further row is one module call, in the
    order the calls *finish* (so a block's row follows its children's rows), with: ``name``, ``type``,
    ``out_shape``/``size`` (output size), ``rf`` (size), ``jump`` (effective stride), ``start`` (first
    input pixel of unit (0, 0); ``padding`` = -start, ``center`` = its centre, ``region(i, j)`` = any
    unit's input box), ``merged`` (True when branches with different receptive fields met upstream and
    the largest path's field was taken), ``approx`` and ``note``.
    """
    c, h, w = _norm_input_size(model, input_size)
    if h < 1 or w < 1:
        raise ValueError("input_size must be positive")
    was_training = model.training
    if was_training:
        model.eval()
    try:
        params = {n: torch.empty_like(t, device="meta") for n, t in
                  list(model.named_parameters()) + list(model.named_buffers())}
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        x = torch.zeros(1, c, h, w, device="meta", dtype=dtype)
        start = Info((Axis(1.0, 1.0, 0.0), Axis(1.0, 1.0, 0.0)))
        setattr(x, ATTR, start)
        try:
            calls = run_traced(model, x, params)
        except Exception:  # noqa: BLE001 - some models cannot run on meta: run them for real
            dev = next((p.device for p in model.parameters()), torch.device("cpu"))
            x = torch.zeros(1, c, h, w, device=dev, dtype=dtype)
            setattr(x, ATTR, start)
            calls = run_traced(model, x, None)
    finally:
        if was_training:
            model.train()
    rows = [RFRow("input", "input", (c, h, w), (h, w), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0))]
    for label, mod, info, t, merged_here in calls:
        size = spatial(t, info.dims) or (1, 1)
        shape = tuple(int(s) for s in t.shape[1:])
        notes = list(info.notes) + ([info.merge_note] if merged_here and info.merge_note else [])
        rows.append(RFRow(label, type(mod).__name__, shape, size,
                          tuple(a.rf for a in info.axes), tuple(a.jump for a in info.axes),
                          tuple(a.start for a in info.axes), info.merged, info.approx,
                          leaf=not any(True for _ in mod.children()), note="; ".join(notes)))
    if leaves_only:
        rows = [r for r in rows if r.leaf]
    if layer is None:
        return rows
    if isinstance(layer, nn.Module):
        names = [n for n, m in model.named_modules() if m is layer]
        if not names:
            raise KeyError("that module is not part of the model")
        layer = names[0]
    for i, r in enumerate(rows):
        if r.name == layer:
            return rows[:i + 1]
    known = [r.name for r in rows]
    close = difflib.get_close_matches(layer, known, n=4, cutoff=0.6)
    raise KeyError(f"no layer {layer!r} in this model" + (f"; did you mean {', '.join(close)}?" if close
                                                          else f"; it has {len(known)} layers, e.g. "
                                                               f"{', '.join(known[1:6])}"))


# ------------------------------------------------------------------------------ hand-built stacks
@dataclass(frozen=True)
class LayerSpec:
    """One layer of a stack a student builds: ``kind`` is ``conv``, ``maxpool`` or ``avgpool``."""

    kind: str = "conv"
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    def label(self) -> str:
        d = f", d{self.dilation}" if self.dilation != 1 else ""
        return f"{self.kind} {self.kernel}x{self.kernel}, s{self.stride}, p{self.padding}{d}"


def build_stack(specs: Sequence[LayerSpec], in_channels: int = 1, channels: int = 4,
                relu: bool = True) -> nn.Sequential:
    """An ``nn.Sequential`` of the given layers (conv layers followed by ReLU); module names are
    ``conv1``, ``relu1``, ``maxpool2``, ... numbered by layer."""
    from collections import OrderedDict

    mods: OrderedDict[str, nn.Module] = OrderedDict()
    ch = in_channels
    for i, sp in enumerate(specs, 1):
        if sp.kernel < 1 or sp.stride < 1 or sp.padding < 0 or sp.dilation < 1:
            raise ValueError(f"layer {i}: kernel, stride and dilation must be >= 1 and padding >= 0")
        if sp.kind == "conv":
            mods[f"conv{i}"] = nn.Conv2d(ch, channels, sp.kernel, sp.stride, sp.padding, sp.dilation)
            ch = channels
            if relu:
                mods[f"relu{i}"] = nn.ReLU()
        elif sp.kind == "maxpool":
            if sp.padding > sp.kernel // 2:
                raise ValueError(f"layer {i}: pooling padding must be at most half the kernel size")
            mods[f"maxpool{i}"] = nn.MaxPool2d(sp.kernel, sp.stride, sp.padding, sp.dilation)
        elif sp.kind == "avgpool":
            if sp.padding > sp.kernel // 2:
                raise ValueError(f"layer {i}: pooling padding must be at most half the kernel size")
            if sp.dilation != 1:
                raise ValueError(f"layer {i}: average pooling has no dilation")
            mods[f"avgpool{i}"] = nn.AvgPool2d(sp.kernel, sp.stride, sp.padding)
        else:
            raise ValueError(f"unknown layer kind {sp.kind!r}")
    return nn.Sequential(mods)


def probe(model: nn.Module, input_size: int | Sequence[int], layer: str | None = None,
          pixels: Sequence[tuple[int, int]] | None = None, batch: int = 256) -> torch.Tensor:
    """Brute-force receptive fields: which outputs of ``layer`` change when one input pixel changes.

    The model is copied with every weight set to 1, every bias to 0 and batch-norm statistics to the
    identity, in float64 and eval mode; the input is all zeros except a 1 at one pixel (all channels).
    Every output is then a sum of non-negative path products: exactly 0 when no path connects it to
    the pixel and > 0 when one does (ReLU, max- and average-pooling keep that), so the affected set is
    the receptive field *restricted to the image*, with no tolerance involved. (Models with sigmoids
    or other f(0) != 0 layers are outside this guarantee.)

    Returns ``affected`` of shape ``(P, H', W')`` (bool): ``affected[p, i, j]`` says whether unit
    ``(i, j)`` of ``layer``'s output changes when pixel ``pixels[p]`` (default: every pixel, row-major)
    is perturbed. ``layer=None`` probes the model's output (which must be a spatial map).
    """
    import copy

    c, h, w = _norm_input_size(model, input_size)
    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.fill_(0.0 if name.endswith("bias") else 1.0)
        for name, b in m.named_buffers():
            if name.endswith("running_mean"):
                b.zero_()
            elif name.endswith("running_var"):
                b.fill_(1.0)
    grabbed: list[torch.Tensor] = []
    if layer is not None:
        mods = dict(m.named_modules())
        if layer not in mods:
            raise KeyError(f"no layer {layer!r} in this model")
        mods[layer].register_forward_hook(lambda _m, _i, o: grabbed.append(o))
    if pixels is None:
        pixels = [(i, j) for i in range(h) for j in range(w)]
    outs = []
    with torch.no_grad():
        for s in range(0, len(pixels), batch):
            chunk = pixels[s:s + batch]
            x = torch.zeros(len(chunk), c, h, w, dtype=torch.float64)
            for k, (i, j) in enumerate(chunk):
                x[k, :, i, j] = 1.0
            grabbed.clear()
            y = m(x)
            y = grabbed[-1] if layer is not None else y
            if y.ndim != 4:
                raise ValueError("the probed layer's output is not a (B, C, H, W) map")
            outs.append((y != 0).any(dim=1))
    return torch.cat(outs)


# ------------------------------------------------------------------------------ classic architectures
TORCHVISION_MODELS = {
    "AlexNet": "alexnet", "VGG-16": "vgg16", "ResNet-18": "resnet18", "ResNet-50": "resnet50",
    "GoogLeNet (Inception v1)": "googlenet", "Inception v3": "inception_v3", "MobileNet v2": "mobilenet_v2",
    "MobileNet v3 (small)": "mobilenet_v3_small", "DenseNet-121": "densenet121",
    "EfficientNet-B0": "efficientnet_b0", "ConvNeXt-Tiny": "convnext_tiny",
}


def torchvision_model(name: str) -> nn.Module:
    """A torchvision classifier *without weights* (architecture only), built on the ``meta`` device so
    that even ResNet-50 costs milliseconds; ``name`` is a key or value of :data:`TORCHVISION_MODELS`.
    Only good for shapes and receptive fields -- it has no numbers in it."""
    import torchvision

    arch = TORCHVISION_MODELS.get(name, name)
    if arch not in TORCHVISION_MODELS.values():
        raise KeyError(f"unknown architecture {name!r}; choose one of {', '.join(TORCHVISION_MODELS)}")
    kwargs = {"aux_logits": False, "init_weights": False} if arch in ("googlenet", "inception_v3") else {}
    with torch.device("meta"):
        return getattr(torchvision.models, arch)(weights=None, **kwargs).eval()


def default_input_size(name: str) -> int:
    """The input size the architecture was designed for (299 for Inception v3, else 224)."""
    return 299 if TORCHVISION_MODELS.get(name, name) == "inception_v3" else 224


# ------------------------------------------------------------------------------ helpers for the page
def coverage(row: RFRow, input_hw: tuple[int, int]) -> torch.Tensor:
    """``(H', W')``: the fraction of each unit's receptive field that lies on the image (the rest is
    padding). Units at the border of deep layers see mostly padding."""
    parts = []
    for ax in range(2):
        lo = row.start[ax] + torch.arange(row.size[ax], dtype=torch.float64) * row.jump[ax]
        hi = lo + row.rf[ax] - 1
        parts.append((hi.clamp(max=input_hw[ax] - 1) - lo.clamp(min=0) + 1).clamp(min=0) / row.rf[ax])
    return parts[0][:, None] * parts[1][None, :]


def layer_output(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """The output of module ``layer`` (``"name"`` or ``"name#k"`` for its k-th call) for input ``x``."""
    name, _, k = layer.partition("#")
    mods = dict(model.named_modules())
    if name not in mods:
        raise KeyError(f"no layer {name!r}")
    got: list[torch.Tensor] = []
    h = mods[name].register_forward_hook(lambda _m, _i, o: got.append(o))
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    return got[int(k) - 1 if k else 0]

