"""The 2-D data sets of the GAN game: the two mixtures on which mode collapse is measured, two shapes
without modes, and the student's own points.

* ``ring``: 8 Gaussians evenly spaced on a circle of radius 1, sigma 0.01 (PacGAN, Lin et al. 2018,
  Sec. 4; VEEGAN, Srivastava et al. 2017, use the same ring);
* ``grid``: 25 Gaussians at {-4, -2, 0, 2, 4}^2, sigma 0.05 (PacGAN Table 1; VEEGAN Table 1);
* ``moons`` and ``spiral``: curves with noise (no modes, so no mode metrics);
* ``custom``: points the student pastes or uploads as CSV (:func:`parse_points`).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from dlviz.data import DataError

MAX_POINTS = 100_000
MIN_POINTS = 8


@dataclass
class Dataset2D:
    """A 2-D data distribution: ``sample(n, generator)`` draws from it; ``modes`` (K, 2) and ``sigma``
    describe a Gaussian mixture (``None`` for shapes without modes)."""

    key: str
    label: str
    modes: np.ndarray | None = None
    sigma: float = 0.0
    points: np.ndarray | None = None       # a finite set to resample (moons, spiral, custom)
    noise: float = 0.0
    scale: float = 1.0                     # typical extent, for plot ranges
    extra: dict = field(default_factory=dict)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples (n, 2), float32."""
        if self.modes is not None:
            modes = torch.as_tensor(self.modes, dtype=torch.float32)
            k = torch.randint(len(modes), (n,), generator=generator)
            return modes[k] + self.sigma * torch.randn(n, 2, generator=generator)
        pts = torch.as_tensor(self.points, dtype=torch.float32)
        idx = torch.randint(len(pts), (n,), generator=generator)
        return pts[idx] + self.noise * torch.randn(n, 2, generator=generator)

    @property
    def has_modes(self) -> bool:
        return self.modes is not None

    def bounds(self, margin: float = 0.25) -> tuple[float, float, float, float]:
        """A square plotting window ``(x0, x1, y0, y1)`` around the data."""
        pts = self.modes if self.modes is not None else self.points
        lo, hi = pts.min(0), pts.max(0)
        c, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-3)
        half = half * (1 + margin) + 3 * max(self.sigma, self.noise)
        return float(c[0] - half), float(c[0] + half), float(c[1] - half), float(c[1] + half)


def ring(k: int = 8, radius: float = 1.0, sigma: float = 0.01) -> Dataset2D:
    t = 2 * np.pi * np.arange(k) / k
    modes = radius * np.stack([np.cos(t), np.sin(t)], 1)
    return Dataset2D("ring", f"ring of {k} Gaussians (r = {radius:g}, σ = {sigma:g})", modes, sigma, scale=radius)


def grid(n: int = 5, step: float = 2.0, sigma: float = 0.05) -> Dataset2D:
    c = step * (np.arange(n) - (n - 1) / 2)                    # {-4, -2, 0, 2, 4} for n = 5, step 2
    modes = np.stack(np.meshgrid(c, c, indexing="xy"), -1).reshape(-1, 2)
    return Dataset2D("grid", f"{n}×{n} grid of Gaussians (σ = {sigma:g})", modes, sigma, scale=float(c.max()))


def moons(n: int = 2000, noise: float = 0.05, seed: int = 0) -> Dataset2D:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x - 0.5, y - 0.25], 1)
    return Dataset2D("moons", "two moons", points=pts, noise=noise, scale=1.5)


def spiral(n: int = 2000, turns: float = 2.0, noise: float = 0.03, seed: int = 0) -> Dataset2D:
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0, 1, n)) * turns * 2 * np.pi      # uniform along the area, not the angle
    r = t / (turns * 2 * np.pi)
    pts = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    return Dataset2D("spiral", f"spiral ({turns:g} turns)", points=pts, noise=noise, scale=1.0)


def custom(points: np.ndarray, noise: float = 0.0, label: str = "my points") -> Dataset2D:
    pts = np.asarray(points, dtype=np.float64)
    spread = float(np.ptp(pts, axis=0).max()) if len(pts) else 1.0
    return Dataset2D("custom", label, points=pts, noise=noise or 0.01 * spread, scale=max(spread / 2, 1e-3))


DATASETS = {"ring": "ring of 8 Gaussians", "grid": "5×5 grid of Gaussians", "moons": "two moons",
            "spiral": "spiral", "custom": "my own points (draw, paste or CSV)"}

CANVAS = (-4.0, 4.0, 41)        # the drawing canvas: click targets on a 41 x 41 lattice over [-4, 4]^2
SPRAY = (20, 0.08)              # each click adds 20 points, normal with sigma 0.08 around the clicked target


def canvas_targets(lo: float = CANVAS[0], hi: float = CANVAS[1], n: int = CANVAS[2]) -> np.ndarray:
    """The lattice of points a student clicks on to draw (n*n, 2): a plotly click selects the nearest one."""
    g = np.linspace(lo, hi, n)
    xx, yy = np.meshgrid(g, g)
    return np.stack([xx.ravel(), yy.ravel()], 1)


