"""core.wording: reach in words, for every interface kind, scope and UPnP case."""

from __future__ import annotations

import pytest

from exposure_audit.core.model import (
    Exposure,
    HostInfo,
    Listener,
    Reach,
    UpnpFacts,
    UpnpMapping,
)
from exposure_audit.core.wording import (
    Wording,
    and_list,
    network_of,
    port_ranges,
    ports_text,
)

KINDS = {
    "lo": "loopback",
    "eth0": "physical",
    "wlan0": "physical",
    "wg0": "vpn",
    "docker0": "container_bridge",
    "br-lan": "bridge",
    "vethc": "container_veth",
    "veth0": "veth",
    "weird0": "other",
}
W = Wording(KINDS)
HOST = HostInfo("h", "Linux", "x", "6", False, 1000, "0", "3.11")
MAPPING = UpnpMapping("tcp", 8080, "192.168.1.5", 80, description="web")


def exposure(*reach: Reach, mappings: tuple[UpnpMapping, ...] = (), **kw: object) -> Exposure:
    scopes = tuple(dict.fromkeys(r.scope for r in reach if r.up))
    return Exposure(
        listener=Listener("tcp", "ipv4", "0.0.0.0", 80),
        reach=reach,
        widest_scope=str(kw.pop("widest", scopes[-1] if scopes else "loopback")),
        scopes=scopes,
        upnp_mappings=mappings,
        **kw,  # type: ignore[arg-type]  # test helper: firewall verdicts only
    )


@pytest.mark.parametrize(
    ("scope", "iface", "address", "network", "words"),
    [
        ("loopback", "lo", "127.0.0.1", "127.0.0.0/8", "this machine only (lo)"),
        ("lan", "eth0", "10.0.0.5", "10.0.0.0/24", "everyone on eth0 (10.0.0.0/24)"),
        ("lan", "weird0", "10.0.0.5", "10.0.0.0/24", "everyone on weird0 (10.0.0.0/24)"),
        ("lan", "unknown9", "10.0.0.5", None, "everyone on unknown9 (10.0.0.5/32)"),
        # a bridge and a veth an engine's state claims: containers
        ("lan", "docker0", "172.17.0.1", "172.17.0.0/16", "containers on docker0 (172.17.0.0/16)"),
        ("lan", "vethc", "172.17.0.1", "172.17.0.0/16", "containers on vethc (172.17.0.0/16)"),
        # a bridge or veth no engine claims: a network like any other
        ("lan", "br-lan", "192.168.1.1", "192.168.1.0/24", "everyone on br-lan (192.168.1.0/24)"),
        ("lan", "veth0", "10.1.2.1", "10.1.2.0/24", "everyone on veth0 (10.1.2.0/24)"),
        ("vpn", "wg0", "10.66.0.1", "10.66.0.0/24", "peers on the VPN wg0 (10.66.0.0/24)"),
        ("public", "eth0", "94.130.10.21", "94.130.10.0/26",
         "anyone on the internet via eth0 (94.130.10.21)"),
        ("link_local", "wlan0", "fe80::1", "fe80::/64",
         "neighbours on wlan0 (link-local fe80::/64)"),
    ],
)  # fmt: skip
def test_one_place(scope: str, iface: str, address: str, network: str | None, words: str) -> None:
    assert W.place(scope, iface, W.detail(scope, address, network)) == words
    reach = Reach(iface, address, scope, network)
    assert W.reach_lines(exposure(reach)) == [words]
    if scope != "loopback":  # a finding's sentence says the same
        assert W.reach_sentence(exposure(reach)) == words


@pytest.mark.parametrize(
    ("scope", "ifaces", "words"),
    [
        ("loopback", ["lo"], "this machine only (loopback)"),
        ("link_local", ["wlan0"], "neighbours on the same link (wlan0)"),
        ("lan", ["wlan0"], "the Wi-Fi network (wlan0)"),
        ("lan", ["eth0", "wlan0"], "the local network (eth0, wlan0)"),
        ("lan", ["docker0"], "containers (docker0)"),
        ("lan", ["virbr0"], "the local network (virbr0)"),  # no container known on it
        ("lan", ["veth0"], "the local network (veth0)"),
        ("lan", ["a", "b", "c", "d"], "the local network (a, b, c, ...)"),
        ("vpn", ["wg0"], "the VPN (wg0)"),
        ("public", ["eth0"], "the internet directly (public address on eth0)"),
        ("internet", [], "the internet (a UPnP port mapping on the router)"),
    ],
)
def test_scope_words(scope: str, ifaces: list[str], words: str) -> None:
    assert W.scope_words(scope, ifaces) == words


