"""The noise level estimate that `n2n denoise` gives a network told sigma
(``noise.estimate_sigma_255``), read on whole photos at known sigmas: its mean, median and
range per level, beside the plain median of the finest diagonal band over every cell
(Donoho's estimate, which scikit-image's ``estimate_sigma`` computes).

    python benchmarks/sigma_estimate.py [--data ../shared/datasets/cbsd432] [--split val]
        [--channels grey] [--levels 0,5,15,25,50] [--max-images N]
        [--margins 1] [--smooth-fractions 0.25]

Gaussian noise, clipped to 0..255 as the quality tables' is, one draw per photo from --seed.
Several --margins and --smooth-fractions compare the estimate's choices of cells (the
defaults are the product's: noise.UNCLIPPED_SIGMAS, noise.SMOOTH_FRACTION); choose them on
the training split, then read the held-out one.
"""

from __future__ import annotations

import itertools
import statistics

import _bench

from noise2noise.checkpoint import code_version
from noise2noise.evaluate import evaluation_images
from noise2noise.noise import (
    MAD_TO_SIGMA,
    SMOOTH_FRACTION,
    UNCLIPPED_SIGMAS,
    build_noise,
    estimate_sigma_255,
    haar_cells,
)


def plain_median(noisy) -> float:
    """Donoho's estimate of a C×H×W image: the median absolute diagonal detail of every cell."""
    return float(haar_cells(noisy[None])[1].abs().median()) * MAD_TO_SIGMA


def main() -> None:
    parser = _bench.parser(__doc__)
    parser.add_argument("--data", default="../shared/datasets/cbsd432", help="folder of clean photos or 'embedded'")
    parser.add_argument("--split", default="val", choices=("all", "train", "val"))
    parser.add_argument("--channels", default="grey", choices=("grey", "rgb", "auto"))
    parser.add_argument("--levels", type=_bench.numbers(), default="0,5,15,25,50", help="Gaussian sigmas in 0..255")
    parser.add_argument("--max-images", type=_bench.COUNT, default=None)
    parser.add_argument("--seed", type=int, default=0, help="seed of the added noise")
    parser.add_argument("--margins", type=_bench.numbers(), default=f"{UNCLIPPED_SIGMAS:g}",
                        help="comma list: cells kept at least this many sigmas from black and white")
    parser.add_argument("--smooth-fractions", type=_bench.numbers(), default=f"{SMOOTH_FRACTION:g}",
                        help="comma list: the fraction of those cells kept, the smoothest")
    args = parser.parse_args()
    levels = args.levels
    if not all(0 < fraction <= 1 for fraction in args.smooth_fractions):
        parser.error("--smooth-fractions: give shares of the cells in (0, 1]")
    choices = list(itertools.product(args.margins, args.smooth_fractions))
    estimates = {"plain median": plain_median}
    for margin, fraction in choices:
        estimates[f"estimate, margin {margin:g} sigma, smooth fraction {fraction:g}"] = (
            lambda noisy, m=margin, f=fraction: float(estimate_sigma_255(noisy[None], m, f)[0]))
    readings: dict[str, dict[float, list[float]]] = {name: {} for name in estimates}
    for level in levels:
        noise = build_noise("gaussian", (level, level), clip=True)
        triples = evaluation_images(args.data, noise, args.split, seed=args.seed, max_images=args.max_images,
                                    channels=args.channels)
        for name, estimate in estimates.items():
            readings[name][level] = [estimate(noisy) for _, noisy, _ in triples]
    print(f"{args.data} split {args.split}, {args.channels}, {len(triples)} photos; code {code_version()}")
    for name, by_level in readings.items():
        print(f"\n{name}\n{'sigma':>6} {'mean':>7} {'median':>7} {'range':>13}")
        for level, values in by_level.items():
            print(f"{level:6g} {statistics.mean(values):7.2f} {statistics.median(values):7.2f} "
                  f"{min(values):6.1f}-{max(values):<6.1f}")
        errors = [abs(v - level) / level for level, values in by_level.items() if level > 0 for v in values]
        if errors:
            print(f"mean |reading - sigma| / sigma over sigma > 0: {statistics.mean(errors):.4f}")


if __name__ == "__main__":
    _bench.run(main)
