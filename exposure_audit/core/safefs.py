"""Opening paths safely on another's behalf (the tool often runs as root from cron).

One discipline for every path the tool writes or reads for someone else:

- a FIFO, socket or device is used only when the user named it directly (``-``,
  ``/dev/stdout``, ``/dev/null``, ...) or it sits at the named path itself, not behind a
  symlink, and belongs to this user; never through a link somebody planted;
- a special file is opened with ``O_NONBLOCK`` first, so a FIFO without a reader is an
  error instead of a run that hangs holding the state lock;
- a directory the tool keeps state in is walked from ``/`` one component at a time
  (``openat`` with ``O_NOFOLLOW``): every component must belong to root or to this user
  and be writable by nobody else (a sticky world-writable directory such as ``/tmp`` is
  allowed on the way, as its entries cannot be swapped by others); a symlink is followed
  only when root or this user owns it;
- a file read under a confining directory (a template's include) is walked the same way,
  and no symlink is followed at all.

Errors are ``OSError`` with a readable ``strerror`` so callers keep their own message
("cannot write X: ...").
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

_CLOEXEC = os.O_CLOEXEC
_NOFOLLOW = os.O_NOFOLLOW
_DIRECTORY = os.O_DIRECTORY
_MAX_LINKS = 40

# Paths that name a special file directly: written (or read) in place, links followed.
_NAMED_SPECIAL = re.compile(r"^/dev/(?:stdout|stderr|stdin|null|tty|fd/\d+)$|^/proc/self/fd/\d+$")

# How long a FIFO the user named (and owns) may take to get its reader.
FIFO_READER_WAIT = 5.0


def _error(code: int, message: str, path: str | Path) -> OSError:
    return OSError(code, message, os.fspath(path))


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def named_special(path: str | Path) -> bool:
    """``path`` is spelled as one of the special files a user names on purpose."""
    return bool(_NAMED_SPECIAL.match(os.fspath(path)))


def output_kind(path: str | Path) -> str:
    """How ``-o path`` is written: "stdout" (``-``), "in-place" (a special file the user
    named or owns at that very path), or "replace" (an atomic rename, which replaces a
    symlink itself and never follows it). Raises OSError for a special file that is
    not the user's to name: a FIFO or device behind a link, or someone else's."""
    p = os.fspath(path)
    if p == "-":
        return "stdout"
    if named_special(p):
        return "in-place"
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return "replace"
    except OSError:
        return "replace"  # the staging step reports why it cannot write there
    if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode):
        return "replace"
    if stat.S_ISBLK(st.st_mode):
        raise _error(errno.EPERM, "a block device: refusing to write a report on it", p)
    if st.st_uid != os.geteuid():
        raise _error(
            errno.EPERM,
            f"{_kind(st.st_mode)} owned by uid {st.st_uid}: refusing to write to it",
            p,
        )
    return "in-place"


def open_in_place(path: str | Path) -> int:
    """Open a special output (see output_kind) for writing without ever blocking on a
    FIFO that has no reader, and without following a link unless the name is one of
    the well-known ones (``/dev/stdout`` is a link to ``/proc/self/fd/1``)."""
    p = os.fspath(path)
    flags = os.O_WRONLY | _CLOEXEC | os.O_NONBLOCK
    if not named_special(p):
        flags |= _NOFOLLOW
    deadline = time.monotonic() + FIFO_READER_WAIT
    while True:
        try:
            fd = os.open(p, flags)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            if time.monotonic() >= deadline:
                raise _error(errno.ENXIO, "a FIFO with no reader", p) from None
            time.sleep(0.05)
    try:
        st = os.fstat(fd)
        if stat.S_ISBLK(st.st_mode):
            raise _error(errno.EPERM, "a block device: refusing to write a report on it", p)
        # Back to blocking writes: a slow reader must not get a partial report.
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_input(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a file the user named, at most ``max_bytes + 1`` of them (the caller
    reports "too large"). A FIFO or device is read only when named directly
    (``/dev/stdin``, ``/dev/fd/N``) or it is this user's own FIFO at that very path;
    anything else that is not a regular file is an error, so neither someone else's FIFO
    (a hang) nor ``/dev/zero`` (memory) can be slipped in."""
    p = os.fspath(path)
    if p == "-":
        p = "/dev/stdin"
    if not named_special(p):
        check_planted_links(p)
    if _own_fifo(p):
        # This user's own FIFO, named directly (not behind a link): read it as a pipe,
        # waiting for its writer, as the user asked.
        fd = os.open(p, os.O_RDONLY | _CLOEXEC | _NOFOLLOW)
        try:
            return _read_all(fd, max_bytes + 1)
        finally:
            os.close(fd)
    fd = os.open(p, os.O_RDONLY | _CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise _error(errno.EISDIR, "is a directory", p)
        if not stat.S_ISREG(st.st_mode):
            if not named_special(p) or stat.S_ISBLK(st.st_mode):
                raise _error(errno.EINVAL, f"{_kind(st.st_mode)}, not a regular file", p)
        os.set_blocking(fd, True)
        return _read_all(fd, max_bytes + 1)
    finally:
        os.close(fd)


def check_planted_links(path: str) -> None:
    """Refuse a path that goes through a symlink someone else planted in a sticky
    world-writable directory (/tmp): the kernel's fs.protected_symlinks rule, applied
    whether or not that sysctl is on: such a link is followed only when this user or
    the directory's owner owns it. Checked on each component of the path as written."""
    p = os.path.abspath(path)
    parts = [c for c in p.split("/") if c]
    here = "/"
    for name in parts:
        parent = here
        here = os.path.join(here, name)
        try:
            st = os.lstat(here)
        except OSError:
            return
        if not stat.S_ISLNK(st.st_mode):
            continue
        try:
            dst = os.stat(parent)
        except OSError:
            return
        sticky_shared = dst.st_mode & stat.S_ISVTX and dst.st_mode & 0o002
        if sticky_shared and st.st_uid not in (os.geteuid(), dst.st_uid):
            raise _error(
                errno.EACCES,
                f"{here} is a symlink owned by uid {st.st_uid} in the shared directory "
                f"{parent}: not following it",
                p,
            )


def _own_fifo(path: str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISFIFO(st.st_mode) and st.st_uid == os.geteuid()


def _read_all(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_confined(base: str | Path, parts: list[str], max_bytes: int) -> bytes:
    """Read ``base/parts...`` without following any symlink below ``base``: a regular
    file only, at most ``max_bytes + 1`` bytes. FileNotFoundError when it is absent."""
    fd = os.open(os.fspath(base), os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for i, part in enumerate(parts):
            if part in ("", ".", "..") or "/" in part:
                raise _error(errno.EINVAL, "not a plain name inside the directory", part)
            last = i == len(parts) - 1
            flags = os.O_RDONLY | _CLOEXEC | _NOFOLLOW
            flags |= os.O_NONBLOCK if last else _DIRECTORY
            try:
                nxt = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    try:
                        mode = os.lstat(part, dir_fd=fd).st_mode
                    except OSError:
                        raise exc from None
                    if stat.S_ISLNK(mode):
                        raise _error(
                            errno.ELOOP,
                            "is a symbolic link (templates may include files of their own "
                            "directory only, and no links)",
                            "/".join(parts[: i + 1]),
                        ) from None
                raise
            os.close(fd)
            fd = nxt
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _error(errno.EINVAL, f"{_kind(st.st_mode)}, not a regular file", "/".join(parts))
        os.set_blocking(fd, True)
        return _read_all(fd, max_bytes + 1)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- directories


class UnsafePathError(OSError):
    """A directory on the way to a private one can be changed by someone else."""


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _check_ancestor(st: os.stat_result, where: str) -> None:
    if not _trusted_owner(st.st_uid):
        raise UnsafePathError(
            errno.EPERM,
            f"{where} belongs to uid {st.st_uid}, who could swap what is inside it",
        )
    sticky = bool(st.st_mode & stat.S_ISVTX)
    if st.st_mode & 0o002 and not sticky:
        raise UnsafePathError(errno.EPERM, f"{where} is world-writable (and not sticky)")
    if st.st_mode & 0o020 and not sticky and st.st_gid != 0:
        raise UnsafePathError(
            errno.EPERM, f"{where} is writable by group {st.st_gid} (and not sticky)"
        )


def _check_private(st: os.stat_result, where: str) -> None:
    euid = os.geteuid()
    if st.st_uid != euid:
        raise UnsafePathError(
            errno.EPERM,
            f"{where} belongs to uid {st.st_uid}, not to this user (uid {euid})",
        )
    if st.st_mode & 0o002:
        raise UnsafePathError(errno.EPERM, f"{where} is world-writable")
    if st.st_mode & 0o020:
        raise UnsafePathError(errno.EPERM, f"{where} is group-writable")


def open_private_dir(path: str | Path, create: bool = True, mode: int = 0o700) -> int:
    """A file descriptor of directory ``path``, reached without trusting anyone but root
    and this user: see the module docstring. Missing components are created (``mode``)
    when ``create``. The final directory must belong to this user and be writable by
    nobody else. Raises UnsafePathError (an OSError) naming the offending component."""
    p = os.path.abspath(os.fspath(path))
    pending = [c for c in p.split("/") if c]
    pending.reverse()
    fd = os.open("/", os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    where = "/"
    links = 0
    try:
        _check_ancestor(os.fstat(fd), "/")
        while pending:
            name = pending.pop()
            if name == ".":
                continue
            if name == "..":
                # Only reached through a link's target; resolve lexically from the walk.
                raise UnsafePathError(errno.EINVAL, f"'..' in a link target under {where}")
            last = not pending
            here = os.path.join(where, name)
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, mode, dir_fd=fd)
                except FileExistsError:
                    pass
                st = os.lstat(name, dir_fd=fd)
            if stat.S_ISLNK(st.st_mode):
                if not _trusted_owner(st.st_uid):
                    raise UnsafePathError(
                        errno.EPERM,
                        f"{here} is a symlink owned by uid {st.st_uid}: not following it",
                    )
                links += 1
                if links > _MAX_LINKS:
                    raise UnsafePathError(errno.ELOOP, f"too many symlinks at {here}")
                target = os.readlink(name, dir_fd=fd)
                parts = [c for c in target.split("/") if c]
                if target.startswith("/"):
                    os.close(fd)
                    fd = os.open("/", os.O_RDONLY | _DIRECTORY | _CLOEXEC)
                    where = "/"
                else:
                    # A relative target: its '..' steps resolved against the walk so far.
                    base = where
                    kept: list[str] = []
                    for c in parts:
                        if c == "..":
                            if kept:
                                kept.pop()
                            else:
                                base = os.path.dirname(base)
                        elif c != ".":
                            kept.append(c)
                    if base != where:
                        os.close(fd)
                        fd = os.open("/", os.O_RDONLY | _DIRECTORY | _CLOEXEC)
                        kept = [c for c in base.split("/") if c] + kept
                        where = "/"
                    parts = kept
                pending.extend(reversed(parts))
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafePathError(errno.ENOTDIR, f"{here} is {_kind(st.st_mode)}")
            nxt = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nxt
            where = here
            st = os.fstat(fd)
            if last:
                _check_private(st, where)
            else:
                _check_ancestor(st, where)
        return fd
    except BaseException:
        os.close(fd)
        raise


def check_private_dir(path: str | Path, create: bool = True, mode: int = 0o700) -> None:
    """``open_private_dir`` for its checks (and creation) alone."""
    os.close(open_private_dir(path, create, mode))
