"""Training losses on N×C×H×W tensors in [0, 1]: name -> loss(prediction, target, progress)."""

from __future__ import annotations

import torch

from noise2noise.registry import Registry

LOSSES = Registry("loss")


@LOSSES.register("l2")
def l2(prediction: torch.Tensor, target: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Mean squared error: its minimiser is the mean of the targets (Gaussian, Poisson noise)."""
    return torch.mean((prediction - target) ** 2)


@LOSSES.register("l1")
def l1(prediction: torch.Tensor, target: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Mean absolute error: its minimiser is the median of the targets (text overlays)."""
    return torch.mean(torch.abs(prediction - target))
