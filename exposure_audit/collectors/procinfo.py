"""Processes behind sockets, read straight from /proc (Linux; stdlib only).

Two steps, both tolerant of processes that exit mid-scan (ENOENT/ESRCH) and of
processes we may not read (EACCES):

- ``socket_owners(inodes)``: scan /proc/PID/fd (readlink "socket:[INODE]") for the
  inodes asked for, in ascending pid order, stopping once every inode has an owner.
  A socket shared by several processes (a pre-fork server's workers) is attributed
  to the lowest pid that holds it, usually the parent that opened it.
- ``Prescan.start()`` / ``finish(inodes)``: the same answer as socket_owners, with the
  scan begun in a forked child before the inodes are known (thousands of sockets: it
  then runs alongside the sock_diag dump).
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

import _socket
import _thread
import os

from exposure_audit.model import ProcessInfo
from exposure_audit.records import record

PROC = "/proc"
MAX_CMDLINE_BYTES = 64 * 1024  # a cmdline can be up to ARG_MAX (megabytes): cap it
MAX_CGROUP_BYTES = 64 * 1024

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
                if type(item) is int:
                    pid, fds = item, None
                else:
                    pid, fds = item  # type: ignore[misc]
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


# --------------------------------------------------------------------------- prescan


def socket_count(proc: str = PROC) -> int | None:
    """TCP + UDP sockets in use in this network namespace (all states, both families),
    from /proc/net/sockstat{,6}; None when unreadable. A cheap guess at the work ahead."""
    total = 0
    for name in ("sockstat", "sockstat6"):
        try:
            with open(f"{proc}/net/{name}", "rb") as f:
                text = f.read(4096)
        except OSError:
            return None
        for line in text.split(b"\n"):
            fields = line.split()
            if fields and fields[0] in (b"TCP:", b"UDP:", b"TCP6:", b"UDP6:"):
                if len(fields) > 2 and fields[1] == b"inuse" and fields[2].isdigit():
                    total += int(fields[2])
    return total


_PRESCAN_MIN_SOCKETS = 2000  # below this, the in-process scan (which can stop early) wins


class Prescan:
    """The /proc fd scan started in a child process, before the caller knows which
    inodes it wants (it reads sock_diag meanwhile): on 2 cores the two overlap, which
    threads cannot do (the sock_diag parser holds the GIL). ``finish(inodes)`` then
    shares the rest of the scan with the child and returns what socket_owners would.

    Every process is read (there is no early stop: the inodes are not known yet) by
    both processes together: fresh pids are taken from both ends of one shared list
    (the parent from the low end), and the fds of a large process are shared in
    _CHUNK slices through a datagram socketpair. Each side records, for every socket
    link it reads, the lowest pid holding it; the child hands its table over a pipe.
    Anything unexpected in the child (it died, said nothing, or said something
    malformed) and finish() falls back to the in-process scan: never a wrong answer.
    """

    def __init__(self, pids: list[int], proc: str) -> None:
        import mmap

        self.pids = pids
        self.proc = proc
        # lo: the next index the parent takes; hi: one past the last the child may take
        self.ends = mmap.mmap(-1, 16)
        self.ends[:16] = len(pids).to_bytes(8, "little").rjust(16, b"\0")  # lo=0, hi=len
        self.queue_in, self.queue_out = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        self.queue_in.setblocking(False)
        self.queue_out.setblocking(False)  # one open file for both processes: both non-blocking
        self.child: int | None = None
        self.result_fd = -1

    @classmethod
    def start(cls, proc: str = PROC) -> Prescan | None:
        """A running prescan, or None where it does not pay or cannot be done (few
        sockets, no fork, other threads running: forking those is not safe)."""
        if not hasattr(os, "fork") or _thread._count() != 0:
            return None
        count = socket_count(proc)
        if count is None or count < _PRESCAN_MIN_SOCKETS:
            return None
        try:
            pids = sorted(int(n) for n in os.listdir(proc) if n.isdigit())
            scan = cls(pids, proc)
        except OSError:
            return None
        try:
            r, w = os.pipe()
        except OSError:
            scan._close()
            return None
        child = -1
        code = 1
        try:
            child = os.fork()
            if child == 0:  # the child: scan, hand the table over, exit (no atexit, no flush)
                os.close(r)
                import marshal

                found: dict[bytes, int] = {}
                denied = scan._work(found, parent=False)  # (a set of pids)
                _write_all(w, marshal.dumps((found, denied)))
                code = 0
        except OSError:  # fork failed (process limit, sandbox): the in-process scan
            os.close(r)
            os.close(w)
            scan._close()
            return None
        finally:
            if child == 0:
                os._exit(code)
        os.close(w)
        scan.child, scan.result_fd = child, r
        return scan

    def finish(self, inodes: set[int]) -> OwnerScan:
        """Read the rest together with the child; socket_owners(inodes)'s answer."""
        found: dict[bytes, int] = {}
        denied = self._work(found, parent=True)
        theirs = self._collect_child()
        if theirs is None:
            return socket_owners(inodes, self.proc)
        their_found, their_denied = theirs  # (both sides may read the pid where they meet)
        owners: dict[int, int] = {}
        mine, other = found.get, their_found.get
        for ino in inodes:
            if not ino:
                continue
            link = b"socket:[%d]" % ino
            a, b = mine(link), other(link)
            if a is None or (b is not None and b < a):
                a = b
            if a is not None:
                owners[ino] = a
        return OwnerScan(owners, len(denied | their_denied), True)

    def abort(self) -> None:
        """Stop and reap the child if finish() did not run (the caller failed)."""
        if self.child is not None:
            try:
                os.kill(self.child, 9)
            except OSError:
                pass
            self._collect_child()

    def _collect_child(self) -> tuple[dict[bytes, int], set[int]] | None:
        chunks = []
        try:
            while True:
                data = os.read(self.result_fd, 1 << 20)
                if not data:
                    break
                chunks.append(data)
        except OSError:
            chunks = []
        finally:
            os.close(self.result_fd)
            self._close()
        child, self.child = self.child, None
        try:
            _pid, status = os.waitpid(child, 0)  # type: ignore[arg-type]
        except ChildProcessError:
            return None
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return None
        import marshal

        try:
            # (marshal: our own child's data, written by the line above in start())
            found, denied = marshal.loads(b"".join(chunks))  # noqa: S302
        except (ValueError, EOFError, TypeError):
            return None
        if type(found) is not dict or type(denied) is not set:
            return None
        return found, denied

    def _close(self) -> None:
        self.queue_in.close()
        self.queue_out.close()
        self.ends.close()

    def _take_pid(self, parent: bool) -> int | None:
        """The next fresh pid for this side, or None when the two ends have met. Both
        sides may take the same pid when they meet (harmless: read twice); none is
        skipped, since each only moves its own end past pids it has taken."""
        ends = self.ends
        lo = int.from_bytes(ends[0:8], "little")
        hi = int.from_bytes(ends[8:16], "little")
        if parent:
            if lo >= hi:
                return None
            ends[0:8] = (lo + 1).to_bytes(8, "little")
            return self.pids[lo]
        if hi - 1 < lo:
            return None
        ends[8:16] = (hi - 1).to_bytes(8, "little")
        return self.pids[hi - 1]

    def _work(self, found: dict[bytes, int], parent: bool) -> set[int]:
        """Read fresh pids and shared slices until both run out; returns the pids whose
        fds could not be read (EACCES/EPERM)."""
        denied: set[int] = set()
        readlink = os.readlink
        listdir = os.listdir
        get = found.get
        recv = self.queue_out.recv
        send = self.queue_in.send
        proc = self.proc
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        local: list[list[bytes]] = []  # slices of the current large process not shared yet
        pid = 0
        while True:
            fds: list[bytes] | None = None
            if local:
                fds = local.pop(0)
                while local:  # keep the queue topped up for the other side
                    try:
                        send(b"%d," % pid + b",".join(local[-1]))
                    except OSError:
                        break  # full (or too large): read it here
                    local.pop()
            else:
                try:
                    msg = recv(65536)
                except OSError:
                    next_pid = self._take_pid(parent)
                    if next_pid is None:
                        try:  # a last look: the other side may just have shared a slice
                            msg = recv(65536)
                        except OSError:
                            return denied
                    else:
                        pid = next_pid
                        msg = None
                if msg is not None:
                    head, _, rest = msg.partition(b",")
                    if not head.isdigit():
                        continue
                    pid, fds = int(head), rest.split(b",")
            path = f"{proc}/{pid}/fd".encode()
            try:
                dfd = os.open(path, flags)
            except PermissionError:
                denied.add(pid)
                local.clear()
                continue
            except OSError:
                local.clear()
                continue
            try:
                if fds is None:
                    try:
                        fds = listdir(path)
                    except PermissionError:
                        denied.add(pid)
                        continue
                    except OSError:
                        continue
                    if len(fds) > _CHUNK:
                        local = [fds[i : i + _CHUNK] for i in range(_CHUNK, len(fds), _CHUNK)]
                        fds = fds[:_CHUNK]
                for fd in fds:
                    try:
                        target = readlink(fd, dir_fd=dfd)
                    except PermissionError:
                        break  # the process's other fds would fail too (see _Scan)
                    except OSError:
                        continue
                    if target[:8] == b"socket:[" and pid < get(target, pid + 1):
                        found[target] = pid
            finally:
                os.close(dfd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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

        ids = re.findall(_HEX64, low)
        if ids:
            return ids[-1]
    return None


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
        parts = raw_cmd.split(b"\0")
        if parts and parts[-1] == b"":
            parts.pop()
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
        ),
        True,
    )
