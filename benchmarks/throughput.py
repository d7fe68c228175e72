"""Training throughput of the paper U-Net at 32×32 next to the machine's GEMM rate.

Both are measured in this run, in the precision training uses (bf16 autocast on CUDA and
on CPUs with native bf16, float32 otherwise), so the printed ratio (fraction of the FLOP limit reached by
a training step) is comparable across machines. Also prints seconds per course epoch
(50,000 pairs; the course's bound is 5 minutes on a CPU).

    python benchmarks/throughput.py [--batch-sizes 16,32,64,100] [--seconds 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from noise2noise.devices import autocast, resolve_device
from noise2noise.inits import INITS
from noise2noise.optim import OPTIMIZERS
from noise2noise.unet import UNet


def gemm_gflops(device: torch.device, precision: str = "auto", size: int = 2048, seconds: float = 3.0) -> float:
    """Best matrix-multiply rate in the precision training uses (bf16 under autocast)."""
    with autocast(device, precision):
        dtype = torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else torch.float32
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        _sync(device)
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        _sync(device)
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


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
                       precision: str = "auto") -> float:
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
    _sync(device)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def _bf16(device: torch.device, precision: str) -> bool:
    with autocast(device, precision):
        return torch.is_autocast_enabled(device.type)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default="16,32,64,100")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing per batch size")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (see TrainConfig.precision)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    flops_train = 3 * conv_flops_per_image(UNet(3, 3), 32)  # forward + two backward products
    peak = gemm_gflops(device, args.precision)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {device}, precision {args.precision}, torch {torch.__version__}")
    precision = "bf16" if _bf16(device, args.precision) else "float32"
    print(f"GEMM limit ({precision}): {peak:.1f} GFLOP/s; "
          f"training FLOPs per 32x32 image: {flops_train / 1e9:.3f} GFLOP")
    print(f"{'batch':>5} {'img/s':>8} {'GFLOP/s':>8} {'of limit':>8} {'s/epoch(50k)':>12}")
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        rate = train_images_per_s(device, batch_size, args.seconds, precision=args.precision)
        achieved = rate * flops_train / 1e9
        print(f"{batch_size:>5} {rate:8.1f} {achieved:8.1f} {achieved / peak:8.2f} {50_000 / rate:12.1f}")


if __name__ == "__main__":
    main()
