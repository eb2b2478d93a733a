"""Processes behind sockets, read straight from /proc (Linux; stdlib only).

Two steps, both tolerant of processes that exit mid-scan (ENOENT/ESRCH) and of
processes we may not read (EACCES):

- ``socket_owners(inodes)``: scan /proc/PID/fd (readlink "socket:[INODE]") for the
  inodes asked for, in ascending pid order, stopping once every inode has an owner.
  A socket shared by several processes (a pre-fork server's workers) is attributed
  to the lowest pid that holds it, usually the parent that opened it.
- ``process_info(pid)``: name, exe, cmdline, username, uid, container id.

Text decoding: everything the kernel hands back is bytes chosen by whoever started the
process. It is decoded as UTF-8 with ``errors="backslashreplace"``: an invalid byte
becomes the four characters ``\\xff``, so the result is always valid text (safe to write
as UTF-8 JSON, unlike surrogateescape's lone surrogates), readable, and no byte is
silently dropped. Control characters (newlines, ANSI escapes) are kept as they are:
the Facts are data; JSON escapes them and each renderer must neutralise them for its
medium (terminal, HTML).
"""

from __future__ import annotations

import _thread
import os

from exposure_audit.core.model import ProcessInfo
from exposure_audit.core.records import record

PROC = "/proc"
MAX_CMDLINE_BYTES = 64 * 1024  # a cmdline can be up to ARG_MAX (megabytes): cap it
MAX_CGROUP_BYTES = 64 * 1024
MAX_ENVIRON_BYTES = 256 * 1024
MAX_ENV_VALUE = 512  # a named variable's value is kept up to this many characters

# The environment variables that switch a debugger on. /proc/PID/environ holds secrets:
# only these names are kept, never any other variable (nor its name).
DEBUG_ENV: tuple[str, ...] = ("FLASK_DEBUG", "NODE_OPTIONS")

_CONTAINER_MARKERS = ("docker", "containerd", "crio", "libpod", "kubepods", "podman", "lxc")
_HEX64 = r"[0-9a-f]{64}"


@record
class OwnerScan:
    """What socket_owners found."""

    owners: dict[int, int]  # socket inode -> pid (lowest pid holding it)
    denied: int  # processes whose fd table we could not read (EACCES/EPERM)
    complete: bool  # every process was scanned (no early stop)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


def socket_owners(inodes: set[int], proc: str = PROC) -> OwnerScan:
    """Map each socket inode in ``inodes`` to the lowest pid holding it.

    The cost is one readlink per open fd of every process (what `ss -p` and lsof pay
    too; ~3.5 us each, nearly all of it in the kernel) and one listdir per process.
    Matching is one dict lookup on the link text. Processes are read in ascending pid
    order, and reading stops once every inode has an owner. With enough work left a
    second thread shares it (os.readlink and os.listdir release the GIL: ~50 -> ~33 ms
    for 10,000 sockets on 2 cores).
    """
    targets = {f"socket:[{ino}]".encode(): ino for ino in inodes if ino}
    if not targets:
        return OwnerScan({}, 0, False)
    try:
        names = os.listdir(proc)
    except OSError:
        return OwnerScan({}, 0, False)
    pids = sorted([int(n) for n in names if n.isdigit()], reverse=True)
    scan = _Scan(targets, pids, proc)
    scan.work(main=True)
    if scan.helper_done is not None:
        scan.helper_done.acquire()  # released when the helper thread has finished
    if scan.error is not None:
        raise scan.error
    owners: dict[int, int] = {}
    for found in scan.found:
        for ino, pid in found.items():
            if pid < owners.get(ino, pid + 1):
                owners[ino] = pid
    return OwnerScan(owners, sum(scan.denied), not scan.stopped_early)


_CHUNK = 256  # fds per work item: a process with 10,000 sockets is shared by both threads
# A second thread pays for itself (measured) once _THREAD_THRESHOLD fds were read and
# either that many sockets are still to be found or the host has many fds anyway.
# Below that (100 listeners, a few hundred fds) starting it costs more than it saves.
_THREAD_THRESHOLD = 256
_THREAD_ANYWAY = 2048


