"""Does a model depend on the order of the colour channels? PSNR at sigma 25 (clipped, seed 0;
or Poisson noise of photon scale $POISSON)
on the colour images of scikit-image with their channels as they are (RGB) and in the five
other orders, each denoised and put back in RGB order. A model without a colour prior gives
the same PSNR in every order.

    PYTHONPATH=. python docs/zoo/other_photos/channel_order.py gaussian runs/RUN/checkpoint.pt ...
    POISSON=15 PYTHONPATH=. python docs/zoo/other_photos/channel_order.py poisson ...  # photon noise, lambda 15
"""
import itertools
import os
import sys

import numpy as np
import skimage
import torch

from noise2noise.checkpoint import load_model
from noise2noise.denoise import denoise_tensor
from noise2noise.noise import build_noise
from noise2noise.zoo import resolve_model

IMAGES = {"retina crop": skimage.data.retina()[450:962, 320:1088], "astronaut": skimage.data.astronaut(),
          "coffee": skimage.data.coffee(), "immunohistochemistry": skimage.data.immunohistochemistry()}
ORDERS = list(itertools.permutations(range(3)))
for spec in sys.argv[1:] or ["gaussian"]:
    net, _ = load_model(resolve_model(spec))
    print(spec)
    for name, image in IMAGES.items():
        clean = torch.from_numpy(np.ascontiguousarray(image).astype(np.float32)).permute(2, 0, 1)
        generator = torch.Generator().manual_seed(0)
        if "POISSON" in os.environ:  # the product's photon noise, as quality.py --noise poisson draws it
            scale = float(os.environ["POISSON"])
            noisy = build_noise("poisson", (scale, scale), clip=True)(clean[None] / 255, generator)[0]
            noisy = (noisy * 255).round()
        else:
            noisy = (clean + 25 * torch.randn(clean.shape, generator=generator)).round().clamp(0, 255)
        cells = []
        for order in ORDERS:
            out = denoise_tensor(net, noisy[list(order)][None], device=torch.device("cpu"))[0]
            restored = out[list(np.argsort(order))]
            psnr_db = 10 * np.log10(255**2 / ((restored - clean) ** 2).mean().item())
            cells.append(f"{''.join('RGB'[k] for k in order)} {psnr_db:.2f}")
        print(f"  {name:<22}", " | ".join(cells))
