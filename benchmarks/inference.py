"""Inference speed: denoising one 768×512 RGB photo, megapixels per second, next to BM3D
on the same image in the same run (BM3D from the optional `bm3d` package).

    python benchmarks/inference.py [--repeats 5] [--sigma 25] [--device auto|cpu|cuda] [--precision auto,bf16]
                                   [--models gaussian,runs/wide.pt]

The network's time is the median of the repeats (after one warm-up), with their range; BM3D
runs once, on the CPU. With several ``--models`` or ``--precision`` values the repeats take
turns, so a change of load touches each alike. Compare times only within one run on an idle
machine.
"""

from __future__ import annotations

import os
import statistics
import time

import _bench
import numpy as np
import skimage.data
import torch

from noise2noise.checkpoint import load_model
from noise2noise.denoise import denoise_array
from noise2noise.devices import check_precision, resolve_device
from noise2noise.metrics import psnr_db
from noise2noise.zoo import resolve_model


def main() -> None:
    parser = _bench.parser(__doc__)
    parser.add_argument("--repeats", type=_bench.COUNT, default=5)
    parser.add_argument("--sigma", type=_bench.number(), default=25.0)
    parser.add_argument("--device", default="auto", help="where the network runs: auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--precision", default="auto", help="comma list of the network's precisions, from auto "
                        "(float32 on a CPU, bf16 on CUDA), fp32, bf16 (default: auto)")
    parser.add_argument("--models", default="gaussian", help="comma list of shipped models' names or "
                        "checkpoints (default: gaussian)")
    parser.add_argument("--mean-match", type=_bench.names(("on", "off")), default="on",
                        help="comma list from on, off: each model also with its output as the network gives it "
                             "('off', label 'raw'; docs/denoise.md, Mean matching)")
    args = parser.parse_args()
    precisions = [check_precision(p) for p in args.precision.split(",")]
    device = resolve_device(args.device)
    clean = _photo()
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, args.sigma, clean.shape), 0, 255).round().astype(np.uint8)
    megapixels = clean.shape[0] * clean.shape[1] / 1e6
    models = {name: load_model(resolve_model(name))[0].to(device) for name in args.models.split(",")}
    matches = [m == "on" for m in args.mean_match]
    # one label per (model, precision, match): the precision alone when one model is timed as it ships
    runs = {(f"{name} " if len(models) > 1 else "") + precision + ("" if match else " raw"): (model, precision, match)
            for name, model in models.items() for precision in precisions for match in matches}
    times, ours = {label: [] for label in runs}, {}
    for model, precision, match in runs.values():
        denoise_array(model, noisy, precision=precision, mean_match=match)  # warm-up
    for _ in range(args.repeats):
        for label, (model, precision, match) in runs.items():
            start = time.perf_counter()
            ours[label] = denoise_array(model, noisy, precision=precision, mean_match=match)  # NumPy: finished
            times[label].append(time.perf_counter() - start)
    ours_s = {p: statistics.median(t) for p, t in times.items()}
    unit = lambda a: torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)  # noqa: E731
    print(f"image: 768x512 RGB photo (scikit-image), Gaussian sigma={args.sigma:g}; network on {device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    for label, t in times.items():
        print(f"noise2noise ({label}): median of {args.repeats} repeats, range {min(t):.3f}-{max(t):.3f} s")
    width = max(18, *(len(label) + 12 for label in runs))
    print(f"{'method':<{width}} {'s/image':>8} {'MP/s':>7} {'PSNR dB':>8}")
    print(f"{'noisy':<{width}} {'':>8} {'':>7} {psnr_db(unit(noisy), unit(clean)):8.2f}")
    for label, seconds in ours_s.items():
        print(f"{'noise2noise ' + label:<{width}} {seconds:8.2f} {megapixels / seconds:7.3f} "
              f"{psnr_db(unit(ours[label]), unit(clean)):8.2f}")
    try:
        import bm3d
    except ImportError:
        print("bm3d not installed (pip install 'noise2noise[bm3d]'): no BM3D comparison")
        return
    start = time.perf_counter()
    theirs = bm3d.bm3d_rgb(noisy.astype(np.float64) / 255, args.sigma / 255)
    bm3d_s = time.perf_counter() - start
    theirs = np.clip(theirs * 255, 0, 255).round().astype(np.uint8)
    print(f"{'bm3d':<{width}} {bm3d_s:8.2f} {megapixels / bm3d_s:7.3f} {psnr_db(unit(theirs), unit(clean)):8.2f}, "
          f"load average {os.getloadavg()[0]:.2f}")
    for label, seconds in ours_s.items():
        print(f"speed ratio noise2noise ({label}) / bm3d: {bm3d_s / seconds:.1f}x")


def _photo() -> np.ndarray:
    """A 768×512 crop of a bundled colour photograph (the retina image: speed does not
    depend on content; PSNR is shown for information only)."""
    return np.ascontiguousarray(skimage.data.retina()[450:962, 320:1088])


if __name__ == "__main__":
    _bench.run(main)
