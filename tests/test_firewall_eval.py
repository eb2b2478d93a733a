"""The evaluator over recorded rulesets (no root, no namespaces).

ufw.save.txt / ufw.nft.json / firewalld.nft.json / docker.* were recorded by
tests/fixtures/firewall/record.py from the real tools (iptables-nft-restore, nft -f)
in a throw-away namespace; the same rulesets are checked against real peers in
test_firewall_groundtruth.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exposure_audit.analysis.firewall.evaluate import evaluate
from exposure_audit.collectors.firewall import iptables, nftables
from exposure_audit.core.model import FirewallChain, FirewallFacts, FirewallMatch, FirewallRule

FIX = Path(__file__).resolve().parent / "fixtures" / "firewall"
A = ("vA", "10.1.0.1", "10.1.0.0/24")
B = ("vB", "10.2.0.1", "10.2.0.0/24")
A6 = ("vA", "fd01::1", "fd01::/64")


def _facts(chains: list[FirewallChain], backend: str = "nftables") -> FirewallFacts:
    return FirewallFacts(backend=backend, chains=tuple(chains))


def ufw_save() -> FirewallFacts:
    chains, _ = iptables.parse_save((FIX / "ufw.save.txt").read_text(), "ip")
    return _facts(chains, "iptables-nft")


def nft_fixture(name: str) -> FirewallFacts:
    data = json.loads((FIX / f"{name}.nft.json").read_text())
    chains, _ = nftables.parse_ruleset(data, (FIX / f"{name}.nft.txt").read_text())
    return _facts(chains)


def check(fw: FirewallFacts, proto: str, port: int, reach: tuple[str, str, str]):
    iface, addr, net = reach
    return evaluate(fw, proto, port, addr, iface, net)


# --------------------------------------------------------------------------- ufw


@pytest.mark.parametrize(
    ("proto", "port", "reach", "want", "evidence"),
    [
        ("tcp", 22, A, "open", "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT"),
        ("tcp", 2222, B, "open", "ufw-user-limit-accept"),  # ufw limit: first conn passes
        ("tcp", 8000, A, "open", "-s 10.1.0.0/24"),
        ("tcp", 8000, B, "filtered", "policy drop of chain ip filter INPUT"),
        ("tcp", 8001, A, "filtered", "--dport 8001 -j DROP"),
        ("tcp", 8002, A, "filtered", "--reject-with tcp-reset"),
        ("udp", 5353, A, "filtered", "policy drop"),  # the 5353 rule is for 224.0.0.251
        ("udp", 68, A, "open", "only with source port 67"),  # DHCP client rule
        ("tcp", 22, A6, "open", "no ipv6 input filter"),  # only ip tables loaded
    ],
)
def test_ufw_chains_from_iptables_save(proto, port, reach, want, evidence) -> None:
    v = check(ufw_save(), proto, port, reach)
    assert v.result == want, v
    assert evidence in v.evidence


def test_ufw_nft_json_alone_is_unknown_not_wrong() -> None:
    """iptables-nft's conntrack/recent matches are opaque ("xt") in nft's JSON: read
    alone, the ufw ruleset must give "unknown" naming them, never a wrong verdict.
    (The collector reads such tables from iptables-nft-save instead.)"""
    fw = nft_fixture("ufw")
    truth = ufw_save()
    for proto, port in (("tcp", 22), ("tcp", 8000), ("tcp", 8001), ("udp", 5353)):
        for reach in (A, B):
            v, t = check(fw, proto, port, reach), check(truth, proto, port, reach)
            assert v.result in (t.result, "unknown"), (proto, port, reach, v, t)
    v = check(fw, "tcp", 22, A)
    assert v.result == "unknown" and "xt match conntrack" in v.evidence


# --------------------------------------------------------------------------- firewalld


@pytest.mark.parametrize(
    ("proto", "port", "reach", "want", "evidence"),
    [
        ("tcp", 22, A, "open", "tcp dport 22 ct state { new, untracked } accept"),
        ("tcp", 9090, A, "open", "tcp dport 9090"),
        ("tcp", 9090, B, "filtered", "reject with icmpx admin-prohibited"),  # zone home
        ("tcp", 8000, B, "open", "tcp dport 8000"),
        ("tcp", 8000, A, "filtered", "reject with icmpx admin-prohibited"),
        ("udp", 5353, B, "filtered", "reject"),  # mdns rule is for 224.0.0.251 only
        ("tcp", 22, A6, "open", "tcp dport 22"),  # rpfilter in raw_PREROUTING passes
        ("udp", 546, A6, "filtered", "reject"),  # dhcpv6-client only to fe80::/64
        ("udp", 546, ("vA", "fe80::1", "fe80::/64"), "open", "udp dport 546"),
        ("tcp", 22, ("eth9", "192.0.2.1", "192.0.2.0/24"), "open", "tcp dport 22"),  # default
        ("tcp", 8000, ("eth9", "192.0.2.1", "192.0.2.0/24"), "filtered", "reject"),
        ("tcp", 8000, ("lo", "127.0.0.1", "127.0.0.0/8"), "open", 'iifname "lo" accept'),
    ],
)
def test_firewalld_zones(proto, port, reach, want, evidence) -> None:
    v = check(nft_fixture("firewalld"), proto, port, reach)
    assert v.result == want, v
    assert evidence in v.evidence


def test_firewalld_chains_kept_are_the_inbound_path_only() -> None:
    names = {c.name for c in nft_fixture("firewalld").chains}
    assert {"filter_INPUT", "filter_INPUT_ZONES", "filter_IN_public_allow"} <= names
    assert {"raw_PREROUTING", "mangle_PREROUTING"} <= names
    assert not any("FWD" in n or "OUTPUT" in n for n in names)


# --------------------------------------------------------------------------- docker


def test_docker_dnat_read_from_save_and_from_nft_json() -> None:
    _, from_save = iptables.parse_save((FIX / "docker.save.txt").read_text(), "ip")
    data = json.loads((FIX / "docker.nft.json").read_text())
    _, from_json = nftables.parse_ruleset(data, (FIX / "docker.nft.txt").read_text())
    for published in (from_save, from_json):
        assert len(published) == 1
        p = published[0]
        assert (p.protocol, p.host_port, p.target_address, p.target_port) == (
            "tcp", 8080, "172.17.0.2", 80,
        )  # fmt: skip
        assert p.published_by == "docker" and p.excluded_interface == "docker0"
        assert p.bypasses_input_filter and p.host_address is None
    assert from_save[0].evidence.startswith("-A DOCKER ! -i docker0")
    assert "dnat to 172.17.0.2:80" in from_json[0].evidence


def test_native_nft_publishing_docker_and_netavark() -> None:
    data = json.loads((FIX / "docker-nft.nft.json").read_text())
    chains, published = nftables.parse_ruleset(data, (FIX / "docker-nft.nft.txt").read_text())
    got = {(p.published_by, p.protocol, p.host_port, p.target_address, p.target_port,
            p.excluded_interface, p.container_id) for p in published}  # fmt: skip
    assert got == {
        ("docker", "tcp", 8080, "172.17.0.2", 80, "docker0", None),
        ("podman", "tcp", 8443, "10.88.0.2", 443, None, "7c1e5b6f4a3d2c1b0a9f8e7d6c5b4a3f"
         "2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b"),
    }  # fmt: skip
    # forward chains are not on the inbound path; the input chain and the nat
    # prerouting chains (with the chains they jump to) are
    kept = [(c.table, c.name, c.type) for c in chains]
    assert ("filter", "input", "filter") in kept
    assert {c.type for c in chains if c.hook} == {"filter", "nat"}
    assert all(c.hook in ("input", "prerouting", None) for c in chains), kept
    fw = _facts(chains)
    # the host's own 8080 is NAT'ed to the container: no listener here gets it
    v = check(fw, "tcp", 8080, A)
    assert v.result == "filtered" and "172.17.0.2:80" in v.evidence, v


# --------------------------------------------------------------------------- semantics


def rule(text: str, *matches: FirewallMatch, verdict: str | None = "accept", target=None,
         unknown: tuple[str, ...] = ()) -> FirewallRule:  # fmt: skip
    return FirewallRule(text, matches, verdict, target, unknown)


def M(field: str, *values: str, negate: bool = False) -> FirewallMatch:
    return FirewallMatch(field, values, negate)


def base(*rules: FirewallRule, policy: str = "drop", name: str = "input",
         hook: str = "input", prio: int = 0, family: str = "inet") -> FirewallChain:  # fmt: skip
    return FirewallChain("t", family, name, hook, "filter", prio, policy, rules)


def sub(name: str, *rules: FirewallRule) -> FirewallChain:
    return FirewallChain("t", "inet", name, rules=rules)


def test_partial_subnet_is_open_with_the_restriction() -> None:
    fw = _facts([base(rule("ip saddr 10.1.0.0/28 accept", M("saddr", "10.1.0.0/28")))])
    v = check(fw, "tcp", 8000, A)
    assert v.result == "open" and "only from 10.1.0.0/28" in v.evidence
    assert check(fw, "tcp", 8000, B).result == "filtered"


def test_saddr_split_follows_rule_order() -> None:
    # drop a /25 first, then accept the whole /24: the other half is still accepted
    fw = _facts([base(
        rule("drop half", M("saddr", "10.1.0.0/25"), verdict="drop"),
        rule("accept all", M("saddr", "10.1.0.0/24")),
    )])  # fmt: skip
    v = check(fw, "tcp", 1, A)
    assert v.result == "open" and "only from 10.1.0.128/25" in v.evidence
    fw = _facts([base(
        rule("drop all", M("saddr", "10.0.0.0/8"), verdict="drop"),
        rule("accept", M("saddr", "10.1.0.0/24")),
    )])  # fmt: skip
    assert check(fw, "tcp", 1, A).result == "filtered"
    assert check(fw, "tcp", 1, A).evidence == "dropped by: drop all"


def test_negated_saddr_and_unknown_network_means_any_source() -> None:
    fw = _facts([base(rule("not from 10/8", M("saddr", "10.0.0.0/8", negate=True)))])
    assert check(fw, "tcp", 1, A).result == "filtered"
    v = evaluate(fw, "tcp", 1, "10.1.0.1", "vA", None)  # network unknown: anyone
    assert v.result == "open" and "only from" in v.evidence


def test_unknown_construct_is_named_and_harmless_when_both_ways_agree() -> None:
    fw = _facts([base(
        rule("meta mark 1 tcp dport 22 accept", M("l4proto", "tcp"), M("dport", "22"),
             unknown=("meta mark 1",)),
        rule("tcp dport 22 accept", M("l4proto", "tcp"), M("dport", "22")),
        rule("meta mark 2 tcp dport 80 accept", M("dport", "80"), unknown=("meta mark 2",)),
        rule("meta mark 3 drop", unknown=("meta mark 3",), verdict="drop"),
    )])  # fmt: skip
    assert check(fw, "tcp", 22, A).result == "open"  # accepted either way
    v = check(fw, "tcp", 80, A)
    assert v.result == "unknown" and "meta mark 2" in v.evidence
    assert check(fw, "tcp", 81, A).result == "filtered"  # mark 3 or not: dropped


def test_jump_return_goto() -> None:
    fw = _facts([
        base(
            rule("jump sub", verdict="jump", target="sub"),
            rule("goto g", M("dport", "7"), verdict="goto", target="g"),
            rule("tcp dport 5 accept", M("dport", "5")),
            policy="drop",
        ),
        sub("sub", rule("5 return", M("dport", "5"), verdict="return"),
            rule("6 accept", M("dport", "6")),
            rule("drop rest", M("dport", "1-4"), verdict="drop")),
        sub("g", rule("nothing", M("dport", "99"))),
    ])  # fmt: skip
    assert check(fw, "tcp", 5, A).result == "open"  # returned, then accepted
    assert check(fw, "tcp", 6, A).result == "open"
    assert check(fw, "tcp", 3, A).evidence == "dropped by: drop rest"
    # goto: falling off g returns past the caller: the base chain's policy applies
    assert "policy drop" in check(fw, "tcp", 7, A).evidence


def test_every_base_chain_must_pass_and_families_apply() -> None:
    fw = _facts([
        base(rule("drop 9090", M("dport", "9090"), verdict="drop"), policy="accept",
             name="pre", hook="prerouting", prio=-150, family="ip"),
        base(policy="accept"),
        base(rule("drop 8000", M("dport", "8000"), verdict="drop"), policy="accept",
             name="late", prio=10, family="ip6"),
    ])  # fmt: skip
    assert check(fw, "tcp", 9090, A).result == "filtered"
    assert check(fw, "tcp", 9090, A6).result == "open"  # the ip table does not see IPv6
    assert check(fw, "tcp", 8000, A6).result == "filtered"
    assert check(fw, "tcp", 8000, A).result == "open"


def test_queue_and_unavailable_are_unknown() -> None:
    fw = _facts([base(rule("queue", verdict="queue"))])
    v = check(fw, "tcp", 1, A)
    assert v.result == "unknown" and "verdict queue" in v.evidence
    v = check(FirewallFacts("unavailable", message="needs root"), "tcp", 1, A)
    assert v == type(v)("unknown", "needs root")
    assert check(FirewallFacts("none"), "tcp", 1, A).result == "open"


def test_too_many_paths_is_unknown_not_a_hang() -> None:
    rules = [rule(f"m{i}", unknown=(f"meta mark {i}",), verdict="jump", target="s")
             for i in range(20)]  # fmt: skip
    fw = _facts([base(*rules), sub("s", rule("x", unknown=("meta mark x",), verdict="return"))])
    v = check(fw, "tcp", 1, A)
    assert v.result == "unknown" and "too complex" in v.evidence


def test_ipv4_mapped_address_is_evaluated_as_ipv4() -> None:
    fw = _facts([base(rule("ip 22", M("nfproto", "ipv4"), M("dport", "22")))])
    assert evaluate(fw, "tcp", 22, "::ffff:10.1.0.1", "vA", "10.1.0.0/24").result == "open"


# --------------------------------------------------------------------------- interface names


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("eth0", "eth0", True),
        ("eth0", "eth01", False),
        ("eth*", "eth0", True),  # nft: a trailing * is a prefix match
        ("eth*", "eth", True),
        ("eth*", "wlan0", False),
        ("*", "anything", True),
        ("eth+", "eth0", False),  # nft: + is a literal character
        ("eth+", "eth+", True),
        ("eth?", "eth0", False),  # ? is literal
        ("eth[0]", "eth0", False),  # [ ] are literal
        ("eth[0]", "eth[0]", True),
        ("e*h0", "eth0", False),  # a * not at the end is literal
        ("e*h0", "e*h0", True),
        ("eth\\*", "eth0", False),  # an escaped trailing * is a literal star
        ("eth\\*", "eth*", True),
    ],
)
def test_interface_patterns_follow_nftables(pattern: str, name: str, hit: bool) -> None:
    from exposure_audit.analysis.firewall.evaluate import iface_matches

    assert iface_matches(name, pattern) is hit
    fw = _facts([base(rule(f'iifname "{pattern}" accept', M("iifname", pattern)))])
    want = "open" if hit else "filtered"
    assert evaluate(fw, "tcp", 1, "10.1.0.1", name, "10.1.0.0/24").result == want


@pytest.mark.parametrize(
    ("written", "stored", "name", "hit"),
    [
        ("eth+", "eth*", "eth0", True),  # iptables: only a trailing + is a wildcard
        ("+", "*", "lo", True),
        ("eth*", "eth\\*", "eth0", False),  # ... a * is a literal character
        ("eth*", "eth\\*", "eth*", True),
        ("eth?", "eth?", "eth0", False),
        ("e+h0", "e+h0", "eth0", False),  # + not at the end: literal
        ("eth0", "eth0", "eth0", True),
    ],
)
def test_iptables_interface_patterns(written: str, stored: str, name: str, hit: bool) -> None:
    save = (
        f"*filter\n:INPUT DROP [0:0]\n-A INPUT -i {written} -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    chains, _ = iptables.parse_save(save, "ip")
    (m,) = [m for c in chains for r in c.rules for m in r.matches if m.field == "iifname"]
    assert m.values == (stored,)
    want = "open" if hit else "filtered"
    fw = _facts(chains, "iptables-legacy")
    assert evaluate(fw, "tcp", 22, "10.1.0.1", name, "10.1.0.0/24").result == want


def test_nft_wildcard_name_in_a_set_listed_as_a_range_is_not_guessed() -> None:
    """nft 1.0.6 lists `iifname { "a*", "b" }` as a set of one range of empty strings:
    which names it matches is not in the JSON, so the condition stays unknown."""
    expr = [
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}},
                   "right": {"set": [{"range": ["", ""]}]}}},
        {"accept": None},
    ]  # fmt: skip
    data = {"nftables": [
        {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter",
                   "hook": "input", "prio": 0, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": expr}},
    ]}  # fmt: skip
    chains, _ = nftables.parse_ruleset(data)
    assert check(_facts(chains), "tcp", 1, A).result == "unknown"


def test_old_facts_interface_wildcards_become_unknown_not_guessed() -> None:
    """Facts before 2.2 held "eth+" (iptables' wildcard, or nft's literal name) and
    "eth*" (nft's wildcard, or iptables' literal) without saying which tool wrote them."""
    from exposure_audit.core.model import Facts, HostInfo
    from exposure_audit.core.serialize import facts_from_dict, facts_to_dict

    fw = _facts([base(
        rule("-i eth+ -j ACCEPT", M("iifname", "eth+")),
        rule("-i lo -j ACCEPT", M("iifname", "lo")),
    )])  # fmt: skip
    host = HostInfo("h", "Linux", "Debian", "6.1", True, 0, "0", "3.11")
    facts = Facts(host=host, collected_at="2026-01-01T00:00:00Z", firewall=fw)
    doc = facts_to_dict(facts)
    doc["schema_version"] = "2.1"  # (2.0 likewise)
    old = facts_from_dict(doc)
    assert old.firewall is not None
    fields = [m.field for c in old.firewall.chains for r in c.rules for m in r.matches]
    assert fields == ["?iifname", "iifname"]
    assert evaluate(old.firewall, "tcp", 1, "10.1.0.1", "eth0", None).result == "unknown"
    assert evaluate(old.firewall, "tcp", 1, "10.1.0.1", "lo", None).result == "open"
    doc["schema_version"] = "2.2"
    new = facts_from_dict(doc)
    assert new.firewall is not None
    assert evaluate(new.firewall, "tcp", 1, "10.1.0.1", "eth0", None).result == "filtered"


# --------------------------------------------------------------------------- goto / jump


def test_goto_does_not_come_back_but_jump_does() -> None:
    """After ``goto g`` falls off the end of g, the packet does not resume in the chain
    that said goto: it returns to where that chain was jumped to from (for a base
    chain: its policy). ``jump`` resumes right after the jump."""
    g = sub("g", rule("tcp dport 99 accept", M("dport", "99")))
    via_goto = _facts([
        base(rule("goto g", M("dport", "7"), verdict="goto", target="g"),
             rule("accept rest", M("l4proto", "tcp"))),
        g,
    ])  # fmt: skip
    v = check(via_goto, "tcp", 7, A)
    assert v.result == "filtered" and "policy drop" in v.evidence
    via_jump = _facts([
        base(rule("jump g", M("dport", "7"), verdict="jump", target="g"),
             rule("accept rest", M("l4proto", "tcp"))),
        g,
    ])  # fmt: skip
    v = check(via_jump, "tcp", 7, A)
    assert v.result == "open" and "accept rest" in v.evidence


def test_goto_inside_a_jumped_chain_returns_to_the_jumper() -> None:
    """base: jump s1, accept; s1: goto g, drop; g: nothing. Falling off g returns to
    base after its jump (the goto replaced s1's frame): accepted, never s1's drop."""
    fw = _facts([
        base(rule("jump s1", verdict="jump", target="s1"),
             rule("accept after s1", M("l4proto", "tcp"))),
        sub("s1", rule("goto g", verdict="goto", target="g"),
            rule("s1 drop", verdict="drop")),
        sub("g", rule("tcp dport 99 drop", M("dport", "99"), verdict="drop")),
    ])  # fmt: skip
    v = check(fw, "tcp", 7, A)
    assert v.result == "open" and "accept after s1" in v.evidence
    assert check(fw, "tcp", 99, A).evidence == "dropped by: tcp dport 99 drop"


def test_return_in_a_goto_target_also_skips_the_goto_chain() -> None:
    fw = _facts([
        base(rule("jump s1", verdict="jump", target="s1"), policy="accept"),
        sub("s1", rule("goto g", verdict="goto", target="g"),
            rule("s1 drop", verdict="drop")),
        sub("g", rule("return", verdict="return")),
    ])  # fmt: skip
    assert check(fw, "tcp", 7, A).result == "open"


# --------------------------------------------------------------------------- negated fields


def test_negated_destination_port() -> None:
    fw = _facts([base(rule("tcp dport != 22 accept", M("l4proto", "tcp"),
                           M("dport", "22", negate=True)))])  # fmt: skip
    assert check(fw, "tcp", 8000, A).result == "open"
    v = check(fw, "tcp", 22, A)
    assert v.result == "filtered" and "policy drop" in v.evidence
    assert check(fw, "udp", 8000, A).result == "filtered"  # the rule needs tcp
    ranged = _facts([base(rule("tcp dport != 1000-2000 drop", M("dport", "1000-2000",
                                negate=True), verdict="drop"), policy="accept")])  # fmt: skip
    assert check(ranged, "tcp", 1500, A).result == "open"
    assert check(ranged, "tcp", 999, A).result == "filtered"
    assert check(ranged, "tcp", 2001, A).result == "filtered"


def test_negated_input_interface() -> None:
    fw = _facts([base(rule('iifname != "lo" drop', M("iifname", "lo", negate=True),
                           verdict="drop"), policy="accept")])  # fmt: skip
    assert check(fw, "tcp", 1, A).result == "filtered"
    assert evaluate(fw, "tcp", 1, "127.0.0.1", "lo", "127.0.0.0/8").result == "open"
    wild = _facts([base(rule('iifname != "v*" accept', M("iifname", "v*", negate=True)))])
    assert check(wild, "tcp", 1, A).result == "filtered"  # vA matches v*: not accepted
    assert evaluate(wild, "tcp", 1, "10.9.0.1", "eth0", None).result == "open"


# --------------------------------------------------------------------------- NAT


def nat(*rules: FirewallRule, prio: int = -100, family: str = "inet") -> FirewallChain:
    return FirewallChain("n", family, "pre", "prerouting", "nat", prio, "accept", rules)


def redirect(text: str, dport: str, to: int | None) -> FirewallRule:
    return FirewallRule(text, (M("l4proto", "tcp"), M("dport", dport)), "redirect", None, (),
                        None, to)  # fmt: skip


def test_redirect_reaches_a_listener_that_input_drops_by_port() -> None:
    """firewalld's shape: input drops by policy but accepts ``ct status dnat``; port 80
    is redirected to 8080: 8080 is reached (on 80), not filtered."""
    fw = _facts([
        nat(redirect("tcp dport 80 redirect to :8080", "80", 8080)),
        base(rule("ct status dnat accept", M("ct_status", "dnat"))),
    ])  # fmt: skip
    v = check(fw, "tcp", 8080, A)
    assert v.result == "open", v
    assert v.evidence.startswith("reachable on 10.1.0.1:80, redirected to :8080 by: tcp dport")
    assert check(fw, "tcp", 8081, A).result == "filtered"
    # the direct packet to 8080 is not DNAT'ed: without the redirect it would be dropped
    no_nat = _facts([base(rule("ct status dnat accept", M("ct_status", "dnat")))])
    assert check(no_nat, "tcp", 8080, A).result == "filtered"


def test_chains_before_nat_see_the_port_the_peer_sent_to() -> None:
    early_drop = lambda port, prio: base(  # noqa: E731
        rule(f"tcp dport {port} drop", M("dport", str(port)), verdict="drop"),
        policy="accept", name=f"raw{port}", hook="prerouting", prio=prio,
    )  # fmt: skip
    redir = nat(redirect("tcp dport 80 redirect to :8080", "80", 8080))
    accept_all = base(policy="accept")
    # raw (-300) drops 8080: the redirected packet still carries 80 there, so it passes
    fw = _facts([early_drop(8080, -300), redir, accept_all])
    assert check(fw, "tcp", 8080, A).result == "open"
    # mangle (-150) drops 80: the redirected path is dropped before NAT
    fw = _facts([early_drop(80, -150), redir, accept_all])
    v = check(fw, "tcp", 8080, A)
    assert v.result == "open" and "redirected" not in v.evidence  # the direct path is open
    fw = _facts([early_drop(80, -150), early_drop(8080, -150), redir, accept_all])
    assert check(fw, "tcp", 8080, A).result == "filtered"
    # a filter chain after NAT (priority 0 on prerouting) sees 8080
    fw = _facts([early_drop(8080, 0), redir, accept_all])
    assert check(fw, "tcp", 8080, A).result == "filtered"


def test_dnat_to_another_address_of_the_same_socket() -> None:
    fw = _facts([
        nat(FirewallRule("dnat", (M("dport", "81"),), "dnat", None, (), "10.1.0.1", 9000)),
        base(rule("ct status dnat accept", M("ct_status", "dnat"))),
    ])  # fmt: skip
    # peer on B sends to 10.2.0.1:81: lands on 10.1.0.1:9000, which a "::" socket has
    v = evaluate(fw, "tcp", 9000, "10.2.0.1", "vB", "10.2.0.0/24", ("10.1.0.1", "10.2.0.1"))
    assert v.result == "open" and "redirected to 10.1.0.1:9000" in v.evidence
    # a socket bound to 10.2.0.1 alone does not get it
    assert check(fw, "tcp", 9000, B).result == "filtered"


def test_nat_the_evaluator_cannot_follow_is_unknown_never_filtered() -> None:
    fw = _facts([
        nat(FirewallRule("dnat to tcp dport map { 85 : 10.1.0.1 . 2222 }", (), "unknown")),
        base(rule("ct status dnat accept", M("ct_status", "dnat"))),
    ])  # fmt: skip
    v = check(fw, "tcp", 2222, B)
    assert v.result == "unknown" and "dnat to tcp dport map" in v.evidence
    # a port range target: the address is known, so other addresses stay proven
    fw = _facts([
        nat(FirewallRule("dnat to 10.1.0.1:9000-9001", (M("dport", "83"),), "unknown", None,
                         (), "10.1.0.1")),
        base(rule("ct status dnat accept", M("ct_status", "dnat"))),
    ])  # fmt: skip
    assert check(fw, "tcp", 9000, A).result == "unknown"
    assert check(fw, "tcp", 9000, B).result == "filtered"


def test_a_dnat_elsewhere_takes_the_port_away() -> None:
    fw = _facts([
        nat(FirewallRule("dnat to 172.17.0.2:80", (M("dport", "8080"),), "dnat", None, (),
                         "172.17.0.2", 80)),
        base(policy="accept"),
    ])  # fmt: skip
    v = check(fw, "tcp", 8080, A)
    assert v.result == "filtered" and "NAT'ed to 172.17.0.2:80" in v.evidence


def test_nat_rules_are_parsed_from_nft_json_and_iptables_save() -> None:
    data = {"nftables": [
        {"chain": {"family": "inet", "table": "n", "name": "pre", "type": "nat",
                   "hook": "prerouting", "prio": -100, "policy": "accept"}},
        {"rule": {"family": "inet", "table": "n", "chain": "pre", "handle": 2, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                       "right": 80}}, {"redirect": {"port": 8080}}]}},
        {"rule": {"family": "inet", "table": "n", "chain": "pre", "handle": 3, "expr": [
            {"dnat": {"family": "ip", "addr": "10.1.0.1", "port": 9000}}]}},
        {"rule": {"family": "inet", "table": "n", "chain": "pre", "handle": 4, "expr": [
            {"dnat": {"family": "ip", "addr": {"map": {}}}}]}},
        {"rule": {"family": "inet", "table": "n", "chain": "pre", "handle": 5, "expr": [
            {"redirect": None}]}},
    ]}  # fmt: skip
    chains, _ = nftables.parse_ruleset(data)
    (pre,) = chains
    assert (pre.type, pre.hook, pre.priority) == ("nat", "prerouting", -100)
    got = [(r.verdict, r.nat_address, r.nat_port) for r in pre.rules]
    assert got == [("redirect", None, 8080), ("dnat", "10.1.0.1", 9000),
                   ("unknown", None, None), ("redirect", None, None)]  # fmt: skip
    save = (
        "*nat\n:PREROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080\n"
        "-A PREROUTING -p tcp -m tcp --dport 81 -j DNAT --to-destination 127.0.0.1:8080\n"
        "-A PREROUTING -p tcp -m tcp --dport 83 -j DNAT --to-destination 10.1.0.1:9000-9001\n"
        "-A PREROUTING -p tcp -m tcp --dport 84 -j DNAT --to-destination 10.1.0.1\n"
        "COMMIT\n"
    )
    chains, _ = iptables.parse_save(save, "ip")
    (pre,) = chains
    assert (pre.type, pre.hook, pre.priority) == ("nat", "prerouting", -100)
    got = [(r.verdict, r.nat_address, r.nat_port) for r in pre.rules]
    assert got == [("redirect", None, 8080), ("dnat", "127.0.0.1", 8080),
                   ("unknown", "10.1.0.1", None), ("dnat", "10.1.0.1", None)]  # fmt: skip


def test_dnat_to_loopback_is_not_followed_either_way() -> None:
    """A DNAT to 127.0.0.1 is routed only with route_localnet on the incoming interface
    (not in the Facts): the verdict names it as unknown, never filtered nor open."""
    fw = _facts([
        nat(FirewallRule("dnat to 127.0.0.1:8080", (M("dport", "81"),), "dnat", None, (),
                         "127.0.0.1", 8080)),
        base(rule("ct status dnat accept", M("ct_status", "dnat"))),
    ])  # fmt: skip
    v = evaluate(fw, "tcp", 8080, "10.1.0.1", "vA", "10.1.0.0/24", ("127.0.0.1", "10.1.0.1"))
    assert v.result == "unknown" and "route_localnet" in v.evidence


def test_dnat_to_loopback_follows_route_localnet() -> None:
    rule_ = FirewallRule("dnat to 127.0.0.1:8080", (M("dport", "81"),), "dnat", None, (),
                         "127.0.0.1", 8080)  # fmt: skip
    chains = (nat(rule_), base(rule("ct status dnat accept", M("ct_status", "dnat"))))
    ask = ("tcp", 8080, "10.1.0.1", "vA", "10.1.0.0/24", ("127.0.0.1",), False)
    on = FirewallFacts("nftables", chains, route_localnet=("vA",))
    v = evaluate(on, *ask)
    assert v.result == "open" and "redirected to 127.0.0.1:8080" in v.evidence, v
    assert evaluate(FirewallFacts("nftables", chains, route_localnet=("all",)), *ask).result == (
        "open"
    )
    off = FirewallFacts("nftables", chains, route_localnet=("vB",))
    assert evaluate(off, *ask).result == "filtered"  # a martian: the kernel drops it
    unknown = FirewallFacts("nftables", chains, route_localnet=None)
    assert evaluate(unknown, *ask).result == "unknown"
