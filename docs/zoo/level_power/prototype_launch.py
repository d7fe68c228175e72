"""Prototype (not product code): fine-tune with sigma drawn as lo + (hi - lo) * u**POWER (u uniform),
so low sigma is drawn more often (POWER 2: P(sigma < 15) = 0.55 instead of 0.30), by patching the
one level draw; POWER 1 is the product's uniform draw, the control. Usage: python launch.py POWER n2n-train-args..."""
import sys

import torch

import noise2noise.noise as noise

power = float(sys.argv[1])


def skewed(level, n, generator, device):
    lo, hi = level
    if lo == hi:
        return torch.full((n, 1, 1, 1), lo, device=device)
    return lo + (hi - lo) * torch.rand((n, 1, 1, 1), generator=generator, device=device) ** power


noise._per_image_level = skewed
from noise2noise.cli import main  # noqa: E402

sys.exit(main(sys.argv[2:]))
