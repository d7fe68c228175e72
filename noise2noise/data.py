"""Noisy training pairs: from the course's tensor files, or synthesised from clean photos.

Public tensors follow the course convention (N×C×H×W, 0..255); batches handed to the
network are float in [0, 1] on the training device.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from noise2noise.checkpoint import safe_load
from noise2noise.config import TrainConfig
from noise2noise.errors import N2NError
from noise2noise.images import atomic_write, embedded_images, list_images, load_folder
from noise2noise.noise import build_noise

_CHUNK_BYTES = 64 * 2**20  # crops generated at once, bounding memory for large crops
VAL_SEED = 20_181_010  # fixed noise for validation, so every run sees the same pairs


@dataclass
class Generators:
    """Seeded random streams: index/crop choices on the CPU, noise on the device."""

    cpu: torch.Generator
    device: torch.Generator

    @classmethod
    def seeded(cls, seed: int, device: torch.device) -> Generators:
        cpu = torch.Generator().manual_seed(seed)
        return cls(cpu, torch.Generator(device=device).manual_seed(seed + 1))


def check_tensor(tensor: object, where: str, channels: tuple[int, ...] = (1, 3)) -> torch.Tensor:
    """Check an N×C×H×W image tensor in 0..255; raise one line naming ``where``."""
    if not isinstance(tensor, torch.Tensor):
        raise N2NError(f"{where}: expected a tensor, got {type(tensor).__name__}")
    if tensor.ndim != 4 or tensor.shape[1] not in channels or tensor.numel() == 0:
        raise N2NError(f"{where}: expected N×C×H×W images with C in {channels}, "
                       f"got shape {tuple(tensor.shape)}")
    if not (tensor.dtype == torch.uint8 or tensor.is_floating_point()):
        raise N2NError(f"{where}: expected uint8 or float pixels, got {tensor.dtype}")
    if tensor.is_floating_point():
        if not torch.isfinite(tensor).all():
            raise N2NError(f"{where}: contains NaN or infinite values")
        lo, hi = tensor.min().item(), tensor.max().item()
        if lo < 0 or hi > 255:
            raise N2NError(f"{where}: values must lie in 0..255, found {lo:.3g}..{hi:.3g}")
    return tensor


def check_pair(a: object, b: object, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = check_tensor(a, f"{where} (first tensor)"), check_tensor(b, f"{where} (second tensor)")
    if a.shape != b.shape:
        raise N2NError(f"{where}: the two tensors of a pair differ in shape, "
                       f"{tuple(a.shape)} vs {tuple(b.shape)}")
    return a, b


def load_course_file(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``noisy_1, noisy_2 = load_course_file('train_data.pkl')`` (or ``noisy, clean``
    for val_data.pkl); tensors only, never arbitrary pickled code."""
    path = Path(path)
    if not path.is_file():
        raise N2NError(f"{path}: no such file")
    content = safe_load(path, "course data file of tensors")
    if not isinstance(content, (tuple, list)) or len(content) != 2:
        raise N2NError(f"{path}: expected a pair of tensors (noisy_1, noisy_2) or (noisy, clean), "
                       f"got {type(content).__name__}")
    return check_pair(content[0], content[1], str(path))


class TensorPairs:
    """Fixed pairs (noisy_input[i], noisy_target[i]), shuffled each epoch."""

    def __init__(self, noisy_input: torch.Tensor, noisy_target: torch.Tensor, where: str = "pairs"):
        self.noisy_input, self.noisy_target = check_pair(noisy_input, noisy_target, where)
        self.channels = self.noisy_input.shape[1]

    def __len__(self) -> int:
        return self.noisy_input.shape[0]

    def shard(self, rank: int, world_size: int) -> TensorPairs:
        """Keep this rank's equal share of the pairs (data-parallel training)."""
        if world_size > 1:
            index = torch.arange(rank, len(self) // world_size * world_size, world_size)
            self.noisy_input, self.noisy_target = self.noisy_input[index], self.noisy_target[index]
        return self

    def to(self, device: torch.device) -> TensorPairs:
        self.noisy_input = self.noisy_input.to(device)
        self.noisy_target = self.noisy_target.to(device)
        return self

    def batches(self, batch_size: int, gens: Generators) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self), generator=gens.cpu).to(self.noisy_input.device)
        for start in range(0, len(self), batch_size):
            index = order[start : start + batch_size]
            yield (_unit(self.noisy_input[index]), _unit(self.noisy_target[index]))


