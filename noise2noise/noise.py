"""Noise models: clean N×C×H×W images in [0, 1] -> one independent noisy draw.

Noise levels are given in the units users think in: Gaussian sigma in 0..255 pixel
values, the Poisson photon scale lambda, probabilities p in [0, 1) for dropped,
impulse and text-covered pixels. A (lo, hi) level draws one level per image, for
blind denoisers. Each model's registry entry (``NOISES.entry(name)``, declared in
``noise2noise.registry``) gives its default level, the levels it takes, and the loss whose
minimiser recovers the clean image from its noisy targets (Lehtinen et al. 2018, section 3).
"""

from __future__ import annotations

import functools
import math
import random
import string
from dataclasses import dataclass, field

import numpy as np
import torch

from noise2noise.registry import NOISES  # names, default levels and level ranges are declared there


def _per_image_level(level: tuple[float, float], n: int, generator: torch.Generator,
                     device: torch.device, power: float = 1.0) -> torch.Tensor:
    """N×1×1×1 levels lo + (hi - lo) * u**power, u uniform in [0, 1): power 1 is uniform; a
    larger power draws the low end of the range more often (``TrainConfig.noise_level_power``)."""
    lo, hi = level
    if lo == hi:
        return torch.full((n, 1, 1, 1), lo, device=device)
    u = torch.rand((n, 1, 1, 1), generator=generator, device=device)
    return lo + (hi - lo) * (u if power == 1.0 else u**power)


