"""Atomic file writes: a reader never sees half a report; a failed run keeps the old one.

An existing device, FIFO or socket (``-o /dev/null``, ``/dev/stdout``, a named pipe) is
written in place instead: renaming a file over it would replace the device itself.
"""

from __future__ import annotations

import contextlib
import os
import stat as _stat
import sys

from exposure_audit.core.errors import OutputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path


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


def _temp_beside(target: str) -> tuple[int, str]:
    """Create a new private file next to ``target`` (tempfile.mkstemp's way: O_EXCL,
    O_NOFOLLOW, 0600, a random name; without importing tempfile and random)."""
    directory, name = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    for _attempt in range(100):
        tmp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def stage(target: str | Path, data: bytes, mode: int = 0o644) -> str:
    """Write ``data`` to a fsynced temporary file beside ``target``; return its path.

    ``os.replace(tmp, target)`` then publishes it atomically. On failure nothing is left
    behind and OutputError names the target.
    """
    target = os.fspath(target)
    if os.path.isdir(target):
        raise OutputError(f"cannot write {target}: it is a directory")
    try:
        fd, tmp = _temp_beside(target)
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


def publish(outputs: Iterable[tuple[str | Path, bytes]], mode: int = 0o644) -> None:
    """Write every ``(path, data)``, files all-or-none.

    Each regular file is staged (see stage) beside its target first; only when all are
    staged are they renamed into place, so a failure while staging leaves every old file
    as it was and no temporary file behind. (A rename failing mid-way cannot take back
    the files already renamed; the staged files not yet renamed are removed.) A device
    or FIFO (``/dev/null``) is written in place after the renames, and ``-`` (standard
    output) last.
    """
    outputs = list(outputs)
    staged: list[tuple[str, str]] = []
    try:
        for path, data in outputs:
            if str(path) == "-" or is_special(path):
                continue
            target = os.fspath(path)
            staged.append((stage(target, data, mode), target))
    except BaseException:
        _unlink_all(tmp for tmp, _target in staged)
        raise
    for i, (tmp, target) in enumerate(staged):
        try:
            os.replace(tmp, target)
        except OSError as exc:
            _unlink_all(later for later, _t in staged[i:])
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    for path, data in outputs:
        if str(path) != "-" and is_special(path):
            write_in_place(path, data)
    for path, data in outputs:
        if str(path) == "-":
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.flush()


def _unlink_all(paths: Iterable[str]) -> None:
    for tmp in paths:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_atomic(path: str | Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory, then rename.

    ``-`` writes to standard output; a device or FIFO is written in place.
    """
    if str(path) == "-" and isinstance(data, str):
        sys.stdout.write(data)
        sys.stdout.flush()
        return
    publish([(path, data.encode("utf-8") if isinstance(data, str) else data)], mode)
