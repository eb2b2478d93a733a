"""``exposure-audit upnp``: the router's external IP and UPnP port mappings (like
``upnpc -l``), as text or JSON."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import TYPE_CHECKING

from exposure_audit.commands.options import env_no_upnp
from exposure_audit.core.addresses import split_zone
from exposure_audit.core.errors import EXIT_COLLECTION, EXIT_OK, UsageError
from exposure_audit.core.termtext import terminal_text

if TYPE_CHECKING:
    from exposure_audit.core.model import CollectorWarning, UpnpFacts

MAX_UPNP_TIMEOUT = 300.0

DESCRIPTION = """\
Find the router's Internet Gateway Device (SSDP discovery on the local network, or
--igd URL), and list its external IP address and every UPnP port mapping: which
port on the router forwards to which LAN address and port. A mapping makes a LAN
service reachable from outside the router, usually from the internet.
"""

EPILOG = """\
examples:
  exposure-audit upnp                                      discover the router
  exposure-audit upnp --igd http://192.168.1.1:5000/rootDesc.xml
  exposure-audit upnp --format json

SSDP discovery stops as soon as a gateway has answered (at most --upnp-timeout).
The router's answers are treated as hostile: descriptions are fetched only from
the address that answered, only from private/link-local/loopback addresses, with
size and time limits, and no redirects are followed.

UPnP off: with EXPOSURE_AUDIT_NO_UPNP=1 (or --no-upnp) this command sends nothing
at all, not even to an --igd URL, and exits 2 (as run and collect send nothing then).

exit codes:
  0  the mappings were listed, or no UPnP gateway answered (a normal outcome)
  2  usage error, or UPnP is turned off
  3  a gateway answered but could not be read
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "upnp",
        help="list the router's UPnP port mappings (like upnpc -l)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--igd",
        metavar="URL",
        help="the router's IGD description URL (skips SSDP discovery)",
    )
    p.add_argument(
        "--upnp-timeout",
        metavar="SECONDS",
        type=float,
        default=2.0,
        help="bound on UPnP discovery and on each request (default: 2)",
    )
    p.add_argument(
        "--no-upnp",
        action="store_true",
        help="send no UPnP traffic (this command then has nothing to do: exit 2)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    p.set_defaults(func=run)


def _default_gateways() -> frozenset[str]:
    """The default routes' gateways (netifaces), preferred among SSDP answers."""
    try:
        import netifaces

        found = set()
        default = netifaces.gateways().get("default", {})
        for family in (netifaces.AF_INET, netifaces.AF_INET6):
            entry = default.get(family) if isinstance(default, dict) else None
            if entry:
                found.add(split_zone(str(entry[0]))[0])
        return frozenset(found - {""})
    except Exception:  # a preference only: without it the first usable answer is used
        return frozenset()


def _local_addresses() -> frozenset[str]:
    """This host's addresses, to mark mappings to it. netifaces directly (<1 ms):
    the full interfaces collector costs ~80 ms and we need only the addresses."""
    try:
        import netifaces

        found = set()
        for name in netifaces.interfaces():
            for family in (netifaces.AF_INET, netifaces.AF_INET6):
                for entry in netifaces.ifaddresses(name).get(family, []):
                    found.add(split_zone(str(entry.get("addr", "")))[0])
        return frozenset(found - {""})
    except Exception:  # marking "this host" rows is a nicety, never a failure
        return frozenset()


def run(args: argparse.Namespace) -> int:
    timeout = args.upnp_timeout
    if not math.isfinite(timeout) or timeout <= 0 or timeout > MAX_UPNP_TIMEOUT:
        raise UsageError(
            f"--upnp-timeout must be a number of seconds above 0 and at most "
            f"{MAX_UPNP_TIMEOUT:g} (got {timeout:g})"
        )
    if args.no_upnp:
        raise UsageError("UPnP is disabled by --no-upnp: nothing to list")
    if env_no_upnp():
        # Absolute, as for run and collect: the switch exists for machines whose network
        # must not see UPnP traffic at all, an explicitly named router included.
        value = os.environ.get("EXPOSURE_AUDIT_NO_UPNP", "")
        raise UsageError(
            f"UPnP is disabled by EXPOSURE_AUDIT_NO_UPNP={value}: nothing sent; unset it "
            "to ask the router (--igd URL: that router only)"
        )
    from exposure_audit.collectors.upnp import UpnpOptions, collect_upnp

    local = _local_addresses()
    facts, warnings = collect_upnp(
        UpnpOptions(igd_url=args.igd, timeout=timeout), local, _default_gateways()
    )
    if args.format == "json":
        sys.stdout.write(render_json(facts, warnings))
    else:
        sys.stdout.write(render_text(facts, warnings, local))
    return EXIT_COLLECTION if facts.status == "error" else EXIT_OK


def render_json(facts: UpnpFacts, warnings: list[CollectorWarning]) -> str:
    from exposure_audit.core.serialize import to_jsonable

    doc = {"upnp": to_jsonable(facts), "warnings": to_jsonable(warnings)}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_text(facts: UpnpFacts, warnings: list[CollectorWarning], local: frozenset[str]) -> str:
    """The gateway, external IP and mapping table, like ``upnpc -l``. Every string
    from the device was made inert by the collector (no control characters)."""
    out: list[str] = []
    if facts.status == "not_found":
        out.append(f"No UPnP gateway found: {terminal_text(facts.message)}")
    elif facts.status == "error":
        out.append(f"UPnP gateway could not be read: {terminal_text(facts.message)}")
    else:
        name = ", ".join(
            x for x in (facts.friendly_name, facts.manufacturer, facts.model_name) if x
        )
        name = terminal_text(name, 200)
        out.append(
            f"Gateway      {terminal_text(facts.location, 300)}" + (f"  ({name})" if name else "")
        )
        out.append(
            f"Service      {terminal_text(facts.service_type, 200)} at "
            f"{terminal_text(facts.control_url, 300)}"
        )
        ext = facts.external_ip or "(none reported)"
        scope = f" ({facts.external_scope})" if facts.external_scope else ""
        out.append(f"External IP  {ext}{scope}")
        out.append(f"Summary      {terminal_text(facts.message)}")
        out.append("")
        if facts.mappings:
            rows = [("i", "proto", "external", "", "internal", "lease", "on", "remote", "desc")]
            for i, m in enumerate(facts.mappings):
                mark = " *" if m.internal_client in local else ""
                rows.append(
                    (
                        str(i),
                        m.protocol.upper(),
                        str(m.external_port),
                        "->",
                        f"{_hostport(m.internal_client, m.internal_port)}{mark}",
                        str(m.lease_duration) if m.lease_duration else "permanent",
                        "yes" if m.enabled else "no",
                        m.remote_host or "any",
                        repr(m.description),
                    )
                )
            widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
            for r in rows:
                cells = [r[c].ljust(widths[c]) for c in range(len(widths))]
                out.append((" ".join(cells) + " " + r[-1]).rstrip())
            if any(m.internal_client in local for m in facts.mappings):
                out.append("(* = an address of this host)")
        else:
            out.append("No port mappings.")
        if facts.truncated:
            out.append("The list is incomplete (see the warnings).")
    if warnings:
        out.append("")
        out.append("Warnings:")
        out.extend(f"  - {w.message}" + (f" ({w.hint})" if w.hint else "") for w in warnings)
    return "\n".join(out) + "\n"


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
