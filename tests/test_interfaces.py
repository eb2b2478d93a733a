"""The interfaces collector against the real kernel.

In a namespace made here: veth pairs with IPv4, IPv6 ULA, link-local, CGNAT and a
public-range address (the namespace is linked to nothing: no packet leaves it), tun and
tap devices (one named like WireGuard), a bridge named docker0, a macvlan, a vxlan, a
down interface, a veth whose peer is down, and hostile names (non-ASCII, a control
character, bytes that are not UTF-8). Kernel modules missing here (dummy, wireguard,
ipip/gre/sit, vlan) are skipped individually, saying so.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time

import pytest
from netns import Netns, namespaces, requires_netns, unique, wait_for

from exposure_audit.collectors.interfaces import (
    _nexthops,
    _prefixlen,
    collect_interfaces,
    display_name,
)
from exposure_audit.core.model import INTERFACE_KINDS, Gateway, Interface
from exposure_audit.core.serialize import from_jsonable

COLLECT = (
    "import json; from exposure_audit.collectors.interfaces import collect_interfaces;"
    "from exposure_audit.core.serialize import to_jsonable;"
    "import sys;"
    "print(json.dumps(to_jsonable(collect_interfaces(*sys.argv[1:])), ensure_ascii=True))"
)

BAD_NAME = b"eaG\xff\xfe"  # not UTF-8: netifaces-plus raises SystemError listing it


def collect_in(
    ns: Netns, engine_root: str | None = None
) -> tuple[dict[str, Interface], list[Gateway], list[str]]:
    """Collect inside ``ns``; ``engine_root``: where the container engines' state is read
    (a temporary tree: the engines' files cannot be made in the real /etc)."""
    argv = [sys.executable, "-c", COLLECT] + ([engine_root] if engine_root else [])
    res = ns.run(argv, timeout=30)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    ifaces = {i["name"]: from_jsonable(Interface, i) for i in data["interfaces"]}
    gateways = [from_jsonable(Gateway, g) for g in data["gateways"]]
    return ifaces, gateways, [w["message"] for w in data["warnings"]]


def try_ip(ns: Netns, *args: str | bytes) -> str | None:
    """Run ``ip -n NS args``; None on success, else the error (a missing kernel module)."""
    res = subprocess.run(["ip", "-n", ns.name, *args], capture_output=True, timeout=30, check=False)
    return None if res.returncode == 0 else res.stderr.decode(errors="replace").strip()


def ip_json_addresses(ns: Netns | None) -> set[tuple[str, str, int]]:
    argv = ["ip", "-j", "addr"] if ns is None else ["ip", "-n", ns.name, "-j", "addr"]
    out = subprocess.run(argv, capture_output=True, timeout=30, check=True).stdout
    got = set()
    for link in json.loads(out.decode("utf-8", "surrogateescape"), strict=False):
        name = display_name(link["ifname"])
        for a in link.get("addr_info", []):
            if a.get("local"):
                got.add((name, str(ipaddress.ip_address(a["local"])), int(a["prefixlen"])))
    return got


def collected_addresses(ifaces: dict[str, Interface]) -> set[tuple[str, str, int]]:
    return {(i.name, a.address, a.prefixlen) for i in ifaces.values() for a in i.addresses}


# --------------------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("mask", "maxlen", "prefix"),
    [
        ("255.255.255.0", 32, 24),
        ("255.255.255.255", 32, 32),
        ("0.0.0.0", 32, 0),
        ("255.192.0.0", 32, 10),
        ("ffff:ffff:ffff:ffff::/64", 128, 64),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 128, 128),
        ("ffff:ff00::", 128, 24),
        (None, 32, 32),
        ("", 128, 128),
        ("255.0.255.0", 32, None),  # non-contiguous
        ("garbage", 32, None),
    ],
)
def test_prefixlen(mask: str | None, maxlen: int, prefix: int | None) -> None:
    assert _prefixlen(mask, maxlen) == prefix


