"""The portable collector backend: psutil and netifaces, on any OS.

Listeners come from ``psutil.net_connections``. On macOS that needs root; without it
each of this user's own processes is asked for its connections, and the stock
``lsof -nP -iTCP -sTCP:LISTEN`` and ``lsof -nP -iUDP`` field output
(lsof.py) lists what lsof can see. Interfaces
and gateways come from netifaces, link state from ``psutil.net_if_stats``.

What psutil cannot see is declared, not guessed:

- a socket's v6-only flag (``Listener.v6only`` None): a ``::`` listener is read as
  dual-stack (it may also reach every IPv4 address);
- a link-local bind's zone (``zone`` None): it is read as reachable on every interface
  holding that address;
- a socket's bound interface (SO_BINDTODEVICE, IP_BOUND_IF): every listener is read as
  reachable on every interface holding its address.

Each of these is the wider reading (exposure.py already takes it for a None), so a
verdict from this backend is never narrower than the kernel's truth; the listener's
notes and one collector warning say so. ``unknown_fields`` lists them per listener.
"""

from __future__ import annotations

import os
import socket

from exposure_audit.collectors.interfaces import (
    InterfaceResult,
    _interface,
    _Link,
    _netifaces_gateways,
    display_name,
)
from exposure_audit.collectors.listeners import (
    NOTE_NOT_FOUND,
    NOTE_NOT_VISIBLE_PSUTIL,
    ROOT_HINT,
    ListenerResult,
    _psutil_process,
    _sort_key,
)
from exposure_audit.core.addresses import parse_ip, split_zone
from exposure_audit.core.model import CollectorWarning, Gateway, Listener, ProcessInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import ModuleType
    from typing import Any

COLLECTOR = "listeners"
SOURCE_PSUTIL = "psutil"
SOURCE_LSOF = "lsof"

NOTE_V6ONLY_UNKNOWN = (
    "v6-only flag not visible to the portable backend: read as dual-stack (it may also "
    "reach every IPv4 address)"
)
NOTE_ZONE_UNKNOWN = (
    "link-local zone not visible to the portable backend: read as reachable on every "
    "interface holding this address"
)
WARN_UNKNOWN_FIELDS = (
    "portable backend (psutil): a socket's bound interface (SO_BINDTODEVICE, IP_BOUND_IF), "
    "IPv6 v6-only flag and link-local zone are not visible; each is read the wide way (every "
    "interface holding the address; dual-stack), so reach may be overstated, never understated"
)
NOTE_LSOF = "seen by lsof only (its process is not this user's): owner from lsof"


def unknown_fields(lst: Listener) -> tuple[str, ...]:
    """The fields of ``lst`` its collector could not read (read the wide way by
    exposure resolution). Empty for the native backend (sock_diag)."""
    if lst.source not in (SOURCE_PSUTIL, SOURCE_LSOF):
        return ()
    out = ["bound_interface"]
    ip = parse_ip(lst.address)
    if lst.family == "ipv6" and lst.v6only is None and ip is not None and ip.is_unspecified:
        out.append("v6only")
    if ip is not None and ip.version == 6 and ip.is_link_local and lst.zone is None:
        out.append("zone")
    return tuple(out)


def _notes_for(protocol: str, family: str, address: str, zone: str | None) -> tuple[str, ...]:
    probe = Listener(
        protocol=protocol, family=family, address=address, port=0, zone=zone, source="psutil"
    )
    unknown = unknown_fields(probe)
    notes: list[str] = []
    if "v6only" in unknown:
        notes.append(NOTE_V6ONLY_UNKNOWN)
    if "zone" in unknown:
        notes.append(NOTE_ZONE_UNKNOWN)
    return tuple(notes)


# --------------------------------------------------------------------------- listeners


def listeners_from_connections(
    conns: Iterable[Any],
    process_of: Any,
    hidden_note: tuple[str, ...],
) -> list[Listener]:
    """Listener rows from psutil connection tuples (``sconn``/``pconn``-shaped: family,
    type, laddr, raddr, status, pid). ``process_of(pid)`` gives the ProcessInfo.

    One row per (protocol, family, address, port, pid): psutil names no socket inode on
    every OS, so two sockets of one process on one address and port (SO_REUSEPORT) are
    one row here."""
    import psutil

    seen: set[tuple[str, str, str, int, int | None]] = set()
    out: list[Listener] = []
    for c in conns:
        if c.type == socket.SOCK_STREAM:
            protocol = "tcp"
            if c.status != psutil.CONN_LISTEN:
                continue
        elif c.type == socket.SOCK_DGRAM:
            protocol = "udp"
            if c.raddr:
                continue  # connected: talks to its peer only
        else:
            continue
        if not c.laddr or c.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        family = "ipv6" if c.family == socket.AF_INET6 else "ipv4"
        address, zone = split_zone(str(c.laddr[0]))
        ip = parse_ip(address)
        if ip is None:
            continue
        if family == "ipv6" and ip.version == 6:
            address = str(ip)
        port = int(c.laddr[1])
        pid = getattr(c, "pid", None)
        key = (protocol, family, address, port, pid)
        if key in seen:
            continue
        seen.add(key)
        process: ProcessInfo | None = process_of(pid) if pid is not None else None
        notes = () if process is not None else hidden_note
        out.append(
            Listener(
                protocol=protocol,
                family=family,
                address=address,
                port=port,
                v6only=None,
                zone=zone,
                uid=process.uid if process else None,
                process=process,
                source=SOURCE_PSUTIL,
                notes=(*notes, *_notes_for(protocol, family, address, zone)),
            )
        )
    return out


