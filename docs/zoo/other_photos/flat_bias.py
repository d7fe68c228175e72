"""The mean error (bias) of a model's output on flat patches near black and white: a
128x128 RGB patch of one grey value plus clipped Gaussian noise, denoised, the 8 px border
left out; then, for a model, a patch of the retina crop's mean colour with its channels in
three orders (the bias of R, G and B). An unbiased denoiser gives about 0; the retina crop of benchmarks/inference.py
(red channel mostly above 200) showed +1.44 grey levels in red (retina_crop_errors.py).
A name of ``n2n evaluate``'s methods (bm3d, nlm) runs that baseline, given the true sigma.

    PYTHONPATH=. python docs/zoo/other_photos/flat_bias.py gaussian runs/gaussian.stage4.pt bm3d ...
"""
import sys

import torch

from noise2noise.checkpoint import load_model
from noise2noise.denoise import denoise_tensor
from noise2noise.evaluate import METHODS
from noise2noise.noise import GaussianNoise
from noise2noise.zoo import resolve_model

generator = torch.Generator().manual_seed(0)
for spec in sys.argv[1:] or ["gaussian"]:
    net = None if spec in METHODS else load_model(resolve_model(spec))[0]
    cells = []
    for sigma in (15, 25, 50):
        for value in (5, 20, 128, 235, 250):
            clean = torch.full((3, 128, 128), float(value))
            noisy = (clean + sigma * torch.randn(clean.shape, generator=generator)).round().clamp(0, 255)
            if net is None:
                out = METHODS[spec](noisy, GaussianNoise(level=(sigma, sigma)))[:, 8:-8, 8:-8]
            else:
                out = denoise_tensor(net, noisy[None], device=torch.device("cpu"))[0][:, 8:-8, 8:-8]
            cells.append(f"s{sigma} v{value} {out.mean().item() - value:+.2f}")
    print(spec, "|", " | ".join(cells))
    if net is None:
        continue
    # The retina crop's mean colour, its channels in three orders (sigma 25): a bias on one channel
    # near white while the others are mid-grey, which a grey patch cannot show.
    colour_generator, cells = torch.Generator().manual_seed(0), []
    for colour in ((224, 88, 61), (88, 224, 61), (61, 88, 224)):
        clean = torch.tensor(colour, dtype=torch.float32)[:, None, None].expand(3, 128, 128)
        noisy = (clean + 25 * torch.randn(clean.shape, generator=colour_generator)).round().clamp(0, 255)
        out = denoise_tensor(net, noisy[None], device=torch.device("cpu"))[0][:, 8:-8, 8:-8]
        bias = out.mean((1, 2)) - clean[:, 0, 0]
        cells.append(f"s25 {colour} " + " ".join(f"{b:+.2f}" for b in bias.tolist()))
    print(" " * len(spec), "|", " | ".join(cells))
