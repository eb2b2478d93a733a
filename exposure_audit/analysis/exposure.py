"""Exposure resolution: for each listener, where it can be reached from.

A pure function over Facts (no OS, no network), so it gives the same answer on a
saved Facts file from another host as on the live machine.

The rules:

- ``0.0.0.0`` reaches every IPv4 address of every interface (loopback included).
- ``::`` reaches every IPv6 address, and every IPv4 address too unless the socket is
  v6-only. v6-only is the socket's own flag; when unknown (psutil fallback) the
  ``net.ipv6.bindv6only`` sysctl in the Facts; when that is unknown too, dual-stack is
  assumed (the conservative answer: it claims more reach, never less).
- ``::ffff:a.b.c.d`` (an IPv4-mapped bind) is the IPv4 address ``a.b.c.d``.
- A specific address reaches that address on the interface(s) holding it; a link-local
  bind with a zone reaches only its zone's interface.
- ``bound_interface`` (SO_BINDTODEVICE) restricts reach to that interface.
- A loopback address that no interface lists (``127.0.0.53``: Linux lets a socket bind
  anywhere in 127/8 through lo's local route) reaches loopback on the loopback
  interface.
- A specific non-loopback address that no interface holds (a stale bind, IP_FREEBIND,
  a floating address not currently assigned) is reachable from nowhere right now:
  empty ``reach``, empty ``scopes``, ``widest_scope`` ``"loopback"`` (the narrowest
  scope; rules match on ``scopes``, so it yields no reach finding). It becomes an
  exposure on the run where the address appears.
- Reach through a down interface is listed with ``up=False`` and counts towards neither
  ``scopes`` nor ``widest_scope``. A listener with no up reach at all also gets
  ``widest_scope`` ``"loopback"`` and empty ``scopes``.

Reach follows the strong-host view: (interface, address) pairs a peer can connect to.
Linux's weak-host routing (a packet for wlan0's address arriving on eth0) is not
modelled: it needs a peer that routes through this host on purpose.

UPnP: an *enabled* mapping whose internal client is one of this host's addresses and
whose (protocol, internal port) matches a listener reachable (up) on that address makes
that exposure ``internet``. An enabled mapping to one of this host's addresses that no
such listener answers is a :class:`DanglingMapping` (including a mapping to a port whose
only listener is bound elsewhere, e.g. 127.0.0.1: the router forwards to a closed
port). Mappings to other LAN hosts are ignored here (they stay in the Facts). Disabled
mappings (``enabled=False``) forward nothing and are neither exposure nor dangling.
"""

from __future__ import annotations

from collections import defaultdict

from exposure_audit.core import records
from exposure_audit.core.addresses import IPAddress, parse_ip
from exposure_audit.core.model import (
    INTERFACE_KINDS,
    SCOPE_RANK,
    SCOPES,
    DanglingMapping,
    Exposure,
    Facts,
    Interface,
    Listener,
    Reach,
    UpnpMapping,
)

_KIND_RANK = {k: i for i, k in enumerate(INTERFACE_KINDS)}


@records.record
class Resolved:
    exposures: list[Exposure]  # worst first: widest scope desc, then port
    dangling: list[DanglingMapping]  # ordered by protocol, external port


@records.record
class _Entry:
    """One (interface, address) a listener may be reached on."""

    interface: str
    kind: str
    reach: Reach


class _Index:
    """The host's addresses, indexed once per resolve() call."""

    def __init__(self, interfaces: tuple[Interface, ...]) -> None:
        self.v4: list[_Entry] = []
        self.v6: list[_Entry] = []
        self.by_ip: dict[IPAddress, list[_Entry]] = defaultdict(list)
        self.loopback_if = next((i.name for i in interfaces if i.kind == "loopback"), "lo")
        self.kinds = {i.name: i.kind for i in interfaces}
        for iface in interfaces:
            for addr in iface.addresses:
                ip = parse_ip(addr.address)
                if ip is None:
                    continue
                entry = _Entry(
                    iface.name,
                    iface.kind,
                    Reach(
                        interface=iface.name,
                        address=str(ip),
                        scope=addr.scope,
                        network=addr.network,
                        up=iface.up,
                    ),
                )
                (self.v4 if ip.version == 4 else self.v6).append(entry)
                self.by_ip[ip].append(entry)

    def host_addresses(self) -> frozenset[IPAddress]:
        return frozenset(self.by_ip)


