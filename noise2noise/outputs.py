"""Writing files: the rules every output path follows, checked before any work, and
atomic writes.

The rules (``check_outputs``, ``check_out_folder``):
- nothing existing is replaced unless the user passed --overwrite;
- an output is never one of the command's inputs, nor inside an input folder (where it
  would overwrite an original, or be read back as input by the next run), --overwrite or not;
- a file's suffix picks its format, so it must have one the writer knows;
- the folder it goes in exists or can be made (no file in the way, a file can be created in
  its nearest existing folder).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from noise2noise.errors import N2NError, is_disk_full


def _first_existing(path: Path) -> tuple[Path, list[Path]]:
    """The nearest existing ancestor of ``path`` (or path itself) and the missing folders
    between them, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return path, missing


def resolved(path: Path) -> Path:
    """``path.resolve()``, with a symbolic link loop on the way (Python 3.11 raises
    RuntimeError for it, 3.13 OSError) refused in one line."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        raise N2NError(f"{path}: a symbolic link on this path points back to itself (a loop); "
                       "remove the link or choose another path") from None


def _inside(path: Path, folder: Path) -> bool:
    return resolved(path).is_relative_to(resolved(folder))


def _same_file(a: Path, b: Path) -> bool:
    if resolved(a) == resolved(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def _refuse_inputs(target: Path, inputs: Iterable[Path], option: str) -> None:
    for source in map(Path, inputs):
        if source.is_dir() and _inside(target, source):
            if target.is_file() or resolved(target) == resolved(source):
                raise N2NError(f"{target}: the output would overwrite this input; choose another {option}")
            raise N2NError(f"{target}: inside the input folder {source}, where a later run would read it "
                           f"back as input; choose an {option} outside it")
        if not source.is_dir() and _same_file(target, source):
            raise N2NError(f"{source}: the output would overwrite this input; choose another {option}")


PATH_MAX = 4096  # bytes in a whole path, with its final NUL, on Linux
NAME_MAX = 255  # bytes in one file or folder name on Linux and macOS file systems (NTFS: 255 UTF-16 units)


# A temporary file's name (_temporary_beside): ".", the name's first bytes, ".", 8 random
# characters, ".tmp" and the suffix's first bytes; the bytes a path beside or inside an output needs
_TEMP_STEM_BYTES, _TEMP_SUFFIX_BYTES = 64, 16
_TEMP_NAME_BYTES = 1 + _TEMP_STEM_BYTES + 1 + 8 + 4 + _TEMP_SUFFIX_BYTES


def refuse_long_names(path: Path, option: str, folder: bool = False) -> None:
    """Names over NAME_MAX bytes, and paths too long to write (PATH_MAX bytes with a temporary
    file's name beside ``path``, or inside it for a ``folder``), are refused before any check
    that touches the path (it raises ENAMETOOLONG)."""
    beside = path if folder else path.parent
    length = max(len(os.fsencode(str(path))), len(os.fsencode(str(beside))) + 1 + _TEMP_NAME_BYTES)
    if length >= PATH_MAX:
        raise N2NError(f"{shown_path(path)}: the path is too long to write ({length} bytes with a temporary file "
                       f"{'in' if folder else 'beside'} it; the system takes at most {PATH_MAX - 1}); choose a "
                       f"shorter {option}")
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise N2NError(f"{shown_path(path)}: the name {part[:20]}... is {len(os.fsencode(part))} bytes long, "
                           f"and file systems take at most {NAME_MAX}; choose a shorter {option}")


def shown_path(path: str | Path, limit_bytes: int = 200) -> str:
    """``path`` for a one-line message: whole if short, else its start and end."""
    text = str(path)
    return text if len(os.fsencode(text)) <= limit_bytes else f"{text[:60]}...{text[-60:]}"


def _refuse_blocked(folder: Path, shown: Path, option: str, probed: set[Path] | None = None) -> list[Path]:
    """``folder`` exists or can be made (no file in the way, not read-only, a file can be
    created in its nearest existing folder); returns the folders to make, deepest first.
    Errors name ``shown``, the path the user gave. ``probed``: folders already tried by this
    check, each tried once however many outputs go there."""
    ancestor, missing = _first_existing(folder)
    if not ancestor.is_dir():
        raise N2NError(f"{shown}: cannot write there, {ancestor} is a file; choose another {option}")
    if not os.access(ancestor, os.W_OK):
        raise N2NError(f"{shown}: cannot write there ({ancestor} is read-only for you); choose another {option}")
    if probed is None or ancestor not in probed:
        _probe(ancestor, shown, option)
        if probed is not None:
            probed.add(ancestor)
    return missing


def _probe(folder: Path, shown: Path, option: str) -> None:
    """Create and remove one empty file in ``folder``: os.access says yes to root everywhere,
    /proc included. Named like a temporary file (hidden, '.tmp'), which run folders ignore
    and a resumed run removes, should an interrupt leave it."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".n2n-probe.", suffix=".tmp", dir=folder)
    except OSError as exc:
        if is_disk_full(exc):
            raise N2NError(f"{shown}: the disk is full ({folder}); free some space or choose another "
                           f"{option}") from None
        raise N2NError(f"{shown}: cannot write there (no file can be created in {folder}: "
                       f"{exc.strerror or exc}); choose another {option}") from None
    try:
        os.close(fd)
    finally:
        os.unlink(probe)


def check_outputs(targets: Iterable[str | Path], inputs: Iterable[str | Path] = (), overwrite: bool = False,
                  suffixes: Iterable[str] | None = None, option: str = "-o") -> None:
    """The rules for output files (see the module), checked before any work starts, so a
    command either writes everything it should or changes nothing. ``inputs``: the files
    and folders the command reads; ``suffixes``: the ones its writer knows (lowercase)."""
    known = tuple(suffixes) if suffixes is not None else None
    probed: set[Path] = set()
    for target in map(Path, targets):
        if known is not None and target.suffix.lower() not in known:
            what = f"unknown suffix {target.suffix!r}" if target.suffix else "no file suffix"
            raise N2NError(f"{target}: {what}; end the name with one of {', '.join(known)} "
                           "(the suffix picks the format)")
        refuse_long_names(target, option)
        _refuse_inputs(target, inputs, option)
        if target.is_dir():
            raise N2NError(f"{target}: is a folder; give a file name, or choose another {option}")
        _refuse_blocked(target.parent, target, option, probed)
        if os.path.lexists(target) and not overwrite:  # a link to a missing file too: it is the user's
            raise N2NError(f"{target}: already exists; pass --overwrite to replace it, or choose another output")


def check_out_folder(folder: str | Path, inputs: Iterable[str | Path] = (), option: str = "--out") -> list[Path]:
    """The rules for an output folder, changing nothing: not a file, not inside an input
    folder, creatable. Returns the folders creating it would make, deepest first."""
    folder = Path(folder)
    refuse_long_names(folder, option, folder=True)
    if folder.exists() and not folder.is_dir():
        raise N2NError(f"{folder}: exists and is not a folder; choose another {option}")
    _refuse_inputs(folder, inputs, option)
    return _refuse_blocked(folder, folder, option)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place,
    so a crash, a full disk or Ctrl-C never leaves a half-written file under the final name
    (nor a changed one: the previous file stays until the rename)."""
    return atomic_write_all({Path(path): write})[0]


def atomic_write_all(writes: dict[Path, Callable[[Path], None]]) -> list[Path]:
    """``atomic_write`` for files that belong together: all are written to temporary files
    first and renamed into place only once every one is whole, so a failure in any leaves
    all of them as they were (a course's train_data.pkl beside the val_data.pkl of another
    export, before)."""
    made: list[Path] = []
    temps: list[Path] = []
    renamed: list[Path] = []
    path = next(iter(writes))
    try:
        for path, write in writes.items():
            made += _first_existing(path.parent)[1]
            temps.append(_temporary_beside(path))
            write(temps[-1])
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temps[-1], 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        for tmp, path in zip(temps, writes):
            os.replace(tmp, path)
            renamed.append(path)
    except BaseException as exc:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if not renamed:
            _remove_empty(made)
        if not isinstance(exc, (OSError, RuntimeError)):
            raise
        # a rename is all but instant and rarely fails, but if one does after another, say so
        kept = f"{', '.join(map(str, renamed))} already written, the rest not" if renamed else "nothing was written"
        if is_disk_full(exc):  # torch.save reports ENOSPC as a RuntimeError of its stream writer
            raise N2NError(f"{path}: the disk is full; free some space or choose another output ({kept})") from None
        if isinstance(exc, OSError):
            raise N2NError(f"{path}: writing failed ({exc.strerror or exc}); {kept}") from None
        raise
    return list(writes)


def _temporary_beside(path: Path) -> Path:
    """An empty temporary file in ``path``'s folder (made if missing), hidden, named after
    ``path`` but cut short so that the name stays under NAME_MAX bytes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{_cut(path.stem, _TEMP_STEM_BYTES)}.",
                                   suffix=f".tmp{_cut(path.suffix, _TEMP_SUFFIX_BYTES)}",
                                   dir=path.parent)
    except OSError as exc:  # a parent that is a file, no permission, a full disk ...
        if is_disk_full(exc):
            raise N2NError(f"{shown_path(path)}: the disk is full; free some space or choose another output") from None
        raise N2NError(f"{shown_path(path)}: cannot write there ({exc.strerror or exc}); choose another "
                       "output") from None
    os.close(fd)
    return Path(tmp)


def _cut(name: str, limit_bytes: int) -> str:
    """``name`` cut to at most ``limit_bytes`` bytes on disk, never inside a character."""
    return os.fsencode(name)[:limit_bytes].decode("utf-8", "ignore")


def write_torch(path: str | Path, content: Any) -> Path:
    """``torch.save`` through ``atomic_write``."""
    return atomic_write(path, torch_writer(content))


def torch_writer(content: Any) -> Callable[[Path], None]:
    """A writer for ``atomic_write`` that calls ``torch.save`` on a file object: given a path,
    torch names the archive's root folder after the (temporary, random) file name, so the
    same content gave different bytes each time."""
    import torch

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as stream:
            torch.save(content, stream)

    return write


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders made for a write that failed, deepest first, if still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def write_json(path: Path, content: dict[str, Any]) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(content, indent=2) + "\n"))
