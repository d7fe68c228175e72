"""Training throughput of the paper U-Net at 32×32 next to the machine's GEMM rate.

Both are measured in this run, in the precision training uses (bf16 autocast on CUDA and
on CPUs with native bf16, float32 otherwise). The reference is the best rate of several GEMM
shapes and 3x3 convolutions (a measured rate, not a hardware limit). Each batch size is timed
``--repeats`` times: the median, the range and the spread are printed, with a warning when the
spread says the machine was busy. Also prints seconds per course epoch (50,000 pairs).

    python benchmarks/throughput.py [--batch-sizes 16,32,64,100] [--seconds 3] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time

import _bench
import torch
import torch.nn.functional as F

from noise2noise.devices import autocast, resolve_device
from noise2noise.inits import INITS
from noise2noise.optim import OPTIMIZERS
from noise2noise.unet import UNet


def _dtype(device: torch.device, precision: str) -> torch.dtype:
    with autocast(device, precision):
        return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else torch.float32


def _best_rate(run, flops: float, device: torch.device, seconds: float) -> float:
    """Best GFLOP/s of ``run()`` (which does ``flops`` of work) over ``seconds`` of repeats."""
    run()  # warm-up: first calls pick kernels and allocate
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        _sync(device)
        start = time.perf_counter()
        run()
        _sync(device)
        best = max(best, flops / (time.perf_counter() - start) / 1e9)
    return best


def kernel_peak_gflops(device: torch.device, precision: str = "auto", seconds: float = 1.0) -> dict[str, float]:
    """The best rate this machine reaches, in the precision training uses, on several GEMM
    shapes and on a large 3x3 convolution. A single 2048² GEMM is not the peak: a bf16
    training step measured 1.3x its rate here (FIELD_NOTES), so the best of several
    kernels is the reference, and it is still a measured rate, not a hardware limit."""
    dtype = _dtype(device, precision)
    rates = {}
    for m, k, n in ((1024, 1024, 1024), (2048, 2048, 2048), (4096, 1024, 1024), (8192, 432, 48), (1024, 4096, 1024)):
        a = torch.randn(m, k, device=device, dtype=dtype)
        b = torch.randn(k, n, device=device, dtype=dtype)
        rates[f"gemm {m}x{k}x{n}"] = _best_rate(lambda a=a, b=b: a @ b, 2.0 * m * k * n, device, seconds)
    for channels, side in ((48, 128), (96, 64)):
        x = torch.randn(32, channels, side, side, device=device).contiguous(memory_format=torch.channels_last)
        conv = torch.nn.Conv2d(channels, channels, 3, padding=1).to(device, memory_format=torch.channels_last)

        def run(x=x, conv=conv) -> None:
            with torch.no_grad(), autocast(device, precision):
                conv(x)

        flops = 2.0 * 32 * channels * channels * 9 * side * side
        rates[f"conv3x3 {channels}ch {side}px"] = _best_rate(run, flops, device, seconds)
    return rates


def conv_flops_per_image(model: UNet, side_px: int) -> float:
    """Forward FLOPs of all convolutions for one side×side image (2 per multiply-add)."""
    total = 0.0

    def count(module, inputs, output):
        nonlocal total
        total += 2.0 * module.in_channels * module.out_channels * 9 * output.shape[-2] * output.shape[-1]

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, model.in_channels, side_px, side_px))
    for hook in hooks:
        hook.remove()
    return total


def train_images_per_s(device: torch.device, batch_size: int, seconds: float, side_px: int = 32,
                       precision: str = "auto", repeats: int = 5) -> list[float]:
    """Training images/s of the paper U-Net, ``repeats`` timings of ``seconds`` each."""
    torch.manual_seed(0)
    model = UNet(3, 3)
    INITS["kaiming_normal"](model)
    model.to(device, memory_format=torch.channels_last)
    optimizer = OPTIMIZERS["adam"](model.parameters(), 1e-3, 0.0)
    x = torch.rand(batch_size, 3, side_px, side_px, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.rand_like(x)

    def step() -> None:
        with autocast(device, precision):
            out = model(x)
        loss = F.mse_loss(out.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up
        step()
    rates = []
    for _ in range(repeats):
        _sync(device)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            step()
            steps += 1
        _sync(device)
        rates.append(steps * batch_size / (time.perf_counter() - start))
    return rates


def _bf16(device: torch.device, precision: str) -> bool:
    with autocast(device, precision):
        return torch.is_autocast_enabled(device.type)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = _bench.parser(__doc__)
    parser.add_argument("--batch-sizes", type=_bench.counts, default="16,32,64,100")
    parser.add_argument("--seconds", type=_bench.number(0.1), default=3.0, help="length of one timing")
    parser.add_argument("--repeats", type=_bench.COUNT, default=5, help="timings per batch size (median and spread)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (see TrainConfig.precision)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    flops_train = 3 * conv_flops_per_image(UNet(3, 3), 32)  # forward + two backward products
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {device}, precision {args.precision}, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.2f} (timings are only valid on an idle machine)")
    kernels = kernel_peak_gflops(device, args.precision)
    best_kernel = max(kernels, key=kernels.get)
    peak = kernels[best_kernel]
    precision = "bf16" if _bf16(device, args.precision) else "float32"
    print(f"best kernel rate ({precision}): {peak:.1f} GFLOP/s ({best_kernel}; "
          + ", ".join(f"{k} {v:.0f}" for k, v in kernels.items()) + ")")
    print(f"training FLOPs per 32x32 image: {flops_train / 1e9:.3f} GFLOP")
    print(f"{'batch':>5} {'img/s median':>12} {'min..max':>15} {'spread':>6} {'of best kernel':>14} "
          f"{'s/epoch(50k)':>12}")
    noisy = False
    for batch_size in args.batch_sizes:
        rates = train_images_per_s(device, batch_size, args.seconds, precision=args.precision, repeats=args.repeats)
        median = statistics.median(rates)
        spread = (max(rates) - min(rates)) / median
        noisy |= spread > 0.10
        achieved = median * flops_train / 1e9
        print(f"{batch_size:>5} {median:12.1f} {min(rates):7.1f}..{max(rates):<7.1f} {spread:6.0%} "
              f"{achieved / peak:14.2f} {50_000 / median:12.1f}")
    if noisy:
        print("warning: timings of one batch size spread by more than 10%: another process is probably "
              "using the CPU; rerun on an idle machine", file=sys.stderr)


if __name__ == "__main__":
    _bench.run(main)