class _Scan:
    """The work of one socket_owners call, shared by at most two threads.

    ``queue`` is a stack: fresh pids (descending, so pop() gives the lowest) and, pushed
    on top, the rest of a large process's fds in _CHUNK slices (so they are read next).
    Each thread records its own matches; they are merged afterwards keeping the lowest
    pid, so the result does not depend on timing. Once every inode has an owner no new
    pid is taken, but slices already queued are still read: every pid below one where
    an inode was found has then been read completely.
    """

    def __init__(self, targets: dict[bytes, int], pids: list[int], proc: str) -> None:
        self.targets = targets
        self.remaining = set(targets.values())
        self.queue: list[int | tuple[int, list[bytes]]] = list(pids)
        self.proc = proc
        self.lock = _thread.allocate_lock()
        self.found: list[dict[int, int]] = []
        self.denied: list[int] = []
        self.stopped_early = False
        self.fds_read = 0
        self.helper_done: _thread.LockType | None = None
        self.error: BaseException | None = None

    def _start_helper(self) -> None:
        done = _thread.allocate_lock()
        done.acquire()
        self.helper_done = done

        def helper() -> None:
            try:
                self.work(main=False)
            except BaseException as exc:  # re-raised by the main thread
                self.error = exc
            finally:
                done.release()

        try:
            _thread.start_new_thread(helper, ())
        except RuntimeError:  # no thread could be started: the main thread does it all
            self.helper_done = None

    def work(self, main: bool) -> None:
        found: dict[int, int] = {}
        self.found.append(found)
        denied = 0
        readlink = os.readlink
        listdir = os.listdir
        get = self.targets.get
        remaining = self.remaining
        queue = self.queue
        lock = self.lock
        proc = self.proc
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        try:
            while True:
                with lock:
                    if not queue:
                        break
                    item = queue[-1]
                    if not remaining and type(item) is int:
                        self.stopped_early = True
                        break
                    queue.pop()
                if isinstance(item, int):
                    pid, fds = item, None
                else:
                    pid, fds = item
                path = f"{proc}/{pid}/fd".encode()
                try:
                    dfd = os.open(path, flags)
                except PermissionError:
                    denied += 1
                    continue
                except OSError:
                    continue  # vanished (ENOENT/ESRCH) or not a process directory
                try:
                    if fds is None:
                        try:
                            fds = listdir(path)
                        except PermissionError:
                            denied += 1
                            continue
                        except OSError:
                            continue
                        if len(fds) > _CHUNK:
                            rest = [
                                (pid, fds[i : i + _CHUNK]) for i in range(_CHUNK, len(fds), _CHUNK)
                            ]
                            rest.reverse()
                            with lock:
                                queue.extend(rest)
                            fds = fds[:_CHUNK]
                    for fd in fds:
                        try:
                            target = readlink(fd, dir_fd=dfd)
                        except PermissionError:
                            # Listable but not readable (ptrace access is per process,
                            # e.g. a container's init): its other fds would fail too.
                            break
                        except OSError:
                            continue  # the fd closed under us, or the process exited
                        ino = get(target)
                        if ino is not None and pid < found.get(ino, pid + 1):
                            found[ino] = pid
                            remaining.discard(ino)
                finally:
                    os.close(dfd)
                if main and self.helper_done is None:
                    self.fds_read += len(fds)
                    if (
                        self.fds_read >= _THREAD_THRESHOLD
                        and queue
                        and (len(remaining) >= _THREAD_THRESHOLD or self.fds_read >= _THREAD_ANYWAY)
                    ):
                        self._start_helper()
        finally:
            self.denied.append(denied)


def _read(path: str, limit: int) -> bytes | None:
    try:
        with open(path, "rb", buffering=0) as f:
            return f.read(limit)
    except OSError:
        return None


_USERNAMES: dict[int, str | None] = {}


def username(uid: int) -> str | None:
    if uid not in _USERNAMES:
        try:
            import pwd

            _USERNAMES[uid] = pwd.getpwuid(uid).pw_name
        except (KeyError, ImportError, OSError):
            _USERNAMES[uid] = None
    return _USERNAMES[uid]


