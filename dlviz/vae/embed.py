"""Two-dimensional maps of a VAE's latent codes: exact for a 2-D latent, PCA at once for more, and
UMAP (McInnes et al. 2018) computed in a background thread so that a page never waits for it.

umap-learn (and numba, whose first compile takes ~10 s) is imported only inside the worker thread.
A finished UMAP embedding can be cached in a small ``.npz`` beside a shipped checkpoint; the cache
carries a fingerprint of the codes it was computed from and is ignored when they differ.

A path through latent space (an interpolation) is drawn on the same map: through the exact linear
projection for the 2-D latent and PCA, and for UMAP by placing each point at the distance-weighted
mean of the map positions of its nearest codes (the way UMAP itself initialises new points).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Projection:
    """A linear map ``codes (N, D) -> (N, 2)``: ``(codes - mean) @ components.T``."""

    mean: np.ndarray          # (D,)
    components: np.ndarray    # (2, D), orthonormal rows
    explained: np.ndarray     # (2,) fraction of the codes' variance along each axis
    method: str = "pca"

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        return (np.asarray(codes, dtype=np.float64) - self.mean) @ self.components.T


def pca_projection(codes: np.ndarray) -> Projection:
    """The two principal axes of ``codes (N, D)``. For ``D <= 2`` the identity (padded), so a 2-D
    latent is drawn exactly as it is."""
    codes = np.asarray(codes, dtype=np.float64)
    n, d = codes.shape
    if d <= 2:
        comp = np.eye(2, d)
        var = codes.var(0) if n else np.zeros(d)
        tot = var.sum() or 1.0
        expl = np.array([var[i] / tot if i < d else 0.0 for i in range(2)])
        return Projection(np.zeros(d), comp, expl, method="identity")
    mean = codes.mean(0)
    _, s, vt = np.linalg.svd(codes - mean, full_matrices=False)
    # a deterministic sign: the largest-magnitude entry of each axis is positive
    signs = np.sign(vt[np.arange(2), np.abs(vt[:2]).argmax(1)])
    signs[signs == 0] = 1.0
    comp = vt[:2] * signs[:, None]
    tot = (s ** 2).sum() or 1.0
    return Projection(mean, comp, (s[:2] ** 2) / tot, method="pca")


def knn_place(points: np.ndarray, codes: np.ndarray, embedding: np.ndarray, k: int = 8) -> np.ndarray:
    """Place new codes ``points (M, D)`` on a nonlinear map: the inverse-distance weighted mean of the
    map positions ``embedding (N, 2)`` of their ``k`` nearest ``codes (N, D)``. A point equal to a
    code lands exactly on that code's position."""
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    codes = np.asarray(codes, dtype=np.float64)
    k = max(1, min(k, len(codes)))
    d2 = ((points[:, None, :] - codes[None, :, :]) ** 2).sum(-1)            # (M, N)
    idx = np.argpartition(d2, k - 1, axis=1)[:, :k]                          # (M, k)
    dist = np.sqrt(np.take_along_axis(d2, idx, 1))
    out = np.empty((len(points), 2))
    for i in range(len(points)):
        if dist[i].min() < 1e-9:
            out[i] = embedding[idx[i, dist[i].argmin()]]
            continue
        w = 1.0 / dist[i]
        out[i] = (w[:, None] * embedding[idx[i]]).sum(0) / w.sum()
    return out


PROBE = 64       # the first codes, stored beside the fingerprint for a tolerant comparison


def fingerprint(codes: np.ndarray) -> str:
    """A short hash of codes rounded to 1e-4 (robust to last-bit differences between machines)."""
    q = np.round(np.asarray(codes, dtype=np.float64), 4).astype(np.float32)
    return hashlib.sha256(q.tobytes() + str(q.shape).encode()).hexdigest()[:16]