def collect_listeners() -> ListenerResult:
    """Every listener psutil (and, on macOS without root, lsof) can see."""
    warnings: list[CollectorWarning] = []
    try:
        import psutil
    except ImportError:
        warnings.append(
            CollectorWarning(COLLECTOR, "psutil is not installed: no listeners could be read")
        )
        return ListenerResult(listeners=[], warnings=warnings)
    infos: dict[int, ProcessInfo] = {}

    def process_of(pid: int) -> ProcessInfo:
        if pid not in infos:
            infos[pid] = _psutil_process(psutil, pid)
        return infos[pid]

    is_posix_user = os.name == "posix" and os.geteuid() != 0
    hidden = (NOTE_NOT_VISIBLE_PSUTIL,) if is_posix_user else (NOTE_NOT_FOUND,)
    listeners: list[Listener]
    try:
        conns = psutil.net_connections(kind="inet")
        listeners = listeners_from_connections(conns, process_of, hidden)
    except psutil.AccessDenied:
        # macOS (and some BSDs) list every socket to root only.
        listeners = _per_process(psutil, process_of, hidden)
        listeners = _merge(listeners, _lsof_listeners(warnings))
        warnings.append(
            CollectorWarning(
                COLLECTOR,
                "this system lists every socket to root only: read this user's own "
                "processes' sockets, and what lsof shows of the others",
                hint=ROOT_HINT,
            )
        )
    except (OSError, psutil.Error) as exc:
        warnings.append(CollectorWarning(COLLECTOR, f"could not list sockets: {exc}"))
        listeners = []
    listeners.sort(key=_sort_key)
    if listeners:
        warnings.append(CollectorWarning(COLLECTOR, WARN_UNKNOWN_FIELDS))
    hidden_count = sum(1 for lst in listeners if lst.process is None)
    if hidden_count and is_posix_user:
        warnings.append(
            CollectorWarning(
                COLLECTOR,
                f"{hidden_count} listener(s) belong to processes this user cannot inspect",
                hint=ROOT_HINT,
            )
        )
    return ListenerResult(listeners=listeners, warnings=warnings, ipv6_bindv6only=None)


def _per_process(psutil: ModuleType, process_of: Any, hidden: tuple[str, ...]) -> list[Listener]:
    """Each process's own connections, for the processes this user may inspect."""
    from collections import namedtuple

    Row = namedtuple("Row", "fd family type laddr raddr status pid")
    rows: list[Any] = []
    for proc in psutil.process_iter():
        try:
            method = getattr(proc, "net_connections", None) or proc.connections
            for c in method(kind="inet"):
                rows.append(Row(c.fd, c.family, c.type, c.laddr, c.raddr, c.status, proc.pid))
        except (psutil.Error, OSError):
            continue
    return listeners_from_connections(rows, process_of, hidden)


def _lsof_listeners(warnings: list[CollectorWarning]) -> list[Listener]:
    from exposure_audit.collectors.lsof import LSOF_COMMANDS, listeners_from_lsof

    found: list[Listener] = []
    for argv in LSOF_COMMANDS:
        text, error = run_stock(argv)
        if text is None:
            warnings.append(CollectorWarning(COLLECTOR, f"lsof could not list listeners: {error}"))
            continue
        rows, problems = listeners_from_lsof(text)
        found.extend(rows)
        warnings.extend(CollectorWarning(COLLECTOR, f"lsof: {p}") for p in problems)
    return found


def _merge(own: list[Listener], lsof: list[Listener]) -> list[Listener]:
    """psutil's rows win (their process is fully read); lsof adds the rest."""
    have = {
        (x.protocol, x.family, x.address, x.port, x.process.pid if x.process else None) for x in own
    }
    out = list(own)
    for lst in lsof:
        key = (
            lst.protocol,
            lst.family,
            lst.address,
            lst.port,
            lst.process.pid if lst.process else None,
        )
        if key not in have:
            have.add(key)
            out.append(lst)
    return out


