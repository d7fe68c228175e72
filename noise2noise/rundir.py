"""Run folders: checked before any work, locked while a run writes, replaced only by a
finished run.

- A new run goes into a missing or empty folder. A folder holding anything is refused
  unless --overwrite, with the message saying whether --resume can continue its run.
- With --overwrite the new run trains in a staging folder beside --out
  (``.NAME.n2n-next``) and is swapped in once it has finished; until then, and for good
  if it fails, diverges or is interrupted, --out holds the previous run unchanged. Files
  in --out that are not a run's (notes, an ``evaluate --out`` folder) stay in --out.
- One process at a time: a run holds an flock on ``.n2n-lock`` (with its pid) in its
  folder. The kernel drops the lock when the process dies, so a killed run leaves no
  stale lock, and the file goes when the run ends.
- A new run that stops before its first checkpoint (an error, Ctrl-C, SIGTERM) removes
  what it wrote; Ctrl-C or SIGTERM once a training step has completed writes a checkpoint
  (``train.fit``), so the folder stays for --resume. One that was killed (SIGKILL) leaves
  a folder that both a new run and --resume name as holding nothing to resume, to be
  replaced with --overwrite.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from noise2noise.errors import N2NError
from noise2noise.outputs import atomic_write, check_out_folder

try:
    import fcntl
except ImportError:  # Windows has no flock: runs are not locked there
    fcntl = None

# what a run writes in its folder ("tb": the TensorBoard mirror's folder); anything else there is the user's
RUN_FILES = ("config.json", "metrics.jsonl", "checkpoint.pt", "results.json", "samples.png", "tb")
RESUME_KEYS = ("config", "model", "optimizer", "step", "images", "train_time_s", "rng_cpu", "rng_device")
LOCK_NAME = ".n2n-lock"


def staging_path(out_dir: Path) -> Path:
    """Where an --overwrite run trains until it replaces ``out_dir`` (beside the folder
    itself: a link named ``out_dir`` is followed)."""
    out_dir = out_dir.resolve()
    return out_dir.parent / f".{out_dir.name}.n2n-next"


def _is_temp(name: str) -> bool:
    """A temporary file of ``outputs.atomic_write`` that a kill cut short."""
    return name.startswith(".") and ".tmp" in name


def folder_contents(folder: Path) -> set[str]:
    """What a folder holds apart from a lock file and cut-short temporary files."""
    return {p.name for p in folder.iterdir() if p.name != LOCK_NAME and not _is_temp(p.name)}


def _never_checkpointed(names: set[str]) -> bool:
    return bool(names) and names <= set(RUN_FILES) and "checkpoint.pt" not in names


def config_inputs(cfg) -> list[Path]:
    """The files and folders a run reads: its folder must not be inside them."""
    return [Path(p) for p in (cfg.data, cfg.val_data) if p and Path(p).exists()]


class FolderLock:
    """An exclusive flock on FOLDER/.n2n-lock, which holds the owner's pid."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        if fcntl is None:
            return self
        path = self.folder / LOCK_NAME
        for _ in range(10):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise N2NError(f"{self.folder}: cannot write there ({exc.strerror}); choose another --out") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise N2NError(f"{self.folder}: in use by another n2n run ({_holder(path)}); wait for it to "
                               "finish, or choose another --out") from None
            except OSError:  # a file system without flock (some network mounts): run unlocked
                os.close(fd)
                return self
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return self
            os.close(fd)  # the holder removed the file as it let go: lock the new one
        raise N2NError(f"{self.folder}: its lock keeps changing hands; wait for the other n2n runs to finish")

    def release(self) -> None:
        if self._fd is not None:
            (self.folder / LOCK_NAME).unlink(missing_ok=True)  # while still held: see acquire
            os.close(self._fd)
            self._fd = None


def _holder(lock_file: Path) -> str:
    try:
        pid = lock_file.read_text().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "pid unknown"


