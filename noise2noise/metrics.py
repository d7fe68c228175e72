"""Image quality: PSNR exactly as the course defines it, and SSIM from scikit-image."""

from __future__ import annotations

import numpy as np
import torch

from noise2noise.errors import N2NError, say_once

# SSIM settings of Wang et al. 2004, recorded with every result (see docs: metrics)
SSIM_SETTINGS = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False,
                 "data_range": 1.0}


PSNR_MAX_DB = 80.0  # psnr_db of identical images: -10·log10(1e-8)


def psnr_db(denoised: torch.Tensor, clean: torch.Tensor) -> float:
    """Course PSNR: images in [0, 1], per image -10·log10(MSE + 1e-8), mean over images.

    ``denoised``, ``clean``: N×C×H×W (or C×H×W), values in [0, 1].
    """
    denoised, clean = _checked_pair(denoised, clean, "psnr_db")
    mse = ((denoised.double() - clean.double()) ** 2).mean(dim=(1, 2, 3))
    return float((-10.0 * torch.log10(mse + 1e-8)).mean())


def ssim(denoised: torch.Tensor, clean: torch.Tensor) -> float:
    """Mean SSIM over images (scikit-image, Gaussian window σ=1.5), images in [0, 1]."""
    from skimage.metrics import structural_similarity

    denoised, clean = _checked_pair(denoised, clean, "ssim")
    values = []
    for d, c in zip(denoised.detach().cpu().numpy(), clean.detach().cpu().numpy()):
        d = np.clip(d, 0.0, 1.0).transpose(1, 2, 0).astype(np.float64)
        c = c.transpose(1, 2, 0).astype(np.float64)
        side = min(c.shape[:2])  # the Gaussian window is 11 px; tiny images get a smaller one
        extra = {"win_size": max(1, (side - 1) // 2 * 2 + 1)} if side < 11 else {}
        values.append(structural_similarity(d, c, channel_axis=2, **SSIM_SETTINGS, **extra))
    return float(np.mean(values))


def _checked_pair(denoised: object, clean: object, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as N×C×H×W, or one line: a batch of another size or shape was broadcast or cut
    short without a word."""
    for what, x in (("denoised", denoised), ("clean", clean)):
        if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4) or 0 in x.shape:
            shape = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise N2NError(f"{name}({what}): expected C×H×W or N×C×H×W images, got {shape}")
    if denoised.shape != clean.shape:
        raise N2NError(f"{name}: denoised {tuple(denoised.shape)} and clean {tuple(clean.shape)} differ in shape")
    if float(clean.max()) > 1.5:  # 0..255 images would score some -40 dB
        say_once(f"warning: {name}: clean values reach {float(clean.max()):.4g}, but PSNR and SSIM here take images in "
                 "[0, 1] (divide 0..255 images by 255)")
    return (denoised.unsqueeze(0), clean.unsqueeze(0)) if clean.ndim == 3 else (denoised, clean)
