"""One typed configuration for a training run, validated when it is built.

The CLI, TOML files, sweeps and the Python API all build this same object; its
plain-dict form (``to_dict``) is saved beside every checkpoint and result.

Every field is checked here, once, when the config is built: first by the type its
annotation declares (a bool field takes only true/false, an int field a 64-bit integer,
a float field a finite number, a str field text), then by the limits in its metadata
(``gt``, ``ge``, ``lt``, ``le``, ``choices``), then by the named rules that tie fields
together (``TrainConfig._RULES``). Each error is one line naming the field, the bad value
and what to use. Building a config never imports torch: the registries it checks names
against are declared torch-free (``noise2noise.registry``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import tomllib

from noise2noise import registry
from noise2noise.errors import N2NError

# Tiling defaults of `n2n denoise` (here, where the CLI reads them without importing torch).
# Measured on the 2-core CPU with the shipped model (2026-11-26): a 768×512 photo took 2.78 s in
# 512 px tiles 4 at a time and 1.20 s whole; an 8-megapixel one 34.1 s in 512 px tiles 4 at a
# time and 25.3 s in 1024 px tiles one at a time, at the same peak memory (1.75 GB).
DENOISE_TILE_PX = 1024
DENOISE_OVERLAP_PX = 64  # paper U-Net: halves the largest deviation from whole-image output vs 32
DENOISE_TILE_BATCH = 1

DEVICE_NAMES = re.compile(r"auto|cpu(:0)?|cuda(:\d+)?|mps(:0)?")  # what --device accepts everywhere (torch's names)


def device_name(name: str) -> str:
    """torch's cpu:0 and mps:0 as cpu and mps, the one name each has in this package."""
    return {"cpu:0": "cpu", "mps:0": "mps"}.get(name, name)
PRECISIONS = ("auto", "fp32", "bf16")  # what --precision accepts, in training and in denoising
INT64_MAX = 2**63 - 1  # ints are seeds and sizes handed to torch, which stores them in 64 bits
_NUMBER = r"(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)"
_DURATION = re.compile(rf"^\s*{_NUMBER}\s*(s|sec|m|min|h)?\s*$")
_UNIT_S = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_WORK = re.compile(rf"^\s*{_NUMBER}\s*([km]?)\s*(images?|img|steps?|iterations?|its?)\s*$", re.IGNORECASE)
_BUDGET_EXAMPLES = "write e.g. 90s, 10m, 1h, 300k images or 3000 steps"
# keys the tool writes beside the fields (a run's config.json): accepted and ignored when read back
_WRITTEN_BESIDE = frozenset({"code_version", "data_fingerprint"})
_RENAMED = {"time_budget_s": "time_budget"}  # configs written before 0.2


def parse_duration_s(text: str | float | int) -> float:
    """'10m' -> 600.0, '90s' -> 90.0, '1.5h' -> 5400.0, 45 -> 45.0."""
    budget = parse_budget(text)
    if budget.unit != "s":
        raise N2NError(f"{text!r} is not a duration; write e.g. 90s, 10m or 1h")
    return budget.amount


