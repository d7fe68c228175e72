"""Budgeted training: one readable loop, then evaluation and the run's outputs.

Output folder of a run: config.json (resolved config + code version), metrics.jsonl
(training loss every ``log_every`` steps, validation PSNR), checkpoint.pt (weights,
optimiser, weight average, step, clock, random states; also written at the step a Ctrl-C
or SIGTERM interrupts), results.json (with the final validation on crops and on whole
held-out images) and samples.png.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from noise2noise import checkpoint, distributed, rundir, zoo
from noise2noise.augment import AUGMENTS
from noise2noise.config import Budget, TrainConfig
from noise2noise.data import (
    VAL_SEED,
    Batch,
    Generators,
    Validation,
    build_training_data,
    data_fingerprint,
    held_out_images,
)
from noise2noise.denoise import NonFiniteOutput, run_network
from noise2noise.devices import autocast, resolve_device
from noise2noise.errors import N2NError, check_flags, first_line, say_once
from noise2noise.evaluate import METHODS, add_noise, compare_methods, evaluate_pairs, known_noise, model_method
from noise2noise.figures import sample_figure
from noise2noise.inits import INITS
from noise2noise.losses import LOSSES, masked_loss, output_activation
from noise2noise.metrics import PSNR_MAX_DB
from noise2noise.noise import build_noise
from noise2noise.optim import OPTIMIZERS, ema_update_fn, lr_factor
from noise2noise.outputs import write_json
from noise2noise.tensorboard import TENSORBOARD_DIR, TensorBoardMirror, require_tensorboard
from noise2noise.unet import build_model, embedded_state


class Diverged(N2NError):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, lr: float, kept: str = "no checkpoint was written",
                 what: str = "the loss is not finite") -> None:
        super().__init__(f"training diverged at step {step}: {what}; lower the "
                         f"learning rate (e.g. --lr {lr / 10:.2g}); {kept}")
        self.step, self.lr = step, lr


@dataclass
class TrainState:
    """Everything training continues from: weights, optimiser, weight average, counters and
    random streams. It goes to a checkpoint and back here alone (``save``, ``load``); the
    course ``Model`` keeps one between ``train()`` calls."""

    model: nn.Module  # the raw weights, the ones the optimiser steps
    optimizer: torch.optim.Optimizer
    ema: AveragedModel | None = None  # exponential moving average of the weights (cfg.ema > 0)
    step: int = 0
    images: int = 0  # training images seen, summed over data-parallel ranks
    train_time_s: float = 0.0  # training time only: validation and checkpoint writes are not counted
    wall_time_s: float = 0.0  # time spent in fit, all included
    # the random streams at the start of the current epoch and the batches trained on since:
    # replaying those batches puts the data stream exactly where training left it
    epoch_rng: tuple[torch.Tensor, torch.Tensor] | None = None
    epoch_batches: int = 0

    @classmethod
    def start(cls, cfg: TrainConfig, channels: int, device: torch.device,
              model: nn.Module | None = None) -> TrainState:
        """A fresh state on ``device``: ``model``, or the config's network with its seeded
        initialisation; the config's optimiser; the weight average when ``cfg.ema`` > 0."""
        if model is None:
            torch.manual_seed(cfg.seed)
            model = build_model(cfg.arch, channels, channels, cfg.width, cfg.depth, output=output_activation(cfg.loss),
                                sigma_input=cfg.sigma_input)
            INITS[cfg.init](model)
        elif getattr(model, "output", "linear") != output_activation(cfg.loss):
            raise N2NError(f"loss {cfg.loss!r} needs a network with a {output_activation(cfg.loss)} output; "
                           f"this one has a {getattr(model, 'output', 'linear')} output")
        model.to(device, memory_format=torch.channels_last).train()
        optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg.lr, cfg.weight_decay)
        ema = None
        if cfg.ema:
            ema = AveragedModel(model, multi_avg_fn=ema_update_fn(cfg.ema), use_buffers=True)
            ema.requires_grad_(False)
        return cls(model, optimizer, ema)

    @property
    def network(self) -> nn.Module:
        """The weights to validate, save, export and predict with: the average, when kept."""
        return self.ema.module if self.ema is not None else self.model

    def batches(self, source, batch_size: int, gens: Generators) -> Iterator[Batch]:
        """The current epoch's batches still to train on; those of a resumed epoch already
        trained on (``epoch_batches``) are drawn again and dropped."""
        self.epoch_rng = gens.get_state()
        batches = source.batches(batch_size, gens)
        for _ in zip(range(self.epoch_batches), batches):  # range first: no batch is drawn past the count
            pass
        return batches

    def end_epoch(self, gens: Generators) -> None:
        """The epoch ran out: the next one starts from the streams as they are now."""
        self.epoch_rng, self.epoch_batches = gens.get_state(), 0

    def save(self, path: Path, cfg: TrainConfig, finished: bool) -> Path:
        """checkpoint.pt: 'model' holds the weights to use (the average when kept), 'raw_model'
        the optimiser's own weights then; with the rest, a run resumes exactly."""
        averaged = {}
        if self.ema is not None:
            averaged = {"raw_model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                        "ema_updates": int(self.ema.n_averaged)}
        return checkpoint.save(path, self.network, cfg, optimizer=self.optimizer.state_dict(), step=self.step,
                               images=self.images, train_time_s=self.train_time_s, wall_time_s=self.wall_time_s,
                               rng_cpu=self.epoch_rng[0], rng_device=self.epoch_rng[1],
                               epoch_batches=self.epoch_batches, finished=finished, **averaged)

    def load(self, payload: dict[str, Any], random_streams: bool = True) -> None:
        """Continue from a checkpoint's dict; ``random_streams`` False keeps this state's own
        (a data-parallel rank other than 0: the checkpoint holds rank 0's)."""
        self.model.load_state_dict(payload.get("raw_model", payload["model"]))
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.ema is not None:
            self.ema.module.load_state_dict(payload["model"])
            self.ema.n_averaged.fill_(payload.get("ema_updates", 1))
        self.step, self.images, self.train_time_s = payload["step"], payload["images"], payload["train_time_s"]
        self.wall_time_s = payload.get("wall_time_s", 0.0)
        if random_streams:
            self.epoch_rng = (payload["rng_cpu"], payload["rng_device"])
        self.epoch_batches = payload.get("epoch_batches", 0)


class BudgetClock:
    """Training progress against the budget, counted in a ``TrainState``: seconds of
    training (``paused()`` stops the clock for validation, checkpoint writes and replays),
    images seen and steps. ``progress`` is p in [0, 1] in whichever unit the budget has,
    or the share of ``max_steps`` (the epochs) when that is larger."""

    def __init__(self, budget: Budget | None, max_steps: int | None, state: TrainState,
                 ranks: distributed.Ranks, device: torch.device) -> None:
        self.budget, self.max_steps, self.state = budget, max_steps, state
        self.ranks, self.device = ranks, device
        self.unit = budget.unit if budget is not None else "steps"
        now = time.perf_counter()
        self._start, self._wall_start = now - state.train_time_s, now - state.wall_time_s

    @contextmanager
    def paused(self) -> Iterator[None]:
        paused_at = time.perf_counter()
        try:
            yield
        finally:
            self._start += time.perf_counter() - paused_at

    def tick(self, images: int) -> None:
        """Count one step on ``images`` images (on each rank)."""
        self.state.step += 1
        self.state.images += images * self.ranks.world_size
        train_time_s = time.perf_counter() - self._start
        if self.unit == "s":  # every rank follows rank 0's clock, so all stop at the same step
            train_time_s = distributed.broadcast_float(train_time_s, self.ranks, self.device)
        self.state.train_time_s = train_time_s
        self.update_wall_time()

    def update_wall_time(self) -> None:
        self.state.wall_time_s = time.perf_counter() - self._wall_start

    def spent(self) -> float:
        """What the budget counts, spent so far: seconds, images or steps."""
        return {"s": self.state.train_time_s, "images": self.state.images, "steps": self.state.step}[self.unit]

    @property
    def total(self) -> float | None:
        """The budget in its unit (the epochs' steps when there is no budget)."""
        return self.budget.amount if self.budget is not None else self.max_steps

    @property
    def progress(self) -> float:
        done = self.spent() / self.budget.amount if self.budget is not None else 0.0
        if self.max_steps:
            done = max(done, self.state.step / self.max_steps)
        return min(done, 1.0)

    @property
    def done(self) -> bool:
        return self.progress >= 1.0


class MetricsLog:
    """The run's metrics: each row is kept in ``rows`` and handed to every sink (a callable
    taking the row): metrics.jsonl when there is a run folder; another (e.g. a TensorBoard
    mirror) is one more entry in ``sinks``."""

    def __init__(self, path: Path | None = None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.sinks: list[Callable[[dict[str, Any]], None]] = []
        if path is not None:
            self.sinks.append(lambda row: _append_line(path, json.dumps(row)))

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        for sink in self.sinks:
            sink(row)


def _append_line(path: Path, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


@dataclass
class TrainResult:
    model: nn.Module  # the network to use: the weight average when cfg.ema > 0, in eval mode
    config: TrainConfig
    steps: int
    train_time_s: float
    metrics: dict[str, Any] | None  # final validation metrics, when validation data exist
    out_dir: Path | None
    log: list[dict[str, Any]]  # the rows of metrics.jsonl (training loss, validation), kept in memory
    images: int = 0  # training images seen (all ranks)
    wall_time_s: float = 0.0  # time in fit, validation and checkpoints included
    state: TrainState | None = None  # continue training from here: fit(..., state=result.state)
    validation_whole: dict[str, Any] | None = None  # validate_whole_images after a whole run (run_training)

    @property
    def images_per_s(self) -> float:
        """Training throughput: images per second of training time."""
        return self.images / self.train_time_s if self.train_time_s > 0 else 0.0


def initial_network(cfg: TrainConfig, channels: int) -> nn.Module:
    """The network of ``cfg.init_weights`` (a shipped model's name or a checkpoint) to train
    on from, refused in one line when it is not the network the config and data call for. A
    narrower network, or a blind one for a config told sigma, is embedded in the config's
    network so that it starts out computing exactly what it did (``unet.embedded_state``)."""
    model, payload = checkpoint.load_model(zoo.resolve_model(cfg.init_weights, "--init-weights"))
    held = payload["model_args"]
    for name, value in {"arch": cfg.arch, "depth": cfg.depth}.items():
        if held[name] != value:
            raise N2NError(f"init_weights {cfg.init_weights!r} holds a network of {name} {held[name]!r}, "
                           f"the config asks for {value!r}; set {name} to {held[name]!r} to train on from it")
    if held["width"] > cfg.width:
        raise N2NError(f"init_weights {cfg.init_weights!r} holds a network of width {held['width']}, wider than "
                       f"the config's {cfg.width}; set width to {held['width']} or more to train on from it")
    if held["in_channels"] != channels:
        raise N2NError(f"init_weights {cfg.init_weights!r} takes {held['in_channels']}-channel images and the "
                       f"training data have {channels} channel(s); start from a model for {channels}-channel images")
    if held.get("sigma_input", False) and not cfg.sigma_input:
        raise N2NError(f"init_weights {cfg.init_weights!r} is told the noise level (sigma_input); set "
                       "sigma_input = true to train on from it")
    if held["width"] == cfg.width and held.get("sigma_input", False) == cfg.sigma_input:
        return model.train()
    torch.manual_seed(cfg.seed)  # the new channels' weights: the config's seeded initialisation
    grown = build_model(**{**held, "width": cfg.width, "sigma_input": cfg.sigma_input})
    INITS[cfg.init](grown)
    grown.load_state_dict(embedded_state(model, grown, cfg.growth, torch.Generator().manual_seed(cfg.seed)))
    return grown.train()


def train_step(state: TrainState, batch: Batch, loss_fn: Callable[..., torch.Tensor], progress: float,
               precision: str = "fp32", network: nn.Module | None = None) -> torch.Tensor:
    """One optimisation step on ``batch``: forward, loss, backward, update, then the weight
    average. ``network`` is ``state.model`` or a wrapper of it (DDP, torch.compile); the
    loss is returned detached, on the device (no host sync)."""
    network = network if network is not None else state.model
    noisy_input = batch.noisy_input.contiguous(memory_format=torch.channels_last)
    with autocast(noisy_input.device, precision):
        prediction = network(noisy_input)
    prediction = prediction.float()
    loss = masked_loss(loss_fn, prediction, batch.noisy_target, progress, batch.target_mask)
    if batch.regulariser is not None:
        loss = loss + batch.regulariser(state.model, prediction, batch.noisy_target, progress)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    if state.ema is not None:
        state.ema.update_parameters(state.model)
    return loss.detach()


class _Checkpoints:
    """checkpoint.pt of a run folder (nothing without one), never replacing good weights
    with bad ones; it knows the last good step for the divergence message."""

    def __init__(self, out_dir: Path | None, cfg: TrainConfig) -> None:
        self.path = out_dir / "checkpoint.pt" if out_dir is not None else None
        self.cfg, self.saved_step = cfg, None

    def check_finite(self, state: TrainState, loss_sum: torch.Tensor, probe: torch.Tensor | None = None) -> None:
        """Stop on a non-finite loss or weights (a finite loss can still end in an infinite
        update), or, given ``probe`` (a few training inputs), on a non-finite output: weights
        left finite but huge by the last step overflow in the next forward pass."""
        if not (torch.isfinite(loss_sum) and all(torch.isfinite(p).all() for p in state.model.parameters())):
            raise self.diverged(state)
        if probe is not None:
            with torch.no_grad():
                output = state.network(probe.contiguous(memory_format=torch.channels_last))
            if not torch.isfinite(output).all():
                raise self.diverged(state, "the network's output is not finite")

    def diverged(self, state: TrainState, what: str = "the loss is not finite") -> Diverged:
        if self.saved_step is None:
            kept = "no checkpoint was written"
        elif self.saved_step == state.step:  # saved at this step, before validation showed it
            kept = f"{self.path} holds this step's weights: start the run again with --overwrite"
        else:
            kept = f"the last good checkpoint (step {self.saved_step}) is kept in {self.path}"
        return Diverged(state.step, self.cfg.lr, kept, what)

    def validate(self, state: TrainState, val: Validation, with_ssim: bool = True) -> dict[str, Any]:
        """``evaluate_pairs`` on the validation pairs; weights whose output is not finite
        diverged: they are never saved as a finished run."""
        try:
            return evaluate_pairs(state.network, *val, with_ssim=with_ssim)
        except NonFiniteOutput:
            raise self.diverged(state, "the network's output on the validation images is not finite") from None

    def save(self, state: TrainState, loss_sum: torch.Tensor, finished: bool, probe: torch.Tensor | None) -> None:
        if self.path is None and not finished:
            return
        self.check_finite(state, loss_sum, probe)  # a finished run is checked with or without a folder
        if self.path is None:
            return
        state.save(self.path, self.cfg, finished)
        self.saved_step = state.step

    def save_interrupted(self, state: TrainState, loss_sum: torch.Tensor, probe: torch.Tensor | None) -> None:
        """On Ctrl-C or SIGTERM, at a step boundary: keep the last completed step, unless it is
        saved already or is not finite (then the last good checkpoint stays)."""
        if self.path is None or self.saved_step == state.step:
            return
        try:
            self.save(state, loss_sum, finished=False, probe=probe)
        except Diverged:
            pass  # the interrupt goes on; a divergence would have stopped the run at its next log


class _DeferredInterrupts:
    """Ctrl-C and SIGTERM during training wait for the step in flight to complete, so that
    ``fit`` can checkpoint a consistent state (``pending``), then go to the handler they were
    meant for (``deliver``: Python's raises KeyboardInterrupt, the CLI's its subclass).

    Only signals with a Python handler wait (a process that ignores SIGTERM, or dies of it,
    keeps doing so), and only in the main thread, where Python runs signal handlers. A second
    Ctrl-C stops at once; a second SIGTERM is ignored, as the CLI does."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _DeferredInterrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
                if signum is not None and callable(signal.getsignal(signum)):
                    self._previous[signum] = signal.signal(signum, self._defer)
        return self

    def _defer(self, signum: int, frame) -> None:
        if self.pending is None:
            self.pending = signum
        elif signum == signal.SIGINT:
            self.restore()
            raise KeyboardInterrupt

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def deliver(self) -> None:
        """Hand a pending signal to its own handler, which raises."""
        self.restore()
        if self.pending is not None:
            signum, self.pending = self.pending, None
            signal.raise_signal(signum)

    def __exit__(self, *exc_info) -> None:
        self.restore()


def _progress_bar(clock: BudgetClock, enabled: bool):
    """tqdm over the budget in its own unit: spent/total, elapsed<left, then the postfix."""
    from tqdm.auto import tqdm

    unit = {"s": "s", "images": "images", "steps": "steps"}[clock.unit]
    total = clock.total if clock.total is None or clock.total % 1 else int(clock.total)  # "60 s", not "60.0 s"
    bar = tqdm(total=total, disable=not enabled, mininterval=1.0, desc="train", dynamic_ncols=True,
               unit_scale=clock.unit == "images",
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} " + unit +
                          " [{elapsed}<{remaining}{postfix}]")
    _advance(bar, clock)
    return bar


def _advance(bar, clock: BudgetClock) -> None:
    spent = clock.spent()
    bar.update((round(spent) if clock.unit == "s" else spent) - bar.n)


def fit(cfg: TrainConfig, source, val: Validation | tuple[torch.Tensor, torch.Tensor] | None = None,
        out_dir: Path | None = None, model: nn.Module | None = None, resume: dict[str, Any] | None = None,
        progress: bool = True, state: TrainState | None = None) -> TrainResult:
    """Train on a pair source until the budget (time or work) or the epochs run out.

    ``source`` yields ``Batch``es in [0, 1]; ``val`` holds (noisy, clean) N×C×H×W in
    0..255, and the inputs' sigmas when known (``data.Validation``). With ``out_dir`` the
    metrics log and checkpoints are written there. Training starts afresh (from ``model`` or
    ``cfg.init_weights`` when given), from a checkpoint's dict ``resume``, or goes on from
    ``state`` (a previous result's), whose counters the budget and epochs include."""
    ranks = distributed.current()
    if not ranks.is_main:  # rank 0 alone logs, validates and writes checkpoints
        out_dir, val, progress = None, None, False
    device = distributed.rank_device(resolve_device(cfg.device), ranks)
    if ranks.active:
        source.shard(ranks.rank, ranks.world_size)
    source.to(device)
    if state is None:
        if model is None and resume is None and cfg.init_weights is not None:  # a resumed run has its own
            model = initial_network(cfg, source.channels)
        state = TrainState.start(cfg, source.channels, device, model)
        if resume is not None:  # the checkpoint holds rank 0's random streams; other ranks start afresh
            state.load(resume, random_streams=ranks.is_main)
    state.model.train()
    network = state.model
    if ranks.active:  # averages gradients; the initial weights are broadcast from rank 0
        network = torch.nn.parallel.DistributedDataParallel(
            network, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile_model:
        network = torch.compile(network)
    loss_fn, augment = LOSSES[cfg.loss], AUGMENTS[cfg.augment]
    gens = Generators.seeded(cfg.seed + 7919 * ranks.rank, device)  # one random stream per rank
    if state.epoch_rng is not None:
        gens.set_state(state.epoch_rng)
    state.epoch_rng = gens.get_state()  # what a checkpoint records if no epoch starts
    steps_per_epoch = math.ceil(len(source) / cfg.batch_size)
    clock = BudgetClock(cfg.budget, steps_per_epoch * cfg.epochs if cfg.epochs else None, state, ranks, device)
    log = MetricsLog(out_dir / "metrics.jsonl" if out_dir else None)
    board = TensorBoardMirror(out_dir / TENSORBOARD_DIR) if cfg.tensorboard and out_dir else None
    if board is not None:  # a mirror of metrics.jsonl, which stays the record
        log.sinks.append(board.write)
    checkpoints = _Checkpoints(out_dir, cfg)
    start_step = state.step
    loss_sum = torch.zeros((), device=device)  # summed on the device: no host sync per step
    window_steps, window_images, window_start_s = 0, state.images, state.train_time_s
    next_eval_s = state.train_time_s + cfg.eval_every_s if cfg.eval_every_s else math.inf
    next_checkpoint_s = state.train_time_s + cfg.checkpoint_every_s if cfg.checkpoint_every_s else math.inf
    probe = None  # a few inputs of the last batch: a checkpoint's weights must give a finite output on them

    with _DeferredInterrupts() as interrupts, _progress_bar(clock, progress) as bar:
        while not clock.done and interrupts.pending is None:
            with clock.paused():  # replaying a resumed epoch's first batches is not charged
                batches = state.batches(source, cfg.batch_size, gens)
            for batch in batches:
                # ---- termination: the budget or the epochs are spent (the batch drawn is
                # not counted in epoch_batches, so a resumed run draws it again)
                p = clock.progress
                if p >= 1.0:
                    break

                # ---- forward, backward, update (the learning rate follows p through the budget)
                lr = cfg.lr * lr_factor(cfg.schedule, cfg.warmup, p)
                for group in state.optimizer.param_groups:
                    group["lr"] = lr
                noisy_input, noisy_target = augment(batch.noisy_input, batch.noisy_target, gens)
                batch = dataclasses.replace(batch, noisy_input=noisy_input, noisy_target=noisy_target)
                loss_sum += train_step(state, batch, loss_fn, p, cfg.precision, network)
                probe = batch.noisy_input[:2]
                state.epoch_batches += 1
                window_steps += 1
                clock.tick(len(batch))

                # ---- logging: the mean loss of the window, every log_every steps and at the end
                if state.step % cfg.log_every == 0 or clock.done:
                    distributed.mean_over_ranks(loss_sum, ranks)  # every rank logs the same mean
                    checkpoints.check_finite(state, loss_sum)
                    mean_loss = loss_sum.item() / window_steps
                    rate = (state.images - window_images) / max(state.train_time_s - window_start_s, 1e-9)
                    log.write({"kind": "train", "step": state.step, "epoch": round(state.step / steps_per_epoch, 4),
                               "images": state.images, "time_s": round(state.train_time_s, 3), "lr": lr,
                               "loss": mean_loss, "img_per_s": round(rate, 1)})
                    bar.set_postfix(loss=f"{mean_loss:.5f}", img_s=f"{rate:.0f}", step=state.step, refresh=False)
                    loss_sum.zero_()
                    window_steps, window_images, window_start_s = 0, state.images, state.train_time_s
                _advance(bar, clock)

                # ---- validation and checkpoint, every so many seconds of training (not charged)
                if val is not None and state.train_time_s >= next_eval_s:
                    with clock.paused():
                        row = checkpoints.validate(state, val, with_ssim=False)
                    log.write({"kind": "val", "step": state.step, "time_s": round(state.train_time_s, 3), **row})
                    bar.set_postfix(val_db=f"{row['psnr_db']:.2f}", refresh=False)
                    next_eval_s = state.train_time_s + cfg.eval_every_s
                if state.train_time_s >= next_checkpoint_s:
                    with clock.paused():
                        checkpoints.save(state, loss_sum, finished=False, probe=probe)
                    next_checkpoint_s = state.train_time_s + cfg.checkpoint_every_s

                # ---- Ctrl-C or SIGTERM came during the step: stop at its end (checkpointed below)
                if interrupts.pending is not None:
                    break
            else:
                state.end_epoch(gens)
            if state.step == 0 and interrupts.pending is None:
                raise N2NError("the training data gave no batches")
        if interrupts.pending is not None:
            if state.step > start_step:  # a completed step: --resume goes on from here, losing nothing
                clock.update_wall_time()
                checkpoints.save_interrupted(state, loss_sum, probe)
            interrupts.deliver()

    state.model.eval()
    state.network.eval()
    metrics = None
    if val is not None:
        metrics = checkpoints.validate(state, val)
        log.write({"kind": "val", "step": state.step, "time_s": round(state.train_time_s, 3), **metrics})
    clock.update_wall_time()
    checkpoints.save(state, loss_sum, finished=True, probe=probe)
    if board is not None:
        board.close()
    return TrainResult(state.network, cfg, state.step, state.train_time_s, metrics, out_dir, log.rows,
                       images=state.images, wall_time_s=state.wall_time_s, state=state)


# the config fields a resumed run may change: its budget, to train on for longer
EXTENDABLE = ("time_budget", "epochs")


def run_training(cfg: TrainConfig | None, out_dir: str | Path | None = None, resume: bool = False,
                 overwrite: bool = False, progress: bool = True, extend: dict[str, Any] | None = None) -> TrainResult:
    """A whole run: data, training, validation, and the run folder's outputs (see
    ``rundir`` for how the folder is checked, locked, replaced and resumed). ``extend``:
    with ``resume``, a larger budget (``EXTENDABLE`` fields) to train an interrupted or
    finished run on for longer; the schedule is laid over the new budget."""
    check_flags("run_training", resume=resume, overwrite=overwrite, progress=progress)
    if not isinstance(cfg, TrainConfig) and not (cfg is None and resume):  # None: the resumed run's own
        raise N2NError(f"run_training: expected a TrainConfig (TrainConfig.from_dict(d) for a dict), got "
                       f"{type(cfg).__name__}")
    if out_dir is not None and (not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir).strip()):
        raise N2NError(f"run_training: out_dir={out_dir!r} is not a folder path; give one, or None to keep no run "
                       "folder")  # an empty one would be the current folder
    ranks = distributed.init_from_env(cfg.device if cfg is not None else "auto")
    checkpoint.code_version()  # read now, once: the code this run loaded, whatever is committed meanwhile
    if resume and overwrite:
        raise N2NError("--resume continues the run in --out and --overwrite replaces it; pass one of them")
    state = rundir.load_resume_state(out_dir, extending=bool(extend)) if resume else None  # the same on every rank
    if state is not None:
        given, cfg = cfg, TrainConfig.from_dict(state["config"], source=str(Path(out_dir) / "checkpoint.pt"))
        changed = [] if given is None else [f.name for f in dataclasses.fields(cfg)  # a budget may have grown
                                             if getattr(given, f.name) != getattr(cfg, f.name)
                                             and not (extend and f.name in EXTENDABLE)]
        if changed:  # the CLI refuses the same (--resume with other options); this was ignored without a word
            raise N2NError(f"run_training(resume=True) continues {out_dir} with its saved config, and the one given "
                           f"differs in {', '.join(changed)}; pass cfg=None (a larger budget: extend="
                           "{'time_budget': ...}), or start a new run in another out_dir")
        if extend:
            cfg = extended_config(cfg, extend, state, out_dir)
    run = None
    if out_dir is not None and ranks.is_main:  # rank 0 alone writes the run folder; checked before the data are read
        if resume:
            rundir.check_resumable_folder(Path(out_dir))
        else:
            rundir.check_new_run(Path(out_dir), overwrite, rundir.config_inputs(cfg))
    if cfg.init_weights is not None and not resume:
        start = zoo.resolve_model(cfg.init_weights, "--init-weights")  # a missing file fails before the data are read
        if overwrite and out_dir is not None and start.resolve().is_relative_to(Path(out_dir).resolve()):
            raise N2NError(f"--init-weights {cfg.init_weights} is inside {out_dir}, which --overwrite replaces: the "
                           "new run's config.json would name a start that is gone; copy the checkpoint elsewhere first")
    if cfg.tensorboard and out_dir is not None and ranks.is_main:
        require_tensorboard()  # before the data are read, not after the training
    result = None
    try:
        # bad data fail here, before the folder is touched
        source, val = build_training_data(cfg, new_run=state is None)
        fingerprint = data_fingerprint(cfg)
        if state is not None:
            _check_resumable(cfg, state, source.channels)  # so does a checkpoint edited or from another run
            _check_same_data(Path(out_dir) / "config.json", fingerprint, cfg)  # and data that changed since
        if out_dir is not None and ranks.is_main and resume:
            run = rundir.RunFolder.reopen(out_dir, state["step"])
            if extend:
                write_json(run.path / "config.json", {**cfg.to_dict(), "code_version": checkpoint.code_version(),
                                                      "data_fingerprint": fingerprint})
                # the finished run's results no longer describe the folder: an interrupted extension
                # is a run to resume, not a finished one to replace
                (run.path / "results.json").unlink(missing_ok=True)
            else:
                _restore_config_json(run.path / "config.json", cfg, fingerprint)
        if out_dir is not None and ranks.is_main and not resume:
            run = rundir.RunFolder.create(out_dir, overwrite, rundir.config_inputs(cfg))
            write_json(run.path / "config.json", {**cfg.to_dict(), "code_version": checkpoint.code_version(),
                                                  "data_fingerprint": fingerprint})
        result = fit(cfg, source, val, run.path if run else None, resume=state, progress=progress)
        _warn_if_worse_than_noisy(result)
        if ranks.is_main:
            result.validation_whole = validate_whole_images(cfg, result.model)
        if run is not None:
            write_json(run.path / "results.json", {
                "steps": result.steps, "images": result.images, "train_time_s": round(result.train_time_s, 2),
                "wall_time_s": round(result.wall_time_s, 2), "images_per_s": round(result.images_per_s, 1),
                "code_version": checkpoint.code_version(), "validation": result.metrics,
                "validation_whole": result.validation_whole})
            if val is not None:
                write_samples(result.model, val, result.metrics, run.path / "samples.png", title="validation")
                if cfg.tensorboard:
                    with TensorBoardMirror(run.path / TENSORBOARD_DIR) as board:
                        board.add_figure(run.path / "samples.png", step=result.steps)
    except BaseException as exc:
        if run is None:
            raise
        if run.abandon() and isinstance(exc, KeyboardInterrupt) and result is None:  # the CLI says how to go on
            exc.resumable_run = run.out_dir  # (once fit returned, its checkpoint is a finished run's)
        if isinstance(exc, Diverged) and run.replacing:  # its checkpoint went with the staging folder
            raise Diverged(exc.step, exc.lr, f"{run.out_dir} still holds the previous run") from None
        raise
    if run is not None:
        run.finish()  # outside the clean-up above: a finished run is never removed
    result.out_dir = run.out_dir if run is not None else None
    return result


def _warn_if_worse_than_noisy(result: TrainResult) -> None:
    """A run whose output scores below its own noisy input has learnt nothing usable yet
    (a few steps, a learning rate far off): say so, as its PSNR alone reads like a result."""
    metrics = result.metrics or {}
    psnr, noisy = metrics.get("psnr_db"), metrics.get("psnr_noisy_db")
    if psnr is not None and noisy is not None and noisy < PSNR_MAX_DB and psnr < noisy:  # (no noise: nothing to do)
        say_once(f"warning: after {result.steps} steps the denoised validation images ({psnr:.2f} dB) are worse than "
                 f"the noisy ones ({noisy:.2f} dB); train for longer (a larger time budget), or check the learning "
                 "rate")


def _check_resumable(cfg: TrainConfig, payload: dict[str, Any], channels: int) -> None:
    """Load a checkpoint into a fresh state on the CPU, so that one that does not match its own
    config (edited, or another run's copied in) fails in one line before the run folder is touched."""
    try:
        counts = {name: payload[name] for name in ("step", "images", "train_time_s")}
        wrong = next((name for name, value in counts.items()
                      if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0), None)
        if wrong is not None:
            raise TypeError(f"{wrong}={counts[wrong]!r} is not a count")
        TrainState.start(cfg, channels, torch.device("cpu")).load(payload, random_streams=False)
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise N2NError(f"the checkpoint to resume does not match its own config ({type(exc).__name__}: "
                       f"{first_line(exc, 200)}); it was edited or comes from another run: start the run again "
                       "with --overwrite") from None


def _recorded_config(path: Path) -> dict[str, Any] | None:
    """A run folder's config.json as a table, or None: missing, not JSON, or not a table."""
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _check_same_data(path: Path, fingerprint: str | None, cfg: TrainConfig) -> None:
    """Refuse to resume on data other than the run started with (``data.data_fingerprint``
    recorded in its config.json; runs from before it are not checked): it would train on other
    images, and hold out others for validation, some of which it trained on."""
    recorded = (_recorded_config(path) or {}).get("data_fingerprint")
    if recorded is not None and recorded != fingerprint:
        raise N2NError(f"{cfg.data}: its files are not those the run in {path.parent} started with (names or sizes "
                       "differ, or a relative path now points elsewhere); restore them, or start a new run "
                       "(--overwrite, or another --out)")


def _restore_config_json(path: Path, cfg: TrainConfig, fingerprint: str | None) -> None:
    """A resumed run goes on with its checkpoint's config: a config.json that says otherwise
    (edited, broken or deleted) is written back from it, with one note, so that the folder
    does not claim a run it does not hold."""
    recorded = _recorded_config(path)
    code = recorded.pop("code_version", None) if recorded is not None else None
    if recorded is not None:
        recorded.pop("data_fingerprint", None)
    if recorded == json.loads(json.dumps(cfg.to_dict())):
        return
    say_once(f"note: {path}: {'differed from' if recorded is not None else 'could not be read as'} the config "
             "in checkpoint.pt, which the run goes on with; written back from the checkpoint")
    write_json(path, {**cfg.to_dict(), "code_version": code or checkpoint.code_version(),
                      "data_fingerprint": fingerprint})


def extended_config(cfg: TrainConfig, extend: dict[str, Any], state: dict[str, Any], out_dir) -> TrainConfig:
    """A resumed run's config with a larger budget; one line when the new one is not larger
    than what the run has already trained, or counts in another unit."""
    unknown = sorted(set(extend) - set(EXTENDABLE))
    if unknown:
        raise N2NError(f"a resumed run keeps its config; only {', '.join(EXTENDABLE)} may change, not {unknown[0]}")
    new = TrainConfig.from_dict({**cfg.to_dict(), **extend})
    old_budget, new_budget = cfg.budget, new.budget
    limits = {"time_budget": cfg.time_budget, "epochs": cfg.epochs}
    added = [name for name in extend if limits.get(name) is None and getattr(new, name) is not None]
    if added:  # a limit the run did not have may be reached already: nothing would train, with exit 0
        given = " and ".join(f"{name}={value!r}" for name, value in limits.items() if value is not None)
        option = "--" + next(name for name, value in limits.items() if value is not None).replace("_", "-")
        raise N2NError(f"{out_dir} trains to {given} and no {added[0]}; to train it on, give a larger {option}")
    if "time_budget" in extend and old_budget is not None and new_budget is not None:
        if new_budget.unit != old_budget.unit:
            raise N2NError(f"{out_dir} trains to a budget in {old_budget.unit}; give the larger budget in "
                           f"{old_budget.unit} too (it has {old_budget})")
        spent = {"s": state["train_time_s"], "images": state["images"], "steps": state["step"]}[new_budget.unit]
        if new_budget.amount <= spent:
            raise N2NError(f"{out_dir} has already trained {_number(spent)} {new_budget.unit} of its {old_budget}; "
                           f"give a larger --time-budget to train it on")
    if "epochs" in extend and cfg.epochs is not None and new.epochs is not None and new.epochs <= cfg.epochs:
        raise N2NError(f"{out_dir} trains for {cfg.epochs} epochs; give more --epochs to train it on")
    return new


def _number(value: float) -> str:
    return f"{value:g}" if value < 1e6 else f"{value:,.0f}"


def validate_whole_images(cfg: TrainConfig, model: nn.Module) -> dict[str, Any] | None:
    """The network on up to ``cfg.val_whole_images`` whole held-out clean images (the goal is
    whole photos, not the crops ``fit`` validates on): mean PSNR dB and SSIM per image, of
    the output and of the noisy input. Each image gets one noise draw from a fixed seed at
    the middle of noise_level, so runs with one config compare. None when the run holds
    none out (tensor files, noisy pairs, noisy_data, a val_data folder) or it is off."""
    if not cfg.val_whole_images:
        return None
    images = held_out_images(cfg)[:cfg.val_whole_images]
    if not images:
        return None
    level = (cfg.noise_level[0] + cfg.noise_level[1]) / 2
    noise = build_noise(cfg.noise, (level, level), cfg.clip)
    methods = {"noisy": METHODS["noisy"], "model": model_method(model)}
    # the level is known: a network told sigma is given it, as in validation
    _, table, _ = compare_methods(add_noise(images, noise, seed=VAL_SEED), methods, known_noise(noise), keep_outputs=0)
    noisy, denoised = table
    return {"n_images": denoised["n_images"], "psnr_db": denoised["psnr_db"], "ssim": denoised["ssim"],
            "psnr_noisy_db": noisy["psnr_db"], "ssim_noisy": noisy["ssim"], "noise_level": level}


def write_samples(model: nn.Module, val: Validation, metrics: dict[str, Any], path: Path, title: str) -> Path:
    """The noisy / clean / denoised figure of the first 4 validation pairs."""
    noisy, clean = val.noisy[:4], val.clean[:4]
    sigma_255 = None if val.sigma_255 is None else val.sigma_255[:4]
    return sample_figure(list(zip(noisy, clean, run_network(model, noisy, sigma_255=sigma_255))), path,
                         title=f"{title}: {metrics['psnr_db']:.2f} dB (noisy {metrics['psnr_noisy_db']:.2f} dB)")
