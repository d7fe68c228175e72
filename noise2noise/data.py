"""Training pairs: real noisy pairs (tensor files, paired folders), pairs synthesised
from clean photos (noise2noise, noise2clean), or sub-sampled from single noisy images
(neighbor2neighbor).

Public tensors follow the course convention (N×C×H×W, 0..255); a source's ``batches``
yields ``Batch`` objects of float tensors in [0, 1] on the training device.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from noise2noise import neighbor
from noise2noise.checkpoint import safe_load
from noise2noise.config import TrainConfig
from noise2noise.errors import N2NError, first_line, say_once
from noise2noise.images import (
    CHANNELS,
    common_channels,
    embedded_images,
    intensity_span,
    list_images,
    load_folder,
    load_stacks,
    plane_names,
    read_stack,
    to_chw_255,
)
from noise2noise.noise import build_noise
from noise2noise.outputs import atomic_write_all, check_out_folder, check_outputs, torch_writer
from noise2noise.registry import MODES
from noise2noise.unet import sigma_plane

_CHUNK_BYTES = 64 * 2**20  # crops generated at once, bounding memory for large crops
VAL_SEED = 20_181_010  # fixed noise for validation, so every run sees the same pairs
# the one noise draw per clean image of neighbor2neighbor: fixed, like a data set of single
# noisy shots, so every seed of a study trains on the same shots
NOISY_SHOT_SEED = 20_210_619


@dataclass
class Batch:
    """One training batch: float tensors in [0, 1] on the training device."""

    noisy_input: torch.Tensor  # N×C×H×W
    noisy_target: torch.Tensor  # N×C×H×W (clean in mode noise2clean)
    target_mask: torch.Tensor | None = None  # N×1×H×W, 1 where the target pixel is valid (bernoulli)
    # (model, prediction, noisy_target, progress) -> a term added to the loss (neighbor2neighbor)
    regulariser: Callable[..., torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.noisy_input.shape[0]


class Validation(NamedTuple):
    """Fixed validation pairs, N×C×H×W float 0..255; ``sigma_255``: each input's Gaussian noise
    level (N floats) for a ``sigma_input`` network, None when not known."""

    noisy: torch.Tensor
    clean: torch.Tensor
    sigma_255: torch.Tensor | None = None


@dataclass
class Generators:
    """Seeded random streams: index/crop choices on the CPU, noise on the device."""

    cpu: torch.Generator
    device: torch.Generator

    @classmethod
    def seeded(cls, seed: int, device: torch.device) -> Generators:
        cpu = torch.Generator().manual_seed(seed)
        return cls(cpu, torch.Generator(device=device).manual_seed(seed + 1))

    def get_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(CPU state, device state), both as CPU byte tensors (what a checkpoint stores)."""
        return self.cpu.get_state(), self.device.get_state().cpu()

    def set_state(self, state: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.cpu.set_state(state[0])
        try:
            self.device.set_state(state[1].to(self.device.get_state().device))
        except RuntimeError:  # saved on another kind of device (a GPU run resumed on a CPU): another state format
            import hashlib

            self.device.manual_seed(int.from_bytes(hashlib.sha256(state[1].numpy().tobytes()).digest()[:8], "little"))
            say_once("note: this run drew its noise on another kind of device; it goes on with a noise stream seeded "
                     "from that one, so it is not bit-identical to a run that was never interrupted")


def check_tensor(tensor: object, where: str, channels: tuple[int, ...] = (1, 3)) -> torch.Tensor:
    """Check an N×C×H×W image tensor in 0..255; raise one line naming ``where``."""
    if not isinstance(tensor, torch.Tensor):
        raise N2NError(f"{where}: expected a tensor, got {type(tensor).__name__}")
    if tensor.ndim != 4 or tensor.shape[1] not in channels:
        grey = "; repeat grey images to 3 channels: images.expand(-1, 3, -1, -1)" \
            if tensor.ndim == 4 and tensor.shape[1] == 1 and channels == (3,) else ""
        raise N2NError(f"{where}: expected N×C×H×W images with C "
                       f"{f'= {channels[0]}' if len(channels) == 1 else f'in {channels}'}, "
                       f"got shape {tuple(tensor.shape)}{grey}")
    if tensor.numel() == 0:
        raise N2NError(f"{where}: shape {tuple(tensor.shape)} holds no pixels; give at least one image of 1×1 or more")
    if not (tensor.dtype == torch.uint8 or tensor.is_floating_point()):
        raise N2NError(f"{where}: expected uint8 or float pixels, got {tensor.dtype}")
    if tensor.layout != torch.strided:  # sparse: the checks below and the network fail on it with a traceback
        raise N2NError(f"{where}: a {str(tensor.layout).removeprefix('torch.')} tensor; give a dense one "
                       "(tensor.to_dense())")
    if tensor.device.type == "meta":
        raise N2NError(f"{where}: a tensor on the 'meta' device holds no pixel values; give a CPU or GPU tensor")
    if tensor.is_floating_point():
        if not torch.isfinite(tensor).all():
            raise N2NError(f"{where}: contains NaN or infinite values")
        lo, hi = tensor.min().item(), tensor.max().item()
        if lo < 0 or hi > 255:
            hint = "" if hi > 2 else " (they look like images in -1..1: map them with (x + 1) × 127.5)" \
                if lo < -0.5 and hi <= 1.05 else " (they look like images in 0..1 with noise: multiply them by 255)"
            raise N2NError(f"{where}: values must lie in 0..255, found {_beyond(lo)}..{_beyond(hi)}{hint}")
        if 0 < hi <= 1:
            # images in 0..1 (torchvision's habit) read as black: the result means nothing
            say_once(f"warning: {where}: every value lies in 0..1, but n2n takes images in 0..255 (multiply them by "
                     "255)")
    return tensor


def _beyond(value: float) -> str:
    """``value`` in as few digits as show it is not the bound 0 or 255 (255.4, not 255)."""
    return next((text for text in (f"{value:.{digits}g}" for digits in (3, 6, 9)) if float(text) not in (0, 255)),
                repr(value))


def check_pair(a: object, b: object, where: str, channels: tuple[int, ...] = (1, 3)
               ) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = (check_tensor(t, f"{where} ({which} tensor)", channels) for t, which in ((a, "first"), (b, "second")))
    if a.shape != b.shape:
        raise N2NError(f"{where}: the two tensors of a pair differ in shape, "
                       f"{tuple(a.shape)} vs {tuple(b.shape)}")
    return a, b


def load_course_file(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``noisy_1, noisy_2 = load_course_file('train_data.pkl')`` (or ``noisy, clean``
    for val_data.pkl); tensors only, never arbitrary pickled code."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():  # '' would be the current folder
        raise N2NError(f"load_course_file: expected a file's path, got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise N2NError(f"{path}: a folder; give a course file such as train_data.pkl")
    if not path.is_file():
        raise N2NError(f"{path}: no such file")
    content = safe_load(path, "course data file of tensors")
    if not isinstance(content, (tuple, list)) or len(content) != 2:
        raise N2NError(f"{path}: expected a pair of tensors (noisy_1, noisy_2) or (noisy, clean), "
                       f"got {type(content).__name__}")
    return check_pair(content[0], content[1], str(path))


def load_tensor_pairs(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Two N×C×H×W tensors (0..255) from a course .pkl, a .pt/.pth of a pair of tensors,
    or a .npz of exactly two arrays (in the order they were saved)."""
    import numpy as np

    path = Path(path)
    if path.suffix != ".npz":
        return load_course_file(path)
    if not path.is_file():
        raise N2NError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            names = list(arrays.files)
            if len(names) != 2:
                raise N2NError(f"{path}: expected two arrays (noisy_1, noisy_2) of N×C×H×W images, "
                               f"found {len(names)}: {', '.join(names) or 'none'}")
            first, second = (torch.from_numpy(arrays[name]) for name in names)
    except (OSError, ValueError) as exc:
        raise N2NError(f"{path}: not a readable .npz of two arrays ({first_line(exc, 160)})") from None
    return check_pair(first, second, str(path))


def check_independent_shots(identical: int, count: int, where: str) -> None:
    """Pairs whose two images are the same pixels teach a network to return its input:
    refused when every pair is so, a warning when some are."""
    if identical and identical == count:
        raise N2NError(f"{where}: the two images of {'the pair' if count == 1 else f'all {count} pairs'} are "
                       "identical, from which a network learns to return its input; give two independent noisy "
                       "shots of each scene (or clean images, to which noise is added)")
    if identical:
        say_once(f"warning: {where}: the two images of {identical} of {count} pairs are identical; those pairs "
                 "teach the network to keep noise: remove them")


class TensorPairs:
    """Fixed pairs (noisy_input[i], noisy_target[i]), shuffled each epoch."""

    def __init__(self, noisy_input: torch.Tensor, noisy_target: torch.Tensor, where: str = "pairs",
                 channels: tuple[int, ...] = (1, 3)):
        # detached: a caller's tensor that requires grad would otherwise get gradients written into it
        self.noisy_input, self.noisy_target = (t.detach() for t in check_pair(noisy_input, noisy_target, where,
                                                                               channels))
        self.channels = self.noisy_input.shape[1]
        same = sum(int((a == b).flatten(1).all(1).sum()) for a, b in zip(self.noisy_input.split(4096),
                                                                          self.noisy_target.split(4096)))
        check_independent_shots(same, len(self), where)

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

    def batches(self, batch_size: int, gens: Generators) -> Iterator[Batch]:
        order = torch.randperm(len(self), generator=gens.cpu).to(self.noisy_input.device)
        for start in range(0, len(self), batch_size):
            index = order[start : start + batch_size]
            yield Batch(_unit(self.noisy_input[index]), _unit(self.noisy_target[index]))


def check_crop(images: list[tuple[str, torch.Tensor]], crop_px: int, setting: str = "--crop-px") -> None:
    """Every image (name, C×H×W) is at least ``crop_px`` on each side, else its one line."""
    for name, image in images:
        check_crop_size(name, image.shape[-1], image.shape[-2], crop_px, setting)


def check_crop_size(name: str, width_px: int, height_px: int, crop_px: int, setting: str = "--crop-px") -> None:
    if min(width_px, height_px) < crop_px:
        raise N2NError(f"{name}: image is {width_px}×{height_px} px, smaller than the {crop_px} px crop; lower "
                       f"{setting} or remove it")


class SyntheticPairs:
    """Random crops of clean images with two independent noise draws, fresh every epoch
    (the paper's set-up). Each crop picks an image uniformly, then a position."""

    def __init__(self, images: list[tuple[str, torch.Tensor]], noise, crop_px: int, pairs_per_epoch: int,
                 clean_target: bool = False, target_noise=None, sigma_input: bool = False,
                 sigma_jitter: float = 0.0):
        check_crop(images, crop_px)
        self.images = [image for _, image in images]
        self.noise, self.crop_px, self.pairs_per_epoch = noise, crop_px, pairs_per_epoch
        self.clean_target = clean_target  # noise2clean: the target is the clean crop
        self.target_noise = target_noise or noise  # the same draw, unclipped for clip_targets = false
        self.sigma_input = sigma_input  # inputs carry their sigma as one more plane (unet.sigma_plane)
        self.sigma_jitter = sigma_jitter  # training planes tell sigma * exp(jitter * z) (TrainConfig)
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

    def crop_batches(self, batch_size: int, gens: Generators) -> Iterator[torch.Tensor]:
        """An epoch of random crops in [0, 1], batch by batch, cut in memory-bounded chunks."""
        crop_bytes = self.images[0].shape[0] * self.crop_px**2 * 4
        chunk = max(batch_size, _CHUNK_BYTES // crop_bytes // batch_size * batch_size)
        for start in range(0, self.pairs_per_epoch, chunk):
            crops = self.crops(min(chunk, self.pairs_per_epoch - start), gens.cpu)
            for b in range(0, crops.shape[0], batch_size):
                yield _unit(crops[b : b + batch_size])

    def batches(self, batch_size: int, gens: Generators) -> Iterator[Batch]:
        for clean in self.crop_batches(batch_size, gens):
            noisy_input = self.noisy(clean, gens.device, self.sigma_jitter)[0]
            if self.clean_target:
                yield Batch(noisy_input, clean)
                continue
            noisy_target, valid = self.target_noise.draw(clean, gens.device)  # independent of the input's
            yield Batch(noisy_input, noisy_target, target_mask=valid)

    def noisy(self, clean: torch.Tensor, generator: torch.Generator,
              jitter: float = 0.0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the network's input for clean crops in [0, 1], each crop's sigma N×1×1×1 or None): one
        noise draw, with its sigma as one more plane when ``sigma_input``, the plane's sigma
        times exp(jitter * z) (z standard normal, drawn only when jitter > 0)."""
        if not self.sigma_input:
            return self.noise(clean, generator), None
        sigma = self.noise.sigmas(clean.shape[0], generator, clean.device)
        noisy = self.noise.at(clean, sigma, generator)
        told = sigma
        if jitter:
            told = sigma * torch.exp(jitter * torch.randn(sigma.shape, generator=generator, device=sigma.device))
        return sigma_plane(noisy, told), sigma

    def validation(self, count: int) -> Validation:
        """Fixed pairs of ``count`` crops from a fixed seed (see ``Validation``)."""
        generator = torch.Generator().manual_seed(VAL_SEED)
        clean = _unit(self.crops(count, generator).cpu())
        noisy, sigma = self.noisy(clean, generator)
        return Validation(noisy[:, : clean.shape[1]] * 255.0, clean * 255.0,
                          None if sigma is None else sigma.flatten())


class FolderPairs(SyntheticPairs):
    """Real noisy pairs of whole images (two shots of one scene): each training pair is
    two crops at the same random position, one from each shot."""

    def __init__(self, pairs: list[tuple[str, str, torch.Tensor, torch.Tensor]], crop_px: int,
                 pairs_per_epoch: int):
        """``pairs``: (first name, second name, first, second C×H×W 0..255) per scene."""
        for first_name, second_name, first, second in pairs:
            if first.shape != second.shape:
                size = lambda x: "×".join(map(str, (x.shape[-1], x.shape[-2], x.shape[0])))  # noqa: E731
                raise N2NError(f"{second_name}: {size(second)} (W×H×C) but its partner {first_name} is "
                               f"{size(first)}; the two shots of a pair must be aligned")
        check_independent_shots(sum(torch.equal(first, second) for _, _, first, second in pairs), len(pairs),
                                pairs[0][0] if len(pairs) == 1 else str(Path(pairs[0][0]).parent))
        # both shots stacked along channels, so one crop cuts both at the same place
        super().__init__([(first_name, torch.cat([first, second])) for first_name, _, first, second in pairs],
                         None, crop_px, pairs_per_epoch)
        self.channels = pairs[0][2].shape[0]

    def batches(self, batch_size: int, gens: Generators) -> Iterator[Batch]:
        for both in self.crop_batches(batch_size, gens):
            yield Batch(both[:, : self.channels], both[:, self.channels :])


class NeighborPairs(SyntheticPairs):
    """Neighbor2Neighbor (Huang et al. 2021): two half-resolution images sub-sampled from
    one noisy crop, taking two different adjacent pixels of every 2×2 cell.

    ``noise`` None: the images are already noisy. Otherwise each clean image gets ONE noise
    draw, made here from a fixed seed and kept for the whole run, so training sees one
    noisy shot per scene as the method assumes. Fresh noise per crop and epoch would hand
    it many noisy views of each scene, i.e. Noise2Noise: the authors' tracker (issue #16)
    reports scores inflated by 0.4-0.5 dB that way."""

    def __init__(self, images: list[tuple[str, torch.Tensor]], noise, crop_px: int, pairs_per_epoch: int,
                 gamma: float):
        super().__init__(images, None, crop_px, pairs_per_epoch)
        self.gamma, self.has_mask = gamma, False
        if noise is not None:
            self.images, self.has_mask = noisy_shots(self.images, noise, NOISY_SHOT_SEED)
        self.channels = images[0][1].shape[0]

    def batches(self, batch_size: int, gens: Generators) -> Iterator[Batch]:
        for crops in self.crop_batches(batch_size, gens):
            noisy = crops[:, : self.channels]
            valid = crops[:, self.channels :] if self.has_mask else None  # the draw's target mask, 0 or 1
            first, second = neighbor.neighbour_choice(noisy, generator=gens.device)
            regulariser = functools.partial(neighbor.regulariser, noisy=noisy, first=first, second=second,
                                            gamma=self.gamma) if self.gamma else None
            target_mask = None if valid is None else neighbor.subsample(valid, second)
            yield Batch(neighbor.subsample(noisy, first), neighbor.subsample(noisy, second), target_mask,
                        regulariser)


def noisy_shots(images: list[torch.Tensor], noise, seed: int) -> tuple[list[torch.Tensor], bool]:
    """One noise draw per clean C×H×W image (0..255): float 0..255 images, with the draw's
    valid-pixel mask (0 or 255) as one more channel when the noise has one; and whether it has."""
    generator = torch.Generator().manual_seed(seed)
    shots, has_mask = [], False
    for image in images:
        noisy, valid = noise.draw(_unit(image.unsqueeze(0)), generator)
        has_mask = valid is not None
        shot = noisy if valid is None else torch.cat([noisy, valid.to(noisy.dtype)], dim=1)
        shots.append(shot[0] * 255.0)
    return shots, has_mask


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


def _refuse_embedded_folder() -> None:
    """'embedded' beside a folder of that name: the user may mean either, and training on the
    wrong photos would exit 0."""
    if Path("embedded").is_dir():
        raise N2NError("'embedded' names the photos bundled with scikit-image, and a folder 'embedded' is "
                       "here too: write ./embedded for the folder, or run from another folder for the bundled "
                       "photos")


def data_fingerprint(cfg: TrainConfig) -> str | None:
    """A short hash of the names and sizes of the image and tensor files of ``data`` and
    ``val_data`` (None for the embedded photos): a resumed run checks its data against it,
    since other files would change what it trains on and which images its validation holds."""
    import hashlib
    import json

    listed = []
    for source in (cfg.data, cfg.val_data):
        if source is None or source == "embedded" or not Path(source).exists():
            continue
        root = Path(source)
        files = [root] if root.is_file() else list_images(root)  # the files a run reads, as it reads them
        listed += [[p.name if p == root else p.relative_to(root).as_posix(), p.stat().st_size] for p in files]
    return hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:16] if listed else None


def check_sources(cfg: TrainConfig) -> None:
    """Refuse cheaply, without decoding any image, the ``data`` or ``val_data`` of a config that
    cannot be read: a missing file or folder, a folder without images, 'embedded' beside a
    folder of that name, validation data that overlaps the training data or is not clean
    (a sweep checks every run's so before its first run, ``build_training_data`` at its start)."""
    for source in (cfg.data, cfg.val_data):
        if source is None:
            continue
        if source == "embedded":
            _refuse_embedded_folder()
        elif is_course_file(source):
            if not Path(source).is_file():
                raise N2NError(f"{source}: no such file")
        else:
            list_images(source)
    if cfg.val_data is None:
        return
    data, val = Path(cfg.data).resolve(), Path(cfg.val_data).resolve()
    if cfg.data != "embedded" and (data == val or val.is_relative_to(data) or data.is_relative_to(val)):
        raise N2NError(f"{cfg.val_data}: the validation data overlap the training data {cfg.data}, so validation "
                       "would score images the network trained on; give held-out images, or leave --val-data out "
                       "to hold some of --data out")
    if not is_course_file(cfg.val_data) and paired_files(cfg.val_data) is not None:
        raise N2NError(f"{cfg.val_data}: holds pairs of noisy shots, but --val-data takes clean images (a folder) "
                       "or a course val_data.pkl of (noisy, clean); a noisy shot as the clean reference scores "
                       "nothing")


def clean_images(source: str, val_fraction: float, channels: str = "auto") -> tuple[list, list]:
    """(train, held-out) clean images of 'embedded' or a folder, split by file: the
    images of one stack stay on one side. ``channels``: see ``images.common_channels``."""
    if source == "embedded":
        _refuse_embedded_folder()
        return embedded_images("train", channels), embedded_images("test", channels)
    _refuse_pairs_folder(source)
    files = list_images(source)
    train_files, val_files = split_by_image(files, val_fraction)
    by_file = dict(zip(files, load_stacks(source, files, channels)))
    return [i for f in train_files for i in by_file[f]], [i for f in val_files for i in by_file[f]]


def _refuse_pairs_folder(source: str) -> None:
    """Clean photos are asked for: a folder that `n2n train` reads as pairs of noisy shots
    would get noise added to noisy images (export-course) or be scored against as clean
    (evaluate). Folders that are not clearly pairs (a file without its partner, a mix) stay
    clean photos here."""
    if not Path(source).is_dir():
        return
    try:
        pairs = paired_files(source)
    except _PairsInside:  # noisy shots among the photos: refused, as train refuses them
        raise
    except N2NError:
        return
    if pairs:
        raise N2NError(f"{source}: holds {len(pairs)} pair(s) of noisy shots (files named name_1.*/name_2.*, or A/ "
                       "and B/), as `n2n train` reads it, but clean photos are needed here; give a folder of clean "
                       "photos, or rename these files if they are clean")


def with_halved_copies(images: list[tuple[str, torch.Tensor]], scales: int,
                       crop_px: int) -> list[tuple[str, torch.Tensor]]:
    """``images`` (name, C×H×W 0..255) followed by copies of each halved in size ``scales`` − 1
    times (2×2 means, rounded back to uint8 for uint8 images), leaving out copies smaller than
    ``crop_px``. A halving averages four pixels, so a photo's own grain drops to half.
    A scale that leaves no photo as large as the crop is refused: it would add nothing, silently
    (CBSD432's 481×321 photos halved twice are 120×80, smaller than a 128 px crop)."""
    def first_halving_too_small(side_px: int) -> int:
        """The first of halvings 1..scales-1 that leaves ``side_px`` below the crop (``scales``:
        none does). Each 2x2 halving floors the sides, so after k of them a side is side // 2**k."""
        return next((k for k in range(1, scales) if side_px // 2**k < crop_px), scales)

    largest_px = max((min(image.shape[-2:]) for _, image in images), default=0)
    empty = first_halving_too_small(largest_px)  # no photo reaches this scale
    if images and empty < scales:
        raise N2NError(f"train_scales={scales}: halved {empty} time(s), no training photo is still "
                       f"crop_px={crop_px} px on its short side (the largest is {largest_px // 2**empty} px); "
                       f"use train_scales = {empty} or a smaller crop_px")
    out = list(images)
    for name, image in images:
        dtype = image.dtype  # a folder may mix 8-bit photos (uint8) with 16-bit ones (float)
        for scale in range(1, first_halving_too_small(min(image.shape[-2:]))):  # none made only to be dropped
            image = torch.nn.functional.avg_pool2d(image[None].float(), 2)[0]
            image = image.round().to(dtype) if dtype == torch.uint8 else image
            out.append((f"{name} (1/{2**scale} size)", image))
    return out


def split_images(source: str, split: str, val_fraction: float, channels: str = "auto") -> list:
    """Clean images of one split, as training splits them: 'val' is the held-out share
    ``val_fraction`` of a folder (or the embedded test photos), 'train' the rest, 'all' both."""
    if split not in ("all", "train", "val"):
        raise N2NError(f"split {split!r}: choose from all, train, val")
    train, held_out = clean_images(source, 0.0 if split == "all" else val_fraction, channels)
    return {"all": train + held_out, "train": train, "val": held_out}[split]


_REFERENCE_SAMPLE = 64  # images whose median noise estimate tells a noisy tensor from a clean one


def load_reference_pairs(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) from a tensor file used as a clean reference (a course val_data.pkl);
    a warning when the second tensor looks as noisy as the first, as a train_data.pkl's
    second shot is: scores against it would measure the distance to another noisy image. On
    exported course crops the median estimate was 24.5 for both shots at sigma 25, 2.2 for
    the clean crops. A warning, not a refusal: clean images of pure texture (random pixels)
    look noisy too."""
    from noise2noise.noise import estimate_sigma_255

    noisy, clean = load_tensor_pairs(path)
    first, second = (estimate_sigma_255(t[:_REFERENCE_SAMPLE].float()).median().item() for t in (noisy, clean))
    if second > max(8.0, 0.7 * first):
        say_once(f"warning: {path}: its second tensor, taken as the clean images, looks noisy too (estimated sigma "
                 f"{second:.1f}, the first's {first:.1f}), as a train_data.pkl of two noisy shots is; scores against "
                 "it would not measure denoising: give (noisy, clean) pairs such as val_data.pkl")
    return noisy, clean


def is_course_file(source: str) -> bool:
    """A file of image tensors: the course .pkl, a .pt/.pth or a .npz."""
    return Path(source).suffix in (".pkl", ".pt", ".pth", ".npz")


_SHOT = re.compile(r"(?P<scene>.+)_(?P<shot>[12])")


class _PairsInside(N2NError):
    """A folder holds A/ and B/ pairs below its top: no reader takes it as photos or as pairs."""


def _refuse_nested_pairs(folder: Path) -> None:
    nested = sorted(a.parent for a in folder.rglob("A") if a.is_dir() and (a.parent / "B").is_dir())
    if nested:  # read as clean photos, each noisy shot would get noise added
        raise _PairsInside(f"{nested[0]}: holds A/ and B/ pairs inside {folder}; give --data {nested[0]} to train on "
                       "those pairs, or move them out to use the rest as clean photos")


def paired_files(folder: str | Path) -> list[tuple[Path, Path]] | None:
    """The two noisy shots of each scene in a folder of pairs, sorted: ``A/name`` with
    ``B/name``, or ``name_1.*`` with ``name_2.*`` when every file is named so; None for a
    folder of single images. A file without its partner is an error naming it."""
    folder = Path(folder)
    if (folder / "A").is_dir() and (folder / "B").is_dir():
        shots = [{p.relative_to(folder / side): p for p in list_images(folder / side)} for side in "AB"]
        for name in sorted(shots[0].keys() ^ shots[1].keys()):
            have, lack = ("A", "B") if name in shots[0] else ("B", "A")
            raise N2NError(f"{folder / have / name}: no partner {folder / lack / name}; A/ and B/ must "
                           "hold the same file names")
        return [(shots[0][name], shots[1][name]) for name in sorted(shots[0])]
    _refuse_nested_pairs(folder)
    files = list_images(folder)
    matches = [_SHOT.fullmatch(f.stem) for f in files]
    if not all(matches):
        if 2 <= sum(map(bool, matches)) and 2 * sum(map(bool, matches)) >= len(files):  # mostly pairs: ambiguous
            others = [f for f, match in zip(files, matches) if not match]
            raise N2NError(f"{folder}: {len(files) - len(others)} file(s) named name_1.*/name_2.* and "
                           f"{len(others)} other(s) such as {others[0].name}: pairs of noisy shots or clean "
                           "photos? Move the others out to train on the pairs, or rename the pairs to train on "
                           "clean photos")
        return None
    scenes: dict[tuple[Path, str], dict[str, Path]] = {}
    for f, match in zip(files, matches):
        shots = scenes.setdefault((f.parent, match["scene"]), {})
        if match["shot"] in shots:
            raise N2NError(f"{f}: a second file for shot {match['shot']} of {shots[match['shot']]}; "
                           "keep one file per shot")
        shots[match["shot"]] = f
    for shots in scenes.values():
        if len(shots) == 1:
            (shot, f), = shots.items()
            raise N2NError(f"{f}: no partner {f.parent / f.stem[:-1]}{'2' if shot == '1' else '1'}.*; "
                           "name the two shots of a scene name_1.* and name_2.*")
    return [(shots["1"], shots["2"]) for _, shots in sorted(scenes.items())]


def load_pairs(source: str, crop_px: int, pairs_per_epoch: int,
               channels: str = "auto") -> TensorPairs | FolderPairs | None:
    """Real noisy pairs from a tensor file or a paired folder; None when ``source`` holds
    single images ('embedded', a folder of clean or single noisy images). ``channels``
    applies to image files (see ``images.common_channels``); tensor files keep their own."""
    if is_course_file(source):
        return TensorPairs(*load_tensor_pairs(source), where=source)
    if not Path(source).is_dir():
        return None
    files = paired_files(source)
    if files is None:
        return None
    stacks = [(read_stack(first), read_stack(second)) for first, second in files]
    channels = common_channels([stack for pair in stacks for stack in pair], channels)
    pairs = []
    for (first, second), (stack_1, stack_2) in zip(files, stacks):
        # float shots of two widths (float32 beside float64) share one min..max map as they are: the same depth
        same_depth = stack_1.planes.dtype == stack_2.planes.dtype or stack_1.planes.dtype.kind == \
            stack_2.planes.dtype.kind == "f"
        if stack_1.planes.shape[3] != stack_2.planes.shape[3] or not same_depth:
            raise N2NError(f"{second}: a {stack_2.describe()}, but its partner {first} is a {stack_1.describe()}; "
                           "the two shots of a pair must have the same channels and bit depth")
        if len(stack_1.planes) != len(stack_2.planes):
            raise N2NError(f"{second}: a stack of {len(stack_2.planes)} images but its partner {first} holds "
                           f"{len(stack_1.planes)}; the two shots of a pair must be aligned")
        for names, shot_1, shot_2 in zip(zip(plane_names(str(first), stack_1), plane_names(str(second), stack_2)),
                                         stack_1.planes, stack_2.planes):
            span = intensity_span(shot_1, shot_2)  # one map for both shots, else their intensities would differ
            pairs.append((*names, to_chw_255(shot_1, channels, span), to_chw_255(shot_2, channels, span)))
    return FolderPairs(pairs, crop_px, pairs_per_epoch)


# the modes (registry.MODES): the pair source each builds from single images (clean, or noisy)
def noise2noise_pairs(images: list, noise, cfg: TrainConfig) -> SyntheticPairs:
    target_noise = None if cfg.clip_targets else dataclasses.replace(noise, clip=False)
    return SyntheticPairs(images, noise, cfg.crop_px, cfg.pairs_per_epoch, target_noise=target_noise,
                          sigma_input=cfg.sigma_input, sigma_jitter=cfg.sigma_jitter)


def noise2clean_pairs(images: list, noise, cfg: TrainConfig) -> SyntheticPairs:
    return SyntheticPairs(images, noise, cfg.crop_px, cfg.pairs_per_epoch, clean_target=True,
                          sigma_input=cfg.sigma_input, sigma_jitter=cfg.sigma_jitter)


def neighbor2neighbor_pairs(images: list, noise, cfg: TrainConfig) -> NeighborPairs:
    return NeighborPairs(images, None if cfg.noisy_data else noise, cfg.crop_px, cfg.pairs_per_epoch,
                         cfg.nb2nb_gamma)


def held_out_share(cfg: TrainConfig) -> float:
    """The share of ``cfg.data``'s images that training holds out for validation: none when
    validation comes from val_data, or when the images are noisy (no clean ones to compare with)."""
    return 0.0 if cfg.val_data or cfg.noisy_data else cfg.val_fraction


def held_out_images(cfg: TrainConfig) -> list:
    """The whole clean images training held out, (name, C×H×W uint8) as ``split_images``
    gives them: [] for tensor files, folders of noisy pairs and noisy images (noisy_data)."""
    if cfg.noisy_data or is_course_file(cfg.data):
        return []
    if Path(cfg.data).is_dir() and paired_files(cfg.data) is not None:
        return []
    return split_images(cfg.data, "val", held_out_share(cfg), cfg.channels)


def refuse_unused_settings(cfg: TrainConfig, pairs) -> None:
    """Refuse a setting changed from its default that these data would not use, so that no
    config.json records a run it was not (``pairs``: the real pairs ``load_pairs`` found, or a
    folder's ``paired_files`` before they are read, or None).
    A setting left at its default is not checked: it changes nothing either way."""
    default = TrainConfig()
    changed = lambda *names: any(getattr(cfg, n) != getattr(default, n) for n in names)  # noqa: E731
    count = len(pairs) if isinstance(pairs, TensorPairs) else cfg.pairs_per_epoch  # pairs in an epoch
    whole_pairs = " and ".join(f"{n}={getattr(cfg, n)}" for n in ("crop_px", "pairs_per_epoch") if changed(n))
    unused = [(where, why if "; use " in why else why + "; leave it out") for where, asked, why in (
        (cfg.data, isinstance(pairs, TensorPairs) and bool(whole_pairs),
         f"tensor pairs are trained on whole, each once an epoch, so {whole_pairs} would not be used"),
        (cfg.data, (pairs is not None or cfg.noisy_data) and cfg.val_data is None and changed("val_fraction"),
         f"noisy images have no clean ones to hold out, so val_fraction={cfg.val_fraction} would not be used; "
         "give clean validation images (--val-data)"),
        (cfg.data, cfg.noisy_data and cfg.val_data is None and changed("noise", "noise_level", "clip"),
         f"single noisy images are used as they are and, with no --val-data, nothing adds noise, so "
         f"noise={cfg.noise!r}, noise_level={list(cfg.noise_level)} and clip={str(cfg.clip).lower()} would not "
         "be used"),
        (cfg.data, (changed("batch_size") or changed("pairs_per_epoch")) and cfg.batch_size > count,
         f"an epoch holds {count} pairs, so batch_size={cfg.batch_size} would not be used (every step would train "
         f"on at most {count}); use --batch-size {count} or fewer"
         + ("" if isinstance(pairs, TensorPairs) else f" or --pairs-per-epoch {cfg.batch_size} or more")),
        (cfg.val_data, cfg.val_data is not None and is_course_file(cfg.val_data) and changed("val_patches"),
         f"a course val_data.pkl is validated on all its pairs, so val_patches={cfg.val_patches} (crops cut from "
         "clean images) would not be used"),
        (cfg.val_data, cfg.val_data is not None and changed("val_fraction"),
         f"--val-data is the validation, so val_fraction={cfg.val_fraction} (a share of --data held out) would "
         "not be used"),
    ) if asked]
    if unused:
        where, why = unused[0]
        raise N2NError(f"{where}: {why}")


def build_training_data(cfg: TrainConfig, new_run: bool = True):
    """(pair source, validation (noisy, clean) in 0..255 or None) for a config. Validation
    draws its levels uniformly whatever noise_level_power, so runs that differ in it compare.
    ``new_run`` False: the config of a run that has trained (resumed, or a study's best.pt),
    which is not refused for settings the data would not use: it was taken when it started,
    and --resume cannot change it."""
    check_sources(cfg)
    noise = build_noise(cfg.noise, cfg.noise_level, cfg.clip, cfg.noise_level_power)
    val_noise = build_noise(cfg.noise, cfg.noise_level, cfg.clip)
    held_out: list = []
    source = load_pairs(cfg.data, cfg.crop_px, cfg.pairs_per_epoch, cfg.channels)
    if source is not None:  # what needs clean images, refused for real pairs (only reading the data tells)
        default = TrainConfig()
        refused = [why for asked, why in (
            (cfg.mode != "noise2noise", f", which train mode noise2noise only (got mode={cfg.mode!r})"),
            (not cfg.clip_targets, "; clip_targets = false applies to synthetic noise only (real targets are as "
                                   "the camera clipped them): use clip_targets = true"),
            (cfg.train_scales > 1, f"; train_scales={cfg.train_scales} halves clean photos only (halving noisy "
                                   "ones would halve their noise): use train_scales = 1"),
            (cfg.sigma_input, "; sigma_input = true needs noise of a known level added to clean photos: use "
                              "sigma_input = false"),
            # with no clean validation images, noise settings would be recorded but used nowhere
            ((cfg.val_data is None or is_course_file(cfg.val_data))
             and (cfg.noise, cfg.noise_level) != (default.noise, default.noise_level),
             f"; noise={cfg.noise!r} with noise_level={list(cfg.noise_level)} is for clean photos "
             "and these are used as they are: leave both out, or if the files are clean photos, rename them so "
             "that they are not all name_1.*/name_2.* (nor in A/ and B/)"),
        ) if asked]
        if refused:
            raise N2NError(f"{cfg.data}: holds pairs of noisy images{refused[0]}")
        if isinstance(source, FolderPairs):  # a folder is read as pairs by its file names alone: say so
            say_once(f"note: {cfg.data}: read as {len(source.images)} pair(s) of noisy shots (files named name_1.* "
                     "and name_2.*, or A/ and B/), trained on as they are with no noise added")
    if new_run:
        refuse_unused_settings(cfg, source)
    if source is None:
        # single noisy images have no clean ones to hold out for validation
        train, held_out = clean_images(cfg.data, held_out_share(cfg), cfg.channels)
        train = with_halved_copies(train, cfg.train_scales, cfg.crop_px)  # validation keeps the photos as they are
        source = MODES[cfg.mode](train, noise, cfg)
    if cfg.channels != "auto" and source.channels != CHANNELS[cfg.channels]:  # only tensor files keep their own
        raise N2NError(f"{cfg.data}: holds {source.channels}-channel tensors, but channels={cfg.channels!r}; "
                       "use channels 'auto' or convert the tensors")
    if cfg.val_data is not None:
        if is_course_file(cfg.val_data):  # a sigma_input network estimates these inputs' sigma
            val = Validation(*load_reference_pairs(cfg.val_data))
        else:
            val = SyntheticPairs(load_folder(cfg.val_data, channels=cfg.channels), val_noise, cfg.crop_px,
                                 1, sigma_input=cfg.sigma_input).validation(cfg.val_patches)
    elif held_out:
        val = SyntheticPairs(held_out, val_noise, cfg.crop_px, 1, sigma_input=cfg.sigma_input).validation(
            cfg.val_patches)
    else:
        val = None
    if val is not None and val.noisy.shape[1] != source.channels:
        raise N2NError(f"validation data has {val.noisy.shape[1]} channels but training data has "
                       f"{source.channels}")
    return source, val


def export_course(source: str, out_dir: str | Path, pairs: int, val_pairs: int, crop_px: int,
                  noise: str, noise_level: tuple[float, float], seed: int = 0,
                  val_fraction: float = 0.15, overwrite: bool = False) -> tuple[Path, Path]:
    """Write course-format ``train_data.pkl`` (noisy_1, noisy_2) and ``val_data.pkl``
    (noisy, clean), uint8 N×C×crop×crop, from clean photos split by image; existing files
    are replaced only with ``overwrite``."""
    try:
        cfg = TrainConfig(data=source, noise=noise, noise_level=noise_level, crop_px=crop_px,
                          pairs_per_epoch=pairs, val_patches=val_pairs, val_fraction=val_fraction, seed=seed)
    except N2NError as exc:  # named as export_course and `n2n data export-course` name them, not as training does
        message = str(exc).replace("config field ", "").replace("pairs_per_epoch=", "pairs=")
        message = message.replace("val_patches=", "val_pairs=").replace("data=", "source=")
        if "val_pairs=" in message:  # training's val_patches default is 500; this command's is 1000
            message = re.sub(r"the default is 500\b", "the command's default is 1000", message)
        raise N2NError(message) from None
    if not isinstance(out_dir, (str, Path)) or not str(out_dir).strip():  # "" was the working folder
        raise N2NError(f"out_dir={out_dir!r}: give the folder to write train_data.pkl and val_data.pkl in")
    out_dir = Path(out_dir)
    inputs = [Path(source)] if Path(source).exists() else []
    check_out_folder(out_dir, inputs)
    check_outputs([out_dir / "train_data.pkl", out_dir / "val_data.pkl"], inputs, overwrite)
    train, held_out = clean_images(source, val_fraction)
    if not held_out:
        raise N2NError(f"{source}: need at least 2 images to hold some out for val_data.pkl")
    noise_model = build_noise(noise, cfg.noise_level, clip=True)  # uint8 files are clipped
    gens = Generators.seeded(seed, torch.device("cpu"))
    clean = _unit(SyntheticPairs(train, noise_model, crop_px, pairs).crops(pairs, gens.cpu))
    as_u8 = lambda x: (x * 255.0).round_().to(torch.uint8)  # noqa: E731
    noisy_1, noisy_2 = as_u8(noise_model(clean, gens.device)), as_u8(noise_model(clean, gens.device))
    val_noisy, val_clean, _ = SyntheticPairs(held_out, noise_model, crop_px, 1).validation(val_pairs)
    train_path, val_path = atomic_write_all({  # both or neither: a pair from one export
        out_dir / "train_data.pkl": torch_writer((noisy_1, noisy_2)),
        out_dir / "val_data.pkl": torch_writer((val_noisy.round().to(torch.uint8), val_clean.round().to(torch.uint8)))})
    return train_path, val_path


def add_noise_file(source: str | Path, target: str | Path, noise: str, noise_level, seed: int = 0,
                   overwrite: bool = False) -> Path:
    """Write a noisy copy of an image file (same size, bit depth and stack layout; alpha
    kept), e.g. to make test images or a before/after comparison. For 16-bit and float
    images the noise level is in 1/255 of the image's own min..max range, and the noisy
    values are clipped only where the pixel type ends (0..65535; floats: not at all), not
    at that range: an image whose darkest pixel is 1000 is no sensor floor, and clipping
    there biased its background by +187 at sigma 25 of 255."""
    import numpy as np

    from noise2noise.images import IMAGE_SUFFIXES, check_writable, from_chw_255, write_image

    level = TrainConfig(noise=noise, noise_level=noise_level, seed=seed).noise_level
    check_outputs([target], [source], overwrite, suffixes=IMAGE_SUFFIXES)
    stack = read_stack(source)
    check_writable(target, stack)
    generator = torch.Generator().manual_seed(seed)
    noise_model = build_noise(noise, level, clip=all(plane.dtype == np.uint8 for plane in stack.planes))
    noisy_planes = []
    for plane in stack.planes:
        lo, hi = intensity_span(plane)
        if lo == hi and plane.dtype != np.uint8:  # the level's unit, 1/255 of the range, would be 0: a plain copy
            raise N2NError(f"{source}: every pixel is {lo:g}; the noise level of a {plane.dtype} image is in 1/255 of "
                           "its own min..max range, which is 0 here: use an image with some contrast, or an 8-bit one")
        clean = to_chw_255(plane, 3 if plane.shape[2] >= 3 else 1).float().unsqueeze(0) / 255.0
        noisy_planes.append(from_chw_255(noise_model(clean, generator)[0] * 255.0, like=plane, within_span=False))
    return write_image(target, stack.with_planes(np.stack(noisy_planes)))
