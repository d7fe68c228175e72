"""PSNR reached within a wall-clock training budget, default config vs the seed's config.

Same data, same machine, same run: CBSD432 (or any clean-photo folder) 32×32 crops with
Gaussian sigma=25 pairs, validated on held-out images every ``--eval-every`` seconds.
Prints the final PSNR of each config and how long the default needed to reach the seed
config's final PSNR; writes curves.json and psnr_vs_time.png to --out.

    python benchmarks/budget.py --data ../shared/datasets/cbsd432 --budget 10m --out runs/budget [--parallel]
    python benchmarks/budget.py --configs candidate,seed --try batch_size=32 --parallel --out runs/budget32

``--try FIELD=VALUE`` (repeatable) defines config "candidate": the default with those fields
changed, to measure a proposed default against the seed's config before adopting it.
"""

from __future__ import annotations

import json
from pathlib import Path

import _bench

from noise2noise.config import TrainConfig, parse_duration_s
from noise2noise.data import check_sources
from noise2noise.errors import N2NError
from noise2noise.train import run_training

# The seed report's best: paper U-Net, Xavier, no augmentation, L2, Adam lr 1e-3, batch 100
SEED = dict(init="xavier_normal", loss="l2", optimizer="adam", lr=1e-3, batch_size=100, schedule="constant",
            warmup=0.0, ema=0.0, precision="fp32")


def curve(run_dir: Path) -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["time_s"], r["psnr_db"]) for r in rows if r["kind"] == "val"]


def _run_one(index: int, names: list[str], base: dict, out: Path, threads: int, candidate: dict) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    name = names[index]
    changes = {"seed": SEED, "candidate": candidate}.get(name, {})
    run_training(TrainConfig.from_dict({**base, **changes}), out / name, overwrite=True, progress=False)


def _value(text: str):
    """A --try value as TOML reads it (32, 1e-3, true, [0, 50]), else the text itself."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def time_to_reach(points: list[tuple[float, float]], target_db: float) -> float | None:
    return next((t for t, db in points if db >= target_db), None)


def main() -> None:
    parser = _bench.parser(__doc__)
    parser.add_argument("--data", default="../shared/datasets/cbsd432")
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--eval-every", default="30s")
    parser.add_argument("--configs", type=_bench.names(("default", "seed", "candidate")), default="default,seed",
                        help="comma list of: default, seed, candidate")
    parser.add_argument("--try", dest="tries", action="append", default=[], metavar="FIELD=VALUE",
                        help="a config field of 'candidate' (the default otherwise); repeatable")
    parser.add_argument("--out", type=Path, default=Path("runs/budget"))
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier result in --out")
    parser.add_argument("--parallel", action="store_true",
                        help="train the configs at the same time, one process and one thread each")
    args = parser.parse_args()
    try:
        eval_every_s = parse_duration_s(args.eval_every)
    except (N2NError, ValueError):
        parser.error(f"--eval-every {args.eval_every!r}: expected a duration, e.g. 30s or 2m")
    base = dict(data=args.data, noise="gaussian", noise_level=25.0, crop_px=32, val_patches=500,
                time_budget=args.budget, eval_every_s=eval_every_s, checkpoint_every_s=0.0)
    names = args.configs
    if args.tries and "candidate" not in names:
        raise N2NError(f"--try {args.tries[0]}: sets config 'candidate', which --configs {','.join(names)} leaves "
                       "out; add candidate to --configs")
    if any("=" not in item for item in args.tries):
        raise N2NError(f"--try {next(i for i in args.tries if '=' not in i)}: expected FIELD=VALUE, e.g. batch_size=32")
    _bench.check_out_dir(args.out, args.overwrite)  # each run below replaces its folder
    candidate = {key: _value(text) for key, text in (item.split("=", 1) for item in args.tries)}
    check_sources(TrainConfig.from_dict({**base, **candidate}))  # a bad field or folder fails now, not in a worker
    if args.parallel:  # one process and one core per config: same machine, same minutes
        import torch.multiprocessing as mp

        mp.start_processes(_run_one, args=(names, base, args.out, 1, candidate), nprocs=len(names),
                           start_method="spawn")
    else:
        for i in range(len(names)):
            _run_one(i, names, base, args.out, 0, candidate)
    curves = {}
    for name in names:
        results = json.loads((args.out / name / "results.json").read_text())
        curves[name] = {"config": json.loads((args.out / name / "config.json").read_text()),
                        "curve": curve(args.out / name), "final": results["validation"]}
        print(f"{name:>8}: {results['validation']['psnr_db']:.2f} dB after {results['train_time_s']:.0f} s "
              f"(noisy {results['validation']['psnr_noisy_db']:.2f} dB, {results['steps']} steps)", flush=True)
    for name in [n for n in names if n != "seed" and "seed" in curves]:
        target = curves["seed"]["final"]["psnr_db"]
        reached = time_to_reach(curves[name]["curve"], target)
        budget = parse_duration_s(base["time_budget"])
        print(f"{name} reaches the seed config's final {target:.2f} dB after "
              + (f"{reached:.0f} s = {reached / budget:.2f} of the budget" if reached else "never"))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curves.json").write_text(json.dumps(curves, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, entry in curves.items():
        times, dbs = zip(*entry["curve"])
        ax.plot(times, dbs, marker="o", ms=3, label=name)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("held-out PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "psnr_vs_time.png", dpi=100)
    print(f"wrote {args.out / 'curves.json'} and {args.out / 'psnr_vs_time.png'}")


if __name__ == "__main__":
    _bench.run(main)