def _dual_stack(listener: Listener, bindv6only: bool | None) -> bool:
    if listener.v6only is not None:
        return not listener.v6only
    if bindv6only is not None:
        return not bindv6only
    return True  # unknown: assume dual-stack (more reach, never less)


def _reach_entries(
    index: _Index, ip: IPAddress | None, zone: str | None, dual: bool, device: str | None
) -> list[_Entry]:
    if ip is None:
        return []
    if ip.is_unspecified:
        entries = index.v4 if ip.version == 4 else index.v6 + (index.v4 if dual else [])
    else:
        entries = index.by_ip.get(ip, [])
        if zone and ip.is_link_local:
            entries = [e for e in entries if e.interface == zone]
        if not entries and ip.is_loopback:
            entries = [
                _Entry(
                    index.loopback_if,
                    "loopback",
                    Reach(interface=index.loopback_if, address=str(ip), scope="loopback"),
                )
            ]
    if device:
        entries = [e for e in entries if e.interface == device]
    return entries


@records.record
class _Shape:
    reach: tuple[Reach, ...]
    widest: str
    scopes: tuple[str, ...]
    kinds: tuple[str, ...]


def _shape(entries: list[_Entry]) -> _Shape:
    reach = tuple(e.reach for e in entries)
    up = [e for e in entries if e.reach.up]
    scopes = tuple(sorted({e.reach.scope for e in up}, key=SCOPE_RANK.__getitem__))
    kinds = tuple(sorted({e.kind for e in up}, key=lambda k: _KIND_RANK.get(k, len(_KIND_RANK))))
    widest = scopes[-1] if scopes else SCOPES[0]
    return _Shape(reach, widest, scopes, kinds)


def resolve(facts: Facts) -> Resolved:
    """Every listener's reach, and the UPnP mappings that make some of them internet-wide."""
    index = _Index(facts.interfaces)
    parsed: dict[str, IPAddress | None] = {}
    shapes: dict[tuple[object, ...], _Shape] = {}
    exposures: list[Exposure] = []

    for listener in facts.listeners:
        text = listener.address
        if text not in parsed:
            parsed[text] = parse_ip(text)
        ip = parsed[text]
        dual = ip is not None and ip.version == 6 and _dual_stack(listener, facts.ipv6_bindv6only)
        key = (ip, listener.zone, dual, listener.bound_interface)
        shape = shapes.get(key)
        if shape is None:
            shape = _shape(_reach_entries(index, ip, listener.zone, dual, listener.bound_interface))
            shapes[key] = shape
        exposures.append(
            Exposure(
                listener=listener,
                reach=shape.reach,
                widest_scope=shape.widest,
                scopes=shape.scopes,
                interface_kinds=shape.kinds,
            )
        )

    dangling: list[DanglingMapping] = []
    if facts.upnp is not None and facts.upnp.mappings:
        exposures, dangling = _apply_upnp(exposures, facts.upnp.mappings, index)

    exposures.sort(
        key=lambda e: (
            -SCOPE_RANK.get(e.widest_scope, 0),
            e.listener.port,
            e.listener.protocol,
            e.listener.address,
        )
    )
    return Resolved(exposures=exposures, dangling=dangling)


def _apply_upnp(
    exposures: list[Exposure], mappings: tuple[UpnpMapping, ...], index: _Index
) -> tuple[list[Exposure], list[DanglingMapping]]:
    mine = index.host_addresses()
    by_port: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, exp in enumerate(exposures):
        by_port[(exp.listener.protocol.lower(), exp.listener.port)].append(i)

    matched: dict[int, list[UpnpMapping]] = defaultdict(list)
    dangling: list[DanglingMapping] = []
    for mapping in mappings:
        if not mapping.enabled:
            continue
        client = parse_ip(mapping.internal_client)
        if client is None or client not in mine:
            continue  # another LAN host's mapping (or garbage): not ours to resolve
        client_text = str(client)
        hits = [
            i
            for i in by_port.get((mapping.protocol.lower(), mapping.internal_port), ())
            if any(r.up and r.address == client_text for r in exposures[i].reach)
        ]
        if not hits:
            dangling.append(DanglingMapping(mapping=mapping))
        for i in hits:
            matched[i].append(mapping)

    out = list(exposures)
    for i, maps in matched.items():
        exp = out[i]
        scopes = exp.scopes if "internet" in exp.scopes else (*exp.scopes, "internet")
        out[i] = records.replace(
            exp, widest_scope="internet", scopes=scopes, upnp_mappings=tuple(maps)
        )
    dangling.sort(key=lambda d: (d.mapping.protocol, d.mapping.external_port))
    return out, dangling
