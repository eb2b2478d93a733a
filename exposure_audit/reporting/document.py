"""The report document: one JSON-able dict built from an Evaluation.

Every renderer (terminal, JSON, HTML, and any user template) reads this same dict, so
what a person sees and what tooling reads cannot drift apart. Its shape is the contract
in ``reports/report.schema.json`` (documented in docs/json-report.md); bump
``REPORT_SCHEMA_VERSION`` on any change to it (minor: additive, major: incompatible).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from typing import Any

from exposure_audit import __version__
from exposure_audit.core.model import (
    SCOPE_RANK,
    SCOPES,
    SEVERITIES,
    SEVERITY_RANK,
    Evaluation,
    Exposure,
    Facts,
    Finding,
    Listener,
    UpnpMapping,
)
from exposure_audit.core.records import record
from exposure_audit.core.serialize import facts_to_dict, to_jsonable
from exposure_audit.core.wording import Wording, network_of

REPORT_SCHEMA_VERSION = "2.4"
TOOL_NAME = "exposure-audit"

# Scopes that mean "someone other than me", widest first (for verdicts and ordering).
BEYOND_LOOPBACK: tuple[str, ...] = tuple(s for s in reversed(SCOPES) if s != "loopback")


def severity_at_least(severity: str, threshold: str | None) -> bool:
    """``threshold`` None (``--fail-on none``) is never reached."""
    if threshold is None:
        return False
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]


def build_report(
    evaluation: Evaluation,
    *,
    generated_at: str,
    options: Mapping[str, Any] | None = None,
    fail_on: str | None = "high",
) -> dict[str, Any]:
    """The report document for ``evaluation``. Pure: no clock, no OS, no network."""
    facts = evaluation.facts
    words = Wording.of(facts)
    ids = _exposure_ids(evaluation.exposures)
    findings = sorted(evaluation.findings, key=_finding_order)

    by_identity = {id(x): ids[i] for i, x in enumerate(evaluation.exposures)}
    # by equal value: only for a finding whose exposure is not one of these objects (an
    # Exposure's hash walks its whole reach: not worth it for 10,000 of them up front)
    by_value: dict[Exposure, str] | None = None
    by_exposure: dict[str, list[Finding]] = {}
    places: dict[Any, Any] = {}  # _Places by what they follow from; process docs; lists
    finding_docs = []
    for f in findings:
        xid = None
        if f.exposure is not None:
            xid = by_identity.get(id(f.exposure))
            if xid is None:
                if by_value is None:
                    by_value = {}
                    for i, x in enumerate(evaluation.exposures):
                        by_value.setdefault(x, ids[i])
                xid = by_value.get(f.exposure)
        if xid is not None:
            by_exposure.setdefault(xid, []).append(f)
        finding_docs.append(_finding_doc(f, xid, words, places))

    exposure_docs = [
        _exposure_doc(x, ids[i], by_exposure.get(ids[i], []), words, places)
        for i, x in enumerate(evaluation.exposures)
    ]
    exposure_docs.sort(key=_exposure_order)

    summary = _summary(facts, exposure_docs, findings, evaluation, fail_on)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "generated_at": generated_at,
        "host": {
            "hostname": facts.host.hostname,
            "os": facts.host.os,
            "os_release": facts.host.os_release,
            "kernel": facts.host.kernel,
            "privileged": facts.host.privileged,
        },
        "options": _options_doc(options or {}, fail_on),
        "summary": summary,
        "exposures": exposure_docs,
        "findings": finding_docs,
        "dangling_mappings": [_mapping_doc(d.mapping) for d in evaluation.dangling],
        "rules_evaluated": list(evaluation.rules_evaluated),
        "warnings": [to_jsonable(w) for w in evaluation.warnings],
        "facts": facts_to_dict(facts),
    }


# --------------------------------------------------------------------------- pieces


def _options_doc(options: Mapping[str, Any], fail_on: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "facts_file": None,
        "upnp": True,
        "igd_url": None,
        "firewall": True,
        "probe": True,
        "rule_dirs": [],
        "builtin_rules": True,
        "config_path": None,
        "builtin_waivers": True,
    }
    for key in doc:
        if key in options:
            value = options[key]
            if key == "rule_dirs":
                value = [str(v) for v in value]
            elif key in ("facts_file", "config_path", "igd_url") and value is not None:
                value = str(value)
            doc[key] = value
    doc["fail_on"] = fail_on or "none"
    return doc


def _exposure_ids(exposures: Iterable[Exposure]) -> list[str]:
    """Stable ids: ``tcp/0.0.0.0/8000``; a second socket on the same key gets ``#2``."""
    seen: dict[str, int] = {}
    out = []
    for x in exposures:
        key = x.key
        n = seen[key] = seen.get(key, 0) + 1
        out.append(key if n == 1 else f"{key}#{n}")
    return out