def refuse_if_locked(folder: Path) -> None:
    """Fail when a live process holds the folder's lock; changes nothing."""
    path = folder / LOCK_NAME
    if fcntl is None or not path.is_file():
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except BlockingIOError:
        raise N2NError(f"{folder}: in use by another n2n run ({_holder(path)}); wait for it to finish, "
                       "or choose another --out") from None
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(folder: str | Path, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Make ``folder`` (checked as an output folder) and hold its lock, e.g. for a sweep."""
    folder = Path(folder)
    check_out_folder(folder, inputs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. under /proc, which the writable check cannot tell
        raise N2NError(f"{folder}: cannot write there ({exc.strerror}); choose another --out") from None
    lock = FolderLock(folder).acquire()
    try:
        yield folder
    finally:
        lock.release()


def check_new_run(out_dir: str | Path, overwrite: bool = False, inputs: Iterable[Path] = ()) -> None:
    """Refuse an --out that cannot take a new run, changing nothing (so it can run before
    the data are read)."""
    out_dir = Path(out_dir)
    check_out_folder(out_dir, inputs)
    if not out_dir.is_dir():
        return
    refuse_if_locked(out_dir)
    names = folder_contents(out_dir)
    if overwrite and names:
        if Path.cwd().resolve().is_relative_to(out_dir.resolve()):
            raise N2NError(f"{out_dir}: --overwrite would replace the folder you are working in; run n2n from "
                           "another folder, or choose another --out")
        if staging_path(out_dir).is_dir():
            refuse_if_locked(staging_path(out_dir))
    if not names or overwrite:
        return
    if _never_checkpointed(names):
        raise N2NError(f"{out_dir}: holds a run that stopped before its first checkpoint, so there is nothing "
                       "to resume; pass --overwrite to replace it, or choose another --out")
    if "results.json" in names:
        raise N2NError(f"{out_dir}: holds a finished run; pass --overwrite to replace it, or choose another --out")
    raise N2NError(f"{out_dir}: folder exists and is not empty; use --resume to continue that run, "
                   "--overwrite to replace it, or another --out")


def load_resume_state(out_dir: str | Path | None, extending: bool = False) -> dict[str, Any]:
    """The checkpoint a run folder can be resumed from, or one line saying why there is none;
    ``extending`` (a larger budget given) resumes a finished run too."""
    from noise2noise import checkpoint

    if out_dir is None:
        raise N2NError("resuming needs the run folder (--out) that holds checkpoint.pt")
    out_dir = Path(out_dir)
    if not (out_dir / "checkpoint.pt").is_file():
        if out_dir.is_dir():
            refuse_if_locked(out_dir)  # a live run before its first checkpoint: not one to start again
        if out_dir.is_dir() and _never_checkpointed(folder_contents(out_dir)):
            raise N2NError(f"{out_dir}: no checkpoint.pt to resume from, the run there stopped before its first "
                           "checkpoint; start it again with --overwrite instead of --resume")
        raise N2NError(f"{out_dir}: no checkpoint.pt to resume from; start a new run without --resume")
    state = checkpoint.load(out_dir / "checkpoint.pt")
    missing = [k for k in RESUME_KEYS if k not in state]
    if missing:
        raise N2NError(f"{out_dir / 'checkpoint.pt'}: holds no training state ({', '.join(missing)} "
                       "missing), so it cannot be resumed; start a new run")
    if state.get("finished") and not extending:
        raise N2NError(f"{out_dir}: that run already finished; nothing to resume (give a larger --time-budget "
                       "to train it on, or pass --overwrite instead of --resume to replace it)")
    return state


def check_resumable_folder(out_dir: Path) -> None:
    """Refuse to resume a folder that another run holds, or that an --overwrite run into was
    killed before finishing (which of the two runs is meant is the user's to say)."""
    refuse_if_locked(out_dir)
    staging = staging_path(out_dir)
    if staging.is_dir():
        refuse_if_locked(staging)
        raise N2NError(f"{out_dir}: an --overwrite run into it was killed before it finished; the previous "
                       f"run is unchanged. Pass --overwrite to start the new run again, or delete {staging} "
                       "to resume the previous one")


class RunFolder:
    """A run folder held by this process. ``path`` is where the run writes: ``out_dir``,
    or for a run replacing another the staging folder that ``finish`` swaps in."""

    def __init__(self, out_dir: Path, path: Path, locks: list[FolderLock], created: list[Path]) -> None:
        self.out_dir, self.path = out_dir, path
        self._locks, self._created = locks, created

    @property
    def replacing(self) -> bool:
        return self.path != self.out_dir

    @classmethod
    def create(cls, out_dir: str | Path, overwrite: bool = False, inputs: Iterable[Path] = ()) -> RunFolder:
        """Make and lock the folder of a new run (the staging folder when --overwrite
        replaces a run)."""
        out_dir = Path(out_dir)
        check_new_run(out_dir, overwrite, inputs)  # again: the folder may have changed while the data loaded
        created = check_out_folder(out_dir, inputs)
        if out_dir.is_dir() and folder_contents(out_dir):  # check_new_run passed, so --overwrite was given
            out_dir = out_dir.resolve()  # the folder itself (a link to it stays a link)
            locks = [FolderLock(out_dir).acquire()]
            staging = staging_path(out_dir)
            try:
                if staging.exists():  # a replacing run that was killed: only ever a new run's files
                    old = FolderLock(staging).acquire()
                    shutil.rmtree(staging)
                    old.release()
                staging.mkdir()
                locks.append(FolderLock(staging).acquire())
            except BaseException as exc:
                for lock in locks:
                    lock.release()
                if isinstance(exc, OSError):
                    raise N2NError(f"{out_dir.parent}: cannot write there ({exc.strerror}); --overwrite trains "
                                   f"the new run beside {out_dir.name} until it replaces it") from None
                raise
            return cls(out_dir, staging, locks, [])
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise N2NError(f"{out_dir}: cannot write there ({exc.strerror}); choose another --out") from None
        lock = FolderLock(out_dir).acquire()
        if folder_contents(out_dir):  # another run wrote here after the check
            lock.release()
            check_new_run(out_dir, overwrite, inputs)
            lock = FolderLock(out_dir).acquire()  # what it wrote is gone again: go on, holding the lock
        return cls(out_dir, out_dir, [lock], created)

    @classmethod
    def reopen(cls, out_dir: str | Path, step: int) -> RunFolder:
        """Lock a run folder to resume it from its checkpoint at ``step``: temporary files
        of writes cut short go, and metrics logged after the checkpoint are dropped so the
        resumed run has one history."""
        out_dir = Path(out_dir)
        check_resumable_folder(out_dir)
        lock = FolderLock(out_dir).acquire()
        for stale in out_dir.glob(".*.tmp*"):
            stale.unlink()
        _rewind_log(out_dir / "metrics.jsonl", step)
        return cls(out_dir, out_dir, [lock], [])

    def finish(self) -> None:
        """The run is complete: swap a replacing run in for the previous one, keeping the
        folder's other files, then let go of the lock."""
        try:
            if self.replacing:
                self._swap()
        except OSError as exc:
            raise N2NError(f"{self.out_dir}: the new run finished in {self.path} but could not replace the "
                           f"previous one ({exc.strerror}); move it there yourself") from None
        finally:
            self.release()

    def _swap(self) -> None:
        previous = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.n2n-previous-", dir=self.out_dir.parent))
        # two renames, microseconds apart; the previous run is whole in either place
        try:
            self.out_dir.replace(previous)
        except OSError:
            previous.rmdir()
            raise
        try:
            self.path.rename(self.out_dir)
        except OSError:
            previous.rename(self.out_dir)  # put the previous run back
            raise
        old_lock, new_lock = self._locks
        old_lock.folder, new_lock.folder, self.path = previous, self.out_dir, self.out_dir
        old_lock.release()
        kept = False
        for entry in previous.iterdir():
            if entry.name in RUN_FILES or _is_temp(entry.name):
                _remove(entry)
            elif (self.out_dir / entry.name).exists():
                kept = True  # never replace a file: the previous folder stays, holding it
            else:
                entry.rename(self.out_dir / entry.name)
        if not kept:
            previous.rmdir()

    def abandon(self) -> bool:
        """After a failure: a replacing run's staging folder goes (the previous run is
        untouched); a new run removes its files and the folders it made, unless it has a
        checkpoint to resume from. True when the folder is kept for --resume."""
        self.release()
        if self.replacing:
            shutil.rmtree(self.path, ignore_errors=True)
            return False
        if (self.path / "checkpoint.pt").exists():
            return True
        for name in RUN_FILES:
            _remove(self.path / name)
        for folder in self._created:
            try:
                folder.rmdir()  # only ever removes an empty folder
            except OSError:
                break
        return False

    def release(self) -> None:
        for lock in self._locks:
            lock.release()


def _remove(path: Path) -> None:
    """Remove a run's file or folder (TensorBoard's), if there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _rewind_log(path: Path, step: int) -> None:
    """Drop metrics logged after the checkpoint, so a resumed run has one history."""
    def logged_step(row: str) -> float:
        try:
            logged = json.loads(row).get("step", 0)
            return float(logged) if not isinstance(logged, bool) else math.inf
        except (ValueError, TypeError, AttributeError):  # a line cut short by the kill, or not a row of ours
            return math.inf

    if path.is_file():
        rows = path.read_text(encoding="utf-8", errors="replace").splitlines()
        kept = [row + "\n" for row in rows if logged_step(row) <= step]
        atomic_write(path, lambda tmp: tmp.write_text("".join(kept)))