def test_display_name_keeps_text_and_escapes_raw_bytes() -> None:
    assert display_name("wlan0") == "wlan0"
    assert display_name("wifi€") == "wifi€"
    assert display_name(BAD_NAME.decode("utf-8", "surrogateescape")) == "eaG\\xff\\xfe"


def test_nexthops_parser_survives_truncation() -> None:
    assert _nexthops(b"") == []
    assert _nexthops(b"\xff\xff\x00\x00\x01\x00\x00\x00") == []  # length beyond the buffer


# --------------------------------------------------------------------------- this host


def test_matches_ip_addr_on_this_host() -> None:
    """Read-only, in whatever namespace the tests run in: same addresses as `ip addr`."""
    start = time.perf_counter()
    res = collect_interfaces()
    elapsed = time.perf_counter() - start
    print(f"\ncollect_interfaces: {len(res.interfaces)} interfaces in {elapsed * 1000:.1f} ms")
    ifaces = {i.name: i for i in res.interfaces}
    assert collected_addresses(ifaces) == ip_json_addresses(None)
    assert "lo" in ifaces and ifaces["lo"].kind == "loopback" and ifaces["lo"].up
    assert all(i.kind in INTERFACE_KINDS for i in res.interfaces)


# --------------------------------------------------------------------------- a namespace


