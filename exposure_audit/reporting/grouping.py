"""Listeners folded into groups, so thousands of sockets read as a few entries.

Listeners held by one process on one address and protocol, reachable from the same
places with the same firewall verdict, with the same findings (rule and severity) and
the same fixes but for the port they name, are one entry with their list of ports:
``node on tcp 0.0.0.0 (4,000 ports): 20000–23999``. Alike processes fold the same way
(:class:`ProcessKeys`: Docker's one docker-proxy per published port), and the entry
says how many and which: ``docker-proxy on tcp 0.0.0.0 (4,000 ports, 4,000 processes):
20000–23999  user root, pids 10000–13999``.
Only the terminal and HTML group; the JSON report keeps every listener and finding.
A group of one is the listener's block as it was, so a small host reads as before.
Every step is linear in the number of listeners: no per-listener work in a template.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from exposure_audit.core.wording import port_ranges, ports_text

# Port ranges named in a heading (terminal, a card) before "and N more ranges"; a
# card's own list of ports says more, up to PORT_RANGES_LISTED.
PORT_RANGES_SHOWN = 4
PORT_RANGES_LISTED = 64
# Likewise the pids of a group of alike processes (ProcessKeys).
PIDS_SHOWN = 3


def endpoint(address: str, port: object) -> str:
    """``0.0.0.0:8000``, ``[::]:8000``, ``0.0.0.0:80, 443``."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class ProcessKeys:
    """What the process behind a listener must share with another's to fold them: the
    process itself, or an alike one. Alike processes (Docker's one ``docker-proxy`` per
    published port, pre-fork workers with a port each, copies of one dev server) have the
    same executable, name, user and container, and command lines that name the ports
    each listens on and are equal once those are blanked (:func:`_without_port`). A
    command line that names none of its ports keeps its process apart: two svchost.exe
    with one command line are two services (RPC on 135, RDP on 3389), not two copies.
    Built over all the report's listeners (the ports of each process), once."""

    __slots__ = ("_keys", "_ports")

    def __init__(self, exposures: Iterable[Mapping[str, Any]]) -> None:
        self._ports: dict[int, list[int]] = {}
        for x in exposures:
            p = x["process"]
            if p is not None and p["pid"] is not None:
                self._ports.setdefault(p["pid"], []).append(x["port"])
        self._keys: dict[int, tuple[Any, tuple[Any, ...]]] = {}

    def __call__(self, x: Mapping[str, Any]) -> tuple[Any, ...]:
        p = x["process"]
        if p is None:  # unattributed: who owns the socket, and why it is not known
            return (None, x["uid"], tuple(x["notes"]), x["published_by"], x["container"])
        pid, cmdline = p["pid"], p["cmdline"]
        # one per listener of thousands: no new object but the key itself
        got = self._keys.get(pid) if pid is not None else None
        if got is None or (got[0] is not cmdline and got[0] != cmdline):
            ports = self._ports.get(pid) if pid is not None else None
            own = {str(port) for port in ports or (x["port"],)}
            blanked = tuple(_without_port(arg, own) for arg in _published_to(p, cmdline))
            alike = (p["name"], p["exe"], p["username"], p["uid"], p["container_id"],
                     blanked if blanked != tuple(cmdline) else pid)  # fmt: skip
            got = (cmdline, alike)
            if pid is not None:
                self._keys[pid] = got
        return (got[1], x["published_by"], x["container"])


# docker-proxy's flag for the container's port, which a range published onto other
# ports (-p 30000-33999:20000-23999) gives each process its own of, beside its own port
_CONTAINER_PORT_FLAGS = ("-container-port", "--container-port")


def _published_to(p: Mapping[str, Any], cmdline: Sequence[str]) -> Sequence[str]:
    """A docker-proxy's command line with the container port it forwards to blanked
    (its value only: the container's address still tells containers apart); any other
    command line as it is."""
    exe = p["exe"] or ""
    if p["name"] != "docker-proxy" and exe.rsplit("/", 1)[-1] != "docker-proxy":
        return cmdline
    out: list[str] = []
    for arg in cmdline:
        if out and out[-1] in _CONTAINER_PORT_FLAGS:
            out.append("\0")
            continue
        flag, eq, _value = arg.partition("=")
        out.append(f"{flag}=\0" if eq and flag in _CONTAINER_PORT_FLAGS else arg)
    return out


def _place_key(x: Mapping[str, Any]) -> tuple[Any, ...]:
    """Where it listens and who can reach it, as the reader sees it: the reach in words
    (each place, and whether the firewall filters it there) and the firewall verdicts
    (the diagram draws the first member's reach for all)."""
    blocked = x["blocked_by_firewall"]
    return (
        x["protocol"], x["family"], x["address"], x["v6only"], x["bound_interface"],
        x["zone"], tuple(x["scopes"]), tuple(x["reachable_from"]), x["firewall"],
        x["upnp_firewall"], blocked, x["firewall_evidence"] if blocked else None,
    )  # fmt: skip


