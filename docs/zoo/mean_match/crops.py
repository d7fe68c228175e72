"""Mean matching on crops of the 65 held-out CBSD432 photos, by crop side: the PSNR gain of
denoise.match_means over the shipped `gaussian`'s raw output (mean over crops, worst, best),
with the matching applied at every size (min_pixels=0). This chose MIN_MATCH_PIXELS.
    PYTHONPATH=. python docs/zoo/mean_match/crops.py
"""
import torch

from noise2noise.checkpoint import load_model
from noise2noise.data import split_images
from noise2noise.denoise import denoise_tensor, match_means
from noise2noise.noise import estimate_sigma_255
from noise2noise.zoo import resolve_model


def psnr_db(out: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(255**2 / ((out - clean) ** 2).mean((1, 2, 3)))


network = load_model(resolve_model("gaussian"))[0]
photos = [image for _, image in split_images("../shared/datasets/cbsd432", "val", 0.15, "rgb")]
for side, per_photo in ((32, 30), (64, 8), (128, 3), (256, 1)):
    generator, crops = torch.Generator().manual_seed(0), []
    for clean in photos:
        for _ in range(per_photo):
            y = int(torch.randint(0, clean.shape[1] - side + 1, (1,), generator=generator))
            x = int(torch.randint(0, clean.shape[2] - side + 1, (1,), generator=generator))
            crops.append(clean[:, y : y + side, x : x + side])
    clean = torch.stack(crops).float()
    for sigma in (15, 25, 50):
        noisy = (clean + sigma * torch.randn(clean.shape, generator=generator)).round().clamp(0, 255)
        raw = denoise_tensor(network, noisy, mean_match=None)
        matched = match_means(raw, noisy, estimate_sigma_255(noisy), min_pixels=0)
        gain = psnr_db(matched, clean) - psnr_db(raw, clean)
        print(f"{side:>3} px, sigma {sigma}: {len(crops)} crops, raw {psnr_db(raw, clean).mean():.3f} dB, gain mean "
              f"{gain.mean():+.3f}, worst {gain.min():+.3f}, best {gain.max():+.3f}", flush=True)
