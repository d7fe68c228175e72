"""Inference: denoise image tensors and files with a trained network."""

from __future__ import annotations

import math
import numbers
import os
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from noise2noise.augment import SYMMETRIES, symmetry, undo_symmetry
from noise2noise.config import DENOISE_OVERLAP_PX, DENOISE_TILE_BATCH, DENOISE_TILE_PX
from noise2noise.devices import check_precision, inference_autocast, resolve_device
from noise2noise.errors import N2NError, check_flags, say_once
from noise2noise.noise import clipped_gaussian_mean_255, estimate_sigma_255
from noise2noise.unet import pad_to_multiple, sigma_plane

EDGE_FRACTION = 0.25  # of the overlap, ignored at each inner tile edge
# Images are reflect-padded by this much on every side before the network, so that its
# convolutions' zero padding never touches real pixels. Measured with the shipped model on a
# flat grey (128) image: the outer 1-3 pixels were off by up to 14 grey levels without it,
# 1.2 with 8 px (the interior: 1.1); 4 px gave 1.6, 16 px 1.1.
BORDER_PX = 8


class NonFiniteOutput(N2NError):
    """The network's output holds NaN or infinite values: its weights are broken."""

    def __init__(self, precision: str) -> None:
        low = f", or --precision {precision} overflowed (use --precision fp32)" if precision in ("bf16", "fp16") else ""
        super().__init__("the network's output is not finite (NaN or infinite): its weights are broken, e.g. by a "
                         f"training run that diverged (train it again with a lower --lr){low}")


MEAN_MATCHES = ("clipped", "unclipped")  # how the noisy images were made (match_means); None: no matching
_NEWTON_STEPS = 3  # from the unclipped answer: on the retina crop the shift no longer moves after 2
# Measured with `gaussian` on crops of the 65 held-out photos (docs/zoo/mean_match/crops.py):
# the match lost up to 16 dB on some 32 px crops and 5.5 dB on 64 px ones (a small image's noise
# level is poorly estimated), up to 0.34 dB at 128 px, and at most 0.02 dB at 256 px, where it
# gained up to 0.17 dB.
MIN_MATCH_PIXELS = 256 * 256
_CLIP_SAMPLES = 65536
_MIN_SIGMA_255 = 0.1  # below this an image is taken as clean: its mean is matched as it is
# After the one shift per channel, a slowly varying one: the same match over a Gaussian window of
# this std. Measured with `gaussian` on the first 16 of the 65 held-out photos at sigma 15/25/50
# (docs/zoo/mean_match/local.py): a 32 px window gained 0.006-0.011 dB over the global match and
# lost on none; 16 px gained as much but lost up to 0.001 dB, 8 px up to 0.02 dB at sigma=50.
LOCAL_MATCH_PX = 32.0
_POOL_PX = 8  # the window is applied on 8×8 block means, then brought back bilinearly
_ROWS_AT_ONCE = 256  # rows of the image matched at a time (a multiple of _POOL_PX): bounded memory


def match_means(denoised: torch.Tensor, noisy: torch.Tensor, sigma_255: torch.Tensor,
                clipped: bool = True, min_pixels: int = MIN_MATCH_PIXELS,
                window_px: float | None = LOCAL_MATCH_PX) -> torch.Tensor:
    """Each channel of each denoised image moved by one constant so that the noisy image's
    mean is what zero-mean Gaussian noise of ``sigma_255`` (N, 0..255 units) would give on it:
    clipped to 0..255 (``clipped``, as 8-bit files are; ``noise.clipped_gaussian_mean_255``)
    or not. N×C×H×W, 0..255, in and out.

    A network can leave a channel a few grey levels too bright or too dark where it is near
    white and the others are not (docs/models.md, "A fifth GPU session"); the noisy image's
    mean knows the true one to sigma/sqrt(pixels). The shift is shrunk by d²/(d² + sigma²/pixels),
    so that it fades out on small images, whose noisy mean says little, and it is at most
    sigma/2: a larger gap means the noise is not what the network was trained on. Then, unless
    ``window_px`` is None, each pixel is moved by the same match over a Gaussian window of std
    ``window_px`` around it (``_local_shift``), for a bias that varies across the image; the two
    moves together are at most sigma/2. Images of fewer than ``min_pixels`` are left as they are."""
    n, channels, height, width = denoised.shape
    if height * width < min_pixels:
        return denoised
    sigma = torch.as_tensor(sigma_255, dtype=torch.float32).flatten().expand(n).clamp_min(_MIN_SIGMA_255)
    sigma = sigma.to(denoised.device)[:, None]  # N×1, against the N×C means
    target = noisy.float().mean((2, 3))
    shift = target - denoised.mean((2, 3))  # the answer when nothing is clipped
    if clipped:  # Newton's method on the mean of the clipped noisy pixels: it rises with the shift
        spread = sigma[..., None, None]
        # what clipping adds to a pixel's mean varies slowly across an image: a grid of at most
        # _CLIP_SAMPLES pixels gives its mean to a hundredth of a grey level, at a fixed cost
        step = max(1, math.ceil(math.sqrt(height * width / _CLIP_SAMPLES)))
        sample = denoised[..., ::step, ::step]
        for _ in range(_NEWTON_STEPS):
            moved = (sample + shift[..., None, None]).clamp(0.0, 255.0)
            clipped_mean, slope = clipped_gaussian_mean_255(moved, spread)
            predicted = (denoised + shift[..., None, None]).clamp(0.0, 255.0).mean((2, 3)) \
                + (clipped_mean - moved).mean((2, 3))
            shift = shift + (target - predicted) / slope.mean((2, 3)).clamp_min(0.05)
    uncertainty = sigma**2 / (height * width)  # the variance of a noisy image's mean
    shift = (shift * shift**2 / (shift**2 + uncertainty)).clamp(-sigma / 2, sigma / 2)
    shift, sigma = shift[..., None, None], sigma[..., None, None]
    matched = (denoised + shift).clamp(0.0, 255.0)
    if window_px is None:
        return matched
    local = _local_shift(matched, noisy, sigma, clipped, window_px).clamp_(-sigma / 2 - shift, sigma / 2 - shift)
    return matched.add_(local).clamp_(0.0, 255.0)


