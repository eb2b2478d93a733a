"""Exposure resolution on synthetic Facts: every rule, no sockets, no OS."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposure_audit.analysis.exposure import resolve
from exposure_audit.core.addresses import address_scope
from exposure_audit.core.model import (
    SCOPE_RANK,
    Address,
    Facts,
    HostInfo,
    Interface,
    Listener,
    UpnpFacts,
    UpnpMapping,
    widest,
)
from exposure_audit.core.serialize import load_facts

FIXTURES = Path(__file__).parent / "fixtures" / "facts"

HOST = HostInfo(
    hostname="t",
    os="Linux",
    os_release="test",
    kernel="6",
    privileged=True,
    uid=0,
    tool_version="0",
    python="3.11",
)


def addr(cidr: str, kind: str | None = None, zone: str | None = None) -> Address:
    iface = ipaddress.ip_interface(cidr)
    return Address(
        address=str(iface.ip),
        prefixlen=iface.network.prefixlen,
        family="ipv4" if iface.version == 4 else "ipv6",
        scope=address_scope(str(iface.ip), kind),
        network=str(iface.network),
        zone=zone,
    )


def iface(name: str, kind: str, *cidrs: str, up: bool = True) -> Interface:
    return Interface(
        name=name,
        up=up,
        kind=kind,
        addresses=tuple(
            addr(
                c,
                kind,
                zone=name if ipaddress.ip_interface(c).ip.is_link_local and ":" in c else None,
            )
            for c in cidrs
        ),
    )


LO = iface("lo", "loopback", "127.0.0.1/8", "::1/128")
WLAN = iface("wlan0", "physical", "192.168.1.23/24", "fd00:1::23/64", "fe80::1/64")
ETH = iface("eth0", "physical", "94.130.10.20/26", "2a01:4f8::1/64", "fe80::1/64")
WG = iface("wg0", "vpn", "10.66.0.1/24")
DOCKER = iface("docker0", "container_bridge", "172.17.0.1/16")
DOWN = iface("eth1", "physical", "10.9.9.9/24", "fd00:9::9/64", up=False)
ALL = (LO, WLAN, ETH, WG, DOCKER, DOWN)


def lst(address: str, port: int = 8000, protocol: str = "tcp", **kw: object) -> Listener:
    family = "ipv6" if ":" in address else "ipv4"
    return Listener(protocol=protocol, family=family, address=address, port=port, **kw)  # type: ignore[arg-type]


def facts(
    *listeners: Listener,
    interfaces: tuple[Interface, ...] = ALL,
    bindv6only: bool | None = None,
    upnp: UpnpFacts | None = None,
) -> Facts:
    return Facts(
        host=HOST,
        collected_at="2026-01-01T00:00:00Z",
        interfaces=interfaces,
        listeners=listeners,
        ipv6_bindv6only=bindv6only,
        upnp=upnp,
    )


def one(f: Facts):  # type: ignore[no-untyped-def]
    (exp,) = resolve(f).exposures
    return exp


def reached(exp) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(r.interface, r.address) for r in exp.reach if r.up}


def down(exp) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(r.interface, r.address) for r in exp.reach if not r.up}


V4_UP = {
    ("lo", "127.0.0.1"),
    ("wlan0", "192.168.1.23"),
    ("eth0", "94.130.10.20"),
    ("wg0", "10.66.0.1"),
    ("docker0", "172.17.0.1"),
}
V6_UP = {
    ("lo", "::1"),
    ("wlan0", "fd00:1::23"),
    ("wlan0", "fe80::1"),
    ("eth0", "2a01:4f8::1"),
    ("eth0", "fe80::1"),
}


# --------------------------------------------------------------------------- wildcards


def test_ipv4_wildcard_reaches_every_ipv4_address_and_no_ipv6() -> None:
    exp = one(facts(lst("0.0.0.0")))
    assert reached(exp) == V4_UP
    assert down(exp) == {("eth1", "10.9.9.9")}
    assert exp.widest_scope == "public"
    assert exp.scopes == ("loopback", "lan", "vpn", "public")
    assert exp.interface_kinds == ("loopback", "physical", "vpn", "container_bridge")


def test_ipv6_wildcard_dual_stack_reaches_ipv4_too() -> None:
    exp = one(facts(lst("::", v6only=False)))
    assert reached(exp) == V4_UP | V6_UP
    assert down(exp) == {("eth1", "10.9.9.9"), ("eth1", "fd00:9::9")}


def test_ipv6_wildcard_v6only_reaches_ipv6_only() -> None:
    exp = one(facts(lst("::", v6only=True), bindv6only=False))
    assert reached(exp) == V6_UP
    assert exp.scopes == ("loopback", "link_local", "lan", "public")


@pytest.mark.parametrize(
    ("sock_flag", "sysctl", "dual"),
    [
        (None, True, False),  # socket unknown: the sysctl decides
        (None, False, True),
        (None, None, True),  # both unknown: assume dual-stack (conservative)
        (False, True, True),  # the socket's own flag wins over the sysctl
        (True, False, False),
    ],
)
def test_v6only_fallback_order(sock_flag: bool | None, sysctl: bool | None, dual: bool) -> None:
    exp = one(facts(lst("::", v6only=sock_flag), bindv6only=sysctl))
    has_v4 = any(":" not in a for _i, a in reached(exp))
    assert has_v4 is dual


def test_ipv4_mapped_wildcard_is_ipv4_wildcard() -> None:
    exp = one(facts(lst("::ffff:0.0.0.0", v6only=False)))
    assert reached(exp) == V4_UP


# --------------------------------------------------------------------------- specific


def test_loopback_reaches_loopback_only() -> None:
    for address in ("127.0.0.1", "::1"):
        exp = one(facts(lst(address)))
        assert reached(exp) == {("lo", address)}
        assert exp.widest_scope == "loopback"
        assert exp.scopes == ("loopback",)


def test_unlisted_loopback_address_is_loopback() -> None:
    # systemd-resolved binds 127.0.0.53: lo carries 127.0.0.1/8, not .53 itself.
    exp = one(facts(lst("127.0.0.53", 53, "udp")))
    assert reached(exp) == {("lo", "127.0.0.53")}
    assert exp.widest_scope == "loopback"


def test_specific_address_reaches_its_interface_only() -> None:
    exp = one(facts(lst("192.168.1.23")))
    assert reached(exp) == {("wlan0", "192.168.1.23")}
    assert exp.widest_scope == "lan"
    assert exp.reach[0].network == "192.168.1.0/24"


def test_scope_comes_from_the_address_record() -> None:
    # 10.66.0.1 is RFC 1918, but it is on a WireGuard interface: vpn.
    exp = one(facts(lst("10.66.0.1")))
    assert exp.widest_scope == "vpn"
    assert exp.interface_kinds == ("vpn",)


def test_ipv4_mapped_bind_is_the_ipv4_address() -> None:
    exp = one(facts(lst("::ffff:192.168.1.23", v6only=False)))
    assert reached(exp) == {("wlan0", "192.168.1.23")}


def test_address_on_two_interfaces_reaches_both() -> None:
    a = iface("a0", "physical", "10.1.1.1/24")
    b = iface("b0", "physical", "10.1.1.1/24")
    exp = one(facts(lst("10.1.1.1"), interfaces=(LO, a, b)))
    assert reached(exp) == {("a0", "10.1.1.1"), ("b0", "10.1.1.1")}


def test_link_local_with_zone_reaches_its_zone_only() -> None:
    exp = one(facts(lst("fe80::1", zone="eth0", v6only=True)))
    assert reached(exp) == {("eth0", "fe80::1")}
    assert exp.widest_scope == "link_local"


def test_link_local_without_zone_reaches_every_interface_holding_it() -> None:
    exp = one(facts(lst("fe80::1", v6only=True)))
    assert reached(exp) == {("eth0", "fe80::1"), ("wlan0", "fe80::1")}


def test_bound_interface_restricts_a_wildcard() -> None:
    exp = one(facts(lst("0.0.0.0", bound_interface="wg0")))
    assert reached(exp) == {("wg0", "10.66.0.1")}
    assert exp.widest_scope == "vpn"
    exp6 = one(facts(lst("::", v6only=False, bound_interface="lo")))
    assert reached(exp6) == {("lo", "::1"), ("lo", "127.0.0.1")}
    assert exp6.widest_scope == "loopback"


def test_bound_interface_that_does_not_hold_the_address_reaches_nothing() -> None:
    exp = one(facts(lst("192.168.1.23", bound_interface="eth0")))
    assert exp.reach == ()
    assert exp.scopes == ()


# --------------------------------------------------------------------------- down, absent


def test_down_interface_is_listed_but_does_not_count() -> None:
    exp = one(facts(lst("10.9.9.9")))
    assert down(exp) == {("eth1", "10.9.9.9")}
    assert reached(exp) == set()
    assert exp.scopes == ()
    assert exp.widest_scope == "loopback"
    assert exp.interface_kinds == ()


def test_address_on_no_interface_reaches_nowhere() -> None:
    exp = one(facts(lst("203.0.113.99")))
    assert exp.reach == ()
    assert exp.scopes == ()
    assert exp.widest_scope == "loopback"


def test_garbage_address_does_not_crash() -> None:
    for bad in ("not-an-address", "", "1.2.3.4.5", "::ffff:1.2.3"):
        exp = one(facts(lst(bad)))
        assert exp.reach == ()
        assert exp.widest_scope == "loopback"


def test_no_interfaces_at_all() -> None:
    exp = one(facts(lst("0.0.0.0"), interfaces=()))
    assert exp.reach == ()
    assert exp.widest_scope == "loopback"


# --------------------------------------------------------------------------- ordering


def test_worst_first_then_port() -> None:
    res = resolve(
        facts(
            lst("127.0.0.1", 1),
            lst("192.168.1.23", 9000),
            lst("0.0.0.0", 8080),
            lst("10.66.0.1", 22),
            lst("0.0.0.0", 443),
        )
    )
    assert [(e.widest_scope, e.listener.port) for e in res.exposures] == [
        ("public", 443),
        ("public", 8080),
        ("vpn", 22),
        ("lan", 9000),
        ("loopback", 1),
    ]


# --------------------------------------------------------------------------- UPnP

HOME = (LO, iface("eth0", "physical", "192.168.1.50/24"))


def upnp(*mappings: UpnpMapping) -> UpnpFacts:
    return UpnpFacts(status="ok", external_ip="94.130.77.88", mappings=mappings)


def m(port: int, client: str = "192.168.1.50", proto: str = "tcp", **kw: object) -> UpnpMapping:
    return UpnpMapping(
        protocol=proto, external_port=port + 10000, internal_client=client, internal_port=port, **kw
    )  # type: ignore[arg-type]


def test_mapping_to_a_reachable_listener_makes_it_internet() -> None:
    mapping = m(32400)
    res = resolve(facts(lst("0.0.0.0", 32400), interfaces=HOME, upnp=upnp(mapping)))
    (exp,) = res.exposures
    assert exp.widest_scope == "internet"
    assert exp.scopes == ("loopback", "lan", "internet")
    assert exp.upnp_mappings == (mapping,)
    assert res.dangling == []


def test_mapping_reaches_a_dual_stack_listener_through_ipv4() -> None:
    res = resolve(facts(lst("::", 22, v6only=False), interfaces=HOME, upnp=upnp(m(22))))
    assert res.exposures[0].widest_scope == "internet"


def test_mapping_protocol_is_case_insensitive_and_must_match() -> None:
    res = resolve(
        facts(
            lst("0.0.0.0", 27015, "udp"),
            lst("0.0.0.0", 27016, "tcp"),
            interfaces=HOME,
            upnp=upnp(m(27015, proto="UDP"), m(27016, proto="udp")),
        )
    )
    by_port = {e.listener.port: e for e in res.exposures}
    assert by_port[27015].widest_scope == "internet"
    assert by_port[27016].widest_scope == "lan"
    assert [d.mapping.internal_port for d in res.dangling] == [27016]


def test_mapping_with_no_listener_is_dangling() -> None:
    res = resolve(facts(lst("0.0.0.0", 80), interfaces=HOME, upnp=upnp(m(8080))))
    assert [d.mapping.internal_port for d in res.dangling] == [8080]
    assert res.exposures[0].widest_scope == "lan"


def test_mapping_to_a_listener_bound_elsewhere_is_dangling() -> None:
    # sshd on 127.0.0.1:22; the router forwards to 192.168.1.50:22, which is closed.
    res = resolve(facts(lst("127.0.0.1", 22), interfaces=HOME, upnp=upnp(m(22))))
    assert res.exposures[0].widest_scope == "loopback"
    assert len(res.dangling) == 1


def test_mapping_to_another_host_is_ignored() -> None:
    res = resolve(
        facts(lst("0.0.0.0", 3389), interfaces=HOME, upnp=upnp(m(3389, client="192.168.1.77")))
    )
    assert res.exposures[0].widest_scope == "lan"
    assert res.dangling == []


def test_disabled_mapping_is_neither_exposure_nor_dangling() -> None:
    res = resolve(
        facts(
            lst("0.0.0.0", 22),
            interfaces=HOME,
            upnp=upnp(m(22, enabled=False), m(9999, enabled=False)),
        )
    )
    assert res.exposures[0].widest_scope == "lan"
    assert res.dangling == []


def test_mapping_to_an_address_on_a_down_interface_is_dangling() -> None:
    ifs = (LO, iface("eth0", "physical", "192.168.1.50/24", up=False))
    res = resolve(facts(lst("0.0.0.0", 80), interfaces=ifs, upnp=upnp(m(80))))
    assert res.exposures[0].widest_scope == "loopback"
    assert len(res.dangling) == 1


def test_garbage_mapping_client_is_ignored() -> None:
    res = resolve(facts(lst("0.0.0.0", 80), interfaces=HOME, upnp=upnp(m(80, client="x"))))
    assert res.dangling == []
    assert res.exposures[0].widest_scope == "lan"


def test_internet_exposure_sorts_first() -> None:
    res = resolve(
        facts(
            lst("94.130.10.20", 443),
            lst("0.0.0.0", 32400),
            interfaces=(*HOME, ETH),
            upnp=upnp(m(32400)),
        )
    )
    assert [e.widest_scope for e in res.exposures] == ["internet", "public"]


# --------------------------------------------------------------------------- fixtures


def test_fixture_laptop_cafe_django_is_lan_via_wlan0() -> None:
    res = resolve(load_facts(FIXTURES / "laptop_cafe.json"))
    top = res.exposures[0]
    assert (top.listener.port, top.listener.address) in {(8000, "0.0.0.0"), (5353, "0.0.0.0")}
    django = next(e for e in res.exposures if e.listener.port == 8000)
    assert django.widest_scope == "lan"
    assert ("wlan0", "192.168.1.23") in reached(django)
    assert all(
        e.widest_scope == "loopback" for e in res.exposures if e.listener.port in (5432, 631, 53)
    )


def test_fixture_upnp_home() -> None:
    res = resolve(load_facts(FIXTURES / "upnp_home.json"))
    internet = {(e.listener.protocol, e.listener.port) for e in res.exposures if e.upnp_mappings}
    assert internet == {("tcp", 32400), ("udp", 27015)}
    assert {(d.mapping.external_port, d.mapping.internal_port) for d in res.dangling} == {
        (8080, 8080),
        (2200, 22),
    }


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_fixture_resolves(path: Path) -> None:
    f = load_facts(path)
    res = resolve(f)
    assert len(res.exposures) == len(f.listeners)


# --------------------------------------------------------------------------- invariants

_ADDRS = st.sampled_from(
    [
        "0.0.0.0",
        "::",
        "127.0.0.1",
        "::1",
        "127.0.0.53",
        "192.168.1.23",
        "fd00:1::23",
        "fe80::1",
        "10.66.0.1",
        "10.9.9.9",
        "::ffff:172.17.0.1",
        "8.8.8.8",
        "bogus",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            _ADDRS,
            st.integers(1, 65535),
            st.sampled_from(["tcp", "udp"]),
            st.sampled_from([None, True, False]),
            st.sampled_from([None, "lo", "eth0", "wlan0", "eth1"]),
            st.sampled_from([None, "eth0", "wlan0"]),
        ),
        max_size=20,
    ),
    st.sampled_from([None, True, False]),
    st.lists(st.sampled_from(ALL), unique_by=lambda i: i.name),
)
def test_invariants(rows, bindv6only, interfaces) -> None:  # type: ignore[no-untyped-def]
    listeners = [
        lst(a, p, proto, v6only=v6, bound_interface=dev, zone=zone)
        for a, p, proto, v6, dev, zone in rows
    ]
    res = resolve(facts(*listeners, interfaces=tuple(interfaces), bindv6only=bindv6only))
    assert len(res.exposures) == len(listeners)
    ranks = [SCOPE_RANK[e.widest_scope] for e in res.exposures]
    assert ranks == sorted(ranks, reverse=True)
    names = {i.name for i in interfaces} | {"lo"}
    for e in res.exposures:
        up_scopes = {r.scope for r in e.reach if r.up}
        assert set(e.scopes) == up_scopes
        assert e.widest_scope == (widest(e.scopes) or "loopback")
        assert all(r.interface in names for r in e.reach)
        if e.listener.bound_interface:
            assert all(r.interface == e.listener.bound_interface for r in e.reach)
        if e.listener.address in ("127.0.0.1", "::1", "127.0.0.53"):
            assert e.scopes in ((), ("loopback",))


# --------------------------------------------------------------------------- speed


def test_ten_thousand_listeners_resolve_fast() -> None:
    ifs = [LO, WLAN, ETH, WG, DOCKER, DOWN]
    for n in range(30):
        ifs.append(iface(f"veth{n}", "veth", f"10.{n}.0.1/24", f"fd00:{n}::1/64", f"fe80::{n}/64"))
    addresses = ["0.0.0.0", "::", "127.0.0.1", "::1"] + [f"10.{n}.0.1" for n in range(30)]
    listeners = [
        lst(addresses[i % len(addresses)], 1024 + i, "tcp" if i % 3 else "udp", v6only=bool(i % 2))
        for i in range(10_000)
    ]
    mappings = tuple(m(1024 + i, client="10.1.0.1") for i in range(0, 10_000, 50))
    f = facts(*listeners, interfaces=tuple(ifs), upnp=upnp(*mappings))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        res = resolve(f)
        best = min(best, time.perf_counter() - start)
    print(f"\nresolve: 10,000 listeners x {len(ifs)} interfaces: {best * 1000:.1f} ms")
    assert len(res.exposures) == 10_000
    assert any(e.widest_scope == "internet" for e in res.exposures)
    assert best < 0.5


def test_anyip_local_route_makes_an_unheld_address_reachable() -> None:
    """A socket bound to an address no interface holds is reachable from nowhere,
    unless a local route covers it (AnyIP): then through every interface beyond
    loopback, from any source network."""
    from exposure_audit.analysis.exposure import resolve
    from exposure_audit.core import records
    from exposure_audit.core.model import (
        Address,
        Facts,
        HostInfo,
        Interface,
        Listener,
        LocalRoute,
    )  # fmt: skip

    host = HostInfo("h", "Linux", "Debian", "6.1", True, 0, "0", "3.11")
    lo = Interface("lo", True, "loopback",
                   (Address("127.0.0.1", 8, "ipv4", "loopback", "127.0.0.0/8"),))  # fmt: skip
    eth = Interface("eth0", True, "physical",
                    (Address("192.168.1.5", 24, "ipv4", "lan", "192.168.1.0/24"),))  # fmt: skip
    lst = Listener("tcp", "ipv4", "10.50.0.7", 80)
    facts = Facts(host=host, collected_at="2026-01-01T00:00:00Z", interfaces=(lo, eth),
                  listeners=(lst,))  # fmt: skip
    (x,) = resolve(facts).exposures
    assert x.reach == () and x.widest_scope == "loopback"
    facts = records.replace(facts, local_routes=(LocalRoute("ipv4", "10.50.0.0/24", "lo"),))
    (x,) = resolve(facts).exposures
    assert [(r.interface, r.address, r.scope, r.network) for r in x.reach] == [
        ("eth0", "10.50.0.7", "lan", None)
    ]
    assert x.widest_scope == "lan"
    other = records.replace(facts, listeners=(Listener("tcp", "ipv4", "10.51.0.7", 80),))
    (x,) = resolve(other).exposures
    assert x.reach == ()
