"""``nft -j list ruleset`` -> the normalised inbound chains, and container DNAT rules.

Only what decides whether a new inbound connection reaches a local socket is kept:
filter base chains on the prerouting and input hooks (families ip, ip6, inet) and the
regular chains they jump to. Each rule becomes FirewallMatch conditions and a verdict;
an expression not understood becomes a ``?name`` match or an entry in
``FirewallRule.unknown``, so the evaluator can say which construct it could not follow.
Evidence text comes from ``nft -a list ruleset`` (matched by rule handle) when given,
else from a compact rendering of the JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from exposure_audit.collectors.firewall.containers import (
    container_id_in,
    nat_owner,
    published_from_dnat,
)
from exposure_audit.core.model import FirewallChain, FirewallMatch, FirewallRule, PublishedPort

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

INBOUND_HOOKS = ("prerouting", "input")
INET_FAMILIES = ("ip", "ip6", "inet")
_VERDICTS = ("accept", "drop", "return")
_NOOP_STATEMENTS = {
    "counter", "log", "comment", "mangle", "set", "map", "notrack", "ct helper", "meter",
    "quota", "synproxy", "flow", "dup", "fwd", "tproxy", "secmark", "ct timeout",
    "ct expectation", "last", "continue", "xt-noop",
}  # fmt: skip
_NONTERMINAL_XT_TARGETS = {
    "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "TRACE", "CHECKSUM", "TCPMSS",
    "DSCP", "TOS", "SECMARK", "CONNSECMARK", "AUDIT", "IDLETIMER", "LED", "NOTRACK",
}  # fmt: skip
_HANDLE = re.compile(r"\s+# handle (\d+)\s*$")
_DNAT_TEXT = re.compile(r"dnat (?:ip6? )?to (?:\[([0-9a-fA-F:.]+)\]:(\d+)|([0-9.]+)(?::(\d+))?)")
_IFACE_KEYS = ("iifname", "oifname", "iif", "oif")
_BARE = re.compile(r"[A-Za-z0-9_.:/-]+")
_COUNTER = re.compile(r"counter packets \d+ bytes \d+")  # volatile: not evidence
_OBJECT = re.compile(
    r"(set|map|flowtable|counter|quota|limit|ct helper|ct timeout|ct expectation|secmark"
    r"|synproxy) \S+ \{( # handle \d+)?$"
)


# the JSON's meta / ct keys -> FirewallMatch fields (keys are JSON values: any type)
_META_FIELDS: dict[Any, str] = {
    "iifname": "iifname", "iif": "iifname", "l4proto": "l4proto",
    "nfproto": "nfproto", "pkttype": "pkttype",
}  # fmt: skip
_CT_FIELDS: dict[Any, str] = {"state": "ct_state", "status": "ct_status"}


class NftFormatError(ValueError):
    pass


# --------------------------------------------------------------------------- values


def _value_strings(v: Any, sets: dict[str, list[Any]]) -> list[str] | None:
    """A JSON right-hand side as strings ("22", "80-90", "10.0.0.0/8"); None if not
    understood (concatenations, maps, unknown set)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (str, int)):
        s = str(v)
        if s.startswith("@"):
            elems = sets.get(s[1:])
            if elems is None:
                return None
            return _value_strings({"set": elems}, sets)
        return [s]
    if isinstance(v, list):  # flag lists: ct state in [established, related]
        out: list[str] = []
        for item in v:
            got = _value_strings(item, sets)
            if got is None:
                return None
            out.extend(got)
        return out
    if isinstance(v, dict):
        if "set" in v:
            items = v["set"] if isinstance(v["set"], list) else [v["set"]]
            return _value_strings(items, sets)
        if "prefix" in v:
            p = v["prefix"]
            return [f"{p.get('addr')}/{p.get('len')}"]
        if "range" in v:
            a, b = v["range"]
            return [f"{a}-{b}"]
        if "elem" in v:
            return _value_strings(v["elem"].get("val"), sets)
    return None


def _compare(op: str, vals: list[str]) -> tuple[list[str], bool] | None:
    """Operator -> (values, negate); ordering operators become port ranges."""
    if op in ("==", "in"):
        return vals, False
    if op == "!=":
        return vals, True
    if len(vals) == 1 and vals[0].isdigit():
        n = int(vals[0])
        rng = {"<": f"0-{n - 1}", "<=": f"0-{n}", ">": f"{n + 1}-65535", ">=": f"{n}-65535"}
        if op in rng:
            return [rng[op]], False
    return None