def _local_shift(denoised: torch.Tensor, noisy: torch.Tensor, sigma_255: torch.Tensor, clipped: bool,
                 window_px: float) -> torch.Tensor:
    """N×C×H×W: what each pixel of ``denoised`` moves by so that, over a Gaussian window of std
    ``window_px``, the noisy image's mean is what the noise (of ``sigma_255``, N×1×1×1; clipped
    or not) would give on it: the window's residual over its slope, shrunk by d²/(d² + the
    variance of the window's noise mean), as ``match_means`` does."""
    channels, (height, width) = denoised.shape[1], denoised.shape[-2:]
    pooled = []  # 8×8 block means of the residual and of the slope, _ROWS_AT_ONCE rows at a time
    for top in range(0, height, _ROWS_AT_ONCE):
        rows = denoised[..., top : top + _ROWS_AT_ONCE, :]
        if clipped:
            predicted, slope = clipped_gaussian_mean_255(rows, sigma_255)
        else:
            predicted, slope = rows, torch.ones_like(rows)
        residual = noisy[..., top : top + _ROWS_AT_ONCE, :].to(rows.device).float() - predicted
        pooled.append(F.avg_pool2d(torch.cat([residual, slope], 1), _POOL_PX, ceil_mode=True))
    smooth = _gaussian_blur(torch.cat(pooled, 2), window_px / _POOL_PX)
    smooth = F.interpolate(smooth, size=(height, width), mode="bilinear", align_corners=False)
    shift = smooth[:, :channels] / smooth[:, channels:].clamp_min(0.05)
    uncertainty = sigma_255**2 / (4 * math.pi * window_px**2)  # 1 / (4 pi std²): the window's sum of squares
    return shift * shift**2 / (shift**2 + uncertainty)


def _gaussian_blur(planes: torch.Tensor, std_px: float) -> torch.Tensor:
    """N×C×H×W, each plane blurred by a Gaussian of ``std_px`` (separable, 4 std wide on each
    side, reflected at the borders; replicated where a side is too short to reflect)."""
    radius = int(4 * std_px + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=planes.dtype, device=planes.device)
    kernel = torch.exp(-0.5 * (offsets / std_px) ** 2)
    kernel = kernel / kernel.sum()
    n, c, height, width = planes.shape
    flat = planes.reshape(n * c, 1, height, width)
    mode = lambda side: "reflect" if radius < side else "replicate"  # noqa: E731
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode=mode(height)), kernel.view(1, 1, -1, 1))
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode=mode(width)), kernel.view(1, 1, 1, -1))
    return flat.reshape(n, c, height, width)


def _check_mean_match(mean_match: str | None) -> None:
    if mean_match not in (None, *MEAN_MATCHES):
        raise N2NError(f"mean_match {mean_match!r}: choose from {', '.join(MEAN_MATCHES)} or None")


def _applied_match(model: nn.Module, mean_match: str | None, height: int, width: int) -> str | None:
    """``mean_match`` where it applies (a network trained for Gaussian noise, an image of at
    least ``MIN_MATCH_PIXELS``), else None: sigma is then not even estimated for it."""
    return mean_match if getattr(model, "mean_match", False) and height * width >= MIN_MATCH_PIXELS else None


def pad_border(images: torch.Tensor, border_px: int) -> torch.Tensor:
    """Reflect-pad the last two dims by ``border_px`` on every side (replicate where a side
    is too short to reflect)."""
    if not border_px:
        return images
    mode = "reflect" if border_px < min(images.shape[-2:]) else "replicate"
    return torch.nn.functional.pad(images, (border_px,) * 4, mode=mode)


