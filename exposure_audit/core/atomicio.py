"""Atomic file writes: a reader never sees half a report; a failed run keeps the old one.

A special file is written in place only when the user named it (``-``, ``/dev/stdout``,
``/dev/null``) or it is the user's own FIFO or device at that very path; never one
reached through a symlink someone planted (core/safefs.output_kind), and a FIFO never
blocks the run (no reader: an error after a short wait). Everything else is replaced by
a rename, which replaces a symlink itself rather than following it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
import time

from exposure_audit.core import safefs
from exposure_audit.core.errors import OutputError, Terminated

_WINDOWS = sys.platform.startswith("win")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path
    from types import FrameType
    from typing import Any, BinaryIO


def output_kind(target: str | Path) -> str:
    """ "stdout", "in-place" or "replace" (see safefs.output_kind); OutputError for a
    special file that is not the user's to write (a FIFO behind a planted link)."""
    try:
        return safefs.output_kind(target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


def is_special(target: str | Path) -> bool:
    """``target`` is written in place (see output_kind), not replaced by a rename."""
    return output_kind(target) == "in-place"


class Streamed:
    """A file's content written by ``write(fh)`` (which returns the byte count) into
    the staged file itself, rather than held whole as bytes first: a 10,000-listener
    JSON report is 18 MB. ``fh`` is a binary file at its start that can seek (``write``
    may truncate it and start over). ``size``: the bytes written, once written."""

    __slots__ = ("size", "write")

    def __init__(self, write: Callable[[BinaryIO], int]) -> None:
        self.write = write
        self.size: int | None = None

    def to_bytes(self) -> bytes:
        """The content as bytes (for standard output, a device or a FIFO)."""
        buf = io.BytesIO()
        self.size = self.write(buf)
        return buf.getvalue()


Content = bytes | Streamed


def write_in_place(target: str | Path, data: Content) -> None:
    """Write ``data`` to a special file (see output_kind), never blocking on a FIFO
    without a reader."""
    if isinstance(data, Streamed):
        data = data.to_bytes()
    try:
        fd = safefs.open_in_place(target)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


# O_CLOEXEC and O_NOFOLLOW where they exist; on Windows O_NOINHERIT (its O_CLOEXEC) and
# O_BINARY, without which the C runtime writes every "\n" as "\r\n".
_PORTABLE_FLAGS = (
    getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NOINHERIT", 0)
    | getattr(os, "O_BINARY", 0)
)

# os.replace on Windows fails with PermissionError while another program has the target
# open without sharing delete (a viewer, an editor, an antivirus scanner looking at the
# new file): retried after these pauses, about 1.5 s in all, before giving up.
REPLACE_RETRY_DELAYS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)


