"""Data-parallel training with torch DDP, launched by ``torchrun``.

``torchrun --nproc_per_node N -m noise2noise.cli train ...`` sets RANK/WORLD_SIZE; every
rank trains on its own shard and its own random stream, gradients are averaged by DDP,
and rank 0's clock decides for all ranks when the time budget is spent. Logging,
validation and checkpoints happen on rank 0 only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from noise2noise.config import device_name


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def current() -> Ranks:
    """This process's place in the process group (a group of one when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def init_from_env(device: str) -> Ranks:
    """Join the process group that torchrun describes in the environment, if any."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return current()
    use_cuda = device_name(device) != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return current()


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """One GPU per rank: cuda -> cuda:LOCAL_RANK."""
    if ranks.active and device.type == "cuda" and device.index is None:
        return torch.device("cuda", ranks.local_rank)
    return device


def broadcast_float(value: float, ranks: Ranks, device: torch.device) -> float:
    """Rank 0's value on every rank (the shared clock)."""
    if not ranks.active:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device if dist.get_backend() == "nccl" else "cpu")
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def mean_over_ranks(tensor: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    if ranks.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= ranks.world_size
    return tensor
