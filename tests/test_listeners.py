"""The listeners collector (sock_diag + /proc attribution) and the host collector,
against real sockets and real processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from netns import link, namespaces, requires_netns, unique

from exposure_audit.collectors import listeners as listeners_mod
from exposure_audit.collectors import procinfo, sockdiag
from exposure_audit.collectors.host import collect_host, os_release
from exposure_audit.collectors.listeners import ListenerResult, collect_listeners
from exposure_audit.core import records
from exposure_audit.core.model import Listener
from exposure_audit.core.serialize import to_jsonable

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and sock_diag (Linux)"
)

HOLD = textwrap.dedent(
    """
    import socket, sys
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    print(s.getsockname()[1], flush=True)
    sys.stdin.read()
    """
)


def _find(result: ListenerResult, port: int, protocol: str = "tcp") -> list[Listener]:
    return [x for x in result.listeners if x.port == port and x.protocol == protocol]


@linux_only
def test_own_listener_is_attributed_with_pid_name_cmdline_user() -> None:
    """A listener this test process holds is reported once, from sock_diag, with our
    pid, process name, executable, command line, user and uid."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        res = collect_listeners()
    finally:
        s.close()
    (lst,) = _find(res, port)
    assert lst.source == "sock_diag" and lst.address == "127.0.0.1" and lst.family == "ipv4"
    assert lst.inode and lst.uid == os.geteuid()
    proc = lst.process
    assert proc is not None and proc.pid == os.getpid()
    assert proc.cmdline and Path(proc.cmdline[0]).name.startswith("python")
    assert proc.exe and os.path.samefile(proc.exe, os.path.realpath(sys.executable))
    assert proc.uid == os.getuid() and proc.username
    assert proc.name and proc.name.startswith(("python", "pytest"))
    assert lst.notes == ()
    assert res.ipv6_bindv6only == (Path("/proc/sys/net/ipv6/bindv6only").read_text().strip() == "1")


@linux_only
def test_reuseport_group_is_one_row_per_socket_and_a_forked_socket_is_one_row() -> None:
    """SO_REUSEPORT: three sockets on one port are three rows (distinct inodes). A
    socket inherited by a child process is one row, attributed to the lowest pid."""
    group = []
    for _ in range(3):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", group[0].getsockname()[1] if group else 0))
        s.listen()
        group.append(s)
    shared = socket.socket()
    shared.bind(("127.0.0.1", 0))
    shared.listen()
    group_port, shared_port = group[0].getsockname()[1], shared.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=(shared.fileno(),),
    )
    try:
        res = collect_listeners()
    finally:
        child.stdin.close()  # type: ignore[union-attr]
        child.wait()
        for s in (*group, shared):
            s.close()
    rows = _find(res, group_port)
    assert len(rows) == 3 and len({r.inode for r in rows}) == 3
    (one,) = _find(res, shared_port)
    assert one.process is not None and one.process.pid == min(os.getpid(), child.pid)


