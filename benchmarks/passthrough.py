"""How much of the input's noise a model lets through, level by level, on whole held-out photos.

For each Gaussian sigma, the share of the added noise n that is left in the output's error
e = output - clean, as the regression coefficient <e, n> / <n, n> (0: all removed, 1: all
kept), beside the output's PSNR. A blind model should keep little at every level; one that
keeps most of the noise at low sigma (PSNR barely above the noisy input) has learnt to pass
it through there.

    python benchmarks/passthrough.py --models gaussian,gaussian-gray [--data FOLDER] [--max-images 3]
        [--same-in-channels]

--same-in-channels draws one noise image and adds it to every colour channel (noise that
looks like texture to a network that tells noise by its independence across channels).

A greyscale model sees the photos converted to grey (ITU-R 601 luma), as it was trained.
"""

from __future__ import annotations

import argparse

import torch

from noise2noise.checkpoint import code_version, load_model
from noise2noise.data import split_images
from noise2noise.denoise import denoise_image
from noise2noise.evaluate import channels_for
from noise2noise.metrics import psnr_db
from noise2noise.zoo import resolve_model


def passthrough(model: torch.nn.Module, clean: torch.Tensor, sigma: float, generator: torch.Generator,
                same_in_channels: bool = False):
    """(share of the noise kept, PSNR dB of the output) for one C×H×W 0..255 photo at ``sigma``."""
    shape = (1, *clean.shape[1:]) if same_in_channels else clean.shape
    noise = (sigma * torch.randn(shape, generator=generator)).expand_as(clean)
    output = denoise_image(model, (clean + noise).clamp(0, 255)).clamp(0, 255)
    error = output - clean
    kept = float((error * noise).sum() / (noise * noise).sum()) if sigma > 0 else float("nan")
    return kept, float(psnr_db(output[None] / 255.0, clean[None] / 255.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gaussian,gaussian-gray", help="shipped names or checkpoint paths")
    parser.add_argument("--data", default="../shared/datasets/cbsd432", help="folder of clean RGB photos")
    parser.add_argument("--split", default="val", choices=("all", "train", "val"))
    parser.add_argument("--max-images", type=int, default=3)
    parser.add_argument("--levels", default="5,10,15,20,25,35,50")
    parser.add_argument("--same-in-channels", action="store_true", help="one noise image added to every channel")
    args = parser.parse_args()
    levels = [float(x) for x in args.levels.split(",")]
    noise_text = "the same in every channel" if args.same_in_channels else "independent per channel"
    print(f"{args.data} split {args.split}, noise {noise_text}, code {code_version()}")
    by_channels: dict[str, list[torch.Tensor]] = {}  # the photos as each kind of model sees them, read once
    for name in args.models.split(","):
        model, _ = load_model(resolve_model(name))
        channels = channels_for({name: model})
        if channels not in by_channels:
            images = split_images(args.data, args.split, 0.15, channels)[: args.max_images]
            by_channels[channels] = [image.float() for _, image in images]
        print(f"\n{name} ({model.in_channels} channel(s), {len(by_channels[channels])} photos)")
        print(" sigma  noise kept  PSNR dB  noise kept per photo")
        for sigma in levels:
            generator = torch.Generator().manual_seed(0)
            rows = [passthrough(model, photo, sigma, generator, args.same_in_channels)
                    for photo in by_channels[channels]]
            kept, psnr = [k for k, _ in rows], [db for _, db in rows]
            print(f" {sigma:5.0f}  {sum(kept) / len(kept):10.3f}  {sum(psnr) / len(psnr):7.2f}  "
                  + ", ".join(f"{k:.3f}" for k in kept))


if __name__ == "__main__":
    main()
