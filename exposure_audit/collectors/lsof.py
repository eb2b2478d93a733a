"""Listeners from lsof's field output (``-F``), for macOS without root.

``lsof -F`` prints one field per line (or, with the ``0`` field character, per NUL):
its first character names the field, the rest is the value. ``p`` starts a process set
(pid), followed by ``c`` (command), ``u`` (uid), ``L`` (login); ``f`` starts a file set
(descriptor), followed by ``t`` (IPv4 / IPv6), ``P`` (TCP / UDP), ``n`` (the name:
``127.0.0.1:631``, ``[::1]:631``, ``*:5353``, ``a:1->b:2`` for a connected socket) and
``T`` lines (``TST=LISTEN``). Columns are never read: a command with spaces, or a name
lsof truncates in its table, cannot shift a field.

macOS lsof prints a link-local address with its KAME-embedded scope (``fe80:4::1``,
the interface index in the second group); that is the address ``fe80::1`` with zone
index 4: the embedded index is cleared, and the zone left unknown (read the wide way).
"""

from __future__ import annotations

import ipaddress

from exposure_audit.collectors.portable import (
    NOTE_LSOF,
    NOTE_V6ONLY_UNKNOWN,
    NOTE_ZONE_UNKNOWN,
    unknown_fields,
)
from exposure_audit.core import records
from exposure_audit.core.addresses import parse_ip
from exposure_audit.core.model import Listener, ProcessInfo
from exposure_audit.core.records import field, record

# Two commands, not one: with ``-sTCP:LISTEN`` in the same command lsof (4.95, measured
# on Linux) drops the ``-iUDP`` files altogether.
_FIELDS = "pcuLftPTn0"
LSOF_TCP_ARGV = ["lsof", "-nP", "-iTCP", "-sTCP:LISTEN", "-F", _FIELDS]
LSOF_UDP_ARGV = ["lsof", "-nP", "-iUDP", "-F", _FIELDS]
LSOF_COMMANDS = (LSOF_TCP_ARGV, LSOF_UDP_ARGV)
SOURCE = "lsof"
MAX_FIELDS = 2_000_000  # a bound on a hostile or runaway output


@record
class LsofFile:
    """One file set of lsof's field output, with its process set's fields."""

    pid: int
    command: str | None = None
    uid: int | None = None
    login: str | None = None
    fd: str | None = None
    type: str | None = None  # "IPv4" | "IPv6"
    protocol: str | None = None  # "TCP" | "UDP"
    name: str | None = None
    tcp: dict[str, str] = field(default_factory=dict)  # T fields: {"ST": "LISTEN"}


def _fields(text: str) -> list[str]:
    if "\0" in text:  # -F...0: fields end in NUL, each set in NUL then NL
        return [f.lstrip("\n") for f in text.split("\0")]
    return text.splitlines()


def parse_fields(text: str) -> tuple[list[LsofFile], list[str]]:
    """Every file set in ``text``; plus problems (unparseable lines, a truncated read)."""
    files: list[LsofFile] = []
    problems: list[str] = []
    proc: dict[str, object] | None = None
    cur: dict[str, object] | None = None

    def flush() -> None:
        if proc is not None and cur is not None:
            files.append(LsofFile(**{**proc, **cur}))  # type: ignore[arg-type]  # typed per field above

    fields = _fields(text)
    if len(fields) > MAX_FIELDS:
        problems.append(f"output cut at {MAX_FIELDS} fields")
        fields = fields[:MAX_FIELDS]
    for raw in fields:
        if not raw:
            continue
        key, value = raw[0], raw[1:]
        if key == "p":
            flush()
            cur = None
            if not value.isdigit():
                problems.append(f"unreadable pid field {raw[:40]!r}")
                proc = None
                continue
            proc = {"pid": int(value)}
        elif proc is None:
            continue  # fields of a process set that could not be read
        elif cur is None and key in "cuL":
            if key == "c":
                proc["command"] = value
            elif key == "u":
                proc["uid"] = int(value) if value.isdigit() else None
            else:
                proc["login"] = value
        elif key == "f":
            flush()
            cur = {"fd": value, "tcp": {}}
        elif cur is None:
            continue
        elif key == "t":
            cur["type"] = value
        elif key == "P":
            cur["protocol"] = value
        elif key == "n":
            cur["name"] = value
        elif key == "T":
            k, sep, v = value.partition("=")
            if sep:
                tcp = cur["tcp"]
                assert isinstance(tcp, dict)
                tcp[k] = v
    flush()
    return files, problems


def split_name(name: str) -> tuple[str, int] | None:
    """``127.0.0.1:631`` / ``[::1]:631`` / ``*:5353`` -> (address or "*", port); None for
    a connected socket (``->``) or anything else."""
    if "->" in name or ":" not in name:
        return None
    host, _, port = name.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _unembed(ip: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    """KAME: a link-local address with the interface index in bytes 2-3 -> plain."""
    if ip.is_link_local:
        raw = bytearray(ip.packed)
        raw[2:4] = b"\0\0"
        return ipaddress.IPv6Address(bytes(raw))
    return ip


def listeners_from_lsof(text: str) -> tuple[list[Listener], list[str]]:
    """Listening TCP and bound, unconnected UDP sockets in lsof's field output."""
    files, problems = parse_fields(text)
    out: list[Listener] = []
    seen: set[tuple[str, str, str, int, int]] = set()
    for f in files:
        proto = (f.protocol or "").lower()
        if proto not in ("tcp", "udp") or f.name is None:
            continue
        if proto == "tcp" and f.tcp.get("ST") != "LISTEN":
            continue
        parts = split_name(f.name)
        if parts is None:
            continue
        host, port = parts
        family = {"IPv4": "ipv4", "IPv6": "ipv6"}.get(f.type or "")
        if host == "*":
            if family is None:
                problems.append(f"pid {f.pid}: wildcard {f.name!r} without a family")
                continue
            address = "0.0.0.0" if family == "ipv4" else "::"
        else:
            ip = parse_ip(host)
            if ip is None:
                problems.append(f"pid {f.pid}: unreadable address {f.name[:80]!r}")
                continue
            if ip.version == 6:
                ip = _unembed(ip)
            address = str(ip)
            family = family or ("ipv6" if ip.version == 6 else "ipv4")
        key = (proto, family, address, port, f.pid)
        if key in seen:
            continue
        seen.add(key)
        process = ProcessInfo(pid=f.pid, name=f.command, username=f.login, uid=f.uid)
        lst = Listener(
            protocol=proto,
            family=family,
            address=address,
            port=port,
            v6only=None,
            uid=f.uid,
            process=process,
            source=SOURCE,
        )
        notes = [NOTE_LSOF]
        unknown = unknown_fields(lst)
        if "v6only" in unknown:
            notes.append(NOTE_V6ONLY_UNKNOWN)
        if "zone" in unknown:
            notes.append(NOTE_ZONE_UNKNOWN)
        out.append(records.replace(lst, notes=tuple(notes)))
    return out, problems
