"""The local step of mean matching (denoise.match_means, window_px): the shipped `gaussian`'s raw
output, matched globally only (window_px=None) and globally then locally (the default, 32 px),
on the same noisy inputs (seed 0, as benchmarks/quality.py draws them). PSNR gains of the local
step over the global one per photo: on the 65 held-out CBSD432 photos (the first 16 chose the
window; the other 49 did not take part), the nine scikit-image images (--data embedded), the
768x512 retina crop of benchmarks/inference.py, and 256 px crops (one per held-out photo, the
smallest images that are matched).
    PYTHONPATH=. python docs/zoo/mean_match/local.py
"""
import numpy as np
import skimage.data
import torch

from noise2noise.checkpoint import load_model
from noise2noise.data import split_images
from noise2noise.denoise import denoise_tensor, match_means
from noise2noise.evaluate import evaluation_images
from noise2noise.noise import build_noise, estimate_sigma_255
from noise2noise.zoo import resolve_model


def psnr_db(out: torch.Tensor, clean: torch.Tensor) -> float:
    return float(10 * torch.log10(255**2 / ((out.round() - clean) ** 2).mean()))


def gains(pairs) -> np.ndarray:
    """Per image: PSNR with the local step minus PSNR with the global match alone."""
    result = []
    for noisy, clean in pairs:
        raw = denoise_tensor(network, noisy[None], mean_match=None)
        sigma = estimate_sigma_255(noisy[None])
        matched = {w: psnr_db(match_means(raw, noisy[None], sigma, window_px=w), clean[None]) for w in (None, 32.0)}
        result.append(matched[32.0] - matched[None])
    return np.array(result)


def show(label: str, gain: np.ndarray) -> None:
    print(f"  {label:<26} mean {gain.mean():+.4f}  worst {gain.min():+.3f}  best {gain.max():+.3f}  "
          f"worse on {(gain < 0).sum()} of {len(gain)}", flush=True)


network = load_model(resolve_model("gaussian"))[0]
retina = torch.from_numpy(np.ascontiguousarray(skimage.data.retina()[450:962, 320:1088])).permute(2, 0, 1).float()
photos = [image.float() for _, image in split_images("../shared/datasets/cbsd432", "val", 0.15, "rgb")]
for sigma in (15, 25, 50):
    noise = build_noise("gaussian", (sigma, sigma), clip=True)
    print(f"sigma {sigma}: gain of the local step (32 px) over the global match, dB")
    held_out = gains((n, c) for _, n, c in evaluation_images("../shared/datasets/cbsd432", noise, "val", 0.15, 0,
                                                                None, "rgb"))
    show("65 held-out photos", held_out)
    show("  the first 16 (chose it)", held_out[:16])
    show("  the other 49", held_out[16:])
    show("9 scikit-image images", gains((n, c) for _, n, c in evaluation_images("embedded", noise, "all", 0.15, 0,
                                                                                  None, "rgb")))
    rng = np.random.default_rng(0)  # as benchmarks/inference.py draws its noise
    noisy = (retina + torch.from_numpy(rng.normal(0, sigma, retina.shape)).float()).clamp(0, 255).round()
    show("retina crop (768x512)", gains([(noisy, retina)]))
    generator = torch.Generator().manual_seed(sigma)
    crops = []
    for clean in photos:
        y = int(torch.randint(0, clean.shape[1] - 255, (1,), generator=generator))
        x = int(torch.randint(0, clean.shape[2] - 255, (1,), generator=generator))
        crop = clean[:, y : y + 256, x : x + 256]
        crops.append(((crop + sigma * torch.randn(crop.shape, generator=generator)).round().clamp(0, 255), crop))
    show("256 px crops, one a photo", gains(crops))
