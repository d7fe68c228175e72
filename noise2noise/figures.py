"""Figures: noisy / clean / denoised samples side by side (the seed report's Fig. 2) and
training-loss curves, raw and smoothed (its Fig. 3)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from noise2noise.metrics import psnr_db
from noise2noise.outputs import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sample_figure(samples: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                  path: str | Path, title: str = "") -> Path:
    """One row per sample: noisy | clean | denoised, with PSNR against clean.

    ``samples``: (noisy, clean, denoised) C×H×W tensors in 0..255."""
    plt = _pyplot()
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


def smooth(values: list[float], points: int = 10) -> list[float]:
    """Centred moving average over about a ``points``-th of the curve (at least 1 point each
    side), geometric when every value is positive: a loss falling 100-fold is drawn through its
    raw points, where an exponential average would trail behind it. Shorter windows at the ends."""
    n = len(values)
    half = max(1, n // (2 * points))
    positive = all(v > 0 for v in values)
    logged = [math.log(v) for v in values] if positive else list(values)
    out = []
    for i in range(n):
        window = logged[max(0, i - half):i + half + 1]
        mean = math.fsum(window) / len(window)
        out.append(math.exp(mean) if positive else mean)
    return out


def loss_curves(panels: dict[str, dict[str, tuple[list[int], list[float]]]], path: str | Path,
                ylabel: str = "training loss") -> Path:
    """One panel per title, one colour per setting: raw loss light, smoothed loss dark.

    ``panels``: {panel title: {setting label: (steps, losses)}}; settings without points
    are listed in the legend only."""
    plt = _pyplot()
    n_cols = min(2, len(panels))
    n_rows = math.ceil(len(panels) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(6.0 * n_cols, 4.0 * n_rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, curves) in zip(axes.flat, panels.items()):
        colours = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20")
        for i, (label, (steps, losses)) in enumerate(curves.items()):
            colour = colours(i % colours.N)
            ax.plot(steps, losses, color=colour, alpha=0.25, linewidth=0.8)
            ax.plot(steps, smooth(losses), color=colour, linewidth=1.6, label=label,
                    marker="." if len(steps) < 5 else None)
        if any(losses and min(losses) > 0 for _, losses in curves.values()):
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return Path(path)
