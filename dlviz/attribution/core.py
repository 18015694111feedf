"""Attribution: which input pixels made a classifier say what it said -- and do the maps really depend
on the model? All methods come from captum (Kokhlikyan et al. 2020), imported lazily:

* **Saliency** -- Simonyan et al. (2014): ``|d logit_t / d x|``.
* **Integrated Gradients** -- Sundararajan et al. (2017): ``(x - x') * integral_0^1 grad f(x' + a (x - x')) da``.
  *Completeness*: the attributions sum to ``f(x) - f(x')``; :func:`ig_completeness` measures the gap.
* **SmoothGrad** -- Smilkov et al. (2017): the saliency averaged over noisy copies of the input.
* **Grad-CAM** -- Selvaraju et al. (2017): ``ReLU(sum_k alpha_k A^k)`` on the last convolutional maps, with
  ``alpha_k`` the spatially averaged gradient; upsampled to the image.
* **Occlusion** -- Zeiler & Fergus (2014): the drop of the logit when a patch is replaced by a baseline.

The **sanity check** of Adebayo et al. (2018, *Sanity checks for saliency maps*): re-initialise the model's
layers one at a time from the output down ("cascading randomisation") and compare each method's map with
the original by Spearman rank correlation. A map that explains the *model* must change when the model is
destroyed; one that stays similar is mostly showing the input (edges), whatever the weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


METHODS = ("Saliency", "Integrated Gradients", "SmoothGrad", "Grad-CAM", "Occlusion")
SIGNED = {"Saliency": False, "Integrated Gradients": True, "SmoothGrad": False, "Grad-CAM": False, "Occlusion": True}
BASELINES = ("black", "blurred", "mean colour", "white")


@dataclass(frozen=True)
class Params:
    """Knobs of the methods (hashable, so pages can cache on them)."""

    ig_steps: int = 50
    baseline: str = "black"
    sg_samples: int = 25
    sg_noise: float = 0.15          # noise standard deviation as a fraction of the input's range
    occ_window: int = 6
    occ_stride: int = 3


def cam_layer(model: nn.Module) -> nn.Module:
    """Grad-CAM's target layer: the model's ``cam_layer``, else the last block of a ``SmallCNN``,
    else the last ``Conv2d``."""
    layer = getattr(model, "cam_layer", None)
    if isinstance(layer, nn.Module):
        return layer
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.ModuleList) and len(blocks):
        return blocks[-1]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("Grad-CAM needs a model with a convolutional layer")
    return convs[-1]


def baseline_for(x: torch.Tensor, kind: str) -> torch.Tensor:
    """The reference input ``x'`` for IG and occlusion, shaped like ``x (B, C, H, W)``."""
    x = x.detach()
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "white":
        return torch.ones_like(x)
    if kind == "mean colour":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
    if kind == "blurred":
        k = max(3, (x.shape[-1] // 4) | 1)                           # odd kernel, a quarter of the image
        return F.avg_pool2d(F.pad(x, [k // 2] * 4, mode="replicate"), k, stride=1)
    raise ValueError(f"unknown baseline {kind!r}; choose one of {', '.join(BASELINES)}")


def attribute(model: nn.Module, x: torch.Tensor, target: torch.Tensor | int, method: str,
              params: Params = Params(), seed: int = 0) -> torch.Tensor:
    """Attributions ``(B, C, H, W)`` of the logit ``target`` for inputs ``x (B, C, H, W)``.

    Grad-CAM's map is upsampled (bilinear) and repeated over the channels so every method returns the same
    shape. ``model`` must be in eval mode; it is not modified.
    """
    import captum.attr as ca

    x = x.detach().clone()
    span = float(x.max() - x.min()) or 1.0
    x.requires_grad_(True)
    if isinstance(target, int):
        target = torch.full((len(x),), target, dtype=torch.long)
    target = target.to(x.device)
    if method == "Saliency":
        return ca.Saliency(model).attribute(x, target=target, abs=True).detach()
    if method == "Integrated Gradients":
        return ca.IntegratedGradients(model).attribute(x, baselines=baseline_for(x, params.baseline), target=target,
                                                       n_steps=params.ig_steps).detach()
    if method == "SmoothGrad":
        sigma = params.sg_noise * span
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = ca.NoiseTunnel(ca.Saliency(model)).attribute(
                x, nt_type="smoothgrad", nt_samples=params.sg_samples, nt_samples_batch_size=params.sg_samples,
                stdevs=sigma, target=target, abs=True)
        return out.detach()
    if method == "Grad-CAM":
        cam = ca.LayerGradCam(model, cam_layer(model)).attribute(x, target=target, relu_attributions=True)
        up = ca.LayerAttribution.interpolate(cam.detach(), tuple(x.shape[-2:]), "bilinear")  # (B, 1, H, W)
        return up.expand_as(x).contiguous()
    if method == "Occlusion":
        c = x.shape[1]
        w, s = occlusion_window(params, x.shape[-1])
        return ca.Occlusion(model).attribute(x, sliding_window_shapes=(c, w, w), strides=(c, s, s),
                                             baselines=baseline_for(x, params.baseline), target=target,
                                             perturbations_per_eval=64).detach()
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def occlusion_window(params: Params, size: int) -> tuple[int, int]:
    """``(patch, stride)`` Occlusion uses on ``size``-px images: the patch at most the image, the stride at most the
    patch (a stride larger than the patch would leave pixels no patch ever covers, and captum refuses it)."""
    w = max(1, min(int(params.occ_window), int(size)))
    return w, max(1, min(int(params.occ_stride), w))


def to_map(attr: torch.Tensor, signed: bool) -> torch.Tensor:
    """``(..., C, H, W)`` -> ``(..., H, W)``: the channel sum (signed) or the sum of magnitudes."""
    return attr.sum(-3) if signed else attr.abs().sum(-3)


def all_maps(model: nn.Module, x: torch.Tensor, target: torch.Tensor | int, params: Params = Params(),
             methods: tuple[str, ...] = METHODS, seed: int = 0) -> dict[str, torch.Tensor]:
    """``{method: (B, H, W)}`` maps (signed where the method is, see :data:`SIGNED`)."""
    return {m: to_map(attribute(model, x, target, m, params, seed), SIGNED[m]) for m in methods}


# ------------------------------------------------------------------------------------------- completeness
@dataclass
class Completeness:
    sum_attributions: float
    output: float            # f(x), the target logit
    baseline_output: float   # f(x')
    steps: int

    @property
    def difference(self) -> float:
        return self.output - self.baseline_output

    @property
    def gap(self) -> float:
        """``sum(attributions) - (f(x) - f(x'))``: zero for exact Integrated Gradients."""
        return self.sum_attributions - self.difference

    @property
    def relative_gap(self) -> float:
        return abs(self.gap) / max(abs(self.difference), 1e-12)


@torch.no_grad()
def _logit(model: nn.Module, x: torch.Tensor, target: int) -> float:
    return float(model(x)[0, target])


def ig_completeness(model: nn.Module, x: torch.Tensor, target: int, steps: int = 50, baseline: str = "black",
                    method: str = "gausslegendre") -> Completeness:
    """Integrated Gradients' completeness for one image ``x (1, C, H, W)``, from the model's own outputs."""
    import captum.attr as ca

    x0 = baseline_for(x, baseline)
    xi = x.detach().clone().requires_grad_(True)
    attr = ca.IntegratedGradients(model).attribute(xi, baselines=x0, target=target, n_steps=steps, method=method)
    return Completeness(float(attr.detach().double().sum()), _logit(model, x, target), _logit(model, x0, target), steps)


# ------------------------------------------------------------------------------------------- sanity check
def spearman(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Spearman rank correlation of two maps (flattened; ties get their average rank).

    A constant map ranks every pixel equal: two constant maps count as the same ranking (1.0), a constant
    and a varying map as unrelated (0.0).
    """
    ra, rb = _rank(np.asarray(a, dtype=np.float64).ravel()), _rank(np.asarray(b, dtype=np.float64).ravel())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    na, nb = (ra * ra).sum(), (rb * rb).sum()
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float((ra * rb).sum() / np.sqrt(na * nb))


def _rank(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="mergesort")
    sv = v[order]
    ranks = np.empty(len(v))
    i = 0
    while i < len(v):                                   # average rank over each run of ties
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0
        i = j + 1
    return ranks


def randomisable_layers(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """The model's layers in forward (registration) order: each ``Conv2d``/``Linear`` with the
    ``BatchNorm`` that directly follows it."""
    units: list[tuple[str, list[nn.Module]]] = []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            units.append((name, [mod]))
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm) and units:
            units[-1][1].append(mod)
    return units


def _reinit(mods: list[nn.Module]) -> None:
    for m in mods:
        m.reset_parameters()                            # BatchNorm: scale 1, shift 0, running stats reset


@dataclass
class SanityResult:
    """``layers``: the layer names randomised, top first. ``correlation[method]`` is ``(L + 1, B)``: row 0 is
    the intact model (1.0), row k the model with its top k layers re-initialised. ``maps[method]`` is
    ``(L + 1, B, H, W)``."""

    layers: list[str]
    correlation: dict[str, np.ndarray]
    maps: dict[str, np.ndarray]

    def mean_correlation(self, method: str) -> np.ndarray:
        return self.correlation[method].mean(1)

    def final(self, method: str) -> float:
        """Mean rank correlation with every layer randomised: near 0 passes, near 1 fails."""
        return float(self.correlation[method][-1].mean())


def cascading_randomisation(model: nn.Module, x: torch.Tensor, target: torch.Tensor | int,
                            params: Params = Params(), methods: tuple[str, ...] = METHODS, seed: int = 0,
                            absolute: bool = True) -> SanityResult:
    """Adebayo et al.'s cascading randomisation on a copy of ``model`` for images ``x (B, C, H, W)``.

    The target stays the class explained on the intact model. Correlations are between the magnitude maps
    (``absolute=True``, as Adebayo et al. report) or the signed ones.
    """
    net = copy.deepcopy(model).eval()
    units = randomisable_layers(net)[::-1]               # top (output) first
    if isinstance(target, int):
        target = torch.full((len(x),), target, dtype=torch.long)

    def maps() -> dict[str, np.ndarray]:
        out = {}
        for m in methods:
            a = attribute(net, x, target, m, params, seed)
            out[m] = to_map(a, SIGNED[m] and not absolute).cpu().numpy()
        return out

    first = maps()
    history = {m: [v] for m, v in first.items()}
    g = torch.random.fork_rng(devices=[])
    with g:
        torch.manual_seed(seed)
        for _, mods in units:
            _reinit(mods)
            for m, v in maps().items():
                history[m].append(v)
    corr = {m: np.array([[spearman(first[m][b], step[b]) for b in range(len(x))] for step in history[m]])
            for m in methods}
    return SanityResult([n for n, _ in units], corr, {m: np.stack(v) for m, v in history.items()})


def verdict(result: SanityResult, threshold: float = 0.5) -> dict[str, bool]:
    """``{method: passes}``: a method passes when its map, with every layer randomised, keeps a mean rank
    correlation below ``threshold`` with the original map."""
    return {m: result.final(m) < threshold for m in result.correlation}



# ------------------------------------------------------------------------------------------- which models
WHAT_IT_EXPLAINS = ("an **image classifier**: one image in, one score per class out (logits of shape (1, K)), "
                    "such as the food and digit CNNs, LeNet-5, the equivariance CNNs and MLPs, or the ViTs")

_NOT_A_CLASSIFIER = {
    "tiny_transformer": "a transformer over token sequences: its input is text, not pixels",
    "char_rnn": "a character-level RNN: its input is text, not pixels",
    "seq2seq": "a sequence-to-sequence model: its input is a sequence of tokens, not an image",
    "dcgan": "a GAN generator: it turns noise into an image, it does not classify one",
    "gan_mlp": "a GAN on 2-D points: there are no pixels to attribute",
    "unet": "a diffusion denoiser: it maps a noisy image and a time step to noise, not to class scores",
    "seg_unet": "a segmentation network: it scores every class at every pixel, not once per image",
    "conv_vae": "a variational auto-encoder: it returns a reconstruction and a code, not class scores",
}


class NotExplainable(ValueError):
    """The model is not one the attribution methods can explain; the message says why, in words."""


@dataclass(frozen=True)
class Explainable:
    """What the page needs to explain a model: its input ``(channels, size, size)``, its number of classes, the
    methods that apply to it and, for each method left out, why."""

    channels: int
    size: int
    n_classes: int
    methods: tuple[str, ...]
    left_out: dict


def input_shape(model: nn.Module, card: dict | None = None) -> tuple[int, int]:
    """``(channels, size)`` of the square images ``model`` takes: from its config (``in_channels`` /
    ``image_size``), else from its first layer (a ``Conv2d``'s channels; a ``Linear``'s ``in_features`` as
    ``c x s x s`` with c = 1 or 3), else ``(3, 32)``."""
    import dataclasses
    import math

    cfg = getattr(model, "config", None)
    cfg = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict((card or {}).get("config", {}))
    c, s = cfg.get("in_channels"), cfg.get("image_size")
    first = next((m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    if c is None and isinstance(first, nn.Conv2d):
        c = first.in_channels
    n = cfg.get("in_features") or (first.in_features if isinstance(first, nn.Linear) else None)
    if s is None and n:
        for cc in ([c] if c else [1, 3]):
            r = math.isqrt(int(n) // int(cc))
            if int(cc) * r * r == int(n):
                c, s = cc, r
                break
    return int(c or 3), int(s or 32)


def _grad_cam_problem(model: nn.Module, x: torch.Tensor) -> str:
    """Why Grad-CAM does not apply to ``model`` (empty when it does)."""
    if any(isinstance(m, nn.MultiheadAttention) for m in model.modules()) or type(model).__name__ == "ViT":
        return ("its only convolution is the patch embedding at the input; after it, attention mixes every "
                "position, so there is no last convolutional feature map for Grad-CAM to weight")
    no_conv = "it has no convolutional layer: Grad-CAM weights the feature maps of one, and this model has none"
    try:
        layer = cam_layer(model)
    except ValueError:
        return no_conv
    got = []
    h = layer.register_forward_hook(lambda _m, _i, o: got.append(o))
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    out = got[-1] if got else None
    if torch.is_tensor(out) and out.ndim == 2 and not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return no_conv
    if not torch.is_tensor(out) or out.ndim != 4:
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        why = " (a group convolution keeps a rotation axis)" if torch.is_tensor(out) and out.ndim == 5 else ""
        return (f"its Grad-CAM layer outputs {shape}, not (batch, channels, height, width) maps{why}: Grad-CAM's "
                "channel weights are defined for plain maps")
    try:
        attribute(model, x, 0, "Grad-CAM")
    except Exception as e:  # noqa: BLE001 - whatever captum refuses, say so in words
        return f"captum's Grad-CAM cannot hook its last convolutional layer ({type(e).__name__})"
    return ""


def explainability(model: nn.Module, card: dict | None = None) -> Explainable:
    """Can the page explain ``model``, with which methods? Raises :class:`NotExplainable` (a sentence saying why)
    for models that are not image classifiers; Grad-CAM is left out, with its reason, where it does not apply."""
    card = card or {}
    arch = card.get("arch") or type(model).__name__
    if arch in _NOT_A_CLASSIFIER:
        raise NotExplainable(f"`{arch}` is {_NOT_A_CLASSIFIER[arch]}. This page explains {WHAT_IT_EXPLAINS}.")
    c, s = input_shape(model, card)
    x = torch.zeros(2, c, s, s)
    try:
        with torch.no_grad():
            y = model.eval()(x)
    except Exception:  # noqa: BLE001 - the reason is said in words below, not as a traceback
        raise NotExplainable(f"`{arch}` does not take a {c}×{s}×{s} image (its config gives no other image size), so "
                             f"there is no pixel to attribute. This page explains {WHAT_IT_EXPLAINS}.") from None
    if not torch.is_tensor(y) or y.ndim != 2 or y.shape[0] != 2 or y.shape[1] < 2:
        got = tuple(y.shape[1:]) if torch.is_tensor(y) else f"a {type(y).__name__}"
        raise NotExplainable(f"`{arch}` turns a {c}×{s}×{s} image into {got}, not one score per class. This page "
                             f"explains {WHAT_IT_EXPLAINS}.")
    left_out = {}
    why = _grad_cam_problem(model, x[:1])
    if why:
        left_out["Grad-CAM"] = why
    return Explainable(c, s, int(y.shape[1]), tuple(m for m in METHODS if m not in left_out), left_out)