def checked_noise_levels(levels, count: int, units: str, most: float = math.inf) -> torch.Tensor:
    """Gaussian noise levels as a float tensor of ``count`` (one level serves every image); one
    line for a NaN, infinite or negative level, one above ``most`` (a sigma beyond the whole
    range turned the image black), or a count that is neither 1 nor ``count``."""
    flat = torch.as_tensor(levels, dtype=torch.float32).flatten()
    if (flat.numel() not in (1, count) or not bool(torch.isfinite(flat).all()) or bool((flat < 0).any())
            or bool((flat > most).any())):
        shown = levels if isinstance(levels, (int, float)) else flat.tolist()
        per_image = f" (one, or one per image: {count})" if count > 1 else ""
        upto = f", at most {most:g} (the whole range)" if most < math.inf else ""
        raise N2NError(f"noise level {shown!r} must be a finite sigma >= 0 in {units}{per_image}{upto}, "
                       "or left out to estimate it")
    return flat.expand(count)


def check_call(model: object, batch_size: object, tile_px: object = None, overlap_px: object = 0,
               border_px: object = 0) -> None:
    """One line for what a Python caller gives the denoising functions that they cannot use:
    not a network, or a count that is not a whole number in range (a negative batch size made
    the tile loop run no batch, and the image all NaN)."""
    if not isinstance(model, nn.Module):
        raise N2NError(f"model: expected a network (noise2noise.load_model(path)), got {type(model).__name__}")
    for name, value, least in (("batch_size", batch_size, 1), ("tile_px", tile_px or 0, 0),
                               ("overlap_px", overlap_px, 0), ("border_px", border_px, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise N2NError(f"{name}={value!r} must be a whole number >= {least}")


def check_images(images: object, model: nn.Module, where: str) -> torch.Tensor:
    """The N×C×H×W image tensor a caller gives, if a network can denoise it; else one line.
    Noise may carry pixels past 0..255 (unclipped), so up to a whole range beyond is taken."""
    if not isinstance(images, torch.Tensor):
        hint = " (NumPy images: use denoise_array)" if type(images).__module__ == "numpy" else ""
        raise N2NError(f"{where}: expected a torch tensor, got {type(images).__name__}{hint}")
    expected = getattr(model, "in_channels", None)
    if images.ndim != 4 or (expected and images.shape[1] != expected):
        raise N2NError(f"{where}: expected N×C×H×W images{f' with C = {expected}' if expected else ''} (the "
                       f"channels the model takes), got shape {tuple(images.shape)}")
    if 0 in images.shape:
        raise N2NError(f"{where}: shape {tuple(images.shape)} holds no pixels; give at least one image of 1×1 or more")
    if images.layout != torch.strided or images.device.type == "meta":
        raise N2NError(f"{where}: a {images.layout} tensor on {images.device.type}: give a dense CPU or GPU tensor")
    if not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise N2NError(f"{where}: expected uint8 or float pixels, got {images.dtype}")
    if images.is_floating_point():
        if not bool(torch.isfinite(images).all()):
            raise N2NError(f"{where}: contains NaN or infinite values; replace them first")
        low, high = images.min().item(), images.max().item()
        if low < -255 or high > 510:
            raise N2NError(f"{where}: values from {low:.4g} to {high:.4g} are far outside 0..255; map them onto "
                           "0..255 first (denoise_array does so for 16-bit and float images)")
        if 0 < high <= 1:  # images in 0..1 (torchvision's habit) read as black: the result means nothing
            scale = "map -1..1 onto it: (x + 1) × 127.5" if low < -0.5 else "multiply them by 255"
            say_once(f"warning: {where}: every value lies in {'-1..1' if low < -0.5 else '0..1'}, but n2n takes "
                     f"images in 0..255 ({scale})")
    return images


@torch.no_grad()
def denoise_tensor(model: nn.Module, images: torch.Tensor, batch_size: int = 16,
                   device: torch.device | str | None = None, border_px: int = BORDER_PX, tta: bool = False,
                   precision: str = "auto", sigma_255: torch.Tensor | float | None = None,
                   mean_match: str | None = "clipped") -> torch.Tensor:
    """N×C×H×W images in 0..255 -> denoised float N×C×H×W in 0..255, on the input's device.

    Each image is seen with a reflected border of ``border_px`` (see ``BORDER_PX``).
    ``tta``: test-time self-ensemble, the mean of the outputs for the 8 flips and quarter
    turns of each image, each turned back (8× the compute). ``precision``: 'auto' (float32
    on a CPU, bf16 on CUDA), 'fp32' or 'bf16' (``devices.inference_autocast``).
    ``sigma_255``: the images' Gaussian noise level in 0..255 units (one number, or N), for a
    network told sigma (``sigma_input``); None: estimated from each image
    (``noise.estimate_sigma_255``). Other networks use it only to match means.
    ``mean_match``: for a network trained on Gaussian noise (``mean_match`` set by
    ``checkpoint.load_model``), each output's channel means are matched to its noisy image's
    (``match_means``), the images taken as 'clipped' to 0..255 or 'unclipped'; None: not.
    Checks what it is given (``check_call``, ``check_images``); ``run_network`` does the work."""
    check_call(model, batch_size, border_px=border_px)
    check_flags("denoise_tensor", tta=tta)
    check_images(images, model, "denoise_tensor(images)")
    if isinstance(device, numbers.Integral) and not isinstance(device, bool):  # torch's 0 is cuda:0
        device = f"cuda:{device}"
    device = resolve_device(device) if isinstance(device, str) else device
    return run_network(model, images, batch_size, device, border_px, tta, precision, sigma_255, mean_match)


@torch.no_grad()
def run_network(model: nn.Module, images: torch.Tensor, batch_size: int = 16, device: torch.device | None = None,
                border_px: int = BORDER_PX, tta: bool = False, precision: str = "auto",
                sigma_255: torch.Tensor | float | None = None, mean_match: str | None = "clipped") -> torch.Tensor:
    """``denoise_tensor`` without its checks, for images this package made or checked itself
    (tiles, validation crops, evaluation images with unclipped noise)."""
    _check_mean_match(mean_match)
    device = device if device is not None else next(model.parameters()).device
    told_sigma = getattr(model, "sigma_input", False)
    # only where it applies: estimating sigma for a course batch of small crops would cost time for nothing
    mean_match = _applied_match(model, mean_match, *images.shape[-2:])
    if told_sigma or mean_match:
        sigma_255 = estimate_sigma_255(images) if sigma_255 is None else sigma_255
        sigma_255 = checked_noise_levels(sigma_255, images.shape[0], "0..255 units", most=255.0)
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, images.shape[0], batch_size):
        batch = pad_border(images[start : start + batch_size].to(device).float() / 255.0, border_px)  # never in place
        height, width = batch.shape[-2:]
        if tta:  # pad once, as the network would: every view then sees the same pixels, as tiles do
            batch = pad_to_multiple(batch, getattr(model, "multiple_px", 1))
        views = range(SYMMETRIES if tta else 1)  # symmetry 0 is the identity
        total = 0.0
        for k in views:  # one view at a time: memory stays that of one batch
            view = symmetry(batch, k)
            if told_sigma:
                view = sigma_plane(view, sigma_255[start : start + batch_size].to(device))
            with inference_autocast(device, precision):
                pred = model(view.contiguous(memory_format=torch.channels_last))
            if not torch.isfinite(pred).all():  # clamping would turn NaN into a black image
                raise NonFiniteOutput(precision)
            total = total + undo_symmetry(pred.float().clamp_(0.0, 1.0), k)
        pred = (total / len(views))[..., border_px : height - border_px, border_px : width - border_px]
        out.append(pred.mul_(255.0).to(images.device))
    model.train(was_training)
    out = torch.cat(out)
    if mean_match:
        out = match_means(out, images, sigma_255, clipped=mean_match == "clipped")
    return out


def tile_geometry(model: nn.Module, tile_px: int, overlap_px: int) -> tuple[int, int]:
    """(tile side, stride) in px, both multiples of the model's 2**depth so that every tile
    keeps the pooling grid of whole-image inference; the overlap only grows by rounding."""
    multiple = getattr(model, "multiple_px", 1)
    tile = tile_px // multiple * multiple
    stride = (tile - overlap_px) // multiple * multiple  # from the rounded tile: else the overlap could vanish
    if overlap_px < 0 or stride < multiple:
        rounded = f" ({tile} px once rounded down to a multiple of {multiple})" if tile != tile_px else ""
        raise N2NError(f"tile {tile_px} px{rounded} with overlap {overlap_px} px leaves no stride: the overlap must "
                       f"be ≥ 0 and the tile at least {multiple} px (2**depth) longer than the overlap; use a tile "
                       f"of {-(-(max(overlap_px, 0) + multiple) // multiple) * multiple} px or more, or a smaller "
                       "overlap")
    return tile, stride


def tile_starts(size_px: int, tile_px: int, stride_px: int) -> list[int]:
    """Offsets of tiles of side ``tile_px``, ``stride_px`` apart, covering 0..size_px;
    the last tile ends at the border."""
    if size_px <= tile_px:
        return [0]
    return [*range(0, size_px - tile_px, stride_px), size_px - tile_px]


def blend_window(tile_px: int, overlap_px: int, fade_start: bool = True, fade_end: bool = True) -> torch.Tensor:
    """1-D weights of a tile side: on an end that overlaps a neighbour, 0 over the outer
    ``EDGE_FRACTION`` of the overlap (where the tile's own border corrupts the output), then
    a linear ramp up to 1; 1 on an end at the image border, which whole-image inference
    sees as a border too."""
    margin = overlap_px * EDGE_FRACTION
    position = torch.arange(tile_px, dtype=torch.float32) + 0.5
    ramp = lambda distance: ((distance - margin) / max(overlap_px - 2 * margin, 1.0)).clamp(0.0, 1.0)
    weight = torch.ones(tile_px)
    if fade_start:
        weight = torch.minimum(weight, ramp(position))
    if fade_end:
        weight = torch.minimum(weight, ramp(tile_px - position))
    return weight


def _told_sigma_255(model: nn.Module, image: torch.Tensor, sigma_255: float | None) -> float | None:
    """The one level a network told sigma gets for a whole C×H×W 0..255 image: ``sigma_255``
    when given, else estimated from the image; None (nothing to tell) for other networks."""
    if sigma_255 is None and getattr(model, "sigma_input", False):
        return float(estimate_sigma_255(image[None].cpu())[0])
    return sigma_255


@torch.no_grad()
def denoise_image(model: nn.Module, image: torch.Tensor, tile_px: int | None = DENOISE_TILE_PX,
                  overlap_px: int = DENOISE_OVERLAP_PX, batch_size: int = DENOISE_TILE_BATCH, progress: bool = False,
                  tta: bool = False, precision: str = "auto", sigma_255: float | None = None,
                  mean_match: str | None = "clipped") -> torch.Tensor:
    """One C×H×W image in 0..255 -> denoised float C×H×W in 0..255 on the CPU (``tta``,
    ``precision``, ``sigma_255``, ``mean_match``: see ``denoise_tensor``; tiles are matched as
    one image).

    An image with a side longer than ``tile_px`` (None or 0: never) is denoised in
    overlapping tiles, ``batch_size`` at a time, blended with ``blend_window``: memory is
    bounded by the tile batch, whatever the image size. A network told sigma gets one level
    for the whole image, estimated before tiling when not given, so tiles cannot disagree."""
    from tqdm.auto import tqdm

    check_call(model, batch_size, tile_px, overlap_px)
    check_flags("denoise_image", progress=progress, tta=tta)
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        shape = f"shape {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
        raise N2NError(f"denoise_image(image): expected one C×H×W torch tensor, got {shape} (NumPy images: use "
                       "denoise_array)")
    check_images(image[None], model, "denoise_image(image)")
    _check_mean_match(mean_match)
    sigma_255 = _told_sigma_255(model, image, sigma_255)
    height, width = image.shape[-2:]
    if not tile_px or (height <= tile_px and width <= tile_px):
        return run_network(model, image[None].cpu(), tta=tta, precision=precision, sigma_255=sigma_255,
                           mean_match=mean_match)[0]
    tile, stride = tile_geometry(model, tile_px, overlap_px)
    # pad once as a whole image is padded (reflected border, then the U-Net's multiple), so
    # that tiles see the same pixels as whole-image inference
    padded = pad_border(image[None].cpu().float(), BORDER_PX)
    padded = pad_to_multiple(padded, getattr(model, "multiple_px", 1))[0]
    tile_h, tile_w = min(tile, padded.shape[1]), min(tile, padded.shape[2])
    rows, cols = tile_starts(padded.shape[1], tile_h, stride), tile_starts(padded.shape[2], tile_w, stride)
    corners = [(y, x) for y in rows for x in cols]
    row_windows = {y: blend_window(tile_h, tile - stride, y > 0, y < rows[-1]) for y in rows}
    col_windows = {x: blend_window(tile_w, tile - stride, x > 0, x < cols[-1]) for x in cols}
    total = torch.zeros(getattr(model, "out_channels", image.shape[0]), *padded.shape[1:])
    weight = torch.zeros(padded.shape[1:])
    with tqdm(total=len(corners), desc="tiles", unit="tile", leave=False, disable=not progress) as bar:
        for start in range(0, len(corners), batch_size):
            batch = corners[start : start + batch_size]
            tiles = torch.stack([padded[:, y : y + tile_h, x : x + tile_w] for y, x in batch])
            tiled = run_network(model, tiles, batch_size=batch_size, border_px=0, tta=tta, precision=precision,
                                sigma_255=sigma_255, mean_match=None)
            for (y, x), denoised in zip(batch, tiled):
                window = row_windows[y][:, None] * col_windows[x][None, :]
                total[:, y : y + tile_h, x : x + tile_w] += denoised * window
                weight[y : y + tile_h, x : x + tile_w] += window
            bar.update(len(batch))
    out = total.div_(weight)[:, BORDER_PX : BORDER_PX + height, BORDER_PX : BORDER_PX + width]
    mean_match = _applied_match(model, mean_match, height, width)
    if mean_match:
        level = estimate_sigma_255(image[None].cpu()) if sigma_255 is None else sigma_255
        out = match_means(out[None], image[None].cpu(), level, clipped=mean_match == "clipped")[0]
    return out


def level_255(noise_level: float | None, array, span: tuple[float, float] | None = None) -> float | None:
    """A Gaussian noise level in an H×W×C image array's own units, on the 0..255 map the
    network sees (``images.intensity_span``, or ``span`` when the caller has it); one line when
    it exceeds that whole range, as a level given in 0..255 units for a float image in 0..1
    does. None stays None."""
    from noise2noise.images import intensity_span, scale_to_255

    if noise_level is None:
        return None
    span = span or intensity_span(array)
    mapped = noise_level * scale_to_255(span)
    if mapped > 255:
        raise N2NError(f"noise level {noise_level:g} is in the image's own units, and this {array.dtype} image spans "
                       f"{span[0]:.4g}..{span[1]:.4g}: that is sigma {mapped:.0f} on 0..255, more than its whole "
                       "range; give sigma in the image's units (e.g. 0.1 for 10% of a 0..1 range)")
    return mapped


def check_model_takes(model: nn.Module, image_channels: int) -> int:
    """The model's channel count (1 or 3), if it can denoise images of ``image_channels``
    (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA); else one N2NError line."""
    channels, out_channels = model.in_channels, getattr(model, "out_channels", model.in_channels)
    if channels not in (1, 3) or out_channels != channels:
        raise N2NError(f"the model maps {channels} to {out_channels} channels; image files need a "
                       "greyscale (1 to 1) or RGB (3 to 3) model")
    if image_channels >= 3 and channels == 1:
        raise N2NError("this model was trained on greyscale images and cannot denoise colour ones")
    return channels


def denoise_array(model: nn.Module, array, tile_px: int | None = DENOISE_TILE_PX,
                  overlap_px: int = DENOISE_OVERLAP_PX, batch_size: int = DENOISE_TILE_BATCH, progress: bool = False,
                  tta: bool = False, precision: str = "auto", noise_level: float | None = None,
                  on_estimate: Callable[[float], None] | None = None, mean_match: bool = True):
    """An H×W×C image array (uint8, uint16 or float) -> denoised array of the same shape
    and dtype; an S×H×W×C stack is denoised image by image.

    16-bit and float images reach the network as their min..max mapped onto 0..255 and are
    mapped back exactly (``images.intensity_span``), so they keep their range. Alpha is
    passed through; a greyscale image through an RGB model is denoised as grey RGB and
    averaged back to one channel (which keeps most of its noise: see ``denoise_files``).
    ``noise_level``: the Gaussian sigma in the array's own units, for a network told sigma
    (None: estimated from each image, and each estimate passed to ``on_estimate`` in the
    array's own units); mapped onto 0..255 as the pixels are. ``mean_match``: see
    ``denoise_tensor``; 8-bit images are taken as clipped, others (mapped by their span) not."""
    import numpy as np

    from noise2noise.images import from_chw_255, intensity_span, is_grey, scale_to_255, to_chw_255

    check_call(model, batch_size, tile_px, overlap_px)
    check_flags("denoise_array", progress=progress, tta=tta, mean_match=mean_match)
    array = np.asarray(array)
    if array.ndim == 2:  # H×W: one grey image
        return denoise_array(model, array[:, :, None], tile_px, overlap_px, batch_size, progress, tta, precision,
                             noise_level, on_estimate, mean_match)[:, :, 0]
    if array.ndim not in (3, 4) or array.shape[-1] not in (1, 2, 3, 4) or 0 in array.shape:
        # a Z×Y×X stack (tifffile.imread) read as C×H×W would mix its slices as colours: name both readings
        hint = "; a stack of grey images (Z×Y×X, as tifffile reads one) goes in as array[..., None], a C×H×W " \
            "colour image (PyTorch's order) as array.transpose(1, 2, 0)" \
            if array.ndim == 3 and array.shape[0] in (1, 2, 3, 4) and array.shape[-1] > 4 else \
            "; a stack of grey images (Z×Y×X) goes in as array[..., None]" if array.ndim == 3 and 0 not in array.shape \
            else ""
        raise N2NError(f"expected an H×W×C image or an S×H×W×C stack with C = 1 (grey), 2 (grey+alpha), 3 (RGB) "
                       f"or 4 (RGBA), got shape {array.shape}{hint}")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))  # big-endian (16-bit PGM, raw buffers): the same values
    if array.dtype not in (np.uint8, np.uint16) and array.dtype.kind != "f":
        raise N2NError(f"pixel type {array.dtype} is not taken; give uint8, uint16 or float pixels")
    finite = array.dtype.kind != "f" or (np.isfinite(array).all()
                                          and np.isfinite(float(array.max()) - float(array.min())))
    if not finite:
        raise N2NError("the image holds NaN or infinite values, or values too far apart for a float; replace or "
                       "scale them first")
    if array.ndim == 4:
        return np.stack([denoise_array(model, plane, tile_px, overlap_px, batch_size, progress, tta, precision,
                                       noise_level, on_estimate, mean_match) for plane in array])
    if getattr(model, "in_channels", 3) == 1 and array.shape[2] >= 3 and is_grey(array):
        # a grey photo saved as RGB(A): one channel through the grey network, repeated back
        grey = denoise_array(model, array[:, :, [0, *range(3, array.shape[2])]], tile_px, overlap_px, batch_size,
                             progress, tta, precision, noise_level, on_estimate, mean_match)
        return np.concatenate([np.repeat(grey[:, :, :1], 3, axis=2), grey[:, :, 1:]], axis=2)

    channels, colour_channels = check_model_takes(model, array.shape[2]), 3 if array.shape[2] >= 3 else 1
    span = intensity_span(array)  # one map there and back, and for the noise level
    tensor = to_chw_255(array, channels, span).float()
    sigma_255 = _told_sigma_255(model, tensor, level_255(noise_level, array, span))
    if noise_level is None and sigma_255 is not None and on_estimate is not None:  # in the image's own units
        scale = scale_to_255(span)
        on_estimate(sigma_255 / scale if scale else 0.0)  # 0: a constant image
    match = ("clipped" if array.dtype == np.uint8 else "unclipped") if mean_match else None
    out = denoise_image(model, tensor, tile_px, overlap_px, batch_size, progress, tta, precision, sigma_255, match)
    if colour_channels == 1 and channels == 3:
        out = out.mean(dim=0, keepdim=True)
    return from_chw_255(out, like=array, span=span)


