"""The mean error (bias) of a model's output on flat patches near black and white: a
128x128 RGB patch of one grey value plus clipped Gaussian noise, denoised, the 8 px border
left out. An unbiased denoiser gives about 0; the retina crop of benchmarks/inference.py
(red channel mostly above 200) showed +1.44 grey levels in red (retina_crop_errors.py).

    PYTHONPATH=. python docs/zoo/other_photos/flat_bias.py gaussian runs/gaussian.stage4.pt ...
"""
import sys

import torch

from noise2noise.checkpoint import load_model
from noise2noise.denoise import denoise_tensor
from noise2noise.zoo import resolve_model

generator = torch.Generator().manual_seed(0)
for spec in sys.argv[1:] or ["gaussian"]:
    net, _ = load_model(resolve_model(spec))
    cells = []
    for sigma in (15, 25, 50):
        for value in (5, 20, 128, 235, 250):
            clean = torch.full((3, 128, 128), float(value))
            noisy = (clean + sigma * torch.randn(clean.shape, generator=generator)).round().clamp(0, 255)
            out = denoise_tensor(net, noisy[None], device=torch.device("cpu"))[0][:, 8:-8, 8:-8]
            cells.append(f"s{sigma} v{value} {out.mean().item() - value:+.2f}")
    print(spec, "|", " | ".join(cells))
