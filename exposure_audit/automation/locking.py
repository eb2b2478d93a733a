"""A run lock: two overlapping runs (cron firing while the last one still runs) never
write the state directory at the same time.

``fcntl.flock`` on ``DIR/lock``: the kernel drops the lock when the holder exits, even
on SIGKILL, so a crashed run never leaves a stale lock behind. The file itself is never
deleted (deleting a flock file while another process waits on it splits the lock).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from exposure_audit.core.errors import AuditError

# Distinct from 0-3 so a wrapper can tell "busy, try later" from a broken run.
EXIT_LOCKED = 5
DEFAULT_LOCK_TIMEOUT = 10.0
LOCK_NAME = "lock"


class LockBusyError(AuditError):
    """Another run holds the state directory's lock past the timeout."""

    exit_code = EXIT_LOCKED


def _holder(fd: int) -> str:
    try:
        raw = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        return ""
    if len(raw) >= 2 and raw[0].isdigit():
        return f" (pid {raw[0]}, since {raw[1]})"
    return ""


@contextlib.contextmanager
def run_lock(state_dir: Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[Path]:
    """Hold an exclusive lock on ``state_dir`` for the block; wait at most ``timeout``
    seconds for another holder, then raise ``LockBusyError``."""
    path = state_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise AuditError(f"cannot open lock file {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1:
            raise AuditError(
                f"lock file {path} is not a private regular file of this user: refusing it"
            )
        deadline = time.monotonic() + max(0.0, timeout)
        delay = 0.05
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
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
        os.pwrite(fd, f"{os.getpid()} {stamp}\n".encode(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