def _number_text(value: float) -> str:
    """The shortest text that reads back as exactly ``value`` (no '1e+06' for a million steps)."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


class Budget(NamedTuple):
    """How long a run trains: ``amount`` seconds of training, images seen, or steps."""

    amount: float
    unit: str  # "s", "images" or "steps"

    def __str__(self) -> str:
        amount = _number_text(self.amount)
        return f"{amount}s" if self.unit == "s" else f"{amount} {self.unit}"


def parse_budget(text: str | float | int, name: str = "time_budget") -> Budget:
    """A training budget: a duration ('10m', '90s', '1.5h', 45 for seconds) or an amount of
    work ('300k images', '3000 steps'), which gives the same training however loaded the
    machine is. ``name`` is what the error message calls the value."""
    budget = None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        budget = Budget(_finite_float(text), "s")
    elif isinstance(text, str):
        match = _DURATION.match(text)
        if match:
            budget = Budget(float(match.group(1)) * _UNIT_S[match.group(2)], "s")
        match = _WORK.match(text)
        if match:
            scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
            unit = "images" if match.group(3).lower().startswith("im") else "steps"
            budget = Budget(float(match.group(1)) * scale, unit)
    if budget is None:
        raise N2NError(f"{name}={_shown(text)} is neither a duration nor an amount of work; {_BUDGET_EXAMPLES}")
    if not (math.isfinite(budget.amount) and budget.amount >= 0):
        raise N2NError(f"{name}={_shown(text)} must be a finite duration or amount of work >= 0; {_BUDGET_EXAMPLES}")
    if budget.unit != "s" and budget.amount != int(budget.amount):  # '0.5 steps' trained one step
        raise N2NError(f"{name}={_shown(text)} is {_number_text(budget.amount)} {budget.unit}; a number of "
                       f"{budget.unit} is whole, e.g. {max(1, round(budget.amount))} {budget.unit}")
    return budget


def read_text_file(path: Path, what: str) -> str:
    """The text of a config or study file, read as UTF-8 (a byte-order mark is allowed)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise N2NError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise N2NError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                       f"save the {what} as UTF-8") from None


def _help(text: str, **limits: Any) -> dict[str, Any]:
    """A field's metadata: its --help text and its limits (gt, ge, lt, le, choices)."""
    return {"help": text, **limits}


