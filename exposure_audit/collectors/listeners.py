"""Listeners: every TCP socket in LISTEN and every bound, unconnected UDP socket.

On Linux the sockets come from sock_diag (``sockdiag.py``: v6only, owner uid, inode,
bound interface, link-local zone, no root needed) and the processes behind them from
/proc (``procinfo.py``: inode -> pid via /proc/PID/fd, then name/exe/cmdline/user and
container id). Where sock_diag is unavailable (other systems, or a kernel without the
diag module for a protocol) psutil's ``net_connections`` is the fallback for that
protocol, with v6only unknown and a warning.

Deduplication: one Listener per (protocol, family, address, port, inode). Each socket
is its own row, so an SO_REUSEPORT group of N sockets is N rows (each may belong to a
different process, and a report should be able to say so); a socket shared by several
processes (inherited across fork) is one row, attributed to the lowest pid holding it.
A socket seen twice in one dump (the kernel's dump is not a snapshot) is one row.

Privilege: without root, /proc/PID/fd of other users' processes cannot be read. Such a
listener is still reported, with the owner uid from sock_diag, ``process=None`` and a
note, and the result carries one warning saying how to get full attribution.
"""

from __future__ import annotations

import gc
import os
import sys
from _operator import itemgetter  # operator.py itself costs ~0.4 ms to import

from exposure_audit.collectors import procinfo, sockdiag
from exposure_audit.core import records
from exposure_audit.core.model import CollectorWarning, Listener, ProcessInfo
from exposure_audit.core.privilege import elevate, elevate_short
from exposure_audit.core.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

COLLECTOR = "listeners"
ROOT_HINT = f"{elevate()} for full process attribution"
BINDV6ONLY_PATH = "/proc/sys/net/ipv6/bindv6only"

_HIDDEN = "process not visible to this user"  # both notes below start with it
NOTE_NOT_VISIBLE = _HIDDEN + " (socket owner uid {uid}); " + elevate_short() + " to see it"
NOTE_NOT_VISIBLE_PSUTIL = _HIDDEN + "; " + elevate_short() + " to see it"
NOTE_NOT_FOUND = (
    "no process found holding this socket (it may have closed during the scan, "
    "belong to the kernel, or to a process in another PID namespace)"
)
NOTE_EXITED = "the process exited during the scan"
NOTE_BOUND_GONE = "bound to interface index {index}, which no longer exists"


@record
class ListenerResult:
    """What collect_listeners found, and what it could not see."""

    listeners: list[Listener]
    warnings: list[CollectorWarning] = field(default_factory=list)
    ipv6_bindv6only: bool | None = None  # net.ipv6.bindv6only; None = unknown


def read_bindv6only(path: str = BINDV6ONLY_PATH) -> bool | None:
    try:
        with open(path, "rb") as f:
            text = f.read(16).strip()
    except OSError:
        return None
    if text in (b"0", b"1"):
        return text == b"1"
    return None


def collect_listeners() -> ListenerResult:
    """Every listener on this host (this network namespace). Never raises for a partial
    failure: what could not be seen becomes a warning or a per-listener note."""
    # The collector allocates tens of thousands of small objects and no reference
    # cycles; pausing the cyclic GC meanwhile saves ~12% at 10,000 listeners.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _collect()
    finally:
        if was_enabled:
            gc.enable()


def _collect() -> ListenerResult:
    warnings: list[CollectorWarning] = []
    listeners: list[Listener] = []
    fallback: list[str] = []
    if sys.platform.startswith("linux"):
        listeners.extend(_from_kernel(warnings, fallback))
    else:
        fallback = ["tcp", "udp"]
        warnings.append(
            CollectorWarning(
                COLLECTOR,
                "listeners read through psutil (no sock_diag on this system): IPv6 "
                "v6-only flags are unknown",
            )
        )
    if fallback:
        listeners.extend(_from_psutil(tuple(fallback), warnings))
        listeners.sort(key=_sort_key)  # sock_diag rows alone come sorted already
    hidden = sum(1 for lst in listeners if lst.process is None and _is_hidden(lst))
    if hidden:  # one warning for all of them, whichever source they came from
        euid = os.geteuid() if hasattr(os, "geteuid") else None
        warnings.append(
            CollectorWarning(
                COLLECTOR,
                f"{hidden} listener(s) belong to processes this user (uid {euid}) cannot "
                "inspect: they are reported with their owner uid but no process",
                hint=ROOT_HINT,
            )
        )
    return ListenerResult(listeners=listeners, warnings=warnings, ipv6_bindv6only=read_bindv6only())


