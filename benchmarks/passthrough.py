"""How much of the input's noise a model lets through, level by level, on whole held-out photos.

For each Gaussian sigma, the share of the added noise n that is left in the output's error
e = output - clean, as the regression coefficient <e, n> / <n, n> (0: all removed, 1: all
kept), beside the output's PSNR. A blind model should keep little at every level; one that
keeps most of the noise at low sigma (PSNR barely above the noisy input) has learnt to pass
it through there.

    python benchmarks/passthrough.py --models gaussian,gaussian-gray [--data FOLDER] [--max-images 3]
        [--channel-correlation RHO]

--channel-correlation RHO makes the noise of the colour channels correlated: each channel's
noise is sqrt(RHO) times one noise image shared by all channels plus sqrt(1 - RHO) times its
own (1: the same noise in every channel, as in a grey image fed as grey RGB; real camera noise
after demosaicing lies in between).

A greyscale model sees the photos converted to grey (ITU-R 601 luma), as it was trained.
"""

from __future__ import annotations

import _bench
import torch

from noise2noise.checkpoint import code_version, load_model
from noise2noise.data import split_images
from noise2noise.denoise import denoise_image
from noise2noise.errors import N2NError
from noise2noise.evaluate import channels_for
from noise2noise.metrics import psnr_db
from noise2noise.noise import ChannelCorrelatedGaussianNoise
from noise2noise.zoo import resolve_model


def passthrough(model: torch.nn.Module, clean: torch.Tensor, sigma: float, generator: torch.Generator,
                channel_correlation: float = 0.0):
    """(share of the noise kept, PSNR dB of the output) for one C×H×W 0..255 photo at ``sigma``,
    the noise of its channels correlated by ``channel_correlation``."""
    noise_model = ChannelCorrelatedGaussianNoise((sigma, sigma), clip=False,
                                                 correlation=(channel_correlation, channel_correlation))
    noise = noise_model(clean[None] / 255.0, generator)[0] * 255.0 - clean
    output = denoise_image(model, (clean + noise).clamp(0, 255)).clamp(0, 255)
    error = output - clean
    kept = float((error * noise).sum() / (noise * noise).sum()) if sigma > 0 else float("nan")
    return kept, float(psnr_db(output[None] / 255.0, clean[None] / 255.0))


def main() -> None:
    parser = _bench.parser(__doc__)
    parser.add_argument("--models", default="gaussian,gaussian-gray", help="shipped names or checkpoint paths")
    parser.add_argument("--data", default="../shared/datasets/cbsd432", help="folder of clean RGB photos")
    parser.add_argument("--split", default="val", choices=("all", "train", "val"))
    parser.add_argument("--max-images", type=_bench.COUNT, default=3)
    parser.add_argument("--levels", type=_bench.numbers(), default="5,10,15,20,25,35,50")
    parser.add_argument("--channel-correlation", type=float, default=0.0, metavar="RHO",
                        help="correlation of the colour channels' noise, 0..1 (default 0: independent)")
    args = parser.parse_args()
    levels = args.levels
    if not 0 <= args.channel_correlation <= 1:
        parser.error("--channel-correlation must lie in 0..1")
    if 0 in levels:  # the share of the noise kept is 0 / 0 without noise
        parser.error("--levels: give sigmas > 0")
    models = {name: load_model(resolve_model(name))[0] for name in args.models.split(",")}
    by_channels: dict[str, list[torch.Tensor]] = {}  # the photos as each kind of model sees them, read once
    for name, model in models.items():
        channels = channels_for({name: model})
        if channels not in by_channels:
            images = split_images(args.data, args.split, 0.15, channels)[: args.max_images]
            if not images:  # checked before any line is printed
                raise N2NError(f"{args.data}: split {args.split!r} holds no images (0.15 of them are held out); give "
                               "more photos, or --split all")
            by_channels[channels] = [image.float() for _, image in images]
    print(f"{args.data} split {args.split}, noise correlated across channels by {args.channel_correlation:g}, "
          f"code {code_version()}")
    for name, model in models.items():
        channels = channels_for({name: model})
        print(f"\n{name} ({model.in_channels} channel(s), {len(by_channels[channels])} photos)")
        print(" sigma  noise kept  PSNR dB  noise kept per photo")
        for sigma in levels:
            generator = torch.Generator().manual_seed(0)
            rows = [passthrough(model, photo, sigma, generator, args.channel_correlation)
                    for photo in by_channels[channels]]
            kept, psnr = [k for k, _ in rows], [db for _, db in rows]
            print(f" {sigma:5.0f}  {sum(kept) / len(kept):10.3f}  {sum(psnr) / len(psnr):7.2f}  "
                  + ", ".join(f"{k:.3f}" for k in kept))


if __name__ == "__main__":
    _bench.run(main)
