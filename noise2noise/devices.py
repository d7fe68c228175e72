"""Where a network runs: the torch device a name means, and the precision it trains in."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from noise2noise.config import DEVICE_NAMES, PRECISIONS, device_name
from noise2noise.errors import N2NError, say_once


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' (CUDA, then Apple's MPS, then the CPU), 'cpu', 'cuda', 'cuda:N' or 'mps' ->
    a device that is present here; one clear line when it is not."""
    if not DEVICE_NAMES.fullmatch(str(name)):
        raise N2NError(f"device {name!r} is not known; use auto, cpu, cuda, cuda:N or mps")
    name = device_name(str(name))
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise N2NError(f"device {name!r} requested but no CUDA GPU is available; use --device cpu")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise N2NError(f"device {name!r} requested but this machine has {torch.cuda.device_count()} CUDA "
                           f"GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if name == "mps" and not torch.backends.mps.is_available():
        raise N2NError("device 'mps' requested but Apple's Metal backend is not available here; use --device cpu")
    return torch.device(name)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX on this CPU (Linux), where bf16 convolutions run natively."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_precision(precision: str) -> str:
    """``precision`` if it is one of ``PRECISIONS``; else one line that lists them."""
    if precision not in PRECISIONS:
        raise N2NError(f"precision {precision!r} is not known; choose from {', '.join(PRECISIONS)}")
    return precision


def autocast(device: torch.device, precision: str = "auto"):
    """Mixed precision for the network's convolutions. 'auto': bf16 on CUDA (tensor cores)
    and on CPUs with native bf16 (measured 1.9x faster training on a 2-core EPYC, with the
    same PSNR per step), float32 elsewhere; 'bf16' always; 'fp32' never."""
    check_precision(precision)
    native = device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())
    enabled = precision == "bf16" or (precision == "auto" and native)
    if enabled and device.type == "cpu" and not native:
        # on a 2-core AVX2 EPYC bf16 convolutions fell back to a slow path, 10x slower than float32
        # (11.6 s against 1.15 s per 768x512 photo, docs/zoo/inference_speed/L64b-874f7bf.txt)
        say_once("warning: this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 runs about 10x slower than "
                 "float32 here; use --precision fp32 (or auto)")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def inference_autocast(device: torch.device, precision: str = "auto"):
    """``autocast`` for denoising, where 'auto' means bf16 on CUDA and float32 on every CPU:
    a CPU's result is then exact, and the same on any CPU. 'bf16' on a CPU with native bf16
    was 1.7x faster for at most 0.02 dB on whole photos (README, "Speed")."""
    return autocast(device, "fp32" if precision == "auto" and device.type != "cuda" else precision)