def _from_kernel(warnings: list[CollectorWarning], fallback: list[str]) -> list[Listener]:
    """Listeners from sock_diag; a protocol it cannot read is added to ``fallback``."""
    sockets: list[tuple[Any, ...]] = []  # DiagSocket fields
    for protocol in ("tcp", "udp"):
        try:
            res = sockdiag.dump_rows(protocol)
        except sockdiag.SockDiagError as exc:
            fallback.append(protocol)
            warnings.append(
                CollectorWarning(
                    COLLECTOR,
                    f"{protocol.upper()} listeners read through psutil instead of the "
                    f"kernel's sock_diag ({exc}): IPv6 v6-only flags and link-local "
                    "zones are unknown for them",
                )
            )
            continue
        if res.truncated:
            warnings.append(
                CollectorWarning(
                    COLLECTOR,
                    f"stopped reading {protocol.upper()} sockets after "
                    f"{len(res.sockets)} (the collector's bound): the list is incomplete",
                )
            )
        sockets.extend(res.sockets)
    return _from_sockdiag(sockets, warnings)


# Listener's fields in the order _from_sockdiag passes them (positionally: keywords
# make the constructor call twice as slow at 10,000 listeners). If the model's order
# ever differs, keywords are used instead (tests check that this stays True).
_LISTENER_FIELDS = (
    "protocol",
    "family",
    "address",
    "port",
    "v6only",
    "bound_interface",
    "zone",
    "uid",
    "inode",
    "process",
    "source",
    "notes",
)
POSITIONAL = tuple(f.name for f in records.fields(Listener)) == _LISTENER_FIELDS
# Report order: protocol, family, port, address, inode (a C-level key: no Python call
# per socket). The same order as _sort_key, which sorts the mixed/fallback case.
_DIAG_ORDER = itemgetter(0, 1, 3, 2, 5)


def _is_hidden(lst: Listener) -> bool:
    return bool(lst.notes) and lst.notes[0].startswith(_HIDDEN)


def _sort_key(lst: Listener) -> tuple[str, str, int, str, int]:
    return (lst.protocol, lst.family, lst.port, lst.address, lst.inode or 0)


def _from_sockdiag(
    sockets: list[tuple[Any, ...]],
    warnings: list[CollectorWarning],
) -> list[Listener]:
    """Listeners from sock_diag rows (DiagSocket's fields, plain tuples or DiagSocket),
    attributed to processes through /proc."""
    inodes = {s[5] for s in sockets}  # s[5]: inode
    scan = procinfo.socket_owners(inodes)
    owners = scan.owners
    euid = os.geteuid()
    # One ProcessInfo per pid, shared by all its sockets, with the notes they get.
    attribution: dict[int, tuple[ProcessInfo, tuple[str, ...]]] = {}
    for holder in sorted(set(owners.values())):
        info, alive = procinfo.process_info(holder)
        attribution[holder] = (info, () if alive else (NOTE_EXITED,))

    # One row per (protocol, family, address, port, inode): a socket that shows up
    # twice because the table changed during the dump is reported once. A nonzero
    # inode names one socket, so it alone is the key; when every inode is distinct and
    # nonzero (the usual case) there is nothing to skip.
    # This loop runs once per socket (10,000 at the benchmark's top size): tuple
    # unpacking, locals, positional arguments.
    dedupe = len(inodes) != len(sockets) or 0 in inodes
    seen: set[object] = set()
    out: list[Listener] = []
    append = out.append
    owner = owners.get
    make = Listener if POSITIONAL else _listener_by_keywords
    not_found = (NOTE_NOT_FOUND,)
    for s in sorted(sockets, key=_DIAG_ORDER):
        protocol, family, address, port, uid, inode, ifindex, ifname, zone, v6only, _st = s
        if dedupe:
            key = inode or (protocol, family, address, port)
            if key in seen:
                continue
            seen.add(key)
        pid = owner(inode)
        process: ProcessInfo | None
        if pid is not None:
            process, notes = attribution[pid]
        else:
            process = None
            if euid != 0 and (uid != euid or scan.denied):
                notes = (NOTE_NOT_VISIBLE.format(uid=uid),)
            else:
                notes = not_found
        if ifindex and ifname is None:
            notes = (*notes, NOTE_BOUND_GONE.format(index=ifindex))
        append(
            make(
                protocol,
                family,
                address,
                port,
                v6only,
                ifname,
                zone,
                uid,
                inode or None,
                process,
                "sock_diag",
                notes,
            )
        )
    if scan.denied and euid == 0:
        unattributed = sum(1 for lst in out if lst.process is None)
        if unattributed:
            warnings.append(
                CollectorWarning(
                    COLLECTOR,
                    f"could not read the open files of {scan.denied} process(es) even as "
                    f"root (a security module or container restriction?); {unattributed} "
                    "listener(s) have no process",
                )
            )
    return out