def run_stock(argv: list[str], timeout: float = 5.0) -> tuple[str | None, str]:
    """A stock OS command's standard output (C locale), or (None, why not)."""
    import subprocess

    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        res = subprocess.run(  # fixed argv, no shell
            argv,
            capture_output=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        return None, f"{argv[0]} not found"
    except subprocess.TimeoutExpired:
        return None, f"{argv[0]} timed out after {timeout:g}s"
    except OSError as exc:
        return None, f"{argv[0]}: {exc}"
    out = res.stdout[: 16 * 1024 * 1024].decode("utf-8", "backslashreplace")
    if res.returncode != 0 and not out.strip():
        err = res.stderr.decode("utf-8", "backslashreplace").strip().splitlines()
        return None, f"{argv[0]} failed: {err[0] if err else f'exit {res.returncode}'}"
    return out, ""


# --------------------------------------------------------------------------- interfaces


class _NoFallback:
    """The native backend reads addresses from rtnetlink when netifaces fails; this one
    has nothing else to ask."""

    def get(self, index: int | None) -> dict[int, list[dict[str, str]]]:
        return {}


def match_names(
    netifaces_addrs: dict[str, set[str]], psutil_addrs: dict[str, set[str]]
) -> dict[str, str]:
    """netifaces name -> psutil name, for interfaces whose names differ (Windows:
    netifaces says ``{GUID}``, psutil the friendly name), matched by a shared address."""
    out: dict[str, str] = {}
    for ni_name, addrs in netifaces_addrs.items():
        if ni_name in psutil_addrs:
            out[ni_name] = ni_name
            continue
        for ps_name, ps in psutil_addrs.items():
            if addrs and addrs & ps:
                out[ni_name] = ps_name
                break
    return out


def collect_interfaces() -> InterfaceResult:
    """Interfaces from netifaces, link state from psutil, gateways from netifaces."""
    warnings: list[CollectorWarning] = []
    try:
        import netifaces
    except ImportError as exc:
        warnings.append(CollectorWarning("interfaces", f"netifaces is not importable ({exc})"))
        return InterfaceResult([], [], warnings)
    try:
        import psutil

        stats = psutil.net_if_stats()
        ps_addrs = {
            name: {
                split_zone(a.address)[0]
                for a in addrs
                if a.family in (socket.AF_INET, socket.AF_INET6)
            }
            for name, addrs in psutil.net_if_addrs().items()
        }
    except Exception as exc:  # psutil raises its own types per platform
        warnings.append(CollectorWarning("interfaces", f"cannot read link state: {exc}"))
        stats, ps_addrs = {}, {}
    try:
        names = [str(n) for n in netifaces.interfaces()]
    except Exception as exc:  # a C extension: anything
        warnings.append(
            CollectorWarning("interfaces", f"netifaces could not list interfaces: {exc}")
        )
        names = []
    ni_addrs: dict[str, set[str]] = {}
    for name in names:
        try:
            fams = netifaces.ifaddresses(name)
        except Exception:  # vanished, or a C extension's surprise
            fams = {}
        ni_addrs[name] = {
            split_zone(str(e.get("addr", "")))[0]
            for af in (socket.AF_INET, socket.AF_INET6)
            for e in fams.get(af, ())
        }
    friendly = match_names(ni_addrs, ps_addrs)
    index_of: dict[str, int] = {}
    try:
        index_of = {n: i for i, n in socket.if_nameindex()}
    except (OSError, AttributeError):
        pass
    out = []
    fallback = _NoFallback()
    for name in names:
        ps_name = friendly.get(name, name)
        st = stats.get(ps_name)
        loopback = bool(ni_addrs.get(name)) and all(
            (ip := parse_ip(a)) is not None and ip.is_loopback for a in ni_addrs[name]
        )
        link = None
        if st is not None:
            link = _Link(index_of.get(name), bool(st.isup), loopback, None, None)
        iface = _interface(netifaces, name, link, fallback, warnings)
        if iface is None:
            continue
        if ps_name != name:  # Windows: the friendly name is what a user knows
            from exposure_audit.core import records

            iface = records.replace(iface, name=display_name(ps_name))
        out.append(iface)
    out.sort(key=lambda i: (i.index if i.index is not None else 1 << 31, i.name))
    found = _netifaces_gateways(netifaces, warnings)
    gateways = [
        Gateway(family=fam, address=addr, interface=display_name(friendly.get(ifn, ifn)), default=d)
        for (fam, addr, ifn), d in found.items()
    ]
    gateways.sort(key=lambda g: (g.family, not g.default, g.interface, g.address))
    if not any(g.family == "ipv4" and g.default for g in gateways):
        warnings.append(CollectorWarning("interfaces", "no default IPv4 gateway found"))
    return InterfaceResult(out, gateways, warnings)
