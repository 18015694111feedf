"""Where and how torch runs: device choice, thread count and seeding.

One place for the session settings that every page shares (the sidebar "session" area) and that the
CLI and the tests use, so a run is reproducible from its card.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def available_devices() -> list[str]:
    """Devices usable here, best first is *not* implied: ``cpu`` always comes first."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def default_device() -> str:
    """CUDA when present, then MPS, else CPU. ``DLVIZ_DEVICE`` overrides."""
    env = os.environ.get("DLVIZ_DEVICE")
    if env:
        return env
    devs = available_devices()
    return devs[-1] if len(devs) > 1 else "cpu"


def set_threads(n: int) -> int:
    """Set torch's intra-op thread count (clamped to [1, cpu count]); returns the value set."""
    n = max(1, min(int(n), os.cpu_count() or 1))
    torch.set_num_threads(n)
    return n


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a fresh torch.Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def versions() -> dict[str, str]:
    """Library versions written into checkpoint cards."""
    import platform

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    try:
        import torchvision

        out["torchvision"] = torchvision.__version__
    except Exception:  # pragma: no cover - torchvision optional for the library
        pass
    return out
