"""Training losses on N×C×H×W tensors in [0, 1]: name -> loss(prediction, target, progress).

Each loss declares the activation the network's output needs (``LOSSES.entry(name).output``, a
name in ``unet.OUTPUTS``); the model is built with it, so inference and checkpoints use it too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from noise2noise.registry import LOSSES

HUBER_DELTA = 0.1  # about 25/255: quadratic for typical Gaussian residuals, linear for outliers
L0_EPS = 1e-8


def output_activation(loss: str) -> str:
    """The output activation the network trained with ``loss`` must end in."""
    return LOSSES.entry(loss).output


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


def l2(prediction: torch.Tensor, target: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Mean squared error: its minimiser is the mean of the targets (Gaussian, Poisson noise)."""
    return torch.mean((prediction - target) ** 2)


def l1(prediction: torch.Tensor, target: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Mean absolute error: its minimiser is the median of the targets (text overlays)."""
    return torch.mean(torch.abs(prediction - target))


def huber(prediction: torch.Tensor, target: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Huber loss with delta 0.1 (in [0, 1] units): L2 near the target, L1 far from it."""
    return F.huber_loss(prediction, target, delta=HUBER_DELTA)


def bce(prediction: torch.Tensor, target: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Binary cross-entropy of a sigmoid output against targets in [0, 1], minus the
    targets' own entropy: the same gradient, and 0 for a perfect prediction."""
    # the sigmoid keeps predictions in (0, 1); the clamp only guards direct calls
    loss = F.binary_cross_entropy(prediction.clamp(0.0, 1.0), target)
    entropy = -(torch.special.xlogy(target, target) + torch.special.xlogy(1 - target, 1 - target)).mean()
    return loss - entropy


def l0_gamma(progress: float) -> float:
    """The annealed exponent: 2 at the start of training, 0 at the end (linear)."""
    return 2.0 * (1.0 - min(max(progress, 0.0), 1.0))


def l0(prediction: torch.Tensor, target: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """Annealed L0, (|f - y| + 1e-8)^gamma with gamma 2 -> 0 over training: its minimiser
    tends to the mode of the targets (random-valued impulse noise; paper section 3.3)."""
    return torch.mean((torch.abs(prediction - target) + L0_EPS) ** l0_gamma(progress))
