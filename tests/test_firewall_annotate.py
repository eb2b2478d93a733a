"""annotate(): firewall verdicts on resolved exposures, and container publishing
(docker-proxy, conmon, DNAT without a listener). Fixture Facts, no OS access; the
runtime files (config.v2.json, containers.json) are written to tmp_path in the
runtimes' own format since no Docker/Podman runs here."""

from __future__ import annotations

import json
from pathlib import Path

from exposure_audit.analysis.exposure import resolve
from exposure_audit.analysis.firewall.annotate import annotate
from exposure_audit.analysis.firewall.published import (
    published_exposures,
    published_without_listener,
)
from exposure_audit.collectors.firewall import containers, iptables
from exposure_audit.core.model import (
    Address,
    ContainerInfo,
    Facts,
    FirewallFacts,
    HostInfo,
    Interface,
    Listener,
    ProcessInfo,
)
from exposure_audit.core.serialize import facts_from_dict, facts_to_dict

FIX = Path(__file__).resolve().parent / "fixtures" / "firewall"
CID = "4f6a" + "0" * 60
PODMAN_CID = "9b1c" + "0" * 60
HOST = HostInfo("h", "Linux", "Debian", "6.1", True, 0, "0", "3.11")
IFACES = (
    Interface("lo", True, "loopback",
              (Address("127.0.0.1", 8, "ipv4", "loopback", "127.0.0.0/8"),)),
    Interface("eth0", True, "physical", (Address("10.1.0.1", 24, "ipv4", "lan", "10.1.0.0/24"),)),
    Interface("docker0", True, "container_bridge",
              (Address("172.17.0.1", 16, "ipv4", "lan", "172.17.0.0/16"),)),
)  # fmt: skip
PROXY = ProcessInfo(
    pid=900, name="docker-proxy",
    cmdline=("/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0", "-host-port",
             "8080", "-container-ip", "172.17.0.2", "-container-port", "80"),
)  # fmt: skip
CONMON = ProcessInfo(
    pid=901, name="conmon",
    cmdline=("/usr/bin/conmon", "--api-version", "1", "-c", PODMAN_CID, "-u", PODMAN_CID,
             "-n", "db"),
)  # fmt: skip


def docker_facts(listeners: tuple[Listener, ...]) -> Facts:
    chains, published = iptables.parse_save((FIX / "docker.save.txt").read_text(), "ip")
    found = [ContainerInfo(CID, "docker", "web", ("172.17.0.2",))]
    published = containers.attach_containers(published, found)
    fw = FirewallFacts("iptables-nft", tuple(chains), tuple(found))
    return Facts(HOST, "2026-01-01T00:00:00Z", IFACES, listeners=listeners, firewall=fw,
                 published=tuple(published))  # fmt: skip


def by_port(exposures):
    return {e.listener.port: e for e in exposures}


def test_verdicts_per_reach_and_most_open_per_exposure() -> None:
    facts = docker_facts((
        Listener("tcp", "ipv4", "0.0.0.0", 22),
        Listener("tcp", "ipv4", "0.0.0.0", 5432),
        Listener("tcp", "ipv4", "127.0.0.1", 6379),
    ))  # fmt: skip
    before = resolve(facts).exposures
    assert all(e.firewall is None for e in before)
    exps = by_port(annotate(facts, before))
    ssh = exps[22]
    assert ssh.firewall == "open" and {r.firewall for r in ssh.reach} == {"open"}
    pg = exps[5432]
    verdicts = {r.interface: r.firewall for r in pg.reach}
    assert verdicts == {"lo": "open", "eth0": "filtered", "docker0": "filtered"}
    # loopback (this machine) is open, but only what lies beyond it counts
    assert pg.firewall == "filtered"
    eth0 = next(r for r in pg.reach if r.interface == "eth0")
    assert eth0.firewall_evidence == "dropped by: policy drop of chain ip filter INPUT"
    assert pg.firewall_evidence == "eth0 10.1.0.1: " + eth0.firewall_evidence
    assert exps[6379].firewall == "open" and exps[6379].published_by is None  # lo only


def test_docker_proxy_listener_is_attributed_and_its_dnat_bypasses_input() -> None:
    facts = docker_facts((Listener("tcp", "ipv4", "0.0.0.0", 8080, process=PROXY),))
    (exp,) = annotate(facts, resolve(facts).exposures)
    assert (exp.published_by, exp.container) == ("docker", "web")
    eth0 = next(r for r in exp.reach if r.interface == "eth0")
    assert eth0.firewall == "open"  # although INPUT's policy drops 8080
    assert "bypasses the input filter" in (eth0.firewall_evidence or "")
    assert "published by docker to web:80" in (eth0.firewall_evidence or "")
    # from docker0 itself the DNAT rule does not apply (! -i docker0): INPUT decides
    d0 = next(r for r in exp.reach if r.interface == "docker0")
    assert d0.firewall == "filtered"
    assert published_without_listener(facts) == ()


