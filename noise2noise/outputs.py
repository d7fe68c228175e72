"""Writing files: every output is written atomically, and nothing is replaced silently."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from noise2noise.errors import N2NError


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place,
    so a crash never leaves a half-written file under the final name."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as exc:  # a parent that is a file, no permission, a full disk ...
        raise N2NError(f"{path}: cannot write there ({exc.strerror or exc}); choose another output") from None
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise N2NError(f"{path}: writing failed ({exc.strerror or exc}); nothing was written") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def refuse_overwrite(paths: list[Path], overwrite: bool) -> None:
    """No silent overwrite: fail before any work if an output file already exists."""
    existing = [p for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise N2NError(f"{existing[0]}: already exists; pass --overwrite to replace it, or choose another output")


def write_json(path: Path, content: dict[str, Any]) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(content, indent=2) + "\n"))


def refuse_same_file(source: str | Path, target: str | Path) -> None:
    """An output path must never be its own input."""
    if Path(target).resolve() == Path(source).resolve():
        raise N2NError(f"{source}: the output would overwrite this input; choose another -o")
