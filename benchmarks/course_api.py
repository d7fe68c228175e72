"""The course API trained as a course harness would: chunked train() calls vs one call, vs the seed.

A course harness hands ``Model.train(train_input, train_target, num_epochs=1)`` the noisy
pairs (N×3×32×32, 0..255) in successive chunks. This script trains, on the same pairs from
the same start:

- ``ours, chunked``: our ``Model`` in ``--pairs / --chunk`` calls of ``--chunk`` pairs
  (default 25 calls of 2,000 pairs: 50,000 pairs of work),
- ``ours, one call``: our ``Model`` in ONE ``train()`` call over all the pairs,
- ``seed, one call``: the seed's configuration written as a plain course Model (paper
  U-Net, Xavier, Adam 1e-3, batch 100, MSE, float32, its own plain loop) in one call, as
  the seed trained,

and prints held-out PSNR (dB, the course's metric; the noisy input's PSNR beside it), the
wall seconds and the 1-minute load average after each row.

How to read it: ``ours, chunked`` within seed-to-seed noise of ``ours, one call`` shows the
training state (optimiser moments, step count, schedule, weight average) is kept between
calls; a chunked row clearly worse would mean each call starts afresh. ``seed, one call``
is the baseline the others are compared with at the same work. Wall seconds compare only
within one run on an idle machine (the load average says whether it was).

    python benchmarks/course_api.py --data ../shared/datasets/cbsd432 [--pairs 50000]
    python benchmarks/course_api.py --train-data train_data.pkl --val-data val_data.pkl
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import _bench
import torch
from torch import nn

from noise2noise.course import Model
from noise2noise.data import export_course, load_course_file, load_reference_pairs
from noise2noise.denoise import denoise_tensor
from noise2noise.devices import resolve_device
from noise2noise.errors import N2NError
from noise2noise.inits import INITS
from noise2noise.metrics import psnr_db
from noise2noise.unet import build_model


class SeedModel:
    """The seed's configuration as a plain course Model: one Adam for the model's life,
    inputs scaled to 0..1, shuffled batches of 100, MSE, float32."""

    def __init__(self, width: int = 48, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.device = resolve_device("auto")  # where our Model trains too
        self.model = build_model("unet", 3, 3, width, 5)
        INITS["xavier_normal"](self.model)
        self.model.to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.generator = torch.Generator().manual_seed(seed)

    def train(self, train_input: torch.Tensor, train_target: torch.Tensor, num_epochs: int) -> None:
        """``train_input``, ``train_target``: N×3×H×W, 0..255."""
        self.model.train()
        for _ in range(num_epochs):
            order = torch.randperm(len(train_input), generator=self.generator)
            for start in range(0, len(order), 100):
                batch = order[start : start + 100]
                noisy_input = train_input[batch].to(self.device).float() / 255.0
                noisy_target = train_target[batch].to(self.device).float() / 255.0
                loss = nn.functional.mse_loss(self.model(noisy_input), noisy_target)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()

    def predict(self, test_input: torch.Tensor) -> torch.Tensor:
        return denoise_tensor(self.model, test_input, batch_size=64, device=self.device)


def our_model(width: int) -> Model:
    """Our course Model; a narrower network than the recommended one only for smoke runs."""
    model = Model()
    if width != model.config.width:
        model.config = model.config.replace(width=width)
        torch.manual_seed(model.config.seed)
        model.model = build_model(model.config.arch, 3, 3, width, model.config.depth)
        INITS[model.config.init](model.model)
        model.model.to(model.device, memory_format=torch.channels_last)
    return model


def course_pairs(args: argparse.Namespace) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]:
    """(noisy_1, noisy_2) training pairs and (noisy, clean) held-out pairs, uint8 N×3×H×W."""
    if args.train_data or args.val_data:
        if not (args.train_data and args.val_data):
            raise N2NError("give both --train-data and --val-data, or neither (then --data is exported)")
        # the reference check warns when --val-data's second tensor looks noisy (the files swapped)
        train, val = load_course_file(args.train_data), load_reference_pairs(args.val_data)
        return (train[0][: args.pairs], train[1][: args.pairs]), val
    with tempfile.TemporaryDirectory() as folder:  # as `n2n data export-course` writes them
        train_path, val_path = export_course(args.data, folder, args.pairs, args.val_pairs, 32, "gaussian",
                                             (25.0, 25.0), seed=args.seed)
        return load_course_file(train_path), load_course_file(val_path)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = _bench.parser(__doc__)
    parser.add_argument("--data", default="../shared/datasets/cbsd432", help="clean photos ('embedded' or a folder)")
    parser.add_argument("--train-data", type=Path, help="a course train_data.pkl instead of --data")
    parser.add_argument("--val-data", type=Path, help="a course val_data.pkl instead of --data")
    parser.add_argument("--pairs", type=_bench.COUNT, default=50_000,
                        help="work budget: training pairs (default: 50000)")
    parser.add_argument("--chunk", type=_bench.COUNT, default=2_000,
                        help="pairs per chunked train() call (default: 2000)")
    parser.add_argument("--val-pairs", type=_bench.COUNT, default=1000, help="held-out pairs (default: 1000)")
    parser.add_argument("--width", type=_bench.COUNT, default=48, help="U-Net width (default: 48, the paper's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    (noisy_1, noisy_2), (val_noisy, val_clean) = course_pairs(args)
    noisy_db = psnr_db(val_noisy.float() / 255.0, val_clean.float() / 255.0)
    print(f"{len(noisy_1)} training pairs in calls of {args.chunk}, {len(val_noisy)} held-out pairs; "
          f"noisy input {noisy_db:.2f} dB", flush=True)

    def chunked(model: Model) -> None:
        for start in range(0, len(noisy_1), args.chunk):
            model.train(noisy_1[start : start + args.chunk], noisy_2[start : start + args.chunk], num_epochs=1)

    rows = []
    for name, make, train in [("ours, chunked", lambda: our_model(args.width), chunked),
                              ("ours, one call", lambda: our_model(args.width),
                               lambda m: m.train(noisy_1, noisy_2, num_epochs=1)),
                              ("seed, one call", lambda: SeedModel(args.width, args.seed),
                               lambda m: m.train(noisy_1, noisy_2, num_epochs=1))]:
        model = make()
        started = time.perf_counter()
        train(model)
        wall_s = time.perf_counter() - started
        denoised = model.predict(val_noisy).clamp(0, 255)
        rows.append({"model": name, "psnr_db": psnr_db(denoised / 255.0, val_clean.float() / 255.0),
                     "wall_s": wall_s, "load_1min": os.getloadavg()[0]})
        print(f"{name:>15}: {rows[-1]['psnr_db']:.2f} dB, {wall_s:.0f} s, load {rows[-1]['load_1min']:.1f}",
              flush=True)
    print(f"\n| model | held-out PSNR (dB) | wall (s) | load (1 min) |\n|---|---|---|---|\n"
          f"| noisy input | {noisy_db:.2f} | – | – |")
    for row in rows:
        print(f"| {row['model']} | {row['psnr_db']:.2f} | {row['wall_s']:.0f} | {row['load_1min']:.1f} |")
    return rows


if __name__ == "__main__":
    _bench.run(main)