def replace_file(
    src: str,
    dst: str,
    platform: str | None = None,
    replace: Callable[[str, str], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """``os.replace(src, dst)``; on Windows retried while the file is held open by
    another program (see REPLACE_RETRY_DELAYS), then a PermissionError that says so.
    Elsewhere a PermissionError is final at once (it is the directory's permission)."""
    windows = (sys.platform if platform is None else platform).startswith("win")
    delays = REPLACE_RETRY_DELAYS if windows else ()
    replace = os.replace if replace is None else replace
    sleep = time.sleep if sleep is None else sleep
    for delay in (*delays, None):
        try:
            replace(src, dst)
            return
        except PermissionError as exc:
            if delay is None:
                if not windows:
                    raise
                waited = sum(delays)
                raise PermissionError(
                    exc.errno,
                    f"access denied for {waited:g} s: another program has it open (a viewer, "
                    "an editor, an antivirus scan?) or it is read-only; close it and run again",
                    dst,
                ) from None
        sleep(delay)


def _temp_beside(target: str) -> tuple[int, str]:
    """Create a new private file next to ``target`` (tempfile.mkstemp's way: O_EXCL,
    O_NOFOLLOW, 0600, a random name; without importing tempfile and random)."""
    directory, name = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _PORTABLE_FLAGS
    for _attempt in range(100):
        tmp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


# A Streamed content comes in pieces of about a row of its document (a kilobyte or
# two): through io's default 8 KiB buffer an 18 MB report is 2,200 write calls, half
# of the time it takes to write; through this one, 18.
STAGED_BUFFER = 1 << 20


def stage(target: str | Path, data: Content, mode: int = 0o644) -> str:
    """Write ``data`` (bytes, or Streamed: written into the file) to a fsynced
    temporary file beside ``target``; return its path.

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
        with os.fdopen(fd, "wb", buffering=STAGED_BUFFER) as fh:
            if isinstance(data, Streamed):
                data.size = data.write(fh)
            else:
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


class _Signals:
    """While files are staged: SIGTERM and SIGHUP are noted, and ``check`` (called after
    every step, once its temporary file is on the books) raises Terminated, so the
    ``except BaseException`` clean-up removes every staged file before the process
    exits. A signal is never lost: leaving the block raises it too."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self.old: dict[signal.Signals, Any] = {}

    def __enter__(self) -> _Signals:
        # Outside the main thread signal.signal raises ValueError: nothing to install.
        # Windows has no SIGHUP.
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is None:
                continue
            with contextlib.suppress(ValueError, OSError):
                self.old[sig] = signal.signal(sig, self._note)
        return self

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        self.pending = signum

    def check(self) -> None:
        if self.pending is not None:
            raise Terminated(self.pending)

    def __exit__(self, *exc: object) -> None:
        for sig, h in self.old.items():
            signal.signal(sig, h)
        if exc[0] is None:
            self.check()


# _backup's answer for a file that exists but cannot be hard-linked (vfat, some FUSE):
# it is replaced without a copy to roll back to, and left as it is by a rollback.
NO_BACKUP = ""


def _backup(target: str) -> str | None:
    """A hard link to the current ``target`` beside it (the link itself if it is a
    symlink), for rolling back; None when there is nothing there; NO_BACKUP when the
    filesystem has no hard links."""
    directory, name = os.path.split(target)
    for _attempt in range(100):
        backup = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.old")
        try:
            if _WINDOWS:
                # CreateHardLinkW links a symlink itself; follow_symlinks is POSIX-only.
                os.link(target, backup)
            else:
                os.link(target, backup, follow_symlinks=False)
            return backup
        except FileExistsError:
            continue
        except FileNotFoundError:
            return None
        except NotImplementedError:
            return NO_BACKUP
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
                return NO_BACKUP
            if _WINDOWS and exc.errno in (errno.EINVAL, errno.EACCES):
                return NO_BACKUP  # FAT or exFAT: no hard links (ERROR_INVALID_FUNCTION)
            raise
    raise FileExistsError(f"no free backup name beside {target}")


def publish(outputs: Iterable[tuple[str | Path, Content]], mode: int = 0o644) -> None:
    """Write every ``(path, data)``, files all-or-none (``data``: bytes or Streamed).

    Each regular file is staged (see stage) beside its target first, and the current
    file kept as a hard link; only when all are staged are they renamed into place. If a
    rename fails, the files already renamed are put back, so either every file is
    replaced or none is; no temporary file is left behind, also on SIGTERM or SIGHUP.
    A special file (see output_kind) is written in place after the renames, and ``-``
    (standard output) last.
    """
    outputs = list(outputs)
    kinds = [output_kind(path) for path, _data in outputs]  # refusals before anything
    staged: list[tuple[str, str]] = []
    backups: list[str | None] = []
    replaced = 0
    with _Signals() as signals:
        try:
            for (path, data), kind in zip(outputs, kinds, strict=True):
                if kind != "replace":
                    continue
                target = os.fspath(path)
                staged.append((stage(target, data, mode), target))
                signals.check()
            for _tmp, target in staged:
                try:
                    backups.append(_backup(target))
                except OSError as exc:
                    raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
                signals.check()
            for tmp, target in staged:
                try:
                    replace_file(tmp, target)
                except OSError as exc:
                    raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
                replaced += 1
            signals.check()
        except BaseException:
            _roll_back(staged, backups, replaced)
            raise
        _unlink_all(b for b in backups if b)
    for (path, data), kind in zip(outputs, kinds, strict=True):
        if kind == "in-place":
            write_in_place(path, data)
    for (_path, data), kind in zip(outputs, kinds, strict=True):
        if kind == "stdout":
            sys.stdout.flush()
            sys.stdout.buffer.write(data.to_bytes() if isinstance(data, Streamed) else data)
            sys.stdout.flush()


def _roll_back(staged: list[tuple[str, str]], backups: list[str | None], replaced: int) -> None:
    """Undo the first ``replaced`` renames; remove every staged file and backup."""
    for i, (_tmp, target) in enumerate(staged[:replaced]):
        backup = backups[i] if i < len(backups) else None
        with contextlib.suppress(OSError):
            if backup is None:
                os.unlink(target)
            elif backup != NO_BACKUP:
                replace_file(backup, target)
    _unlink_all(tmp for tmp, _target in staged[replaced:])
    _unlink_all(b for b in backups if b)


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
