"""Test set-up: the repository root and app/ on sys.path (as Streamlit has them), CPU only, one seed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "app"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

os.environ.setdefault("DLVIZ_DEVICE", "cpu")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as app/Home.py sets it: background training threads
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# AppTest sessions send no heartbeats and many page tests train: no per-server run limit / queue in tests
# (tests/test_jobs.py tests the limit on registries of its own).
os.environ.setdefault("DLVIZ_MAX_RUNS", "64")


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch intra-op thread for every test module: the models are tiny, so one thread is as fast, and it
    is immune to OpenMP spin-waiting on a busy machine (and the same on every machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
