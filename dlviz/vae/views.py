"""Small pieces of the VAE page's views that are not Streamlit: which images to show, where a path
lands on a 2-D map, which points get a thumbnail, and the landing-page thumbnail."""

from __future__ import annotations

import numpy as np
import torch

from dlviz.vae.embed import Projection, knn_place

SELECTIONS = ("first", "random", "lowest ELBO", "highest ELBO")


def select_images(elbos: np.ndarray, how: str = "first", n: int = 12, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` images: the first, a random draw, or the worst / best by ELBO."""
    if how not in SELECTIONS:
        raise ValueError(f"how must be one of {SELECTIONS}")
    n = min(n, len(elbos))
    if how == "first":
        return np.arange(n)
    if how == "random":
        return np.sort(np.random.default_rng(seed).choice(len(elbos), n, replace=False))
    order = np.argsort(elbos, kind="stable")
    return order[:n] if how == "lowest ELBO" else order[::-1][:n]


def place_on_map(points: np.ndarray, method: str, projection: Projection | None = None,
                 codes: np.ndarray | None = None, embedding: np.ndarray | None = None) -> np.ndarray:
    """Map positions ``(M, 2)`` of codes ``points (M, D)``: the exact linear map for ``identity``/``pca``,
    nearest-code placement for ``umap``."""
    if method == "umap":
        if codes is None or embedding is None:
            raise ValueError("placing on a UMAP needs the codes and their embedding")
        return knn_place(points, codes, embedding)
    if projection is None:
        raise ValueError("a linear map needs its projection")
    return projection(points)


def spread_points(xy: np.ndarray, n: int = 120, seed: int = 0) -> np.ndarray:
    """Up to ``n`` indices of points spread over the map: one per cell of a ~sqrt(n) x sqrt(n) grid
    (the point nearest each occupied cell's centre), so thumbnails do not pile up."""
    if len(xy) == 0:
        return np.zeros(0, dtype=int)
    k = max(1, int(np.sqrt(n)))
    lo, hi = xy.min(0), xy.max(0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    cell = np.minimum(((xy - lo) / span * k).astype(int), k - 1)
    cid = cell[:, 0] * k + cell[:, 1]
    centre = lo + (cell + 0.5) / k * span
    dist = ((xy - centre) ** 2).sum(1)
    best: dict[int, int] = {}
    for i in np.random.default_rng(seed).permutation(len(xy)):
        c = int(cid[i])
        if c not in best or dist[i] < dist[best[c]]:
            best[c] = int(i)
    return np.array(sorted(best.values()), dtype=int)


def thumbnail() -> np.ndarray:
    """The landing-page card: the decoded manifold of the shipped 2-D digits VAE, ``(H, W, 3)`` uint8."""
    from dlviz.checkpoints import load_shipped
    from dlviz.vae.core import manifold, tile

    model, _ = load_shipped("vae_digits2", expected_arch="conv_vae")
    with torch.no_grad():
        imgs, _, _ = manifold(model, (0, 1), n=10)
    return tile(imgs, pad=0)
