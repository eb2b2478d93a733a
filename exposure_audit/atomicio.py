"""Atomic file writes: a reader never sees half a report; a failed run keeps the old one.

An existing device, FIFO or socket (``-o /dev/null``, ``/dev/stdout``, a named pipe) is
written in place instead: renaming a file over it would replace the device itself.
"""

from __future__ import annotations

import contextlib
import os
import stat as _stat
import sys
from typing import TYPE_CHECKING

from exposure_audit.errors import OutputError

if TYPE_CHECKING:
    from pathlib import Path  # imported where needed: `collect -o -` never needs it


def is_special(target: str | Path) -> bool:
    """``target`` must be written in place, not replaced by a rename: it exists and is
    not a regular file or directory (a device, FIFO, socket), or it is under /dev or
    /proc (``/dev/stdout`` is a symlink to /proc/self/fd/1: renaming over it while stdout
    is a regular file would replace the machine's /dev/stdout link)."""
    if os.path.abspath(target).startswith(("/dev/", "/proc/")):
        return True
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError):
        return False
    return not (_stat.S_ISREG(mode) or _stat.S_ISDIR(mode))


def write_in_place(target: str | Path, data: bytes) -> None:
    """Write ``data`` to an existing special file (see is_special)."""
    try:
        with open(target, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


def stage(target: Path, data: bytes, mode: int = 0o644) -> str:
    """Write ``data`` to a fsynced temporary file beside ``target``; return its path.

    ``os.replace(tmp, target)`` then publishes it atomically. On failure nothing is left
    behind and OutputError names the target.
    """
    import tempfile
    from pathlib import Path

    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a directory")
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise
    return tmp


def write_atomic(path: str | Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory, then rename.

    ``-`` writes to standard output; a device or FIFO is written in place.
    """
    if str(path) == "-":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        sys.stdout.flush()
        return
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if is_special(path):
        write_in_place(path, payload)
        return
    from pathlib import Path

    target = Path(path)
    tmp = stage(target, payload, mode)
    try:
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
