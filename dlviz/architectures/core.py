"""Classic CNN architectures, measured: per-layer output shape, parameters, multiply-adds and depth.

The zoo holds LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition"),
AlexNet (Krizhevsky et al., 2012), VGG (Simonyan & Zisserman, 2015), GoogLeNet / Inception (Szegedy et al.,
2015; 2016), ResNet (He et al., 2016, "Deep residual learning for image recognition"), MobileNet v2
(Sandler et al., 2018) -- torchvision's definitions, built on the ``meta`` device so that no weight is ever
allocated or downloaded -- plus the small 32x32 models this app trains.

How each number is measured:

* **output shape** and **multiply-adds (MACs)** come from forward hooks on every leaf module during one
  forward pass of a single image. A convolution costs ``C_in/groups * k_h * k_w`` MACs per output
  element, a linear layer ``in_features`` per output element; normalisation, activation and pooling
  are counted as 0 MACs (they are cheap elementwise work). FLOPs ~= 2 x MACs.
* **parameters** are each module's own ``p.numel()``, counted on the module's first call.
* **depth** is the longest chain of weight layers (convolutions and linear layers) from input to
  output, found in the autograd graph -- it is what the "18" in ResNet-18 or the "22" of GoogLeNet count.
* **receptive field** comes from :func:`dlviz.receptive_fields.core.receptive_field` when available.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

_WEIGHT_NODES = ("ConvolutionBackward", "AddmmBackward", "MmBackward", "LinearBackward")


class ArchitectureError(ValueError):
    """The model cannot be analysed as asked (unknown name, input too small, ...); message for the user."""


# ---------------------------------------------------------------------------------------------- LeNet-5
class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) on a 1x32x32 input, in its usual modern form.

    C1 conv 6@5x5 -> S2 2x2 subsampling -> C3 conv 16@5x5 -> S4 subsampling -> C5 conv 120@5x5 -> F6 84 ->
    10 outputs. Differences from the paper: C3 is fully connected to S2 (the paper's connection table
    used 60 of the 96 channel pairs, 1,516 instead of 2,416 weights), S2/S4 are plain average pools
    (the paper's had a trainable coefficient and bias per map), and the output is linear, not RBF.
    """

    @dataclass
    class Config:
        in_channels: int = 1
        num_classes: int = 10
        activation: str = "tanh"     # tanh (the paper's squashing function) | relu
        pool: str = "avg"            # avg (subsampling) | max

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = c = config or LeNet5.Config()
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}[c.activation]
        pool = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}[c.pool]
        self.features = nn.Sequential(
            nn.Conv2d(c.in_channels, 6, 5), act(), pool(2),       # C1 (6, 28, 28), S2 (6, 14, 14)
            nn.Conv2d(6, 16, 5), act(), pool(2),                  # C3 (16, 10, 10), S4 (16, 5, 5)
            nn.Conv2d(16, 120, 5), act())                         # C5 (120, 1, 1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), act(), nn.Linear(84, c.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 32, 32) -> (B, classes)
        return self.classifier(self.features(x))


# ---------------------------------------------------------------------------------------------- the zoo
@dataclass(frozen=True)
class ZooEntry:
    name: str
    build: Callable[[], nn.Module]
    input_size: tuple[int, int, int]      # (C, H, W) the model was designed for
    family: str
    year: int
    paper: str
    note: str = ""


def _tv(fn: str, **kw) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision.models as tvm

        return getattr(tvm, fn)(weights=None, **kw)
    return build


