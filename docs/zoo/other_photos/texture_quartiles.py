"""Where a denoiser's error sits: mean squared error in the four quartiles of local texture
(the standard deviation of the clean image in 8x8 blocks), BM3D beside the shipped model.

    PYTHONPATH=. python docs/zoo/other_photos/texture_quartiles.py rocket 15
    PYTHONPATH=. python docs/zoo/other_photos/texture_quartiles.py barbara.png 15 runs/wheel_photos
    PYTHONPATH=. python docs/zoo/other_photos/texture_quartiles.py barbara.png 25 runs/wheel_photos map.jpg

A fourth argument writes a map over the clean photo: red where the network's squared error
(mean over 16x16 blocks) exceeds BM3D's, green where it is lower, full at 60.
"""
import sys, torch, numpy as np
from noise2noise.checkpoint import load_model
from noise2noise.evaluate import build_methods, evaluation_images, known_noise
from noise2noise.noise import build_noise
from noise2noise.zoo import resolve_model
name = sys.argv[1]; level = float(sys.argv[2]); data = sys.argv[3] if len(sys.argv) > 3 else "embedded"
models = {"gaussian": load_model(resolve_model("gaussian"))[0]}
methods = build_methods(["bm3d", "gaussian"], models)
noise = build_noise("gaussian", (level, level), clip=True)
triples = [t for t in evaluation_images(data, noise, "all", 0.15, 0, None, "rgb") if t[0] == name]
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
if len(sys.argv) > 4:
    from PIL import Image
    worse = torch.nn.functional.avg_pool2d(((outs["gaussian"] - c) ** 2 - (outs["bm3d"] - c) ** 2).mean(0)[None, None], 16)[0, 0]
    tint = torch.stack([worse.clamp(min=0), (-worse).clamp(min=0), torch.zeros_like(worse)], -1) * (255 / 60)
    tint = Image.fromarray(tint.clamp(max=255).numpy().astype(np.uint8)).resize((c.shape[2], c.shape[1]), Image.NEAREST)
    photo = Image.fromarray(c.permute(1, 2, 0).numpy().astype(np.uint8))
    Image.blend(photo, tint, 0.6).save(sys.argv[4], quality=85)
