"""The Vision Transformer's mathematics: patches, attention per head and layer, attention rollout and
the position embeddings' similarity map.

* Patchify (Dosovitskiy et al. 2021, Eq. 1): ``(B, C, H, W) -> (B, N, C p^2)`` with ``N = (H/p)(W/p)``
  patches in row-major order; :func:`unpatchify` is its exact inverse.
* Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers", Sec. 3): the
  residual connection is modelled by adding the identity to each layer's (head-fused) attention and
  re-normalising the rows, ``Â_l = 0.5 A_l + 0.5 I`` (then ``Â_l / Â_l 1``), and the layers are
  multiplied, ``Ã_L = Â_L Â_{L-1} ... Â_1``. Row 0 of ``Ã_L`` is how much of the [CLS] token's final
  state "flows" from each input token.
* Position-embedding similarity (Dosovitskiy et al., Fig. 7 centre): the cosine similarity of each
  patch's learned position embedding with every other patch's, drawn as one ``g x g`` tile per patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

HEAD_FUSIONS = ("mean", "max", "min")


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """``(B, C, H, W) -> (B, (H/p)(W/p), C*p*p)``: row-major patches, each its ``(C, p, p)`` block flattened."""
    B, C, H, W = x.shape
    if p < 1 or H % p or W % p:
        raise ValueError(f"patch size {p} must divide the image size {H}x{W}")
    x = x.reshape(B, C, H // p, p, W // p, p)               # (B, C, gh, p, gw, p)
    x = x.permute(0, 2, 4, 1, 3, 5)                          # (B, gh, gw, C, p, p)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def unpatchify(t: torch.Tensor, p: int, channels: int, height: int | None = None) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, N, C*p*p) -> (B, C, H, W)``; ``height`` (in pixels) for a
    non-square image, else the grid is square."""
    B, N, F = t.shape
    if F != channels * p * p:
        raise ValueError(f"patch vectors of length {F} are not {channels} x {p} x {p}")
    gh = (height // p) if height is not None else int(round(N ** 0.5))
    if gh < 1 or N % gh:
        raise ValueError(f"{N} patches do not fill a grid {gh} rows high")
    gw = N // gh
    x = t.reshape(B, gh, gw, channels, p, p).permute(0, 3, 1, 4, 2, 5)    # (B, C, gh, p, gw, p)
    return x.reshape(B, channels, gh * p, gw * p)


@torch.no_grad()
def attention_maps(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(B, classes)`` and the attention of every layer ``(L, B, heads, T, T)`` of a ViT."""
    was = model.training
    model.eval()
    try:
        logits, atts = model(x, return_attention=True)
    finally:
        model.train(was)
    return logits, torch.stack(atts)


def fuse_heads(att: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """``(..., heads, T, T) -> (..., T, T)``: the mean (Abnar & Zuidema), max or min over heads."""
    if how == "mean":
        return att.mean(-3)
    if how == "max":
        return att.amax(-3)
    if how == "min":
        return att.amin(-3)
    raise ValueError(f"head fusion must be one of {HEAD_FUSIONS}, not {how!r}")


def rollout(att: torch.Tensor, head_fusion: str = "mean", residual: float = 0.5,
            start_layer: int = 0) -> torch.Tensor:
    """Attention rollout ``(L, B, heads, T, T) -> (B, T, T)`` (Abnar & Zuidema 2020).

    For each layer from ``start_layer`` on: fuse the heads, ``Â = (1 - residual) A + residual I``,
    divide each row by its sum (the fused rows of max/min do not sum to 1), and multiply the layers
    in order, ``Ã = Â_L ... Â_1``; every row of the result sums to 1."""
    if not 0.0 <= residual <= 1.0:
        raise ValueError("residual must be in [0, 1]")
    L, B, _, T, _ = att.shape
    eye = torch.eye(T, dtype=att.dtype, device=att.device)
    out = eye.expand(B, T, T).clone()
    for layer in range(start_layer, L):
        a = fuse_heads(att[layer], head_fusion)                              # (B, T, T)
        a = (1.0 - residual) * a + residual * eye
        a = a / a.sum(-1, keepdim=True)                                       # re-normalise the rows
        out = a @ out                                                         # Ã_l = Â_l Ã_{l-1}
    return out


def cls_rollout_map(att: torch.Tensor, grid: int, **kw) -> torch.Tensor:
    """The [CLS] row of the rollout over the patches, as ``(B, g, g)`` maps, re-scaled to sum to 1."""
    r = rollout(att, **kw)[:, 0, 1:]                                          # (B, N)
    r = r / r.sum(-1, keepdim=True).clamp_min(1e-12)
    return r.reshape(-1, grid, grid)


def cls_attention_map(att: torch.Tensor, layer: int, head: int | None, grid: int) -> torch.Tensor:
    """Raw attention of [CLS] to each patch in one layer: ``(B, g, g)`` for ``head`` (None: head mean).
    Does not sum to 1 over the patches: the rest goes to [CLS] itself."""
    a = att[layer]                                                            # (B, heads, T, T)
    row = a.mean(1)[:, 0, 1:] if head is None else a[:, head, 0, 1:]         # (B, N)
    return row.reshape(-1, grid, grid)


def cosine_similarity_matrix(e: torch.Tensor) -> torch.Tensor:
    """``(N, D) -> (N, N)``: ``cos(e_i, e_j)``."""
    n = e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return n @ n.T


def position_similarity(model: nn.Module) -> np.ndarray | None:
    """Dosovitskiy et al. Fig. 7 (centre): ``(g, g, g, g)`` with ``[i, j]`` the ``g x g`` map of cosine
    similarities between patch ``(i, j)``'s position embedding and every patch's. None without positions."""
    pe = model.position_embeddings()
    if pe is None:
        return None
    g = model.grid
    with torch.no_grad():
        s = cosine_similarity_matrix(pe[1:].detach().float())                # (N, N) patches only
    return s.reshape(g, g, g, g).numpy()


def position_locality(sim: np.ndarray) -> float:
    """How local the position embeddings are: the correlation over all patch pairs between cosine
    similarity and minus their grid distance (1: similarity falls off exactly with distance)."""
    g = sim.shape[0]
    ii, jj = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
    coords = np.stack([ii.ravel(), jj.ravel()], 1)                          # (N, 2)
    d = np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(-1))            # (N, N)
    s = sim.reshape(g * g, g * g)
    off = ~np.eye(g * g, dtype=bool)
    return float(np.corrcoef(s[off], -d[off])[0, 1])


def _grid_coords(g: int) -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(np.arange(g), g), np.tile(np.arange(g), g)          # row, column of patch k (row-major)


def row_col_contrast(sim: np.ndarray) -> float:
    """Fig. 7's row/column structure: the mean cosine similarity of pairs of patches in the same row or
    the same column minus the mean over all other pairs (self-pairs excluded). 0 for no such structure."""
    g = sim.shape[0]
    s = sim.reshape(g * g, g * g)
    r, c = _grid_coords(g)
    off = ~np.eye(g * g, dtype=bool)
    same = ((r[:, None] == r[None]) | (c[:, None] == c[None])) & off
    return float(s[same].mean() - s[off & ~same].mean())


def radial_order(sim: np.ndarray) -> float:
    """How much the embeddings code the distance from the image centre: the correlation over all pairs of
    patches between cosine similarity and minus the difference of their distances from the centre (1: patches
    equally far from the centre have equal embeddings, wherever they are). A ring code like this makes
    :func:`position_locality` negative: opposite patches on one ring are far apart yet alike."""
    g = sim.shape[0]
    r, c = _grid_coords(g)
    rho = np.hypot(r - (g - 1) / 2, c - (g - 1) / 2)
    d = np.abs(rho[:, None] - rho[None])
    off = ~np.eye(g * g, dtype=bool)
    return float(np.corrcoef(sim.reshape(g * g, g * g)[off], -d[off])[0, 1])


@dataclass
class PositionStructure:
    """The spatial order in a position-similarity map, each score beside its value when the patches'
    positions are shuffled (a random relabelling of the grid keeps every similarity, destroys the layout)."""

    locality: float            # corr(similarity, -grid distance)
    row_col: float             # row_col_contrast
    radial: float              # radial_order
    null_mean: dict[str, float]
    null_std: dict[str, float]
    p_value: dict[str, float]  # share of shuffles scoring at least as high (one-sided)

    def z(self, name: str) -> float:
        sd = self.null_std[name]
        return (getattr(self, name) - self.null_mean[name]) / sd if sd > 0 else float("nan")


def _structure_scores(s: np.ndarray, r: np.ndarray, c: np.ndarray, g: int) -> dict[str, np.ndarray]:
    """The three scores of similarity matrix ``s (N, N)`` for ``K`` assignments of grid coordinates to the
    patches at once (``r``, ``c``: ``(K, N)`` rows and columns); the identity assignment gives the plain scores."""
    N = s.shape[0]
    off = ~np.eye(N, dtype=bool)
    sv = s[off]                                                         # (M,) off-diagonal similarities
    rr, cc = r[:, :, None], c[:, :, None]
    same = ((rr == r[:, None]) | (cc == c[:, None]))[:, off]           # (K, M)
    contrast = (same * sv).sum(1) / same.sum(1) - (~same * sv).sum(1) / (~same).sum(1)
    dist = np.hypot(rr - r[:, None], cc - c[:, None])[:, off]
    rho = np.hypot(r - (g - 1) / 2, c - (g - 1) / 2)
    ring = np.abs(rho[:, :, None] - rho[:, None])[:, off]

    def corr(x: np.ndarray) -> np.ndarray:                             # Pearson of sv with each row of -x
        xm, sm = -x - (-x).mean(1, keepdims=True), sv - sv.mean()
        return (xm * sm).sum(1) / np.sqrt((xm ** 2).sum(1) * (sm ** 2).sum())

    return {"locality": corr(dist), "row_col": contrast, "radial": corr(ring)}


def position_structure(sim: np.ndarray, shuffles: int = 200, seed: int = 0) -> PositionStructure:
    """:func:`position_locality`, :func:`row_col_contrast` and :func:`radial_order` of ``sim (g, g, g, g)``,
    each against ``shuffles`` random permutations of the patches (deterministic given ``seed``). Shuffling the
    patches is the same as shuffling which grid cell each patch is given, so the shuffles are scored at once."""
    g = sim.shape[0]
    s = sim.reshape(g * g, g * g).astype(np.float64)
    r, c = (a.astype(np.float32) for a in _grid_coords(g))
    obs = {k: float(v[0]) for k, v in _structure_scores(s, r[None], c[None], g).items()}
    rng = np.random.default_rng(seed)
    q = np.stack([rng.permutation(g * g) for _ in range(shuffles)])      # (K, N)
    arr = _structure_scores(s, r[q], c[q], g)
    return PositionStructure(obs["locality"], obs["row_col"], obs["radial"],
                             {k: float(v.mean()) for k, v in arr.items()}, {k: float(v.std()) for k, v in arr.items()},
                             {k: float((arr[k] >= obs[k] - 1e-12).mean()) for k in arr})


@dataclass
class AttentionResult:
    logits: torch.Tensor        # (B, classes)
    att: torch.Tensor           # (L, B, heads, T, T)
    grid: int

    @property
    def probs(self) -> np.ndarray:
        return torch.softmax(self.logits, -1).numpy()

    def head_maps(self, i: int = 0) -> np.ndarray:
        """``(L, heads, g, g)``: [CLS] -> patch attention of image ``i`` in every layer and head."""
        a = self.att[:, i, :, 0, 1:]                                          # (L, heads, N)
        return a.reshape(a.shape[0], a.shape[1], self.grid, self.grid).numpy()

    def rollout_map(self, i: int = 0, **kw) -> np.ndarray:
        return cls_rollout_map(self.att[:, i:i + 1], self.grid, **kw)[0].numpy()

    def entropy(self) -> np.ndarray:
        """``(L, heads)``: mean entropy (nats) of the attention rows, over images and query tokens."""
        a = self.att.clamp_min(1e-12)
        return (-(a * a.log()).sum(-1)).mean((1, 3)).numpy()


def analyse(model: nn.Module, x: torch.Tensor) -> AttentionResult:
    """Attention of a ViT on images ``(B, C, H, W)`` (or one ``(C, H, W)``)."""
    if x.ndim == 3:
        x = x[None]
    logits, att = attention_maps(model, x)
    return AttentionResult(logits, att, model.grid)


def patch_shift_errors(model: nn.Module, x: torch.Tensor, shifts: list[int]) -> dict[int, dict[str, float]]:
    """The Equivariance page's measure (:func:`dlviz.equivariance.core.equivariance_error`, circular shifts
    to the right) for each shift in pixels: ``{shift: {stage: relative error}}``. A ViT's patch tokens
    are a map with stride ``p``, so a shift by a multiple of ``p`` has an exact matching token shift;
    other shifts (``T'`` rounded) cannot be matched."""
    from dlviz.equivariance.core import Transform, equivariance_error

    return {s: {r.name: r.error for r in equivariance_error(model, x, Transform("shift", 0, s))} for s in shifts}


def logit_shift_errors(model: nn.Module, x: torch.Tensor, shifts: list[int]) -> dict[int, float]:
    """The same measure on the logits only (the invariance error), for any classifier -- e.g. a CNN whose
    ``feature_maps`` stop before its head."""
    from dlviz.equivariance.core import Transform, equivariance_error

    logits_only = nn.Sequential(model)                 # no feature_maps: the measure sees model(x)
    return {s: equivariance_error(logits_only, x, Transform("shift", 0, s))[0].error for s in shifts}
