"""Inference: denoise image tensors and files with a trained network."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from noise2noise.errors import N2NError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise N2NError(f"device {name!r} requested but no CUDA GPU is available; use --device cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA (tensor cores); full precision on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def denoise_tensor(model: nn.Module, images: torch.Tensor, batch_size: int = 16,
                   device: torch.device | None = None) -> torch.Tensor:
    """N×C×H×W images in 0..255 -> denoised float N×C×H×W in 0..255, on the input's device."""
    if images.ndim != 4:
        raise N2NError(f"expected N×C×H×W images, got shape {tuple(images.shape)}")
    expected = getattr(model, "in_channels", images.shape[1])
    if images.shape[1] != expected:
        raise N2NError(f"the model takes {expected}-channel images, got {images.shape[1]} channels")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device).float() / 255.0  # never in place
        with autocast(device):
            pred = model(batch.contiguous(memory_format=torch.channels_last))
        out.append(pred.float().clamp_(0.0, 1.0).mul_(255.0).to(images.device))
    model.train(was_training)
    return torch.cat(out)


def default_model_path() -> Path:
    """The pretrained weights shipped inside the package."""
    return Path(__file__).resolve().parent / "weights" / "pretrained.pt"


def denoise_array(model: nn.Module, array, batch_size: int = 1):
    """An H×W×C uint8/uint16 image array -> denoised array of the same shape and dtype.

    Alpha is passed through; a greyscale image through an RGB model is denoised as
    grey RGB and averaged back to one channel."""
    import numpy as np

    from noise2noise.images import to_chw_255

    channels = model.in_channels
    colour_channels = 3 if array.shape[2] >= 3 else 1
    if colour_channels == 3 and channels == 1:
        raise N2NError("this model was trained on greyscale images and cannot denoise colour ones")
    tensor = to_chw_255(array, channels).float().unsqueeze(0)
    out = denoise_tensor(model, tensor, batch_size=batch_size)[0]
    if colour_channels == 1 and channels == 3:
        out = out.mean(dim=0, keepdim=True)
    result = out.permute(1, 2, 0).cpu().numpy()
    if array.dtype == np.uint16:
        result = np.clip(np.round(result * 257.0), 0, 65535).astype(np.uint16)
    else:
        result = np.clip(np.round(result), 0, 255).astype(np.uint8)
    if array.shape[2] in (2, 4):  # alpha channel
        result = np.concatenate([result, array[:, :, -1:]], axis=2)
    return result


def denoise_files(model: nn.Module, inputs: list[Path], out: Path, progress: bool = True) -> list[Path]:
    """Denoise image files into ``out`` (a file for one input with an image suffix,
    else a folder mirroring the inputs' names)."""
    from tqdm.auto import tqdm

    from noise2noise.images import IMAGE_SUFFIXES, list_images, read_image, write_image

    jobs: list[tuple[Path, Path]] = []
    single_file = len(inputs) == 1 and inputs[0].is_file() and out.suffix.lower() in IMAGE_SUFFIXES
    for item in inputs:
        if item.is_dir():
            jobs += [(f, out / item.name / f.relative_to(item)) for f in list_images(item)]
        elif single_file:
            jobs.append((item, out))
        else:
            jobs.append((item, out / item.name))
    for source, target in jobs:
        if target.resolve() == source.resolve():
            raise N2NError(f"{source}: the output would overwrite this input; choose another -o")
    written = []
    for source, target in tqdm(jobs, desc="denoise", unit="image", disable=not progress):
        array = read_image(source)
        written.append(write_image(target, denoise_array(model, array)))
    return written
