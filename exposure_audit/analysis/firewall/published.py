"""Container port publishing: which listener is a container runtime's port proxy, which
DNAT rule publishes a (listener's) port, and the exposures of ports published with no
host socket at all. Pure functions over ``Facts``; nothing here touches the OS."""

from __future__ import annotations

import ipaddress

from exposure_audit.analysis.firewall.evaluate import OPEN, glob_in
from exposure_audit.core.model import (
    INTERFACE_KINDS,
    SCOPE_RANK,
    Exposure,
    Facts,
    FirewallFacts,
    Listener,
    PublishedPort,
    Reach,
    widest,
)


def publishes(pp: PublishedPort, protocol: str, port: int, address: str, interface: str) -> bool:
    if pp.protocol != protocol:
        return False
    if not pp.host_port <= port <= (pp.host_port_end or pp.host_port):
        return False
    if pp.excluded_interface and glob_in(interface, (pp.excluded_interface,)):
        return False
    if pp.host_address and pp.host_address not in ("0.0.0.0", "::"):
        return pp.host_address == address
    try:
        fam = "ipv4" if ipaddress.ip_address(address).version == 4 else "ipv6"
    except ValueError:
        return False
    return fam == pp.family


def proxy_info(exp: Exposure) -> tuple[str | None, dict[str, str]]:
    """(runtime, cmdline options) when the listener is a container port proxy."""
    proc = exp.listener.process
    if proc is None:
        return None, {}
    name = (proc.name or "").lower()
    exe = (proc.exe or "").rsplit("/", 1)[-1].lower()
    runtime = None
    if "docker-proxy" in (name, exe):
        runtime = "docker"
    elif name in ("conmon", "rootlessport", "rootlessport-child") or exe in ("conmon",):
        runtime = "podman"
    if runtime is None:
        return None, {}
    opts: dict[str, str] = {}
    args = list(proc.cmdline)
    for j, arg in enumerate(args):
        if arg.startswith("-") and j + 1 < len(args):
            key = arg.lstrip("-")
            if "=" in key:
                key, _, val = key.partition("=")
                opts[key] = val
            else:
                opts.setdefault(key, args[j + 1])
    return runtime, opts


def container_label(
    facts: FirewallFacts | None, address: str | None, cid: str | None, cname: str | None
) -> str | None:
    if facts is not None:
        for c in facts.containers:
            if (address and address in c.addresses) or (cid and c.id.startswith(cid)):
                return c.name or c.id[:12]
    return cname or (cid[:12] if cid else None) or address


def published_without_listener(facts: Facts) -> tuple[PublishedPort, ...]:
    """DNAT-published ports with no host listener on their port (Docker without its
    userland proxy, Podman/netavark): exposed though no socket shows it."""
    out = []
    for pp in facts.published:
        end = pp.host_port_end or pp.host_port
        if not any(
            lst.protocol == pp.protocol and pp.host_port <= lst.port <= end
            for lst in facts.listeners
        ):
            out.append(pp)
    return tuple(out)


def published_exposures(facts: Facts) -> list[Exposure]:
    """An Exposure for each DNAT-published port with no host listener, so the engine
    and the renderers can report it like any other (``Listener.source`` "dnat", no
    process). Reach: every address of the port's family on every interface the NAT rule
    applies to (not the excluded bridge; not loopback: PREROUTING DNAT does not see
    this machine's own traffic); always ``open``, since forwarded traffic never meets
    the input filter."""
    out: list[Exposure] = []
    for pp in published_without_listener(facts):
        target = f"{pp.target_address}:{pp.target_port}"
        who = container_label(facts.firewall, pp.target_address, pp.container_id,
                               pp.container_name)  # fmt: skip
        evidence = (
            f"published by {pp.published_by} to {who or target} ({target}) with no host "
            f"socket (DNAT: {pp.evidence}); forwarded traffic bypasses the input filter"
        )
        reach: list[Reach] = []
        kinds: set[str] = set()
        for iface in facts.interfaces:
            if pp.excluded_interface and glob_in(iface.name, (pp.excluded_interface,)):
                continue
            for a in iface.addresses:
                if a.family != pp.family or a.scope == "loopback":
                    continue
                if pp.host_address not in (None, "0.0.0.0", "::") and a.address != pp.host_address:
                    continue
                reach.append(Reach(iface.name, a.address, a.scope, a.network, iface.up,
                                   firewall=OPEN, firewall_evidence=evidence))  # fmt: skip
                if iface.up:
                    kinds.add(iface.kind)
        scopes = sorted({r.scope for r in reach if r.up}, key=SCOPE_RANK.__getitem__)
        wildcard = "0.0.0.0" if pp.family == "ipv4" else "::"
        span = f"-{pp.host_port_end}" if pp.host_port_end else ""
        listener = Listener(
            protocol=pp.protocol,
            family=pp.family,
            address=pp.host_address or wildcard,
            port=pp.host_port,
            source="dnat",
            notes=(f"no socket on this host: port {pp.host_port}{span} is {evidence}",),
        )
        out.append(
            Exposure(
                listener=listener,
                reach=tuple(reach),
                widest_scope=widest(scopes) or "loopback",
                scopes=tuple(scopes),
                interface_kinds=tuple(k for k in INTERFACE_KINDS if k in kinds),
                firewall=OPEN if any(r.up for r in reach) else None,
                firewall_evidence=evidence,
                published_by=pp.published_by,
                container=who,
            )
        )
    return out
