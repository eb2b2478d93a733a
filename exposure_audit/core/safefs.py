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

Per OS (``missing_protections`` says it in words): Linux and macOS have ``openat`` (the
``dir_fd`` functions), ``O_NOFOLLOW`` and ``O_DIRECTORY``, so all of the above holds.
Windows has none of them, no uids and no sticky bit: there directories are walked by
path (a component swapped between the check and the use is not caught), no symlink or
junction is followed at the end of a state directory or anywhere below a confining
directory, and neither owners nor permissions are checked (ACLs are not read); a FIFO
cannot exist there, and ``-`` is read from standard input directly.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

_WINDOWS = sys.platform.startswith("win")
# Each 0 where the OS lacks it (Windows: O_NOINHERIT is its O_CLOEXEC; O_BINARY keeps
# the C runtime from turning "\n" into "\r\n").
_CLOEXEC = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOINHERIT", 0) | getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_MAX_LINKS = 40
# Windows: a symlink or a junction (a mount point) is a reparse point.
_REPARSE_POINT = 0x400


def _have_dir_fd() -> bool:
    return (
        bool(_DIRECTORY and _NOFOLLOW)
        and {os.open, os.stat, os.mkdir, os.readlink} <= os.supports_dir_fd
        and os.stat in os.supports_follow_symlinks
    )


# openat and its relatives: Linux, macOS and the BSDs; not Windows.
HAVE_DIR_FD = _have_dir_fd()


def missing_protections(
    platform: str | None = None, have_dir_fd: bool | None = None, have_uids: bool | None = None
) -> list[str]:
    """What this module cannot guarantee on ``platform``, in words (empty on Linux and
    macOS)."""
    windows = (sys.platform if platform is None else platform).startswith("win")
    dir_fd = HAVE_DIR_FD if have_dir_fd is None else have_dir_fd
    uids = hasattr(os, "geteuid") if have_uids is None else have_uids
    missing = []
    if not dir_fd:
        missing.append(
            "directories are walked by path, not with openat: a component swapped "
            "between the check and the use is not caught"
        )
    if not uids or windows:
        missing.append(
            "owners and permissions are not checked (no uids; ACLs are not read): a state "
            "directory or config file another account can write is not refused"
        )
    if windows:
        missing.append(
            "no planted-symlink check for shared directories (Windows has no sticky bit)"
        )
    return missing


def _euid() -> int | None:
    geteuid = getattr(os, "geteuid", None)
    return None if geteuid is None else int(geteuid())


def _is_mine(uid: int) -> bool:
    """``uid`` is this user's; always true where there are no uids (Windows)."""
    euid = _euid()
    return euid is None or uid == euid


def _is_link(st: os.stat_result) -> bool:
    """A symlink, or on Windows any reparse point (a junction too)."""
    attributes = getattr(st, "st_file_attributes", 0)
    return stat.S_ISLNK(st.st_mode) or bool(attributes & _REPARSE_POINT)


# Paths that name a special file directly: written (or read) in place, links followed.
_NAMED_SPECIAL = re.compile(r"^/dev/(?:stdout|stderr|stdin|null|tty|fd/\d+)$|^/proc/self/fd/\d+$")
# Their Windows counterparts (the null device and the console).
_NAMED_SPECIAL_WINDOWS = re.compile(r"^(?:nul|con|conout\$|conin\$)$", re.IGNORECASE)

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
    p = os.fspath(path)
    return bool(_NAMED_SPECIAL.match(p) or (_WINDOWS and _NAMED_SPECIAL_WINDOWS.match(p)))


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
    if not _is_mine(st.st_uid):
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
    flags = os.O_WRONLY | _CLOEXEC | _NONBLOCK
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
        if _NONBLOCK:
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
        if _WINDOWS:  # no /dev/stdin
            return sys.stdin.buffer.read(max_bytes + 1)
        p = "/dev/stdin"
    if not named_special(p) and not _WINDOWS:
        check_planted_links(p)
    if _own_fifo(p):
        # This user's own FIFO, named directly (not behind a link): read it as a pipe,
        # waiting for its writer, as the user asked.
        fd = os.open(p, os.O_RDONLY | _CLOEXEC | _NOFOLLOW)
        try:
            return _read_all(fd, max_bytes + 1)
        finally:
            os.close(fd)
    fd = os.open(p, os.O_RDONLY | _CLOEXEC | _NONBLOCK)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise _error(errno.EISDIR, "is a directory", p)
        if not stat.S_ISREG(st.st_mode):
            if not named_special(p) or stat.S_ISBLK(st.st_mode):
                raise _error(errno.EINVAL, f"{_kind(st.st_mode)}, not a regular file", p)
        if _NONBLOCK:
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
        if sticky_shared and not _is_mine(st.st_uid) and st.st_uid != dst.st_uid:
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
    return stat.S_ISFIFO(st.st_mode) and _is_mine(st.st_uid)


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


