"""How the local step's window was chosen: the shipped `gaussian` on the first 16 of the 65 held-out
photos, its global-matched output moved by a scipy Gaussian window of std 8, 16, 32 or 64 px (the step
of denoise._local_shift, without its 8x8 block means), gain over the global match per photo.
    PYTHONPATH=. python docs/zoo/mean_match/local_windows.py 15,25,50 16    (local_windows.txt)
"""
import sys, numpy as np, torch
from scipy.ndimage import gaussian_filter
from noise2noise.checkpoint import load_model
from noise2noise.zoo import resolve_model
from noise2noise.denoise import denoise_tensor
from noise2noise.noise import build_noise, clipped_gaussian_mean_255
from noise2noise.evaluate import evaluation_images
from noise2noise.metrics import psnr_db
torch.set_num_threads(2)
m = load_model(resolve_model("gaussian"))[0]
scales = [8, 16, 32, 64]
def local(out, noisy, sigma, s):
    pred, slope = clipped_gaussian_mean_255(out, torch.tensor(float(sigma)))
    r = (noisy - pred).numpy(); sl = slope.numpy()
    R = np.stack([gaussian_filter(c, s, mode="reflect") for c in r])
    S = np.stack([gaussian_filter(c, s, mode="reflect") for c in sl])
    c = R / np.maximum(S, 0.05)
    u = sigma**2 / (4 * np.pi * s * s)
    c = c * c**2 / (c**2 + u)
    return (out + torch.from_numpy(c).float()).clamp(0, 255)
levels = [float(v) for v in sys.argv[1].split(",")]
n = int(sys.argv[2]) if len(sys.argv) > 2 else None
for sigma in levels:
    noise = build_noise("gaussian", (sigma, sigma), clip=True)
    triples = evaluation_images("../shared/datasets/cbsd432", noise, "val", 0.15, 0, n, "rgb")
    rows = {k: [] for k in ["raw", "global"] + [f"local{s}" for s in scales] + [f"g+local{s}" for s in scales]}
    for name, noisy, clean in triples:
        q = lambda x: psnr_db(x.round() / 255, clean / 255)
        raw = denoise_tensor(m, noisy[None], mean_match=None)[0]
        glob = denoise_tensor(m, noisy[None])[0]
        rows["raw"].append(q(raw)); rows["global"].append(q(glob))
        for s in scales:
            rows[f"local{s}"].append(q(local(raw, noisy, sigma, s)))
            rows[f"g+local{s}"].append(q(local(glob, noisy, sigma, s)))
    base = np.array(rows["global"])
    print(f"sigma {sigma:g}, {len(triples)} photos")
    for k, v in rows.items():
        v = np.array(v); d = v - base
        print(f"  {k:<12} {v.mean():.3f}  vs global: mean {d.mean():+.4f} min {d.min():+.3f} max {d.max():+.3f}", flush=True)
