"""``exposure-audit port PORT``: who holds this port, where it is reachable from, and the
nearest free ports to use instead. Local only: no UPnP, no scanning, no probing bind."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from exposure_audit.analysis.exposure import resolve
from exposure_audit.collectors.collect import CollectOptions, collect_facts
from exposure_audit.core.errors import EXIT_OK
from exposure_audit.core.model import SCOPE_RANK, Exposure, Facts, Listener
from exposure_audit.core.privilege import elevate_short
from exposure_audit.core.records import record
from exposure_audit.core.serialize import to_jsonable
from exposure_audit.core.wording import Wording

SUGGESTIONS = 3
EPHEMERAL_PATH = "/proc/sys/net/ipv4/ip_local_port_range"
DEFAULT_EPHEMERAL = (32768, 60999)

DESCRIPTION = """\
The question behind every "address already in use": which process holds PORT
(pid, user, command line), on which addresses, where it can be reached from
(loopback only, the LAN, a VPN, the public internet), and the nearest free
ports to use instead. Local only: it reads the kernel's socket table; it sends
no packet, scans nothing and binds nothing.
"""

EPILOG = """\
examples:
  exposure-audit port 8000          who holds 8000/tcp, and what to use instead
  exposure-audit port 5353 --udp    the same for UDP
  exposure-audit port 5432 --json   machine-readable

"Free" means no socket of that protocol listens on the port (checked against the
socket table). Ports below 1024 are suggested only for a port below 1024, and the
kernel's ephemeral range only for a port inside it. {elevate} to see processes
of other users.

exit codes:
  0  answered (whether the port is free or not)
  2  PORT is not a port number
