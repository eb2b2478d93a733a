"""Interfaces: every interface (up or down), its addresses with prefix and scope, its
kind, and the gateways.

Addresses and gateways come from netifaces (the netifaces-plus distribution). Link
state and kind come, on Linux, from one rtnetlink RTM_GETLINK dump (stdlib socket: the
kernel's own ``IFLA_INFO_KIND`` says veth / bridge / wireguard / tun exactly, with no
guessing from names and no per-interface sysfs reads); /sys/class/net is the fallback
when netlink is refused, and psutil's ``net_if_stats`` on other systems.

"Up" means administratively up *and* with a carrier: operstate UP, or operstate
UNKNOWN (loopback, dummy, some tunnels) with IFF_LOWER_UP. A veth whose peer is down,
a cable that is unplugged, a tun no process holds: all down.

Gateways: ``netifaces.gateways()`` misses a multipath default route entirely and calls a
default route in a policy-routing table not-default (measured, netifaces-plus 0.12.5), so
on Linux every route with a gateway is read from one rtnetlink RTM_GETROUTE dump per
family, all tables, multipath next hops included. Elsewhere (or if netlink is refused)
netifaces' per-family lists are read, merged with its ``'default'`` entries.
"""

from __future__ import annotations

# _socket, not socket: see sockdiag.py (socket.py costs ~2 ms of every start-up)
import _socket
import contextlib
import ipaddress
import os
import struct
import sys

from exposure_audit.core import records
from exposure_audit.core.addresses import address_scope, interface_kind, split_zone
from exposure_audit.core.model import Address, CollectorWarning, Gateway, Interface, LocalRoute
from exposure_audit.core.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    from exposure_audit.collectors.engines import Owner

    class AddressSource(Protocol):
        """Where addresses come from when netifaces fails for an interface."""

        def get(self, index: int | None) -> dict[int, list[dict[str, str]]]: ...


COLLECTOR = "interfaces"
SYS_CLASS_NET = "/sys/class/net"

# linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if.h, linux/if_arp.h
_RTM_NEWLINK = 16
_RTM_GETLINK = 18
_NLM_F_REQUEST = 0x01
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_RTM_NEWADDR = 20
_RTM_GETADDR = 22
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_RTM_NEWROUTE = 24
_RTM_GETROUTE = 26
_RTN_UNICAST = 1
_RTA_OIF = 4
_RTA_GATEWAY = 5
_RTA_MULTIPATH = 9
_IFLA_ADDRESS = 1
_IFLA_IFNAME = 3
_IFLA_OPERSTATE = 16
_IFLA_LINKINFO = 18
_IFLA_INFO_KIND = 1
_IFLA_MASTER = 10
_IFLA_LINK_NETNSID = 37
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFF_LOWER_UP = 0x10000
_IF_OPER_UNKNOWN = 0
_IF_OPER_UP = 6
_OPERSTATES = {"unknown": 0, "notpresent": 1, "down": 2, "lowerlayerdown": 3}
_OPERSTATES.update({"testing": 4, "dormant": 5, "up": 6})
_ARPHRD = {772: "loopback", 1: "ether", 512: "ppp", 768: "ipip", 769: "ip6tnl"}
_ARPHRD.update({776: "sit", 778: "gre", 823: "ip6gre", 65534: "none"})

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTNEXTHOP = struct.Struct("=HBBi")
_RTATTR = struct.Struct("=HH")

_MAX_DUMP_BYTES = 64 * 1024 * 1024  # bound on one dump
_MAX_DUMP_ITEMS = 262144

# IFLA_INFO_KIND (or ARPHRD type) -> the hint scopes.interface_kind understands.
_KIND_HINTS = {
    "wireguard": "wireguard",
    "tun": "tun",  # tun and tap both say "tun"
    "ipip": "ipip",
    "gre": "gre",
    "gretap": "gre",
    "ip6gre": "gre",
    "ip6gretap": "gre",
    "erspan": "gre",
    "sit": "sit",
    "ip6tnl": "ip6tnl",
    "vti": "vti",
    "vti6": "vti",
    "xfrm": "vti",
    "veth": "veth",
    "bridge": "bridge",
    # Links that are the LAN they sit on (a VLAN or bond of a NIC): physical.
    "vlan": "ether",
    "bond": "ether",
    "team": "ether",
    "macvlan": "ether",
    "macvtap": "ether",
    "ipvlan": "ether",
    "ether": "ether",
    "wlan": "wlan",
    "loopback": "loopback",
}


