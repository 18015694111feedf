"""What the Activations and losses page exports: rows for its CSV downloads and the notebook lines of its headline."""

from __future__ import annotations

from dlviz.activations_losses.core import LayerActivity


def activity_rows(models: dict[str, list[LayerActivity]]) -> list[dict]:
    """One row per model, layer and unit: the share of training inputs on which the unit passes gradient, and
    whether it is dead (passes none)."""
    rows = []
    for model, acts in models.items():
        for j, a in enumerate(acts):
            for u, f in enumerate(a.active_fraction):
                rows.append({"model": model, "layer": j + 1, "unit": u, "active_fraction": float(f),
                             "dead": bool(f == 0)})
    return rows


def saturation_snippet(focus: str, mean: float, std: float, threshold: float, params: dict[str, float]) -> str:
    """Notebook lines that recompute section 1's headline: the saturated share of N(mean, std²) pre-activations."""
    kw = "".join(f", {k}={float(v)!r}" for k, v in sorted(params.items()))
    return f"""from dlviz.activations_losses import core as act

# P(|f'(z)| < {threshold:g}) for pre-activations z ~ N({mean:g}, {std:g}²), by quadrature
result = act.saturated_fraction({focus!r}, {float(mean)!r}, {float(std)!r}, {float(threshold)!r}{kw})
print(f"{{result:.1%}}")
"""
