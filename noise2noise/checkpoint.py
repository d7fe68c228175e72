"""Checkpoints: plain dicts of tensors and numbers, written atomically, loaded safely.

A checkpoint holds the weights, the run's config (as a dict) and, for resuming, the
optimiser, step, clock and random states. ``torch.load(..., weights_only=True)`` never
runs code from the file.
"""

from __future__ import annotations

import functools
import subprocess
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from noise2noise.config import TrainConfig
from noise2noise.errors import N2NError
from noise2noise.outputs import write_torch
from noise2noise.registry import NOISES
from noise2noise.unet import build_model
from noise2noise.zoo import resolve_model

FORMAT = "noise2noise-checkpoint-v1"


@functools.cache
def code_version() -> str:
    """The git SHA of the code that ran (plus '-dirty'), or the package version. Read once per
    process (``run_training`` reads it at its start): a commit made while a long run goes on
    must not relabel the code the run had loaded."""
    from noise2noise import __version__

    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{sha}{'-dirty' if sha and dirty else ''}" if sha else f"v{__version__}"


def model_args(model: nn.Module, arch: str) -> dict[str, Any]:
    return {"arch": arch, "in_channels": model.in_channels, "out_channels": model.out_channels,
            "width": model.width, "depth": model.depth, "output": model.output,
            "sigma_input": getattr(model, "sigma_input", False)}


def save(path: str | Path, model: nn.Module, config: TrainConfig, **state: Any) -> Path:
    """Write a checkpoint atomically (temp file + rename)."""
    payload = {"format": FORMAT, "config": config.to_dict(), "model_args": model_args(model, config.arch),
               "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "code_version": code_version(), **state}
    return write_torch(path, payload)


def safe_load(path: Path, what: str) -> Any:
    """``torch.load`` of tensors and plain data only (``weights_only``): a file whose
    unpickling would run code, or a damaged one, raises one line calling it not a ``what``."""
    kind = _not_torch(path)
    if kind is not None:  # the unpickler's words ("Unsupported operand 8") would not tell what the file is
        raise N2NError(f"{path}: not a {what}: {kind}; give a file that torch.save wrote (.pt, .pth, a course .pkl)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about the pickle protocol before refusing
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        detail = str(exc).split("WeightsUnpickler error:")[-1].strip().splitlines() or [type(exc).__name__]
        reason = detail[0].split(". ")[0][:160]  # the cause, not torch's hint on how to load it unsafely
        raise N2NError(f"{path}: not a {what}, refused to load ({reason})") from None


def _not_torch(path: Path) -> str | None:
    """What a file is when torch.save did not write it (None when it may have): torch.save
    writes a zip archive holding a data.pkl, or, before torch 1.6, a bare pickle."""
    import zipfile

    with open(path, "rb") as f:
        head = f.read(4)
    if head[:1] == b"\x80":  # a pickle: its protocol byte
        return None
    if head != b"PK\x03\x04":
        return "its first bytes are no zip archive or pickle (an ONNX model, an image?)"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return "a damaged zip archive"
    return None if any(n.endswith("data.pkl") for n in names) else "a zip archive without data.pkl (a NumPy .npz?)"


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint's dict, refusing files that are not ours or that would run code."""
    path = Path(path)
    if not path.is_file():
        raise N2NError(f"{path}: no such checkpoint file")
    payload = safe_load(path, "safe noise2noise checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise N2NError(f"{path}: not a noise2noise checkpoint (no '{FORMAT}' marker); write one with n2n train, or "
                       "from the course Model with model.save(path), not torch.save")
    return payload


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network of a checkpoint on the CPU, in eval mode: a checkpoint file, a run
    folder, or a shipped model's name (``zoo.resolve_model``)."""
    path = resolve_model(path, "load_model")
    payload = load(path)
    try:
        model = build_model(**payload["model_args"])
        # shipped models store float16 weights (noise2noise.zoo.pack_weights): compute in float32
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["model"].items()})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise N2NError(f"{path}: damaged checkpoint, no usable network ({type(exc).__name__}: {exc}); "
                       "use another checkpoint") from None
    except RuntimeError as exc:
        raise N2NError(f"{path}: weights do not fit the recorded network ({str(exc).splitlines()[0]})") from None
    # trained for zero-mean Gaussian noise: its outputs' channel means can be checked against the
    # noisy image's (denoise.match_means). Real noisy pairs count too: an L2 Noise2Noise network
    # assumes that the noise has mean zero, as the match does.
    noise = (payload.get("config") or {}).get("noise")
    model.mean_match = bool(noise in NOISES and NOISES.entry(noise).mean_match)
    return model.eval(), payload