@requires_netns
def test_interfaces_in_a_namespace() -> None:
    with namespaces(unique("eaG-if")) as (ns,):
        ns.run(["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"], check=True)
        ns.run(["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"], check=True)
        ip = ns.ip
        # A veth pair: IPv4 + ULA + CGNAT (+ link-local, automatic), a public-range /32.
        ip("link", "add", "eaGv0", "type", "veth", "peer", "name", "eaGv0p")
        ip("link", "set", "eaGv0", "up")
        ip("link", "set", "eaGv0p", "up")
        ip("addr", "add", "10.201.0.1/24", "dev", "eaGv0")
        ip("addr", "add", "fd00:201::1/64", "dev", "eaGv0", "nodad")
        ip("addr", "add", "100.100.1.1/10", "dev", "eaGv0")
        ip("addr", "add", "1.2.3.4/32", "dev", "eaGv0p")
        ip("route", "add", "default", "via", "10.201.0.2")
        # Down: administratively, and by a peer that is down.
        ip("link", "add", "eaGdn0", "type", "veth", "peer", "name", "eaGdn0p")
        ip("addr", "add", "10.202.0.1/24", "dev", "eaGdn0")
        ip("link", "add", "eaGhalf", "type", "veth", "peer", "name", "eaGhalfp")
        ip("link", "set", "eaGhalf", "up")
        # Tunnels: tun (no process holds it: up but no carrier), a wg-named tun, a tap.
        skipped: dict[str, str] = {}
        for name, mode in (("eaGtun0", "tun"), ("wg0", "tun"), ("eaGtap0", "tap")):
            err = try_ip(ns, "tuntap", "add", name, "mode", mode)
            if err:
                skipped[name] = err
            else:
                ip("link", "set", name, "up")
        if "eaGtun0" not in skipped:
            ip("addr", "add", "10.66.0.1/24", "dev", "eaGtun0")
        # A container bridge; a macvlan and a vxlan where the kernel has them.
        ip("link", "add", "docker0", "type", "bridge")
        ip("link", "set", "docker0", "up")
        ip("addr", "add", "172.17.0.1/16", "dev", "docker0")
        for name, args in (
            ("eaGmv0", ("link", "add", "link", "eaGv0", "name", "eaGmv0", "type", "macvlan")),
            ("eaGvx0", ("link", "add", "eaGvx0", "type", "vxlan", "id", "42", "dstport", "4789")),
            ("eaGwg1", ("link", "add", "eaGwg1", "type", "wireguard")),
            ("eaGdum", ("link", "add", "eaGdum", "type", "dummy")),
        ):
            err = try_ip(ns, *args)
            if err:
                skipped[name] = err
        # Hostile names: non-ASCII, a control character, bytes that are not UTF-8.
        ip("link", "add", "wifi€", "type", "veth", "peer", "name", "x\x01y")
        ip("link", "set", "wifi€", "up")
        ip("link", "set", "x\x01y", "up")
        ip("addr", "add", "10.203.0.1/24", "dev", "wifi€")
        bad_err = try_ip(ns, "link", "add", BAD_NAME, "type", "veth", "peer", "name", "eaGbadp")
        if bad_err is None:
            assert try_ip(ns, "addr", "add", "10.204.0.1/24", "dev", BAD_NAME) is None
            assert try_ip(ns, "link", "set", BAD_NAME, "up") is None
            assert try_ip(ns, "link", "set", "eaGbadp", "up") is None
        else:
            skipped["non-UTF-8 name"] = bad_err
        if skipped:
            print("\nnot creatable here:", skipped)

        def linklocal_ready() -> bool:
            ifaces, _g, _w = collect_in(ns)
            return any(a.scope == "link_local" for a in ifaces["eaGv0"].addresses)

        assert wait_for(linklocal_ready, timeout=5)
        ifaces, gateways, warnings = collect_in(ns)

        # Every address `ip addr` shows, with its prefix; nothing else.
        assert collected_addresses(ifaces) == ip_json_addresses(ns)

        v0 = ifaces["eaGv0"]
        assert v0.up and v0.kind == "veth"
        by_addr = {a.address: a for a in v0.addresses}
        assert by_addr["10.201.0.1"].scope == "lan"
        assert by_addr["10.201.0.1"].network == "10.201.0.0/24"
        assert by_addr["10.201.0.1"].zone is None
        assert by_addr["fd00:201::1"].scope == "lan"
        assert by_addr["fd00:201::1"].prefixlen == 64
        assert by_addr["100.100.1.1"].scope == "vpn"
        assert by_addr["100.100.1.1"].prefixlen == 10
        (ll,) = [a for a in v0.addresses if a.scope == "link_local"]
        assert ll.zone == "eaGv0" and ll.family == "ipv6" and "%" not in ll.address
        assert ifaces["eaGv0p"].addresses[0].scope == "public"

        link_json = json.loads(
            subprocess.run(
                ["ip", "-n", ns.name, "-j", "link", "show", "eaGv0"],
                capture_output=True,
                check=True,
            ).stdout
        )[0]
        assert v0.mac == link_json["address"]
        assert v0.index == link_json["ifindex"]

        assert ifaces["lo"].kind == "loopback" and ifaces["lo"].up
        down = ifaces["eaGdn0"]
        assert not down.up
        assert [a.address for a in down.addresses] == ["10.202.0.1"]
        assert not ifaces["eaGhalf"].up  # admin up, peer down: no carrier

        if "eaGtun0" not in skipped:
            tun = ifaces["eaGtun0"]
            assert tun.kind == "vpn"
            assert not tun.up  # no process attached: no carrier
            assert tun.addresses[0].scope == "vpn"  # 10.x, but on a tunnel
        if "wg0" not in skipped:
            assert ifaces["wg0"].kind == "vpn"
        if "eaGtap0" not in skipped:
            assert ifaces["eaGtap0"].kind == "vpn"
        if "eaGwg1" not in skipped:
            assert ifaces["eaGwg1"].kind == "vpn"

        docker = ifaces["docker0"]
        # Collected with the real /: "container_bridge" only if Docker is installed here.
        docker_here = any(os.path.lexists(p) for p in ("/run/docker.sock", "/run/docker"))
        assert docker.kind == ("container_bridge" if docker_here else "bridge")
        assert docker.link_kind == "bridge"
        assert docker.addresses[0].address == "172.17.0.1"
        if "eaGmv0" not in skipped:
            assert ifaces["eaGmv0"].kind == "physical"
        if "eaGvx0" not in skipped:
            assert ifaces["eaGvx0"].kind == "other"

        assert ifaces["wifi€"].addresses[0].address == "10.203.0.1"
        assert ifaces["x\x01y"].kind == "veth"
        if bad_err is None:
            bad = ifaces["eaG\\xff\\xfe"]
            assert [a.address for a in bad.addresses if a.family == "ipv4"] == ["10.204.0.1"]
            assert any("netifaces could not list" in w for w in warnings)

        assert Gateway("ipv4", "10.201.0.2", "eaGv0", True) in gateways
        assert not any("no default IPv4 gateway" in w for w in warnings)


