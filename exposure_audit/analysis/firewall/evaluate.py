"""Would a NEW connection from a typical peer reach this listener through the firewall?

Pure functions over ``FirewallFacts`` (collected by ``collectors.firewall``): nothing
here touches the OS. The question is asked per reach entry: a peer somewhere on the
reach interface's network (``Reach.network``; any address when unknown) opens a new
connection to ``Reach.address`` on the listener's protocol and port.

The packet walks every filter base chain on the inbound path (hooks prerouting then
input, by priority; a packet must pass all of them). Rules are matched against the
packet; where a rule depends on the peer's source address the source network is split
and both parts are followed, so "accept 8000 from 10.1.0.0/24 only" is ``open`` for a
reach whose network is 10.1.0.0/24 and ``filtered`` for one on 10.2.0.0/24, and
``open`` with "only from ..." evidence when it accepts part of the network.
Constructs not understood are followed both ways (assumed to match, assumed not to);
when the outcomes differ the answer is ``unknown`` naming them.

Verdicts, most open first: ``open`` (some peer on that network is accepted on a path
that depends on nothing unknown), ``unknown``, ``filtered`` (every path drops or
rejects: the rule that does it is quoted as evidence). Conservative by design: never
``filtered`` unless the rules prove it.

Typical-peer assumptions (documented, deliberate): conntrack state is ``new``, no
conntrack status (not DNAT'ed), a unicast packet to a local address, reverse path
valid (the peer is on-link), the first connection of a peer is under any rate limit
(``limit rate N`` matches, ``limit rate over N`` / ``recent --update`` / connlimit do
not), and the peer may choose its source port (a rule on the source port is a choice:
accepting from source port 67 is ``open``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable, Iterator

from exposure_audit.core import records
from exposure_audit.core.addresses import parse_ip
from exposure_audit.core.model import FirewallChain, FirewallFacts, FirewallMatch, FirewallRule

OPEN, UNKNOWN, FILTERED = "open", "unknown", "filtered"
VERDICT_RANK = {FILTERED: 0, UNKNOWN: 1, OPEN: 2}

# Inbound hooks in packet order; filter-type chains on them can drop a new connection.
_INBOUND_HOOKS = ("prerouting", "input")
_FAMILIES = {"ipv4": ("ip", "inet"), "ipv6": ("ip6", "inet")}
_MAX_LEAVES = 4096
_MAX_DEPTH = 64

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# what a packet to a local unicast address looks like, per field, for a typical peer
_PEER_FIXED = {
    "ct_state": ("new",),
    "ct_status": (),
    "pkttype": ("host", "unicast"),
    "daddr_type": ("local",),
    "saddr_type": ("unicast",),
    "rpfilter_fail": (),
    "tcp_flags_syn": ("syn",),
    "rate_limit": ("under",),  # a first connection is under any rate limit
    "recent_hit": (),  # ... and not yet in a "recent" list
    "connlimit_above": (),
}
_PROTO_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "132": "sctp"}


@records.record
class Packet:
    family: str  # "ipv4" | "ipv6"
    iifname: str
    daddr: str
    l4proto: str  # "tcp" | "udp"
    dport: int


@records.record
class Verdict:
    result: str  # open | filtered | unknown
    evidence: str


@records.record
class _Leaf:
    verdict: str  # accept | drop | reject | unknown | continue (fell off a base chain)
    src: tuple[_Net, ...]
    assumptions: tuple[str, ...]  # unknown constructs this path assumed
    rule: str | None  # the rule that decided (None: a chain policy)
    notes: tuple[str, ...] = ()  # choices the peer makes (source port ...)


# a path through the rules so far: (source networks, assumptions, notes)
_Branch = tuple[tuple[_Net, ...], tuple[str, ...], tuple[str, ...]]


class _TooComplex(Exception):
    pass


# --------------------------------------------------------------------------- networks


def _parse_net(value: str) -> _Net | None:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        pass
    if "-" in value:
        lo, _, hi = value.partition("-")
        try:
            a, b = ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip())
        except ValueError:
            return None
        nets = _summarize(a, b)
        return nets[0] if len(nets) == 1 else None
    return None


def _summarize(a: _Address, b: _Address) -> list[_Net]:
    """ipaddress.summarize_address_range(a, b), listed (TypeError when a and b are of
    different versions, as it raises)."""
    if isinstance(a, ipaddress.IPv4Address) and isinstance(b, ipaddress.IPv4Address):
        return list(ipaddress.summarize_address_range(a, b))
    if isinstance(a, ipaddress.IPv6Address) and isinstance(b, ipaddress.IPv6Address):
        return list(ipaddress.summarize_address_range(a, b))
    raise TypeError(f"{a} and {b} are not of the same version")


def _nets_of(values: Iterable[str]) -> list[_Net] | None:
    out: list[_Net] = []
    for v in values:
        if "-" in v and _parse_net(v) is None:
            lo, _, hi = v.partition("-")
            try:
                a, b = ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip())
                out.extend(_summarize(a, b))
                continue
            except (ValueError, TypeError):
                return None
        n = _parse_net(v)
        if n is None:
            return None
        out.append(n)
    return out


def _split(src: tuple[_Net, ...], rule_nets: list[_Net]) -> tuple[list[_Net], list[_Net]]:
    """(the part of ``src`` inside ``rule_nets``, the part outside)."""
    inside: list[_Net] = []
    outside: list[_Net] = list(src)
    for rn in rule_nets:
        rest: list[_Net] = []
        for n in outside:
            if n.version != rn.version:
                rest.append(n)
            # (n and rn are of one version, which mypy cannot tell from .version)
            elif n.subnet_of(rn):  # type: ignore[arg-type]  # same version: checked above
                inside.append(n)
            elif rn.subnet_of(n):  # type: ignore[arg-type]  # same version: checked above
                inside.append(rn)
                rest.extend(n.address_exclude(rn))  # type: ignore[arg-type]  # same version
            else:
                rest.append(n)
        outside = rest
    return inside, outside


def _in_nets(addr: str, values: Iterable[str]) -> bool | None:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    nets = _nets_of(values)
    if nets is None:
        return None
    return any(ip.version == n.version and ip in n for n in nets)


# --------------------------------------------------------------------------- matching


def _port_in(port: int, values: Iterable[str]) -> bool | None:
    for v in values:
        lo, sep, hi = v.replace(":", "-").partition("-")
        try:
            a = int(lo) if lo else 0
            b = (int(hi) if hi else 65535) if sep else a
        except ValueError:
            return None
        if a <= port <= b:
            return True
    return False


def glob_in(name: str, values: Iterable[str]) -> bool:
    """Whether interface ``name`` matches one of the patterns (iptables' ``+`` is ``*``)."""
    return any(fnmatch.fnmatchcase(name, v.replace("+", "*")) for v in values)


def _match_fixed(m: FirewallMatch, pkt: Packet) -> bool | None:
    """True/False for a field the packet determines; None when not understood."""
    f, vals = m.field, m.values
    hit: bool | None
    if f == "nfproto":
        hit = pkt.family in vals
    elif f == "l4proto":
        hit = pkt.l4proto in {_PROTO_NUMBERS.get(v, v) for v in vals}
    elif f == "dport":
        hit = _port_in(pkt.dport, vals)
    elif f == "iifname":
        hit = glob_in(pkt.iifname, vals)
    elif f == "daddr":
        hit = _in_nets(pkt.daddr, vals)
    elif f in _PEER_FIXED:
        hit = any(v.lower() in _PEER_FIXED[f] for v in vals)
    else:
        return None
    if hit is None:
        return None
    return hit != m.negate


def _match_order(m: FirewallMatch) -> int:
    """Conditions are ANDed: decide the fixed ones first, fork (saddr, sport) last."""
    if m.field == "saddr":
        return 1
    if m.field == "sport":
        return 2
    return 0


# --------------------------------------------------------------------------- the walk


@records.record
class _Prepared:
    """A rule with its conditions ordered, and a quick pre-check on protocol/port."""

    matches: tuple[FirewallMatch, ...]
    l4: frozenset[str] | None  # the rule needs one of these protocols
    ports: tuple[tuple[int, int], ...] | None  # ... and a destination port in these


def _prepare(rule: FirewallRule) -> _Prepared:
    l4: frozenset[str] | None = None
    ports: tuple[tuple[int, int], ...] | None = None
    for m in rule.matches:
        if m.negate:
            continue
        if m.field == "l4proto":
            got = frozenset(_PROTO_NUMBERS.get(v, v) for v in m.values)
            l4 = got if l4 is None else l4 & got
        elif m.field == "dport" and ports is None:
            rng: list[tuple[int, int]] = []
            for v in m.values:
                lo, sep, hi = v.replace(":", "-").partition("-")
                if not (lo or "0").isdigit() or (sep and not (hi or "65535").isdigit()):
                    break  # not plain port numbers: no pre-check
                a = int(lo or 0)
                rng.append((a, int(hi or 65535) if sep else a))
            else:
                ports = tuple(rng)
    return _Prepared(tuple(sorted(rule.matches, key=_match_order)), l4, ports)


class PreparedRuleset:
    """One ``FirewallFacts`` made ready for many questions: its chains by name, each
    rule prepared (see _Prepared), the inbound chains of each family. Made once per
    evaluation (``annotate`` makes one for all its questions) and passed to
    ``evaluate``; nothing changes it afterwards."""

    __slots__ = ("_inbound", "chains", "facts", "prepared")

    def __init__(self, facts: FirewallFacts) -> None:
        self.facts = facts
        self.chains = {(c.family, c.table, c.name): c for c in facts.chains}
        # by id: rules are records, equal ones may stand in different chains
        self.prepared = {id(r): _prepare(r) for c in facts.chains for r in c.rules}
        self._inbound = {family: inbound_chains(facts, family) for family in _FAMILIES}

    def inbound(self, family: str) -> list[FirewallChain]:
        """inbound_chains(facts, family), computed once."""
        return self._inbound.get(family, [])


class _Walker:
    def __init__(self, ruleset: PreparedRuleset, pkt: Packet) -> None:
        self.pkt = pkt
        self.chains = ruleset.chains
        self.prepared = ruleset.prepared
        self.leaves = 0

    def _count(self) -> None:
        self.leaves += 1
        if self.leaves > _MAX_LEAVES:
            raise _TooComplex

    def chain(
        self,
        chain: FirewallChain,
        src: tuple[_Net, ...],
        assume: tuple[str, ...],
        notes: tuple[str, ...],
        depth: int,
    ) -> Iterator[_Leaf]:
        """Leaves of one chain; verdict "continue" = fell off the end or returned."""
        if depth > _MAX_DEPTH:
            yield _Leaf("unknown", src, (*assume, "jumps nested too deep"), None, notes)
            return
        yield from self._rules(chain, chain.rules, 0, src, assume, notes, depth)

    def _rules(
        self,
        chain: FirewallChain,
        rules: tuple[FirewallRule, ...],
        i: int,
        src: tuple[_Net, ...],
        assume: tuple[str, ...],
        notes: tuple[str, ...],
        depth: int,
    ) -> Iterator[_Leaf]:
        while i < len(rules):
            rule = rules[i]
            i += 1
            if rule.verdict is None:
                continue  # counter, log, mark... do not decide
            prep = self.prepared[id(rule)]
            if prep.l4 is not None and self.pkt.l4proto not in prep.l4:
                continue
            if prep.ports is not None and not any(a <= self.pkt.dport <= b for a, b in prep.ports):
                continue
            # evaluate the rule's conditions into branches: (src, assumptions, notes)
            matched: list[_Branch] = []
            unmatched: list[_Branch] = []
            pending = list(prep.matches)
            self._conditions(rule, pending, src, assume, notes, matched, unmatched)
            for m_src, m_assume, m_notes in matched:
                yield from self._apply(chain, rule, rules, i, m_src, m_assume, m_notes, depth)
            if not unmatched:
                return
            if len(unmatched) == 1:
                src, assume, notes = unmatched[0]
                continue
            for u_src, u_assume, u_notes in unmatched:
                yield from self._rules(chain, rules, i, u_src, u_assume, u_notes, depth)
            return
        self._count()
        yield _Leaf("continue", src, assume, None, notes)

    def _conditions(
        self,
        rule: FirewallRule,
        pending: list[FirewallMatch],
        src: tuple[_Net, ...],
        assume: tuple[str, ...],
        notes: tuple[str, ...],
        matched: list[_Branch],
        unmatched: list[_Branch],
    ) -> None:
        """Split (src, assumptions) into the branches where ``rule`` matches and not."""
        while pending:
            m = pending.pop(0)
            if m.field == "saddr":
                nets = _nets_of(m.values)
                if nets is None:
                    pending.insert(0, records.replace(m, field="?saddr"))
                    continue
                inside, outside = _split(src, nets)
                yes, no = (outside, inside) if m.negate else (inside, outside)
                if no:
                    unmatched.append((tuple(no), assume, notes))
                if not yes:
                    return
                src = tuple(yes)
                continue
            if m.field == "sport":
                # the peer picks its source port: both outcomes are real choices
                what = ("not " if m.negate else "") + "source port " + ",".join(m.values)
                unmatched.append((src, assume, notes))
                notes = (*notes, f"only with {what}")
                continue
            hit = _match_fixed(m, self.pkt)
            if hit is None:
                what = m.field.lstrip("?") + " " + ",".join(m.values)
                unmatched.append((src, (*assume, f"{what} (assumed not to match)"), notes))
                assume = (*assume, f"{what} (assumed to match)")
                continue
            if not hit:
                unmatched.append((src, assume, notes))
                return
        for construct in rule.unknown:
            unmatched.append((src, (*assume, f"{construct} (assumed not to match)"), notes))
            assume = (*assume, f"{construct} (assumed to match)")
        matched.append((src, assume, notes))

    def _apply(
        self,
        chain: FirewallChain,
        rule: FirewallRule,
        rules: tuple[FirewallRule, ...],
        i: int,
        src: tuple[_Net, ...],
        assume: tuple[str, ...],
        notes: tuple[str, ...],
        depth: int,
    ) -> Iterator[_Leaf]:
        v = rule.verdict
        if v in ("accept", "drop", "reject"):
            self._count()
            yield _Leaf(v, src, assume, rule.text, notes)
        elif v == "return":
            self._count()
            yield _Leaf("continue", src, assume, rule.text, notes)
        elif v in ("jump", "goto"):
            target = self.chains.get((chain.family, chain.table, rule.target or ""))
            if target is None:
                self._count()
                yield _Leaf(
                    "unknown", src, (*assume, f"missing chain {rule.target}"), rule.text, notes
                )
                return
            for leaf in self.chain(target, src, assume, notes, depth + 1):
                if leaf.verdict != "continue":
                    yield leaf
                elif v == "goto":
                    yield leaf  # goto: falling off the target returns from this chain
                else:
                    yield from self._rules(
                        chain, rules, i, leaf.src, leaf.assumptions, leaf.notes, depth
                    )
        else:
            self._count()
            what = rule.text if v == "unknown" else f"verdict {v}"
            yield _Leaf("unknown", src, (*assume, what), rule.text, notes)


def inbound_chains(facts: FirewallFacts, family: str) -> list[FirewallChain]:
    """Filter base chains a packet of ``family`` passes on its way to a local socket."""
    fams = _FAMILIES.get(family, ())
    chains = [
        c
        for c in facts.chains
        if c.hook in _INBOUND_HOOKS and (c.type or "filter") == "filter" and c.family in fams
    ]
    return sorted(chains, key=lambda c: (_INBOUND_HOOKS.index(c.hook or ""), c.priority or 0))


def _describe_policy(c: FirewallChain) -> str:
    return f"policy {c.policy} of chain {c.family} {c.table} {c.name}"


def evaluate(
    ruleset: PreparedRuleset | FirewallFacts,
    protocol: str,
    port: int,
    address: str,
    interface: str,
    network: str | None,
) -> Verdict:
    """Would a new connection from a peer on ``network`` via ``interface`` to
    ``address:port`` be accepted? Asking many questions of one ruleset, prepare it
    once (``PreparedRuleset(facts)``) and pass that; plain ``FirewallFacts`` are
    prepared for this one question."""
    if not isinstance(ruleset, PreparedRuleset):
        ruleset = PreparedRuleset(ruleset)
    facts = ruleset.facts
    if facts.backend == "unavailable":
        return Verdict(UNKNOWN, facts.message or "firewall rules could not be read")
    ip = parse_ip(address)
    if ip is None:
        return Verdict(UNKNOWN, f"not an IP address: {address}")
    family = "ipv4" if ip.version == 4 else "ipv6"
    pkt = Packet(family, interface, str(ip), protocol.lower(), port)
    src_net: _Net | None = None
    if network:
        try:
            src_net = ipaddress.ip_network(network, strict=False)
        except ValueError:
            src_net = None
    if src_net is None or src_net.version != ip.version:
        src_net = ipaddress.ip_network("0.0.0.0/0" if ip.version == 4 else "::/0")
    chains = ruleset.inbound(family)
    if not chains:
        return Verdict(OPEN, f"no {family} input filter ({facts.backend})")
    walker = _Walker(ruleset, pkt)
    # (src, assumptions, notes, last accept evidence)
    states: list[tuple[tuple[_Net, ...], tuple[str, ...], tuple[str, ...], str]]
    states = [((src_net,), (), (), "")]
    final: list[tuple[_Leaf, str]] = []
    try:
        for c in chains:
            nxt = []
            for src, assume, notes, ev in states:
                for leaf in walker.chain(c, src, assume, notes, 0):
                    verdict = leaf.verdict
                    evidence = leaf.rule or ""
                    if verdict == "continue":
                        verdict = c.policy or "accept"
                        evidence = _describe_policy(c)
                    if verdict == "accept":
                        if leaf.verdict == "continue" and ev and not ev.startswith("policy "):
                            evidence = ev  # fell through: keep an earlier rule's accept
                        nxt.append((leaf.src, leaf.assumptions, leaf.notes, evidence))
                    else:
                        final.append((records.replace(leaf, verdict=verdict), evidence))
            states = nxt
    except _TooComplex:
        return Verdict(UNKNOWN, f"ruleset too complex to follow (over {_MAX_LEAVES} paths)")
    for src, assume, notes, ev in states:
        final.append((_Leaf("accept", src, assume, ev, notes), ev))
    return _conclude(final, src_net)


_YES, _NO = " (assumed to match)", " (assumed not to match)"
_MAX_WORLDS = 4096


def _assumed(leaf: _Leaf) -> dict[str, bool] | None:
    """The leaf's assumptions as {construct: matched}; None if contradictory."""
    out: dict[str, bool] = {}
    for a in leaf.assumptions:
        for suffix, value in ((_YES, True), (_NO, False)):
            if a.endswith(suffix):
                name = a[: -len(suffix)]
                if out.setdefault(name, value) != value:
                    return None
    return out


def _world_result(leaves: list[tuple[_Leaf, str]]) -> str:
    if any(lf.verdict == "accept" for lf, _ in leaves):
        return OPEN
    if leaves and all(lf.verdict in ("drop", "reject") for lf, _ in leaves):
        return FILTERED
    return UNKNOWN


def _conclude(final: list[tuple[_Leaf, str]], whole: _Net) -> Verdict:
    """Combine the paths. Constructs not understood are unknown facts about the packet:
    every assignment of them is a possible world; within a world the peer's own choices
    (source address inside the network, source port) make it open if any path accepts.
    The verdict is certain only when every world agrees."""
    cases: list[tuple[_Leaf, str, dict[str, bool]]] = []
    for lf, ev in final:
        assumed = _assumed(lf)
        if assumed is not None:  # (None: contradictory, no world has it)
            cases.append((lf, ev, assumed))
    names = sorted({n for _, _, a in cases for n in a})
    results: set[str] = set()
    if len(names) > 12:  # 2**12 worlds at most; beyond, only what holds everywhere
        sure = _world_result([(lf, ev) for lf, ev, a in cases if not a])
        results = {OPEN} if sure == OPEN else {UNKNOWN}
    else:
        for mask in range(2 ** len(names)):
            world = {n: bool(mask >> i & 1) for i, n in enumerate(names)}
            here = [(lf, ev) for lf, ev, a in cases if all(world[k] == v for k, v in a.items())]
            results.add(_world_result(here))
            if len(results) > 1:
                break
    if results == {OPEN}:
        accepts = [(lf, ev) for lf, ev, a in cases if lf.verdict == "accept"]
        accepts.sort(key=lambda x: len(x[0].assumptions))
        lf, ev = accepts[0]
        srcs = sorted(
            {n for lf2, _ in accepts if not lf2.assumptions for n in lf2.src}
            or {n for lf2, _ in accepts for n in lf2.src},
            key=str,
        )
        parts = [f"accepted by: {ev}" if ev else "accepted"]
        if srcs != [whole]:
            shown = ", ".join(str(n) for n in srcs[:4]) + (" ..." if len(srcs) > 4 else "")
            parts.append(f"only from {shown}")
        parts.extend(sorted(set(lf.notes)))
        return Verdict(OPEN, "; ".join(parts))
    if results == {FILTERED}:
        evs: list[str] = []
        for _lf, ev, _a in cases:
            if ev not in evs:
                evs.append(ev)
        shown = " | ".join(evs[:3]) + (" | ..." if len(evs) > 3 else "")
        verb = "rejected" if all(lf.verdict == "reject" for lf, _, _ in cases) else "dropped"
        return Verdict(FILTERED, f"{verb} by: {shown}")
    named: list[str] = []
    for lf, _ in final:
        if lf.verdict in ("accept", "unknown"):
            for a in lf.assumptions:
                base = a.removesuffix(_YES).removesuffix(_NO)
                if base not in named:
                    named.append(base)
    return Verdict(UNKNOWN, "depends on rules not understood: " + "; ".join(named[:4]))
