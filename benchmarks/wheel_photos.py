"""Eight colour photos that no shipped model has seen, taken from three package wheels.

A held-out split of the training photos and the nine scikit-image photos are not "any other
photo set a user brings". These eight test photos ship inside wheels on the package index,
which CI and a fresh machine can reach, so the check runs anywhere with one command:

    python benchmarks/wheel_photos.py runs/wheel_photos
    python benchmarks/quality.py --data runs/wheel_photos --split all --methods noisy,bm3d --per-image

- sporco 0.2.2.post1: kodim23 (one of the Kodak 24, 768x512), monarch, sail, tulips (Waterloo
  BragZone, 768x512) and barbara (702x574); its data README says they are public domain or
  freely redistributable.
- scikit-learn 1.9.1: china and flower (640x427).
- matplotlib 3.11.2: grace_hopper (512x600).

Each wheel is fetched with ``pip download --no-deps`` into ``FOLDER/.wheels`` and each photo is
checked against its SHA-256 before it is written, so every machine measures the same pixels.
Photos already in the folder with the right hash are kept; the photos are not redistributed by
this repository.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import _bench

from noise2noise.errors import N2NError
from noise2noise.outputs import atomic_write, check_out_folder

# wheel requirement -> {member path in the wheel: SHA-256 of the photo}
PHOTOS = {
    "sporco==0.2.2.post1": {
        "sporco/data/kodim23.png": "34d8f029d2eae3ed37b65e2f94fd2c319923ebfae0fa8bff5f001e2565b7d80f",
        "sporco/data/monarch.png": "c2435a5e37c04658824d26124ab27c3943e7b95b0eeeb27effa6439f81ff5ca9",
        "sporco/data/sail.png": "7b8a3b23c79bf83b233915e2199c190589c40980d54d20eb3bf446a33c6e0461",
        "sporco/data/tulips.png": "6f7fa671ce446f85c47fcda0ba9658f22b9824baf3c1abfae7051448665c37d1",
        "sporco/data/barbara.png": "61ce3bead097f17d7359b5466975b91938f5ba03822c3771707e42891576842b",
    },
    "scikit-learn==1.9.1": {
        "sklearn/datasets/images/china.jpg": "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
        "sklearn/datasets/images/flower.jpg": "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
    },
    "matplotlib==3.11.2": {
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg":
            "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
    },
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(requirement: str, wheels: Path) -> Path:
    """The wheel of ``requirement`` in ``wheels``, fetched by pip if it is not there yet."""
    project = requirement.split("==")[0].replace("-", "_")
    version = requirement.split("==")[1]
    found = sorted(wheels.glob(f"{project}-{version}-*.whl"))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                   "--dest", str(wheels), requirement]
        done = subprocess.run(command, capture_output=True, text=True)
        found = sorted(wheels.glob(f"{project}-{version}-*.whl"))
        if done.returncode != 0 or not found:
            reason = (done.stderr.strip().splitlines() or ["no wheel for this platform"])[-1]
            raise N2NError(f"{requirement}: pip could not download its wheel ({reason}); "
                           "check the connection to the package index, or copy the wheel into " + str(wheels))
    return found[0]


def extract_photos(wheel: Path, members: dict[str, str], folder: Path) -> list[Path]:
    """Write each member of ``wheel`` into ``folder`` under its own file name, after checking
    its SHA-256; a photo already there with the right hash is kept as it is."""
    written = []
    with zipfile.ZipFile(wheel) as archive:
        for member, digest in members.items():
            path = folder / Path(member).name
            if path.is_file() and sha256(path.read_bytes()) == digest:
                written.append(path)
                continue
            try:
                data = archive.read(member)
            except KeyError:
                raise N2NError(f"{wheel}: holds no {member}; delete the wheel and run again") from None
            if sha256(data) != digest:
                raise N2NError(f"{wheel}: {member} is not the photo this benchmark measures (SHA-256 "
                               f"{sha256(data)[:12]}..., expected {digest[:12]}...); delete the wheel and run again")
            written.append(atomic_write(path, lambda tmp, data=data: tmp.write_bytes(data)))
    return written


def fetch(folder: str | Path) -> list[Path]:
    """The eight photos in ``folder``, fetched and checked; returns their paths."""
    folder = Path(folder)
    check_out_folder(folder, option="folder")  # a file there: one line, not NotADirectoryError
    wheels = folder / ".wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    return [path for requirement, members in PHOTOS.items()
            for path in extract_photos(download_wheel(requirement, wheels), members, folder)]


def main() -> None:
    parser = _bench.parser(__doc__)
    parser.add_argument("folder", type=Path, help="where to put the photos (made if missing)")
    args = parser.parse_args()
    paths = fetch(args.folder)
    print(f"{len(paths)} photos in {args.folder}: {', '.join(p.name for p in paths)}")


if __name__ == "__main__":
    _bench.run(main)