def poisson_counts(rate: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Poisson(rate) photon counts, elementwise: ``torch.poisson``, except on CUDA
    ``_poisson_by_inversion``. PyTorch's CUDA sampler starts every element's random stream
    from its thread's index and moves it on by only 20 numbers per call, so two draws in a
    row (a training input and its target) share random numbers once the counts pass about 20
    (``aten/src/ATen/native/cuda/Distributions.cu``; pytorch#136750)."""
    if rate.device.type == "cuda":
        return _poisson_by_inversion(rate, generator)
    return torch.poisson(rate, generator=generator)


# above this many expected photons a count is a rounded normal draw (skewness under 0.045);
# below it, exp(-rate) stays a normal float64
_NORMAL_COUNTS = 500.0


def _poisson_by_inversion(rate: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Poisson(rate) by inverting the CDF with one uniform per element (the count is the
    number of k with CDF(k) < u), in float64 on the rate's device; a rounded normal draw
    above ``_NORMAL_COUNTS``."""
    rate64 = rate.double()
    highest = float(rate64.max()) if rate64.numel() else 0.0  # the one host sync of a draw
    top = min(max(highest, 0.0), _NORMAL_COUNTS)
    uniform = torch.rand(rate.shape, generator=generator, device=rate.device, dtype=torch.float64)
    small = rate64.clamp(min=0.0, max=_NORMAL_COUNTS)
    pmf = torch.exp(-small)  # P(0)
    cdf, count = pmf.clone(), torch.zeros_like(small)
    for k in range(int(top + 10.0 * top**0.5 + 10.0)):  # the tail beyond is below 1e-20
        count += cdf < uniform
        pmf = pmf * small / (k + 1)
        cdf += pmf
    if highest > _NORMAL_COUNTS:  # the normal draws only where some count needs them
        normal = torch.randn(rate.shape, generator=generator, device=rate.device, dtype=torch.float64)
        large = (rate64 + rate64.sqrt() * normal).round().clamp(min=0.0)
        count = torch.where(rate64 > _NORMAL_COUNTS, large, count)
    return count.to(rate.dtype)


def _pixels_hit(level: tuple[float, float], clean: torch.Tensor, generator: torch.Generator,
                power: float = 1.0) -> torch.Tensor:
    """N×1×H×W bool: each pixel (all its channels) hit with probability p, one p per image."""
    n, _, height, width = clean.shape
    p = _per_image_level(level, n, generator, clean.device, power)
    return torch.rand((n, 1, height, width), generator=generator, device=clean.device) < p


@dataclass(frozen=True)
class _Noise:
    """What every noise model shares: ``noise(clean, generator)`` is one noisy draw;
    ``draw`` also says which pixels of that draw carry valid data (None: all of them).
    A (lo, hi) level is drawn per image as lo + (hi - lo) * u**level_power (1: uniform)."""

    level_power: float = field(default=1.0, kw_only=True)  # keyword-only: subclasses take level first

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.draw(clean, generator)[0]

    def draw(self, clean: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(noisy N×C×H×W in [0, 1], valid-pixel mask N×1×H×W float or None)."""
        return self(clean, generator), None


@dataclass(frozen=True)
class GaussianNoise(_Noise):
    """Additive white Gaussian noise, sigma in 0..255 units, optionally clipped to the range."""

    level: tuple[float, float] = NOISES.entry("gaussian").default_level
    clip: bool = True

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.at(clean, self.sigmas(clean.shape[0], generator, clean.device), generator)

    def sigmas(self, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """N×1×1×1 sigmas in 0..255 units, one per image, drawn in ``level``."""
        return _per_image_level(self.level, n, generator, device, self.level_power)

    def at(self, clean: torch.Tensor, sigma_255: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One noisy draw of each clean image at its own sigma (N×1×1×1, 0..255 units)."""
        noisy = clean + sigma_255 / 255.0 * self._unit_noise(clean, generator)
        return noisy.clamp_(0.0, 1.0) if self.clip else noisy

    def _unit_noise(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Standard normal noise of ``clean``'s shape, independent in every channel."""
        return torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)


@dataclass(frozen=True)
class ChannelCorrelatedGaussianNoise(GaussianNoise):
    """Gaussian noise of sigma in 0..255 units whose colour channels are correlated by rho,
    drawn per image in ``correlation`` (default uniformly in 0..1): sqrt(rho) times one noise
    image shared by the channels plus sqrt(1 - rho) times each channel's own (rho 1: the same
    noise in every channel)."""

    level: tuple[float, float] = NOISES.entry("gaussian-correlated").default_level
    correlation: tuple[float, float] = (0.0, 1.0)

    def _unit_noise(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, device = clean.shape[0], clean.device
        rho = _per_image_level(self.correlation, n, generator, device).to(clean.dtype)
        shared = torch.randn((n, 1, *clean.shape[2:]), generator=generator, device=device, dtype=clean.dtype)
        return rho.sqrt() * shared + (1 - rho).sqrt() * super()._unit_noise(clean, generator)


@dataclass(frozen=True)
class PoissonNoise(_Noise):
    """Photon (shot) noise, the paper's convention: noisy = Poisson(lambda·x) / lambda for
    x in [0, 1], so the mean is x and the variance x / lambda: a larger photon scale
    lambda is less noise (lambda = 30 is about sigma 33 of 255 at mid-grey)."""

    level: tuple[float, float] = NOISES.entry("poisson").default_level
    clip: bool = True  # bright pixels can count above 1; clip as a camera saturates

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        scale = _per_image_level(self.level, clean.shape[0], generator, clean.device, self.level_power)
        noisy = poisson_counts(clean.clamp(min=0.0) * scale, generator) / scale
        return noisy.clamp_(0.0, 1.0) if self.clip else noisy


@dataclass(frozen=True)
class BernoulliNoise(_Noise):
    """Multiplicative Bernoulli noise: each pixel (all channels) is dropped to 0 with
    probability p. The loss counts only the target's kept pixels, so ``draw`` returns them."""

    level: tuple[float, float] = NOISES.entry("bernoulli").default_level
    clip: bool = True  # always within range

    def draw(self, clean: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        kept = (~_pixels_hit(self.level, clean, generator, self.level_power)).to(clean.dtype)
        return clean * kept, kept


@dataclass(frozen=True)
class ImpulseNoise(_Noise):
    """Random-valued impulse noise: each pixel is replaced with probability p by a random
    colour, uniform in [0, 1] per channel; the other pixels keep their value."""

    level: tuple[float, float] = NOISES.entry("impulse").default_level
    clip: bool = True  # always within range

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        replaced = _pixels_hit(self.level, clean, generator, self.level_power)
        values = torch.rand(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        return torch.where(replaced, values, clean)


@dataclass(frozen=True)
class TextNoise(_Noise):
    """Text overlay: random strings in random colours, sizes and places (Pillow) until a
    share p of the pixels is covered. The last string can overshoot p a little."""

    level: tuple[float, float] = NOISES.entry("text").default_level
    clip: bool = True  # always within range

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, channels, height, width = clean.shape
        coverage = _per_image_level(self.level, n, generator, clean.device, self.level_power).flatten().tolist()
        seeds = torch.randint(2**62, (n,), generator=generator, device=clean.device).tolist()
        noisy = clean.detach().cpu().numpy().copy()
        for i in range(n):  # Pillow draws one image at a time
            which, colours = _text_layer(height, width, channels, coverage[i], random.Random(seeds[i]))
            covered = which > 0
            noisy[i][:, covered] = colours[which[covered] - 1].T
        return torch.from_numpy(noisy).to(clean.device)


@functools.lru_cache(maxsize=64)
def _font(size_px: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size_px)


def _text_layer(height: int, width: int, channels: int, coverage: float,
                rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """(H×W index of the string covering each pixel, 0 for none; K×C colours in [0, 1])."""
    from PIL import Image, ImageDraw

    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    draw.fontmode = "1"  # no anti-aliasing: a pixel is text or not
    side = min(height, width)
    colours: list[list[float]] = []
    target = coverage * height * width
    # at most 255 strings fit the 8-bit layer; font sizes grow with the image, so that
    # is far more than p < 1 needs
    while len(colours) < 255 and np.count_nonzero(np.asarray(layer)) < target:
        size = rng.randint(max(8, side // 16), max(12, side // 4))
        text = "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(3, 12)))
        xy = (rng.randint(-width // 4, width - 1), rng.randint(-size // 2, height - 1))
        colours.append([rng.random() for _ in range(channels)])
        draw.text(xy, text, fill=len(colours), font=_font(size))
    return np.asarray(layer).astype(np.int64), np.array(colours, dtype=np.float32).reshape(-1, channels)


# Donoho's robust scale: the median absolute value of Gaussian noise is 0.6745 sigma
MAD_TO_SIGMA = 1 / 0.6745
# The cells the estimate keeps (chosen on 60 CBSD432 training photos in grey, sigma 5..50:
# benchmarks/sigma_estimate.py --split train --max-images 60 --margins 1,2 --smooth-fractions
# 0.1,0.25,0.5): cells whose mean lies at least UNCLIPPED_SIGMAS sigmas from black and white
# (clipped noise is smaller there: 45.6 was read at sigma=50 without it), and of those the
# SMOOTH_FRACTION whose neighbourhood is smoothest (edges and texture reach the finest band:
# 6.9 was read at sigma=5 without it). Each choice is made only while it leaves at least
# _MIN_CELLS cells, so that a small or mostly black image is still read.
UNCLIPPED_SIGMAS = 1.0
SMOOTH_FRACTION = 0.25
_MIN_CELLS = 512


def haar_cells(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and the diagonal detail (a - b - c + d) / 2 of each 2×2 cell of N×C×H×W
    images (an odd last row or column is left out): N×C×H/2×W/2 each. The detail is an
    orthonormal combination, so white noise keeps its sigma there."""
    height, width = images.shape[-2:]
    cells = images[..., : height // 2 * 2, : width // 2 * 2].float()
    a, b, c, d = cells[..., 0::2, 0::2], cells[..., 0::2, 1::2], cells[..., 1::2, 0::2], cells[..., 1::2, 1::2]
    return (a + b + c + d) / 4, (a - b - c + d) / 2


def estimate_sigma_255(images: torch.Tensor, unclipped_sigmas: float = UNCLIPPED_SIGMAS,
                       smooth_fraction: float = SMOOTH_FRACTION) -> torch.Tensor:
    """The Gaussian noise level of each N×C×H×W image in 0..255 (the sigma of ``GaussianNoise``):
    the median absolute diagonal detail of 2×2 Haar cells, / 0.6745 (Donoho and Johnstone
    1994), over the cells that are far from black and white and whose neighbourhood is smooth.

    The Haar transform of a cell is orthonormal, so for white Gaussian noise a cell's diagonal
    detail is independent of every cell's mean: choosing cells by their means biases nothing,
    while it drops the cells where clipping shrinks the noise or image content adds to it.
    Three rounds, each choosing by the previous estimate. ``unclipped_sigmas`` and
    ``smooth_fraction``: the choice (see ``UNCLIPPED_SIGMAS``). Returns N float sigmas."""
    n, _, height, width = images.shape
    if height < 2 or width < 2:
        return torch.zeros(n)
    mean, detail = haar_cells(images)
    detail = detail.abs().flatten(1)
    # how much the means change across each cell (central differences; the outer cells have none)
    slope = torch.full_like(mean, float("inf"))
    slope[..., 1:-1, 1:-1] = ((mean[..., 1:-1, 2:] - mean[..., 1:-1, :-2]).abs()
                              + (mean[..., 2:, 1:-1] - mean[..., :-2, 1:-1]).abs())
    sigmas = []
    for level, detail_i, slope_i in zip(mean.flatten(1), detail, slope.flatten(1)):
        sigma = detail_i.median() * MAD_TO_SIGMA
        inner = slope_i.isfinite()
        for _ in range(3):
            margin = unclipped_sigmas * sigma
            chosen = _at_least(inner & (level > margin) & (level < 255 - margin), inner)
            slopes = slope_i[chosen]
            cut = slopes.kthvalue(max(1, int(smooth_fraction * slopes.numel()))).values if slopes.numel() else 0
            chosen = _at_least(chosen & (slope_i <= cut), chosen)
            sigma = detail_i[chosen].median() * MAD_TO_SIGMA if chosen.any() else detail_i.median() * MAD_TO_SIGMA
        sigmas.append(sigma)
    return torch.stack(sigmas).float().cpu()


def clipped_gaussian_mean_255(clean: torch.Tensor, sigma_255: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[clip(clean + n, 0, 255)] for n ~ N(0, sigma²), elementwise, in 0..255 units: the mean
    of a clipped noisy pixel, which is not the clean value within a few sigma of black and white;
    and P(0 < clean + n < 255), the share left unclipped, which is that mean's slope in ``clean``.
    ``sigma_255`` broadcasts against ``clean`` and must be > 0."""
    low, high = -clean / sigma_255, (255.0 - clean) / sigma_255
    normal = torch.distributions.Normal(0.0, 1.0)
    below_high = normal.cdf(high)
    inside = below_high - normal.cdf(low)
    density = lambda z: torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)  # noqa: E731
    mean = clean * inside + sigma_255 * (density(low) - density(high)) + 255.0 * (1.0 - below_high)
    return mean, inside


def _at_least(chosen: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """``chosen`` while it holds at least ``_MIN_CELLS`` cells, else ``fallback``."""
    return chosen if int(chosen.sum()) >= _MIN_CELLS else fallback


def input_and_target_noise(noise, device: torch.device | str, brightness: float = 0.9, seed: int = 0,
                           shape: tuple[int, ...] = (4, 3, 64, 64)) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise (noisy minus clean) of a training input and of its target, drawn as
    ``data.SyntheticPairs.batches`` draws them: the input, then the target, from one generator
    on ``device``; on a flat batch of ``shape`` and ``brightness`` (at 0.9 and lambda 50, photon
    counts near 45). Noise2Noise needs the two uncorrelated on the device it trains on. A GPU
    sampler's random streams depend on the element count, so check the batch shape training
    uses too (the zoo's: 32×3×128×128 and 32×1×128×128)."""
    clean = torch.full(shape, brightness, device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    return noise(clean, generator) - clean, noise.draw(clean, generator)[0] - clean


def build_noise(name: str, level: tuple[float, float], clip: bool, level_power: float = 1.0):
    return NOISES[name](level=level, clip=clip, level_power=level_power)
