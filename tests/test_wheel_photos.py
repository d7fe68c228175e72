"""benchmarks/wheel_photos.py: photos come out of a wheel only with the recorded hash (no network)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

from noise2noise.errors import N2NError

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # as running the script puts it: its _bench module
_SPEC = importlib.util.spec_from_file_location("wheel_photos", BENCHMARKS / "wheel_photos.py")
wheel_photos = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(wheel_photos)


@pytest.fixture()
def wheel(tmp_path: Path) -> Path:
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo/data/photo.png", b"pixels")
    return path


def test_extracts_a_photo_with_its_recorded_hash(tmp_path: Path, wheel: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = wheel_photos.extract_photos(wheel, {"demo/data/photo.png": hashlib.sha256(b"pixels").hexdigest()}, folder)
    assert paths == [folder / "photo.png"]
    assert (folder / "photo.png").read_bytes() == b"pixels"


def test_refuses_other_pixels_and_writes_nothing(tmp_path: Path, wheel: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    with pytest.raises(N2NError, match="is not the photo this benchmark measures"):
        wheel_photos.extract_photos(wheel, {"demo/data/photo.png": hashlib.sha256(b"other").hexdigest()}, folder)
    assert list(folder.iterdir()) == []


def test_replaces_a_damaged_copy_and_reports_a_missing_member(tmp_path: Path, wheel: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "photo.png").write_bytes(b"truncated")
    wheel_photos.extract_photos(wheel, {"demo/data/photo.png": hashlib.sha256(b"pixels").hexdigest()}, folder)
    assert (folder / "photo.png").read_bytes() == b"pixels"
    with pytest.raises(N2NError, match="holds no demo/data/missing.png"):
        wheel_photos.extract_photos(wheel, {"demo/data/missing.png": "0" * 64}, folder)


def test_every_recorded_photo_has_a_pinned_wheel_and_a_full_hash():
    photos = [(req, member, digest) for req, members in wheel_photos.PHOTOS.items()
              for member, digest in members.items()]
    assert len(photos) == 8
    assert all("==" in req and len(digest) == 64 for req, _, digest in photos)
    assert len({Path(member).name for _, member, _ in photos}) == 8  # one flat folder: no name may repeat