# --------------------------------------------------------------------------- rendering


def render_expr(e: Any) -> str:
    """Compact nft-like text for one expression (evidence fallback and unknown names)."""
    if not isinstance(e, dict):
        return json.dumps(e) if not isinstance(e, str) else e
    if "match" in e:
        m = e["match"]
        op = m.get("op", "==")
        op_s = "" if op in ("==", "in") else f"{op} "
        left = m.get("left")
        quote = isinstance(left, dict) and (left.get("meta") or {}).get("key") in _IFACE_KEYS
        return f"{render_expr(left)} {op_s}{_render_value(m.get('right'), quote)}"
    if len(e) == 1:
        ((k, v),) = e.items()
        if k == "meta" and v.get("key") in _IFACE_KEYS:
            return str(v.get("key"))
        if k in ("meta", "ct"):
            return f"{k} {v.get('key')}"
        if k == "payload":
            return f"{v.get('protocol', 'raw')} {v.get('field', '')}".strip()
        if k == "fib":
            return f"fib {' . '.join(v.get('flags', []))} {v.get('result')}"
        if k in ("accept", "drop", "return", "continue") and v is None:
            return str(k)
        if k in ("jump", "goto"):
            return f"{k} {v.get('target')}"
        if k == "reject":
            return "reject" + (f" with {v.get('type')}" if isinstance(v, dict) and v else "")
        if k == "counter":
            return "counter"
        if k == "xt":
            return f"xt {v.get('type')} {v.get('name')}"
        if k == "limit":
            over = "over " if v.get("inv") else ""
            return f"limit rate {over}{v.get('rate')}/{v.get('per')}"
    return json.dumps(e, separators=(",", ":"), sort_keys=True)[:120]


def _render_value(v: Any, quote: bool = False) -> str:
    if isinstance(v, dict):
        if "set" in v:
            items = v["set"] if isinstance(v["set"], list) else [v["set"]]
            return "{ " + ", ".join(_render_value(i, quote) for i in items) + " }"
        if "prefix" in v:
            return f"{v['prefix'].get('addr')}/{v['prefix'].get('len')}"
        if "range" in v:
            return "-".join(str(x) for x in v["range"])
    if isinstance(v, list):
        return ",".join(_render_value(x, quote) for x in v)
    if isinstance(v, str) and not v.startswith("@") and (quote or not _BARE.fullmatch(v)):
        return json.dumps(v)
    return str(v).lower() if isinstance(v, bool) else str(v)


def render_rule(exprs: list[Any]) -> str:
    parts = []
    for e in exprs:
        try:
            parts.append(render_expr(e))
        except (AttributeError, TypeError, ValueError, KeyError):
            parts.append(json.dumps(e, separators=(",", ":"), sort_keys=True)[:120])
    return " ".join(parts)


def rule_texts(text: str) -> dict[tuple[str, str, str, int], str]:
    """``nft -a list ruleset`` -> {(family, table, chain, handle): rule text}."""
    out: dict[tuple[str, str, str, int], str] = {}
    family = table = chain = None
    for raw in text.splitlines():
        line = raw.strip()
        m = re.match(r"table (\S+) (\S+) \{", line)
        if m:
            family, table, chain = m.group(1), m.group(2), None
            continue
        m = re.match(r"chain (\S+) \{", line)
        if m:
            chain = m.group(1).strip('"')
            continue
        if _OBJECT.match(line):
            chain = None
            continue
        h = _HANDLE.search(raw)
        if h and family and table and chain and not line.startswith("type "):
            rule = _COUNTER.sub("counter", _HANDLE.sub("", raw).strip())
            out[(family, table, chain, int(h.group(1)))] = rule
    return out


# --------------------------------------------------------------------------- rules


