"""Optimisers and learning-rate schedules.

A schedule maps training progress p in [0, 1] (share of the time budget spent, or of
the steps when training by epochs) to a multiplier of the peak learning rate, so the
same schedule fits a 1-minute and a 1-hour budget. ``lr_factor`` puts the optional
linear warm-up on top of any of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from noise2noise.registry import OPTIMIZERS, SCHEDULES  # noqa: F401 - their names are declared there


def adam(params: Iterable[torch.Tensor], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    # beta2 = 0.99 as in the paper
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99), eps=1e-8, weight_decay=weight_decay)


def adamw(params: Iterable[torch.Tensor], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), weight_decay=weight_decay)


def sgd(params: Iterable[torch.Tensor], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum 0.9, the seed study's other optimiser."""
    return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)


def rmsprop(params: Iterable[torch.Tensor], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, alpha=0.99, weight_decay=weight_decay)


def constant(progress: float) -> float:
    return 1.0


def cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def linear(progress: float) -> float:
    """Linear decay from the peak to 0 at the end of the budget."""
    return max(0.0, 1.0 - progress)


def rampdown(progress: float, share: float = 0.3) -> float:
    """The paper's schedule: constant, then a smooth cos² decay to 0 over the last 30%."""
    start = 1.0 - share
    if progress <= start:
        return 1.0
    t = min((progress - start) / share, 1.0)
    return (0.5 + 0.5 * math.cos(math.pi * t)) ** 2


def onecycle(progress: float, warmup: float = 0.25) -> float:
    """Linear warm-up from 4% to the peak over the first 25%, then cosine down to 0."""
    if progress < warmup:
        return 0.04 + 0.96 * progress / warmup
    return cosine((progress - warmup) / (1.0 - warmup))


def lr_factor(schedule: str, warmup: float, progress: float) -> float:
    """The multiplier of the peak learning rate at progress p in [0, 1]: the schedule,
    times a linear warm-up from 0 over the first ``warmup`` share of the budget (0: none)."""
    factor = SCHEDULES[schedule](progress)
    if warmup > 0:
        factor *= min(1.0, progress / warmup)
    return factor


def ema_decay(decay: float, updates: torch.Tensor) -> torch.Tensor:
    """The decay of the weight average at its ``updates``-th update: min(decay, (1 + n) / (10 + n)),
    TensorFlow's ExponentialMovingAverage with num_updates. A plain 0.999 keeps 0.999^n of the
    first, nearly random weights: 5% after a 10-minute CPU run (3,000 steps of 32), where such
    an average (with a cosine schedule) validated at 27.05 dB against 30.09 for the constant-rate
    config without one (benchmarks/budget.py, commit e24fbf0; 30.54 with the ramp, 83fea7f).
    With the ramp the average spans about the last tenth of the run, until that reaches
    1 / (1 - decay) steps."""
    n = updates.to(torch.float32)
    return torch.clamp((1.0 + n) / (10.0 + n), max=decay)


def ema_update_fn(decay: float):
    """The ``multi_avg_fn`` of ``torch.optim.swa_utils.AveragedModel`` for ``ema_decay``:
    computed on the device from the update count, so no host sync per step."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        torch._foreach_lerp_(averaged, current, 1.0 - ema_decay(decay, updates).to(averaged[0].dtype))

    return update
