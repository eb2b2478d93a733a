"""Exposures gain firewall verdicts: each reach entry's (evaluate.py), the exposure's
most open one, container publishing (published.py) and the verdict for the traffic a
router's UPnP mappings forward to the listener. Pure functions over ``Facts``."""

from __future__ import annotations

from exposure_audit.analysis.firewall.evaluate import (
    FILTERED,
    OPEN,
    UNKNOWN,
    VERDICT_RANK,
    PreparedRuleset,
    Verdict,
    evaluate,
)
from exposure_audit.analysis.firewall.published import container_label, proxy_info, publishes
from exposure_audit.core import records
from exposure_audit.core.addresses import parse_ip
from exposure_audit.core.model import SCOPE_RANK, Exposure, Facts, Reach

# (the reach tuple it was worked out for, the annotated one, the verdict, its evidence)
_Shared = tuple[tuple[Reach, ...], tuple[Reach, ...], str | None, str | None]


def annotate(facts: Facts, exposures: list[Exposure]) -> list[Exposure]:
    """``exposures`` with Reach.firewall / Exposure.firewall and container publishing
    filled in. Unchanged when no firewall facts were collected.

    Exposure.firewall is the most open verdict (open > unknown > filtered) over the up
    reach entries beyond loopback (over the loopback ones for a loopback-only listener),
    with that entry's evidence prefixed by its interface and address."""
    fw = facts.firewall
    # every question below is asked of this one ruleset: prepare it once
    ruleset = PreparedRuleset(fw) if fw is not None else None
    out: list[Exposure] = []
    cache: dict[tuple[str, int, str, str, str | None, tuple[str, ...]], Verdict] = {}
    # Annotated reach entries and tuples, shared by the exposures that have them alike
    # (as resolve shares the unannotated ones): memory and later per-tuple caches.
    annotated: dict[tuple[Reach, str, str | None], Reach] = {}
    tuples: dict[tuple[Reach, ...], tuple[Reach, ...]] = {}
    to_loopback = ruleset is not None and _dnat_to_loopback(ruleset)
    # No inbound chain (or no readable ruleset): every verdict is the same whatever the
    # port, so one question per address serves all its listeners.
    any_port = ruleset is not None and (
        fw is None
        or fw.backend == "unavailable"
        or not (ruleset.inbound("ipv4") or ruleset.inbound("ipv6"))
    )
    fast = ruleset is not None and not facts.published and not to_loopback
    shared: dict[tuple[int, str, int], _Shared] = {}
    proxies: dict[int, tuple[object, tuple[str | None, dict[str, str]]]] = {}
    for exp in exposures:
        if to_loopback and ruleset is not None:
            exp = _with_nat_to_loopback(facts, ruleset, exp)
        lst = exp.listener
        # one answer per process (its listeners share the ProcessInfo)
        known = proxies.get(id(lst.process))
        if known is not None and known[0] is lst.process:
            runtime, opts = known[1]
        else:
            runtime, opts = proxy_info(exp)
            proxies[id(lst.process)] = (lst.process, (runtime, opts))
        published_by = runtime
        container: str | None = None
        if runtime == "docker":
            container = container_label(fw, opts.get("container-ip"), None, None)
        elif runtime == "podman":
            container = container_label(
                fw, None, opts.get("c") or opts.get("cid"), opts.get("n") or opts.get("name")
            )
        # Without published ports or NAT to loopback, what follows depends only on the
        # (shared) reach tuple, the protocol and the port (not even that with any_port):
        # thousands of listeners on the same addresses are worked out once.
        skey = (id(exp.reach), lst.protocol, 0 if any_port else lst.port)
        hit = shared.get(skey) if fast else None
        if hit is not None and hit[0] is exp.reach:
            _same, reach_t, firewall, evidence = hit
        else:
            reach_t, firewall, evidence, published_by, container = _annotate_reach(
                facts,
                ruleset,
                exp,
                cache,
                annotated,
                tuples,
                any_port,
                published_by,
                container,
            )
            if fast:
                shared[skey] = (exp.reach, reach_t, firewall, evidence)
        upnp = None
        if ruleset is not None and exp.upnp_mappings and not (published_by or exp.published_by):
            # (a published container port's forwarded traffic skips the input filter)
            upnp = _upnp_verdict(facts, ruleset, exp, cache)
        out.append(
            records.replace(
                exp,
                reach=reach_t,
                firewall=firewall,
                firewall_evidence=evidence,
                published_by=published_by or exp.published_by,
                container=container or exp.container,
                upnp_firewall=upnp.result if upnp else None,
                upnp_firewall_evidence=upnp.evidence if upnp else None,
            )
        )
    return out