class _RuleBuilder:
    def __init__(self, sets: dict[str, list[Any]]) -> None:
        self.sets = sets
        self.matches: list[FirewallMatch] = []
        self.unknown: list[str] = []
        self.verdict: str | None = None
        self.target: str | None = None
        self.vmap: tuple[Any, Any] | None = None

    def add(self, field: str, vals: Iterable[str], negate: bool = False) -> None:
        self.matches.append(FirewallMatch(field, tuple(vals), negate))

    def match(self, m: dict[str, Any]) -> None:
        left, right, op = m.get("left"), m.get("right"), m.get("op", "==")
        if self._tcp_flags(left, right, op):
            return
        field = self._field(left)
        if field is None:
            self.unknown.append(render_expr({"match": m}))
            return
        if field == "rpfilter_fail":
            # fib saddr . iif oif missing: right is false (= missing) or true
            if isinstance(right, bool) and op in ("==", "!="):
                missing = (right is False) == (op == "==")
                self.add("rpfilter_fail", ("fail",), negate=not missing)
            else:
                self.unknown.append(render_expr({"match": m}))
            return
        vals = _value_strings(right, self.sets)
        cmp = _compare(op, vals) if vals is not None else None
        if cmp is None:
            self.add("?" + render_expr({"match": m}), ("?",))
            return
        self.add(field, cmp[0], cmp[1])

    def _tcp_flags(self, left: Any, right: Any, op: str) -> bool:
        """``tcp flags`` tests, decided for a new connection's first packet (SYN alone)."""
        tcp_flags = {"payload": {"protocol": "tcp", "field": "flags"}}
        mask: set[str] | None = None
        if left == tcp_flags:
            mask = None
        elif isinstance(left, dict) and isinstance(left.get("&"), list) and len(left["&"]) == 2:
            if left["&"][0] != tcp_flags:
                return False
            raw = left["&"][1]
            mask = {str(f) for f in (raw if isinstance(raw, list) else [raw])}
        else:
            return False
        want = {str(f) for f in (right if isinstance(right, list) else [right])}
        flags = {"syn"} if mask is None else {"syn"} & mask
        if op == "in":  # any of the flags set
            hit = bool(flags & want)
        elif op in ("==", "!="):
            hit = (flags == want) == (op == "==")
        else:
            return False
        self.add("l4proto", ("tcp",))
        self.add("tcp_flags_syn", ("syn",), negate=not hit)
        return True

    def _field(self, left: Any) -> str | None:
        if not isinstance(left, dict) or len(left) != 1:
            return None
        ((kind, v),) = left.items()
        if not isinstance(v, dict):
            return None
        if kind == "meta":
            return _META_FIELDS.get(v.get("key"))
        if kind == "ct":
            return _CT_FIELDS.get(v.get("key"))
        if kind == "fib":
            flags, result = set(v.get("flags", [])), v.get("result")
            if result == "type" and flags == {"daddr"}:
                return "daddr_type"
            if result == "type" and flags == {"saddr"}:
                return "saddr_type"
            if result == "oif" and "saddr" in flags and "iif" in flags:
                return "rpfilter_fail"
            return None
        if kind == "payload":
            proto, fld = v.get("protocol"), v.get("field")
            if proto in ("ip", "ip6"):
                self.add("nfproto", ("ipv4" if proto == "ip" else "ipv6",))
                if fld in ("saddr", "daddr"):
                    return str(fld)
                if fld in ("protocol", "nexthdr"):
                    return "l4proto"
                return None
            if proto in ("tcp", "udp", "udplite", "sctp", "dccp"):
                self.add("l4proto", (proto,))
                return str(fld) if fld in ("dport", "sport") else None
            if proto == "th":
                return str(fld) if fld in ("dport", "sport") else None
            if proto in ("icmp", "icmpv6", "igmp", "ah", "esp", "comp"):
                self.add("l4proto", ("ipv6-icmp" if proto == "icmpv6" else str(proto),))
                return None
        return None

    def statement(self, e: Any) -> None:
        if not isinstance(e, dict) or len(e) != 1:
            self.unknown.append(render_expr(e))
            return
        ((kind, v),) = e.items()
        if kind == "match":
            self.match(v)
        elif kind in _VERDICTS:
            self.verdict = kind
        elif kind == "reject":
            self.verdict = "reject"
        elif kind in ("jump", "goto"):
            target = v.get("target") if isinstance(v, dict) else None
            if isinstance(target, str):
                self.verdict, self.target = kind, target
            else:  # a jump we cannot follow: the evaluator explores it as unknown
                self.verdict = "unknown"
        elif kind == "queue":
            self.verdict = "queue"
        elif kind == "limit":
            self.add("rate_limit", ("over" if v.get("inv") else "under",))
        elif kind == "vmap":
            self.vmap = (v.get("key"), v.get("data"))
        elif kind == "xt":
            name = str((v or {}).get("name"))
            if (v or {}).get("type") == "target":
                if name not in _NONTERMINAL_XT_TARGETS:
                    self.verdict = f"xt target {name}"
            else:
                self.unknown.append(f"xt match {name} (iptables-nft extension)")
        elif kind in ("dnat", "snat", "masquerade", "redirect"):
            self.verdict = self.verdict or None
        elif kind in _NOOP_STATEMENTS:
            pass
        else:
            self.unknown.append(render_expr(e))


