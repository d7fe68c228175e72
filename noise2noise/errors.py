"""The one exception type users see: a single line naming the file, field or value.

Running out of memory or disk is the user's to fix too (a smaller batch, a free disk), so
``resource_error`` turns those exceptions into one line that says what to do; torch is
not imported here (``n2n --help`` stays instant)."""

from __future__ import annotations

import errno
import functools
import sys

# torch's own words for a failed allocation (CPU and GPU allocators) and a failed write
_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "defaultcpuallocator", "cannot allocate memory")
_WRITE_FAILED = ("pytorchstreamwriter", "file write failed")
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class N2NError(Exception):
    """A user-facing error; the CLI prints ``error: <message>`` and exits with status 2."""


def check_flags(caller: str, **flags: object) -> None:
    """Yes/no arguments of the Python API are True or False (NumPy's too): a string such as
    'no' is true to Python, and overwrite='no' replaced a finished run."""
    for name, value in flags.items():
        try:
            is_flag = not isinstance(value, (str, bytes)) and value in (True, False)
        except (TypeError, ValueError):  # an array has no single truth value
            is_flag = False
        if not is_flag:
            raise N2NError(f"{caller}: {name}={value!r} must be True or False")


@functools.cache
def say_once(line: str) -> None:
    """Print a ``note:`` or ``warning:`` line for the user on stderr, once per process (a folder
    is listed, a tensor checked, an autocast entered many times in one run)."""
    print(line, file=sys.stderr)


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """A library exception's own message for a one-line error: its first line (at most
    ``limit`` characters), or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def is_out_of_memory(exc: BaseException) -> bool:
    """torch.OutOfMemoryError, MemoryError, or a RuntimeError in which an allocator gave up."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOMEM
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _OUT_OF_MEMORY)


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT, or torch.save's RuntimeError when the file could not be written, here
    or in the exceptions it was raised from or while handling (a full disk under torch.save's
    file-object writer surfaces as 'unexpected pos' with the OSError as its context)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _WRITE_FAILED):
            return True
        seen.add(id(exc))
        # as a traceback would show them: a context hidden by "raise ... from None" is not a cause
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return False


def resource_error(exc: BaseException, to_save_memory: str) -> N2NError | None:
    """The user error an exhausted resource means, or None for any other exception (a bug).
    ``to_save_memory`` says what to do, e.g. 'lower --batch-size, --width or --crop-px'."""
    if is_out_of_memory(exc):
        return N2NError(f"out of memory: {to_save_memory}")
    if is_disk_full(exc):
        where = f" writing {exc.filename}" if getattr(exc, "filename", None) else ""
        return N2NError(f"the disk is full{where}: free some space or choose another output folder")
    return None
