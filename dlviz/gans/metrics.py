"""Mode collapse, measured as PacGAN (Lin et al. 2018, Sec. 4, Table 1) and VEEGAN (Srivastava et al. 2017,
Sec. 5.1, Table 1) measure it on the ring and the grid of Gaussians.

From ``n`` generator samples (both papers use 2,500):

* a sample is **high quality** if it lies within 3 sigma of its nearest mode; it is *registered* to
  that mode;
* a mode is **captured** if at least ``min_count`` samples are registered to it. What the sources say:
  VEEGAN's text (Sec. 5.1, reproduced on its project page, github.com/akashgit/VEEGAN ``index.md``) counts a
  mode as captured when its mean is the nearest mode of *at least one* high-quality sample, from 2,500
  samples; PacGAN's reference code (github.com/fjxmlzn/PacGAN, ``synthetic_data_experiments/PacGAN/pacgan/
  extensions.py``, ``MetricLogger``) does the same (``mode coverage`` = modes with a non-zero count of samples
  within ``dis_thre = 3`` standard deviations). We found no passage in either paper or codebase that uses 20.
  The default here, **20 of 2,500** (20 % of the 100 a uniform generator puts on each of 25 modes), is this
  app's own, stricter choice, so one stray sample does not count as a captured mode; :func:`mode_stats`
  scales it to ``n``, and ``min_count=1`` gives the papers' count;
* **reverse KL** is KL(p_G || p_data) between the histogram of the registered samples over the modes
  and the true, uniform mode distribution: sum_k p_k log(p_k K), 0 when every mode gets its share,
  log K when one mode gets them all (modes with no sample contribute 0 log 0 = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PACGAN_COUNT, PACGAN_N = 20, 2500     # our threshold (PacGAN's code and VEEGAN count >= 1); a historical name


@dataclass
class ModeStats:
    modes_captured: int
    high_quality_frac: float
    reverse_kl: float                    # nan when no sample is high quality
    counts: np.ndarray                   # (K,) registered (high-quality) samples per mode
    nearest: np.ndarray                  # (n,) index of each sample's nearest mode
    high_quality: np.ndarray             # (n,) bool
    min_count: int
    n_modes: int

    def as_dict(self) -> dict[str, float]:
        return {"modes_captured": float(self.modes_captured), "high_quality_frac": self.high_quality_frac,
                "reverse_kl": self.reverse_kl}


def default_min_count(n: int) -> int:
    """This app's 20 per 2,500 samples (not PacGAN's, which counts >= 1; see the module docstring), scaled to
    ``n`` (at least 1)."""
    return max(1, round(PACGAN_COUNT * n / PACGAN_N))


def mode_stats(samples: np.ndarray, modes: np.ndarray, sigma: float, min_count: int | None = None) -> ModeStats:
    """The three measurements of the module docstring for ``samples`` (n, d) against ``modes`` (K, d)."""
    x = np.asarray(samples, dtype=np.float64)
    mu = np.asarray(modes, dtype=np.float64)
    if x.ndim != 2 or mu.ndim != 2 or x.shape[1] != mu.shape[1]:
        raise ValueError("samples must be (n, d) and modes (K, d)")
    finite = np.isfinite(x).all(1)
    d2 = ((x[:, None, :] - mu[None]) ** 2).sum(-1)               # (n, K)
    d2[~finite] = np.inf
    nearest = d2.argmin(1)
    dist = np.sqrt(d2[np.arange(len(x)), nearest])
    hq = dist <= 3 * sigma
    K = len(mu)
    counts = np.bincount(nearest[hq], minlength=K)
    min_count = default_min_count(len(x)) if min_count is None else int(min_count)
    captured = int((counts >= min_count).sum())
    if counts.sum() == 0:
        rkl = math.nan
    else:
        p = counts / counts.sum()
        nz = p > 0
        rkl = float((p[nz] * np.log(p[nz] * K)).sum())
    return ModeStats(captured, float(hq.mean()) if len(x) else 0.0, rkl, counts, nearest, hq, min_count, K)


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n); 0 for one value) of the finite values."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return float(v.mean()), se
