"""noise2noise: train image denoisers from pairs of noisy images (Lehtinen et al. 2018).

Public API (imported lazily so that ``n2n --help`` does not load PyTorch)::

    from noise2noise import Model, TrainConfig, run_training
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Model": "noise2noise.course",
    "TrainConfig": "noise2noise.config",
    "run_training": "noise2noise.train",
    "fit": "noise2noise.train",
    "load_study": "noise2noise.sweep",
    "run_sweep": "noise2noise.sweep",
    "UNet": "noise2noise.unet",
    "psnr_db": "noise2noise.metrics",
    "ssim": "noise2noise.metrics",
    "load_course_file": "noise2noise.data",
    "export_course": "noise2noise.data",
    "denoise_tensor": "noise2noise.denoise",
    "load_model": "noise2noise.checkpoint",
    "N2NError": "noise2noise.errors",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'noise2noise' has no attribute {name!r}")