def _listener_by_keywords(*values: Any) -> Listener:
    return Listener(**dict(zip(_LISTENER_FIELDS, values, strict=True)))


# --------------------------------------------------------------------------- fallback


def _from_psutil(protocols: tuple[str, ...], warnings: list[CollectorWarning]) -> list[Listener]:
    """Listeners from psutil.net_connections (other systems, or no sock_diag)."""

    try:
        import psutil
    except ImportError:
        warnings.append(
            CollectorWarning(COLLECTOR, "psutil is not installed: no listeners could be read")
        )
        return []
    kind = protocols[0] if len(protocols) == 1 else "inet"
    try:
        conns = psutil.net_connections(kind=kind)
    except psutil.AccessDenied:
        warnings.append(
            CollectorWarning(
                COLLECTOR,
                "this system only lists sockets to root: no listeners could be read",
                hint=ROOT_HINT,
            )
        )
        return []
    except (OSError, psutil.Error) as exc:
        warnings.append(CollectorWarning(COLLECTOR, f"could not list sockets: {exc}"))
        return []
    # One conversion of psutil's connections, shared with the portable backend (which
    # also says what psutil cannot show: v6only, zone, bound interface).
    from exposure_audit.collectors.portable import listeners_from_connections

    infos: dict[int, ProcessInfo] = {}

    def process_of(pid: int) -> ProcessInfo:
        if pid not in infos:
            infos[pid] = _psutil_process(psutil, pid)
        return infos[pid]

    hidden = NOTE_NOT_VISIBLE_PSUTIL if os.name == "posix" and os.geteuid() != 0 else NOTE_NOT_FOUND
    wanted = [c for c in conns if _psutil_protocol(c) in protocols]
    return listeners_from_connections(wanted, process_of, (hidden,))


def _psutil_protocol(c: Any) -> str:
    import socket

    return {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp"}.get(c.type, "")


def _psutil_process(psutil: ModuleType, pid: int) -> ProcessInfo:
    """Name, exe, cmdline, user of ``pid`` through psutil; whatever can be read."""
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return ProcessInfo(pid=pid)
    values: dict[str, object] = {}
    with proc.oneshot():
        for attr in ("name", "exe", "cmdline", "username", "uids"):
            try:
                values[attr] = getattr(proc, attr)()
            except (psutil.Error, OSError):
                values[attr] = None
    uids = values.get("uids")
    cmdline = values.get("cmdline")
    return ProcessInfo(
        pid=pid,
        name=_text(values.get("name")),
        exe=_text(values.get("exe")) or None,
        cmdline=tuple(_text(a) or "" for a in cmdline) if isinstance(cmdline, list) else (),
        username=_text(values.get("username")),
        uid=getattr(uids, "real", None),
        container_id=None,
    )


def _text(value: object) -> str | None:
    """psutil returns str decoded with surrogateescape on POSIX: re-encode the raw bytes
    and decode them the way procinfo does (backslashreplace), so output is valid UTF-8."""
    if value is None:
        return None
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        text = raw.decode("utf-8", "backslashreplace")
    return text