def _finding_order(f: Finding) -> tuple[int, int, str, int, str]:
    lst = f.exposure.listener if f.exposure else None
    return (
        int(f.waived),
        -SEVERITY_RANK.get(f.severity, 0),
        lst.protocol if lst else "~",
        lst.port if lst else (f.dangling.mapping.external_port if f.dangling else 0),
        f.rule_id,
    )


def _exposure_order(doc: Mapping[str, Any]) -> tuple[int, int, int, str, str]:
    sev = doc["severity"]
    return (
        -(SEVERITY_RANK[sev] if sev else -1),
        -SCOPE_RANK[doc["widest_scope"]],
        doc["port"],
        doc["protocol"],
        doc["id"],
    )


def _process_doc(lst: Listener, cache: dict[Any, Any] | None = None) -> dict[str, Any] | None:
    """The listener's process; with ``cache``, one dict per process for all its
    listeners' documents (see _Places)."""
    p = lst.process
    if p is None:
        return None
    if cache is not None:
        # by identity: a process's listeners share its ProcessInfo (hashing and
        # comparing its command line for each of 10,000 listeners cost more)
        hit = cache.get(id(p))
        if hit is None or hit[0] is not p:
            hit = cache[id(p)] = (p, _process_doc(lst))
        return typing.cast(dict[str, Any], hit[1])
    return {
        "pid": p.pid,
        "name": p.name,
        "exe": p.exe,
        "cmdline": list(p.cmdline),
        "username": p.username,
        "uid": p.uid,
        "container_id": p.container_id,
    }


def _mapping_doc(m: UpnpMapping) -> dict[str, Any]:
    return dict(to_jsonable(m))


def blocked_by_firewall(x: Exposure) -> bool:
    """Reachable beyond loopback only through paths the firewall filters: every up reach
    beyond loopback ``filtered`` (Exposure.firewall is the most open of them) and, with
    UPnP mappings, the forwarded traffic filtered too. ``unknown`` is not blocked."""
    if x.widest_scope == "loopback" or x.firewall != "filtered":
        return False
    return not x.upnp_mappings or x.upnp_firewall == "filtered"


def open_scopes(x: Exposure) -> list[str]:
    """The scopes from which some path is not filtered (open, unknown or not evaluated):
    a scope counts when an up reach in it is not ``filtered``; ``internet`` by its UPnP
    verdict."""
    out = set()
    for r in x.reach:
        if r.up and r.firewall != "filtered":
            out.add(r.scope)
    if x.upnp_mappings and x.upnp_firewall != "filtered":
        out.add("internet")
    return [s for s in SCOPES if s in out and s in set(x.scopes) | {"internet"}]


@record
class _Places:
    """The parts of an exposure's document that follow from where it is reached: the
    same for every listener bound alike (thousands of them on a busy host), so one
    list or dict of each serves all their documents. The report document is read-only
    to its consumers (renderers, templates, history): nothing may change it in place."""

    scopes: list[str]
    reachable_scopes: list[str]
    interfaces: list[str]
    addresses: list[str]
    networks: list[str]
    reachable_from: list[str]
    reach: list[dict[str, Any]]
    upnp_mappings: list[dict[str, Any]]