_TORCHVISION = [
    ("AlexNet", "alexnet", {}, "AlexNet", 2012, ("Krizhevsky, Sutskever & Hinton 2012, ImageNet "
     "classification with deep convolutional neural networks"), "torchvision's single-GPU variant (64 first-layer filters)"),
    ("VGG-11", "vgg11", {}, "VGG", 2015, "Simonyan & Zisserman 2015, Very deep convolutional networks", ""),
    ("VGG-16", "vgg16", {}, "VGG", 2015, "Simonyan & Zisserman 2015, Very deep convolutional networks", ""),
    ("VGG-19", "vgg19", {}, "VGG", 2015, "Simonyan & Zisserman 2015, Very deep convolutional networks", ""),
    ("GoogLeNet", "googlenet", {"aux_logits": False, "init_weights": False}, "Inception", 2015,
     "Szegedy et al. 2015, Going deeper with convolutions",
     "Inception v1 without the auxiliary classifiers; torchvision's '5x5' branch uses a 3x3 kernel"),
    ("Inception v3", "inception_v3", {"aux_logits": False, "init_weights": False}, "Inception", 2016,
     "Szegedy et al. 2016, Rethinking the Inception architecture", "without the auxiliary classifier"),
    ("ResNet-18", "resnet18", {}, "ResNet", 2016, "He et al. 2016, Deep residual learning", "basic blocks"),
    ("ResNet-34", "resnet34", {}, "ResNet", 2016, "He et al. 2016, Deep residual learning", "basic blocks"),
    ("ResNet-50", "resnet50", {}, "ResNet", 2016, "He et al. 2016, Deep residual learning", "bottleneck blocks"),
    ("ResNet-152", "resnet152", {}, "ResNet", 2016, "He et al. 2016, Deep residual learning", "bottlenecks"),
    ("MobileNet v2", "mobilenet_v2", {}, "MobileNet", 2018, ("Sandler et al. 2018, MobileNetV2: inverted "
     "residuals and linear bottlenecks"), "depthwise separable convolutions"),
]


def _small_models() -> list[ZooEntry]:
    """The 32x32 models this app trains: the shipped food_cnn, and registered classic variants."""
    from dlviz import models
    from dlviz.checkpoints import CHECKPOINT_DIR

    out = []
    card = CHECKPOINT_DIR / "food_cnn.json"
    if card.exists():
        cfg = json.loads(card.read_text())["config"]
        out.append(ZooEntry("food_cnn (SmallCNN)", functools.partial(models.build_model, "small_cnn", cfg),
                            (cfg["in_channels"], cfg["image_size"], cfg["image_size"]), "app", 2026,
                            "this app's shipped food-shapes classifier", "shipped checkpoint food_cnn"))
    for name, cls in sorted(models.all_models().items()):
        if cls.__module__ != "dlviz.models.classic":
            continue
        cfg = cls.Config()
        c = getattr(cfg, "in_channels", 3)
        s = getattr(cfg, "image_size", 32)
        mod_doc = (__import__(cls.__module__, fromlist=["_"]).__doc__ or "").splitlines()
        doc = next((ln.split("--", 1)[1].split(":")[0].replace("*", "").strip() for ln in mod_doc if f"``{name}``" in ln and "--" in ln),
                   "a small variant trained in the Classifier page")
        out.append(ZooEntry(f"{name} (32x32)", functools.partial(models.build_model, name), (c, s, s), "app",
                            2026, doc, "small variant trained in the Classifier page"))
    return out


@functools.lru_cache(maxsize=1)
def zoo() -> dict[str, ZooEntry]:
    """Every model the Architectures page can show, by display name (LeNet-5 first)."""
    entries = [ZooEntry("LeNet-5", LeNet5, (1, 32, 32), "LeNet", 1998,
                        "LeCun et al. 1998, Gradient-based learning applied to document recognition",
                        "written here: full C3 connections, average pools, linear output")]
    entries += [ZooEntry(n, _tv(fn, **kw), (3, 299, 299) if fn == "inception_v3" else (3, 224, 224), fam, yr, p, note)
                for n, fn, kw, fam, yr, p, note in _TORCHVISION]
    try:
        entries += _small_models()
    except Exception as e:  # noqa: BLE001 - a broken optional model must not take the page down
        warnings.warn(f"the app's small models are missing from the zoo: {e}", stacklevel=2)
    return {e.name: e for e in entries}


def build(name: str, device: str = "meta") -> nn.Module:
    """Build a zoo model without weights, in eval mode. On ``meta`` no memory is allocated at all."""
    if name not in zoo():
        raise ArchitectureError(f"Unknown architecture {name!r}; choose one of {', '.join(zoo())}.")
    with torch.device(device):
        model = zoo()[name].build()
    return model.eval()


# ---------------------------------------------------------------------------------------------- analysis
@dataclass
class LayerRow:
    index: int              # execution order (a module called twice gives two rows)
    name: str               # dotted module path, e.g. "layer1.0.conv1"; "(call 2)" on a repeated call
    kind: str               # class name, e.g. "Conv2d"
    stage: str              # top-level child the layer belongs to, e.g. "layer1"
    detail: str             # kernel / stride / channels in words
    output_shape: tuple     # per image, e.g. (64, 56, 56)
    params: int             # this module's own parameters (0 on a repeated call)
    macs: int               # multiply-accumulates for one image
    rf: int | None = None   # receptive field side (input pixels) of one unit of this layer's output
    jump: int | None = None  # input pixels between neighbouring units (effective stride); 0 = global


