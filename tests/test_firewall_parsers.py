"""The ruleset parsers on hostile, broken and odd input: a clear error or a result,
never a traceback; and what they make of the constructs real rulesets use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from exposure_audit.analysis.firewall.evaluate import evaluate
from exposure_audit.collectors.firewall import iptables, nftables
from exposure_audit.core.model import FirewallFacts

FIX = Path(__file__).resolve().parent / "fixtures" / "firewall"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=8)
    | st.sampled_from(["accept", "drop", "@s", "input", "filter", "inet", "ip", "tcp", "dport"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["match", "left", "right", "op", "meta", "key", "payload", "protocol",
                         "field", "set", "prefix", "range", "jump", "target", "vmap", "data",
                         "dnat", "addr", "port", "xt", "name", "type", "limit", "inv",
                         "accept", "fib", "flags", "result", "ct", "elem", "val"]),
        children, max_size=4,
    ),
    max_leaves=25,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=6))
@example([{"jump": {"target": ["x"]}}])  # once: TypeError, unhashable chain key
@example([{"goto": None}])
def test_nft_parser_survives_any_rule_expressions(exprs) -> None:
    data = {"nftables": [
        {"table": {"family": "inet", "name": "t"}},
        {"set": {"family": "inet", "table": "t", "name": "s", "elem": exprs[:2]}},
        {"chain": {"family": "inet", "table": "t", "name": "input", "type": "filter",
                   "hook": "input", "prio": 0, "policy": "drop"}},
        {"chain": {"family": "ip", "table": "nat", "name": "DOCKER"}},
        {"rule": {"family": "inet", "table": "t", "chain": "input", "handle": 3, "expr": exprs}},
        {"rule": {"family": "ip", "table": "nat", "chain": "DOCKER", "expr": exprs}},
    ]}  # fmt: skip
    chains, _published = nftables.parse_ruleset(data)
    fw = FirewallFacts("nftables", tuple(chains))
    assert evaluate(fw, "tcp", 22, "10.0.0.1", "eth0", "10.0.0.0/24").result in (
        "open", "filtered", "unknown",
    )  # fmt: skip


@pytest.mark.parametrize("data", [None, [], {"nftables": {}}, {"x": 1}, "nftables"])
def test_nft_parser_rejects_non_ruleset(data) -> None:
    with pytest.raises(nftables.NftFormatError, match="not nft JSON output"):
        nftables.parse_ruleset(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    "-A INPUT", "-A ufw-user-input", "!", "-p", "tcp", "udp", "-m", "tcp", "multiport",
    "--dport", "--dports", "22", "1:1024", "80,443", "-s", "10.0.0.0/8", "bogus", "-i",
    "eth+", "-j", "-g", "ACCEPT", "DROP", "REJECT", "ufw-user-input", "LOG", "--ctstate",
    "NEW,ESTABLISHED", "-m", "conntrack", "recent", "--update", "--tcp-flags", "SYN",
    "addrtype", "--dst-type", "LOCAL", "'unbalanced", '"x y"', "--to-destination", "1.2.3.4:80",
    "DNAT", "--comment", "-d",
]), max_size=14))  # fmt: skip
def test_iptables_parser_survives_any_tokens(tokens) -> None:
    text = "*filter\n:INPUT DROP [0:0]\n:ufw-user-input - [0:0]\n-A INPUT -j ufw-user-input\n"
    text += " ".join(tokens) + "\nCOMMIT\n*nat\n:DOCKER - [0:0]\n-A DOCKER " + " ".join(tokens)
    text += "\nCOMMIT\n"
    try:
        chains, _ = iptables.parse_save(text, "ip")
    except iptables.IptablesFormatError as exc:
        assert "line" in str(exc)
        return
    fw = FirewallFacts("iptables-legacy", tuple(chains))
    assert evaluate(fw, "tcp", 22, "10.0.0.1", "eth0", "10.0.0.0/24").result in (
        "open", "filtered", "unknown",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-A INPUT -j ACCEPT\n", "line 1: rule outside a table"),
        ("*filter\n:\n", "line 2: empty chain declaration"),
        ("*filter\n-A INPUT -m comment --comment 'oops\n", "line 2: No closing quotation"),
        ("*filter\nhello world\n", "line 2: not iptables-save output"),
    ],
)
def test_iptables_parser_errors_name_the_line(text, message) -> None:
    with pytest.raises(iptables.IptablesFormatError, match=message):
        iptables.parse_save(text)


def test_iptables_constructs() -> None:
    text = (FIX / "gt-legacy.rules").read_text() + (
        "*raw\n:PREROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -i eth1 -m set --match-set blocklist src -j DROP\n"
        "-A PREROUTING -p tcp -m tcp --dport 5000 -j NFQUEUE --queue-num 1\nCOMMIT\n"
    )
    chains, _ = iptables.parse_save(text, "ip")
    by_name = {(c.table, c.name): c for c in chains}
    assert by_name[("filter", "INPUT")].policy == "drop"
    assert by_name[("raw", "PREROUTING")].hook == "prerouting"
    fw = FirewallFacts("iptables-legacy", tuple(chains))
    # multiport + ranges, behind a source-restricted jump
    assert evaluate(fw, "tcp", 9050, "10.2.0.1", "eth0", "10.2.0.0/24").result == "open"
    assert evaluate(fw, "tcp", 9050, "10.1.0.1", "eth0", "10.1.0.0/24").result == "filtered"
    # an ipset on another interface does not matter; on this one it is named
    v = evaluate(fw, "tcp", 22, "10.3.0.1", "eth1", "10.3.0.0/24")
    assert v.result == "unknown" and "--match-set blocklist src" in v.evidence
    v = evaluate(fw, "tcp", 5000, "10.2.0.1", "eth0", "10.2.0.0/24")
    assert v.result == "unknown" and "verdict queue" in v.evidence


def test_nft_text_evidence_maps_by_handle_and_drops_counters() -> None:
    texts = nftables.rule_texts((FIX / "firewalld.nft.txt").read_text())
    assert all("packets" not in t for t in texts.values())
    data = json.loads((FIX / "firewalld.nft.json").read_text())
    chains, _ = nftables.parse_ruleset(data, None)  # no text: rendered from JSON
    rendered = [r.text for c in chains for r in c.rules]
    assert "tcp dport 22 ct state { new, untracked } accept" in rendered
    assert 'iifname "vA" goto filter_IN_public' in rendered


def test_iptables_tcp_flags_and_protocol_all() -> None:
    text = (
        "*filter\n:INPUT DROP [0:0]\n"
        "-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m tcp --dport 22 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m tcp --dport 23 -j ACCEPT\n"
        "-A INPUT -p tcp --tcp-flags ALL NONE -j DROP\n"
        "-A INPUT -p all -s 10.9.0.0/16 -j ACCEPT\nCOMMIT\n"
    )
    chains, _ = iptables.parse_save(text)
    fw = FirewallFacts("iptables-legacy", tuple(chains))
    assert evaluate(fw, "tcp", 22, "10.1.0.1", "eth0", "10.1.0.0/24").result == "open"
    assert evaluate(fw, "tcp", 23, "10.1.0.1", "eth0", "10.1.0.0/24").result == "filtered"
    assert evaluate(fw, "udp", 24, "10.1.0.1", "eth0", "10.9.1.0/24").result == "open"


def test_nft_tcp_flags_are_decided_for_a_first_syn() -> None:
    flags = {"payload": {"protocol": "tcp", "field": "flags"}}
    dport = {"payload": {"protocol": "tcp", "field": "dport"}}

    def rule(*exprs):
        return {"rule": {"family": "inet", "table": "t", "chain": "input", "expr": list(exprs)}}

    def match(op, left, right):
        return {"match": {"op": op, "left": left, "right": right}}

    data = {"nftables": [
        {"chain": {"family": "inet", "table": "t", "name": "input", "type": "filter",
                   "hook": "input", "prio": 0, "policy": "drop"}},
        rule(match("!=", {"&": [flags, ["fin", "syn", "rst", "ack"]]}, "syn"), {"drop": None}),
        rule(match("in", flags, "syn"), match("==", dport, 1), {"accept": None}),
        rule(match("==", {"&": [flags, ["fin", "syn"]]}, ["fin", "syn"]), {"accept": None}),
        rule(match("==", flags, "syn"), match("==", dport, 2), {"accept": None}),
    ]}  # fmt: skip
    chains, _ = nftables.parse_ruleset(data)
    fw = FirewallFacts("nftables", tuple(chains))
    got = [evaluate(fw, "tcp", p, "10.0.0.1", "e", "10.0.0.0/24").result for p in (1, 2, 3)]
    assert got == ["open", "open", "filtered"]
    assert all(not r.unknown for c in chains for r in c.rules)


def test_table_traits_tell_which_tables_an_iptables_save_can_speak_for() -> None:
    """(iptables extension present, nft-only construct present) per table: the collector
    reads a table from iptables-nft-save only for (True, False)."""

    def rule(family: str, table: str, *expr: object) -> dict:  # type: ignore[type-arg]
        return {"rule": {"family": family, "table": table, "chain": "INPUT", "expr": list(expr)}}

    xt = {"xt": {"type": "match", "name": "addrtype"}}
    anon_set = {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                          "right": {"set": [22, 80]}}}  # fmt: skip
    named = {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": "@trusted"}}  # fmt: skip
    vmap = {"vmap": {"key": {"ct": {"key": "state"}}, "data": {"set": []}}}
    data = {"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        rule("ip", "filter", xt, {"accept": None}),
        rule("ip", "nat", {"accept": None}),
        rule("ip6", "filter", xt), rule("ip6", "filter", anon_set),
        rule("inet", "t", named), rule("ip", "mangle", vmap),
        {"rule": "garbage"}, "garbage",
    ]}  # fmt: skip
    assert nftables.table_traits(data) == {
        ("ip", "filter"): (True, False),
        ("ip", "nat"): (False, False),
        ("ip6", "filter"): (True, True),
        ("inet", "t"): (False, True),
        ("ip", "mangle"): (False, True),
    }
    assert nftables.table_traits({"nope": 1}) == {} and nftables.table_traits([]) == {}
    deep: dict = {"accept": None}  # type: ignore[type-arg]
    for _ in range(200):
        deep = {"x": deep}
    assert nftables.table_traits({"nftables": [rule("ip", "raw", deep)]}) == {
        ("ip", "raw"): (False, True)  # too deep to be iptables': not trusted to a save
    }


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list(" \t-AINPUT\"'\\#:,./0123456789x\x0b\x1f\xa0é")), max_size=40
    )
)
def test_iptables_line_split_is_shlex_split(line: str) -> None:
    """The fast split takes only lines where str.split and shlex.split agree."""
    import shlex

    try:
        want = shlex.split(line)
    except ValueError:
        with pytest.raises(ValueError):
            iptables._split(line)
        return
    assert iptables._split(line) == want
