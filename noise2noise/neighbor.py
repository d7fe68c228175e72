"""Neighbor2Neighbor (Huang et al., CVPR 2021): training pairs from single noisy images.

Each 2×2 cell of a noisy image gives one pixel to each of two half-resolution images,
two different pixels that share an edge; their noise is independent while their clean
content nearly agrees, so one sub-image is a noisy target for the other. Cells are
numbered 0 = (0, 0), 1 = (0, 1), 2 = (1, 0), 3 = (1, 1): flipping bit 0 of a position
moves to the horizontal neighbour, flipping bit 1 to the vertical one.
"""

from __future__ import annotations

import torch
from torch import nn

from noise2noise.devices import autocast


def neighbour_choice(noisy: torch.Tensor, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (first, second) positions 0..3 per 2×2 cell, N×1×H/2×W/2 int64, adjacent
    and different: one choice for all channels of a pixel."""
    n, _, height, width = noisy.shape
    if height % 2 or width % 2:
        raise ValueError(f"neighbour sub-sampling needs even sides, got {height}×{width}")
    shape = (n, 1, height // 2, width // 2)
    device = generator.device if generator is not None else noisy.device
    first = torch.randint(4, shape, generator=generator, device=device)
    second = first ^ torch.randint(1, 3, shape, generator=generator, device=device)  # XOR 1 or 2
    return first.to(noisy.device), second.to(noisy.device)


def subsample(images: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """N×C×H×W -> N×C×H/2×W/2: the pixel at ``position`` (N×1×H/2×W/2) of every 2×2 cell."""
    n, channels, height, width = images.shape
    cells = images.view(n, channels, height // 2, 2, width // 2, 2).permute(0, 1, 2, 4, 3, 5)
    cells = cells.reshape(n, channels, height // 2, width // 2, 4)
    index = position.expand(n, channels, height // 2, width // 2).unsqueeze(-1)
    return cells.gather(-1, index).squeeze(-1)


def regulariser(model: nn.Module, prediction: torch.Tensor, noisy_target: torch.Tensor, progress: float, *,
                noisy: torch.Tensor, first: torch.Tensor, second: torch.Tensor, gamma: float) -> torch.Tensor:
    """The paper's consistency term (eq. 6): mean((f(g1(y)) - g2(y) - (g1(f(y)) - g2(f(y))))²),
    with f(y) of the full noisy image taken without gradient. Its weight rises linearly
    from 0 to ``gamma`` over training, as in the authors' code."""
    with torch.no_grad(), autocast(noisy.device):
        denoised = model(noisy.contiguous(memory_format=torch.channels_last)).float()
    gap = subsample(denoised, first) - subsample(denoised, second)
    return gamma * progress * torch.mean((prediction - noisy_target - gap) ** 2)