@dataclass
class Analysis:
    name: str
    input_size: tuple[int, int, int]
    rows: list[LayerRow]
    total_params: int       # sum(p.numel()) over the whole model
    trainable_params: int
    unused_params: int      # parameters of modules the forward pass never called
    total_macs: int
    depth: int              # longest chain of conv/linear layers
    output_shape: tuple
    rf: int | None = None   # receptive field of the last spatial (not yet pooled) layer
    rf_layer: str = ""
    notes: list[str] = field(default_factory=list)
    rf_row: object | None = None    # that layer's RFRow (dlviz.receptive_fields.core): regions of any unit

    @property
    def flops(self) -> int:
        return 2 * self.total_macs


def conv_macs(c_in: int, c_out: int, k: tuple[int, ...], out_spatial: tuple[int, ...], groups: int = 1) -> int:
    """Multiply-adds of one convolution: ``C_in/groups * prod(k) * C_out * prod(out_spatial)``."""
    return (c_in // groups) * math.prod(k) * c_out * math.prod(out_spatial)


def _detail(m: nn.Module) -> str:
    if isinstance(m, nn.modules.conv._ConvNd):
        k = "x".join(map(str, m.kernel_size))
        s = f"{m.in_channels}->{m.out_channels}, {k}"
        if any(v != 1 for v in m.stride):
            s += f", stride {m.stride[0]}"
        if m.groups > 1:
            s += ", depthwise" if m.groups == m.in_channels else f", groups {m.groups}"
        return s
    if isinstance(m, nn.Linear):
        return f"{m.in_features}->{m.out_features}"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        return f"{m.kernel_size}, stride {m.stride}"
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return f"to {m.output_size}"
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return f"{m.num_features} channels"
    if isinstance(m, nn.Dropout):
        return f"p={m.p}"
    return ""


def _macs(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """MACs for one image (batch dimension 1)."""
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        return inp[0].numel() * (m.out_channels // m.groups) * math.prod(m.kernel_size)
    if isinstance(m, nn.modules.conv._ConvNd):
        return conv_macs(m.in_channels, m.out_channels, m.kernel_size, tuple(out.shape[2:]), m.groups)
    if isinstance(m, nn.Linear):
        return out[0].numel() * m.in_features
    return 0


def weight_depth(output: torch.Tensor) -> int:
    """Longest chain of convolution / linear nodes in ``output``'s autograd graph."""
    order, visited, stack = [], set(), [(output.grad_fn, False)]
    while stack:                       # iterative post-order DFS over the (acyclic) graph
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        stack.extend((n, False) for n, _ in node.next_functions if n is not None and n not in visited)
    value: dict = {}
    for node in order:                 # children come before parents in post-order
        below = [value.get(n, 0) for n, _ in node.next_functions if n is not None]
        own = 1 if type(node).__name__.startswith(_WEIGHT_NODES) else 0
        value[node] = own + max(below, default=0)
    return value.get(output.grad_fn, 0)


@contextlib.contextmanager
def _shape_only_norms(model: nn.Module, device: torch.device):
    """On ``meta``, let BatchNorm return its input: same shape, and 5x faster (meta runs the Python
    decomposition of every elementwise op). Parameters, hooks and MACs (0 for a norm) are unchanged."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] \
        if device.type == "meta" else []
    for m in norms:
        m.forward = _identity
    try:
        yield
    finally:
        for m in norms:
            del m.forward


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def analyse_model(model: nn.Module, input_size: tuple[int, int, int], name: str = "") -> Analysis:
    """The per-layer table and totals of ``model`` for one image of ``input_size`` ``(C, H, W)``.

    Runs one forward pass on the model's device (use ``meta`` for big models: shapes without compute).
    """
    model = model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    names = {m: n for n, m in model.named_modules()}
    rows: list[LayerRow] = []
    calls: dict[nn.Module, int] = {}

    def hook(m: nn.Module, inp: tuple, out) -> None:
        out_t = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(out_t, torch.Tensor):
            return
        n = names[m]
        calls[m] = calls.get(m, 0) + 1
        first = calls[m] == 1
        in_t = inp[0] if inp and isinstance(inp[0], torch.Tensor) else out_t
        rows.append(LayerRow(
            index=len(rows), name=n if first else f"{n} (call {calls[m]})", kind=type(m).__name__,
            stage=n.split(".")[0], detail=_detail(m), output_shape=tuple(out_t.shape[1:]),
            params=sum(p.numel() for p in m.parameters(recurse=False)) if first else 0,
            macs=_macs(m, in_t, out_t)))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not list(m.children()) or any(True for _ in m.parameters(recurse=False))]
    try:
        x = torch.zeros(1, *input_size, device=device)
        with torch.enable_grad(), _shape_only_norms(model, device):
            y = model(x)
    except RuntimeError as e:
        raise ArchitectureError(f"{name or type(model).__name__} cannot take a {'x'.join(map(str, input_size))} "
                                f"input: {str(e).splitlines()[0]}") from None
    finally:
        for h in handles:
            h.remove()
    y = y[0] if isinstance(y, (tuple, list)) else y
    total = sum(p.numel() for p in model.parameters())
    counted = sum(r.params for r in rows)
    notes = []
    if counted != total:
        notes.append(f"{total - counted:,} parameters belong to modules this forward pass never calls.")
    return Analysis(name=name, input_size=tuple(input_size), rows=rows, total_params=total,
                    trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
                    unused_params=total - counted, total_macs=sum(r.macs for r in rows),
                    depth=weight_depth(y) if y.grad_fn is not None else 0, output_shape=tuple(y.shape[1:]),
                    notes=notes)


@functools.lru_cache(maxsize=64)
def analyse(name: str, image_size: int | None = None) -> Analysis:
    """Analysis of a zoo model by name (cached), at its design resolution or ``image_size`` square."""
    entry = zoo().get(name)
    if entry is None:
        raise ArchitectureError(f"Unknown architecture {name!r}; choose one of {', '.join(zoo())}.")
    c, h, w = entry.input_size
    size = (c, image_size, image_size) if image_size else (c, h, w)
    a = analyse_model(build(name), size, name)
    _add_receptive_fields(name, a, image_size)
    return a


def _add_receptive_fields(name: str, a: Analysis, image_size: int | None) -> None:
    """Fill ``rf`` / ``jump`` from :func:`dlviz.receptive_fields.core.receptive_field` (one traced pass on meta)."""
    try:
        from dlviz.receptive_fields.core import receptive_field

        rf_rows = receptive_field(build(name), a.input_size)
    except Exception as e:  # noqa: BLE001 - the table stays useful without this column
        a.notes.append(f"Receptive fields unavailable for this model: {e}")
        return
    by_name = {r.name: r for r in rf_rows}
    for row in a.rows:
        base, _, call = row.name.partition(" (call ")
        r = by_name.get(f"{base}#{call.rstrip(')')}" if call else base)
        if r is not None:
            row.rf, row.jump = _num(r.rf_size), _num(max(r.jump))
    spatial = [r for r in rf_rows if not r.is_global and len(r.out_shape) == 3]
    if spatial:
        a.rf = _num(spatial[-1].rf_size)
        a.rf_layer = spatial[-1].name
        a.rf_row = spatial[-1]


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else round(float(v), 2)


def stage_totals(a: Analysis) -> list[dict]:
    """Parameters and MACs summed per top-level stage, in execution order."""
    out: dict[str, dict] = {}
    for r in a.rows:
        s = out.setdefault(r.stage, {"stage": r.stage, "params": 0, "macs": 0, "layers": 0,
                                     "output_shape": r.output_shape})
        s["params"] += r.params
        s["macs"] += r.macs
        s["layers"] += 1
        s["output_shape"] = r.output_shape
    return list(out.values())


def compare(names: list[str]) -> list[dict]:
    """One summary row per architecture: depth, parameters, MACs, receptive field, year."""
    rows = []
    for n in names:
        a = analyse(n)
        e = zoo()[n]
        rows.append({"name": n, "family": e.family, "year": e.year, "input": "x".join(map(str, a.input_size)),
                     "depth": a.depth, "params": a.total_params, "macs": a.total_macs, "rf": a.rf,
                     "layers": len(a.rows)})
    return rows


def independent_counts(name: str, image_size: int | None = None) -> tuple[int, int]:
    """``(sum(p.numel()), MACs)`` of a zoo model counted without hooks: PyTorch's own ``FlopCounterMode``
    (aten-level) / 2, the check of :func:`analyse`'s per-layer sums."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build(name)
    c, h, w = zoo()[name].input_size
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, c, image_size or h, image_size or w, device="meta"))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def human(n: float, unit: str = "") -> str:
    """``11689512 -> '11.7 M'``."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g} {suffix}{unit}"
    return f"{n:.0f} {unit}".strip()
