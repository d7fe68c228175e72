"""Where the error sits on benchmarks/inference.py's smooth retina crop at sigma 25: mean
squared error by quartile of local texture (std of the clean image in 8x8 blocks) and of
local brightness, the mean bias, and PSNR and mean error (output minus clean, grey levels) per
colour channel, BM3D beside each model named (the shipped `gaussian` if none). The crop's red
channel is mostly above 200, where the noisy input is clipped at 255: a channel whose mean error
is far from 0 comes out too bright or too dark as a whole.

    PYTHONPATH=. python docs/zoo/other_photos/retina_crop_errors.py [gaussian runs/RUN/weights.pt ...]
"""
import sys

import bm3d
import numpy as np
import skimage
import torch

from noise2noise.checkpoint import load_model
from noise2noise.denoise import denoise_tensor
from noise2noise.zoo import resolve_model

clean = np.ascontiguousarray(skimage.data.retina()[450:962, 320:1088]).astype(np.float64)
noisy = np.clip(np.round(clean + 25 * np.random.default_rng(0).standard_normal(clean.shape)), 0, 255)
outputs = {}
for spec in sys.argv[1:] or ["gaussian"]:
    net, _ = load_model(resolve_model(spec))
    outputs[spec] = denoise_tensor(net, torch.from_numpy(noisy).permute(2, 0, 1)[None].float(),
                                   device=torch.device("cpu"))[0].permute(1, 2, 0).numpy()
outputs["bm3d"] = np.clip(bm3d.bm3d_rgb(noisy / 255, 25 / 255) * 255, 0, 255)
grey = clean.mean(2)
H, W = grey.shape[0] // 8 * 8, grey.shape[1] // 8 * 8


def blocks(a):
    return a[:H, :W].reshape(H // 8, 8, W // 8, 8).transpose(0, 2, 1, 3).reshape(H // 8, W // 8, 64)


def quartile_masks(values):
    q = np.quantile(values, [0.25, 0.5, 0.75])
    return q, [values <= q[0], (values > q[0]) & (values <= q[1]), (values > q[1]) & (values <= q[2]), values > q[2]]


texture_q, by_texture = quartile_masks(blocks(grey).std(-1))
brightness_q, by_brightness = quartile_masks(blocks(grey).mean(-1))
print("clean channel means R G B", " ".join(f"{m:.1f}" for m in clean.mean((0, 1))),
      f"| red above 240: {(clean[..., 0] > 240).mean():.1%} of pixels")
for name, out in outputs.items():
    mse = blocks(((out - clean) ** 2).mean(2)).mean(-1)
    print(f"{name:<9} PSNR {10 * np.log10(255**2 / mse.mean()):.2f} dB; MSE by texture quartile",
          " ".join(f"{mse[m].mean():.2f}" for m in by_texture), "| by brightness quartile",
          " ".join(f"{mse[m].mean():.2f}" for m in by_brightness), f"| mean bias {(out - clean).mean():+.2f}")
    error = out - clean
    channel_psnr_db = 10 * np.log10(255**2 / (error**2).mean((0, 1)))
    print(f"{'':<9} per channel R G B: PSNR", " ".join(f"{p:.2f}" for p in channel_psnr_db),
          "dB | mean error", " ".join(f"{e:+.2f}" for e in error.mean((0, 1))))
print("texture quartiles", np.round(texture_q, 2), "brightness quartiles", np.round(brightness_q, 1))