def spray(centres: np.ndarray, seed: int, per: int = SPRAY[0], sigma: float = SPRAY[1]) -> np.ndarray:
    """``per`` points around each clicked centre (K, 2) -> (K*per, 2): a click makes a small blob (a mode)."""
    c = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    rng = np.random.default_rng(seed)
    return (c[:, None, :] + sigma * rng.standard_normal((len(c), per, 2))).reshape(-1, 2)


def clicked_points(selection: dict | None, targets: np.ndarray, trace: int = 0) -> np.ndarray:
    """The canvas targets (K, 2) a plotly selection event (Streamlit's ``on_select``) picked on trace ``trace``;
    points on other traces (the points already drawn) are ignored."""
    pts = ((selection or {}).get("selection") or {}).get("points") or []
    idx = sorted({int(p["point_index"]) for p in pts if p.get("curve_number", 0) == trace
                  and 0 <= int(p.get("point_index", -1)) < len(targets)})
    return targets[idx] if idx else np.zeros((0, 2))


def add_clicks(state: dict, picked: np.ndarray) -> bool:
    """Add a blob per newly picked target to ``state["pts"]``; a selection already added (``state["seen"]``, kept
    by the chart across reruns) is not added again. True when points were added."""
    sig = picked.tobytes()
    if not len(picked) or sig == state.get("seen"):
        return False
    state["pts"] = np.concatenate([state["pts"], spray(picked, seed=len(state["pts"]))])
    state["seen"] = sig
    return True


def combine_points(pasted: np.ndarray | None, drawn: np.ndarray | None) -> np.ndarray:
    """Pasted (or uploaded) and drawn points as one set; :class:`DataError` when together they are too few."""
    parts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in (pasted, drawn) if p is not None and len(p)]
    pts = np.concatenate(parts) if parts else np.zeros((0, 2))
    if len(pts) < MIN_POINTS:
        raise DataError(f"{len(pts)} point(s) is too few: click on the canvas or paste at least {MIN_POINTS} rows.")
    if len(pts) > MAX_POINTS:
        raise DataError(f"{len(pts):,} points is too many: at most {MAX_POINTS:,}.")
    if np.ptp(pts, axis=0).max() == 0:
        raise DataError("All points are the same: give points that spread out.")
    return pts


def make_dataset(key: str, points: np.ndarray | None = None) -> Dataset2D:
    """Data set ``key`` of :data:`DATASETS`; ``custom`` needs ``points`` (see :func:`parse_points`)."""
    if key == "ring":
        return ring()
    if key == "grid":
        return grid()
    if key == "moons":
        return moons()
    if key == "spiral":
        return spiral()
    if key == "custom":
        if points is None:
            raise DataError("Paste x,y rows or upload a CSV with two numeric columns first.")
        return custom(points)
    raise DataError(f"Unknown data set {key!r}; choose one of {', '.join(DATASETS)}.")


def parse_points(text: str | bytes, max_rows: int = MAX_POINTS) -> np.ndarray:
    """Rows of ``x,y`` (comma, semicolon, tab or space separated; an optional header line) -> (N, 2).

    Raises :class:`dlviz.data.DataError` with the row at fault for text, a single column, NaN/inf,
    fewer than ``MIN_POINTS`` rows or more than ``max_rows``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise DataError("The file is not text (UTF-8): upload a CSV of x,y rows.") from e
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise DataError("No points: paste rows like `0.5, -1.2` (x, y), one point per line.")
    if len(lines) > max_rows + 1:
        raise DataError(f"{len(lines):,} rows is too many: at most {max_rows:,} points (a GAN batch is a few hundred; "
                        "subsample your data first).")
    sample = "\n".join(lines[:20])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
        delim = dialect.delimiter
    except csv.Error:
        delim = "," if "," in sample else None
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)) if delim else [ln.split() for ln in lines]
    rows = [[c.strip() for c in r if c.strip()] for r in rows]
    out = []
    for i, r in enumerate(rows):
        if len(r) < 2:
            raise DataError(f"Row {i + 1} (`{lines[i][:40]}`) has one column; each row needs two numbers, x and y.")
        try:
            vals = [float(c) for c in r[:2]]
        except ValueError:
            if i == 0 and not out:                              # a header line
                continue
            raise DataError(f"Row {i + 1} (`{lines[i][:40]}`) holds text, not two numbers.") from None
        if not all(math.isfinite(v) for v in vals):
            raise DataError(f"Row {i + 1} (`{lines[i][:40]}`) holds NaN or infinity; remove or fill such rows.")
        out.append(vals)
    if len(out) < MIN_POINTS:
        raise DataError(f"{len(out)} point(s) is too few: give at least {MIN_POINTS}.")
    if len(out) > max_rows:
        raise DataError(f"{len(out):,} points is too many: at most {max_rows:,}.")
    pts = np.asarray(out, dtype=np.float64)
    if np.ptp(pts, axis=0).max() == 0:
        raise DataError("All points are the same: give points that spread out.")
    return pts
