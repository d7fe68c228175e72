"""Evaluation: PSNR/SSIM of the noisy input and of the denoised output against clean,
and the comparison of denoising methods (the noisy input, NLM, BM3D, our models) on
whole images, with seconds per image.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from noise2noise.denoise import run_network
from noise2noise.devices import check_precision
from noise2noise.errors import N2NError
from noise2noise.images import CHANNELS
from noise2noise.metrics import psnr_db, ssim
from noise2noise.noise import GaussianNoise, PoissonNoise, estimate_sigma_255
from noise2noise.registry import Registry

# A method denoises one noisy C×H×W float image in 0..255, given the noise model when its
# level is known (``known_noise``), else None; it returns C×H×W float in 0..255.
Method = Callable[[torch.Tensor, "GaussianNoise | PoissonNoise | None"], torch.Tensor]
METHODS = Registry("method", extra=None, licence=None, min_px=1)  # the baselines; models join them through model_method
# extra: the optional package a method needs (`pip install 'noise2noise[EXTRA]'`), and why it is optional


def evaluate_pairs(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, sigma_255: torch.Tensor | None = None,
                   batch_size: int = 64, with_ssim: bool = True) -> dict[str, float]:
    """Metrics over N×C×H×W (noisy, clean) images in 0..255 (``sigma_255``: the inputs' noise
    levels for a ``sigma_input`` network, see ``denoise_tensor``)."""
    denoised = run_network(model, noisy, batch_size=batch_size, sigma_255=sigma_255)
    unit = lambda x: x.float().cpu() / 255.0  # noqa: E731
    row = {"n_images": int(noisy.shape[0]),
           "psnr_noisy_db": psnr_db(unit(noisy), unit(clean)),
           "psnr_db": psnr_db(unit(denoised), unit(clean))}
    if with_ssim:
        row["ssim_noisy"] = ssim(unit(noisy), unit(clean))
        row["ssim"] = ssim(unit(denoised), unit(clean))
    return row


def add_noise(images: list[tuple[str, torch.Tensor]], noise, seed: int = 0) -> Iterator[tuple]:
    """(name, noisy, clean) per image, C×H×W float 0..255, one draw each from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    for name, image in images:
        clean = image.float()
        yield name, noise(clean.unsqueeze(0) / 255.0, generator)[0] * 255.0, clean


def evaluation_images(data: str, noise=None, split: str = "all", val_fraction: float = 0.15,
                      seed: int = 0, max_images: int | None = None,
                      channels: str = "auto") -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, noisy, clean) C×H×W float 0..255, at most ``max_images``: a tensor file's
    (noisy, clean) pairs as they are, or the clean images of one split of 'embedded' or
    a folder, as ``channels`` (see ``images.common_channels``), with ``noise`` added (one
    draw each, from ``seed``)."""
    from noise2noise.data import is_course_file, load_reference_pairs, split_images

    if is_course_file(data):
        noisy, clean = load_reference_pairs(data)
        wanted = CHANNELS.get(channels)
        if wanted is not None and noisy.shape[1] != wanted:  # a tensor file's images are taken as they are
            shipped = {1: " (the shipped one: --model gaussian-gray)", 3: " (the shipped one: --model gaussian)"}
            raise N2NError(f"{data}: holds {noisy.shape[1]}-channel images, and the model takes {wanted}-channel "
                           f"ones; evaluate a {noisy.shape[1]}-channel model{shipped.get(noisy.shape[1], '')}")
        return [(f"#{i}", n.float(), c.float()) for i, (n, c) in enumerate(zip(noisy[:max_images], clean))]
    images = split_images(data, split, val_fraction, channels)[:max_images]
    if not images:
        raise N2NError(f"{data}: split {split!r} holds no images (val_fraction={val_fraction})")
    return list(add_noise(images, noise, seed))


def channels_for(models: dict) -> str:
    """The ``channels`` that clean images are read as to evaluate ``models`` on them: each
    model's own ('grey' colour photos for a greyscale network, 'rgb'), 'auto' with none."""
    counts = {model.in_channels for model in models.values()}
    if len(counts) > 1:
        raise N2NError(f"the models take {' and '.join(map(str, sorted(counts)))}-channel images; compare "
                       "greyscale and colour models in separate runs")
    names = {count: name for name, count in CHANNELS.items()}
    return names.get(counts.pop(), "auto") if counts else "auto"


def known_noise(noise):
    """The noise model when a baseline can use its level: Gaussian noise of one sigma (BM3D
    takes it) or Poisson noise of one photon scale (BM3D after the Anscombe transform); else None."""
    if isinstance(noise, (GaussianNoise, PoissonNoise)) and noise.level[0] == noise.level[1]:
        return noise
    return None


def _hwc(image: torch.Tensor) -> np.ndarray:
    return image.detach().cpu().permute(1, 2, 0).double().numpy() / 255.0