@requires_netns
def test_gateways_multipath_policy_and_none() -> None:
    """netifaces misses these; the collector must not."""
    with namespaces(unique("eaG-gw")) as (ns,):
        ip = ns.ip
        for n in ("0", "1"):
            ip("link", "add", f"eaGg{n}", "type", "veth", "peer", "name", f"eaGg{n}p")
            ip("link", "set", f"eaGg{n}", "up")
            ip("link", "set", f"eaGg{n}p", "up")
            ip("addr", "add", f"10.21{n}.0.1/24", "dev", f"eaGg{n}")
        ip("addr", "add", "fd00:210::1/64", "dev", "eaGg0", "nodad")

        _i, gateways, warnings = collect_in(ns)
        assert [g for g in gateways if g.default] == []
        assert "no default IPv4 gateway found" in warnings

        ip("route", "add", "default", "nexthop", "via", "10.210.0.2", "dev", "eaGg0",
           "nexthop", "via", "10.211.0.2", "dev", "eaGg1")  # fmt: skip
        ip("-6", "route", "add", "default", "via", "fd00:210::2", "dev", "eaGg0")
        ip("route", "add", "192.168.77.0/24", "via", "10.211.0.3")
        _i, gateways, warnings = collect_in(ns)
        assert set(gateways) == {
            Gateway("ipv4", "10.210.0.2", "eaGg0", True),
            Gateway("ipv4", "10.211.0.2", "eaGg1", True),
            Gateway("ipv4", "10.211.0.3", "eaGg1", False),
            Gateway("ipv6", "fd00:210::2", "eaGg0", True),
        }
        assert "no default IPv4 gateway found" not in warnings

        ip("route", "del", "default")
        ip("route", "add", "default", "via", "10.211.0.2", "table", "100")
        ip("rule", "add", "from", "all", "lookup", "100", "pref", "100")
        _i, gateways, warnings = collect_in(ns)
        assert Gateway("ipv4", "10.211.0.2", "eaGg1", True) in gateways
        assert "no default IPv4 gateway found" not in warnings


HOLD_TUN = """
import fcntl, os, struct, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", b"tailscale0", 0x0001 | 0x1000))  # TUNSETIFF
print("ready", flush=True)
time.sleep(60)
"""


@requires_netns
def test_tun_held_by_a_process_is_up_like_tailscale() -> None:
    """operstate UNKNOWN with LOWER_UP (tailscale0, wg-quick's wireguard-go) counts as up."""
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun here")
    with namespaces(unique("eaG-tun")) as (ns,):
        holder = ns.python(HOLD_TUN)
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        ns.ip("link", "set", "tailscale0", "up")
        ns.ip("addr", "add", "100.101.102.103/32", "dev", "tailscale0")
        ns.ip("addr", "add", "fd7a:115c:a1e0::1/128", "dev", "tailscale0", "nodad")
        ifaces, _g, _w = collect_in(ns)
        ts = ifaces["tailscale0"]
        assert ts.up and ts.kind == "vpn" and ts.mac is None
        scopes = {a.address: a.scope for a in ts.addresses}
        assert scopes["100.101.102.103"] == "vpn"
        assert scopes["fd7a:115c:a1e0::1"] == "vpn"  # a ULA, but on a tunnel
