"""Time-budgeted training: one readable loop, then evaluation and the run's outputs.

Output folder of a run: config.json (resolved config + code version), metrics.jsonl
(training loss every ``log_every`` steps, validation PSNR), checkpoint.pt (weights,
optimiser, step, clock, random states), results.json and samples.png.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from noise2noise import checkpoint, distributed, rundir
from noise2noise.augment import AUGMENTS
from noise2noise.config import TrainConfig
from noise2noise.data import Extras, Generators, build_training_data
from noise2noise.denoise import denoise_tensor
from noise2noise.devices import autocast, resolve_device
from noise2noise.errors import N2NError
from noise2noise.evaluate import evaluate_pairs
from noise2noise.figures import sample_figure
from noise2noise.inits import INITS
from noise2noise.losses import LOSSES, masked_loss, output_activation
from noise2noise.optim import OPTIMIZERS, SCHEDULES
from noise2noise.outputs import write_json
from noise2noise.unet import build_model


class Diverged(N2NError):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, lr: float, kept: str = "no checkpoint was written") -> None:
        super().__init__(f"training diverged at step {step}: the loss is not finite; lower the "
                         f"learning rate (e.g. --lr {lr / 10:.2g}); {kept}")
        self.step, self.lr = step, lr


@dataclass
class TrainResult:
    model: nn.Module
    config: TrainConfig
    steps: int
    train_time_s: float
    metrics: dict[str, Any] | None  # final validation metrics, when validation data exist
    out_dir: Path | None
    log: list[dict[str, Any]]  # the rows of metrics.jsonl (training loss, validation), kept in memory


class _JsonLines:
    """Append-only metrics log (one JSON object per line, also kept in ``rows``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")


def fit(cfg: TrainConfig, source, val: tuple[torch.Tensor, torch.Tensor] | None = None,
        out_dir: Path | None = None, model: nn.Module | None = None,
        resume: dict[str, Any] | None = None, progress: bool = True) -> TrainResult:
    """Train on a pair source until the time budget or the epochs run out.

    ``source`` yields (noisy_input, noisy_target[, Extras]) batches in [0, 1]; ``val`` holds
    (noisy, clean) N×C×H×W in 0..255. With ``out_dir`` the loss log and checkpoints
    are written there."""
    from tqdm.auto import tqdm

    ranks = distributed.current()
    if not ranks.is_main:  # rank 0 alone logs, validates and writes checkpoints
        out_dir, val, progress = None, None, False
    device = distributed.rank_device(resolve_device(cfg.device), ranks)
    torch.manual_seed(cfg.seed)
    if model is None:
        model = build_model(cfg.arch, source.channels, source.channels, cfg.width, cfg.depth,
                            output=output_activation(cfg.loss))
        INITS[cfg.init](model)
    elif getattr(model, "output", "linear") != output_activation(cfg.loss):
        raise N2NError(f"loss {cfg.loss!r} needs a network with a {output_activation(cfg.loss)} output; "
                       f"this one has a {getattr(model, 'output', 'linear')} output")
    model.to(device, memory_format=torch.channels_last).train()
    if ranks.active:
        source.shard(ranks.rank, ranks.world_size)
    source.to(device)
    train_model = model
    if ranks.active:  # averages gradients; the initial weights are broadcast from rank 0
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile_model:
        train_model = torch.compile(train_model)
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg.lr, cfg.weight_decay)
    schedule, loss_fn, augment = SCHEDULES[cfg.schedule], LOSSES[cfg.loss], AUGMENTS[cfg.augment]
    gens = Generators.seeded(cfg.seed + 7919 * ranks.rank, device)  # one random stream per rank
    steps_per_epoch = math.ceil(len(source) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs if cfg.epochs else None
    step, images_seen, train_time_s, skip_batches = 0, 0, 0.0, 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        step, images_seen, train_time_s = resume["step"], resume["images"], resume["train_time_s"]
        # the random states are those of the epoch's start: replaying its first batches
        # puts the data stream exactly where the checkpoint left it
        if ranks.is_main:  # the checkpoint holds rank 0's streams; other ranks start afresh
            gens.cpu.set_state(resume["rng_cpu"])
            gens.device.set_state(resume["rng_device"].to(gens.device.get_state().device))
        skip_batches = resume.get("epoch_batches", 0)
    log = _JsonLines(out_dir / "metrics.jsonl" if out_dir else None)
    saved_step = None

    def progress_now() -> float:
        done = train_time_s / cfg.time_budget_s if cfg.time_budget_s else 0.0
        return max(done, step / total_steps) if total_steps else done

    def check_finite() -> None:
        """Stop on a non-finite loss or weights (a finite loss can still end in an infinite update)."""
        if torch.isfinite(loss_sum) and all(torch.isfinite(p).all() for p in model.parameters()):
            return
        bar.close()
        raise Diverged(step, lr, "no checkpoint was written" if saved_step is None else
                       f"the last good checkpoint (step {saved_step}) is kept in {out_dir / 'checkpoint.pt'}")

    def save_checkpoint(finished: bool) -> None:
        nonlocal saved_step
        if out_dir is None:
            return
        check_finite()  # never replace good weights with bad ones
        checkpoint.save(out_dir / "checkpoint.pt", model, cfg, optimizer=optimizer.state_dict(),
                        step=step, images=images_seen, train_time_s=train_time_s,
                        rng_cpu=epoch_rng[0], rng_device=epoch_rng[1].cpu(), epoch_batches=epoch_batches,
                        finished=finished)
        saved_step = step

    bar = tqdm(total=round(cfg.time_budget_s) if cfg.time_budget_s else total_steps,
               unit="s" if cfg.time_budget_s else "step", disable=not progress, mininterval=1.0,
               desc="train", dynamic_ncols=True)
    bar.update(round(train_time_s) if cfg.time_budget_s else step)
    loss_sum = torch.zeros((), device=device)
    window_steps, window_images, window_start_s = 0, 0, train_time_s
    next_eval_s = train_time_s + cfg.eval_every_s if cfg.eval_every_s else math.inf
    next_checkpoint_s = train_time_s + cfg.checkpoint_every_s if cfg.checkpoint_every_s else math.inf
    lr = cfg.lr
    clock_start = time.perf_counter() - train_time_s
    # what a checkpoint records when the budget is already spent on resuming (no epoch starts)
    epoch_rng, epoch_batches = (gens.cpu.get_state(), gens.device.get_state()), skip_batches
    while progress_now() < 1.0:
        epoch_rng, epoch_batches = (gens.cpu.get_state(), gens.device.get_state()), 0
        batches = source.batches(cfg.batch_size, gens)
        if skip_batches:  # resuming mid-epoch; not charged to the budget
            paused = time.perf_counter()
            for _ in zip(range(skip_batches), batches):
                epoch_batches += 1
            skip_batches = 0
            clock_start += time.perf_counter() - paused
        for noisy_input, noisy_target, *extras in batches:
            extras = extras[0] if extras else Extras()  # a target mask, a regulariser
            p = progress_now()
            if p >= 1.0:
                break
            lr = cfg.lr * schedule(p)
            for group in optimizer.param_groups:
                group["lr"] = lr
            noisy_input, noisy_target = augment(noisy_input, noisy_target, gens)
            noisy_input = noisy_input.contiguous(memory_format=torch.channels_last)
            with autocast(device, cfg.precision):
                prediction = train_model(noisy_input)
            loss = masked_loss(loss_fn, prediction.float(), noisy_target, p, extras.target_mask)
            if extras.regulariser is not None:
                loss = loss + extras.regulariser(model, prediction.float(), noisy_target, p)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()  # summed on the device: no host sync per step
            step += 1
            epoch_batches += 1
            window_steps += 1
            window_images += noisy_input.shape[0]
            images_seen += noisy_input.shape[0]
            # every rank follows rank 0's clock, so all stop at the same step
            train_time_s = distributed.broadcast_float(time.perf_counter() - clock_start, ranks, device)

            if step % cfg.log_every == 0 or progress_now() >= 1.0:
                distributed.mean_over_ranks(loss_sum, ranks)  # every rank logs the same mean
                check_finite()
                mean_loss = loss_sum.item() / window_steps
                rate = window_images / max(train_time_s - window_start_s, 1e-9)
                log.write({"kind": "train", "step": step, "epoch": round(step / steps_per_epoch, 4),
                           "images": images_seen, "time_s": round(train_time_s, 3), "lr": lr,
                           "loss": mean_loss, "img_per_s": round(rate, 1)})
                bar.set_postfix(loss=f"{mean_loss:.5f}", img_s=f"{rate:.0f}", step=step, refresh=False)
                loss_sum.zero_()
                window_steps, window_images, window_start_s = 0, 0, train_time_s
            bar.update((round(train_time_s) - bar.n) if cfg.time_budget_s else 1)

            if train_time_s >= next_eval_s and val is not None:
                paused = time.perf_counter()  # validation is not charged to the budget
                row = evaluate_pairs(model, *val, with_ssim=False)
                model.train()
                log.write({"kind": "val", "step": step, "time_s": round(train_time_s, 3), **row})
                bar.set_postfix(val_db=f"{row['psnr_db']:.2f}", refresh=False)
                next_eval_s = train_time_s + cfg.eval_every_s
                clock_start += time.perf_counter() - paused
            if train_time_s >= next_checkpoint_s:
                paused = time.perf_counter()
                save_checkpoint(finished=False)
                next_checkpoint_s = train_time_s + cfg.checkpoint_every_s
                clock_start += time.perf_counter() - paused
        if step == 0:
            raise N2NError("the training data gave no batches")
    bar.close()
    model.eval()
    metrics = None
    if val is not None:
        metrics = evaluate_pairs(model, *val)
        log.write({"kind": "val", "step": step, "time_s": round(train_time_s, 3), **metrics})
    save_checkpoint(finished=True)
    return TrainResult(model, cfg, step, train_time_s, metrics, out_dir, log.rows)


def run_training(cfg: TrainConfig | None, out_dir: str | Path | None = None, resume: bool = False,
                 overwrite: bool = False, progress: bool = True) -> TrainResult:
    """A whole run: data, training, validation, and the run folder's outputs (see
    ``rundir`` for how the folder is checked, locked, replaced and resumed)."""
    ranks = distributed.init_from_env(cfg.device if cfg is not None else "auto")
    if resume and overwrite:
        raise N2NError("--resume continues the run in --out and --overwrite replaces it; pass one of them")
    state = rundir.load_resume_state(out_dir) if resume else None  # every rank resumes the same state
    if state is not None:
        cfg = TrainConfig.from_dict(state["config"], source=str(Path(out_dir) / "checkpoint.pt"))
    run = None
    if out_dir is not None and ranks.is_main:  # rank 0 alone writes the run folder
        if resume:
            run = rundir.RunFolder.reopen(out_dir, state["step"])
        else:
            rundir.check_new_run(Path(out_dir), overwrite, rundir.config_inputs(cfg))  # before the data are read
    try:
        source, val = build_training_data(cfg)  # bad data fail here, before the folder is touched
        if out_dir is not None and ranks.is_main and not resume:
            run = rundir.RunFolder.create(out_dir, overwrite, rundir.config_inputs(cfg))
            write_json(run.path / "config.json", {**cfg.to_dict(), "code_version": checkpoint.code_version()})
        result = fit(cfg, source, val, run.path if run else None, resume=state, progress=progress)
        if run is not None:
            write_json(run.path / "results.json", {
                "steps": result.steps, "train_time_s": round(result.train_time_s, 2),
                "code_version": checkpoint.code_version(), "validation": result.metrics})
            if val is not None:
                write_samples(result.model, val, result.metrics, run.path / "samples.png", title="validation")
    except BaseException as exc:
        if run is None:
            raise
        run.abandon()
        if isinstance(exc, Diverged) and run.replacing:  # its checkpoint went with the staging folder
            raise Diverged(exc.step, exc.lr, f"{run.out_dir} still holds the previous run") from None
        raise
    if run is not None:
        run.finish()  # outside the clean-up above: a finished run is never removed
    result.out_dir = run.out_dir if run is not None else None
    return result


def write_samples(model: nn.Module, val: tuple[torch.Tensor, torch.Tensor], metrics: dict[str, Any],
                  path: Path, title: str) -> Path:
    """The noisy / clean / denoised figure of the first 4 validation pairs."""
    noisy, clean = val[0][:4], val[1][:4]
    return sample_figure(list(zip(noisy, clean, denoise_tensor(model, noisy))), path,
                         title=f"{title}: {metrics['psnr_db']:.2f} dB (noisy {metrics['psnr_noisy_db']:.2f} dB)")