def container_id(cgroup_text: str) -> str | None:
    """A container id from /proc/PID/cgroup text (docker, containerd/CRI, CRI-O, podman,
    kubepods), or None. The last 64-hex run on a line naming a container runtime;
    podman's conmon (the monitor outside the container) does not count."""
    for line in cgroup_text.splitlines():
        low = line.lower()
        if "conmon" in low or not any(m in low for m in _CONTAINER_MARKERS):
            continue
        import re  # only for a process in a container: importing re costs ~5 ms

        ids: list[str] = re.findall(_HEX64, low)
        if ids:
            return ids[-1]
    return None


def split_title(parts: list[bytes]) -> list[bytes]:
    """argv as the process meant it. A program that rewrites its process title
    (Redis, webpack, anything calling setproctitle) leaves one string padded with NULs:
    ``b"redis-server *:6379", b"", b"", ...``. That is split back into words; trailing
    empty arguments of an ordinary argv are dropped too."""
    while len(parts) > 1 and parts[-1] == b"":
        parts.pop()
    if len(parts) == 1 and b" " in parts[0].strip() and not parts[0].startswith(b"/"):
        return parts[0].split()
    return parts


def read_environment(pid: int, proc: str = PROC) -> tuple[tuple[str, str], ...]:
    """The DEBUG_ENV variables of ``pid`` that are set, read from /proc/PID/environ
    (root, or the process's own user). Every other variable is skipped unread as text."""
    raw = _read(f"{proc}/{pid}/environ", MAX_ENVIRON_BYTES)
    if not raw:
        return ()
    wanted = {n.encode() + b"=": n for n in DEBUG_ENV}
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        eq = item.find(b"=")
        name = wanted.get(item[: eq + 1]) if eq > 0 else None
        if name is not None and name not in out:
            out[name] = _decode(item[eq + 1 :])[:MAX_ENV_VALUE]
    return tuple((n, out[n]) for n in DEBUG_ENV if n in out)


def process_info(pid: int, proc: str = PROC) -> tuple[ProcessInfo, bool]:
    """What /proc tells about ``pid``. Returns (info, alive): alive is False when the
    process had already gone (its fields are then mostly None)."""
    base = f"{proc}/{pid}"
    comm = _read(f"{base}/comm", 4096)
    status = _read(f"{base}/status", 16384)
    if comm is None and status is None:
        return ProcessInfo(pid=pid), False
    raw_cmd = _read(f"{base}/cmdline", MAX_CMDLINE_BYTES)
    cmdline: tuple[str, ...] = ()
    if raw_cmd:
        parts = split_title(raw_cmd.split(b"\0"))
        cmdline = tuple(_decode(p) for p in parts)
    try:
        exe: str | None = _decode(os.readlink(f"{base}/exe".encode()))
    except OSError:
        exe = None  # kernel thread, zombie, or not ours to read
    uid: int | None = None
    if status:
        for line in status.split(b"\n"):
            if line.startswith(b"Uid:"):
                fields = line.split()
                if len(fields) > 1 and fields[1].isdigit():
                    uid = int(fields[1])  # real uid, as ps and psutil report
                break
    if comm is not None and comm.endswith(b"\n"):
        comm = comm[:-1]  # the kernel's line end, not part of the name
    name = _decode(comm) if comm is not None else None
    if name is not None and len(name) >= 15 and cmdline:
        # comm is cut at 15 bytes; prefer the full basename of argv[0] when it matches.
        first = os.path.basename(cmdline[0].split(" ", 1)[0])
        if first.startswith(name):
            name = first
    cgroup = _read(f"{base}/cgroup", MAX_CGROUP_BYTES)
    cid = container_id(_decode(cgroup)) if cgroup else None
    return (
        ProcessInfo(
            pid=pid,
            name=name,
            exe=exe,
            cmdline=cmdline,
            username=username(uid) if uid is not None else None,
            uid=uid,
            container_id=cid,
            environment=read_environment(pid, proc),
        ),
        True,
    )
