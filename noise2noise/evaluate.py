"""Evaluation: PSNR/SSIM of the noisy input and of the denoised output against clean."""

from __future__ import annotations

import torch
from torch import nn

from noise2noise.denoise import denoise_tensor
from noise2noise.metrics import psnr_db, ssim


def evaluate_pairs(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor,
                   batch_size: int = 64, with_ssim: bool = True) -> dict[str, float]:
    """Metrics over N×C×H×W (noisy, clean) images in 0..255; also returns the outputs."""
    denoised = denoise_tensor(model, noisy, batch_size=batch_size)
    unit = lambda x: x.float().cpu() / 255.0  # noqa: E731
    row = {"n_images": int(noisy.shape[0]),
           "psnr_noisy_db": psnr_db(unit(noisy), unit(clean)),
           "psnr_db": psnr_db(unit(denoised), unit(clean))}
    if with_ssim:
        row["ssim_noisy"] = ssim(unit(noisy), unit(clean))
        row["ssim"] = ssim(unit(denoised), unit(clean))
    return row


def evaluate_images(model: nn.Module, images: list[tuple[str, torch.Tensor]], noise,
                    seed: int = 0) -> tuple[list[dict], dict[str, float], list[torch.Tensor]]:
    """Whole images of any size, one at a time: (per-image rows, means, denoised images).

    ``images``: (name, C×H×W clean 0..255); noise is drawn once with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    rows, outputs = [], []
    for name, image in images:
        clean = image.float().unsqueeze(0)
        noisy = noise(clean / 255.0, generator) * 255.0
        row = evaluate_pairs(model, noisy, clean, batch_size=1)
        rows.append({"image": name, **row})
        outputs.append((noisy[0], clean[0], denoise_tensor(model, noisy, batch_size=1)[0]))
    keys = [k for k in rows[0] if k not in ("image", "n_images")]
    means = {k: sum(r[k] for r in rows) / len(rows) for k in keys} | {"n_images": len(rows)}
    return rows, means, outputs
