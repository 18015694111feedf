"""Activation functions and loss functions, measured: values, derivatives, saturation, dead units.

* Activations (sigmoid, tanh, ReLU -- Nair & Hinton 2010, leaky ReLU -- Maas et al. 2013, ELU -- Clevert
  et al. 2016, SELU -- Klambauer et al. 2017, GELU -- Hendrycks & Gimpel 2016, SiLU/swish -- Ramachandran
  et al. 2017, Mish -- Misra 2019, ...): derivatives come from autograd, never from a hand formula, and a
  *saturation region* is where ``|f'(x)| < threshold``: a unit there passes (almost) no gradient back.
* Losses (MSE, MAE, Huber 1964, log-cosh, cross-entropy, hinge, focal -- Lin et al. 2017, KL) as
  functions of the prediction, with their gradient with respect to it (autograd again), and a robust
  line fit (iteratively reweighted least squares) that shows what each loss does with outliers.
* Dead ReLUs: a unit whose ReLU output is 0 for every input of a data set gets no gradient ever again;
  :func:`relu_activity` counts them in any model (Lu et al. 2019, "Dying ReLU and initialization").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Params = dict[str, tuple[float, float, float]]     # name -> (default, min, max)


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[..., torch.Tensor]
    formula: str                     # LaTeX
    params: Params = field(default_factory=dict)
    paper: str = ""


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in [
    Activation("sigmoid", lambda x: torch.sigmoid(x), r"\sigma(x) = \frac{1}{1 + e^{-x}}", {}, "logistic function"),
    Activation("tanh", lambda x: torch.tanh(x), r"\tanh(x) = \frac{e^x - e^{-x}}{e^x + e^{-x}}", {}, "LeCun et al. 1998"),
    Activation("ReLU", lambda x: F.relu(x), r"\max(0, x)", {}, "Nair & Hinton 2010"),
    Activation("leaky ReLU", lambda x, alpha=0.01: F.leaky_relu(x, alpha), r"\max(\alpha x, x)",
               {"alpha": (0.01, 0.0, 0.5)}, "Maas et al. 2013"),
    Activation("ELU", lambda x, alpha=1.0: F.elu(x, alpha), r"x \text{ if } x > 0 \text{ else } \alpha (e^x - 1)",
               {"alpha": (1.0, 0.1, 3.0)}, "Clevert et al. 2016"),
    Activation("SELU", lambda x: F.selu(x), r"\lambda\,(x \text{ if } x > 0 \text{ else } \alpha (e^x - 1)),\ "
               r"\lambda \approx 1.0507,\ \alpha \approx 1.6733", {}, "Klambauer et al. 2017"),
    Activation("GELU", lambda x: F.gelu(x), r"x\,\Phi(x)", {}, "Hendrycks & Gimpel 2016"),
    Activation("SiLU / swish", lambda x, beta=1.0: x * torch.sigmoid(beta * x), r"x\,\sigma(\beta x)",
               {"beta": (1.0, 0.1, 5.0)}, "Ramachandran et al. 2017; Elfwing et al. 2018"),
    Activation("softplus", lambda x, beta=1.0: F.softplus(x, beta), r"\frac{1}{\beta}\log(1 + e^{\beta x})",
               {"beta": (1.0, 0.1, 5.0)}, "Dugas et al. 2001"),
    Activation("Mish", lambda x: F.mish(x), r"x \tanh(\mathrm{softplus}(x))", {}, "Misra 2019"),
    Activation("softsign", lambda x: F.softsign(x), r"\frac{x}{1 + |x|}", {}, "Bergstra et al. 2009"),
    Activation("hardtanh", lambda x: F.hardtanh(x), r"\max(-1, \min(1, x))", {}, ""),
    Activation("ReLU6", lambda x: F.relu6(x), r"\min(\max(0, x), 6)", {}, "Krizhevsky 2010; MobileNet"),
]}


@dataclass
class Curve:
    x: np.ndarray
    y: np.ndarray
    dy: np.ndarray                         # dy/dx from autograd
    regions: list[tuple[float, float]]     # saturation intervals (|dy| < threshold)
    threshold: float


def evaluate(name: str, x: np.ndarray | torch.Tensor, **params: float) -> tuple[np.ndarray, np.ndarray]:
    """``(f(x), f'(x))`` of activation ``name``; the derivative comes from autograd."""
    if name not in ACTIVATIONS:
        raise KeyError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    t = torch.as_tensor(np.asarray(x, dtype=np.float64)).clone().requires_grad_(True)
    y = ACTIVATIONS[name].fn(t, **params)
    (dy,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy(), dy.numpy()


def regions_below(x: np.ndarray, values: np.ndarray, threshold: float) -> list[tuple[float, float]]:
    """Maximal intervals of the grid ``x`` on which ``|values| < threshold`` (ends at grid points)."""
    mask = np.abs(values) < threshold
    out, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        if (not m or i == len(mask) - 1) and start is not None:
            end = i if m else i - 1
            out.append((float(x[start]), float(x[end])))
            start = None
    return out


def curve(name: str, lo: float = -6.0, hi: float = 6.0, n: int = 1201, threshold: float = 0.05,
          **params: float) -> Curve:
    x = np.linspace(lo, hi, n)
    y, dy = evaluate(name, x, **params)
    return Curve(x, y, dy, regions_below(x, dy, threshold), threshold)


def _normal_grid(mean: float, std: float, n: int = 20001) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(mean - 10 * std, mean + 10 * std, n)
    w = np.exp(-0.5 * ((x - mean) / std) ** 2)
    return x, w / w.sum()


def saturated_fraction(name: str, mean: float, std: float, threshold: float = 0.05, **params: float) -> float:
    """P(|f'(z)| < threshold) for pre-activations ``z ~ N(mean, std^2)`` (quadrature on a fine grid)."""
    if std <= 0:
        return float(abs(evaluate(name, np.array([mean]), **params)[1][0]) < threshold)
    x, w = _normal_grid(mean, std)
    _, dy = evaluate(name, x, **params)
    return float(w[np.abs(dy) < threshold].sum())


def mean_gradient(name: str, mean: float, std: float, **params: float) -> float:
    """E[|f'(z)|] for ``z ~ N(mean, std^2)``: the average factor one layer multiplies gradients by."""
    x, w = _normal_grid(mean, max(std, 1e-6))
    _, dy = evaluate(name, x, **params)
    return float((w * np.abs(dy)).sum())


# ---------------------------------------------------------------------------------------------- losses
@dataclass(frozen=True)
class Loss:
    name: str
    task: str                      # regression | binary | multiclass | distribution
    fn: Callable[..., torch.Tensor]   # (pred (N,), target float, **params) -> elementwise loss (N,)
    formula: str
    params: Params = field(default_factory=dict)


def _sign(y: float) -> float:
    return 1.0 if y > 0.5 else -1.0


def _focal_binary(z, y, gamma=2.0):
    p_t = torch.sigmoid(z) if y > 0.5 else torch.sigmoid(-z)
    return -((1 - p_t) ** gamma) * F.logsigmoid(z if y > 0.5 else -z)


def _logits(z, classes, other):
    """(N, K) logits: the true class (index 0) gets ``z``, the other K-1 classes ``other``."""
    rest = torch.full((len(z), int(classes) - 1), float(other), dtype=z.dtype)
    return torch.cat([z[:, None], rest], 1)


def _ce(z, y, classes=10, other=0.0, smoothing=0.0):
    target = torch.zeros(len(z), dtype=torch.long)
    return F.cross_entropy(_logits(z, classes, other), target, reduction="none", label_smoothing=smoothing)


def _focal_multi(z, y, classes=10, other=0.0, gamma=2.0):
    logp_t = F.log_softmax(_logits(z, classes, other), 1)[:, 0]
    return -((1 - logp_t.exp()) ** gamma) * logp_t


def _multi_hinge(z, y, classes=10, other=0.0):
    target = torch.zeros(len(z), dtype=torch.long)
    return F.multi_margin_loss(_logits(z, classes, other), target, reduction="none")


def _bern(q):
    return torch.stack([1 - q, q], -1)


def _kl_forward(q, p):
    pv = _bern(torch.full_like(q, float(p)))
    return F.kl_div(_bern(q).log(), pv, reduction="none").sum(-1)


def _kl_reverse(q, p):
    return (_bern(q) * (_bern(q).log() - _bern(torch.full_like(q, float(p))).log())).sum(-1)


_K = {"classes": (10, 2, 100), "other": (0.0, -5.0, 5.0)}

LOSSES: dict[str, Loss] = {loss.name: loss for loss in [
    Loss("MSE", "regression", lambda p, y: F.mse_loss(p, torch.full_like(p, y), reduction="none"), r"(\hat y - y)^2"),
    Loss("MAE", "regression", lambda p, y: F.l1_loss(p, torch.full_like(p, y), reduction="none"), r"|\hat y - y|"),
    Loss("Huber", "regression",
         lambda p, y, delta=1.0: F.huber_loss(p, torch.full_like(p, y), reduction="none", delta=delta),
         r"\tfrac12 r^2 \text{ if } |r| \le \delta \text{ else } \delta(|r| - \tfrac12\delta),\ r = \hat y - y",
         {"delta": (1.0, 0.1, 5.0)}),
    Loss("log-cosh", "regression", lambda p, y: torch.log(torch.cosh(p - y)), r"\log\cosh(\hat y - y)"),
    Loss("cross-entropy (logistic)", "binary",
         lambda z, y: F.binary_cross_entropy_with_logits(z, torch.full_like(z, y), reduction="none"),
         r"-y \log\sigma(z) - (1-y)\log(1-\sigma(z))"),
    Loss("hinge", "binary", lambda z, y: F.relu(1 - _sign(y) * z), r"\max(0, 1 - s z),\ s = 2y - 1"),
    Loss("squared hinge", "binary", lambda z, y: F.relu(1 - _sign(y) * z) ** 2, r"\max(0, 1 - s z)^2"),
    Loss("focal", "binary", _focal_binary, r"-(1 - p_t)^\gamma \log p_t", {"gamma": (2.0, 0.0, 5.0)}),
    Loss("MSE on sigmoid", "binary", lambda z, y: (torch.sigmoid(z) - y) ** 2, r"(\sigma(z) - y)^2"),
    Loss("0-1 loss", "binary", lambda z, y: ((_sign(y) * z) <= 0).to(z.dtype) + 0 * z, r"[\,s z \le 0\,]"),
    Loss("cross-entropy", "multiclass", _ce, r"-\log \mathrm{softmax}(\mathbf z)_{y}", dict(_K)),
    Loss("label smoothing", "multiclass", _ce,
         r"-(1-\varepsilon)\log p_y - \tfrac{\varepsilon}{K}\textstyle\sum_k \log p_k",
         {**_K, "smoothing": (0.1, 0.0, 0.5)}),
    Loss("focal (multi-class)", "multiclass", _focal_multi, r"-(1 - p_y)^\gamma \log p_y",
         {**_K, "gamma": (2.0, 0.0, 5.0)}),
    Loss("multi-class hinge", "multiclass", _multi_hinge, r"\tfrac1K \textstyle\sum_{k \ne y} \max(0, 1 - z_y + z_k)",
         dict(_K)),
    Loss("KL(p || q)", "distribution", _kl_forward, r"\textstyle\sum_i p_i \log \frac{p_i}{q_i}"),
    Loss("KL(q || p)", "distribution", _kl_reverse, r"\textstyle\sum_i q_i \log \frac{q_i}{p_i}"),
    Loss("cross-entropy H(p, q)", "distribution",
         lambda q, p: F.binary_cross_entropy(q, torch.full_like(q, float(p)), reduction="none"),
         r"-\textstyle\sum_i p_i \log q_i"),
]}

TASKS = {
    "regression": ("prediction ŷ", "target y", (-4.0, 4.0)),
    "binary": ("logit z (score for class 1)", "label y (0 or 1)", (-6.0, 6.0)),
    "multiclass": ("logit of the true class z_y", "true class", (-8.0, 8.0)),
    "distribution": ("predicted probability q of outcome 1", "target probability p", (0.001, 0.999)),
}


def losses_for(task: str) -> list[str]:
    return [n for n, loss in LOSSES.items() if loss.task == task]


def loss_curve(name: str, pred: np.ndarray, target: float, **params: float) -> tuple[np.ndarray, np.ndarray]:
    """``(loss, dloss/dpred)`` along the prediction grid ``pred``; the gradient comes from autograd."""
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}")
    p = torch.as_tensor(np.asarray(pred, dtype=np.float64)).clone().requires_grad_(True)
    loss = LOSSES[name].fn(p, target, **params)
    (g,) = torch.autograd.grad(loss.sum(), p)
    return loss.detach().numpy(), g.numpy()


# --------------------------------------------------------------------------------- robust line fitting
_IRLS_WEIGHTS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "MSE": lambda r, d: np.ones_like(r),
    "MAE": lambda r, d: 1.0 / np.maximum(np.abs(r), 1e-8),
    "Huber": lambda r, d: np.minimum(1.0, d / np.maximum(np.abs(r), 1e-12)),
    "log-cosh": lambda r, d: np.where(np.abs(r) < 1e-8, 1.0, np.tanh(r) / np.where(r == 0, 1, r)),
}