@record
class InterfaceResult:
    interfaces: list[Interface]
    gateways: list[Gateway]
    warnings: list[CollectorWarning] = field(default_factory=list)
    local_routes: list[LocalRoute] = field(default_factory=list)


@record
class _Link:
    index: int | None
    up: bool
    loopback: bool
    hint: str | None  # IFLA_INFO_KIND, or from the ARPHRD type / sysfs
    mac: str | None
    link_kind: str | None = None  # IFLA_INFO_KIND as the kernel says it
    master: str | None = None  # the bridge (or bond) it is a port of
    peer_netns: bool | None = None  # IFLA_LINK_NETNSID present: the peer is elsewhere


def collect_interfaces(engine_root: str = "/") -> InterfaceResult:
    """Every interface of this network namespace. Never raises for a partial failure.

    ``engine_root``: where the container engines' state is read (see engines.py)."""
    warnings: list[CollectorWarning] = []
    links = _links(warnings)
    owners = _owners(links, engine_root)
    ni: Any = None  # the netifaces module, when importable (it has no type information)
    try:
        import netifaces

        ni = netifaces
    except ImportError as exc:
        warnings.append(
            CollectorWarning(
                COLLECTOR,
                f"netifaces is not importable ({exc}): addresses read from the kernel directly",
                hint="reinstall exposure-audit (it depends on netifaces-plus)",
            )
        )
    names: list[str] = []
    if ni is not None:
        try:
            names = [str(n) for n in ni.interfaces()]
        except Exception as exc:  # a C extension: SystemError on a non-UTF-8 name
            warnings.append(
                CollectorWarning(
                    COLLECTOR,
                    f"netifaces could not list interfaces ({type(exc).__name__}: {exc}); "
                    "addresses read from the kernel directly",
                )
            )
    for name in links:
        if name not in names:
            names.append(name)  # no address netifaces reports, or netifaces failed

    fallback = _FallbackAddresses(warnings)
    interfaces: list[Interface] = []
    for name in names:
        iface = _interface(ni, name, links.get(name), fallback, warnings, owners)
        if iface is not None:
            interfaces.append(iface)
    interfaces.sort(key=lambda i: (i.index if i.index is not None else 1 << 31, i.name))
    routes = _route_dump()  # one dump of the routing tables: gateways and local routes
    gateways = _gateways(ni, links, warnings, routes)
    return InterfaceResult(interfaces, gateways, warnings, _local_routes(links, interfaces, routes))


def _owners(links: dict[str, _Link], engine_root: str) -> dict[str, tuple[str, Owner]]:
    """Interface -> (its bridge's name, the engine owning it): each bridge a container
    engine's state claims, and every port of such a bridge."""
    bridges = [n for n, link in links.items() if link.hint == "bridge"]
    if not bridges:
        return {}
    from exposure_audit.collectors.engines import Engines  # only where bridges exist

    engines = Engines(engine_root)
    out: dict[str, tuple[str, Owner]] = {}
    for name in bridges:
        owner = engines.owner(name)
        if owner is not None:
            out[name] = (name, owner)
    for name, link in links.items():
        if link.master in out and name not in out:
            out[name] = out[link.master]
    return out


