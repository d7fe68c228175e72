"""Negative result (2026-11-29): residual_dct.py with larger blocks. A stripe of amplitude A over
a BxB block puts about A*B/2 into one coefficient against noise of sigma per coefficient, so blocks
of 16 and 32 px should find stripes that 8 px blocks could not. The luminance of the residual
only, block means left to the network; hard threshold (h) or empirical Wiener (w) above tau*sigma.

    PYTHONPATH=. python docs/zoo/residual_dct/residual_dct_large.py 15 FILES...
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

OPPONENT = torch.tensor([[1 / 3**0.5] * 3, [1 / 2**0.5, 0, -1 / 2**0.5], [1 / 6**0.5, -2 / 6**0.5, 1 / 6**0.5]])

def dct2(block):
    d = torch.tensor([[math.cos(math.pi * (i + 0.5) * k / block) * math.sqrt((1 if k == 0 else 2) / block)
                       for i in range(block)] for k in range(block)])
    return torch.kron(d, d)

def kept(residual, sigma, tau, block, stride, wiener=False):
    D = dct2(block)
    c, h, w = residual.shape
    padded = F.pad(residual[None], (block - 1,) * 4, mode="reflect")
    cols = F.unfold(padded, block, stride=stride).view(c, block * block, -1)
    co = torch.einsum("kn,cnl->ckl", D, cols)
    gate = co.abs() > tau * sigma
    if wiener:
        co = co * gate * (1 - sigma**2 / co.pow(2).clamp_min(1e-6)).clamp_min(0)
    else:
        co = co * gate
    co[:, 0] = 0  # leave the block mean to the network (mean matching owns it)
    blocks = torch.einsum("kn,ckl->cnl", D, co).reshape(1, c * block * block, -1)
    summed = F.fold(blocks, padded.shape[-2:], block, stride=stride)
    counts = F.fold(F.unfold(torch.ones_like(padded), block, stride=stride), padded.shape[-2:], block, stride=stride)
    return (summed / counts)[0, :, block - 1: block - 1 + h, block - 1: block - 1 + w]

sigma = float(sys.argv[1])
files = sys.argv[2:]
model, _ = load_model("gaussian")
score = lambda im, cl: psnr_db(im.clamp(0, 255)[None] / 255, cl[None] / 255)
for f in files:
    clean = to_chw_255(read_image(f), 3).float()
    noisy = GaussianNoise((sigma, sigma), clip=True)(clean[None] / 255, torch.Generator().manual_seed(0))[0] * 255
    den = denoise_tensor(model, noisy[None])[0]
    res = noisy - den
    lum = (OPPONENT @ res.reshape(3, -1)).reshape(res.shape)[:1]
    out = [f"{Path(f).stem:>10} net {score(den, clean):.3f}"]
    for block, stride in ((16, 4), (32, 8)):
        for tau in (3.0, 3.5, 4.0):
            for wiener in (False, True):
                k = kept(lum, sigma, tau, block, stride, wiener)
                fixed = den + (OPPONENT.T[:, :1] @ k.reshape(1, -1)).reshape(res.shape)
                out.append(f"b{block} t{tau}{'w' if wiener else 'h'} {score(fixed, clean):.3f}")
    print(" | ".join(out), flush=True)
