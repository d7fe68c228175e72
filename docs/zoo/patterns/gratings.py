"""PSNR of denoisers on pure sinusoidal gratings (one colour offset, amplitude 60 around 128,
192x192, orientation 0.5 rad) at sigma 15 and 25, against BM3D given the true sigma.

    python gratings.py MODEL [MODEL ...]      # names or checkpoint files; BM3D if installed
"""
import math
import sys

import torch

from noise2noise.checkpoint import load_model
from noise2noise.denoise import denoise_tensor
from noise2noise.metrics import psnr_db
from noise2noise.noise import GaussianNoise

PERIODS_PX = (3, 4, 5, 6, 8, 12)
SIGMAS = (15, 25)


def grating(period_px: float, side_px: int = 192) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(side_px).float(), torch.arange(side_px).float(), indexing="ij")
    phase = 2 * math.pi * (xx * math.cos(0.5) + yy * math.sin(0.5)) / period_px
    clean = (128 + 60 * torch.sin(phase)).expand(3, side_px, side_px).clone()
    clean[0] += 20
    clean[2] -= 20
    return clean.clamp(0, 255)[None]


def main(names):
    methods = {name: load_model(name)[0] for name in names}
    try:
        from noise2noise.evaluate import bm3d
        methods["bm3d"] = None
    except ImportError:
        pass
    generator = torch.Generator().manual_seed(0)
    print("period sigma " + " ".join(f"{n[-24:]:>24}" for n in ["noisy", *methods]))
    totals = {}
    for period in PERIODS_PX:
        clean = grating(period)
        for sigma in SIGMAS:
            noisy = (clean + sigma * torch.randn(clean.shape, generator=generator)).clamp(0, 255)
            row = {"noisy": psnr_db(noisy / 255, clean / 255)}
            for name, model in methods.items():
                out = bm3d(noisy[0], GaussianNoise(level=(sigma, sigma)))[None] if model is None else \
                    denoise_tensor(model, noisy)
                row[name] = psnr_db(out / 255, clean / 255)
            for k, v in row.items():
                totals.setdefault((sigma, k), []).append(v)
            print(f"{period:6} {sigma:5} " + " ".join(f"{v:24.2f}" for v in row.values()), flush=True)
    for sigma in SIGMAS:
        print(f"  mean {sigma:5} " + " ".join(f"{sum(v) / len(v):24.2f}" for (s, _), v in totals.items() if s == sigma))


if __name__ == "__main__":
    main(sys.argv[1:])
