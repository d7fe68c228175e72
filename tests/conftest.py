"""Shared fixtures: tiny real photographs (no network, no ../shared needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real colour photograph, 128×128×3 uint8 (a crop of scikit-image's astronaut)."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[64:192, 160:288])


@pytest.fixture()
def photo_folder(tmp_path: Path, photo: np.ndarray) -> Path:
    """Five small PNG photos (odd sizes) cut from real images."""
    import imageio.v3 as iio
    import skimage.data

    folder = tmp_path / "photos"
    folder.mkdir()
    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
               skimage.data.rocket(), skimage.data.immunohistochemistry()]
    for i, image in enumerate(sources):
        iio.imwrite(folder / f"img{i}.png", image[20:20 + 67, 40:40 + 75])
    return folder


@pytest.fixture()
def course_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8, generator=generator)
    b = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8, generator=generator)
    return a, b


def imports_torch(code: str) -> bool:
    """Whether running ``code`` in a fresh interpreter imports torch (what must stay light)."""
    probe = f"import sys, contextlib, io\n{code}\nprint('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1] == "True"
