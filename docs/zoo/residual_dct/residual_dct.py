"""Negative result (2026-11-28): can a sliding-DCT threshold on the residual (noisy - denoised)
give back texture the shipped `gaussian` network smoothed away at sigma=15 (barbara, 69007,
249021)? Each 8x8 block of the residual (stride 2) is taken to the DCT, coefficients above
tau*sigma are kept (the rest is taken for noise), the blocks are averaged back and added to
the network's output. 'all': every colour channel; 'lum': the luminance of an orthonormal
opponent transform only (texture is mostly luminance; the noise stays white in it).

    PYTHONPATH=. python docs/zoo/residual_dct/residual_dct.py 15 FILES...
"""
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from noise2noise.checkpoint import load_model
from noise2noise.denoise import denoise_tensor
from noise2noise.images import read_image, to_chw_255
from noise2noise.metrics import psnr_db
from noise2noise.noise import GaussianNoise
from noise2noise.zoo import resolve_model

BLOCK, STRIDE = 8, 2
DCT = torch.tensor([[math.cos(math.pi * (i + 0.5) * k / BLOCK) * math.sqrt((1 if k == 0 else 2) / BLOCK)
                     for i in range(BLOCK)] for k in range(BLOCK)])
DCT2 = torch.kron(DCT, DCT)  # orthonormal: white noise of std sigma stays sigma per coefficient
OPPONENT = torch.tensor([[1 / 3**0.5] * 3, [1 / 2**0.5, 0, -1 / 2**0.5], [1 / 6**0.5, -2 / 6**0.5, 1 / 6**0.5]])


def kept_texture(residual: torch.Tensor, sigma: float, tau: float) -> torch.Tensor:
    """C×H×W residual -> the part of it in DCT coefficients above tau*sigma, blocks averaged."""
    channels, height, width = residual.shape
    padded = F.pad(residual[None], (BLOCK - 1,) * 4, mode="reflect")
    columns = F.unfold(padded, BLOCK, stride=STRIDE).view(channels, BLOCK * BLOCK, -1)
    coefficients = torch.einsum("kn,cnl->ckl", DCT2, columns)
    coefficients = coefficients * (coefficients.abs() > tau * sigma)
    blocks = torch.einsum("kn,ckl->cnl", DCT2, coefficients).reshape(1, channels * BLOCK * BLOCK, -1)
    summed = F.fold(blocks, padded.shape[-2:], BLOCK, stride=STRIDE)
    counts = F.fold(F.unfold(torch.ones_like(padded), BLOCK, stride=STRIDE), padded.shape[-2:], BLOCK, stride=STRIDE)
    return (summed / counts)[0, :, BLOCK - 1 : BLOCK - 1 + height, BLOCK - 1 : BLOCK - 1 + width]


def main() -> None:
    sigma, files = float(sys.argv[1]), sys.argv[2:]
    model, _ = load_model(resolve_model("gaussian"))
    score = lambda image, clean: psnr_db(image.clamp(0, 255)[None] / 255, clean[None] / 255)  # noqa: E731
    for file in files:
        clean = to_chw_255(read_image(file), 3).float()
        noisy = GaussianNoise((sigma, sigma), clip=True)(clean[None] / 255, torch.Generator().manual_seed(0))[0] * 255
        denoised = denoise_tensor(model, noisy[None])[0]
        residual = noisy - denoised
        row = [f"{Path(file).stem:>12} network {score(denoised, clean):.3f}"]
        for tau in (2.5, 3.0, 3.5):
            every = denoised + kept_texture(residual, sigma, tau)
            luminance = (OPPONENT @ residual.reshape(3, -1)).reshape(residual.shape)[:1]
            lum = denoised + (OPPONENT.T[:, :1] @ kept_texture(luminance, sigma, tau).reshape(1, -1)).reshape(
                residual.shape)
            row.append(f"tau {tau}: all {score(every, clean):.3f} lum {score(lum, clean):.3f}")
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