def _chw(array: np.ndarray) -> torch.Tensor:
    array = array[:, :, None] if array.ndim == 2 else array
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float().mul_(255.0).clamp_(0, 255)


def _estimated_sigma(noisy: torch.Tensor) -> float:
    """The noise level of a C×H×W 0..255 image in 0..1 units, as the baselines take it: the
    product's one estimator (``noise.estimate_sigma_255``) on each channel, averaged as
    scikit-image's ``average_sigmas`` does."""
    return estimate_sigma_255(noisy[:, None]).mean().item() / 255.0


@METHODS.register("noisy")
def noisy_input(noisy: torch.Tensor, noise=None) -> torch.Tensor:
    """The noisy input itself: the floor every denoiser must beat."""
    return noisy.float()


@METHODS.register("nlm")
def non_local_means(noisy: torch.Tensor, noise=None) -> torch.Tensor:
    """scikit-image non-local means (BSD licence), sigma always estimated from the image
    (``noise.estimate_sigma_255``); settings of scikit-image's own example: fast mode, 5×5 patches,
    search distance 6, h = 0.6·sigma."""
    from skimage.restoration import denoise_nl_means

    image = _hwc(noisy)
    sigma_est = _estimated_sigma(noisy)
    denoised = denoise_nl_means(image, h=0.6 * sigma_est, sigma=sigma_est, fast_mode=True, patch_size=5,
                                patch_distance=6, channel_axis=-1)
    return _chw(denoised.reshape(image.shape))  # scikit-image drops axes of length 1 (a 1-px row, grey)


def _missing_extra(name: str) -> N2NError:
    entry = METHODS.entry(name)
    licence = f" ({entry.licence} licence)" if entry.licence else ""
    return N2NError(f"method {name} needs the {entry.extra} package{licence}: pip install 'noise2noise[{entry.extra}]'")


def require_methods(names: list[str]) -> None:
    """Fail now, in one line, when a method's optional package is missing (not after hours of training)."""
    import importlib.util

    for name in names:
        extra = METHODS.entry(name).extra
        if extra is not None and importlib.util.find_spec(extra) is None:
            raise _missing_extra(name)


# the bm3d package crashed the process on an 8×8 image (a segfault) and refused 7×9 ("smaller than block size")
@METHODS.register("bm3d", extra="bm3d", licence="non-commercial", min_px=9)
def bm3d(noisy: torch.Tensor, noise=None) -> torch.Tensor:
    """BM3D (the ``bm3d`` package: non-commercial licence, an optional extra), colour images
    in the opponent colour space (``bm3d_rgb``). Given the true sigma for Gaussian noise of
    one level; for Poisson noise of one photon scale, on the Anscombe transform of the counts
    (noise of sigma 1 there) with its closed-form unbiased inverse (Mäkitalo and Foi, 2011);
    otherwise with the sigma estimated from the image."""
    try:
        import bm3d as bm3d_package
    except ImportError:
        raise _missing_extra("bm3d") from None
    image = _hwc(noisy)
    run = bm3d_package.bm3d_rgb if image.shape[2] == 3 else lambda z, s: bm3d_package.bm3d(z[:, :, 0], s)
    if isinstance(noise, PoissonNoise):
        scale = noise.level[0]
        transformed = 2.0 * np.sqrt(image * scale + 3.0 / 8.0)
        return _chw(inverse_anscombe(run(transformed, 1.0)) / scale)
    sigma_psd = noise.level[0] / 255.0 if isinstance(noise, GaussianNoise) else _estimated_sigma(noisy)
    return _chw(run(image, sigma_psd))


def inverse_anscombe(d: np.ndarray) -> np.ndarray:
    """The closed-form approximation of the exact unbiased inverse of 2·sqrt(x + 3/8)
    (Mäkitalo and Foi, IEEE TIP 2011); 0 at the transform of 0 counts, below which it is held."""
    d = np.maximum(d, 2.0 * np.sqrt(3.0 / 8.0))
    r = np.sqrt(1.5)
    return np.maximum(d**2 / 4 + r / (4 * d) - 11 / (8 * d**2) + 5 * r / (8 * d**3) - 1 / 8, 0.0)


TTA_SUFFIX = "+tta"  # method 'n2n+tta': model n2n with the test-time self-ensemble
ESTIMATED_SUFFIX = "+est"  # method 'n2n+est': model n2n, told sigma, given its estimate rather than the true one


def model_method(model: nn.Module, tta: bool = False, precision: str = "auto",
                 estimated_sigma: bool = False, mean_match: bool = True) -> Method:
    """A trained network as a method (whole image, one at a time; ``tta``: the mean over
    the 8 flips and quarter turns; ``precision``, ``mean_match`` (the images are clipped):
    see ``denoise_tensor``). A network told sigma is given the known Gaussian level
    (``known_noise``), or with ``estimated_sigma`` (or none known) the level estimated from
    each image, as ``n2n denoise`` does; a blind network's means are matched with the
    estimated level too, as there."""
    def method(noisy: torch.Tensor, noise=None) -> torch.Tensor:
        known = isinstance(noise, GaussianNoise) and not estimated_sigma and getattr(model, "sigma_input", False)
        sigma_255 = noise.level[0] if known else None
        return run_network(model, noisy.unsqueeze(0), batch_size=1, tta=tta, precision=precision,
                           sigma_255=sigma_255, mean_match="clipped" if mean_match else None)[0]
    return method


