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

from noise2noise import checkpoint
from noise2noise.augment import AUGMENTS
from noise2noise.config import TrainConfig
from noise2noise.data import Generators, build_training_data
from noise2noise.denoise import autocast, denoise_tensor, resolve_device
from noise2noise.errors import N2NError
from noise2noise.evaluate import evaluate_pairs
from noise2noise.figures import sample_figure
from noise2noise.images import atomic_write
from noise2noise.inits import INITS
from noise2noise.losses import LOSSES, output_activation
from noise2noise.optim import OPTIMIZERS, SCHEDULES
from noise2noise.unet import build_model


class Diverged(N2NError):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, lr: float) -> None:
        super().__init__(f"training diverged at step {step}: the loss is not finite; lower the "
                         f"learning rate (e.g. --lr {lr / 10:.2g}); the last good checkpoint is kept")
        self.step = step


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

    ``source`` yields (noisy_input, noisy_target) batches in [0, 1]; ``val`` holds
    (noisy, clean) N×C×H×W in 0..255. With ``out_dir`` the loss log and checkpoints
    are written there."""
    from tqdm.auto import tqdm

    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if model is None:
        model = build_model(cfg.arch, source.channels, source.channels, cfg.width, cfg.depth,
                            output=output_activation(cfg.loss))
        INITS[cfg.init](model)
    elif getattr(model, "output", "linear") != output_activation(cfg.loss):
        raise N2NError(f"loss {cfg.loss!r} needs a network with a {output_activation(cfg.loss)} output; "
                       f"this one has a {getattr(model, 'output', 'linear')} output")
    model.to(device, memory_format=torch.channels_last).train()
    source.to(device)
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), cfg.lr, cfg.weight_decay)
    schedule, loss_fn, augment = SCHEDULES[cfg.schedule], LOSSES[cfg.loss], AUGMENTS[cfg.augment]
    gens = Generators.seeded(cfg.seed, device)
    steps_per_epoch = math.ceil(len(source) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs if cfg.epochs else None
    step, images_seen, train_time_s = 0, 0, 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        step, images_seen, train_time_s = resume["step"], resume["images"], resume["train_time_s"]
        gens.cpu.set_state(resume["rng_cpu"])
        gens.device.set_state(resume["rng_device"].to(gens.device.get_state().device))
    log = _JsonLines(out_dir / "metrics.jsonl" if out_dir else None)

    def progress_now() -> float:
        done = train_time_s / cfg.time_budget_s if cfg.time_budget_s else 0.0
        return max(done, step / total_steps) if total_steps else done

    def save_checkpoint(finished: bool) -> None:
        if out_dir is not None:
            checkpoint.save(out_dir / "checkpoint.pt", model, cfg, optimizer=optimizer.state_dict(),
                            step=step, images=images_seen, train_time_s=train_time_s,
                            rng_cpu=gens.cpu.get_state(), rng_device=gens.device.get_state().cpu(),
                            finished=finished)

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
    while progress_now() < 1.0:
        for noisy_input, noisy_target in source.batches(cfg.batch_size, gens):
            p = progress_now()
            if p >= 1.0:
                break
            lr = cfg.lr * schedule(p)
            for group in optimizer.param_groups:
                group["lr"] = lr
            noisy_input, noisy_target = augment(noisy_input, noisy_target, gens)
            noisy_input = noisy_input.contiguous(memory_format=torch.channels_last)
            with autocast(device):
                prediction = model(noisy_input)
            loss = loss_fn(prediction.float(), noisy_target, p)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()  # summed on the device: no host sync per step
            step += 1
            window_steps += 1
            window_images += noisy_input.shape[0]
            images_seen += noisy_input.shape[0]
            train_time_s = time.perf_counter() - clock_start

            if step % cfg.log_every == 0 or progress_now() >= 1.0:
                mean_loss = loss_sum.item() / window_steps
                if not math.isfinite(mean_loss):
                    bar.close()
                    raise Diverged(step, lr)
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
                if not torch.isfinite(loss_sum):
                    bar.close()
                    raise Diverged(step, lr)
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


def prepare_out_dir(out_dir: str | Path, overwrite: bool = False) -> Path:
    """Create a run folder; refuse to mix a new run into an existing one."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise N2NError(f"{out_dir}: exists and is not a folder; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise N2NError(f"{out_dir}: folder exists and is not empty; use --resume to continue "
                       "that run, --overwrite to replace it, or another --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".n2n-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise N2NError(f"{out_dir}: cannot write there ({exc.strerror})") from None
    if overwrite:
        for name in ("metrics.jsonl", "checkpoint.pt", "results.json", "samples.png", "config.json"):
            (out_dir / name).unlink(missing_ok=True)
    return out_dir


def write_json(path: Path, content: dict[str, Any]) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(content, indent=2) + "\n"))


def run_training(cfg: TrainConfig | None, out_dir: str | Path | None = None, resume: bool = False,
          overwrite: bool = False, progress: bool = True) -> TrainResult:
    """A whole run: data, training, validation, and the run folder's outputs."""
    state = None
    if resume:
        if out_dir is None:
            raise N2NError("resuming needs the run folder (--out) that holds checkpoint.pt")
        out_dir = Path(out_dir)
        state = checkpoint.load(out_dir / "checkpoint.pt")
        cfg = TrainConfig.from_dict(state["config"], source=str(out_dir / "checkpoint.pt"))
        if state.get("finished"):
            raise N2NError(f"{out_dir}: that run already finished; nothing to resume")
    elif out_dir is not None:
        out_dir = prepare_out_dir(out_dir, overwrite)
    source, val = build_training_data(cfg)
    if out_dir is not None and not resume:
        write_json(out_dir / "config.json", {**cfg.to_dict(), "code_version": checkpoint.code_version()})
    result = fit(cfg, source, val, out_dir, resume=state, progress=progress)
    if out_dir is not None:
        write_json(out_dir / "results.json", {
            "steps": result.steps, "train_time_s": round(result.train_time_s, 2),
            "code_version": checkpoint.code_version(), "validation": result.metrics})
        if val is not None:
            write_samples(result.model, val, result.metrics, out_dir / "samples.png", title="validation")
    return result


def write_samples(model: nn.Module, val: tuple[torch.Tensor, torch.Tensor], metrics: dict[str, Any],
                  path: Path, title: str) -> Path:
    """The noisy / clean / denoised figure of the first 4 validation pairs."""
    noisy, clean = val[0][:4], val[1][:4]
    return sample_figure(list(zip(noisy, clean, denoise_tensor(model, noisy))), path,
                         title=f"{title}: {metrics['psnr_db']:.2f} dB (noisy {metrics['psnr_noisy_db']:.2f} dB)")
