"""Reading and writing image files, and the embedded photographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noise2noise.errors import N2NError
from noise2noise.outputs import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

# Colour photographs inside the scikit-image wheel; split by image so that no test
# image is ever trained on.
EMBEDDED_TRAIN = ("rocket", "motorcycle_left", "motorcycle_right", "hubble_deep_field",
                  "immunohistochemistry", "retina")
EMBEDDED_TEST = ("astronaut", "chelsea", "coffee")


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; a clear error when there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise N2NError(f"{folder}: no such file or folder")
    if not folder.is_dir():
        raise N2NError(f"{folder}: expected a folder of images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise N2NError(f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


def read_image(path: str | Path) -> np.ndarray:
    """An image file as an H×W×C array (uint8 or uint16), with one-line errors."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise N2NError(f"{path}: no such image file")
    if _is_16bit_colour_png(path):
        raise N2NError(f"{path}: 16-bit PNG with colour or alpha is not supported (Pillow would read it as "
                       "8-bit); save it as 16-bit TIFF")
    try:
        array = np.asarray(iio.imread(path))
    except Exception as exc:  # imageio raises many types for bad files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise N2NError(f"{path}: not a readable image ({reason})") from None
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or array.size == 0:
        raise N2NError(f"{path}: unsupported image shape {array.shape}")
    if array.dtype not in (np.uint8, np.uint16):
        raise N2NError(f"{path}: unsupported pixel type {array.dtype} (8- or 16-bit images only)")
    return array


def write_image(path: str | Path, array: np.ndarray) -> Path:
    """Write an H×W×C uint8/uint16 array atomically; the suffix picks the format."""
    import imageio.v3 as iio

    pixels = array[:, :, 0] if array.shape[2] == 1 else array
    try:
        return atomic_write(path, lambda tmp: iio.imwrite(tmp, pixels, extension=Path(path).suffix))
    except (OSError, TypeError, ValueError) as exc:  # formats refuse some modes: RGBA JPEG, 16-bit RGB PNG
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise N2NError(f"{path}: cannot write this {array.dtype} {array.shape[2]}-channel image ({reason}); "
                       "TIFF (.tif) takes every bit depth and alpha") from None


def _is_16bit_colour_png(path: Path) -> bool:
    """PNG header says 16 bits per sample and colour type RGB (2), grey+alpha (4) or RGBA (6):
    Pillow reads only 16-bit plain greyscale PNG at full depth."""
    with open(path, "rb") as f:
        header = f.read(26)
    return len(header) == 26 and header[:8] == b"\x89PNG\r\n\x1a\n" and header[24] == 16 and header[25] in (2, 4, 6)


def to_chw_255(array: np.ndarray, channels: int):
    """H×W×C 8/16-bit array -> C×H×W torch tensor in 0..255 (uint8 for 8-bit sources,
    float32 for 16-bit ones), converted to ``channels`` (1 or 3; alpha dropped)."""
    import torch

    colour = array[:, :, : (3 if array.shape[2] >= 3 else 1)]
    if channels == 3 and colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    elif channels == 1 and colour.shape[2] == 3:
        colour = (colour.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    tensor = torch.from_numpy(np.ascontiguousarray(colour.transpose(2, 0, 1)))
    if array.dtype == np.uint16:
        return tensor.float() / 257.0
    return tensor.round().to(torch.uint8) if tensor.is_floating_point() else tensor


def from_chw_255(image, like: np.ndarray) -> np.ndarray:
    """The inverse of ``to_chw_255``: a C×H×W tensor in 0..255 -> an H×W×C array with the
    dtype of ``like`` (8- or 16-bit) and ``like``'s alpha channel passed through."""
    result = image.permute(1, 2, 0).cpu().numpy()
    if like.dtype == np.uint16:
        result = np.clip(np.round(result * 257.0), 0, 65535).astype(np.uint16)
    else:
        result = np.clip(np.round(result), 0, 255).astype(np.uint8)
    if like.shape[2] in (2, 4):  # alpha channel
        result = np.concatenate([result, like[:, :, -1:]], axis=2)
    return result


def load_folder(folder: str | Path, files: list[Path] | None = None) -> list[tuple[str, object]]:
    """Clean images of a folder as (name, C×H×W tensor 0..255). All become RGB unless
    every image is greyscale."""
    files = list_images(folder) if files is None else files
    arrays = [read_image(f) for f in files]
    channels = 1 if all(a.shape[2] <= 2 for a in arrays) else 3
    root = Path(folder)
    return [(str(f.relative_to(root)) if f.is_relative_to(root) else f.name, to_chw_255(a, channels))
            for f, a in zip(files, arrays)]


def embedded_images(split: str) -> list[tuple[str, object]]:
    """The bundled scikit-image photographs of one split ('train' or 'test')."""
    import skimage.data

    names = {"train": EMBEDDED_TRAIN, "test": EMBEDDED_TEST}[split]
    out = []
    for name in names:
        if name.startswith("motorcycle"):
            left, right, _ = skimage.data.stereo_motorcycle()
            array = left if name.endswith("left") else right
        else:
            array = getattr(skimage.data, name)()
        out.append((name, to_chw_255(np.asarray(array), 3)))
    return out
