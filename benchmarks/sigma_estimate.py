"""The noise level estimate that `n2n denoise` gives a network told sigma
(``noise.estimate_sigma_255``), read on whole photos at known sigmas: its mean, median and
range per level, beside the plain median of the finest diagonal band over every cell
(Donoho's estimate, which scikit-image's ``estimate_sigma`` computes).

    python benchmarks/sigma_estimate.py [--data ../shared/datasets/cbsd432] [--split val]
                                        [--channels grey] [--levels 0,5,15,25,50] [--max-images N]

Gaussian noise, clipped to 0..255 as the quality tables' is, one draw per photo from --seed.
"""

from __future__ import annotations

import argparse
import statistics

from noise2noise.checkpoint import code_version
from noise2noise.evaluate import evaluation_images
from noise2noise.noise import build_noise, estimate_sigma_255, haar_cells

MAD_TO_SIGMA = 1 / 0.6745  # the median absolute value of Gaussian noise is 0.6745 sigma


def plain_median(noisy) -> float:
    """Donoho's estimate of a C×H×W image: the median absolute diagonal detail of every cell."""
    return float(haar_cells(noisy[None])[1].abs().median()) * MAD_TO_SIGMA


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/cbsd432", help="folder of clean photos or 'embedded'")
    parser.add_argument("--split", default="val", choices=("all", "train", "val"))
    parser.add_argument("--channels", default="grey", choices=("grey", "rgb", "auto"))
    parser.add_argument("--levels", default="0,5,15,25,50", help="Gaussian sigmas in 0..255")
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="seed of the added noise")
    args = parser.parse_args()
    print(f"{args.data} split {args.split}, {args.channels}; code {code_version()}")
    print(f"{'sigma':>5} {'photos':>6} | {'estimate: mean':>14} {'median':>7} {'range':>13} | "
          f"{'plain median: mean':>18} {'range':>13}")
    for level in (float(v) for v in args.levels.split(",")):
        noise = build_noise("gaussian", (level, level), clip=True)
        triples = evaluation_images(args.data, noise, args.split, seed=args.seed, max_images=args.max_images,
                                    channels=args.channels)
        ours = [float(estimate_sigma_255(noisy[None])[0]) for _, noisy, _ in triples]
        plain = [plain_median(noisy) for _, noisy, _ in triples]
        print(f"{level:5g} {len(triples):6d} | {statistics.mean(ours):14.2f} {statistics.median(ours):7.2f} "
              f"{min(ours):6.1f}-{max(ours):<6.1f} | {statistics.mean(plain):18.2f} "
              f"{min(plain):6.1f}-{max(plain):<6.1f}")


if __name__ == "__main__":
    main()