def display_name(name: str) -> str:
    """A name that is valid text: bytes that are not UTF-8 become ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# --------------------------------------------------------------------------- addresses


class _FallbackAddresses:
    """rtnetlink RTM_GETADDR, read once and only if netifaces fails for some interface."""

    def __init__(self, warnings: list[CollectorWarning]) -> None:
        self._warnings = warnings
        self._table: dict[int, dict[int, list[dict[str, str]]]] | None = None

    def get(self, index: int | None) -> dict[int, list[dict[str, str]]]:
        if self._table is None:
            self._table = {}
            if sys.platform.startswith("linux"):
                try:
                    self._table = _netlink_addresses()
                except OSError as exc:
                    self._warnings.append(
                        CollectorWarning(COLLECTOR, f"cannot read addresses (netlink: {exc})")
                    )
        return self._table.get(index, {}) if index is not None else {}


def _interface(
    netifaces: Any,
    name: str,
    link: _Link | None,
    fallback: AddressSource,
    warnings: list[CollectorWarning],
    owners: dict[str, tuple[str, Owner]] | None = None,
) -> Interface | None:
    shown = display_name(name)
    families: dict[int, list[dict[str, str]]] | None = None
    if netifaces is not None and shown == name:
        try:
            families = netifaces.ifaddresses(name)
        except ValueError:
            if link is None:  # listed by netifaces, gone by now
                warnings.append(CollectorWarning(COLLECTOR, f"interface {shown!r} vanished"))
                return None
            families = None
        except Exception:  # a C extension: anything; the kernel is asked instead
            families = None
    if families is None:
        families = fallback.get(link.index if link else None)
    if link is None:
        link = _Link(None, True, name == "lo", None, None)
        warnings.append(
            CollectorWarning(COLLECTOR, f"no link state for interface {shown!r}: assumed up")
        )
    bridge, owner = (owners or {}).get(name, (None, None))
    kind = interface_kind(
        shown, is_loopback=link.loopback, sysfs_type=link.hint, container=owner is not None
    )
    evidence = None
    if owner is not None:
        evidence = owner.evidence
        if bridge != name:
            evidence = f"a port of {display_name(bridge or '')}, whose {evidence}"
    mac = link.mac
    if mac is None and netifaces is not None:
        for entry in families.get(netifaces.AF_LINK, ()):
            mac = entry.get("addr") or None
            break
    addresses: list[Address] = []
    seen: set[tuple[str, int]] = set()
    for af, family in ((_socket.AF_INET, "ipv4"), (_socket.AF_INET6, "ipv6")):
        for entry in families.get(af, ()):
            addr = _address(entry, family, shown, kind, warnings)
            if addr is not None and (addr.address, addr.prefixlen) not in seen:
                seen.add((addr.address, addr.prefixlen))
                addresses.append(addr)
    return Interface(
        name=shown,
        up=link.up,
        kind=kind,
        addresses=tuple(addresses),
        index=link.index,
        mac=mac,
        link_kind=link.link_kind,
        master=display_name(link.master) if link.master is not None else None,
        peer_netns=link.peer_netns,
        engine=owner.engine if owner is not None else None,
        evidence=evidence,
    )


def _address(
    entry: dict[str, str], family: str, ifname: str, kind: str, warnings: list[CollectorWarning]
) -> Address | None:
    raw = entry.get("addr") or ""
    text = split_zone(raw)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        warnings.append(CollectorWarning(COLLECTOR, f"{ifname}: unreadable address {raw!r}"))
        return None
    prefixlen = _prefixlen(entry.get("netmask"), ip.max_prefixlen)
    if prefixlen is None:
        warnings.append(
            CollectorWarning(
                COLLECTOR,
                f"{ifname}: unreadable netmask {entry.get('netmask')!r} for {ip}; "
                f"assumed /{ip.max_prefixlen}",
            )
        )
        prefixlen = ip.max_prefixlen
    network = ipaddress.ip_network(f"{ip}/{prefixlen}", strict=False)
    zone = ifname if ip.version == 6 and ip.is_link_local else None
    return Address(
        address=str(ip),
        prefixlen=prefixlen,
        family=family,
        scope=address_scope(str(ip), kind),
        network=str(network),
        zone=zone,
    )


def _prefixlen(netmask: str | None, max_len: int) -> int | None:
    """'255.255.255.0' -> 24; 'ffff:ffff:ffff:ffff::/64' -> 64; None -> host prefix."""
    if not netmask:
        return max_len
    if "/" in netmask:
        tail = netmask.rsplit("/", 1)[1]
        if tail.isdigit() and int(tail) <= max_len:
            return int(tail)
        netmask = netmask.rsplit("/", 1)[0]
    try:
        mask = int(ipaddress.ip_address(netmask))
    except ValueError:
        return None
    bits = bin(mask)[2:].zfill(max_len)
    prefix = bits.find("0") if "0" in bits else max_len
    if "1" in bits[prefix:]:
        return None  # a non-contiguous mask
    return prefix


# --------------------------------------------------------------------------- gateways


def _gateways(
    netifaces: Any,
    links: dict[str, _Link],
    warnings: list[CollectorWarning],
    routes: list[_Route] | None,
) -> list[Gateway]:
    found: dict[tuple[str, str, str], bool] | None = None
    if routes is not None:
        names = {link.index: name for name, link in links.items() if link.index is not None}
        found = _netlink_gateways(names, routes)
    if found is None:  # no routing dump (not Linux, or it failed): netifaces
        found = _netifaces_gateways(netifaces, warnings)
    gateways = [
        Gateway(family=fam, address=addr, interface=display_name(ifname), default=default)
        for (fam, addr, ifname), default in found.items()
    ]
    gateways.sort(key=lambda g: (g.family, not g.default, g.interface, g.address))
    if not any(g.family == "ipv4" and g.default for g in gateways):
        warnings.append(CollectorWarning(COLLECTOR, "no default IPv4 gateway found"))
    return gateways


def _netifaces_gateways(
    netifaces: Any, warnings: list[CollectorWarning]
) -> dict[tuple[str, str, str], bool]:
    """netifaces' per-family lists merged with its ``'default'`` entries (which alone
    keep one route per family)."""
    table: dict[Any, Any] = {}
    if netifaces is not None:
        try:
            table = netifaces.gateways()
        except Exception as exc:  # a C extension: anything
            warnings.append(CollectorWarning(COLLECTOR, f"cannot read the routing table: {exc}"))
    found: dict[tuple[str, str, str], bool] = {}
    for af, family in ((_socket.AF_INET, "ipv4"), (_socket.AF_INET6, "ipv6")):
        for entry in table.get(af, ()) or ():
            if len(entry) >= 2:
                key = (family, split_zone(str(entry[0]))[0], str(entry[1]))
                default = bool(entry[2]) if len(entry) >= 3 else False
                found[key] = found.get(key, False) or default
        default_entry = (table.get("default") or {}).get(af)
        if default_entry and len(default_entry) >= 2:
            key = (family, split_zone(str(default_entry[0]))[0], str(default_entry[1]))
            found[key] = True
    return found


# One route of the kernel's dump: (address family, "ipv4"|"ipv6", prefix length, route
# type, attributes).
_Route = tuple[int, str, int, int, dict[int, bytes]]


def _route_dump() -> list[_Route] | None:
    """Every route of every routing table, both families, in one rtnetlink dump each;
    None where it cannot be read (not Linux, or the request failed)."""
    if not sys.platform.startswith("linux"):
        return None
    out: list[_Route] = []
    try:
        for af, family in ((_socket.AF_INET, "ipv4"), (_socket.AF_INET6, "ipv6")):
            body = _RTMSG.pack(af, 0, 0, 0, 0, 0, 0, 0, 0)
            for msg in _netlink_dump(_RTM_GETROUTE, body, _RTM_NEWROUTE):
                if len(msg) < _RTMSG.size:
                    continue
                _f, dst_len, _s, _tos, _t, _p, _scope, rtype, _fl = _RTMSG.unpack_from(msg)
                out.append((af, family, dst_len, rtype, _attrs(msg[_RTMSG.size :])))
    except OSError:
        return None
    return out


def _netlink_gateways(
    names: dict[int, str], routes: list[_Route]
) -> dict[tuple[str, str, str], bool]:
    """Every route with a gateway, in every routing table (policy routing keeps defaults
    outside "main"), multipath next hops included. Measured: netifaces.gateways() reports
    no default at all for a multipath default route, and a policy-table default as
    not-default."""
    found: dict[tuple[str, str, str], bool] = {}
    for af, family, dst_len, rtype, attrs in routes:
        if rtype != _RTN_UNICAST:
            continue
        hops: list[tuple[bytes, int]] = []
        if _RTA_GATEWAY in attrs:
            oif = struct.unpack_from("=i", attrs[_RTA_OIF])[0] if _RTA_OIF in attrs else 0
            hops.append((attrs[_RTA_GATEWAY], oif))
        if _RTA_MULTIPATH in attrs:
            hops.extend(_nexthops(attrs[_RTA_MULTIPATH]))
        for raw, oif in hops:
            try:
                gw = _socket.inet_ntop(af, raw)
            except (OSError, ValueError):
                continue
            key = (family, gw, names.get(oif, str(oif)))
            found[key] = found.get(key, False) or dst_len == 0
    return found


_RTN_LOCAL = 2
_RTA_DST = 1
_LOOPBACK_NETS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _local_routes(
    links: dict[str, _Link], interfaces: list[Interface], routes: list[_Route] | None
) -> list[LocalRoute]:
    """The ``local`` routes (any table) that are not an interface's own address nor
    loopback: prefixes the host accepts as its own (AnyIP). Linux only; [] when the
    routing table cannot be read."""
    if routes is None:
        return []
    names = {link.index: name for name, link in links.items() if link.index is not None}
    own = {split_zone(a.address)[0] for i in interfaces for a in i.addresses}
    out: dict[tuple[str, str], LocalRoute] = {}
    for af, family, dst_len, rtype, attrs in routes:
        if rtype != _RTN_LOCAL or _RTA_DST not in attrs:
            continue
        try:
            dst = _socket.inet_ntop(af, attrs[_RTA_DST])
            net = ipaddress.ip_network(f"{dst}/{dst_len}", strict=False)
        except (OSError, ValueError):
            continue
        if net.num_addresses == 1 and str(net.network_address) in own:
            continue  # an interface's own address
        if any(net.version == lo.version and net.subnet_of(lo) for lo in _LOOPBACK_NETS):  # type: ignore[arg-type]  # same version: checked
            continue
        oif = struct.unpack_from("=i", attrs[_RTA_OIF])[0] if _RTA_OIF in attrs else 0
        name = display_name(names.get(oif, str(oif)))
        out.setdefault((family, str(net)), LocalRoute(family, str(net), name))
    return sorted(out.values(), key=lambda r: (r.family, r.prefix))


def _nexthops(buf: bytes) -> list[tuple[bytes, int]]:
    """RTA_MULTIPATH: struct rtnexthop { u16 len; u8 flags; u8 hops; int ifindex; } + attrs."""
    out: list[tuple[bytes, int]] = []
    offset = 0
    while offset + _RTNEXTHOP.size <= len(buf):
        length, _flags, _hops, ifindex = _RTNEXTHOP.unpack_from(buf, offset)
        if length < _RTNEXTHOP.size or offset + length > len(buf):
            break
        attrs = _attrs(buf[offset + _RTNEXTHOP.size : offset + length])
        if _RTA_GATEWAY in attrs:
            out.append((attrs[_RTA_GATEWAY], ifindex))
        offset += (length + 3) & ~3
    return out


# --------------------------------------------------------------------------- link state


def _links(warnings: list[CollectorWarning]) -> dict[str, _Link]:
    if not sys.platform.startswith("linux"):
        return _psutil_links(warnings)
    try:
        return _netlink_links()
    except OSError as exc:
        links = _sysfs_links()
        if links:
            return links
        warnings.append(CollectorWarning(COLLECTOR, f"cannot read link state (netlink: {exc})"))
        return {}


def _netlink_dump(request: int, body: bytes, reply: int, timeout: float = 2.0) -> list[bytes]:
    """One rtnetlink dump: the payloads of every ``reply`` message. Raises OSError on
    anything unexpected (the caller falls back)."""
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, 0)
    try:
        sock.settimeout(timeout)
        sock.bind((0, 0))
        seq = 1
        header = _NLMSGHDR.pack(
            _NLMSGHDR.size + len(body), request, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0
        )
        sock.sendto(header + body, (0, 0))
        out: list[bytes] = []
        total = 0
        while True:
            data = sock.recv(1 << 16)
            total += len(data)
            if not data or total > _MAX_DUMP_BYTES or len(out) > _MAX_DUMP_ITEMS:
                raise OSError("rtnetlink dump too large or truncated")
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, mtype, _flags, mseq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size or offset + length > len(data):
                    raise OSError("malformed rtnetlink message")
                if mseq == seq:
                    if mtype == _NLMSG_DONE:
                        return out
                    if mtype == _NLMSG_ERROR:
                        (code,) = struct.unpack_from("=i", data, offset + _NLMSGHDR.size)
                        raise OSError(-code, os.strerror(-code))
                    if mtype == reply:
                        out.append(data[offset + _NLMSGHDR.size : offset + length])
                offset += (length + 3) & ~3
    finally:
        sock.close()


def _netlink_links() -> dict[str, _Link]:
    body = _IFINFOMSG.pack(_socket.AF_UNSPEC, 0, 0, 0, 0)
    links: dict[str, _Link] = {}
    masters: dict[str, int] = {}
    for msg in _netlink_dump(_RTM_GETLINK, body, _RTM_NEWLINK):
        parsed = _parse_link(msg)
        if parsed is not None:
            links[parsed[0]] = parsed[1]
            if parsed[2]:
                masters[parsed[0]] = parsed[2]
    by_index = {link.index: name for name, link in links.items()}
    for name, index in masters.items():
        if index in by_index:
            links[name] = records.replace(links[name], master=by_index[index])
    return links


def _netlink_addresses() -> dict[int, dict[int, list[dict[str, str]]]]:
    """Addresses by interface index, shaped like ``netifaces.ifaddresses``: the fallback
    when netifaces fails (it raises on an interface name that is not valid UTF-8)."""
    body = _IFADDRMSG.pack(_socket.AF_UNSPEC, 0, 0, 0, 0)
    out: dict[int, dict[int, list[dict[str, str]]]] = {}
    for msg in _netlink_dump(_RTM_GETADDR, body, _RTM_NEWADDR):
        if len(msg) < _IFADDRMSG.size:
            continue
        family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(msg)
        attrs = _attrs(msg[_IFADDRMSG.size :])
        # IPv4: IFA_LOCAL is this host's address (IFA_ADDRESS is the peer on a
        # point-to-point link). IPv6: IFA_ADDRESS.
        raw = attrs.get(_IFA_LOCAL) if family == _socket.AF_INET else None
        raw = raw or attrs.get(_IFA_ADDRESS)
        if family not in (_socket.AF_INET, _socket.AF_INET6) or not raw:
            continue
        try:
            text = _socket.inet_ntop(family, raw)
        except (OSError, ValueError):
            continue
        entry = {"addr": text, "netmask": f"/{prefixlen}"}
        out.setdefault(index, {}).setdefault(family, []).append(entry)
    return out


def _attrs(buf: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    offset = 0
    while offset + _RTATTR.size <= len(buf):
        length, atype = _RTATTR.unpack_from(buf, offset)
        if length < _RTATTR.size or offset + length > len(buf):
            break
        out.setdefault(atype & 0x3FFF, buf[offset + _RTATTR.size : offset + length])
        offset += (length + 3) & ~3
    return out


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _parse_link(msg: bytes) -> tuple[str, _Link, int] | None:
    """(name, link, its master's index or 0)."""
    if len(msg) < _IFINFOMSG.size:
        return None
    _family, arphrd, index, flags, _change = _IFINFOMSG.unpack_from(msg)
    attrs = _attrs(msg[_IFINFOMSG.size :])
    if _IFLA_IFNAME not in attrs:
        return None
    name = _cstr(attrs[_IFLA_IFNAME])
    oper = attrs[_IFLA_OPERSTATE][0] if attrs.get(_IFLA_OPERSTATE) else _IF_OPER_UNKNOWN
    hint = link_kind = None
    if _IFLA_LINKINFO in attrs:
        info = _attrs(attrs[_IFLA_LINKINFO])
        if _IFLA_INFO_KIND in info:
            link_kind = _cstr(info[_IFLA_INFO_KIND])
            hint = _KIND_HINTS.get(link_kind, link_kind)
    master = attrs.get(_IFLA_MASTER, b"")
    master_index = struct.unpack_from("=I", master)[0] if len(master) >= 4 else 0
    # The kernel adds IFLA_LINK_NETNSID only when the peer is in another namespace.
    peer_netns = (_IFLA_LINK_NETNSID in attrs) if link_kind == "veth" else None
    if hint is None:
        hint = _type_hint(name, arphrd)
    mac_raw = attrs.get(_IFLA_ADDRESS)
    mac = ":".join(f"{b:02x}" for b in mac_raw) if mac_raw and len(mac_raw) == 6 else None
    return (
        name,
        _Link(
            index=index,
            up=_is_up(flags, oper),
            loopback=bool(flags & _IFF_LOOPBACK),
            hint=hint,
            mac=mac,
            link_kind=link_kind,
            peer_netns=peer_netns,
        ),
        master_index,
    )


def _is_up(flags: int, oper: int) -> bool:
    if not flags & _IFF_UP:
        return False
    return oper == _IF_OPER_UP or (oper == _IF_OPER_UNKNOWN and bool(flags & _IFF_LOWER_UP))


def _type_hint(name: str, arphrd: int) -> str | None:
    base = _ARPHRD.get(arphrd)
    if base == "ether" and _is_wireless(name):
        return "wlan"
    if base == "none":
        return None
    return _KIND_HINTS.get(base or "", base)


def _is_wireless(name: str) -> bool:
    if "/" in name or name in (".", ".."):
        return False
    base = os.path.join(SYS_CLASS_NET, name)
    return os.path.exists(os.path.join(base, "wireless")) or os.path.exists(
        os.path.join(base, "phy80211")
    )


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(4096).strip()
    except OSError:
        return None


def _sysfs_links() -> dict[str, _Link]:
    """/sys/class/net, for when rtnetlink is refused (seccomp, odd sandboxes)."""
    links: dict[str, _Link] = {}
    try:
        names = os.listdir(SYS_CLASS_NET)
    except OSError:
        return links
    for name in names:
        base = os.path.join(SYS_CLASS_NET, name)
        flags_text = _read(os.path.join(base, "flags")) or "0"
        try:
            flags = int(flags_text, 16)
        except ValueError:
            flags = 0
        oper = _OPERSTATES.get(_read(os.path.join(base, "operstate")) or "", _IF_OPER_UNKNOWN)
        carrier = _read(os.path.join(base, "carrier")) == "1"
        if carrier:
            flags |= _IFF_LOWER_UP  # sysfs flags omit IFF_LOWER_UP; carrier stands in
        uevent = _read(os.path.join(base, "uevent")) or ""
        devtype = next(
            (ln.split("=", 1)[1] for ln in uevent.splitlines() if ln.startswith("DEVTYPE=")),
            None,
        )
        hint: str | None
        if os.path.isdir(os.path.join(base, "bridge")):
            hint = "bridge"
        elif os.path.exists(os.path.join(base, "tun_flags")):
            hint = "tun"
        elif devtype:
            hint = _KIND_HINTS.get(devtype, devtype)
        else:
            try:
                arphrd = int(_read(os.path.join(base, "type")) or "-1")
            except ValueError:
                arphrd = -1
            hint = _type_hint(name, arphrd)
        index: int | None = None
        with contextlib.suppress(ValueError):
            index = int(_read(os.path.join(base, "ifindex")) or "")
        mac = _read(os.path.join(base, "address")) or None
        master = None
        with contextlib.suppress(OSError):
            master = os.path.basename(os.readlink(os.path.join(base, "master")))
        links[name] = _Link(
            index=index,
            up=_is_up(flags, oper),
            loopback=bool(flags & _IFF_LOOPBACK),
            hint=hint,
            mac=mac if mac and len(mac) == 17 else None,
            link_kind=hint if hint in ("bridge", "veth") else None,
            master=master,
        )
    return links


def _psutil_links(warnings: list[CollectorWarning]) -> dict[str, _Link]:
    try:
        import psutil

        stats = psutil.net_if_stats()
    except Exception as exc:  # psutil raises its own types per platform
        warnings.append(CollectorWarning(COLLECTOR, f"cannot read link state: {exc}"))
        return {}
    index_of: dict[str, int] = {}
    with contextlib.suppress(OSError):
        index_of = {n: i for i, n in _socket.if_nameindex()}
    return {
        name: _Link(index_of.get(name), bool(st.isup), name.startswith("lo"), None, None)
        for name, st in stats.items()
    }
