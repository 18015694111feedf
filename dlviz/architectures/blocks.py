"""The building blocks of classic CNNs as graphs with shapes: the Inception module (Szegedy et al., 2015),
the residual block (He et al., 2016) and the bottleneck / inverted residual (Sandler et al., 2018).

:func:`block_graph` traces one block of a real model with ``torch.fx`` (so a skip connection or a
concatenation is read from the code, not drawn by hand), propagates the block's real input shape through
it on the ``meta`` device, merges each convolution with the BatchNorm and activation that follow it into
one box, and lays the boxes out top to bottom: parallel branches side by side, merges below them.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from dlviz.architectures.core import ArchitectureError, _detail, analyse_model, build, zoo

BLOCK_TYPES = ("Inception", "BasicBlock", "Bottleneck", "InvertedResidual")
_NORM_ACT = (nn.modules.batchnorm._BatchNorm, nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU,
             nn.Tanh, nn.Sigmoid, nn.Hardswish, nn.Identity)
_FUNCS = {operator.add: "⊕ add", operator.iadd: "⊕ add", torch.add: "⊕ add", torch.cat: "concat",
          torch.relu: "ReLU", torch.nn.functional.relu: "ReLU", torch.flatten: "flatten",
          torch.nn.functional.avg_pool2d: "avg pool", torch.nn.functional.max_pool2d: "max pool"}


@dataclass
class BlockNode:
    id: str
    label: str                 # "3x3 conv, 96->128 + BN + ReLU"
    kind: str                  # input | conv | pool | merge | other | output
    shape: tuple               # output shape per image (C, H, W)
    params: int = 0
    macs: int = 0
    modules: list[str] = field(default_factory=list)   # module paths inside the block
    kernel: tuple = ()         # (kh, kw) of the box's convolution; () if it has none
    groups: int = 1
    rank: int = 0              # row, from the top
    x: float = 0.0             # column


@dataclass
class BlockGraph:
    model: str
    block: str
    kind: str                  # class name of the block
    nodes: list[BlockNode]
    edges: list[tuple[str, str]]
    input_shape: tuple
    output_shape: tuple
    params: int
    macs: int
    routes: dict = field(default_factory=dict)   # (parent, child) -> [(x, rank), ...] for edges skipping rows

    def node(self, id_: str) -> BlockNode:
        return next(n for n in self.nodes if n.id == id_)


def _is_unit(m: nn.Module) -> bool:
    """A conv-norm-activation unit (torchvision's BasicConv2d / Conv2dNormActivation, a Sequential of them)."""
    kids = list(m.modules())[1:]
    convs = [k for k in kids if isinstance(k, nn.Conv2d)]
    return bool(kids) and len(convs) == 1 and all(isinstance(k, (nn.Conv2d, *_NORM_ACT)) for k in kids)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return super().is_leaf_module(m, qualname) or _is_unit(m)


def find_blocks(model: nn.Module) -> list[str]:
    """Dotted names of the Inception modules / residual blocks in ``model``, in definition order."""
    return [n for n, m in model.named_modules()
            if n and any(t in type(m).__name__ for t in BLOCK_TYPES) and "Aux" not in type(m).__name__]


def _unit_steps(m: nn.Module) -> list[str]:
    """What follows the convolution inside a unit, read from its traced code (BasicConv2d calls F.relu)."""
    if isinstance(m, nn.Conv2d):
        return []
    steps = []
    try:
        g = fx.symbolic_trace(m).graph
    except Exception:  # noqa: BLE001 - untraceable unit: fall back to its modules
        mods = [k for k in m.modules() if isinstance(k, _NORM_ACT) and not isinstance(k, nn.Identity)]
        return ["BN" if isinstance(k, nn.modules.batchnorm._BatchNorm) else type(k).__name__ for k in mods]
    sub = dict(m.named_modules())
    for n in g.nodes:
        if n.op == "call_module" and isinstance(sub[n.target], _NORM_ACT) and not isinstance(sub[n.target], nn.Identity):
            k = sub[n.target]
            steps.append("BN" if isinstance(k, nn.modules.batchnorm._BatchNorm) else type(k).__name__)
        elif n.op == "call_function" and _FUNCS.get(n.target) == "ReLU":
            steps.append("ReLU")
    return steps


def _label(m: nn.Module) -> tuple[str, str]:
    conv = m if isinstance(m, nn.Conv2d) else next((k for k in m.modules() if isinstance(k, nn.Conv2d)), None)
    if conv is not None:
        k = "x".join(map(str, conv.kernel_size)) if conv.kernel_size[0] != conv.kernel_size[1] else \
            f"{conv.kernel_size[0]}x{conv.kernel_size[0]}"
        s = f"{k} conv, {conv.in_channels}→{conv.out_channels}"
        if conv.stride[0] > 1:
            s += f", stride {conv.stride[0]}"
        if conv.groups > 1:
            s += " (depthwise)" if conv.groups == conv.in_channels else f" ({conv.groups} groups)"
        return s + "".join(f" + {e}" for e in _unit_steps(m)), "conv"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        kind = "max" if isinstance(m, nn.MaxPool2d) else "avg"
        return f"{m.kernel_size}x{m.kernel_size} {kind} pool, stride {m.stride}", "pool"
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return "BN", "other"
    return (type(m).__name__ + (f" ({_detail(m)})" if _detail(m) else "")), "other"


@functools.lru_cache(maxsize=16)
def block_inputs(model_name: str, image_size: int | None = None) -> dict[str, tuple]:
    """Input shape (per image) of every block of a zoo model, from one forward pass on ``meta``."""
    model = build(model_name)
    mods = dict(model.named_modules())
    seen: dict[str, tuple] = {}

    def grab(name: str):
        def hook(m: nn.Module, inp: tuple) -> None:     # a pre-hook must return None (else it replaces the input)
            seen.setdefault(name, tuple(inp[0].shape[1:]))
        return hook

    handles = [mods[b].register_forward_pre_hook(grab(b)) for b in find_blocks(model)]
    c, h, w = zoo()[model_name].input_size
    try:
        model(torch.zeros(1, c, image_size or h, image_size or w, device="meta"))
    finally:
        for hd in handles:
            hd.remove()
    return seen


@functools.lru_cache(maxsize=64)
def block_graph(model_name: str, block: str, image_size: int | None = None) -> BlockGraph:
    """The graph of block ``block`` (a dotted module path) of zoo model ``model_name``, with shapes."""
    shapes = block_inputs(model_name, image_size)
    if block not in shapes:
        raise ArchitectureError(f"{model_name} has no block {block!r}; its blocks: {', '.join(shapes)}")
    blk = dict(build(model_name).named_modules())[block]
    in_shape = shapes[block]
    gm = fx.GraphModule(blk, _Tracer().trace(blk))
    ShapeProp(gm).propagate(torch.empty(1, *in_shape, device="meta"))
    sub = dict(blk.named_modules())
    rows = analyse_model(blk, in_shape).rows

    def cost(path: str) -> tuple[int, int]:
        rs = [r for r in rows if r.name == path or r.name.startswith(path + ".")]
        return sum(r.params for r in rs), sum(r.macs for r in rs)

    nodes: dict[str, BlockNode] = {}
    parents: dict[str, list[str]] = {}
    alias: dict[str, str] = {}                 # fx node name -> the box it was merged into
    for n in gm.graph.nodes:
        ins = [alias.get(a.name, a.name) for a in n.all_input_nodes]
        tm = n.meta.get("tensor_meta")
        shape = tuple(tm.shape[1:]) if tm is not None and hasattr(tm, "shape") else ()
        if n.op == "placeholder":
            nodes[n.name] = BlockNode(n.name, "input", "input", shape)
        elif n.op == "output":
            nodes["output"] = BlockNode("output", "output", "output", shape)
            parents["output"] = ins
            continue
        elif n.op == "call_module":
            m = sub[n.target]
            label, kind = _label(m)
            p, mac = cost(n.target)
            merge_into = ins[0] if len(ins) == 1 and len(n.all_input_nodes[0].users) == 1 else None
            if isinstance(m, _NORM_ACT) and merge_into in nodes and nodes[merge_into].kind in ("conv", "merge"):
                box = nodes[merge_into]           # fold BN / activation into the box that produced its input
                short = "BN" if isinstance(m, nn.modules.batchnorm._BatchNorm) else type(m).__name__
                box.label += f" + {short}" if box.kind == "conv" else f", then {short}"
                box.shape, box.params, box.macs = shape, box.params + p, box.macs + mac
                box.modules.append(n.target)
                alias[n.name] = merge_into
                continue
            conv = m if isinstance(m, nn.Conv2d) else next((k for k in m.modules() if isinstance(k, nn.Conv2d)), None)
            nodes[n.name] = BlockNode(n.name, label, kind, shape, p, mac, [n.target],
                                      tuple(conv.kernel_size) if conv is not None else (),
                                      conv.groups if conv is not None else 1)
        elif n.op in ("call_function", "call_method"):
            label = _FUNCS.get(n.target, str(getattr(n.target, "__name__", n.target)))
            if (label == "ReLU" and len(ins) == 1 and len(n.all_input_nodes[0].users) == 1 and ins[0] in nodes
                    and nodes[ins[0]].kind in ("conv", "merge")):
                nodes[ins[0]].label += " + ReLU" if nodes[ins[0]].kind == "conv" else ", then ReLU"
                alias[n.name] = ins[0]
                continue
            if label.endswith(" pool"):
                k = n.kwargs.get("kernel_size", n.args[1] if len(n.args) > 1 else "?")
                st = n.kwargs.get("stride", n.args[2] if len(n.args) > 2 else k)
                label = f"{k}x{k} {label}, stride {st}"
                kind = "pool"
            else:
                kind = "merge" if label in ("⊕ add", "concat") else "other"
            nodes[n.name] = BlockNode(n.name, label, kind, shape)
        else:                                   # get_attr: a constant, not a step of the block
            continue
        parents[n.name] = ins
    edges = [(p, c) for c, ps in parents.items() for p in ps if p in nodes]
    routes = _layout(nodes, parents)
    return BlockGraph(model_name, block, type(blk).__name__, list(nodes.values()), edges, in_shape,
                      nodes["output"].shape, sum(p.numel() for p in blk.parameters()), sum(r.macs for r in rows),
                      routes)


def _layout(nodes: dict[str, BlockNode], parents: dict[str, list[str]]) -> dict[tuple[str, str], list]:
    """Place the boxes; return the waypoints ``[(x, rank), ...]`` of every edge that skips rows.

    Rank = longest path from the input. Row by row: a split spreads its single-parent children over
    lanes, a merge sits at the mean of its incoming lanes, and an edge that skips rows gets a waypoint
    in each row it crosses (as in Sugiyama's layered drawing); boxes and waypoints in a row are then
    pushed apart so that no line runs through a box.
    """
    children: dict[str, list[str]] = {k: [] for k in nodes}
    for c, ps in parents.items():
        for p in ps:
            if p in children:
                children[p].append(c)
    for name, n in nodes.items():              # fx order is topological
        n.rank = 1 + max((nodes[p].rank for p in parents.get(name, []) if p in nodes), default=-1)
    routes: dict[tuple[str, str], list[list[float]]] = {}
    for r in range(max(n.rank for n in nodes.values()) + 1):
        row: list[tuple[float, int, object]] = []          # (x, is_waypoint, item)
        for name, n in nodes.items():
            if n.rank != r:
                continue
            ps = [p for p in parents.get(name, []) if p in nodes]
            ends = [routes[(p, name)][-1][0] if (p, name) in routes else nodes[p].x for p in ps]
            if len(ps) > 1:
                n.x = sum(ends) / len(ends)
            elif ps:
                sibs = [c for c in children[ps[0]] if len([q for q in parents.get(c, []) if q in nodes]) == 1
                        and nodes[c].rank == r]
                i = sibs.index(name) if name in sibs else 0
                n.x = ends[0] + (i - (len(sibs) - 1) / 2)
            row.append((n.x, 0, n))
        for c, ps in parents.items():              # edges crossing this row
            for p in ps:
                if p in nodes and c in nodes and nodes[p].rank < r < nodes[c].rank:
                    way = routes.setdefault((p, c), [])
                    x0 = way[-1][0] if way else nodes[p].x
                    way.append([x0, r])
                    row.append((x0, 1, way[-1]))
        row.sort(key=lambda t: (t[0], t[1]))
        if not row:
            continue
        mean = sum(t[0] for t in row) / len(row)
        xs = [t[0] for t in row]
        for i in range(1, len(row)):
            gap = 1.0 if not (row[i - 1][1] or row[i][1]) else (0.3 if row[i - 1][1] and row[i][1] else 0.75)
            xs[i] = max(xs[i], xs[i - 1] + gap)
        shift = mean - sum(xs) / len(xs)
        for (_x, is_way, item), new in zip(row, xs):
            if is_way:
                item[0] = new + shift
            else:
                item.x = new + shift
    return {k: [tuple(w) for w in v] for k, v in routes.items()}


def reduction_savings(g: BlockGraph) -> tuple[int, int] | None:
    """Inception's 1x1 "reduce" layers: ``(MACs of reduce + k x k conv, MACs of the k x k conv applied
    straight to the block input)``, summed over the branches that have one; None if there are none."""
    parents: dict[str, list[str]] = {}
    for p, c in g.edges:
        parents.setdefault(c, []).append(p)
    inp = next(n for n in g.nodes if n.kind == "input")
    actual = naive = 0
    for p, c in g.edges:
        red, big = g.node(p), g.node(c)
        if (red.kind == "conv" and red.kernel == (1, 1) and parents.get(p) == [inp.id] and big.kind == "conv"
                and big.kernel not in ((), (1, 1)) and big.groups == 1 and len(big.shape) == 3):
            kh, kw = big.kernel
            actual += red.macs + big.macs
            naive += inp.shape[0] * kh * kw * big.shape[0] * big.shape[1] * big.shape[2]
    return (actual, naive) if naive else None


def shortcut_summary(g: BlockGraph) -> str:
    """One sentence about the block's shortcut (identity or projection), or "" when it has none."""
    from dlviz.architectures.core import human

    shape = "×".join(map(str, g.output_shape))
    for add in (n for n in g.nodes if n.label.startswith("⊕ add")):
        ps = [g.node(p) for p, c in g.edges if c == add.id]
        if any(p.kind == "input" for p in ps):
            return (f"**Identity shortcut**: the input is added unchanged to F(x) (0 parameters), so F(x) must "
                    f"keep the shape {shape}; the block only has to learn the *residual* F(x) = H(x) − x.")
        proj = [p for p in ps if p.kind == "conv" and p.kernel == (1, 1)]
        if proj:
            in_shape = "×".join(map(str, g.input_shape))
            return (f"**Projection shortcut**: the shapes differ ({in_shape} → {shape}), so a strided 1×1 "
                    f"convolution maps x to the new shape ({proj[0].params:,} parameters, "
                    f"{human(proj[0].macs)} MACs) before the add.")
    return ""