def _places(x: Exposure, words: Wording, cache: dict[Any, Any]) -> _Places:
    # every Exposure field the parts below read; the reach and mapping tuples by
    # identity (resolve and annotate share them between exposures alike: hashing
    # their records every time cost more than building the parts)
    key = (id(x.reach), x.scopes, x.widest_scope, id(x.upnp_mappings), x.upnp_firewall)
    hit = cache.get(key)
    if hit is not None and hit[0] is x.reach and hit[1] is x.upnp_mappings:
        return typing.cast(_Places, hit[2])
    up = [r for r in x.reach if r.up]
    internet = {"internet"} if x.upnp_mappings else set()
    got = _Places(
        scopes=[s for s in SCOPES if s in set(x.scopes) | internet],
        reachable_scopes=[s for s in open_scopes(x) if s != "loopback"]
        if x.widest_scope != "loopback"
        else [],
        interfaces=_unique(r.interface for r in up),
        addresses=_unique(r.address for r in up),
        networks=_unique(network_of(r.address, r.network) for r in up),
        reachable_from=words.reach_lines(x),
        reach=[to_jsonable(r) for r in x.reach],
        upnp_mappings=[_mapping_doc(m) for m in x.upnp_mappings],
    )
    cache[key] = (x.reach, x.upnp_mappings, got)
    return got


def _exposure_doc(
    x: Exposure,
    xid: str,
    findings: list[Finding],
    words: Wording,
    places: dict[Any, Any] | None = None,
) -> dict[str, Any]:
    lst = x.listener
    unwaived = [f for f in findings if not f.waived]
    worst = max((f.severity for f in unwaived), key=SEVERITY_RANK.__getitem__) if unwaived else None
    if places is None:
        return _exposure_row(x, xid, worst, findings, words, {})
    # Listeners bound alike (thousands on a busy host) have the same document but for
    # its id, port and findings: each is a copy of one made for all of them (the same
    # values), so that rows alike share all but those (core/jsonout.py encodes rows
    # alike once). The key holds everything the row is made of but those three; the
    # process, reach and mappings by identity, as _process_doc and _places take them;
    # the types of v6only and uid too (True == 1, but is written otherwise).
    p, reach, mappings = lst.process, x.reach, x.upnp_mappings
    key = (
        "row", id(p), id(reach), id(mappings), lst.protocol, lst.family, lst.address,
        lst.v6only, type(lst.v6only), lst.bound_interface, lst.zone, lst.uid,
        type(lst.uid), lst.notes, x.widest_scope, x.scopes, x.interface_kinds, x.firewall,
        x.firewall_evidence, x.upnp_firewall, x.upnp_firewall_evidence, x.published_by,
        x.container, worst,
    )  # fmt: skip
    hit = places.get(key)
    if hit is None or hit[0] is not p or hit[1] is not reach or hit[2] is not mappings:
        hit = places[key] = (p, reach, mappings, _exposure_row(x, xid, worst, [], words, places))
    row: dict[str, Any] = hit[3].copy()
    row["id"] = xid
    row["port"] = lst.port
    row["findings"] = [f.fingerprint for f in findings]
    return row


def _exposure_row(
    x: Exposure,
    xid: str,
    worst: str | None,
    findings: list[Finding],
    words: Wording,
    places: dict[Any, Any],
) -> dict[str, Any]:
    lst = x.listener
    at = _places(x, words, places)
    blocked = blocked_by_firewall(x)
    return {
        "id": xid,
        "protocol": lst.protocol,
        "family": lst.family,
        "address": lst.address,
        "port": lst.port,
        "v6only": lst.v6only,
        "bound_interface": lst.bound_interface,
        "zone": lst.zone,
        "uid": lst.uid,
        "process": _process_doc(lst, places),
        "notes": _shared_list(lst.notes, places),
        "widest_scope": x.widest_scope,
        "scopes": at.scopes,
        "exposed": x.widest_scope != "loopback",
        "blocked_by_firewall": blocked,
        "reachable": x.widest_scope != "loopback" and not blocked,
        "reachable_scopes": at.reachable_scopes,
        "interfaces": at.interfaces,
        "addresses": at.addresses,
        "networks": at.networks,
        "interface_kinds": _shared_list(x.interface_kinds, places),
        "reachable_from": at.reachable_from,
        "reach": at.reach,
        "upnp_mappings": at.upnp_mappings,
        "firewall": x.firewall,
        "firewall_evidence": x.firewall_evidence,
        "upnp_firewall": x.upnp_firewall,
        "upnp_firewall_evidence": x.upnp_firewall_evidence,
        "published_by": x.published_by,
        "container": x.container,
        "severity": worst,
        "findings": [f.fingerprint for f in findings],
    }