@linux_only
def test_hostile_process_name_and_cmdline_come_through_as_valid_text() -> None:
    """A process whose argv[0] holds <script>, a newline, an ANSI escape and invalid
    UTF-8, and whose comm holds more of the same, is reported without error: invalid
    bytes become backslash escapes (\\xff), everything else is kept as it is, and the
    result serialises as UTF-8 JSON."""
    code = textwrap.dedent(
        """
        import socket, sys
        with open("/proc/self/comm", "wb") as f:
            f.write(b"<s>\\n\\x1b[31m\\xff")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        print(s.getsockname()[1], flush=True)
        sys.stdin.read()
        """
    )
    argv0 = b"<script>alert(1)</script>\n\x1b[31mred\xff\xfe"
    proc = subprocess.Popen(
        [argv0, "-c", code, "two\nlines", b"\xc3\x28"],
        executable=sys.executable,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        res = collect_listeners()
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait()
    (lst,) = _find(res, port)
    info = lst.process
    assert info is not None and info.pid == proc.pid
    assert info.name == "<s>\n\x1b[31m\\xff"
    assert info.cmdline[0] == "<script>alert(1)</script>\n\x1b[31mred\\xff\\xfe"
    assert info.cmdline[3:] == ("two\nlines", "\\xc3(")
    text = json.dumps(to_jsonable(lst), ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogates: always writable as UTF-8


@linux_only
def test_zombie_kernel_thread_and_vanished_pid_do_not_break_process_info() -> None:
    """process_info on a zombie (no exe, empty cmdline), on a kernel thread, and on a
    pid that no longer exists returns what is known, never raises."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{child.pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.01)
    try:
        zombie, alive = procinfo.process_info(child.pid)
        assert alive and zombie.pid == child.pid
        assert zombie.cmdline == () and zombie.exe is None
    finally:
        child.wait()
    gone, alive = procinfo.process_info(child.pid)  # reaped: the pid is free now
    assert not alive and gone.name is None
    kthreads = [
        int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(int(p.name)) == 2
    ]
    if kthreads:
        kt, alive = procinfo.process_info(kthreads[0])
        assert kt.exe is None and kt.cmdline == () and kt.name


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0::/system.slice/docker-" + "a" * 64 + ".scope\n", "a" * 64),
        ("12:cpu:/docker/" + "b" * 64 + "\n", "b" * 64),
        (
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-pod1.slice/"
            "cri-containerd-" + "c" * 64 + ".scope\n",
            "c" * 64,
        ),
        ("0::/kubepods/besteffort/pod1234/" + "d" * 64 + "\n", "d" * 64),
        ("0::/machine.slice/libpod-" + "e" * 64 + ".scope/container\n", "e" * 64),
        ("0::/system.slice/crio-" + "f" * 64 + ".scope\n", "f" * 64),
        ("0::/machine.slice/libpod-conmon-" + "1" * 64 + ".scope\n", None),  # the monitor
        ("0::/user.slice/user-1000.slice/session-2.scope\n", None),
        ("0::/\n", None),
    ],
)
def test_container_id_from_cgroup_lines(text: str, expected: str | None) -> None:
    assert procinfo.container_id(text) == expected


@linux_only
def test_listeners_are_built_positionally_and_equal_keyword_built_ones() -> None:
    """_from_sockdiag passes Listener's fields positionally (twice as fast as keywords
    at 10,000 listeners): the model's field order must be the one it assumes, and the
    result must be indistinguishable from a Listener built by keywords (equal, same
    hash, repr and JSON, still frozen), as must the keyword fallback's."""
    assert listeners_mod.POSITIONAL, "Listener's fields changed order: see _LISTENER_FIELDS"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        (fast,) = _find(collect_listeners(), s.getsockname()[1])
    finally:
        s.close()
    values = {f.name: getattr(fast, f.name) for f in records.fields(Listener)}
    normal = Listener(**values)
    fallback = listeners_mod._listener_by_keywords(
        *(values[name] for name in listeners_mod._LISTENER_FIELDS)
    )
    for other in (normal, fallback):
        assert fast == other and hash(fast) == hash(other) and repr(fast) == repr(other)
        assert to_jsonable(fast) == to_jsonable(other)
        assert list(fast.__dict__) == list(other.__dict__)  # JSON key order
    with pytest.raises(records.FrozenInstanceError):
        fast.port = 1  # type: ignore[misc]


@linux_only
def test_without_sock_diag_falls_back_to_psutil_with_a_warning(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """When sock_diag is unavailable (simulated: a kernel without it cannot be made
    here), listeners come from psutil: same socket, source "psutil", v6only unknown,
    process still attributed, and a warning saying what is missing."""

    def unavailable(protocol: str, *a: object, **k: object) -> object:
        raise sockdiag.SockDiagUnavailable("simulated: no sock_diag")

    monkeypatch.setattr(sockdiag, "dump_rows", unavailable)
    s = socket.socket(socket.AF_INET6)
    s.bind(("::1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        res = collect_listeners()
    finally:
        s.close()
    (lst,) = _find(res, port)
    assert lst.source == "psutil" and lst.v6only is None and lst.address == "::1"
    assert lst.process is not None and lst.process.pid == os.getpid()
    assert len(res.warnings) == 2 and all("psutil" in w.message for w in res.warnings)
    assert all(x.source == "psutil" for x in res.listeners)


@linux_only
def test_a_listener_whose_process_is_gone_is_kept_with_a_note() -> None:
    """A socket with no process holding it (the holder passed it on and exited is the
    same case for the collector as one that exits mid-scan): reported with its uid and
    a note, not dropped."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    port = int(holder.stdout.readline())  # type: ignore[union-attr]
    sockets = sockdiag.dump("tcp").sockets
    holder.stdin.close()  # type: ignore[union-attr]
    holder.wait()
    mine = [x for x in sockets if x.port == port]
    warnings: list = []
    (lst,) = listeners_mod._from_sockdiag(mine, warnings)
    assert lst.process is None and lst.uid == os.geteuid()
    assert lst.notes and "no process found" in lst.notes[0]


def test_host_info_is_complete_and_cheap() -> None:
    """collect_host: hostname, OS, kernel, privilege, uid, versions; fast (no
    subprocess)."""
    start = time.perf_counter()
    host = collect_host()
    assert time.perf_counter() - start < 0.05
    assert host.hostname == socket.gethostname()
    assert host.os == os.uname().sysname and host.kernel == os.uname().release
    assert host.privileged is (os.geteuid() == 0) and host.uid == os.geteuid()
    assert host.python == ".".join(map(str, sys.version_info[:3]))
    assert host.tool_version and host.os_release


def test_os_release_parsing_handles_quotes_escapes_and_missing_files(tmp_path: Path) -> None:
    f = tmp_path / "os-release"
    f.write_text('NAME="Debian"\n# PRETTY_NAME=nope\nPRETTY_NAME="Debian \\"12\\" (x)"\n')
    assert os_release((str(f),)) == 'Debian "12" (x)'
    f.write_text("NAME=Alpine\nVERSION='3.19'\n")
    assert os_release((str(f),)) == "Alpine 3.19"
    assert os_release((str(tmp_path / "missing"),)) is None
    f.write_bytes(b"PRETTY_NAME=\xff\xfe\n")
    assert os_release((str(f),)) == "\ufffd\ufffd"


# --------------------------------------------------------------------------- vs ss

SS_PROCS = textwrap.dedent(
    """
    import os, socket, sys
    dev = sys.argv[1]
    held = []
    def mk(fam, kind, addr, v6only=None, device=None, reuse=False):
        s = socket.socket(fam, kind)
        if v6only is not None:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
        if device:
            s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_BINDTODEVICE", 25), device.encode())
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(addr)
        if kind == socket.SOCK_STREAM:
            s.listen()
        held.append(s)
    T, U, A4, A6 = socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.AF_INET, socket.AF_INET6
    idx = socket.if_nametoindex(dev)
    mk(A6, T, ("::", 8002), v6only=0)
    mk(A6, T, ("::", 8003), v6only=1)
    mk(A6, U, ("::", 8004), v6only=0)
    mk(A4, T, ("0.0.0.0", 8005))
    mk(A4, T, ("127.0.0.1", 8006))
    mk(A6, T, ("::1", 8007))
    mk(A6, T, ("fe80::1", 8008, 0, idx))
    mk(A6, U, ("fe80::1", 8009, 0, idx))
    mk(A4, T, ("0.0.0.0", 8010), device=dev)
    mk(A4, U, ("10.231.0.1", 8011))
    mk(A4, T, ("127.0.0.1", 8012), reuse=True)
    mk(A4, T, ("127.0.0.1", 8012), reuse=True)
    if os.fork() == 0:  # the child shares every socket above
        sys.stdin.read()
        os._exit(0)
    print("ready", flush=True)
    sys.stdin.read()
    """
)

COLLECT_JSON = textwrap.dedent(
    """
    import json
    from exposure_audit.collectors.listeners import collect_listeners
    from exposure_audit.core.serialize import to_jsonable
    print(json.dumps(to_jsonable(collect_listeners().listeners)))
    """
)


def _ss_local(lst: dict) -> str:  # type: ignore[type-arg]
    """A listener's local address the way `ss -n` prints it ("*" = dual-stack [::])."""
    dev = f"%{lst['bound_interface']}" if lst["bound_interface"] else ""
    if lst["family"] == "ipv4":
        return f"{lst['address']}{dev}:{lst['port']}"
    if lst["address"] == "::" and lst["v6only"] is False and not dev:
        return f"*:{lst['port']}"
    return f"[{lst['address']}]{dev}:{lst['port']}"


@requires_netns
@pytest.mark.skipif(shutil.which("ss") is None, reason="needs iproute2's ss")
def test_agrees_with_ss_on_every_socket_address_v6only_zone_and_process() -> None:
    """Differential test against iproute2's `ss -tulnp` inside a namespace: the same
    sockets, rendered the way ss renders them (which shows dual-stack [::] as "*" and
    a bound device or zone as "%dev"), and our pid is the lowest of the pids ss lists
    for the socket (a forked child shares them all)."""
    with namespaces(unique("eaL-ss"), unique("eaL-ssp")) as (ns, peer):
        link(ns, "eaLs0", peer, "eaLs1")
        ns.ip("addr", "add", "fe80::1/64", "dev", "eaLs0", "nodad")
        ns.ip("addr", "add", "10.231.0.1/24", "dev", "eaLs0")
        proc = ns.popen(
            [sys.executable, "-c", SS_PROCS, "eaLs0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        ss = ns.run(["ss", "-Htulnp"], check=True).stdout
        ours = json.loads(ns.run([sys.executable, "-c", COLLECT_JSON], check=True).stdout)
    theirs: dict[tuple[str, str], list[set[int]]] = {}
    for line in ss.splitlines():
        fields = line.split()
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        theirs.setdefault((fields[0], fields[4]), []).append(pids)
    mine: dict[tuple[str, str], list[int]] = {}
    for lst in ours:
        mine.setdefault((lst["protocol"], _ss_local(lst)), []).append(lst["process"]["pid"])
    assert sorted(mine) == sorted(theirs), (ss, ours)
    for key, pids in mine.items():
        expected = sorted(min(p) for p in theirs[key])
        assert sorted(pids) == expected, key
    assert ("tcp", "*:8002") in mine and ("tcp", "[::]:8003") in mine
    assert ("tcp", "[fe80::1]%eaLs0:8008") in mine and ("tcp", "0.0.0.0%eaLs0:8010") in mine
    assert len(mine[("tcp", "127.0.0.1:8012")]) == 2  # SO_REUSEPORT: one row per socket


def test_collector_restores_the_garbage_collector_state() -> None:
    """collect_listeners pauses the cyclic GC for speed and puts it back as it was."""
    import gc

    assert gc.isenabled()
    collect_listeners()
    assert gc.isenabled()
    gc.disable()
    try:
        collect_listeners()
        assert not gc.isenabled()
    finally:
        gc.enable()


@linux_only
def test_threaded_fd_scan_finds_every_owner_and_keeps_the_lowest_pid(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The two-thread /proc scan (normally used from a few hundred fds up) forced on
    with small work items: every one of 300 sockets is attributed, each to the process that holds
    it, and sockets shared with a child process go to the lower pid, as single-threaded."""
    monkeypatch.setattr(procinfo, "_THREAD_THRESHOLD", 1)
    monkeypatch.setattr(procinfo, "_CHUNK", 7)
    started = []
    real_start = procinfo._Scan._start_helper

    def start_helper(self: procinfo._Scan) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(procinfo._Scan, "_start_helper", start_helper)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys\n"
            "h = [socket.socket() for _ in range(200)]\n"
            "[s.bind(('127.0.0.1', 0)) or s.listen() for s in h]\n"
            "print(' '.join(str(s.getsockname()[1]) for s in h), flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    mine = [socket.socket() for _ in range(100)]
    for s in mine:
        s.bind(("127.0.0.1", 0))
        s.listen()
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=[s.fileno() for s in mine[:10]],
    )
    try:
        their_ports = {int(p) for p in holder.stdout.readline().split()}  # type: ignore[union-attr]
        my_ports = {s.getsockname()[1] for s in mine}
        shared_ports = {s.getsockname()[1] for s in mine[:10]}
        socks = [s for s in sockdiag.dump("tcp").sockets if s.port in their_ports | my_ports]
        scan = procinfo.socket_owners({s.inode for s in socks})
    finally:
        for p in (holder, child):
            p.stdin.close()  # type: ignore[union-attr]
            p.wait()
        for s in mine:
            s.close()
    assert len(socks) == 300
    assert len(started) == 1 and started[0].helper_done is not None  # two threads did run
    assert len(started[0].found) == 2
    for s in socks:
        if s.port in their_ports:
            expected = holder.pid
        elif s.port in shared_ports:
            expected = min(os.getpid(), child.pid)
        else:
            expected = os.getpid()
        assert scan.owners[s.inode] == expected, s


@linux_only
@pytest.mark.allow_skip_in_ci(reason="needs the pid counter not to wrap mid-test")
def test_fd_scan_stops_once_every_socket_has_its_owner() -> None:
    """socket_owners reads processes in ascending pid order and stops once every inode
    has an owner: a socket of ours is found, and a process with a higher pid that
    holds nothing of interest is never needed (the scan says it is not complete)."""
    later = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        if later.pid < os.getpid():
            pytest.skip("pids wrapped around: the later process has a lower pid")
        ino = os.fstat(s.fileno()).st_ino
        scan = procinfo.socket_owners({ino})
        assert scan.owners == {ino: os.getpid()} and not scan.complete
        missing = procinfo.socket_owners({ino, 1 << 40})  # no such socket: read everything
        assert missing.owners == {ino: os.getpid()} and missing.complete
    finally:
        s.close()
        later.stdin.close()  # type: ignore[union-attr]
        later.wait()


@linux_only
def test_a_socket_seen_twice_in_one_dump_is_one_row() -> None:
    """The kernel's dump is not a snapshot: a socket can come twice. One row per inode
    (and per address for sockets without one), in report order, whether or not the
    rows have duplicates (the collector skips the check when every inode is distinct)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        port = s.getsockname()[1]
        (row,) = [r for r in sockdiag.dump_rows("tcp").sockets if r[3] == port]
        no_inode = (*row[:3], port + 1 if port < 65535 else port - 1, row[4], 0, *row[6:])
        twice = listeners_mod._from_sockdiag([row, no_inode, row, no_inode], [])
        once = listeners_mod._from_sockdiag([row, no_inode], [])
    finally:
        s.close()
    assert twice == once and len(once) == 2
    mine = next(x for x in once if x.inode)
    assert mine.port == port and mine.process is not None and mine.process.pid == os.getpid()
    other = next(x for x in once if not x.inode)
    assert other.inode is None and other.process is None and other.notes