def _convert_rule(exprs: list[Any], text: str, sets: dict[str, list[Any]]) -> list[FirewallRule]:
    b = _RuleBuilder(sets)
    for e in exprs:
        b.statement(e)
    if b.vmap is None:
        return [FirewallRule(text, tuple(b.matches), b.verdict, b.target, tuple(b.unknown))]
    key, data = b.vmap
    pairs = data.get("set") if isinstance(data, dict) else None
    if isinstance(data, str) and data.startswith("@"):
        pairs = sets.get(data[1:])
    if not isinstance(pairs, list):
        return [
            FirewallRule(
                text,
                tuple(b.matches),
                "unknown",
                None,
                (*b.unknown, f"verdict map {render_expr(key)}"),
            )
        ]
    out: list[FirewallRule] = []
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], dict):
            continue
        sub = _RuleBuilder(sets)
        sub.match({"op": "==", "left": key, "right": pair[0]})
        sub.statement(pair[1])
        out.append(
            FirewallRule(
                text,
                tuple(b.matches) + tuple(sub.matches),
                sub.verdict,
                sub.target,
                tuple(b.unknown) + tuple(sub.unknown),
            )
        )
    return out


# --------------------------------------------------------------------------- ruleset


def table_traits(data: Any) -> dict[tuple[str, str], tuple[bool, bool]]:
    """(family, table) -> (has an iptables extension ("xt"), has an nft-only construct)
    over the rules of one ``nft -j list ruleset``; every table with a rule is a key.
    nft-only: anonymous or named sets, maps and verdict maps, which iptables-nft never
    writes and iptables-save cannot show."""
    out: dict[tuple[str, str], tuple[bool, bool]] = {}
    if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
        return out
    for obj in data["nftables"]:
        if not isinstance(obj, dict) or not isinstance(obj.get("rule"), dict):
            continue
        rule = obj["rule"]
        key = (str(rule.get("family")), str(rule.get("table")))
        xt, native = out.get(key, (False, False))
        found: set[str] = set()
        _constructs(rule.get("expr"), found, 0)
        out[key] = (xt or "xt" in found, native or bool(found & _NFT_ONLY))
    return out


_NFT_ONLY = frozenset({"set", "map", "vmap", "@"})


def _constructs(node: Any, found: set[str], depth: int) -> None:
    if depth > 64:
        found.add("@")  # absurdly deep: treat as not representable by iptables
        return
    if isinstance(node, dict):
        for k, v in node.items():
            found.add(k)
            _constructs(v, found, depth + 1)
    elif isinstance(node, list):
        for v in node:
            _constructs(v, found, depth + 1)
    elif isinstance(node, str) and node.startswith("@"):
        found.add("@")  # a named set or map lookup


