"""Name -> factory mappings for every choice a config or a sweep varies.

Each concept module owns its registry (``noise.NOISES``, ``losses.LOSSES`` ...);
this module holds the mechanism and finds a registry by kind for validation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from noise2noise.errors import N2NError

T = TypeVar("T")

# kind -> (module, attribute) of the registry that holds its names
_WHERE = {
    "noise": ("noise2noise.noise", "NOISES"),
    "arch": ("noise2noise.unet", "ARCHS"),
    "init": ("noise2noise.inits", "INITS"),
    "loss": ("noise2noise.losses", "LOSSES"),
    "optimizer": ("noise2noise.optim", "OPTIMIZERS"),
    "schedule": ("noise2noise.optim", "SCHEDULES"),
    "mode": ("noise2noise.data", "MODES"),
    "augment": ("noise2noise.augment", "AUGMENTS"),
}


class Registry(dict[str, Any]):
    """A dict of name -> factory whose missing names give a helpful error."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        def add(factory: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self[name] = factory
            return factory

        return add

    def __missing__(self, name: str) -> Any:
        raise N2NError(f"unknown {self.kind} {name!r}; choose from {', '.join(sorted(self))}")


def get(kind: str) -> Registry:
    """The registry of one kind ('noise', 'loss', ...)."""
    module, attribute = _WHERE[kind]
    return getattr(importlib.import_module(module), attribute)


def check(kind: str, name: str) -> None:
    get(kind)[name]  # raises N2NError for an unknown name


def kinds() -> list[str]:
    return list(_WHERE)