@pytest.mark.parametrize(
    ("scope", "ip", "beyond", "audience"),
    [
        (None, None, "the internet", "anyone on the internet"),
        ("public", "94.130.77.88", "the internet", "anyone on the internet"),
        (
            "lan",
            "10.0.0.2",
            "the network beyond the router (double NAT: perhaps not the internet)",
            "anyone on the network beyond the router (the router's own WAN address 10.0.0.2 "
            "is private: double NAT, so perhaps not the whole internet)",
        ),
        (
            "vpn",
            "100.70.1.2",
            "the carrier's network beyond the router (carrier-grade NAT: perhaps not the internet)",
            "anyone on the network beyond the router (the router's own WAN address 100.70.1.2 "
            "is carrier-grade NAT (100.64.0.0/10), so perhaps not the whole internet)",
        ),
    ],
)
def test_upnp_audience(scope: str | None, ip: str | None, beyond: str, audience: str) -> None:
    upnp = None if scope is None else UpnpFacts("ok", external_ip=ip, external_scope=scope)
    w = Wording(KINDS, upnp)
    assert w.beyond_router() == beyond
    assert w.upnp_audience()[0] == audience
    assert w.scope_words("internet", []) == f"{beyond} (a UPnP port mapping on the router)"
    assert w.mapping_line(MAPPING) == (
        f'{beyond} via the router: port 8080/tcp → 192.168.1.5:80 (UPnP mapping, "web")'
    )


def test_mappings_in_a_sentence() -> None:
    upnp = UpnpFacts("ok", external_ip="203.0.113.7", external_scope="public")
    w = Wording(KINDS, upnp)
    only = UpnpMapping("udp", 9, "192.168.1.5", 9, remote_host="198.51.100.1")
    assert w.mappings_desc([MAPPING, only]) == (
        "port 8080/tcp on 203.0.113.7 and port 9/udp on 203.0.113.7 (only from 198.51.100.1)"
    )
    reach = Reach("eth0", "10.0.0.5", "lan", "10.0.0.0/24")
    x = exposure(reach, mappings=(MAPPING,), widest="internet")
    assert w.reach_sentence(x) == (
        "the whole internet through the router (port 8080/tcp on 203.0.113.7) and "
        "everyone on eth0 (10.0.0.0/24)"
    )
    assert (
        Wording(KINDS).mappings_desc([MAPPING]) == "port 8080/tcp on the router's external address"
    )
    assert w.reach_lines(x)[0].startswith("the internet via the router: port 8080/tcp")


def test_filtered_and_blocked() -> None:
    reach = Reach("eth0", "10.0.0.5", "lan", "10.0.0.0/24", firewall="filtered")
    x = exposure(reach, mappings=(MAPPING,), upnp_firewall="filtered")
    assert [line.endswith(" - but the firewall filters it") for line in W.reach_lines(x)] == [
        True,
        True,
    ]
    assert W.reach_sentence(exposure(), ["eth0", "wlan0"]) == (
        "nowhere right now (its address is not assigned to an up interface)"
        " (the firewall blocks it on eth0 and wlan0)"
    )


def test_sentence_order_limits_and_link_local() -> None:
    ll = Reach("wlan0", "fe80::1", "link_local", "fe80::/64")
    lan = [Reach(f"eth{i}", f"10.0.{i}.5", "lan", f"10.0.{i}.0/24") for i in range(6)]
    down = Reach("wg0", "10.66.0.1", "vpn", "10.66.0.0/24", up=False)
    x = exposure(ll, *lan, down)
    assert W.reach_sentence(x) == (
        "everyone on eth0 (10.0.0.0/24), eth1 (10.0.1.0/24), eth2 (10.0.2.0/24) and "
        "eth3 (10.0.3.0/24) and 2 more interfaces"
    )  # link-local only when nothing wider; down interfaces never
    assert W.reach_sentence(exposure(ll)) == "neighbours on wlan0 (link-local fe80::/64)"
    many = [Reach("eth0", f"10.0.{i}.5", "lan", f"10.0.{i}.0/24") for i in range(5)]
    assert W.reach_sentence(exposure(*many)) == (
        "everyone on eth0 (10.0.0.0/24, 10.0.1.0/24, 10.0.2.0/24, +2 more)"
    )
    lo = Reach("lo", "127.0.0.1", "loopback", "127.0.0.0/8")
    assert W.reach_sentence(exposure(lo)) == "this machine only (loopback)"
    assert W.reach_lines(exposure(lo, lan[0], ll)) == [
        "everyone on eth0 (10.0.0.0/24)",
        "neighbours on wlan0 (link-local fe80::/64)",
        "this machine only (lo)",
    ]


def test_helpers() -> None:
    assert and_list([]) == "" and and_list(["a"]) == "a"
    assert and_list(["a", "b", "c"]) == "a, b and c"
    assert network_of("10.0.0.5", None) == "10.0.0.5/32"
    assert network_of("garbage", None) == "garbage"
    assert network_of("10.0.0.5", "10.0.0.0/8") == "10.0.0.0/8"


@pytest.mark.parametrize(
    ("ports", "limit", "text"),
    [
        ([], None, ""),
        ([8000], None, "8000"),
        ([443, 80, 80], None, "80, 443"),
        ([*range(8000, 8011), 443, 80], None, "80, 443, 8000–8010"),
        (list(range(20000, 24000)), None, "20000–23999"),
        ([1, 3, 5, 7, 9, 10, 11], 2, "1, 3 and 3 more ranges"),
        ([1, 3, 5], 2, "1, 3 and 1 more range"),
        (list(range(0, 20000, 2)), 1, "0 and 9,999 more ranges"),
    ],
)
def test_port_ranges_in_words(ports: list[int], limit: int | None, text: str) -> None:
    assert ports_text(port_ranges(ports), limit) == text


def test_port_ranges_are_sorted_runs() -> None:
    assert port_ranges([5, 1, 2, 3, 9, 10]) == [(1, 3), (5, 5), (9, 10)]
