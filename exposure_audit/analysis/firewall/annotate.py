"""Exposures gain firewall verdicts: each reach entry's (evaluate.py), the exposure's
most open one, container publishing (published.py) and the verdict for the traffic a
router's UPnP mappings forward to the listener. Pure functions over ``Facts``."""

from __future__ import annotations

from exposure_audit.analysis.firewall.evaluate import (
    OPEN,
    UNKNOWN,
    VERDICT_RANK,
    PreparedRuleset,
    Verdict,
    evaluate,
)
from exposure_audit.analysis.firewall.published import container_label, proxy_info, publishes
from exposure_audit.core import records
from exposure_audit.core.model import Exposure, Facts, Reach


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
    for exp in exposures:
        lst = exp.listener
        runtime, opts = proxy_info(exp)
        published_by = runtime
        container: str | None = None
        if runtime == "docker":
            container = container_label(fw, opts.get("container-ip"), None, None)
        elif runtime == "podman":
            container = container_label(
                fw, None, opts.get("c") or opts.get("cid"), opts.get("n") or opts.get("name")
            )
        reaches: list[Reach] = []
        addresses = tuple(sorted({r.address for r in exp.reach}))
        for r in exp.reach:
            if ruleset is None:
                reaches.append(r)
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
                if key not in cache:
                    cache[key] = evaluate(ruleset, *key)
                v = cache[key]
            reaches.append(records.replace(r, firewall=v.result, firewall_evidence=v.evidence))
        up = [r for r in reaches if r.up and r.firewall is not None]
        # loopback is this machine itself: it counts only for a loopback-only listener
        beyond = [r for r in up if r.scope != "loopback"]
        up = beyond or up
        firewall = evidence = None
        if up:
            best = max(up, key=lambda r: VERDICT_RANK[r.firewall or UNKNOWN])
            firewall = best.firewall
            evidence = f"{best.interface} {best.address}: {best.firewall_evidence}"
        upnp = None
        if ruleset is not None and exp.upnp_mappings and not (published_by or exp.published_by):
            # (a published container port's forwarded traffic skips the input filter)
            upnp = _upnp_verdict(facts, ruleset, exp, cache)
        out.append(
            records.replace(
                exp,
                reach=tuple(reaches),
                firewall=firewall,
                firewall_evidence=evidence,
                published_by=published_by or exp.published_by,
                container=container or exp.container,
                upnp_firewall=upnp.result if upnp else None,
                upnp_firewall_evidence=upnp.evidence if upnp else None,
            )
        )
    return out


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
