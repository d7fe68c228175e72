"""Denoising quality: our models next to BM3D, NLM and the noisy input on whole held-out
photos, at several noise levels, in one run (PSNR, SSIM and seconds per image).

    python benchmarks/quality.py --data ../shared/datasets/cbsd432 --split val \
        [--models NAME_OR_PATH,...] [--tta] [--noise gaussian --levels 15,25,50] [--methods noisy,nlm,bm3d] \
        [--per-image] [--out quality.json]

Levels are Gaussian sigmas (0..255) or, with --noise poisson, photon scales lambda (BM3D then
works on the Anscombe transform). A greyscale model sees the photos converted to grey (ITU-R 601
luma), and so do the baselines in that run.

The README's quality table comes from this script; BM3D needs the `bm3d` extra. Seconds per
image are only comparable within one run on an idle machine (the load average is printed).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import _bench
import torch

from noise2noise.checkpoint import code_version, load_model
from noise2noise.config import PRECISIONS, TrainConfig
from noise2noise.evaluate import (
    ESTIMATED_SUFFIX,
    METHODS,
    TTA_SUFFIX,
    build_methods,
    channels_for,
    compare_methods,
    evaluation_images,
    known_noise,
)
from noise2noise.noise import build_noise
from noise2noise.outputs import atomic_write
from noise2noise.zoo import resolve_model

BASELINES = tuple(METHODS)  # noisy, nlm, bm3d


def main() -> None:
    parser = _bench.parser(__doc__)
    parser.add_argument("--data", default="../shared/datasets/cbsd432", help="folder of clean photos or 'embedded'")
    parser.add_argument("--split", default="val", choices=("all", "train", "val"))
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--models", default="gaussian", help="comma list of shipped model names (n2n models) or "
                        "checkpoint paths (default: gaussian)")
    parser.add_argument("--noise", default="gaussian", choices=("gaussian", "poisson"))
    parser.add_argument("--levels", "--sigmas", type=_bench.numbers(), default=None,
                        help="noise levels: Gaussian sigmas 0..255 (default 15,25,50) or Poisson photon scales "
                             "(default 5,15,50)")
    parser.add_argument("--methods", type=_bench.names(BASELINES), default="noisy,nlm,bm3d",
                        help="baselines, from noisy, nlm, bm3d")
    parser.add_argument("--tta", action="store_true", help="also each model with the 8-view self-ensemble")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="the models' arithmetic: auto "
                        "(float32 on a CPU, bf16 on CUDA), fp32 or bf16")
    parser.add_argument("--no-mean-match", dest="mean_match", action="store_false",
                        help="the models' outputs as the networks give them (n2n denoise --no-mean-match)")
    parser.add_argument("--max-images", type=_bench.COUNT, default=None)
    parser.add_argument("--seed", type=int, default=0, help="seed of the added noise")
    parser.add_argument("--per-image", action="store_true", help="also print (and write) each photo's PSNR")
    parser.add_argument("--out", type=Path, default=None, help="write every row as JSON here (a .json file), once "
                        "the run is complete; until then each finished level goes to OUT.partial.json")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier --out")
    args = parser.parse_args()
    _bench.check_out_file(args.out, args.overwrite, (".json",))
    levels = args.levels or {"gaussian": [15.0, 25.0, 50.0], "poisson": [5.0, 15.0, 50.0]}[args.noise]
    for level in levels:  # as training checks them: a Poisson scale of 1e30 gave black images
        TrainConfig(noise=args.noise, noise_level=level, val_fraction=args.val_fraction)

    models = {}
    for spec in args.models.split(","):
        name = spec if not Path(spec).suffix else Path(spec).stem if Path(spec).stem != "checkpoint" \
            else Path(spec).parent.name
        if name in models:  # a second model of the same name would replace the first's rows unseen
            parser.error(f"--models: two models would both be shown as {name!r}; give the files distinct names")
        if name in BASELINES:  # its rows would replace the baseline's, which would never run
            parser.error(f"--models: {spec} would be shown as {name!r}, a baseline's name; rename the file")
        models[name] = load_model(resolve_model(spec))[0]
    # a model told sigma is given the true level, and as NAME+est its own estimate (what n2n denoise does)
    variants = {m: ("", ESTIMATED_SUFFIX) if getattr(model, "sigma_input", False) else ("",)
                for m, model in models.items()}
    names = [*args.methods, *[m + variant + suffix for m in models for variant in variants[m]
                                         for suffix in ("", TTA_SUFFIX)[: 1 + args.tta]]]
    methods = build_methods(names, models, args.precision, args.mean_match)
    print(f"{args.data} split {args.split}; {platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, precision {args.precision}, code {code_version()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    symbol = {"gaussian": "σ", "poisson": "λ"}[args.noise]
    results = []
    partial = args.out.with_suffix(".partial.json") if args.out else None
    for level in levels:
        noise = build_noise(args.noise, (level, level), clip=True)
        triples = evaluation_images(args.data, noise, args.split, args.val_fraction, args.seed, args.max_images,
                                    channels_for(models))
        per_image, table, _ = compare_methods(triples, methods, known_noise(noise), keep_outputs=0)
        results += [{"noise": args.noise, "level": level, **row} for row in table]
        if args.per_image:
            results += [{"noise": args.noise, "level": level, **row} for row in per_image]
        if args.out:  # after each level, beside --out: a long run that is stopped keeps the levels it finished,
            # and an earlier result in --out stays whole until this one is
            _write_rows(partial, args, results, complete=False)
        print(f"\n{args.noise} {symbol}={level:g}, {len(triples)} images")
        print(f"{'method':<16} {'PSNR dB':>8} {'SSIM':>7} {'s/image':>9}")
        for row in table:
            print(f"{row['method']:<16} {row['psnr_db']:8.2f} {row['ssim']:7.4f} {row['seconds_per_image']:9.3f}")
        if args.per_image:
            print("\nPSNR dB per photo: " + " ".join(f"{name:>12}" for name in names))
            for image in dict.fromkeys(row["image"] for row in per_image):
                print(f"{image[:20]:<20} " + " ".join(f"{row['psnr_db']:12.2f}" for row in per_image
                                                       if row["image"] == image))
    if args.out:
        _write_rows(args.out, args, results, complete=True)
        partial.unlink(missing_ok=True)
    middle = levels[len(levels) // 2]
    print("\n| method | " + " | ".join(f"{symbol}={v:g} PSNR / SSIM" for v in levels)
          + f" | s/image ({symbol}={middle:g}) |")
    print("|---|" + "---|" * (len(levels) + 1))
    for name in names:
        cells = {r["level"]: r for r in results if r["method"] == name and "image" not in r}
        print(f"| {name} | " + " | ".join(f"{cells[v]['psnr_db']:.2f} / {cells[v]['ssim']:.3f}" for v in levels)
              + f" | {cells[middle]['seconds_per_image']:.2f} |")


def _write_rows(path: Path, args, rows: list[dict], complete: bool) -> None:
    record = {"data": args.data, "split": args.split, "noise": args.noise, "precision": args.precision,
              "code_version": code_version(), "complete": complete, "rows": rows}
    atomic_write(path, lambda tmp, text=json.dumps(record, indent=2): tmp.write_text(text))


if __name__ == "__main__":
    _bench.run(main)
