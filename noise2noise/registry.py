"""Every choice a config or a sweep varies: name -> implementation, plus the facts a config checks.

The entries of the config's choices are declared here, once, without importing torch:
each names where its implementation lives (``"module:attribute"``, imported on first
use) and carries the facts ``TrainConfig`` checks (a noise's default level and range, an
augmentation that moves pixels ...). So a config is built and validated, and ``n2n
--help`` runs, without loading PyTorch; ``NOISES["gaussian"]`` gives the class itself.
The concept modules hold the implementations and re-export their registry
(``noise.NOISES``, ``losses.LOSSES`` ...).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from noise2noise.errors import N2NError


@dataclass(frozen=True)
class Entry:
    """One registered name: its implementation (or where it lives) and its facts."""

    kind: str
    name: str
    target: Any  # the implementation, or "module:attribute" to import on first use
    facts: Mapping[str, Any]

    def __getattr__(self, fact: str) -> Any:  # entry.default_level, entry.moves_pixels ...
        facts = self.__dict__.get("facts", {})
        if fact in facts:
            return facts[fact]
        raise AttributeError(f"{self.kind} {self.name!r} has no fact {fact!r}")

    def load(self) -> Any:
        if not isinstance(self.target, str):
            return self.target
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


class Registry(Mapping[str, Any]):
    """Name -> implementation; unknown names give a one-line error listing the choices.

    ``facts`` are the facts every entry of this kind carries, with their defaults; an
    entry that names another fact is a programming error, caught when it is declared."""

    def __init__(self, kind: str, **facts: Any) -> None:
        self.kind = kind
        self.fact_defaults = facts
        self._entries: dict[str, Entry] = {}
        self._loaded: dict[str, Any] = {}

    def register(self, name: str, target: Any = None, **facts: Any) -> Any:
        """Add ``name``: ``register(name, "module:attribute", fact=...)`` or, as a decorator,
        ``@register(name, fact=...)`` over the implementation."""
        if target is None:
            def add(implementation: Any) -> Any:
                self.register(name, implementation, **facts)
                return implementation

            return add
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        unknown = set(facts) - set(self.fact_defaults)
        if unknown:
            raise ValueError(f"{self.kind} {name!r}: unknown facts {sorted(unknown)}; "
                             f"{self.kind} entries carry {sorted(self.fact_defaults)}")
        self._entries[name] = Entry(self.kind, name, target, {**self.fact_defaults, **facts})
        return self._entries[name]

    def entry(self, name: str) -> Entry:
        """The declaration of ``name`` (its facts), without importing its implementation."""
        if not isinstance(name, str) or name not in self._entries:
            raise N2NError(f"unknown {self.kind} {name!r}; choose from {', '.join(sorted(self._entries))}")
        return self._entries[name]

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            self._loaded[name] = self.entry(name).load()
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class LevelRange:
    """The noise levels a noise model takes, ``low`` <= level <= ``high`` (strict where open)."""

    meaning: str
    low: float = 0.0
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    example: str = ""

    def check(self, noise: str, level: tuple[float, float]) -> None:
        lo, hi = level
        if (lo <= self.low if self.low_open else lo < self.low) or \
                (hi >= self.high if self.high_open else hi > self.high):
            shown = f"{lo:g}" if lo == hi else f"'{lo:g},{hi:g}'"
            closing = ")" if self.high_open or math.isinf(self.high) else "]"
            interval = f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{closing}"
            raise N2NError(f"config field noise_level={shown} is outside {interval}: for noise={noise!r} it is "
                           f"the {self.meaning}; use e.g. {self.example}")


_PROBABILITY = {"low": 0.0, "high": 1.0, "high_open": True, "example": "0.5 or '0,0.9'"}
_SIGMA = LevelRange("sigma in 0..255 pixel units", high=255.0, example="25 or '0,50'")  # gaussian, gaussian-correlated

# `recommended_loss`: the loss whose minimiser recovers the clean image from noisy targets
# (l2, their mean, for zero-mean noise and for the kept pixels of bernoulli); `masks_pixels`:
# the loss counts only some pixels of each target; `sigma_input`: a network can be told the
# level (TrainConfig.sigma_input), a Gaussian sigma that can also be estimated from an image;
# `mean_match`: the noise is zero-mean Gaussian before clipping, so a denoised image's channel
# means can be checked against the noisy image's (denoise.match_means)
NOISES = Registry("noise", default_level=None, levels=None, recommended_loss="l2", masks_pixels=False,
                  sigma_input=False, mean_match=False)
NOISES.register("gaussian", "noise2noise.noise:GaussianNoise", default_level=(25.0, 25.0), levels=_SIGMA,
                sigma_input=True, mean_match=True)
# the colour channels' noise correlated by rho, drawn per image in 0..1: a camera's noise after
# demosaicing is; a network trained on independent noise keeps about rho of it (docs/models.md)
NOISES.register("gaussian-correlated", "noise2noise.noise:ChannelCorrelatedGaussianNoise", default_level=(25.0, 25.0),
                levels=_SIGMA, sigma_input=True, mean_match=True)
NOISES.register("poisson", "noise2noise.noise:PoissonNoise", default_level=(30.0, 30.0),
                # above 1e9 (noise under 0.01 grey level) torch.poisson's int64 counts overflow to black;
                # below 1e-3 a white pixel counts under 1/1000 photon (1e-46 underflowed to NaN, then black)
                levels=LevelRange("photon scale lambda (larger is less noise; 1e9 is under 0.01 grey level, "
                                  "1e-3 is under one photon per 1000 white pixels)",
                                  low=1e-3, high=1e9, example="30 or '5,50'"))
NOISES.register("bernoulli", "noise2noise.noise:BernoulliNoise", default_level=(0.5, 0.5),
                levels=LevelRange("drop probability p", **_PROBABILITY),
                masks_pixels=True)  # the loss counts only the target's kept pixels
NOISES.register("impulse", "noise2noise.noise:ImpulseNoise", default_level=(0.5, 0.5),
                levels=LevelRange("replacement probability p", **_PROBABILITY),
                recommended_loss="l0")  # annealed L0 seeks the mode of the targets (the paper)
NOISES.register("text", "noise2noise.noise:TextNoise", default_level=(0.25, 0.25),
                levels=LevelRange("share of pixels covered, p", **_PROBABILITY),
                recommended_loss="l1")  # the median of the targets ignores the text (p < 0.5)

ARCHS = Registry("arch")
ARCHS.register("unet", "noise2noise.unet:UNet")

INITS = Registry("init")
INITS.register("default", "noise2noise.inits:default_init")
for _name in ("kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "normal", "sparse", "constant"):
    INITS.register(_name, f"noise2noise.inits:{_name}")

# `output`: the activation the network's last layer needs (a name in unet.OUTPUTS);
# `targets_in_0_1`: the loss is only defined for targets in [0, 1]
LOSSES = Registry("loss", output="linear", targets_in_0_1=False)
for _name in ("l2", "l1", "huber", "l0"):
    LOSSES.register(_name, f"noise2noise.losses:{_name}")
LOSSES.register("bce", "noise2noise.losses:bce", output="sigmoid", targets_in_0_1=True)

OPTIMIZERS = Registry("optimizer")
for _name in ("adam", "adamw", "sgd", "rmsprop"):
    OPTIMIZERS.register(_name, f"noise2noise.optim:{_name}")

SCHEDULES = Registry("schedule")
for _name in ("constant", "cosine", "linear", "rampdown", "onecycle"):
    SCHEDULES.register(_name, f"noise2noise.optim:{_name}")

# `takes_noisy_images`: trains from single noisy images (noisy_data); `masks_pixels`: its
# targets are per-pixel masked
MODES = Registry("mode", takes_noisy_images=False, masks_pixels=False)
MODES.register("noise2noise", "noise2noise.data:noise2noise_pairs")
MODES.register("noise2clean", "noise2noise.data:noise2clean_pairs")
MODES.register("neighbor2neighbor", "noise2noise.data:neighbor2neighbor_pairs", takes_noisy_images=True,
               masks_pixels=True)

# `moves_pixels`: a geometric change, after which a per-pixel target mask no longer lines up
AUGMENTS = Registry("augment", moves_pixels=False)
AUGMENTS.register("none", "noise2noise.augment:none")
AUGMENTS.register("gaussian", "noise2noise.augment:gaussian")
AUGMENTS.register("dihedral", "noise2noise.augment:dihedral", moves_pixels=True)
AUGMENTS.register("crop", "noise2noise.augment:crop", moves_pixels=True)
AUGMENTS.register("channels", "noise2noise.augment:channels")  # per-pixel masks are N×1×H×W: they stay

# how init_weights grows a narrower network into the config's width (unet.embedded_state)
GROWTHS = Registry("growth")
GROWTHS.register("zero", "noise2noise.unet:zero_growth")  # new channels: zero weight into the old ones
GROWTHS.register("split", "noise2noise.unet:split_growth")  # new channels: copies sharing the old ones' weight

_BY_KIND = {r.kind: r for r in (NOISES, ARCHS, INITS, LOSSES, OPTIMIZERS, SCHEDULES, MODES, AUGMENTS, GROWTHS)}


def get(kind: str) -> Registry:
    """The registry of one kind ('noise', 'loss', ...)."""
    return _BY_KIND[kind]


def check(kind: str, name: str) -> None:
    _BY_KIND[kind].entry(name)  # raises N2NError for an unknown name


def kinds() -> list[str]:
    return list(_BY_KIND)
