"""Training losses on N×C×H×W tensors in [0, 1]: name -> loss(prediction, target, progress)."""

from __future__ import annotations

import torch

from noise2noise.registry import Registry

LOSSES = Registry("loss")


def masked_loss(loss, prediction: torch.Tensor, target: torch.Tensor, progress: float,
                mask: torch.Tensor | None = None) -> torch.Tensor:
    """``loss(prediction, target, progress)`` over the valid target pixels only (``mask``
    N×1×H×W or N×C×H×W, 1 = valid; None = all), for any registered loss: invalid pixels
    take the target's value, so they add no error and no gradient, and the mean over all
    pixels is rescaled to a mean over the valid ones."""
    if mask is None:
        return loss(prediction, target, progress)
    valid = mask.expand_as(target) > 0
    share = valid.float().mean().clamp(min=1.0 / valid.numel())
    return loss(torch.where(valid, prediction, target), target, progress) / share


@LOSSES.register("l2")
def l2(prediction: torch.Tensor, target: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Mean squared error: its minimiser is the mean of the targets (Gaussian, Poisson noise)."""
    return torch.mean((prediction - target) ** 2)


@LOSSES.register("l1")
def l1(prediction: torch.Tensor, target: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Mean absolute error: its minimiser is the median of the targets (text overlays)."""
    return torch.mean(torch.abs(prediction - target))