"""


def port_number(text: str) -> int:
    """argparse type: a port from 1 to 65535, with a clear message otherwise."""
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port number (expected 1 to 65535)"
        ) from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range (ports are 1 to 65535)")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "port",
        help="who holds a port, where it is reachable from, and free ports nearby",
        description=DESCRIPTION,
        epilog=EPILOG.format(elevate=elevate_short().capitalize()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("port", type=port_number, metavar="PORT", help="port number (1-65535)")
    p.add_argument("--udp", action="store_true", help="UDP instead of TCP")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


@record
class PortReport:
    port: int
    protocol: str
    holders: tuple[Exposure, ...]  # worst first
    free_nearby: tuple[int, ...]
    other_protocol_in_use: bool  # the same number is held under the other protocol
    notes: tuple[str, ...] = ()
    # per holder: its widest scope in words (core.wording), "" when it reaches nowhere
    reached_from: tuple[str, ...] = ()


def ephemeral_range(path: str = EPHEMERAL_PATH) -> tuple[int, int]:
    try:
        with open(path, encoding="ascii") as fh:
            low, high = (int(v) for v in fh.read(64).split()[:2])
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL
    if 1 <= low <= high <= 65535:
        return low, high
    return DEFAULT_EPHEMERAL


def free_ports_near(
    port: int,
    used: set[int],
    count: int = SUGGESTIONS,
    ephemeral: tuple[int, int] = DEFAULT_EPHEMERAL,
) -> tuple[int, ...]:
    """The ``count`` ports nearest to ``port`` that nothing listens on: above first on a
    tie, never ``port`` itself, never a privileged port for an unprivileged one, never
    the ephemeral range for a port outside it (outgoing connections take those)."""
    low = 1 if port < 1024 else 1024
    lo_e, hi_e = ephemeral
    avoid_ephemeral = not lo_e <= port <= hi_e
    out: list[int] = []
    for distance in range(1, 65536):
        for candidate in (port + distance, port - distance):
            if not low <= candidate <= 65535 or candidate in used:
                continue
            if avoid_ephemeral and lo_e <= candidate <= hi_e:
                continue
            out.append(candidate)
            if len(out) == count:
                return tuple(out)
        if port + distance > 65535 and port - distance < low:
            break
    return tuple(out)


def port_report(facts: Facts, port: int, protocol: str, ephemeral: tuple[int, int]) -> PortReport:
    """Everything `port` says, from Facts alone (testable on fixture Facts)."""
    holders = tuple(
        e
        for e in resolve(facts).exposures
        if e.listener.protocol == protocol and e.listener.port == port
    )
    used = {lst.port for lst in facts.listeners if lst.protocol == protocol}
    other = "udp" if protocol == "tcp" else "tcp"
    other_in_use = any(lst.protocol == other and lst.port == port for lst in facts.listeners)
    notes = tuple(
        w.message + (f" ({w.hint})" if w.hint else "")
        for w in facts.warnings
        if w.collector == "listeners"
    )
    words = Wording.of(facts)
    return PortReport(
        reached_from=tuple(_widest_words(words, e) for e in holders),
        port=port,
        protocol=protocol,
        holders=holders,
        free_nearby=free_ports_near(port, used, ephemeral=ephemeral),
        other_protocol_in_use=other_in_use,
        notes=notes,
    )


def run(args: argparse.Namespace) -> int:
    protocol = "udp" if args.udp else "tcp"
    facts = collect_facts(CollectOptions(upnp=False, firewall=False, probe=False))
    report = port_report(facts, args.port, protocol, ephemeral_range())
    if args.json:
        sys.stdout.write(json.dumps(report_to_dict(report), indent=2, ensure_ascii=True) + "\n")
    else:
        sys.stdout.write(render_text(report))
    return EXIT_OK


# --------------------------------------------------------------------------- output


def report_to_dict(report: PortReport) -> dict[str, Any]:
    return {
        "port": report.port,
        "protocol": report.protocol,
        "in_use": bool(report.holders),
        "holders": [
            {
                "listener": to_jsonable(e.listener),
                "widest_scope": e.widest_scope,
                "scopes": list(e.scopes),
                "reach": to_jsonable(e.reach),
            }
            for e in report.holders
        ],
        "free_nearby": list(report.free_nearby),
        "other_protocol_in_use": report.other_protocol_in_use,
        "notes": list(report.notes),
    }


MAX_SHOWN_CHARS = 2000  # a command line can be 240 KB: shown cut, with a marker


def clean(text: str, limit: int | None = MAX_SHOWN_CHARS) -> str:
    """Text from process command lines is the process's own choice: show control
    characters (terminal escape sequences, bidi controls) and stray bytes as inert
    escapes, and a long one cut (core/termtext)."""
    from exposure_audit.core.termtext import terminal_text

    return terminal_text(text, limit)


def _endpoint(lst: Listener) -> str:
    addr = lst.address if lst.family == "ipv4" else f"[{lst.address}]"
    if lst.zone:
        addr = f"[{lst.address}%{lst.zone}]"
    return f"{addr}:{lst.port}"


def _who(lst: Listener) -> str:
    proc = lst.process
    if proc is None or proc.pid is None:
        owner = f"owner uid {lst.uid}" if lst.uid is not None else "owner unknown"
        return f"unknown process ({owner})"
    user = proc.username or (f"uid {proc.uid}" if proc.uid is not None else "user unknown")
    name = clean(proc.name or "?")
    extra = f", container {clean(proc.container_id[:12])}" if proc.container_id else ""
    return f"{name} (pid {proc.pid}, user {clean(user)}{extra})"


def _widest_words(words: Wording, exp: Exposure) -> str:
    up = [r for r in exp.reach if r.up]
    ifaces = [r.interface for r in up if r.scope == exp.widest_scope]
    return words.scope_words(exp.widest_scope, list(dict.fromkeys(ifaces))) if up else ""


def _reach_lines(exp: Exposure, widest_words: str) -> list[str]:
    if not exp.reach:
        return ["reachable from: nowhere right now (the address is on no interface)"]
    lines = []
    up = [r for r in exp.reach if r.up]
    if not up:
        lines.append("reachable from: nowhere right now (every interface it is on is down)")
    else:
        lines.append(f"reachable from: {clean(widest_words or exp.widest_scope)}")
        for r in sorted(up, key=lambda r: -SCOPE_RANK.get(r.scope, 0)):
            net = f" ({r.network})" if r.network and r.scope != "loopback" else ""
            lines.append(f"  {r.scope:<10} {clean(r.interface)} {r.address}{net}")
    for r in exp.reach:
        if not r.up:
            lines.append(f"  (interface down) {clean(r.interface)} {r.address}")
    return lines


def render_text(report: PortReport) -> str:
    label = f"{report.port}/{report.protocol}"
    out: list[str] = []
    if not report.holders:
        out.append(f"port {label} is free: nothing on this machine listens on it.")
    else:
        n = len(report.holders)
        out.append(f"port {label} is in use ({n} socket{'s' if n != 1 else ''}):")
        words = report.reached_from or ("",) * len(report.holders)
        for exp, widest_words in zip(report.holders, words, strict=True):
            lst = exp.listener
            v6 = ""
            if lst.family == "ipv6" and lst.address == "::":
                v6 = {True: " (IPv6 only)", False: " (IPv6 and IPv4)", None: ""}[lst.v6only]
            out.append("")
            out.append(f"  {_endpoint(lst)}{v6}  {_who(lst)}")
            if lst.process and lst.process.cmdline:
                out.append(f"    command: {clean(' '.join(lst.process.cmdline))}")
            out.extend(f"    note: {clean(n)}" for n in lst.notes)
            if lst.bound_interface:
                out.append(f"    bound to interface {clean(lst.bound_interface)}")
            out.extend(f"    {line}" for line in _reach_lines(exp, widest_words))
        out.append("")
    if report.other_protocol_in_use:
        other = "udp" if report.protocol == "tcp" else "tcp"
        out.append(
            f"note: {report.port}/{other} is in use (see: exposure-audit port "
            f"{report.port}{' --udp' if other == 'udp' else ''})"
        )
    if report.free_nearby:
        ports = ", ".join(str(p) for p in report.free_nearby)
        out.append(f"free {report.protocol} ports nearby: {ports}")
    if report.holders and any(e.listener.process is None for e in report.holders):
        out.extend(f"note: {clean(n)}" for n in report.notes)
    return "\n".join(out) + "\n"