def listener_key(
    x: Mapping[str, Any],
    findings: Sequence[Mapping[str, Any]],
    waived: Sequence[Mapping[str, Any]],
    fixes: Sequence[str],
    process_key: ProcessKeys,
) -> tuple[Any, ...]:
    """What a listener's block (the exposure, its active and waived findings, its fixes)
    must share with another to be folded into one entry."""
    if not findings and not waived:  # most listeners of a large host
        return (process_key(x), _place_key(x), x["severity"])
    return (
        process_key(x),
        _place_key(x),
        x["severity"],
        tuple(
            (f["rule_id"], f["severity"], f["title"], f["waiver_expired"], f["waiver_reason"])
            for f in findings
        ),
        tuple((f["rule_id"], f["title"], f["waiver_reason"]) for f in waived),
        tuple(_without_port(fix, (str(x["port"]),)) for fix in fixes),
    )


def _without_port(text: str, ports: Iterable[str]) -> str:
    """``text`` with its listener's port numbers (``ports``, as written) blanked: fixes
    or command lines that differ only in the port they name ("--port 8001", "--port
    8002") fold; other differences keep groups apart. A port counts as a whole number
    only (8000 is not blanked in 18000)."""
    for own in ports:
        if own not in text:
            continue
        parts = text.split(own)
        out = [parts[0]]
        for i, part in enumerate(parts[1:], 2):
            after = part[:1] if part or i == len(parts) else own[:1]
            if out[-1][-1:].isdigit() or after.isdigit():
                out[-1] += own + part  # part of a longer number: kept
            else:
                out.append(part)
        text = "\0".join(out)
    return text


def span(count: int, ports: int) -> str:
    """``4,000 ports``; ``2 sockets on port 80`` when sockets share a port."""
    if count == ports:
        return f"{count:,} ports"
    return f"{count:,} sockets on {ports:,} port{'s' if ports != 1 else ''}"


def pids_text(pids: Iterable[int], limit: int | None = PIDS_SHOWN) -> str:
    """``pids 1201–1204, 1310 and 2 more ranges``: the processes of a group, written as
    ports are (consecutive pids as a range), so each can be found (``ps -p 1201``)."""
    return f"pids {ports_text(port_ranges(pids), limit)}"


def _describe(group: dict[str, Any], members: list[Mapping[str, Any]]) -> None:
    """Add a group's size and ports, in words, to its first member's block or row."""
    x = members[0]
    runs = port_ranges(m["port"] for m in members)
    group["count"] = len(members)
    group["members"] = members
    group["port_count"] = sum(b - a + 1 for a, b in runs)
    group["ports"] = ports_text(runs, PORT_RANGES_SHOWN)
    group["ports_listed"] = ports_text(runs, PORT_RANGES_LISTED)
    group["span"] = span(len(members), group["port_count"])
    group["where"] = endpoint(x["address"], group["ports"])
    pids = list(
        dict.fromkeys(
            m["process"]["pid"] for m in members if m["process"] and m["process"]["pid"] is not None
        )
    )
    group["processes"] = len(pids)
    group["pids"] = pids_text(pids) if len(pids) > 1 else ""
    group["pids_listed"] = pids_text(pids, PORT_RANGES_LISTED) if len(pids) > 1 else ""
    # the count before the ports: a heading cut short still says how many
    host = endpoint(x["address"], "")[:-1]
    count = group["span"] + (f", {len(pids):,} processes" if len(pids) > 1 else "")
    group["where_count"] = f"{host} ({count}): {group['ports']}"
    group["where_listed"] = endpoint(x["address"], group["ports_listed"])


class Group:
    """Listener blocks folded into the first one's (build_view adds the others with
    :meth:`add` as it meets them, so the group stands where its first listener would).
    Its fixes are its first listener's; ``fix_port`` names that listener's port when
    another member's fixes differ (by the port each names: :func:`listener_key`)."""

    __slots__ = ("block", "fixes", "members")

    def __init__(self, block: dict[str, Any], x: Mapping[str, Any], fixes: Sequence[str]):
        self.block = block
        self.members = [x]
        self.fixes = fixes
        block["fix_port"] = None

    def add(self, x: Mapping[str, Any], fixes: Sequence[str]) -> None:
        self.members.append(x)
        if fixes != self.fixes:
            self.block["fix_port"] = self.members[0]["port"]

    def describe(self) -> None:
        _describe(self.block, self.members)


def group_exposures(exposures: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the listening-socket table: sockets of one process (or of alike ones:
    :class:`ProcessKeys`) on one address and protocol, with the same user and reach, in
    one row each (first one's place)."""
    rows: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    process_key = ProcessKeys(exposures)
    for x in exposures:
        key = (
            x["protocol"], x["address"], x["exposed"], tuple(x["scopes"]), x["uid"],
            process_key(x) if x["process"] else None,
        )  # fmt: skip
        rows.setdefault(key, []).append(x)
    out = []
    for members in rows.values():
        row: dict[str, Any] = {"exposure": members[0]}
        _describe(row, members)
        out.append(row)
    return out
