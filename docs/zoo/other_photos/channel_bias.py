"""Where a model loses on one colour image: PSNR and mean error (output minus clean, grey
levels) per colour channel at sigma 25 (clipped, seed 0), next to BM3D on the same noisy image.
A channel whose mean error is far from 0 comes out too bright or too dark as a whole.
    PYTHONPATH=. python docs/zoo/other_photos/channel_bias.py gaussian runs/RUN/weights.pt ...
The image is the retina crop of benchmarks/inference.py (its red channel is near white, where
the noisy input is clipped at 255).
"""
import sys

import bm3d
import numpy as np
import skimage
import torch

from noise2noise.checkpoint import load_model
from noise2noise.denoise import denoise_tensor
from noise2noise.zoo import resolve_model

image = skimage.data.retina()[450:962, 320:1088]
clean = torch.from_numpy(np.ascontiguousarray(image).astype(np.float32)).permute(2, 0, 1)
noisy = (clean + 25 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))).round().clamp(0, 255)
print("retina crop, sigma 25; clean channel means R G B:", " ".join(f"{m:.1f}" for m in clean.mean((1, 2)).tolist()),
      f"; red above 240: {(clean[0] > 240).float().mean().item():.1%} of pixels")


def report(name: str, out: torch.Tensor) -> None:
    error = out - clean
    mse = (error**2).mean((1, 2))
    psnr_db = [10 * np.log10(255**2 / m) for m in [*mse.tolist(), mse.mean().item()]]
    print(f"  {name:<28} PSNR dB R G B / all: {' '.join(f'{p:.2f}' for p in psnr_db[:3])} / {psnr_db[3]:.2f}"
          f"   mean error R G B: {' '.join(f'{e:+.2f}' for e in error.mean((1, 2)).tolist())}")


for spec in sys.argv[1:] or ["gaussian"]:
    net, _ = load_model(resolve_model(spec))
    report(spec, denoise_tensor(net, noisy[None], device=torch.device("cpu"))[0])
restored = bm3d.bm3d_rgb(noisy.permute(1, 2, 0).numpy() / 255, 25 / 255)
report("bm3d", torch.from_numpy(np.clip(restored, 0, 1) * 255).permute(2, 0, 1).float())