def test_dnat_publish_without_listener_and_conmon() -> None:
    facts = docker_facts((Listener("tcp", "ipv4", "0.0.0.0", 5432, process=CONMON),))
    (pub,) = published_without_listener(facts)
    assert (pub.host_port, pub.container_name, pub.container_id) == (8080, "web", CID)
    (exp,) = annotate(facts, resolve(facts).exposures)
    assert (exp.published_by, exp.container) == ("podman", "db")


def test_no_firewall_facts_leaves_exposures_alone() -> None:
    facts = Facts(HOST, "t", IFACES, listeners=(Listener("tcp", "ipv4", "0.0.0.0", 22),))
    exps = resolve(facts).exposures
    assert annotate(facts, exps) == exps


def test_facts_with_firewall_round_trip_through_json() -> None:
    facts = docker_facts((Listener("tcp", "ipv4", "0.0.0.0", 22),))
    data = json.loads(json.dumps(facts_to_dict(facts)))
    assert facts_from_dict(data) == facts
    assert len(json.dumps(data["firewall"])) < 20_000  # normalised: inbound path only


def test_runtime_files(tmp_path: Path) -> None:
    root = tmp_path / "docker"
    good = root / "containers" / CID
    good.mkdir(parents=True)
    (good / "config.v2.json").write_text(json.dumps({
        "ID": CID, "Name": "/web", "State": {"Running": True},
        "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2",
                                                    "GlobalIPv6Address": ""}}},
    }))  # fmt: skip
    for name, content in (("broken", "{not json"), ("list", "[1, 2]"), ("huge", " " * 5_000_000)):
        d = root / "containers" / name
        d.mkdir()
        (d / "config.v2.json").write_text(content)
    (root / "containers" / "empty").mkdir()
    assert containers.docker_containers(root) == [
        ContainerInfo(CID, "docker", "web", ("172.17.0.2",))
    ]
    assert containers.docker_containers(tmp_path / "absent") == []
    pj = tmp_path / "containers.json"
    pj.write_text(json.dumps([{"id": CID, "names": ["db"]}, {"id": 3}, "x"]))
    assert containers.podman_containers(pj) == [ContainerInfo(CID, "podman", "db")]


def test_published_exposures_for_dnat_without_listener() -> None:
    facts = docker_facts((Listener("tcp", "ipv4", "0.0.0.0", 22),))
    (exp,) = published_exposures(facts)
    assert (exp.listener.protocol, exp.listener.address, exp.listener.port) == (
        "tcp", "0.0.0.0", 8080,
    )  # fmt: skip
    assert exp.listener.source == "dnat" and exp.listener.process is None
    # docker0 is excluded by the rule, loopback never sees PREROUTING DNAT
    assert [(r.interface, r.address, r.firewall) for r in exp.reach] == [
        ("eth0", "10.1.0.1", "open")
    ]
    assert (exp.widest_scope, exp.scopes, exp.interface_kinds) == ("lan", ("lan",), ("physical",))
    assert (exp.published_by, exp.container, exp.firewall) == ("docker", "web", "open")
    assert "bypasses the input filter" in (exp.firewall_evidence or "")
    assert "no socket on this host" in exp.listener.notes[0]
    with_proxy = docker_facts((Listener("tcp", "ipv4", "0.0.0.0", 8080, process=PROXY),))
    assert published_exposures(with_proxy) == []


# --------------------------------------------------------------------------- UPnP


