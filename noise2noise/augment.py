"""Training-batch augmentations: (noisy_input, noisy_target) -> (noisy_input, noisy_target).

They act on whole N×C×H×W batches in [0, 1] on the training device, and any geometric
change is the same for the input and the target of a pair (they show the same scene).
Random choices come from the training loop's generators: layout on the CPU, noise on
the device, so a run stays reproducible from its seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from noise2noise.registry import AUGMENTS  # noqa: F401 - the names and facts are declared there

if TYPE_CHECKING:
    from noise2noise.data import Generators

INPUT_NOISE_STD = 10.0 / 255.0  # `gaussian`: extra noise on the input, in [0, 1] units
CROP_SHARE = 0.75  # `crop`: side of the sub-crop relative to the batch's side

Batch = tuple[torch.Tensor, torch.Tensor]


def none(noisy_input: torch.Tensor, noisy_target: torch.Tensor, gens: Generators) -> Batch:
    """No augmentation (the seed study's best)."""
    return noisy_input, noisy_target


def gaussian(noisy_input: torch.Tensor, noisy_target: torch.Tensor, gens: Generators) -> Batch:
    """Gaussian noise, sigma 10/255, added to the input only (the seed study's Table II)."""
    extra = torch.randn(noisy_input.shape, generator=gens.device, device=noisy_input.device,
                        dtype=noisy_input.dtype)
    return noisy_input + INPUT_NOISE_STD * extra, noisy_target


SYMMETRIES = 8  # of a square (the dihedral group): 4 quarter turns, each with or without a flip


def symmetry(x: torch.Tensor, k: int) -> torch.Tensor:
    """Transform k of the 8 symmetries of a square of ...×H×W: k % 4 quarter turns, then a
    left-right flip if k >= 4. An odd number of turns makes it ...×W×H."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def undo_symmetry(x: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of ``symmetry(·, k)``: the flip undone, then the turns."""
    x = x.flip(-1) if k >= 4 else x
    return torch.rot90(x, -(k % 4), dims=(-2, -1))


def dihedral(noisy_input: torch.Tensor, noisy_target: torch.Tensor, gens: Generators) -> Batch:
    """One of the 8 flips/rotations per pair. Non-square batches only get the 4 that keep
    their shape (identity, 180° turn, and the two flips)."""
    height, width = noisy_input.shape[-2:]
    choices = torch.arange(SYMMETRIES) if height == width else torch.tensor([0, 2, 4, 6])
    which = choices[torch.randint(len(choices), (noisy_input.shape[0],), generator=gens.cpu)]
    out_input, out_target = noisy_input.clone(), noisy_target.clone()
    for k in which.unique().tolist():  # one batched op per transform, not per pair
        index = (which == k).nonzero().flatten().to(noisy_input.device)
        out_input[index] = symmetry(noisy_input[index], k)
        out_target[index] = symmetry(noisy_target[index], k)
    return out_input, out_target


def channels(noisy_input: torch.Tensor, noisy_target: torch.Tensor, gens: Generators) -> Batch:
    """The colour channels in a random order per pair, the same order for input and target.
    Every noise here treats the channels alike, so this is a symmetry of the problem; without
    it a network learns the photos' colour balance as a prior (the retina crop, with its
    channels reversed, lost 6 dB: docs/models.md). Grey batches are left as they are."""
    n, c = noisy_input.shape[:2]
    if c == 1:
        return noisy_input, noisy_target
    order = torch.rand(n, c, generator=gens.cpu).argsort(dim=1).to(noisy_input.device)
    index = order[:, :, None, None].expand_as(noisy_input)
    return noisy_input.gather(1, index), noisy_target.gather(1, index)


def crop(noisy_input: torch.Tensor, noisy_target: torch.Tensor, gens: Generators) -> Batch:
    """A random window of 3/4 the side (rounded down to even) at its own place in each
    pair, the same window for input and target. The batch gets smaller (32 -> 24 px);
    it is not resized back, since resampling would blur and correlate the noise."""
    n, _, height, width = noisy_input.shape
    crop_h, crop_w = max(2, int(height * CROP_SHARE) // 2 * 2), max(2, int(width * CROP_SHARE) // 2 * 2)
    top = torch.randint(height - crop_h + 1, (n,), generator=gens.cpu)
    left = torch.randint(width - crop_w + 1, (n,), generator=gens.cpu)
    rows = (top[:, None] + torch.arange(crop_h))[:, None, :, None].to(noisy_input.device)
    cols = (left[:, None] + torch.arange(crop_w))[:, None, None, :].to(noisy_input.device)
    pair = torch.arange(n, device=noisy_input.device)[:, None, None, None]
    channel = torch.arange(noisy_input.shape[1], device=noisy_input.device)[None, :, None, None]
    return noisy_input[pair, channel, rows, cols], noisy_target[pair, channel, rows, cols]