def _check_part(part: str) -> None:
    if part in ("", ".", "..") or "/" in part or os.sep in part or (os.altsep or "/") in part:
        raise _error(errno.EINVAL, "not a plain name inside the directory", part)


def _link_refused(parts: list[str], i: int) -> OSError:
    return _error(
        errno.ELOOP,
        "is a symbolic link (templates may include files of their own "
        "directory only, and no links)",
        "/".join(parts[: i + 1]),
    )


def read_confined(
    base: str | Path, parts: list[str], max_bytes: int, use_dir_fd: bool | None = None
) -> bytes:
    """Read ``base/parts...`` without following any symlink below ``base``: a regular
    file only, at most ``max_bytes + 1`` bytes. FileNotFoundError when it is absent.
    Without openat (Windows; ``use_dir_fd=False`` in tests) the walk is by path."""
    if not (HAVE_DIR_FD if use_dir_fd is None else use_dir_fd):
        return _read_confined_by_path(os.fspath(base), parts, max_bytes)
    fd = os.open(os.fspath(base), os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for i, part in enumerate(parts):
            _check_part(part)
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
                        raise _link_refused(parts, i) from None
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


def _read_confined_by_path(base: str, parts: list[str], max_bytes: int) -> bytes:
    """read_confined without openat: each component lstat'ed (no symlink, no junction),
    then the file opened and checked to be the very file that was lstat'ed."""
    here = base
    st = None
    for i, part in enumerate(parts):
        _check_part(part)
        here = os.path.join(here, part)
        st = os.lstat(here)
        if _is_link(st):
            raise _link_refused(parts, i)
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            raise _error(errno.ENOTDIR, "not a directory", "/".join(parts[: i + 1]))
    if st is None or not stat.S_ISREG(st.st_mode):
        kind = _kind(st.st_mode) if st is not None else "a directory"
        raise _error(errno.EINVAL, f"{kind}, not a regular file", "/".join(parts))
    fd = os.open(here, os.O_RDONLY | _CLOEXEC | _NOFOLLOW | _NONBLOCK)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
            raise _error(errno.EAGAIN, "changed while it was opened", "/".join(parts))
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return _read_all(fd, max_bytes + 1)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- directories


class UnsafePathError(OSError):
    """A directory on the way to a private one can be changed by someone else."""


def _trusted_owner(uid: int) -> bool:
    return uid == 0 or _is_mine(uid)


def _check_ancestor(st: os.stat_result, where: str) -> None:
    if not _trusted_owner(st.st_uid):
        raise UnsafePathError(
            errno.EPERM,
            f"{where} belongs to uid {st.st_uid}, who could swap what is inside it",
        )
    if _euid() is None:
        return  # Windows: no owner or mode bits to check (see missing_protections)
    sticky = bool(st.st_mode & stat.S_ISVTX)
    if st.st_mode & 0o002 and not sticky:
        raise UnsafePathError(errno.EPERM, f"{where} is world-writable (and not sticky)")
    if st.st_mode & 0o020 and not sticky and st.st_gid != 0:
        raise UnsafePathError(
            errno.EPERM, f"{where} is writable by group {st.st_gid} (and not sticky)"
        )


def _check_private(st: os.stat_result, where: str) -> None:
    euid = _euid()
    if euid is None:
        return  # Windows: no owner or mode bits to check (see missing_protections)
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


def check_private_dir(
    path: str | Path, create: bool = True, mode: int = 0o700, use_dir_fd: bool | None = None
) -> None:
    """``open_private_dir`` for its checks (and creation) alone. Without openat
    (Windows; ``use_dir_fd=False`` in tests) the same checks by path: see
    ``missing_protections``."""
    if HAVE_DIR_FD if use_dir_fd is None else use_dir_fd:
        os.close(open_private_dir(path, create, mode))
        return
    p = os.path.abspath(os.fspath(path))
    if create:
        try:
            os.makedirs(p, mode, exist_ok=True)
        except FileExistsError:
            pass  # not a directory: reported below
    st = os.lstat(p)
    if _is_link(st):
        raise UnsafePathError(errno.ELOOP, f"{p} is a symbolic link or junction: not following it")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(errno.ENOTDIR, f"{p} is {_kind(st.st_mode)}")
    parent = os.path.dirname(p)
    while True:
        _check_ancestor(os.stat(parent), parent)
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    _check_private(st, p)
