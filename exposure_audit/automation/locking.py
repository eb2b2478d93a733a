"""A run lock: two overlapping runs (cron firing while the last one still runs) never
write the state directory at the same time.

POSIX: ``fcntl.flock`` on ``DIR/lock``: the kernel drops the lock when the holder exits,
even on SIGKILL, so a crashed run never leaves a stale lock behind. The file itself is
never deleted (deleting a flock file while another process waits on it splits the lock).

Windows (no fcntl): ``msvcrt.locking`` on one byte of the same file, far past the pid
line (a locked range cannot be read by others, and the pid line is for them to read);
Windows also drops the lock when the holder's handle closes or the process ends. The
file is checked to be a regular file with one link; its owner cannot be checked there
(no uids; its ACL is not read).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from exposure_audit.core.errors import AuditError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

# Distinct from 0-3 so a wrapper can tell "busy, try later" from a broken run.
EXIT_LOCKED = 5
DEFAULT_LOCK_TIMEOUT = 10.0
LOCK_NAME = "lock"
# The byte msvcrt.locking locks: Windows may lock past the end of a file.
WINDOWS_LOCK_OFFSET = 1 << 30
_OPEN_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NOINHERIT", 0)  # Windows' O_CLOEXEC
    | getattr(os, "O_BINARY", 0)
)


class LockBusyError(AuditError):
    """Another run holds the state directory's lock past the timeout."""

    exit_code = EXIT_LOCKED


def _read_at(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


def _write_at(fd: int, data: bytes, offset: int) -> None:
    if hasattr(os, "pwrite"):
        os.pwrite(fd, data, offset)
        return
    os.lseek(fd, offset, os.SEEK_SET)
    os.write(fd, data)


def _holder(fd: int) -> str:
    try:
        raw = _read_at(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        return ""
    if len(raw) >= 2 and raw[0].isdigit():
        return f" (pid {raw[0]}, since {raw[1]})"
    return ""


class _Locker:
    """Non-blocking exclusive lock and unlock of an open file: flock, or msvcrt.locking."""

    def __init__(self, platform: str | None = None) -> None:
        self.msvcrt: ModuleType | None = None
        if (sys.platform if platform is None else platform).startswith("win"):
            import msvcrt

            self.msvcrt = msvcrt

    def try_lock(self, fd: int) -> bool:
        """True when locked; False when another holds it; OSError for anything else."""
        try:
            if self.msvcrt is not None:
                os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
                self.msvcrt.locking(fd, self.msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            busy = (errno.EWOULDBLOCK, errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK))
            if exc.errno in busy:
                return False
            raise
        return True

    def unlock(self, fd: int) -> None:
        if self.msvcrt is not None:
            os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            self.msvcrt.locking(fd, self.msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)


def _private_file_problem(st: os.stat_result) -> bool:
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        return True
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and st.st_uid != geteuid()


@contextlib.contextmanager
def run_lock(
    state_dir: Path, timeout: float = DEFAULT_LOCK_TIMEOUT, platform: str | None = None
) -> Iterator[Path]:
    """Hold an exclusive lock on ``state_dir`` for the block; wait at most ``timeout``
    seconds for another holder, then raise ``LockBusyError``. ``platform`` (a
    ``sys.platform`` value) picks flock or msvcrt.locking; tests pass it."""
    path = state_dir / LOCK_NAME
    locker = _Locker(platform)
    try:
        fd = os.open(path, _OPEN_FLAGS, 0o600)
    except OSError as exc:
        raise AuditError(f"cannot open lock file {path}: {exc.strerror or exc}") from None
    try:
        if _private_file_problem(os.fstat(fd)):
            raise AuditError(
                f"lock file {path} is not a private regular file of this user: refusing it"
            )
        deadline = time.monotonic() + max(0.0, timeout)
        delay = 0.05
        while True:
            try:
                if locker.try_lock(fd):
                    break
            except OSError as exc:
                raise AuditError(f"cannot lock {path}: {exc.strerror or exc}") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockBusyError(
                    f"another exposure-audit run is using {state_dir}{_holder(fd)}; "
                    f"gave up after {timeout:g} s (see --lock-timeout)"
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.5)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.ftruncate(fd, 0)
        _write_at(fd, f"{os.getpid()} {stamp}\n".encode(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            locker.unlock(fd)
    finally:
        os.close(fd)
