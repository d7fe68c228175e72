"""Is the bias near white (flat_bias.py, retina_crop_errors.py) a near-white effect? Denoise
each image as it is, f(x), and inverted, 255 - f(255 - x) (exact for clipped Gaussian noise),
and compare the biases; the mean of both is an inversion ensemble (twice the time). Also
the retina crop with its channels reversed (red denoised as the blue channel).

    PYTHONPATH=. python docs/zoo/other_photos/inversion_check.py
"""
import numpy as np
import skimage
import torch

from noise2noise.checkpoint import load_model
from noise2noise.denoise import denoise_tensor
from noise2noise.zoo import resolve_model

net, _ = load_model(resolve_model("gaussian"))


def denoise(x):
    return denoise_tensor(net, x[None], device=torch.device("cpu"))[0]


clean = torch.from_numpy(np.ascontiguousarray(skimage.data.retina()[450:962, 320:1088]).astype(np.float32))
clean = clean.permute(2, 0, 1)
generator = torch.Generator().manual_seed(0)


def psnr(out):
    return 10 * np.log10(255**2 / ((out - clean) ** 2).mean().item())


for sigma in (15, 25):
    noisy = (clean + sigma * torch.randn(clean.shape, generator=generator)).round().clamp(0, 255)
    plain, inverted = denoise(noisy), 255 - denoise(255 - noisy)
    cells = [f"{name} {psnr(out):.2f} dB, bias {(out - clean).mean():+.2f}, red {(out - clean)[0].mean():+.2f}"
             for name, out in (("plain", plain), ("inverted", inverted))]
    print(f"retina crop sigma {sigma}: " + " | ".join(cells) + f" | mean of both {psnr((plain + inverted) / 2):.2f}")
    swapped = denoise(noisy.flip(0)).flip(0)  # red denoised in the blue channel's place, and back
    red_bias = (swapped - clean)[0].mean()
    print(f"retina crop sigma {sigma}, channels reversed: {psnr(swapped):.2f} dB, red {red_bias:+.2f}")
for sigma in (15, 25, 50):
    cells = []
    for value in (5, 235, 250):
        flat = torch.full((3, 128, 128), float(value))
        noisy = (flat + sigma * torch.randn(flat.shape, generator=generator)).round().clamp(0, 255)
        plain = denoise(noisy)[:, 8:-8, 8:-8].mean() - value
        inverted = (255 - denoise(255 - noisy))[:, 8:-8, 8:-8].mean() - value
        cells.append(f"v{value}: plain {plain:+.2f} inverted {inverted:+.2f}")
    print(f"flat sigma {sigma}: " + " | ".join(cells))
