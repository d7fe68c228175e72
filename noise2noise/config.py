"""One typed configuration for a training run, validated when it is built.

The CLI, TOML files, sweeps and the Python API all build this same object; its
plain-dict form (``to_dict``) is saved beside every checkpoint and result.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import tomllib

from noise2noise.errors import N2NError

DEVICE_NAMES = re.compile(r"auto|cpu|cuda(:\d+)?|mps")  # what --device accepts everywhere
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$")
_UNIT_S = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration_s(text: str | float | int) -> float:
    """'10m' -> 600.0, '90s' -> 90.0, '1.5h' -> 5400.0, 45 -> 45.0."""
    budget = parse_budget(text)
    if budget.unit != "s":
        raise N2NError(f"{text!r} is not a duration; write e.g. 90s, 10m or 1h")
    return budget.amount


class Budget(NamedTuple):
    """How long a run trains: ``amount`` seconds of training, images seen, or steps."""

    amount: float
    unit: str  # "s", "images" or "steps"

    def __str__(self) -> str:
        return f"{self.amount:g}s" if self.unit == "s" else f"{self.amount:g} {self.unit}"


_WORK = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([km]?)\s*(images?|img|steps?|iterations?|its?)\s*$", re.IGNORECASE)


def parse_budget(text: str | float | int) -> Budget:
    """A training budget: a duration ('10m', '90s', '1.5h', 45 for seconds) or an amount of
    work ('300k images', '3000 steps'), which gives the same training however loaded the
    machine is."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not math.isfinite(text):
            raise N2NError(f"time_budget={text!r} must be a finite number of seconds")
        return Budget(float(text), "s")
    if isinstance(text, str):
        match = _DURATION.match(text)
        if match:
            return Budget(float(match.group(1)) * _UNIT_S[match.group(2)], "s")
        match = _WORK.match(text)
        if match:
            scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
            unit = "images" if match.group(3).lower().startswith("im") else "steps"
            return Budget(float(match.group(1)) * scale, unit)
    raise N2NError(f"budget {text!r} is neither a duration nor an amount of work; write e.g. 90s, 10m, 1h, "
                   "300k images or 3000 steps")


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Defaults are the recommended setting."""

    # data
    data: str = field(default="embedded", metadata=_help(
        "training data: 'embedded' (photos bundled with scikit-image), a folder of clean "
        "images, real noisy pairs (a folder holding A/ and B/, or name_1.*/name_2.* files; "
        "a .pkl/.pt/.npz of two N×C×H×W tensors), or single noisy images (--noisy-data)"))
    val_data: str | None = field(default=None, metadata=_help(
        "validation: a course val_data.pkl (noisy, clean) or a folder of clean images; "
        "default: held-out images of --data when it is clean photos"))
    noise: str = field(default="gaussian", metadata=_help(
        "noise model for clean images: gaussian, poisson, bernoulli, impulse or text"))
    noise_level: tuple[float, float] | None = field(default=None, metadata=_help(
        "noise strength: Gaussian sigma in 0..255 units, Poisson photon scale lambda, "
        "probability p of bernoulli/impulse, share of pixels covered by text; one value, or "
        "'lo,hi' for a range drawn per image (blind training); none: the noise's default "
        "(gaussian 25, poisson 30, bernoulli 0.5, impulse 0.5, text 0.25)"))
    clip: bool = field(default=True, metadata=_help(
        "clip noisy pixels to 0..255 as a camera would (false keeps the raw sum)"))
    mode: str = field(default="noise2noise", metadata=_help(
        "noise2noise (noisy targets), noise2clean (clean targets: the upper bound, needs "
        "clean images), neighbor2neighbor (pairs sub-sampled from single noisy images)"))
    noisy_data: bool = field(default=False, metadata=_help(
        "the images of --data already carry real noise: add none (mode neighbor2neighbor)"))
    nb2nb_gamma: float = field(default=2.0, metadata=_help(
        "weight of the Neighbor2Neighbor regulariser, ramped up from 0 over training "
        "(0: off)"))
    crop_px: int = field(default=32, metadata=_help("side of the random training crops"))
    pairs_per_epoch: int = field(default=50_000, metadata=_help(
        "crops drawn from clean images per epoch, each with two fresh noise draws"))
    val_fraction: float = field(default=0.15, metadata=_help(
        "share of a clean-image folder held out for validation (split by image)"))
    val_patches: int = field(default=500, metadata=_help(
        "validation crops cut from held-out images, with fixed noise"))
    # model
    arch: str = field(default="unet", metadata=_help("network architecture"))
    width: int = field(default=48, metadata=_help("encoder channels (paper: 48)"))
    depth: int = field(default=5, metadata=_help("number of 2x2 pools (paper: 5)"))
    init: str = field(default="xavier_normal", metadata=_help(
        "weight initialisation (Xavier, the seed study's best; the paper used kaiming_normal)"))
    # optimisation
    loss: str = field(default="l2", metadata=_help("training loss"))
    optimizer: str = field(default="adam", metadata=_help("optimiser"))
    lr: float = field(default=1e-3, metadata=_help("peak learning rate"))
    weight_decay: float = field(default=0.0, metadata=_help("weight decay"))
    schedule: str = field(default="constant", metadata=_help(
        "learning-rate schedule, laid over the time budget (or the epochs); 'rampdown' is the "
        "paper's, which lost 0.3 dB to constant in a 10-minute CPU run"))
    warmup: float = field(default=0.0, metadata=_help(
        "share of the budget over which the learning rate ramps up linearly from 0 (0: none)"))
    ema: float = field(default=0.0, metadata=_help(
        "decay of an exponential moving average of the weights (e.g. 0.999), used for validation, "
        "checkpoints, export and prediction; 0: off"))
    batch_size: int = field(default=100, metadata=_help("pairs per step"))
    augment: str = field(default="none", metadata=_help(
        "augmentation of each training batch (same geometry for input and target)"))
    time_budget: str | None = field(default="10m", metadata=_help(
        "training budget: wall-clock training time (90s, 10m, 1h) or an amount of work "
        "(300k images, 3000 steps: the same training however loaded the machine is); "
        "'none' to train by epochs"))
    epochs: int | None = field(default=None, metadata=_help(
        "stop after this many epochs (with a budget too, whichever comes first)"))
    seed: int = field(default=0, metadata=_help("seed for weights, crops and noise"))
    # bookkeeping
    log_every: int = field(default=50, metadata=_help("log the training loss every N steps"))
    eval_every_s: float = field(default=60.0, metadata=_help(
        "validate every N seconds of training (0: only at the end)"))
    checkpoint_every_s: float = field(default=60.0, metadata=_help(
        "write a checkpoint every N seconds of training"))
    device: str = field(default="auto", metadata=_help(
        "'auto' (CUDA, then MPS, then the CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'"))
    precision: str = field(default="auto", metadata=_help(
        "training precision: 'auto' (bf16 autocast on CUDA and on CPUs with AVX512-BF16/AMX, "
        "float32 elsewhere), 'fp32' or 'bf16'"))
    tensorboard: bool = field(default=False, metadata=_help(
        "also log to TensorBoard (tb/ in the run folder; needs the tensorboard extra); "
        "metrics.jsonl stays the record"))
    compile_model: bool = field(default=False, metadata=_help(
        "torch.compile the network (measure first: it pays off on GPUs for long runs)"))

    def __post_init__(self) -> None:
        from noise2noise import registry  # the registries validate names, lazily filled

        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        noise_level = self.noise_level if self.noise_level is not None else \
            registry.get("noise")[self.noise].default_level
        set_("noise_level", _level_pair(noise_level))
        if self.time_budget is not None:
            set_("time_budget", str(parse_budget(self.time_budget)))
        for name in ("crop_px", "pairs_per_epoch", "val_patches", "width", "depth",
                     "batch_size", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise N2NError(f"config field {name}={value!r} must be a positive integer")
        for name in ("lr", "weight_decay", "val_fraction", "eval_every_s", "checkpoint_every_s"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise N2NError(f"config field {name}={value!r} must be a finite number")
        for name in ("lr",):
            if not getattr(self, name) > 0:
                raise N2NError(f"config field {name}={getattr(self, name)!r} must be > 0")
        for name in ("weight_decay", "eval_every_s", "checkpoint_every_s"):
            if not getattr(self, name) >= 0:
                raise N2NError(f"config field {name}={getattr(self, name)!r} must be >= 0")
        for name in ("warmup", "ema"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise N2NError(f"config field {name}={value!r} must be a number in [0, 1)")
        if not 0 <= self.val_fraction < 1:
            raise N2NError(f"config field val_fraction={self.val_fraction!r} must be in [0, 1)")
        if self.time_budget is None and self.epochs is None:
            raise N2NError("config needs time_budget or epochs (or both) to know when to stop")
        if self.budget is not None and not (math.isfinite(self.budget.amount) and self.budget.amount > 0):
            raise N2NError(f"config field time_budget={self.time_budget!r} must be > 0")
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs <= 0):
            raise N2NError(f"config field epochs={self.epochs!r} must be a positive integer")
        if self.crop_px % 2:
            raise N2NError(f"config field crop_px={self.crop_px} must be even")
        for kind in ("noise", "arch", "init", "loss", "optimizer", "schedule", "augment"):
            registry.check(kind, getattr(self, kind))
        registry.get("noise")[self.noise].check_level(self.noise_level)
        registry.check("mode", self.mode)
        if self.noisy_data and self.mode != "neighbor2neighbor":
            raise N2NError("config field noisy_data=true needs mode='neighbor2neighbor' (single noisy "
                           "images); noisy pairs are read from paired folders or tensor files as they are")
        if not self.nb2nb_gamma >= 0:
            raise N2NError(f"config field nb2nb_gamma={self.nb2nb_gamma!r} must be >= 0")
        from noise2noise.augment import GEOMETRIC

        if self.augment in GEOMETRIC and (self.noise == "bernoulli" or self.mode == "neighbor2neighbor"):
            raise N2NError(f"config field augment={self.augment!r} moves pixels and cannot be combined with "
                           "per-pixel target masks (noise='bernoulli', mode='neighbor2neighbor'); "
                           "use none or gaussian")
        if self.loss == "bce" and not self.clip:
            raise N2NError("config field loss='bce' needs targets in [0, 1]: set clip = true")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise N2NError(f"config field precision={self.precision!r}: use auto, fp32 or bf16")
        if not isinstance(self.device, str) or not DEVICE_NAMES.fullmatch(self.device):
            raise N2NError(f"config field device={self.device!r}: use auto, cpu, cuda, cuda:N or mps")

    @property
    def budget(self) -> Budget | None:
        """The parsed ``time_budget`` (None: train by epochs)."""
        return None if self.time_budget is None else parse_budget(self.time_budget)

    @property
    def time_budget_s(self) -> float | None:
        """The budget in seconds when it is a duration, else None."""
        budget = self.budget
        return budget.amount if budget is not None and budget.unit == "s" else None

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["noise_level"] = list(self.noise_level)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        if "time_budget_s" in values and "time_budget" not in values:  # configs written before 0.2
            values = dict(values)
            values["time_budget"] = values.pop("time_budget_s")
        unknown = sorted(set(values) - known)
        if unknown:
            raise N2NError(f"{source}: unknown config field {unknown[0]!r}; "
                           f"known fields: {', '.join(sorted(known))}")
        try:
            return cls(**values)
        except TypeError as exc:  # a value of the wrong type reached a comparison
            raise N2NError(f"{source}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a TOML file of field = value lines, or a saved config.json."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise N2NError(f"{path}: cannot read config ({exc.strerror})") from None
        try:
            values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise N2NError(f"{path}: not a valid config file ({exc})") from None
        return cls.from_dict(values, source=str(path))


def _level_pair(value: Any) -> tuple[float, float]:
    if isinstance(value, str):
        value = [v for v in value.replace("-", ",").split(",") if v.strip()] \
            if not value.strip().startswith("-") else [value]
    if isinstance(value, (int, float)):
        value = (value, value)
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        raise N2NError(f"noise_level={value!r} must be a number or 'lo,hi'") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or values[0] > values[1] or values[0] < 0:
        raise N2NError(f"noise_level={value!r} must be a number >= 0 or 'lo,hi' with lo <= hi")
    return (values[0], values[1])