def line_data(n: int = 40, outliers: int = 4, seed: int = 0, slope: float = 2.0,
              intercept: float = 1.0, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """``y = slope x + intercept + noise`` on ``x in [-2, 2]``, with ``outliers`` points pushed far up."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, n))
    y = slope * x + intercept + noise * rng.standard_normal(n)
    if outliers:
        idx = rng.choice(n, size=min(outliers, n), replace=False)
        y[idx] += rng.uniform(6, 10, len(idx))
    return x, y


def fit_line(x: np.ndarray, y: np.ndarray, loss: str = "MSE", delta: float = 1.0,
             iters: int = 200) -> tuple[float, float]:
    """``(slope, intercept)`` minimising the mean ``loss`` of the residuals, by iteratively reweighted
    least squares (each step solves a weighted least-squares problem with weights ``psi(r) / r``)."""
    if loss not in _IRLS_WEIGHTS:
        raise KeyError(f"fit_line supports {', '.join(_IRLS_WEIGHTS)}")
    A = np.stack([x, np.ones_like(x)], 1)
    w = np.ones_like(y)
    theta = np.zeros(2)
    for _ in range(iters if loss != "MSE" else 1):
        sw = np.sqrt(w)
        new = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)[0]
        if np.allclose(new, theta, atol=1e-12, rtol=0):
            break
        theta = new
        w = _IRLS_WEIGHTS[loss](y - A @ theta, delta)
    return float(theta[0]), float(theta[1])


# ---------------------------------------------------------------------------------------------- dead ReLUs
@dataclass
class LayerActivity:
    name: str
    units: int
    active_fraction: np.ndarray     # (units,) fraction of inputs on which the unit passes gradient
    dead: int                       # units that pass no gradient on any input

    @property
    def dead_fraction(self) -> float:
        return self.dead / self.units if self.units else 0.0


ACTIVATION_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish, nn.Tanh,
                      nn.Sigmoid, nn.Softplus, nn.Hardtanh)


def relu_activity(model: nn.Module, x: torch.Tensor, batch_size: int = 1024, grad_eps: float = 1e-6,
                  kinds: tuple[type[nn.Module], ...] = ACTIVATION_MODULES) -> list[LayerActivity]:
    """For each activation module (in call order): on how many inputs each unit passes gradient back.

    A *unit* is a feature of a linear layer or a channel of a convolution. It is *active* on an input
    when the activation's slope ``|f'(z)|`` (autograd, at the unit's pre-activation ``z``) exceeds
    ``grad_eps`` at some position; a unit active on no input is *dead*: its incoming weights get zero
    gradient from the whole data set. For ReLU that means ``z <= 0`` everywhere; a leaky ReLU (slope
    ``alpha > 0``) is never dead; a sigmoid is dead only when saturated so deeply that the slope is < eps.
    """
    was = model.training
    model.eval()
    counts: dict[str, torch.Tensor] = {}
    names = {m: n for n, m in model.named_modules()}

    def hook(m, inp, out):
        z = inp[0].detach().requires_grad_(True)            # (B, units, ...)
        with torch.enable_grad():
            (slope,) = torch.autograd.grad(m.forward(z * 1.0).sum(), z)   # forward(): no hook recursion
        fired = slope.abs() > grad_eps
        fired = fired.flatten(2).any(-1) if fired.ndim > 2 else fired     # (B, units)
        key = names[m]
        counts[key] = counts.get(key, 0) + fired.sum(0)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    try:
        dev = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                model(x[i:i + batch_size].to(dev))
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    out = []
    for name, c in counts.items():
        frac = (c.double() / len(x)).cpu().numpy()
        out.append(LayerActivity(name, len(frac), frac, int((c == 0).sum())))
    return out


def dead_fraction(model: nn.Module, x: torch.Tensor) -> float:
    """Fraction of all activation units (over all layers) that pass no gradient on any input of ``x``."""
    acts = relu_activity(model, x)
    units = sum(a.units for a in acts)
    return sum(a.dead for a in acts) / units if units else math.nan