def umap_embedding(codes: np.ndarray, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """UMAP of ``codes (N, D)`` to ``(N, 2)``, deterministic for a seed (slow: run it off the page)."""
    import umap  # slow import (numba): only here

    codes = np.asarray(codes, dtype=np.float32)
    n_neighbors = max(2, min(n_neighbors, len(codes) - 1))
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed,
                        n_jobs=1, init="spectral" if len(codes) > n_neighbors + 2 else "random")
    return np.asarray(reducer.fit_transform(codes), dtype=np.float32)


def save_cache(path: str | Path, codes: np.ndarray, embedding: np.ndarray) -> Path:
    path = Path(path)
    np.savez_compressed(path, embedding=np.asarray(embedding, np.float32), fingerprint=fingerprint(codes),
                        probe=np.asarray(codes[:PROBE], np.float32))
    return path


def umap_cache_path(name: str) -> Path:
    """Where shipped checkpoint ``name``'s UMAP embedding is cached: beside the checkpoint."""
    from dlviz.checkpoints import CHECKPOINT_DIR

    return CHECKPOINT_DIR / f"{name}.umap.npz"


def load_cache(path: str | Path, codes: np.ndarray) -> np.ndarray | None:
    """The cached embedding when the file exists and was made from these codes, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            emb, fp = f["embedding"], str(f["fingerprint"])
            probe = f["probe"] if "probe" in f.files else None
    except (OSError, KeyError, ValueError):
        return None
    if emb.shape != (len(codes), 2):
        return None
    if fp == fingerprint(codes):
        return emb.astype(np.float64)
    # Another CPU (other SIMD kernels, another thread count) encodes the same checkpoint a few ulps apart, and
    # that can flip the 1e-4 rounding of the fingerprint: compare the first codes with a tolerance instead.
    if probe is not None and probe.shape == codes[:PROBE].shape and np.allclose(codes[:PROBE], probe, atol=1e-3):
        return emb.astype(np.float64)
    return None


@dataclass
class EmbeddingJob:
    """A UMAP computed in a daemon thread; read ``done``, ``embedding``, ``error`` from any thread."""

    codes: np.ndarray
    seed: int = 0
    embedding: np.ndarray | None = None
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0
    _thread: threading.Thread | None = None

    def start(self) -> EmbeddingJob:
        self._thread = threading.Thread(target=self._work, name="dlviz-vae-umap", daemon=True)
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            self.embedding = umap_embedding(self.codes, self.seed)
        except Exception as e:  # noqa: BLE001 - shown on the page as a message, PCA stays
            self.error = f"UMAP failed: {type(e).__name__}: {e}"
        finally:
            self.seconds = time.perf_counter() - self.started

    @property
    def done(self) -> bool:
        return self.embedding is not None or self.error is not None

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done


_JOBS: dict[str, EmbeddingJob] = {}
_JOBS_LOCK = threading.Lock()
MAX_JOBS = 16


def umap_job(key: str, codes: np.ndarray, seed: int = 0, cache: str | Path | None = None) -> EmbeddingJob:
    """The UMAP job for ``key`` (shared by every session), started on first request.

    With ``cache``, a valid cached embedding finishes the job at once (no thread, no numba)."""
    with _JOBS_LOCK:
        job = _JOBS.get(key)
        if job is not None and job.error is None:
            return job
        if len(_JOBS) >= MAX_JOBS:           # forget the oldest finished jobs (live runs make many keys)
            for old in [k for k, j in _JOBS.items() if j.done][: len(_JOBS) - MAX_JOBS + 1]:
                del _JOBS[old]
        job = EmbeddingJob(np.asarray(codes, dtype=np.float32), seed)
        cached = load_cache(cache, codes) if cache is not None else None
        if cached is not None:
            job.embedding, job.seconds = cached, 0.0
        else:
            job.start()
        _JOBS[key] = job
        return job


def warm_umap() -> threading.Thread:
    """Import umap and compile numba's kernels in the background on a tiny problem, so that the
    first real UMAP on the page does not pay the ~10 s compile."""
    def work():
        with contextlib.suppress(Exception):      # warming is best effort
            umap_embedding(np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    t = threading.Thread(target=work, name="dlviz-vae-umap-warm", daemon=True)
    t.start()
    return t