def _annotate_reach(
    facts: Facts,
    ruleset: PreparedRuleset | None,
    exp: Exposure,
    cache: dict[tuple[str, int, str, str, str | None, tuple[str, ...]], Verdict],
    annotated: dict[tuple[Reach, str, str | None], Reach],
    tuples: dict[tuple[Reach, ...], tuple[Reach, ...]],
    any_port: bool,
    published_by: str | None,
    container: str | None,
) -> tuple[tuple[Reach, ...], str | None, str | None, str | None, str | None]:
    """Exposure ``exp``'s reach entries with their verdicts, and its own verdict (the
    most open one) and evidence; ``published_by`` and ``container`` as publishing finds."""
    fw = facts.firewall
    lst = exp.listener
    reaches: list[Reach] = []
    # the addresses the socket itself listens on (not those only NAT leads to)
    addresses = tuple(sorted({r.address for r in exp.reach if r.firewall is None}))
    for r in exp.reach:
        if ruleset is None or r.firewall is not None:
            reaches.append(r)  # (a reach only NAT leads to comes evaluated)
            continue
        pub = next(
            (
                pp
                for pp in facts.published
                if publishes(pp, lst.protocol, lst.port, r.address, r.interface)
            ),
            None,
        )
        if pub is not None and r.scope != "loopback":
            published_by = published_by or pub.published_by
            container = container or container_label(
                fw, pub.target_address, pub.container_id, pub.container_name
            )
            where = pub.container_name or pub.container_id or pub.target_address
            v = Verdict(
                OPEN,
                (
                    f"published by {pub.published_by} to {where}:{pub.target_port} "
                    f"(DNAT: {pub.evidence}); forwarded traffic bypasses the input filter"
                ),
            )
        else:
            # a nat rule may deliver to another address this socket listens on
            key = (lst.protocol, lst.port, r.address, r.interface, r.network, addresses)
            ckey = (lst.protocol, 0, r.address, r.interface, r.network, ()) if any_port else key
            known = cache.get(ckey)
            if known is None:
                known = cache[ckey] = evaluate(ruleset, *key)
            v = known
        akey = (r, v.result, v.evidence)
        done = annotated.get(akey)
        if done is None:
            done = annotated[akey] = records.replace(
                r, firewall=v.result, firewall_evidence=v.evidence
            )
        reaches.append(done)
    up = [r for r in reaches if r.up and r.firewall is not None]
    # loopback is this machine itself: it counts only for a loopback-only listener
    beyond = [r for r in up if r.scope != "loopback"]
    up = beyond or up
    firewall = evidence = None
    if up:
        best = max(up, key=lambda r: VERDICT_RANK[r.firewall or UNKNOWN])
        firewall = best.firewall
        evidence = f"{best.interface} {best.address}: {best.firewall_evidence}"
    return (
        tuples.setdefault(tuple(reaches), tuple(reaches)),
        firewall,
        evidence,
        published_by,
        container,
    )


def _dnat_to_loopback(ruleset: PreparedRuleset) -> bool:
    """Whether some nat rule DNATs to a loopback address (the kube-proxy pattern)."""
    for c in ruleset.facts.chains:
        for r in c.rules:
            if r.verdict == "dnat" and r.nat_address:
                ip = parse_ip(r.nat_address.strip("[]"))
                if ip is not None and ip.is_loopback:
                    return True
    return False


def _with_nat_to_loopback(facts: Facts, ruleset: PreparedRuleset, exp: Exposure) -> Exposure:
    """A socket on a loopback address that a DNAT rule makes reachable from outside
    (``dnat to 127.0.0.1:PORT`` with route_localnet on the incoming interface,
    CVE-2020-8558): a reach entry for each interface address a peer can send to, when
    the evaluator finds such a path (open or unknown). Interfaces the socket already
    reaches directly are evaluated there (a NAT path counts in their verdict)."""
    loop = [r.address for r in exp.reach if r.scope == "loopback"]
    if not loop:
        return exp
    have = {(r.interface, r.address) for r in exp.reach}
    lst = exp.listener
    added: list[Reach] = []
    for iface in facts.interfaces:
        if iface.kind == "loopback":
            continue
        for a in iface.addresses:
            if a.family != "ipv4" or (iface.name, a.address) in have:
                continue
            v = evaluate(
                ruleset, lst.protocol, lst.port, a.address, iface.name, a.network, loop, False
            )
            if v.result == FILTERED:
                continue  # no NAT path to it (or only filtered ones): not reached here
            added.append(
                Reach(
                    interface=iface.name,
                    address=a.address,
                    scope=a.scope,
                    network=a.network,
                    up=iface.up,
                    firewall=v.result,
                    firewall_evidence=v.evidence,
                )
            )
    if not added:
        return exp
    reach = (*exp.reach, *added)
    scopes = tuple(
        sorted({r.scope for r in reach if r.up} | set(exp.scopes), key=SCOPE_RANK.__getitem__)
    )
    widest = max(scopes, key=SCOPE_RANK.__getitem__) if scopes else exp.widest_scope
    if SCOPE_RANK[exp.widest_scope] > SCOPE_RANK[widest]:
        widest = exp.widest_scope
    return records.replace(exp, reach=reach, scopes=scopes, widest_scope=widest)


def _upnp_verdict(
    facts: Facts,
    ruleset: PreparedRuleset,
    exp: Exposure,
    cache: dict[tuple[str, int, str, str, str | None, tuple[str, ...]], Verdict],
) -> Verdict:
    """The most open verdict over the packets the router's mappings forward to this
    listener: to the mapping's internal client and port, arriving on the interface that
    holds that address, from the mapping's remote host or else from anywhere."""
    best: Verdict | None = None
    for m in exp.upnp_mappings:
        iface = next(
            (
                i.name
                for i in facts.interfaces
                for a in i.addresses
                if a.address == m.internal_client
            ),
            None,
        )
        if iface is None:
            v = Verdict(UNKNOWN, f"no interface here holds {m.internal_client}")
        else:
            remote = m.remote_host or None  # "" = any source
            key = (m.protocol.lower(), m.internal_port, m.internal_client, iface, remote, ())
            if key not in cache:
                cache[key] = evaluate(ruleset, *key)
            v = cache[key]
        v = Verdict(
            v.result,
            f"mapping {m.external_port}/{m.protocol.lower()} -> {m.internal_client}:"
            f"{m.internal_port} ({iface or '?'}): {v.evidence}",
        )
        if best is None or VERDICT_RANK[v.result] > VERDICT_RANK[best.result]:
            best = v
    assert best is not None  # exp.upnp_mappings is not empty
    return best
