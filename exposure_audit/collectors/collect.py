"""Collection: run every collector and assemble the Facts (the only stage that touches
the machine or the LAN).

The collectors are imported inside collect_facts so that a command pays for what it
runs (jinja2 and requests cost ~170 ms of imports; `collect` needs neither).
"""

from __future__ import annotations

import sys

from exposure_audit.core.clock import now_iso
from exposure_audit.core.model import (
    CollectorWarning,
    Facts,
    ProbeResult,
    PublishedPort,
    UpnpFacts,
)
from exposure_audit.core.records import record


@record
class CollectOptions:
    """What collect_facts collects (the collection flags of collect, run, port)."""

    upnp: bool = True  # False with --no-upnp / EXPOSURE_AUDIT_NO_UPNP=1
    upnp_off_by: str = "--no-upnp"  # what turned UPnP off, for the Facts' message
    igd_url: str | None = None
    upnp_timeout: float = 2.0
    firewall: bool = True
    # "native" | "portable"; None: --backend's default (EXPOSURE_AUDIT_BACKEND, else by OS)
    backend: str | None = None
    # Ask listening services what they are (collectors/probe.py); False with --no-probe,
    # EXPOSURE_AUDIT_NO_PROBE=1 or [defaults] probe = false
    probe: bool = True
    # Where the container engines' state is read (collectors/engines.py); tests only.
    engine_root: str = "/"


def collect_facts(opts: CollectOptions) -> Facts:
    """Run every collector. A collector that fails partly adds warnings; never raises
    for a partial failure."""
    from exposure_audit.collectors.backend import choose_backend
    from exposure_audit.collectors.host import collect_host

    backend = choose_backend(opts.backend)
    if backend == "portable":
        from exposure_audit.collectors.portable import collect_listeners
    else:
        from exposure_audit.collectors.listeners import collect_listeners

    warnings: list[CollectorWarning] = []
    collected_at = now_iso()
    # The firewall collector mostly waits for nft / iptables-save: started first, read last.
    firewall_read = None
    os_firewall = backend == "portable" and not sys.platform.startswith("linux")
    if opts.firewall and not os_firewall:
        from exposure_audit.collectors.firewall import start_firewall

        firewall_read = start_firewall()
    host = collect_host()
    if backend == "portable":
        from exposure_audit.collectors import portable

        ifaces = portable.collect_interfaces()
    else:
        from exposure_audit.collectors import interfaces

        ifaces = interfaces.collect_interfaces(opts.engine_root)
    warnings.extend(ifaces.warnings)
    lst = collect_listeners()
    warnings.extend(lst.warnings)

    probes: tuple[ProbeResult, ...] = ()
    if opts.probe:
        from exposure_audit.collectors.probe import collect_probes

        probes, probe_warnings = collect_probes(lst.listeners, ifaces.interfaces)
        warnings.extend(probe_warnings)

    upnp: UpnpFacts
    if not opts.upnp:
        upnp = UpnpFacts(status="disabled", message=f"UPnP not checked ({opts.upnp_off_by})")
    else:
        from exposure_audit.collectors.upnp import UpnpOptions, collect_upnp

        local = frozenset(a.address for i in ifaces.interfaces for a in i.addresses)
        gateways = frozenset(g.address for g in ifaces.gateways if g.default)
        upnp, upnp_warnings = collect_upnp(
            UpnpOptions(igd_url=opts.igd_url, timeout=opts.upnp_timeout), local, gateways
        )
        warnings.extend(upnp_warnings)

    firewall = None
    published: tuple[PublishedPort, ...] = ()
    if firewall_read is not None:
        firewall, found, fw_warnings = firewall_read.finish()
        published = tuple(found)
        warnings.extend(fw_warnings)
    elif opts.firewall and os_firewall:  # macOS, Windows: the firewall's state as evidence
        from exposure_audit.collectors.osfirewall import collect_os_firewall

        firewall, fw_warnings = collect_os_firewall(sys.platform)
        warnings.extend(fw_warnings)

    return Facts(
        host=host,
        collected_at=collected_at,
        interfaces=tuple(ifaces.interfaces),
        gateways=tuple(ifaces.gateways),
        local_routes=tuple(ifaces.local_routes),
        listeners=tuple(lst.listeners),
        upnp=upnp,
        warnings=tuple(warnings),
        ipv6_bindv6only=lst.ipv6_bindv6only,
        firewall=firewall,
        published=published,
        probes=probes,
    )