class SyntheticPairs:
    """Random crops of clean images with two independent noise draws, fresh every epoch
    (the paper's set-up). Each crop picks an image uniformly, then a position."""

    def __init__(self, images: list[tuple[str, torch.Tensor]], noise, crop_px: int, pairs_per_epoch: int):
        for name, image in images:
            if min(image.shape[-2:]) < crop_px:
                raise N2NError(f"{name}: image is {image.shape[-1]}×{image.shape[-2]} px, smaller "
                               f"than the {crop_px} px crop; lower --crop-px or remove it")
        self.images = [image for _, image in images]
        self.noise, self.crop_px, self.pairs_per_epoch = noise, crop_px, pairs_per_epoch
        self.channels = self.images[0].shape[0]

    def __len__(self) -> int:
        return self.pairs_per_epoch

    def shard(self, rank: int, world_size: int) -> SyntheticPairs:
        """Each rank draws its share of an epoch's crops from its own random stream."""
        self.pairs_per_epoch = max(1, self.pairs_per_epoch // world_size)
        return self

    def to(self, device: torch.device) -> SyntheticPairs:
        self.images = [image.to(device) for image in self.images]
        return self

    def crops(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` random crops, N×C×crop×crop in the images' dtype (0..255)."""
        which = torch.randint(len(self.images), (count,), generator=generator)
        out = []
        for i in which.unique().tolist():  # one gather per image, not per crop
            image = self.images[i]
            n = int((which == i).sum())
            height, width = image.shape[-2:]
            ys = torch.randint(height - self.crop_px + 1, (n,), generator=generator).tolist()
            xs = torch.randint(width - self.crop_px + 1, (n,), generator=generator).tolist()
            windows = image.unfold(1, self.crop_px, 1).unfold(2, self.crop_px, 1)  # a view
            out.append(windows[:, ys, xs].permute(1, 0, 2, 3))
        crops = torch.cat(out)
        return crops[torch.randperm(count, generator=generator).to(crops.device)]

    def batches(self, batch_size: int, gens: Generators) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        crop_bytes = self.channels * self.crop_px**2 * 4
        chunk = max(batch_size, _CHUNK_BYTES // crop_bytes // batch_size * batch_size)
        for start in range(0, self.pairs_per_epoch, chunk):
            clean = self.crops(min(chunk, self.pairs_per_epoch - start), gens.cpu)
            for b in range(0, clean.shape[0], batch_size):
                batch = _unit(clean[b : b + batch_size])
                yield self.noise(batch, gens.device), self.noise(batch, gens.device)

    def validation(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed (noisy, clean) pairs, N×C×crop×crop float 0..255, from a fixed seed."""
        generator = torch.Generator().manual_seed(VAL_SEED)
        clean = _unit(self.crops(count, generator).cpu())
        return self.noise(clean, generator) * 255.0, clean * 255.0


def _unit(batch: torch.Tensor) -> torch.Tensor:
    return batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float() / 255.0


def split_by_image(items: list, val_fraction: float, seed: int = 0) -> tuple[list, list]:
    """Deterministic split of whole images into (train, validation)."""
    if val_fraction == 0 or len(items) < 2:
        return items, []
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = min(len(items) - 1, max(1, round(len(items) * val_fraction)))
    val = sorted(order[:n_val])
    return [items[i] for i in sorted(order[n_val:])], [items[i] for i in val]


def clean_images(source: str, val_fraction: float) -> tuple[list, list]:
    """(train, held-out) clean images of 'embedded' or a folder, split by image."""
    if source == "embedded":
        return embedded_images("train"), embedded_images("test")
    files = list_images(source)
    train_files, val_files = split_by_image(files, val_fraction)
    images = load_folder(source, files)
    by_name = dict(zip(files, images))
    return [by_name[f] for f in train_files], [by_name[f] for f in val_files]


def is_course_file(source: str) -> bool:
    return Path(source).suffix in (".pkl", ".pt", ".pth")


def build_training_data(cfg: TrainConfig):
    """(pair source, validation (noisy, clean) in 0..255 or None) for a config."""
    noise = build_noise(cfg.noise, cfg.noise_level, cfg.clip)
    held_out: list = []
    if is_course_file(cfg.data):
        source = TensorPairs(*load_course_file(cfg.data), where=cfg.data)
    else:
        train, held_out = clean_images(cfg.data, 0.0 if cfg.val_data else cfg.val_fraction)
        source = SyntheticPairs(train, noise, cfg.crop_px, cfg.pairs_per_epoch)
    if cfg.val_data is not None:
        if is_course_file(cfg.val_data):
            val = load_course_file(cfg.val_data)
        else:
            val = SyntheticPairs(load_folder(cfg.val_data), noise, cfg.crop_px, 1).validation(cfg.val_patches)
    elif held_out:
        val = SyntheticPairs(held_out, noise, cfg.crop_px, 1).validation(cfg.val_patches)
    else:
        val = None
    if val is not None and val[0].shape[1] != source.channels:
        raise N2NError(f"validation data has {val[0].shape[1]} channels but training data has "
                       f"{source.channels}")
    return source, val


def export_course(source: str, out_dir: str | Path, pairs: int, val_pairs: int, crop_px: int,
                  noise: str, noise_level: tuple[float, float], seed: int = 0,
                  val_fraction: float = 0.15) -> tuple[Path, Path]:
    """Write course-format ``train_data.pkl`` (noisy_1, noisy_2) and ``val_data.pkl``
    (noisy, clean), uint8 N×C×crop×crop, from clean photos split by image."""
    cfg = TrainConfig(data=source, noise=noise, noise_level=noise_level, crop_px=crop_px,
                      pairs_per_epoch=pairs, val_patches=val_pairs, val_fraction=val_fraction)
    train, held_out = clean_images(source, val_fraction)
    if not held_out:
        raise N2NError(f"{source}: need at least 2 images to hold some out for val_data.pkl")
    noise_model = build_noise(noise, cfg.noise_level, clip=True)  # uint8 files are clipped
    gens = Generators.seeded(seed, torch.device("cpu"))
    clean = _unit(SyntheticPairs(train, noise_model, crop_px, pairs).crops(pairs, gens.cpu))
    as_u8 = lambda x: (x * 255.0).round_().to(torch.uint8)  # noqa: E731
    noisy_1, noisy_2 = as_u8(noise_model(clean, gens.device)), as_u8(noise_model(clean, gens.device))
    val_noisy, val_clean = SyntheticPairs(held_out, noise_model, crop_px, 1).validation(val_pairs)
    out_dir = Path(out_dir)
    train_path = atomic_write(out_dir / "train_data.pkl", lambda t: torch.save((noisy_1, noisy_2), t))
    val_path = atomic_write(out_dir / "val_data.pkl", lambda t: torch.save(
        (val_noisy.round().to(torch.uint8), val_clean.round().to(torch.uint8)), t))
    return train_path, val_path