def parse_ruleset(
    data: Any, text: str | None = None, skip_tables: Iterable[tuple[str, str]] = ()
) -> tuple[list[FirewallChain], list[PublishedPort]]:
    """The inbound chains and container publishes of one ``nft -j list ruleset``.

    ``skip_tables``: (family, table) pairs read elsewhere (iptables-nft tables, whose
    extensions the JSON cannot show)."""
    if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
        raise NftFormatError("not nft JSON output (no top-level 'nftables' list)")
    skip = set(skip_tables)
    texts = rule_texts(text) if text else {}
    sets: dict[tuple[str, str], dict[str, list[Any]]] = {}
    chains: dict[tuple[str, str, str], dict[str, Any]] = {}
    rules: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for obj in data["nftables"]:
        if not isinstance(obj, dict) or len(obj) != 1:
            continue
        ((kind, v),) = obj.items()
        if not isinstance(v, dict) or v.get("family") not in INET_FAMILIES:
            continue
        tkey = (v["family"], str(v.get("table", v.get("name"))))
        if kind in ("set", "map"):
            elems = v.get("elem", [])
            sets.setdefault(tkey, {})[str(v.get("name"))] = elems if isinstance(elems, list) else []
        elif kind == "chain":
            chains[(*tkey, str(v.get("name")))] = v
        elif kind == "rule":
            rules.setdefault((*tkey, str(v.get("chain"))), []).append(v)

    published: list[PublishedPort] = []
    for key, rl in rules.items():
        owner = nat_owner(key[1], key[2])
        if owner is None or (key[0], key[1]) in skip:
            continue
        for r in rl:
            exprs = r.get("expr", [])
            if not isinstance(exprs, list):
                continue
            try:
                published.extend(_dnat_publishes(key, r, exprs, owner, texts))
            except (AttributeError, TypeError, ValueError, KeyError, IndexError):
                continue  # not a DNAT rule we can read: no publish claimed

    keep: dict[tuple[str, str, str], FirewallChain] = {}
    todo = [
        k for k, c in chains.items()
        if c.get("hook") in INBOUND_HOOKS and c.get("type", "filter") == "filter"
        and (k[0], k[1]) not in skip
    ]  # fmt: skip
    while todo:
        k = todo.pop()
        if k in keep or k not in chains:
            continue
        c = chains[k]
        tsets = sets.get((k[0], k[1]), {})
        conv: list[FirewallRule] = []
        for r in rules.get(k, []):
            exprs = r.get("expr", [])
            if not isinstance(exprs, list):
                continue
            handle = r.get("handle")
            txt = texts.get((*k, handle)) if isinstance(handle, int) else None
            txt = txt or render_rule(exprs)
            try:
                conv.extend(_convert_rule(exprs, txt, tsets))
            except (AttributeError, TypeError, ValueError, KeyError, IndexError):
                # a shape this parser does not know: the rule may do anything
                conv.append(FirewallRule(txt, (), "unknown", None, ("unreadable rule",)))
        for fr in conv:
            if fr.target:
                todo.append((k[0], k[1], fr.target))
        prio, hook, ctype, policy = c.get("prio"), c.get("hook"), c.get("type"), c.get("policy")
        keep[k] = FirewallChain(
            table=k[1],
            family=k[0],
            name=k[2],
            hook=str(hook) if hook is not None else None,
            type=str(ctype) if ctype is not None else None,
            priority=prio if isinstance(prio, int) and not isinstance(prio, bool) else None,
            policy=str(policy) if policy is not None else None,
            rules=tuple(conv),
        )
    ordered = sorted(keep.values(), key=lambda c: (c.family, c.table, c.hook is None, c.name))
    return ordered, published


def _dnat_publishes(
    key: tuple[str, str, str],
    rule: dict[str, Any],
    exprs: list[Any],
    owner: str,
    texts: dict[tuple[str, str, str, int], str],
) -> list[PublishedPort]:
    handle = rule.get("handle")
    text = texts.get((*key, handle)) if isinstance(handle, int) else None
    dnat = next((e["dnat"] for e in exprs if isinstance(e, dict) and "dnat" in e), None)
    if (
        dnat is None
        and text
        and any(isinstance(e, dict) and e.get("xt", {}).get("name") == "DNAT" for e in exprs)
    ):
        # iptables-nft's DNAT is opaque in the JSON; nft's text listing translates it
        m = _DNAT_TEXT.search(text)
        if m:
            dnat = {"addr": m.group(1) or m.group(3), "port": int(m.group(2) or m.group(4) or 0)}
    if not isinstance(dnat, dict):
        return []
    b = _RuleBuilder({})
    for e in exprs:
        if isinstance(e, dict) and "match" in e:
            b.match(e["match"])
    text = text or render_rule(exprs)
    comment = rule.get("comment") if isinstance(rule.get("comment"), str) else ""
    target = dnat.get("addr")
    tport = dnat.get("port")
    return published_from_dnat(
        owner=owner,
        matches=b.matches,
        target_address=str(target) if isinstance(target, str) else None,
        target_port=tport if isinstance(tport, int) else None,
        evidence=text,
        container_id=container_id_in(f"{comment} {key[2]} {text}"),
        family="ipv6" if key[0] == "ip6" or dnat.get("family") == "ip6" else "ipv4",
    )