def output_paths(inputs: list[Path], out: Path, overwrite: bool = False,
                 skip_existing: bool = False) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs: one file to ``out`` when ``out`` has a suffix (an
    image format's) and is not a folder; one folder's tree mirrored into ``out``; several
    inputs each under ``out/<name>``. The outputs are checked here, before any work
    (``outputs.check_outputs``: nothing replaced without ``overwrite``, nothing written
    over or inside the inputs). ``skip_existing``: outputs that exist already are left as
    they are and their inputs dropped (an interrupted folder run goes on where it stopped:
    every output is written whole, ``outputs.atomic_write``)."""
    from noise2noise.images import IMAGE_SUFFIXES, list_images
    from noise2noise.outputs import check_out_folder, check_outputs, refuse_long_names, resolved

    inputs, out = [Path(p) for p in inputs], Path(out)
    refuse_long_names(out, "-o")
    jobs: list[tuple[Path, Path]] = []
    single_file = len(inputs) == 1 and inputs[0].is_file() and out.suffix != "" and not out.is_dir()
    for item in inputs:
        root = out if len(inputs) == 1 else out / item.name
        if item.is_dir():
            jobs += [(f, root / f.relative_to(item)) for f in list_images(item)]
        else:
            jobs.append((item, out if single_file else out / item.name))
    if not single_file:
        check_out_folder(out, inputs, option="-o")
    if overwrite and skip_existing:
        raise N2NError("--overwrite replaces the outputs that exist and --skip-existing keeps them; pass one of them")
    # a link to a missing file too; a folder is no output to keep (check_outputs refuses it)
    existing = {target for _, target in jobs if os.path.lexists(target) and not target.is_dir()}
    if skip_existing:
        jobs = [(source, target) for source, target in jobs if target not in existing]
    elif existing and not overwrite and len(jobs) > 1:
        first = next(target for _, target in jobs if target in existing)
        raise N2NError(f"{first}: already exists, as do {len(existing) - 1} more of the {len(jobs)} outputs; "
                       "pass --skip-existing to denoise only the others (to finish an interrupted run), "
                       "--overwrite to replace them, or choose another -o")
    check_outputs([target for _, target in jobs], inputs, overwrite,
                  suffixes=IMAGE_SUFFIXES if single_file else None)
    targets: dict[Path, Path] = {}
    for source, target in jobs:
        if resolved(target) in targets:
            raise N2NError(f"{source} and {targets[resolved(target)]} would both be written to {target}; "
                           "rename one or denoise them separately")
        targets[resolved(target)] = source
    return jobs


def denoise_files(model: nn.Module, inputs: list[Path], out: Path, tile_px: int | None = DENOISE_TILE_PX,
                  overlap_px: int = DENOISE_OVERLAP_PX, batch_size: int = DENOISE_TILE_BATCH, progress: bool = True,
                  tta: bool = False, overwrite: bool = False, grey_model: nn.Module | None = None,
                  precision: str = "auto", noise_level: float | None = None, mean_match: bool = True,
                  skip_existing: bool = False) -> list[Path]:
    """Denoise image files and folders (recursively) into ``out`` (see ``output_paths``),
    keeping each image's size, bit depth, channels and format; a TIFF stack is denoised
    image by image into a stack of the same shape, dtype and axes. Existing files are
    replaced only with ``overwrite``. Greyscale files, grey photos saved as RGB among them
    (``images.is_grey``), go to ``grey_model`` when given (a greyscale network); an RGB
    ``model`` alone keeps most of their noise, and a warning says so.
    ``noise_level``: see ``denoise_array`` (only networks told sigma use it); the levels
    estimated in its absence are said on stderr at the end (with ``progress``). ``mean_match``:
    see ``denoise_array``. ``skip_existing``: see ``output_paths``."""
    import sys

    from tqdm.auto import tqdm

    from noise2noise.images import check_writable, is_grey, read_stack, write_image

    def model_for(grey: bool) -> nn.Module:
        # an RGB network tells noise from texture by its independence across channels: a grey
        # image repeated into RGB keeps ~90% of its noise (benchmarks/passthrough.py --channel-correlation 1),
        # so grey photos saved as RGB (images.is_grey) go to the grey network too
        return grey_model if grey_model is not None and grey else model

    check_flags("denoise_files", progress=progress, tta=tta, overwrite=overwrite, mean_match=mean_match,
                skip_existing=skip_existing)
    if isinstance(inputs, (str, os.PathLike)):  # one path: iterating a string would read '/' for '/photo.png'
        inputs = [inputs]
    if batch_size < 1 or (tile_px or 0) < 0 or overlap_px < 0:
        raise N2NError(f"batch size {batch_size}, tile {tile_px} px, overlap {overlap_px} px: the batch size "
                       "must be a positive integer, the tile and the overlap >= 0")
    if noise_level is not None:  # a bad level fails before any file is read
        level = checked_noise_levels(noise_level, 1, "the images' own units (0..255 for 8-bit images)")
        users = [m for m in (model, grey_model) if m is not None
                 and (getattr(m, "sigma_input", False) or (mean_match and getattr(m, "mean_match", False)))]
        if not users:  # as other unused settings are refused, rather than ignored
            why = ("its means are not matched (it is not trained for Gaussian noise)" if mean_match
                   else "mean matching is off (--no-mean-match)")
            raise N2NError(f"noise level {float(level[0]):g} would not be used: the network is not told sigma and "
                           f"{why}; leave the noise level out")
    if tile_px:
        tile_geometry(model, tile_px, overlap_px)  # bad options fail before any file is read
    check_precision(precision)  # so does an unknown precision
    jobs = output_paths(inputs, out, overwrite, skip_existing)
    grey_through_rgb = []
    for source, target in jobs:  # every input read and checked, with its output format, before any denoising
        stack = read_stack(source)
        grey = is_grey(stack.planes)
        chosen = model_for(grey)
        try:
            if check_model_takes(chosen, 1 if grey else stack.planes.shape[3]) == 3 and grey:
                grey_through_rgb.append(source)
        except N2NError as exc:
            raise N2NError(f"{source}: {exc}") from None
        check_writable(target, stack)
        try:  # a level that does not fit an image fails before any file is written
            for plane in stack.planes:
                level_255(noise_level, plane)
        except N2NError as exc:
            raise N2NError(f"{source}: {exc}") from None
    if grey_through_rgb:
        more = f" and {len(grey_through_rgb) - 1} more" if len(grey_through_rgb) > 1 else ""
        print(f"warning: {grey_through_rgb[0]}{more}: greyscale through an RGB model, which keeps most of a grey "
              "image's noise; use a greyscale model (--model gaussian-gray)", file=sys.stderr)
    written, estimated = [], {}
    for source, target in tqdm(jobs, desc="denoise", unit="file", disable=not progress):
        stack = read_stack(source)
        try:
            result = denoise_array(model_for(is_grey(stack.planes)), stack.planes, tile_px, overlap_px, batch_size,
                                   progress, tta, precision, noise_level,
                                   on_estimate=estimated.setdefault(source, []).append, mean_match=mean_match)
        except N2NError as exc:
            raise N2NError(f"{source}: {exc}") from None
        written.append(write_image(target, stack.with_planes(result)))
    levels = {source: found for source, found in estimated.items() if found}
    if levels and progress:
        print(_estimated_levels_message(levels), file=sys.stderr)
    return written


def _estimated_levels_message(levels: dict[Path, list[float]]) -> str:
    """One line saying the noise levels estimated for a network told sigma: per file, the
    sigma of each of its images in the file's own units."""
    values = sorted(level for found in levels.values() for level in found)
    if len(values) == 1:
        return (f"{next(iter(levels))}: noise level estimated as sigma {values[0]:.3g} (in the image's own "
                "units); give --noise-level to set it")
    return (f"noise levels estimated for {len(values)} images in {len(levels)} file(s): sigma {values[0]:.3g} to "
            f"{values[-1]:.3g}, median {statistics.median(values):.3g} (each in its image's own units); give "
            "--noise-level to set one for all")
