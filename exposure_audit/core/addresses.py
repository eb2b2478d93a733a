"""Classify addresses and interfaces. ``ipaddress`` only: never regexes on address text."""

from __future__ import annotations

import ipaddress

CGNAT = ipaddress.ip_network("100.64.0.0/10")
_V4_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_ULA = ipaddress.ip_network("fc00::/7")

# Not "ppp": a PPPoE link usually carries the host's public address, and calling it
# a VPN would under-report what is on it.
_VPN_PREFIXES = ("tun", "tap", "wg", "tailscale", "utun", "zt", "ipsec", "nebula", "vti")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def split_zone(text: str) -> tuple[str, str | None]:
    """``fe80::1%eth0`` -> (``fe80::1``, ``eth0``); no zone (or an empty one) -> None.

    The one place address text is split at ``%``; the address part is not checked.
    """
    addr, sep, zone = text.partition("%")
    return addr, (zone or None) if sep else None


def parse_ip(text: str) -> IPAddress | None:
    """The address in ``text`` (zone dropped), IPv4-mapped IPv6 as IPv4; None if not one."""
    try:
        ip = ipaddress.ip_address(split_zone(text)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_scope(address: str, interface_kind: str | None = None) -> str:
    """Scope of one address: loopback, link_local, lan, vpn or public.

    An address on a VPN/tunnel interface is ``vpn`` whatever its range (a WireGuard
    peer network is often 10.x). CGNAT 100.64/10 is ``vpn`` (Tailscale lives there).
    """
    ip = parse_ip(address)
    if ip is None:
        text = split_zone(address)[0]
        raise ValueError(f"{text!r} does not appear to be an IPv4 or IPv6 address")
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if interface_kind == "vpn":
        return "vpn"
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in CGNAT:
            return "vpn"
        if any(ip in n for n in _V4_PRIVATE):
            return "lan"
        if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
            return "lan"
        # Documentation, benchmarking and other special ranges are not routed on the
        # internet; treat them as a local network rather than overclaiming "public".
        return "lan" if ip.is_private else "public"
    if ip in _ULA:
        return "lan"
    if ip.is_site_local:
        return "lan"
    if ip.is_global:
        return "public"
    return "lan"


def fetch_allowed(address: str) -> bool:
    """May we fetch a UPnP description from this address? Private, link-local, loopback only.

    Cloud metadata (169.254.169.254) is link-local but is refused explicitly.
    """
    ip = parse_ip(address)  # ::ffff:169.254.169.254 is 169.254.169.254
    if ip is None:
        return False
    if str(ip) in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"):
        return False
    if ip.is_multicast or ip.is_unspecified:
        return False
    return address_scope(str(ip)) in ("loopback", "link_local", "lan")


def interface_kind(
    name: str, is_loopback: bool = False, sysfs_type: str | None = None, container: bool = False
) -> str:
    """Kind of an interface from the kernel's word for it (``sysfs_type``: IFLA_INFO_KIND
    or the ARPHRD type) and whether a container engine's state claims it (``container``).

    Never from a bridge's or veth's name: ``br-lan`` is OpenWrt's LAN and ``veth0`` may
    lead anywhere; only the engines' own state makes one the containers'. Tunnels are
    still recognised by name where the kernel's word is missing (other systems).
    """
    lname = name.lower()
    if is_loopback or lname == "lo" or lname.startswith("lo0"):
        return "loopback"
    if sysfs_type in ("wireguard", "tun", "tap", "ipip", "gre", "sit", "ip6tnl", "vti"):
        return "vpn"
    if sysfs_type == "veth":
        return "container_veth" if container else "veth"
    if sysfs_type == "bridge":
        return "container_bridge" if container else "bridge"
    if lname.startswith(_VPN_PREFIXES):
        return "vpn"
    if sysfs_type in (None, "physical", "ether", "wlan", "wifi", "ppp"):
        return "physical"
    return "other"
