"""The tracer behind :func:`dlviz.receptive_fields.core.receptive_field`.

It runs a model once (on a ``meta`` tensor: shapes only) under a ``TorchDispatchMode`` that sees every
aten operation, and tags each output tensor with the receptive-field state of its H and W axes
(size, jump, start -- Araujo et al., 2019). Convolutions and pools apply
``r' = r + (k - 1) d j``, ``j' = j s``, ``start' = start - p j``; paths that meet (add, cat, mul) take
the union of their regions; ops that mix all positions (flatten, a dense layer, a global pool) make
every unit see the union of all units' regions.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

ATTR = "_dlviz_rf"


# ---------------------------------------------------------------------------------------- one axis
@dataclass(frozen=True)
class Axis:
    """Receptive-field state along one spatial axis of a tensor.

    Unit ``u`` sees input pixels ``[start + u * jump, start + u * jump + rf - 1]``. ``jump == 0``
    means every unit sees the same region (after a global pool, a flatten, a dense layer).
    """

    rf: float
    jump: float
    start: float

    def conv(self, k: int, s: int, p: int, d: int) -> Axis:
        return Axis(self.rf + (k - 1) * d * self.jump, self.jump * s, self.start - p * self.jump)

    def union(self, n: int) -> Axis:
        """Every one of ``n`` units pooled into one (global pool, flatten + dense)."""
        return Axis(self.rf + (n - 1) * self.jump, 0.0, self.start)


@dataclass(frozen=True)
class Info:
    axes: tuple[Axis, Axis]
    merged: bool = False
    approx: bool = False
    notes: tuple[str, ...] = ()     # approximations made upstream
    dims: tuple[int, int] = (-2, -1)  # where the H and W axes are (moved by permute / transpose)
    merge_note: str = ""              # the latest merge, and the op count when it happened
    merge_at: int = -1

    @property
    def is_global(self) -> bool:
        return all(a.jump == 0 for a in self.axes)

    def with_axes(self, axes, note: str | None = None, approx: bool = False) -> Info:
        notes = self.notes + ((note,) if note and note not in self.notes else ())
        return replace(self, axes=tuple(axes), approx=self.approx or approx, notes=notes)


def _merge(infos: list[Info], sizes: list[tuple[int, int]], at: int) -> Info:
    """Union of the regions of several paths that meet in one op (add, cat, mul)."""
    if len(infos) == 1:
        return infos[0]
    merged = any(i.merged for i in infos)
    approx = any(i.approx for i in infos)
    notes = tuple(dict.fromkeys(n for i in infos for n in i.notes))
    distinct = len({i.axes for i in infos}) > 1
    axes = []
    for ax in range(2):
        cands = [(i.axes[ax], s[ax]) for i, s in zip(infos, sizes)]
        jumps = {a.jump for a, _ in cands}
        if len(jumps) == 1:
            lo = min(a.start for a, _ in cands)
            hi = max(a.start + a.rf - 1 for a, _ in cands)
            axes.append(Axis(hi - lo + 1, cands[0][0].jump, lo))
        else:   # a broadcast global path (squeeze-excitation) or mismatched grids: pool everything
            pooled = [a.union(n) if a.jump else a for a, n in cands]
            lo = min(a.start for a in pooled)
            hi = max(a.start + a.rf - 1 for a in pooled)
            axes.append(Axis(hi - lo + 1, 0.0, lo))
    base = max(infos, key=lambda i: i.merge_at)
    out = Info(tuple(axes), merged, approx, notes, infos[0].dims, base.merge_note, base.merge_at)
    if distinct:
        rfs = sorted({int(i.axes[0].rf) for i in infos}, reverse=True)
        rf_txt = " vs ".join(str(r) for r in rfs) if len(rfs) <= 4 else f"{rfs[0]} ... {rfs[-1]}"
        how = (f"{len(infos)} paths merged (rf {rf_txt}): the union of their regions is taken, "
               "i.e. the largest path's field")
        if any(a.jump == 0 for a in axes) and not all(i.is_global for i in infos):
            how = (f"{len(infos)} paths merged, one of them global (e.g. squeeze-excitation): every unit "
                   "now sees the whole input")
        out = replace(out, merged=True, merge_note=how, merge_at=at)
    return out


# ------------------------------------------------------------------------------------- the tracer
def spatial(t: torch.Tensor, dims: tuple[int, int] = (-2, -1)) -> tuple[int, int] | None:
    if t.ndim < max(3, -min(dims)):
        return None
    return (int(t.shape[dims[0]]), int(t.shape[dims[1]]))


def _pair(v, default: int) -> tuple[int, int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return (default, default)
    if isinstance(v, int):
        return (v, v)
    v = [int(a) for a in v]
    return (v[0], v[0]) if len(v) == 1 else (v[-2], v[-1])


def _infos(args) -> list[tuple[Info, tuple[int, int] | None]]:
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            info = getattr(a, ATTR, None)
            if info is not None:
                out.append((info, spatial(a, info.dims)))
        elif isinstance(a, (list, tuple)):
            out.extend(_infos(a))
    return out


_CONV = {"convolution", "_convolution", "convolution_overrideable", "mkldnn_convolution"}
_POOL = {"max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "mkldnn_max_pool2d"}
_ADAPTIVE = {"_adaptive_avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"}
_PAD = {"constant_pad_nd", "reflection_pad2d", "replication_pad2d"}
_BATCHNORM = {"native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit"}
_UPSAMPLE = {"upsample_nearest2d", "upsample_bilinear2d", "_upsample_nearest_exact2d", "upsample_bicubic2d"}


class _Tracer(TorchDispatchMode):
    """Follows every aten op and tags each output tensor with its receptive-field state."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        if name in _BATCHNORM and args[0].device.type == "meta":
            # shapes only: skip the (slow, python) meta decomposition of batch norm
            x = args[0]
            c = x.shape[1] if x.ndim > 1 else 0
            out = (torch.empty_like(x), x.new_empty(c), x.new_empty(c))
        else:
            out = func(*args, **kwargs)
        self.count += 1
        ins = _infos(list(args) + list(kwargs.values()))
        if not ins:
            return out
        first = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(first, torch.Tensor):
            return out
        info = self._propagate(name, args, ins, first)
        with contextlib.suppress(AttributeError, RuntimeError):
            setattr(first, ATTR, info)
        return out

    def _propagate(self, name: str, args, ins, out: torch.Tensor) -> Info:
        x_info, x_size = ins[0]
        nchw = x_info.dims == (-2, -1)
        out_size = spatial(out)
        if name in _CONV and len(args) >= 7 and args[1].ndim == 4 and nchw:
            k = (int(args[1].shape[-2]), int(args[1].shape[-1]))
            s, p, d = _pair(args[3], 1), _pair(args[4], 0), _pair(args[5], 1)
            if bool(args[6]):
                return self._transposed(x_info, k, s, p, d)
            return x_info.with_axes(a.conv(k[i], s[i], p[i], d[i]) for i, a in enumerate(x_info.axes))
        if name in _POOL and nchw:
            k = _pair(args[1], 1)
            s = _pair(args[2] if len(args) > 2 else None, 0)
            s = (s[0] or k[0], s[1] or k[1])
            p = _pair(args[3] if len(args) > 3 else 0, 0)
            d = _pair(args[4], 1) if name.startswith(("max", "mkldnn")) and len(args) > 4 else (1, 1)
            return x_info.with_axes(a.conv(k[i], s[i], p[i], d[i]) for i, a in enumerate(x_info.axes))
        if name in _ADAPTIVE and x_size and nchw:
            return self._adaptive(x_info, x_size, out_size)
        if name in _PAD and x_size and nchw:
            pad = [int(v) for v in args[1]] + [0, 0, 0, 0]
            ax = (x_info.axes[0].conv(1, 1, pad[2], 1), x_info.axes[1].conv(1, 1, pad[0], 1))
            note = None if name == "constant_pad_nd" else f"{name[:-5]} padding treated as zero padding"
            return x_info.with_axes(ax, note, approx=bool(note))
        if name in _UPSAMPLE and x_size and out_size and nchw:
            return self._upsample(name, x_info, x_size, out_size)
        if name == "permute" and len(ins) == 1:
            perm = [int(v) % out.ndim for v in args[1]]
            new = tuple(perm.index(d % out.ndim) - out.ndim for d in x_info.dims)
            return replace(x_info, dims=new)    # type: ignore[arg-type]
        if name == "transpose" and len(ins) == 1 and len(args) >= 3:
            a, b = int(args[1]) % out.ndim - out.ndim, int(args[2]) % out.ndim - out.ndim
            swap = {a: b, b: a}
            return replace(x_info, dims=tuple(swap.get(d, d) for d in x_info.dims))  # type: ignore[arg-type]
        if name == "slice" and x_size and len(ins) == 1:
            dim = int(args[1]) if len(args) > 1 else 0
            dim = dim % args[0].ndim - args[0].ndim
            if dim in x_info.dims:
                axis = x_info.dims.index(dim)
                n = x_size[axis]
                start = int(args[2]) if len(args) > 2 and args[2] is not None else 0
                start = max(0, start + n) if start < 0 else min(start, n)
                step = int(args[4]) if len(args) > 4 else 1
                ax = list(x_info.axes)
                a = ax[axis]
                ax[axis] = Axis(a.rf, a.jump * step, a.start + start * a.jump)
                return x_info.with_axes(ax)
            return x_info
        if name == "cat" and len(ins) > 1:
            dim = int(args[1]) if len(args) > 1 else 0
            dim = dim % out.ndim - out.ndim
            if dim in x_info.dims:
                return self._spatial_cat(ins, x_info.dims.index(dim))
        return self._generic(ins, out)

    def _generic(self, ins, out: torch.Tensor) -> Info:
        """Pointwise ops keep the grid; several inputs merge; anything else that changes the spatial
        layout (flatten, view, mean over H and W, a dense layer) mixes every position: global."""
        sizes = [s for _, s in ins]
        info = _merge([i for i, _ in ins], [s or (1, 1) for s in sizes], self.count) if len(ins) > 1 \
            else ins[0][0]
        base = next((s for s in sizes if s is not None and s != (1, 1)), sizes[0])
        if base is not None and spatial(out, info.dims) == base:
            return info
        if info.is_global:
            return info
        n = base or (1, 1)
        return info.with_axes((info.axes[0].union(n[0]), info.axes[1].union(n[1])))

    @staticmethod
    def _adaptive(info: Info, x_size, out_size) -> Info:
        if out_size is None:
            return info.with_axes(a.union(n) for a, n in zip(info.axes, x_size))
        axes, approx = [], False
        for a, n, m in zip(info.axes, x_size, out_size):
            if m == 1:
                axes.append(a.union(n))
            elif n % m == 0:
                axes.append(a.conv(n // m, n // m, 0, 1))
            else:   # bins start at floor(i n / m) and end at ceil((i + 1) n / m): uneven
                kmax = max(math.ceil((i + 1) * n / m) - (i * n) // m for i in range(m))
                axes.append(Axis(a.rf + (kmax - 1) * a.jump, a.jump * n / m, a.start))
                approx = True
        note = "adaptive pooling with uneven bins: the largest bin is shown" if approx else None
        return info.with_axes(axes, note, approx)

    @staticmethod
    def _transposed(info: Info, k, s, p, d) -> Info:
        axes = []
        for i, a in enumerate(info.axes):
            span = d[i] * (k[i] - 1)
            n_in = span // s[i] + 1                      # input units one output unit can depend on
            axes.append(Axis(a.rf + (n_in - 1) * a.jump, a.jump / s[i],
                              a.start + (p[i] - span) / s[i] * a.jump))
        return info.with_axes(axes, "transposed convolution: approximate", approx=True)

    @staticmethod
    def _upsample(name, info: Info, x_size, out_size) -> Info:
        axes = []
        for a, n, m in zip(info.axes, x_size, out_size):
            extra = 0 if "nearest" in name else (1 if "bilinear" in name else 3)
            axes.append(Axis(a.rf + extra * a.jump, a.jump * n / m, a.start - (extra // 2) * a.jump))
        return info.with_axes(axes, f"{name}: approximate", approx=True)

    @staticmethod
    def _spatial_cat(ins, axis: int) -> Info:
        """Concatenation along H or W -- how circular padding is built (wrap | x | wrap). The widest
        piece is the original map; the pieces before it extend its grid like zero padding would."""
        infos = [i for i, _ in ins]
        sizes = [s[axis] if s else 1 for _, s in ins]
        main = max(range(len(ins)), key=lambda i: sizes[i])
        before = sum(sizes[:main])
        base = infos[main]
        ax = list(base.axes)
        a = ax[axis]
        ax[axis] = Axis(max(i.axes[axis].rf for i in infos), a.jump, a.start - before * a.jump)
        return base.with_axes(ax, "wrap-around (circular) padding treated as zero padding", approx=True)


class _PadMode(torch.overrides.TorchFunctionMode):
    """``F.pad`` with a wrap-around / mirror mode is built from slices copied into a new tensor, which
    the dispatch tracer cannot follow; seen from above, it is a padding like any other."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if getattr(func, "__name__", "") == "pad" and args and isinstance(out, torch.Tensor):
            info = getattr(args[0], ATTR, None)
            mode = kwargs.get("mode", args[2] if len(args) > 2 else "constant")
            if info is not None and info.dims == (-2, -1) and mode != "constant":
                pad = [int(v) for v in (kwargs.get("pad", args[1] if len(args) > 1 else ()))] + [0, 0, 0, 0]
                ax = (info.axes[0].conv(1, 1, pad[2], 1), info.axes[1].conv(1, 1, pad[0], 1))
                setattr(out, ATTR, info.with_axes(ax, f"{mode} padding treated as zero padding", approx=True))
        return out


def first_info(out) -> tuple[Info, torch.Tensor] | None:
    if isinstance(out, torch.Tensor):
        info = getattr(out, ATTR, None)
        return (info, out) if info is not None else None
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        for o in out:
            r = first_info(o)
            if r is not None:
                return r
    return None


def run_traced(model: nn.Module, x: torch.Tensor, params: dict | None) -> list[tuple]:
    """Run ``model`` once under the tracer; one ``(label, module, info, output, merged_inside)`` per call."""
    calls: list[tuple] = []
    names = {m: n for n, m in model.named_modules() if n}
    counts: dict[str, int] = {}
    starts: dict[nn.Module, list[int]] = {}
    tracer = _Tracer()

    def pre_hook(mod, _inp):
        starts.setdefault(mod, []).append(tracer.count)

    def hook(mod, inp, out):
        began = starts[mod].pop() if starts.get(mod) else 0
        if isinstance(mod, nn.Linear) and inp and isinstance(out, torch.Tensor):
            # a dense layer applied at every position ((B, H, W, C) in ConvNeXt) is pointwise in space
            src = getattr(inp[0], ATTR, None)
            if src is not None and -1 not in src.dims and spatial(out, src.dims) == spatial(inp[0], src.dims):
                setattr(out, ATTR, src)
        got = first_info(out)
        if got is None:
            return
        name = names[mod]
        counts[name] = counts.get(name, 0) + 1
        label = name if counts[name] == 1 else f"{name}#{counts[name]}"
        calls.append((label, mod, got[0], got[1], got[0].merge_at >= began))

    handles = [m.register_forward_pre_hook(pre_hook) for m in names]
    handles += [m.register_forward_hook(hook) for m in names]
    try:
        with torch.no_grad(), tracer, _PadMode():
            if params is None:
                model(x)
            else:
                torch.func.functional_call(model, params, (x,), strict=False)
    finally:
        for h in handles:
            h.remove()
    return calls