def _noise_defaults() -> str:
    noises = registry.get("noise")
    return ", ".join(f"{name} {noises.entry(name).default_level[0]:g}" for name in noises)


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
    channels: str = field(default="auto", metadata=_help(
        "what the network sees of image files: 'grey' (colour converted to ITU-R 601 luma), 'rgb' "
        "(grey repeated), or 'auto': greyscale when every image is, else RGB; tensor files are "
        "used as they are (auto, or the channels they hold)", choices=("auto", "grey", "rgb")))
    noise: str = field(default="gaussian", metadata=_help("noise model for clean images"))
    noise_level: tuple[float, float] | None = field(default=None, metadata=_help(
        "noise strength: Gaussian sigma in 0..255 units, Poisson photon scale lambda, "
        "probability p of bernoulli/impulse, share of pixels covered by text; one value, or "
        f"'lo,hi' for a range drawn per image (blind training); none: the noise's default ({_noise_defaults()})"))
    noise_level_power: float = field(default=1.0, metadata=_help(
        "how a noise_level range is drawn per training image: lo + (hi - lo) * u**POWER, u uniform "
        "in 0..1; 1: uniform; 2: the low end more often (over half the images in the lowest three "
        "tenths of the range), which lifts a blind Gaussian model at low sigma (docs/models.md); "
        "validation keeps the uniform draw", gt=0, le=10))
    sigma_input: bool = field(default=False, metadata=_help(
        "tell the network the Gaussian noise level: its input gets one more plane holding sigma, as "
        "FFDNet's does; n2n denoise then takes --noise-level or estimates sigma from each image "
        "(Gaussian noises added to clean images)"))
    sigma_jitter: float = field(default=0.0, metadata=_help(
        "with sigma_input, the plane of each training input tells its sigma times exp(J * z), z "
        "standard normal, so that the network tolerates the error of an estimated sigma (about a tenth "
        "low at sigma 50 on clipped photos; docs/models.md); validation is told the true sigma; 0: exact",
        ge=0, le=1))
    clip: bool = field(default=True, metadata=_help(
        "clip noisy pixels to 0..255 as a camera would (--no-clip keeps the raw sum)"))
    clip_targets: bool = field(default=True, metadata=_help(
        "with clip, clip the noisy targets too; --no-clip-targets leaves the targets' synthetic noise "
        "unclipped while the input stays clipped: Noise2Noise learns the mean of its targets, and clipped "
        "noise has a mean above black and below white (6 grey levels at sigma 15 on pure black) that the "
        "network would learn as a bias (mode noise2noise on clean images)"))
    mode: str = field(default="noise2noise", metadata=_help(
        "noise2noise (noisy targets), noise2clean (clean targets: the upper bound, needs "
        "clean images), neighbor2neighbor (pairs sub-sampled from single noisy images)"))
    noisy_data: bool = field(default=False, metadata=_help(
        "the images of --data already carry real noise: add none (mode neighbor2neighbor)"))
    nb2nb_gamma: float = field(default=2.0, metadata=_help(
        "weight of the Neighbor2Neighbor regulariser, ramped up from 0 over training "
        "(0: off)", ge=0))
    crop_px: int = field(default=32, metadata=_help("side of the random training crops", gt=0))
    train_scales: int = field(default=1, metadata=_help(
        "train on each clean photo at this many scales: as it is, then halved in size (2x2 mean) for "
        "each further scale; halving averages a photo's own grain away, so the network also sees "
        "clean, smooth content like a modern camera's (copies smaller than crop_px are left out)", ge=1, le=4))
    pairs_per_epoch: int = field(default=50_000, metadata=_help(
        "crops drawn from clean images per epoch, each with two fresh noise draws", gt=0))
    val_fraction: float = field(default=0.15, metadata=_help(
        "share of a clean-image folder held out for validation (split by image)", ge=0, lt=1))
    val_patches: int = field(default=500, metadata=_help(
        "validation crops cut from held-out images, with fixed noise", gt=0))
    val_whole_images: int = field(default=8, metadata=_help(
        "after training, also validate on up to N whole held-out clean images, each with one fixed "
        "noise draw at the middle of noise_level (0: off; none for tensor files, noisy pairs and "
        "noisy_data)", ge=0))
    # model
    arch: str = field(default="unet", metadata=_help("network architecture"))
    width: int = field(default=48, metadata=_help("encoder channels (paper: 48)", gt=0))
    depth: int = field(default=5, metadata=_help(
        "number of 2x2 pools (paper: 5); inputs are padded to a multiple of 2**depth px", gt=0, le=8))
    init: str = field(default="xavier_normal", metadata=_help(
        "weight initialisation (Xavier, the seed study's best; the paper used kaiming_normal)"))
    init_weights: str | None = field(default=None, metadata=_help(
        "start from trained weights instead of a random init: a shipped model's name (n2n models) "
        "or a checkpoint.pt, e.g. to fine-tune the shipped model on your own noisy pairs; its network "
        "(arch, depth, channels) must be the config's; a narrower one grows into the config's width, "
        "computing at first exactly what it did"))
    growth: str = field(default="zero", metadata=_help(
        "what the new channels of a narrower init_weights network start as: zero (zero weight into the old "
        "channels) or split (copies of old channels, each with a random share of its weight out)"))
    # optimisation
    loss: str = field(default="l2", metadata=_help("training loss"))
    optimizer: str = field(default="adam", metadata=_help("optimiser"))
    lr: float = field(default=1e-3, metadata=_help("peak learning rate", gt=0))
    weight_decay: float = field(default=0.0, metadata=_help("weight decay", ge=0))
    # cosine + 2% warm-up + weight average: 30.54 dB after a 10-minute CPU run against 30.32 for
    # constant, and a validation curve that only rises (benchmarks/budget.py, commit 83fea7f)
    schedule: str = field(default="cosine", metadata=_help(
        "learning-rate schedule, laid over the time budget (or the epochs); 'rampdown' is the "
        "paper's, which lost 0.3 dB to constant in a 10-minute CPU run"))
    warmup: float = field(default=0.02, metadata=_help(
        "share of the budget over which the learning rate ramps up linearly from 0 (0: none)", ge=0, lt=1))
    ema: float = field(default=0.999, metadata=_help(
        "decay of an exponential moving average of the weights, ramped up over the first steps, used "
        "for validation, checkpoints, export and prediction; 0: off", ge=0, lt=1))
    batch_size: int = field(default=32, metadata=_help(
        "pairs per step (32: the seed config's 10-minute PSNR in a quarter of the time, benchmarks/budget.py)", gt=0))
    augment: str = field(default="none", metadata=_help(
        "augmentation of each training batch (same geometry for input and target)"))
    time_budget: str | None = field(default="10m", metadata=_help(
        "training budget: wall-clock training time (90s, 10m, 1h) or an amount of work "
        "(300k images, 3000 steps: the same training however loaded the machine is); "
        "'none' to train by epochs"))
    epochs: int | None = field(default=None, metadata=_help(
        "stop after this many epochs (with a budget too, whichever comes first)", gt=0))
    seed: int = field(default=0, metadata=_help("seed for weights, crops and noise", ge=0))
    # bookkeeping
    log_every: int = field(default=50, metadata=_help("log the training loss every N steps", gt=0))
    eval_every_s: float = field(default=60.0, metadata=_help(
        "validate every N seconds of training (0: only at the end)", ge=0))
    checkpoint_every_s: float = field(default=60.0, metadata=_help(
        "write a checkpoint every N seconds of training", ge=0))
    device: str = field(default="auto", metadata=_help(
        "'auto' (CUDA, then MPS, then the CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'"))
    precision: str = field(default="auto", metadata=_help(
        "training precision: 'auto' (bf16 autocast on CUDA and on CPUs with AVX512-BF16/AMX, "
        "float32 elsewhere), 'fp32' or 'bf16'", choices=PRECISIONS))
    tensorboard: bool = field(default=False, metadata=_help(
        "also log to TensorBoard (tb/ in the run folder; needs the tensorboard extra); "
        "metrics.jsonl stays the record"))
    compile_model: bool = field(default=False, metadata=_help(
        "torch.compile the network (measure first: it pays off on GPUs for long runs)"))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # each field alone: its type, then its limits
            object.__setattr__(self, f.name, _checked_field(f, getattr(self, f.name)))
        for rule in self._RULES:  # then the rules that tie fields together, in this order
            rule(self)

    # ---- the rules that tie fields together ---------------------------------------------

    def _check_registered_names(self) -> None:
        for kind in registry.kinds():  # the fields named after a registry: noise, loss, mode ...
            registry.check(kind, getattr(self, kind))

    def _check_noise_level(self) -> None:
        noise = registry.get("noise").entry(self.noise)
        if self.noise_level is None:
            object.__setattr__(self, "noise_level", noise.default_level)
        noise.levels.check(self.noise, self.noise_level)

    def _check_stop(self) -> None:
        if self.time_budget is None and self.epochs is None:
            raise N2NError("config needs time_budget or epochs (or both) to know when to stop; "
                           "e.g. time_budget = '10m' or epochs = 10")
        if self.budget is not None and self.budget.amount <= 0:
            raise N2NError(f"config field time_budget={self.time_budget!r} must be > 0; {_BUDGET_EXAMPLES}")

    def _check_crop_even(self) -> None:
        if self.crop_px % 2:
            raise N2NError(f"config field crop_px={self.crop_px} must be even; use e.g. {self.crop_px + 1}")

    def _check_noisy_data(self) -> None:
        modes = registry.get("mode")
        if self.noisy_data and not modes.entry(self.mode).takes_noisy_images:
            takers = [name for name in modes if modes.entry(name).takes_noisy_images]
            raise N2NError(f"config field noisy_data=true needs mode={' or '.join(map(repr, takers))} (single "
                           "noisy images); noisy pairs are read from paired folders or tensor files as they are")

    def _check_scales(self) -> None:
        if self.train_scales > 1 and self.noisy_data:
            raise N2NError(f"config field train_scales={self.train_scales} needs clean images: halving noisy "
                           "images would also halve their noise; use train_scales = 1 with noisy_data")

    def _check_masks_and_augment(self) -> None:
        masked = [f"{kind}={getattr(self, kind)!r}" for kind in ("noise", "mode")
                  if registry.get(kind).entry(getattr(self, kind)).masks_pixels]
        if registry.get("augment").entry(self.augment).moves_pixels and masked:
            keep = [n for n in registry.get("augment") if not registry.get("augment").entry(n).moves_pixels]
            raise N2NError(f"config field augment={self.augment!r} moves pixels and cannot be combined with "
                           f"per-pixel target masks ({', '.join(masked)}); use {' or '.join(keep)}")

    def _check_loss_targets(self) -> None:
        if registry.get("loss").entry(self.loss).targets_in_0_1 and not (self.clip and self.clip_targets):
            raise N2NError(f"config field loss={self.loss!r} needs targets in [0, 1]: set clip = true (--clip) "
                           "and clip_targets = true")

    def _check_clip_targets(self) -> None:
        if not self.clip_targets and self.mode != "noise2noise":  # noisy_data already needs another mode
            raise N2NError(f"config field clip_targets=false leaves synthetic noisy targets unclipped: it needs "
                           f"mode 'noise2noise' on clean images (got mode={self.mode!r}"
                           f"{', noisy_data=true' if self.noisy_data else ''}); use clip_targets = true")

    def _check_sigma_input(self) -> None:
        if not self.sigma_input:
            if self.sigma_jitter:
                raise N2NError(f"config field sigma_jitter={self.sigma_jitter!r} jitters the sigma a network "
                               "is told: set sigma_input = true, or sigma_jitter = 0")
            return
        noises = registry.get("noise")
        if not noises.entry(self.noise).sigma_input:
            takers = ", ".join(name for name in noises if noises.entry(name).sigma_input)
            raise N2NError(f"config field sigma_input=true needs a Gaussian noise ({takers}), got "
                           f"noise={self.noise!r}; use sigma_input = false")
        modes = registry.get("mode")
        if self.noisy_data or modes.entry(self.mode).takes_noisy_images:
            takers = " or ".join(name for name in modes if not modes.entry(name).takes_noisy_images)
            raise N2NError(f"config field sigma_input=true needs noise of a known level added to clean images "
                           f"(mode {takers}), got mode={self.mode!r}"
                           f"{', noisy_data=true' if self.noisy_data else ''}; use sigma_input = false")

    def _check_paths(self) -> None:
        for name in ("data", "val_data", "init_weights"):  # an empty path would mean the current folder
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise N2NError(f"config field {name}={value!r} is empty; give a path"
                               + (" or 'embedded'" if name == "data" else f", or leave {name} out"))

    def _check_device(self) -> None:
        if not DEVICE_NAMES.fullmatch(self.device):
            raise N2NError(f"config field device={self.device!r}: use auto, cpu, cuda, cuda:N or mps")
        object.__setattr__(self, "device", device_name(self.device))  # "cpu" compares as cpu everywhere

    _RULES = (_check_paths, _check_registered_names, _check_noise_level, _check_stop, _check_crop_even,
              _check_noisy_data, _check_scales, _check_masks_and_augment, _check_loss_targets, _check_clip_targets,
              _check_sigma_input, _check_device)

    # ---- reading and writing ---------------------------------------------------------------

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
    def from_dict(cls, values: Mapping[str, Any], source: str | None = None) -> TrainConfig:
        """A config from field -> value pairs (a TOML table, a saved config.json ...);
        ``source`` (a file) starts every error message."""
        where = f"{source}: " if source else ""
        values = _field_values(values, where)  # its errors start with where already
        try:
            return cls(**values)
        except N2NError as exc:
            raise N2NError(f"{where}{exc}") from None

    @classmethod
    def from_file(cls, path: str | Path, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
        """Read a TOML file of field = value lines, or a saved config.json; ``overrides``
        (options given beside the file) replace its values, and fields neither sets keep
        their defaults (a file without noise_level takes the overriding noise's own)."""
        path = Path(path)
        text = read_text_file(path, "config")
        try:
            values = json.loads(text, object_pairs_hook=_unique_keys) if path.suffix.lower() == ".json" \
                else tomllib.loads(text)
        except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
            raise N2NError(f"{path}: not a valid config file ({exc})") from None
        values = _field_values(values, f"{path}: ")
        from_file = cls.from_dict(values, source=str(path))  # the file's own faults name the file
        if not overrides:
            return from_file
        if "noise" in overrides and "noise_level" in values and "noise_level" not in overrides \
                and overrides["noise"] != from_file.noise:
            raise N2NError(f"{path}: noise_level={list(from_file.noise_level)} is in the units of its noise "
                           f"{from_file.noise!r}, which --noise {overrides['noise']} replaces; give --noise-level "
                           "too")
        options = ", ".join("--" + name.replace("_", "-") for name in overrides)
        return cls.from_dict(values | dict(overrides), source=f"{path} with {options}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (json keeps the last of a repeated key without a
    word; TOML refuses it, and so does this)."""
    keys = [key for key, _ in pairs]
    repeated = next((key for i, key in enumerate(keys) if key in keys[:i]), None)
    if repeated is not None:
        raise ValueError(f"key {repeated!r} is given twice")
    return dict(pairs)


def _field_values(values: Any, where: str) -> dict[str, Any]:
    """The config fields of a table read from a file: metadata keys the tool writes beside
    them dropped, old field names renamed, unknown keys refused."""
    if not isinstance(values, Mapping):
        raise N2NError(f"{where}expected a table of config fields (field = value), got {type(values).__name__}")
    values = {k: v for k, v in values.items() if k not in _WRITTEN_BESIDE}
    for old, new in _RENAMED.items():
        if old in values:
            if new in values:
                raise N2NError(f"{where}give {new} only ({old} is its old name)")
            values[new] = values.pop(old)
    known = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = [k for k in values if k not in known]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]).replace("-", "_"), known, n=1)
        choices = f"did you mean {close[0]}?" if close else f"known fields: {', '.join(sorted(known))}"
        raise N2NError(f"{where}unknown config field {_shown(unknown[0])}; {choices}")
    return values


# ---- each field alone: its declared type, then its limits ------------------------------------

def _declared(hint: Any) -> tuple[type, bool]:
    """(the type a field holds, whether it may be None) from its annotation."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    kind = next(a for a in args if a is not type(None))
    return typing.get_origin(kind) or kind, type(None) in args


FIELD_TYPES: dict[str, tuple[type, bool]] = {
    name: _declared(hint) for name, hint in typing.get_type_hints(TrainConfig).items()
    if name in {f.name for f in dataclasses.fields(TrainConfig)}}


def _shown(value: Any) -> str:
    """``repr(value)`` kept short enough for a one-line message."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of {value.bit_length()} bits>"  # repr() refuses ints of > 4300 digits
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}…{text[-10:]}"


def _finite_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        return math.inf


def _requirement(kind: type, optional: bool, limits: Mapping[str, Any]) -> str:
    """What a field takes, in words: 'a positive integer', 'a number in [0, 1)' ..."""
    gt, ge, lt, le = limits.get("gt"), limits.get("ge"), limits.get("lt"), limits.get("le")
    if kind is bool:
        text = "true or false"
    elif kind is int:
        text = "a positive integer" if gt == 0 and le is None else \
            f"an integer in {ge if ge is not None else gt + 1}..{le or INT64_MAX}" if ge is not None or gt is not None \
            else "an integer"
    elif kind is float:  # the whole interval where there is an upper limit: a message names what was broken
        low = f"[{ge:g}" if ge is not None else f"({gt:g}" if gt is not None else None
        high = f"{lt:g})" if lt is not None else f"{le:g}]" if le is not None else None
        text = f"a number in {low}, {high}" if low and high else \
            f"a finite number > {gt:g}" if gt is not None else \
            f"a finite number >= {ge:g}" if ge is not None else "a finite number"
    elif "choices" in limits:
        text = f"one of {', '.join(limits['choices'])}"
    else:
        text = "text"
    return f"{text} or none" if optional else text


def _checked_field(f: dataclasses.Field, value: Any) -> Any:
    """``value`` of field ``f`` as its declared type, within its limits; else one N2NError line."""
    kind, optional = FIELD_TYPES[f.name]
    if not isinstance(value, (str, bytes)) and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()  # a NumPy or 0-d torch number is the Python number it holds (np.int64(8): 8)
    if kind is str and isinstance(value, os.PathLike):
        value = os.fspath(value)  # data=Path("photos"), kept as the text a config file would hold
    if f.name in _BEFORE:  # fields that also take a convenient spelling ('0,50', 600 seconds)
        value = _BEFORE[f.name](value)
    if value is None and optional:
        return None
    fault = _type_fault(kind, value)  # '' is a fault without more to say; None is none
    if fault is None:
        fault = _limit_fault(value, f.metadata)
    if fault is None:
        return float(value) if kind is float else value
    shown_default = str(f.default).lower() if isinstance(f.default, bool) else repr(f.default)
    default = f"; the default is {shown_default}" if f.default is not None else ""
    raise N2NError(f"config field {f.name}={_shown(value)} must be "
                   f"{_requirement(kind, optional, f.metadata)}{fault}{default}")


def _type_fault(kind: type, value: Any) -> str | None:
    """Why ``value`` is not of the declared ``kind`` ('' for no detail), or None when it is."""
    if kind is bool:
        if isinstance(value, bool):
            return None
        meant = _BOOL_WORDS.get(value.strip().lower()) if isinstance(value, str) else None
        return "" if meant is None else f" (a boolean, not text: write {meant} without quotes)"
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            return ""
        return None if -INT64_MAX - 1 <= value <= INT64_MAX else " (seeds and sizes are 64-bit integers)"
    if kind is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return ""
        return None if math.isfinite(_finite_float(value)) else ""
    if kind is tuple:  # noise_level, already a pair of finite floats
        return None
    return None if isinstance(value, kind) else ""


def _limit_fault(value: Any, limits: Mapping[str, Any]) -> str | None:
    for key, holds in (("gt", lambda v, b: v > b), ("ge", lambda v, b: v >= b), ("lt", lambda v, b: v < b),
                       ("le", lambda v, b: v <= b), ("choices", lambda v, b: v in b)):
        if key in limits and not holds(value, limits[key]):
            return ""
    return None


def _level_pair(value: Any) -> tuple[float, float] | None:
    """noise_level from 25, '25', '0,50', '0-50', [0, 50] or (0, 50): a (lo, hi) pair of floats;
    None (or 'none', as every command line spells it) for the noise's default."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    parts = value
    if isinstance(value, str):
        parts = value.split(",")
        if len(parts) == 1 and re.fullmatch(r"\s*[\d.]+\s*-\s*[\d.]+\s*", value):  # '0-50', not '-5' or '1e-3'
            parts = value.split("-")
    elif isinstance(value, (int, float)):
        parts = [value]
    numbers = []
    for part in parts if isinstance(parts, (list, tuple)) else [None]:
        if isinstance(part, str):
            try:
                part = float(part)
            except ValueError:
                part = None
        if not isinstance(part, (int, float)) or isinstance(part, bool):
            raise N2NError(f"config field noise_level={_shown(value)} must be a number or 'lo,hi', "
                           "e.g. 25 or '0,50'; none for the noise's default")
        numbers.append(_finite_float(part))
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2 or not all(math.isfinite(n) for n in numbers) or numbers[0] < 0 or numbers[0] > numbers[1]:
        raise N2NError(f"config field noise_level={_shown(value)} must be a finite number >= 0 or 'lo,hi' with "
                       "0 <= lo <= hi, e.g. 25 or '0,50'")
    return (numbers[0], numbers[1])


def _budget_text(value: Any) -> str | None:
    """time_budget from '10m', '300k images', 600 (seconds) ...: its canonical text."""
    return None if value is None else str(parse_budget(value, name="config field time_budget"))


_BOOL_WORDS = {"true": "true", "yes": "true", "on": "true", "1": "true",
               "false": "false", "no": "false", "off": "false", "0": "false"}
_BEFORE = {"noise_level": _level_pair, "time_budget": _budget_text}