def _shared_list(items: tuple[str, ...], cache: dict[Any, Any] | None) -> list[str]:
    """``list(items)``; with ``cache``, one list per distinct tuple for all documents
    (see _Places), so that rows alike share all their parts but the few that differ
    (the JSON writer encodes such rows once per shape: core/jsonout.py)."""
    if cache is None:
        return list(items)
    key = ("list", items)
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = list(items)
    return typing.cast(list[str], hit)


def _finding_exposure(
    x: Exposure, words: Wording, cache: dict[Any, Any] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A finding's ``exposure`` and ``upnp_mappings``: with ``cache``, the lists of the
    exposure's places (the same values), and one dict per places."""
    if cache is None:
        up = [r for r in x.reach if r.up]
        exposure = {
            "widest_scope": x.widest_scope,
            "scopes": list(x.scopes),
            "interfaces": _unique(r.interface for r in up),
            "addresses": _unique(r.address for r in up),
            "networks": _unique(network_of(r.address, r.network) for r in up),
            "reachable_from": words.reach_lines(x),
        }
        return exposure, [_mapping_doc(m) for m in x.upnp_mappings]
    at = _places(x, words, cache)
    hit = cache.get(("exposure", id(at)))
    if hit is None or hit[0] is not at:
        exposure = {
            "widest_scope": x.widest_scope,  # both part of what the places follow from
            "scopes": _shared_list(x.scopes, cache),
            "interfaces": at.interfaces,
            "addresses": at.addresses,
            "networks": at.networks,
            "reachable_from": at.reachable_from,
        }
        hit = cache[("exposure", id(at))] = (at, exposure)
    return hit[1], at.upnp_mappings


def _identity_doc(f: Finding, cache: dict[Any, Any] | None) -> Any:
    if f.identity is None:
        return None
    if cache is None:
        return to_jsonable(f.identity)
    hit = cache.get(("identity", f.identity))  # by value: a small record
    if hit is None:
        hit = cache[("identity", f.identity)] = to_jsonable(f.identity)
    return hit


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _finding_doc(
    f: Finding, xid: str | None, words: Wording, cache: dict[Any, Any] | None = None
) -> dict[str, Any]:
    """With ``cache``, all but the listener and the texts shared with other findings
    alike (see _Places)."""
    listener = exposure = None
    mappings: list[dict[str, Any]] = []
    if f.exposure is not None:
        x = f.exposure
        lst = x.listener
        p = lst.process
        listener = {
            "protocol": lst.protocol,
            "family": lst.family,
            "address": lst.address,
            "port": lst.port,
            "pid": p.pid if p else None,
            "process": p.name if p else None,
            "exe": p.exe if p else None,
            "user": (p.username if p else None),
            "uid": p.uid if p and p.uid is not None else lst.uid,
            "cmdline": list(p.cmdline) if p else [],
            "container_id": p.container_id if p else None,
        }
        exposure, mappings = _finding_exposure(x, words, cache)
    elif f.dangling is not None:
        mappings = [_mapping_doc(f.dangling.mapping)]
    return {
        "rule_id": f.rule_id,
        "severity": f.severity,
        "title": f.title,
        "message": f.message,
        "remediation": f.remediation,
        "references": _shared_list(f.references, cache),
        "fingerprint": f.fingerprint,
        "waived": f.waived,
        "waiver_reason": f.waiver_reason,
        "waiver_expired": f.waiver_expired,
        "tags": _shared_list(f.tags, cache),
        "service": f.service,
        "identity": _identity_doc(f, cache),
        "exposure_id": xid,
        "dangling": f.dangling is not None,
        "listener": listener,
        "exposure": exposure,
        "upnp_mappings": mappings,
    }


# --------------------------------------------------------------------------- summary


def _summary(
    facts: Facts,
    exposures: list[dict[str, Any]],
    findings: list[Finding],
    evaluation: Evaluation,
    fail_on: str | None,
) -> dict[str, Any]:
    unwaived = [f for f in findings if not f.waived]
    by_sev = {s: sum(1 for f in unwaived if f.severity == s) for s in SEVERITIES}
    highest = max((f.severity for f in unwaived), key=SEVERITY_RANK.__getitem__, default=None)
    # "reachable": beyond loopback on some path the firewall does not filter
    exposed = [x for x in exposures if x["reachable"]]
    widest, reachable = _scope_counts(exposures)
    failing = sum(1 for f in unwaived if severity_at_least(f.severity, fail_on))
    upnp = facts.upnp
    summary = {
        "verdict": "",
        "verdict_headline": "",
        "verdict_reasons": [],
        "status": highest or "ok",
        "findings_total": len(findings),
        "by_severity": by_sev,
        "highest_severity": highest,
        "waived": sum(1 for f in findings if f.waived),
        "waivers_expired": sum(1 for f in findings if f.waiver_expired),
        "at_or_above_fail_on": failing,
        "fail_on": fail_on or "none",
        "failed": failing > 0,
        "listeners_total": len(exposures),
        "listeners_exposed": len(exposed),
        "listeners_beyond_loopback": sum(1 for x in exposures if x["exposed"]),
        "listeners_blocked_by_firewall": sum(1 for x in exposures if x["blocked_by_firewall"]),
        "exposed_by_widest_scope": widest,
        "reachable_by_scope": reachable,
        "exposed_without_findings": sum(1 for x in exposed if not x["findings"]),
        "dangling_mappings": len(evaluation.dangling),
        "rules_evaluated": len(evaluation.rules_evaluated),
        "upnp_status": upnp.status if upnp else "disabled",
        "warnings": len(evaluation.warnings),
    }
    headline, reasons = verdict_parts(facts, exposures, summary)
    summary["verdict_headline"] = headline
    summary["verdict_reasons"] = reasons
    summary["verdict"] = headline + (": " + ", ".join(reasons) if reasons else "") + "."
    return summary


def _scope_counts(
    exposures: list[dict[str, Any]],
) -> tuple[dict[str, int], dict[str, int]]:
    """How many exposures have each scope as their widest, and how many each scope
    reaches (loopback: is among their scopes; any other: among their reachable
    scopes). In one pass, each pair of scope lists weighed once: rows alike share them
    (10,000 rows, a few pairs)."""
    widest = dict.fromkeys(SCOPES, 0)
    pairs: dict[tuple[int, int], list[Any]] = {}
    for x in exposures:
        w = x["widest_scope"]
        if w in widest:
            widest[w] += 1
        scopes, open_to = x["scopes"], x["reachable_scopes"]
        pair = pairs.get((id(scopes), id(open_to)))
        if pair is None:  # the lists are alive in the rows: their ids are theirs
            pair = pairs[(id(scopes), id(open_to))] = [scopes, open_to, 0]
        pair[2] += 1
    reachable = dict.fromkeys(SCOPES, 0)
    for scopes, open_to, n in pairs.values():
        for s in SCOPES:
            if s in open_to if s != "loopback" else s in scopes:
                reachable[s] += n
    return widest, reachable


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def verdict_parts(
    facts: Facts, exposures: list[dict[str, Any]], summary: Mapping[str, Any]
) -> tuple[str, list[str]]:
    """A headline a non-expert understands, and where from (widest first)."""
    host = facts.host.hostname or "this machine"
    total = len(exposures)
    exposed = [x for x in exposures if x["reachable"]]
    blocked = sum(1 for x in exposures if x["blocked_by_firewall"])
    blocked_words = (
        f"{_plural(blocked, 'listener')} {'is' if blocked == 1 else 'are'} blocked by the firewall"
    )
    if total == 0:
        return f"No listening services found on {host}", []
    if not exposed and blocked:
        loopback = total - blocked
        return (
            f"Nothing on {host} is reachable from other machines: {blocked_words}"
            + (f", {loopback} on loopback" if loopback else ""),
            [],
        )
    if not exposed:
        return (
            f"Nothing on {host} is reachable from other machines: "
            + ("its only listener is" if total == 1 else f"all {total} listeners are")
            + " on loopback",
            [],
        )
    words = Wording.of(facts)
    reasons = []
    for scope in BEYOND_LOOPBACK:
        n = summary["reachable_by_scope"][scope]
        if not n:
            continue
        ifaces = _unique(
            r["interface"]
            for x in exposed
            for r in x["reach"]
            if r["up"] and r["scope"] == scope and r["firewall"] != "filtered"
        )
        reasons.append(f"{n} from {words.scope_words(scope, ifaces)}")
    if blocked:
        reasons.append(f"{blocked} more blocked by the firewall")
    is_are = "is" if len(exposed) == 1 else "are"
    headline = (
        f"{_plural(len(exposed), 'service')} on {host} {is_are} reachable from other machines"
    )
    return headline, reasons