def build_methods(names: list[str], models: dict[str, nn.Module] | None = None,
                  precision: str = "auto", mean_match: bool = True) -> dict[str, Method]:
    """Methods by name, in order: the baselines of METHODS and the given ``models``
    (e.g. {'n2n': network, 'n2c': clean-target network}), each also as NAME+tta, and a
    network told sigma as NAME+est (sigma estimated, see ``model_method``) and NAME+est+tta;
    every model runs in ``precision``, with ``mean_match`` or not."""
    models = models or {}
    methods = {}
    check_precision(precision)
    for name in names:
        model_name = name.removesuffix(TTA_SUFFIX)
        estimated = model_name.endswith(ESTIMATED_SUFFIX) and model_name.removesuffix(ESTIMATED_SUFFIX) in models
        model_name = model_name.removesuffix(ESTIMATED_SUFFIX) if estimated else model_name
        if estimated and not getattr(models[model_name], "sigma_input", False):  # its row would repeat NAME's
            raise N2NError(f"method {name}: gives a network told sigma the estimated level, and {model_name} is a "
                           f"blind network (not told sigma); use {model_name}")
        if model_name in models:
            methods[name] = model_method(models[model_name], tta=name.endswith(TTA_SUFFIX), precision=precision,
                                         estimated_sigma=estimated, mean_match=mean_match)
        elif name in METHODS:
            methods[name] = METHODS[name]
        else:
            choices = ", ".join(sorted({*METHODS, *models}))
            tta = f" (a model's name{TTA_SUFFIX}: its self-ensemble)" if models else ""
            raise N2NError(f"unknown method {name!r} (or its model is missing); choose from {choices}{tta}")
    return methods


def check_size(method: str, size: tuple[int, ...], where: object, advice: str) -> None:
    """Refuse images smaller than ``method`` takes (BM3D's 8×8 blocks crash the process), before
    it runs; ``advice`` is what to do, with {name} for the method."""
    least = METHODS.entry(method).min_px if method in METHODS else 1
    if min(size) < least:
        raise N2NError(f"{where}: too small for {method}, which needs images of at least {least}×{least} px; "
                       + advice.format(name=method))


def compare_methods(triples, methods: dict[str, Method], noise=None,
                    keep_outputs: int = 4) -> tuple[list[dict], list[dict], dict[str, list[torch.Tensor]]]:
    """Each method on each whole image: (per-image rows, the table: one row per method with
    mean PSNR dB, SSIM and seconds per image, the first ``keep_outputs`` outputs per method).

    ``triples``: (name, noisy, clean) C×H×W float 0..255; ``noise``: the noise model when
    its level is known (``known_noise``), passed to methods that use it (BM3D)."""
    triples = list(triples)
    for name in methods:  # before any method runs: a folder's evaluation would die at its first small image
        for image, noisy, _ in triples:
            check_size(name, noisy.shape[-2:], image, "leave {name} out (--methods) or remove the image")
    rows: list[dict] = []
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in methods}
    unit = lambda x: x.float().cpu().unsqueeze(0) / 255.0  # noqa: E731
    for image, noisy, clean in triples:
        for name, method in methods.items():
            start = time.perf_counter()
            denoised = method(noisy, noise)
            seconds = time.perf_counter() - start
            rows.append({"image": image, "method": name, "psnr_db": psnr_db(unit(denoised), unit(clean)),
                         "ssim": ssim(unit(denoised), unit(clean)), "seconds": seconds})
            if len(outputs[name]) < keep_outputs:
                outputs[name].append(denoised.cpu())
    table = []
    for name in methods:
        mine = [r for r in rows if r["method"] == name]
        table.append({"method": name, "n_images": len(mine),
                      **{key: sum(r[key] for r in mine) / max(len(mine), 1) for key in ("psnr_db", "ssim")},
                      "seconds_per_image": sum(r["seconds"] for r in mine) / max(len(mine), 1)})
    return rows, table, outputs


def format_table(table: list[dict]) -> str:
    """The comparison table as aligned text lines."""
    lines = [f"{'method':<10} {'PSNR dB':>8} {'SSIM':>7} {'s/image':>9} {'images':>7}"]
    lines += [f"{r['method']:<10} {r['psnr_db']:8.2f} {r['ssim']:7.4f} {r['seconds_per_image']:9.3f} "
              f"{r['n_images']:7d}" for r in table]
    return "\n".join(lines)
