"""A registry of the app's models (in the spirit of timm).

Each model is a small ``nn.Module`` whose ``__init__`` takes one ``@dataclass`` config and keeps it as
``self.config``; it is registered under a name with :func:`register_model`. A checkpoint stores the name
and the config beside the weights, so :func:`build_model` rebuilds the exact architecture. Tests are
parametrised over :func:`all_models`, so a new model is tested the moment it is registered.

Registration happens when the model's module is imported; :func:`all_models` imports every module of
this package first, so nothing needs to be listed by hand.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

from torch import nn

_MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str):
    """Class decorator: ``@register_model("small_cnn")`` on a module class with a ``Config`` dataclass."""

    def deco(cls):
        if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
            raise TypeError(f"{cls.__name__} needs a nested @dataclass named Config")
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        cls.arch_name = name
        _MODELS[name] = cls
        return cls

    return deco


def _discover() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def all_models() -> dict[str, type[nn.Module]]:
    _discover()
    return dict(_MODELS)


def model_class(name: str) -> type[nn.Module]:
    if name not in _MODELS:
        _discover()
    if name not in _MODELS:
        raise KeyError(f"no model registered as {name!r}; known: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(cls: type[nn.Module], data: dict) -> Any:
    """Rebuild ``cls.Config`` from a plain dict (lists become tuples where the default is a tuple)."""
    cfg_cls = cls.Config
    fields = {f.name: f for f in dataclasses.fields(cfg_cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise TypeError(f"unknown config field(s) {sorted(unknown)} for {cls.__name__}")
    kwargs = {}
    for k, v in data.items():
        default = fields[k].default
        kwargs[k] = tuple(v) if isinstance(v, list) and isinstance(default, tuple) else v
    return cfg_cls(**kwargs)


def build_model(name: str, config: Any = None, **overrides: Any) -> nn.Module:
    """Build a registered model from a config object, a dict, or the defaults plus ``overrides``."""
    cls = model_class(name)
    if config is None:
        config = cls.Config(**overrides)
    elif isinstance(config, dict):
        config = config_from_dict(cls, {**config, **overrides})
    elif overrides:
        config = dataclasses.replace(config, **overrides)
    return cls(config)
