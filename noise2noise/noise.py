"""Noise models: clean N×C×H×W images in [0, 1] -> one independent noisy draw.

Noise levels are given in the units users think in (Gaussian sigma in 0..255 pixel
values); a (lo, hi) level draws one level per image, for blind denoisers. Each model
names the loss whose minimiser recovers the clean image from its noisy targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from noise2noise.errors import N2NError
from noise2noise.registry import Registry

NOISES = Registry("noise")


def _per_image_level(level: tuple[float, float], n: int, generator: torch.Generator,
                     device: torch.device) -> torch.Tensor:
    lo, hi = level
    if lo == hi:
        return torch.full((n, 1, 1, 1), lo, device=device)
    return lo + (hi - lo) * torch.rand((n, 1, 1, 1), generator=generator, device=device)


@NOISES.register("gaussian")
@dataclass(frozen=True)
class GaussianNoise:
    """Additive white Gaussian noise, sigma in 0..255 units, optionally clipped to the range."""

    level: tuple[float, float] = (25.0, 25.0)
    clip: bool = True
    recommended_loss = "l2"

    @staticmethod
    def check_level(level: tuple[float, float]) -> None:
        if level[1] > 255:
            raise N2NError(f"gaussian noise_level {level} is in 0..255 units; sigma above 255 "
                           "is not meaningful")

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        sigma = _per_image_level(self.level, clean.shape[0], generator, clean.device) / 255.0
        noisy = clean + sigma * torch.randn(clean.shape, generator=generator, device=clean.device,
                                            dtype=clean.dtype)
        return noisy.clamp_(0.0, 1.0) if self.clip else noisy


def build_noise(name: str, level: tuple[float, float], clip: bool):
    return NOISES[name](level=level, clip=clip)
