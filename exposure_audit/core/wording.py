"""Where a service is reachable from, in words: the one place those words are made.

The report document (terminal, HTML, JSON ``reachable_from`` and the verdict), the
finding messages (``{reach_desc}``, ``{upnp_audience}``, ``{mapping_desc}``) and
``exposure-audit port`` all word reach here, so they cannot disagree.

Words claim no more than the facts show: an interface leads to "containers" only when
a container engine's own state says it is theirs (kind ``container_bridge`` or
``container_veth``, with ``Interface.evidence``); any other bridge or veth is a network
like any other: "everyone on" it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from exposure_audit.core.model import (
    CONTAINER_KINDS,
    SCOPE_RANK,
    Exposure,
    Facts,
    UpnpFacts,
    UpnpMapping,
)

FILTERED = " - but the firewall filters it"
_REACH_ITEMS = 4  # interfaces named in a reach sentence before "N more interfaces"
_ADDRESSES_SHOWN = 3  # details per interface in a reach sentence before "+N more"
_WIFI_PREFIXES = ("wl", "wifi", "ath")


# A scope alone, for views that aggregate many listeners or hosts (the HTML diagram's
# labels, the fleet view): a noun, and the phrase after "reachable".
SCOPE_LABELS: dict[str, str] = {
    "loopback": "this machine",
    "link_local": "link-local",
    "lan": "local network",
    "vpn": "VPN",
    "public": "public internet",
    "internet": "internet (UPnP)",
}
SCOPE_PHRASES: dict[str, str] = {
    "internet": "from the internet (UPnP)",
    "public": "from the internet (public address)",
    "vpn": "on the VPN",
    "lan": "on the LAN",
    "link_local": "on the local link",
    "loopback": "on this machine",
}

# Where a listener's identity came from (Identity.source), strongest first, as the
# reports say it: "identified from ...".
IDENTITY_SOURCES: dict[str, str] = {
    "probe": "what the service answered when asked",
    "process": "its command line",
    "environment": "its environment variables",
    "catalogue": "the port number only (a likelihood, not verified)",
}


_LIKELY = "probably "


def likely(service: str) -> str:
    """A service named by the port catalogue alone: a likelihood, never a fact (the
    identity's evidence says "port 6379 is usually Redis")."""
    return f"{_LIKELY}{service}"


def sentence(text: str) -> str:
    """A message that opens with ``likely``'s words, capitalised ("Probably Redis
    (docker-proxy) listens ..."); any other text as it is (names such as
    "webpack-dev-server" keep their case)."""
    return "P" + text[1:] if text.startswith(_LIKELY) else text


def and_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def port_ranges(ports: Iterable[int]) -> list[tuple[int, int]]:
    """Distinct ports as sorted runs of consecutive numbers, ``(first, last)`` each."""
    runs: list[tuple[int, int]] = []
    for port in sorted(set(ports)):
        if runs and port == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], port)
        else:
            runs.append((port, port))
    return runs


def ports_text(runs: Sequence[tuple[int, int]], limit: int | None = None) -> str:
    """``80, 443, 8000–8010``; past ``limit`` runs, ``... and 12 more ranges``: the one
    way a list of ports is written (the terminal, the HTML, the diagram)."""
    shown = runs if limit is None else runs[:limit]
    text = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in shown)
    hidden = len(runs) - len(shown)
    if hidden:
        text += f" and {hidden:,} more range{'s' if hidden != 1 else ''}"
    return text


def network_of(address: str, network: str | None) -> str:
    """The on-link network, else the address as a network (``10.0.0.5/32``)."""
    if network:
        return network
    try:
        return str(ipaddress.ip_network(address))
    except ValueError:
        return address


