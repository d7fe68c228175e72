"""Where a denoiser's error sits: mean squared error in the four quartiles of local texture
(the standard deviation of the clean image in 8x8 blocks), BM3D beside the shipped model.

    PYTHONPATH=. python docs/zoo/other_photos/texture_quartiles.py rocket 15
"""
import sys, torch, numpy as np
from noise2noise.checkpoint import load_model
from noise2noise.evaluate import build_methods, evaluation_images, known_noise
from noise2noise.noise import build_noise
from noise2noise.zoo import resolve_model
name = sys.argv[1]; level = float(sys.argv[2])
models = {"gaussian": load_model(resolve_model("gaussian"))[0]}
methods = build_methods(["bm3d", "gaussian"], models)
noise = build_noise("gaussian", (level, level), clip=True)
triples = [t for t in evaluation_images("embedded", noise, "all", 0.15, 0, None, "rgb") if t[0] == name]
_, noisy, clean = triples[0]
outs = {m: fn(noisy, known_noise(noise)).float() for m, fn in methods.items()}
c = clean.float()
# local texture: std of clean in 8x8 blocks (mean over channels)
g = c.mean(0)
H, W = g.shape[0] // 8 * 8, g.shape[1] // 8 * 8
blocks = g[:H, :W].reshape(H // 8, 8, W // 8, 8).permute(0, 2, 1, 3).reshape(H // 8, W // 8, 64)
tex = blocks.std(-1)
qs = torch.quantile(tex.flatten(), torch.tensor([0.25, 0.5, 0.75]))
for m, o in outs.items():
    e = ((o - c) ** 2).mean(0)[:H, :W].reshape(H // 8, 8, W // 8, 8).permute(0, 2, 1, 3).reshape(H // 8, W // 8, 64).mean(-1)
    bins = [tex <= qs[0], (tex > qs[0]) & (tex <= qs[1]), (tex > qs[1]) & (tex <= qs[2]), tex > qs[2]]
    print(m, "total mse %.2f psnr %.2f" % (e.mean(), 10 * np.log10(255**2 / e.mean().item())),
          "mse by texture quartile:", " ".join("%.2f" % e[b].mean() for b in bins))
print("texture quartiles", qs.tolist())
