"""Atomic file writes: a reader never sees half a report; a failed run keeps the old one."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from exposure_audit.errors import OutputError


def stage(target: Path, data: bytes, mode: int = 0o644) -> str:
    """Write ``data`` to a fsynced temporary file beside ``target``; return its path.

    ``os.replace(tmp, target)`` then publishes it atomically. On failure nothing is left
    behind and OutputError names the target.
    """
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

    ``-`` writes to standard output.
    """
    if str(path) == "-":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        sys.stdout.flush()
        return
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = stage(target, payload, mode)
    try:
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