class Wording:
    """Reach in words, for one set of facts (interface kinds, containers, UPnP)."""

    def __init__(
        self,
        kinds: Mapping[str, str],
        upnp: UpnpFacts | None = None,
    ) -> None:
        self.kinds = kinds
        self.upnp = upnp

    @classmethod
    def of(cls, facts: Facts) -> Wording:
        return cls({i.name: i.kind for i in facts.interfaces}, facts.upnp)

    # ------------------------------------------------------------------ one interface

    def lead(self, scope: str, interface: str) -> str:
        """Who, on ``interface``: ``everyone on``, ``containers on``, ..."""
        if scope == "loopback":
            return "this machine only, on"
        if scope == "internet":
            return "the whole internet on"
        if scope == "public":
            return "anyone on the internet via"
        if scope == "vpn":
            return "peers on the VPN"
        if scope == "link_local":
            return "neighbours on"
        if self.kinds.get(interface, "other") in CONTAINER_KINDS:
            return "containers on"
        return "everyone on"

    @staticmethod
    def detail(scope: str, address: str, network: str | None) -> str:
        """What is shown in brackets after the interface: the address a public reach
        uses, else the network (link-local ones marked)."""
        if scope == "public":
            return address
        net = network_of(address, network)
        return f"link-local {net}" if scope == "link_local" else net

    def place(self, scope: str, interface: str, detail: str) -> str:
        """``everyone on wlan0 (192.168.1.0/24)``."""
        if scope == "loopback":
            return f"this machine only ({interface})"
        return f"{self.lead(scope, interface)} {interface} ({detail})"

    # ------------------------------------------------------------------ per scope

    def scope_words(self, scope: str, ifaces: Sequence[str]) -> str:
        """A whole scope, naming its interfaces: ``the local network (eth0)``."""
        names = ", ".join(ifaces[:3]) + (", ..." if len(ifaces) > 3 else "")
        if scope == "loopback":
            return "this machine only (loopback)"
        if scope == "internet":
            return f"{self.beyond_router()} (a UPnP port mapping on the router)"
        if scope == "public":
            return f"the internet directly (public address on {names})"
        if scope == "vpn":
            return f"the VPN ({names})"
        if scope == "link_local":
            return f"neighbours on the same link ({names})"
        if ifaces and all(i.startswith(_WIFI_PREFIXES) for i in ifaces):
            return f"the Wi-Fi network ({names})"
        if ifaces and all(self.lead(scope, i) == "containers on" for i in ifaces):
            return f"containers ({names})"
        return f"the local network ({names})"

    # ------------------------------------------------------------------ UPnP

    def _nat_why(self) -> str | None:
        upnp = self.upnp
        scope = upnp.external_scope if upnp else None
        ip = upnp.external_ip if upnp else None
        if scope == "lan":
            return f"the router's own WAN address {ip} is private: double NAT"
        if scope == "vpn":
            return f"the router's own WAN address {ip} is carrier-grade NAT (100.64.0.0/10)"
        return None

    def beyond_router(self) -> str:
        """Where a UPnP mapping reaches, in short: the internet, unless the router's own
        WAN address is private (double NAT) or CGNAT: then only the next network out."""
        scope = self.upnp.external_scope if self.upnp else None
        if scope == "lan":
            return "the network beyond the router (double NAT: perhaps not the internet)"
        if scope == "vpn":
            return (
                "the carrier's network beyond the router "
                "(carrier-grade NAT: perhaps not the internet)"
            )
        return "the internet"

    def upnp_audience(self) -> tuple[str, str]:
        """Who a UPnP mapping exposes a service to, with the reason when it is not the
        internet: (as a subject, as a place)."""
        why = self._nat_why()
        if why is None:
            return "anyone on the internet", "the whole internet"
        place = f"the network beyond the router ({why}, so perhaps not the whole internet)"
        return f"anyone on {place}", place

    def external_ip(self) -> str:
        return (self.upnp.external_ip if self.upnp else None) or "the router's external address"

    def mappings_desc(self, mappings: Sequence[UpnpMapping]) -> str:
        """``port 8080/tcp on 203.0.113.7 (only from 198.51.100.1)``, joined."""
        out = []
        for m in mappings:
            text = f"port {m.external_port}/{m.protocol.lower()} on {self.external_ip()}"
            if m.remote_host:
                text += f" (only from {m.remote_host})"
            out.append(text)
        return and_list(out)

    def mapping_line(self, m: UpnpMapping) -> str:
        """One mapping as a place: ``the internet via the router: port ... → host:port``."""
        src = f"from {m.remote_host} " if m.remote_host else ""
        desc = f', "{m.description}"' if m.description else ""
        return (
            f"{self.beyond_router()} {src}via the router: port {m.external_port}/{m.protocol} "
            f"→ {m.internal_client}:{m.internal_port} (UPnP mapping{desc})"
        )

    # ------------------------------------------------------------------ one exposure

    def reach_lines(self, exposure: Exposure) -> list[str]:
        """Every place, one per line, widest first, loopback included (the report)."""
        groups: dict[tuple[str, str, str], set[str | None]] = {}
        for r in exposure.reach:
            if r.up:
                key = (r.scope, r.interface, self.detail(r.scope, r.address, r.network))
                groups.setdefault(key, set()).add(r.firewall)
        out = [self.mapping_line(m) for m in exposure.upnp_mappings]
        if out and exposure.upnp_firewall == "filtered":
            out = [w + FILTERED for w in out]
        for key in sorted(groups, key=lambda g: (-SCOPE_RANK[g[0]], g[1], g[2])):
            line = self.place(*key)
            out.append(line + FILTERED if groups[key] == {"filtered"} else line)
        return out

    def reach_sentence(self, exposure: Exposure, blocked: Iterable[str] = ()) -> str:
        """One phrase for a finding message, widest first; link-local only when nothing
        wider is reachable; ``blocked``: where the firewall blocks the rest."""
        text = self._sentence(exposure)
        blocked = list(blocked)
        if blocked:
            text += f" (the firewall blocks it on {and_list(blocked)})"
        return text

    def _sentence(self, exp: Exposure) -> str:
        parts: list[str] = []
        if exp.upnp_mappings:
            where = self.upnp_audience()[1]
            parts.append(f"{where} through the router ({self.mappings_desc(exp.upnp_mappings)})")
        groups: dict[tuple[int, str], dict[str, list[str]]] = {}
        show_link_local = exp.widest_scope in ("link_local", "loopback")
        for r in exp.reach:
            if not r.up or r.scope == "loopback":
                continue
            if r.scope == "link_local" and not show_link_local:
                continue
            lead = self.lead(r.scope, r.interface)
            per_iface = groups.setdefault((-SCOPE_RANK.get(r.scope, 0), lead), {})
            details = per_iface.setdefault(r.interface, [])
            detail = self.detail(r.scope, r.address, r.network)
            if detail not in details:
                details.append(detail)
        shown = hidden = 0
        for (_rank, lead), per_iface in sorted(groups.items()):
            items = []
            for iface, details in per_iface.items():
                if shown >= _REACH_ITEMS:
                    hidden += 1
                    continue
                shown += 1
                extra = len(details) - _ADDRESSES_SHOWN
                text = ", ".join(details[:_ADDRESSES_SHOWN])
                items.append(f"{iface} ({text}{f', +{extra} more' if extra > 0 else ''})")
            if items:
                parts.append(f"{lead} {and_list(items)}")
        if hidden:
            parts.append(f"{hidden} more interface{'s' if hidden > 1 else ''}")
        if parts:
            return and_list(parts)
        if exp.scopes:
            return "this machine only (loopback)"
        return "nowhere right now (its address is not assigned to an up interface)"
