"""Checkpoints: weights + model config + a JSON card, saved atomically and loaded safely.

A checkpoint file (``NAME.pt``) holds ``{"format", "arch", "config", "state_dict"}`` and is read with
``torch.load(weights_only=True)``: nothing is ever unpickled beyond tensors and plain containers. Its card
(``NAME.json``, beside it) says how it was made: dataset, seed, steps, wall time, final metrics, the claims
a test checks, library versions, and the command that reproduces it.

Shipped checkpoints live in the repository's ``checkpoints/`` folder; :func:`shipped` lists them and
:func:`load_shipped` loads one by name. Every failure to load raises :class:`CheckpointError` whose
message is meant for the user.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlviz.models import build_model, config_to_dict, model_class

FORMAT = "dlviz-checkpoint/1"
CHECKPOINT_DIR = Path(os.environ.get("DLVIZ_CHECKPOINTS", Path(__file__).resolve().parent.parent / "checkpoints"))


class CheckpointError(ValueError):
    """A checkpoint could not be loaded; the message says why in words a user understands."""


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _payload_and_card(model: nn.Module, name: str, card: dict | None) -> tuple[dict, dict]:
    from dlviz.runtime import versions

    arch = getattr(model, "arch_name", None)
    if arch is None:
        raise CheckpointError(f"{type(model).__name__} is not a registered model (use @register_model)")
    config = config_to_dict(model.config)
    payload = {"format": FORMAT, "arch": arch, "config": config,
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    full_card = {"name": name, "arch": arch, "config": config, **(card or {})}
    full_card.setdefault("versions", versions())
    full_card["parameters"] = int(sum(p.numel() for p in model.parameters()))
    return payload, full_card


def card_json(card: dict) -> str:
    return json.dumps(card, indent=2, default=_json_default) + "\n"


def save_checkpoint(path: str | Path, model: nn.Module, card: dict | None = None) -> Path:
    """Write ``path`` (``.pt``) and its card (``.json``). Both appear whole or not at all."""
    path = Path(path).with_suffix(".pt")
    payload, full_card = _payload_and_card(model, path.stem, card)
    _atomic_write(path, lambda f: torch.save(payload, f))
    _atomic_write(path.with_suffix(".json"), lambda f: f.write(card_json(full_card).encode()))
    return path


def checkpoint_bytes(model: nn.Module, card: dict | None = None, name: str = "my_model") -> bytes:
    """One ``.pt`` file, for a download: the weights, the config and the card (as a JSON string inside, so
    the file alone rebuilds the model and says how it was made). ``load_checkpoint`` reads it back."""
    payload, full_card = _payload_and_card(model, name, card)
    payload["card_json"] = card_json(full_card)
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def _json_default(o: Any):
    if isinstance(o, (torch.Tensor,)):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def read_payload(source: str | Path | bytes | io.IOBase) -> dict:
    """Read and validate a checkpoint's payload without building the model."""
    try:
        if isinstance(source, (bytes, bytearray)):
            source = io.BytesIO(source)
        elif isinstance(source, (str, Path)) and not Path(source).is_file():
            raise CheckpointError(f"No checkpoint file at {source}.")
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError,
            AttributeError, TypeError, KeyError, IndexError) as e:
        raise CheckpointError("This file is not a dlviz checkpoint (it could not be read as safe torch "
                              f"weights: {type(e).__name__}).") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        if isinstance(payload, dict) and all(isinstance(v, torch.Tensor) for v in payload.values()):
            raise CheckpointError("This is a bare state dict, not a dlviz checkpoint: it does not say which "
                                  "model it belongs to. Save it with dlviz.checkpoints.save_checkpoint.")
        raise CheckpointError("This file is not a dlviz checkpoint (no dlviz format tag).")
    for key in ("arch", "config", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"The checkpoint is incomplete: it has no {key!r}.")
    return payload


def load_checkpoint(source: str | Path | bytes | io.IOBase, expected_arch: str | tuple[str, ...] | None = None,
                    device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Load a checkpoint strictly; returns ``(model in eval mode, card)``.

    ``expected_arch`` (a name or names) rejects checkpoints of other models with a clear message.
    """
    payload = read_payload(source)
    arch = payload["arch"]
    if expected_arch is not None:
        allowed = (expected_arch,) if isinstance(expected_arch, str) else tuple(expected_arch)
        if arch not in allowed:
            raise CheckpointError(f"This checkpoint is for a {arch!r} model, but this page needs "
                                  f"{' or '.join(repr(a) for a in allowed)}.")
    try:
        model_class(arch)
    except KeyError as e:
        raise CheckpointError(f"The checkpoint is for an unknown model {arch!r}.") from e
    try:
        model = build_model(arch, payload["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"The checkpoint's config does not fit the {arch!r} model: {e}") from e
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CheckpointError(f"The weights do not match the {arch!r} model they claim to be for ({first}).") from e
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"The checkpoint's weights are not all finite (NaN or inf in {len(bad)} tensor"
                              f"{'s' if len(bad) > 1 else ''}, first {bad[0]!r}): a run that diverged saved it; "
                              "nothing it computes would mean anything.")
    card = {}
    if isinstance(payload.get("card_json"), str):           # a downloaded checkpoint carries its card
        try:
            card = dict(json.loads(payload["card_json"]))
        except (json.JSONDecodeError, TypeError, ValueError):
            card = {}
    if isinstance(source, (str, Path)):
        card_path = Path(source).with_suffix(".json")
        if card_path.is_file():
            try:
                card = json.loads(card_path.read_text())
            except json.JSONDecodeError:
                card = {}
    card.setdefault("arch", arch)
    card.setdefault("config", payload["config"])
    return model.to(device).eval(), card


@dataclass(frozen=True)
class ShippedCheckpoint:
    name: str
    path: Path
    card: dict

    @property
    def arch(self) -> str:
        return self.card.get("arch", "")


def shipped(directory: str | Path | None = None) -> dict[str, ShippedCheckpoint]:
    """Every checkpoint in the checkpoints folder that has both its ``.pt`` and its ``.json`` card."""
    d = Path(directory) if directory else CHECKPOINT_DIR
    out = {}
    for card_path in sorted(d.glob("*.json")):
        pt = card_path.with_suffix(".pt")
        if pt.is_file():
            try:
                card = json.loads(card_path.read_text())
            except json.JSONDecodeError:
                continue
            out[card_path.stem] = ShippedCheckpoint(card_path.stem, pt, card)
    return out


def load_shipped(name: str, expected_arch: str | tuple[str, ...] | None = None,
                 device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    ck = shipped().get(name)
    if ck is None:
        raise CheckpointError(f"No shipped checkpoint named {name!r}. Reproduce it with "
                              f"`python -m dlviz.train {name}`.")
    return load_checkpoint(ck.path, expected_arch=expected_arch, device=device)
