"""Figures: noisy / clean / denoised samples side by side (the seed report's Fig. 2)."""

from __future__ import annotations

from pathlib import Path

import torch

from noise2noise.images import atomic_write
from noise2noise.metrics import psnr_db


def sample_figure(samples: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                  path: str | Path, title: str = "") -> Path:
    """One row per sample: noisy | clean | denoised, with PSNR against clean.

    ``samples``: (noisy, clean, denoised) C×H×W tensors in 0..255."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(samples), 3, figsize=(7.5, 2.5 * len(samples)), squeeze=False)
    for row, (noisy, clean, denoised) in zip(axes, samples):
        for ax, image, label in zip(row, (noisy, clean, denoised), ("noisy", "clean", "denoised")):
            array = (image.float().clamp(0, 255) / 255.0).permute(1, 2, 0).cpu().numpy()
            ax.imshow(array[:, :, 0] if array.shape[2] == 1 else array, cmap="gray",
                      vmin=0, vmax=1, interpolation="nearest")
            if label != "clean":
                label += f" {psnr_db(image.float() / 255, clean.float() / 255):.2f} dB"
            ax.set_title(label, fontsize=9)
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return Path(path)