def _upnp_facts(rules: str) -> Facts:
    """A listener on 0.0.0.0:8000 that the router maps from the internet (18000), and an
    nft ruleset (JSON through the real parser, as collect reads it)."""
    from exposure_audit.collectors.firewall import nftables
    from exposure_audit.core.model import UpnpFacts, UpnpMapping

    rule_objs = [
        {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": i + 2, "expr": e}}
        for i, e in enumerate(json.loads(rules))
    ]
    data = {"nftables": [
        {"table": {"family": "inet", "name": "t", "handle": 1}},
        {"chain": {"family": "inet", "table": "t", "name": "input", "handle": 1,
                   "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
        *rule_objs,
    ]}  # fmt: skip
    chains, _ = nftables.parse_ruleset(data)
    mapping = UpnpMapping("tcp", 18000, "10.1.0.1", 8000, "demo")
    return Facts(
        HOST, "2026-01-01T00:00:00Z", IFACES,
        listeners=(Listener("tcp", "ipv4", "0.0.0.0", 8000, process=ProcessInfo(7, "python3")),),
        upnp=UpnpFacts("ok", external_ip="203.0.113.9", external_scope="public",
                       mappings=(mapping,)),
        firewall=FirewallFacts("nftables", tuple(chains)),
    )  # fmt: skip


DPORT_8000 = {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                        "right": 8000}}  # fmt: skip
FROM_LAN = {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                      "right": {"prefix": {"addr": "10.1.0.0", "len": 24}}}}  # fmt: skip


def test_upnp_forwarded_traffic_the_host_drops_is_not_internet_exposure() -> None:
    """The router forwards 18000 to us, but the host drops port 8000 from everyone: the
    mapping is reported, the internet reach does not count (info, with the rule)."""
    from exposure_audit.analysis.evaluate import EvaluateOptions, evaluate

    facts = _upnp_facts(json.dumps([[DPORT_8000, {"drop": None}]]))
    (x,) = [e for e in annotate(facts, resolve(facts).exposures) if e.listener.port == 8000]
    assert x.upnp_firewall == "filtered"
    assert "mapping 18000/tcp -> 10.1.0.1:8000 (eth0)" in (x.upnp_firewall_evidence or "")
    ev = evaluate(facts, EvaluateOptions(builtin_waivers=False))
    mine = [f for f in ev.findings if f.exposure and f.exposure.listener.port == 8000]
    assert mine and {f.severity for f in mine} == {"info"}, [(f.rule_id, f.severity) for f in mine]
    assert any("what the router's UPnP mappings forward" in f.message for f in mine)


def test_upnp_forwarded_traffic_accepted_only_from_the_lan_still_counts() -> None:
    """Accepted from 10.1.0.0/24 only, else dropped. Forwarded traffic is evaluated from
    any source (the router keeps the sender's address, which the host cannot know), and
    some sources are accepted: not provably dropped, so the internet exposure stays
    (never claim less than proven). A mapping limited to one remote host outside the LAN
    is provably dropped."""
    from exposure_audit.analysis.evaluate import EvaluateOptions, evaluate

    facts = _upnp_facts(json.dumps([
        [FROM_LAN, DPORT_8000, {"accept": None}], [DPORT_8000, {"drop": None}],
    ]))  # fmt: skip
    (x,) = [e for e in annotate(facts, resolve(facts).exposures) if e.listener.port == 8000]
    assert x.upnp_firewall == "open"
    ev = evaluate(facts, EvaluateOptions(builtin_waivers=False))
    worst = max(
        (f for f in ev.findings if f.exposure and f.exposure.listener.port == 8000),
        key=lambda f: ["info", "low", "medium", "high", "critical"].index(f.severity),
    )
    assert worst.severity in ("high", "critical"), worst
    # With the mapping limited to one remote host outside the LAN, it is provably dropped.
    from exposure_audit.core import records

    m = records.replace(facts.upnp.mappings[0], remote_host="198.51.100.7")  # type: ignore[union-attr]
    only = records.replace(facts, upnp=records.replace(facts.upnp, mappings=(m,)))
    (x,) = [e for e in annotate(only, resolve(only).exposures) if e.listener.port == 8000]
    assert x.upnp_firewall == "filtered"


def test_listeners_sharing_their_reach_get_the_verdicts_each_would_alone() -> None:
    """annotate works a reach tuple out once per protocol and port (once in all when the
    ruleset has no inbound chain): the same verdicts as each exposure annotated alone."""
    from exposure_audit.collectors.firewall import nftables

    drop_8000 = [{**DPORT_8000}, {"drop": None}]
    for exprs in ([drop_8000], []):
        rule_objs = [
            {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": i + 2,
                      "expr": e}}
            for i, e in enumerate(exprs)
        ]  # fmt: skip
        chain = {"family": "inet", "table": "t", "name": "input", "handle": 1,
                 "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}  # fmt: skip
        data = {"nftables": [{"table": {"family": "inet", "name": "t", "handle": 1}},
                             {"chain": chain}, *rule_objs]}  # fmt: skip
        chains, _ = nftables.parse_ruleset(data)
        listeners = tuple(
            Listener(proto, "ipv4", address, port, process=ProcessInfo(7, "python3"))
            for proto in ("tcp", "udp")
            for address in ("0.0.0.0", "127.0.0.1", "10.1.0.1")
            for port in (7999, 8000, 8001)
        )
        facts = Facts(HOST, "2026-01-01T00:00:00Z", IFACES, listeners=listeners,
                      firewall=FirewallFacts("nftables", tuple(chains)))  # fmt: skip
        exposures = list(resolve(facts).exposures)
        assert len({id(e.reach) for e in exposures}) < len(exposures)  # shared: the case
        together = annotate(facts, exposures)
        alone = [annotate(facts, [e])[0] for e in exposures]
        assert together == alone
        verdicts = {(e.listener.protocol, e.listener.port, e.firewall) for e in together}
        if exprs:
            assert ("tcp", 8000, "filtered") in verdicts and ("tcp", 8001, "open") in verdicts
        else:
            assert {v for _p, _n, v in verdicts} == {"open"}
