"""Is a study faster with runs side by side? `n2n sweep --jobs 1` vs `--jobs N`, end to end.

The same study (the seed study's base setting, ``--runs`` seeds at ``--images`` each) is
swept into a fresh folder with each --jobs value in turn, alternating, ``--repeats`` times.
Prints the total wall time of each sweep (data loading, worker start-up and training
included), its median and range per --jobs value, the ratio of medians, and the 1-minute load
before and after each sweep. Run it on an otherwise idle machine, from the repository root:

    python benchmarks/sweep_jobs.py [--data ../shared/datasets/cbsd432] [--runs 4] [--images 10k] [--jobs 1,2]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench

from noise2noise.checkpoint import code_version
from noise2noise.errors import N2NError

STUDY = """
seeds = {seeds}
time_budget = "{images} images"
[base]
data = "{data}"
noise = "gaussian"
noise_level = 25
crop_px = 32
val_fraction = 0.15
val_patches = 100
batch_size = 100
schedule = "constant"
warmup = 0.0
ema = 0.0
log_every = 10
eval_every_s = 0
checkpoint_every_s = 0
device = "cpu"
[tables.base]
axes = {{ loss = ["l2"] }}
"""


def main() -> None:
    parser = _bench.parser(__doc__)
    parser.add_argument("--data", default="../shared/datasets/cbsd432")
    parser.add_argument("--runs", type=_bench.COUNT, default=4, help="runs in the study (seeds of one setting)")
    parser.add_argument("--images", default="10k", help="work budget per run, e.g. 10k")
    parser.add_argument("--jobs", type=_bench.counts, default="1,2", help="comma-separated --jobs values to compare")
    parser.add_argument("--repeats", type=_bench.COUNT, default=2)
    args = parser.parse_args()
    jobs = args.jobs
    data = Path(args.data).resolve()
    if not data.is_dir():
        raise N2NError(f"{data} is not a folder of photos; pass --data")
    print(f"{args.runs} runs of {args.images} images each; {os.cpu_count()} CPUs; commit "
          f"{code_version()}")
    times: dict[int, list[float]] = {j: [] for j in jobs}
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "jobs.toml"
        study.write_text(STUDY.format(seeds=list(range(args.runs)), images=args.images, data=data))
        for repeat in range(args.repeats):
            for j in jobs if repeat % 2 == 0 else reversed(jobs):
                out = Path(tmp) / f"out-{j}-{repeat}"
                load_before = os.getloadavg()[0]
                start = time.perf_counter()
                sweep = subprocess.run([sys.executable, "-m", "noise2noise", "sweep", str(study), "--out", str(out),
                                        "--jobs", str(j)], stdout=subprocess.DEVNULL)
                if sweep.returncode:  # its own line is on stderr already
                    raise N2NError(f"n2n sweep --jobs {j} failed (exit status {sweep.returncode}); see its line above")
                times[j].append(time.perf_counter() - start)
                print(f"--jobs {j}: {times[j][-1]:.1f} s (1-min load {load_before:.2f} before, "
                      f"{os.getloadavg()[0]:.2f} after)", flush=True)
    print("\n| --jobs | median s | range s | runs/hour |\n|---|---|---|---|")
    for j in jobs:
        median = statistics.median(times[j])
        print(f"| {j} | {median:.1f} | {min(times[j]):.1f}–{max(times[j]):.1f} | {3600 * args.runs / median:.1f} |")
    base = statistics.median(times[jobs[0]])
    for j in jobs[1:]:
        print(f"--jobs {j} takes {statistics.median(times[j]) / base:.2f}× the time of --jobs {jobs[0]}")


if __name__ == "__main__":
    _bench.run(main)
