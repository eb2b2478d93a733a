"""What the terminal and HTML templates iterate over, derived from the report dict only.

Findings are grouped by listener (several rules on one socket make one block), worst
first; listeners exposed beyond loopback with no finding still get a block; waived
findings are kept apart so they never count towards the verdict. Blocks of listeners
that differ only in their port are then folded into one (reporting/grouping.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from exposure_audit.core.model import SEVERITIES, SEVERITY_RANK
from exposure_audit.reporting.grouping import Group, ProcessKeys, listener_key

# Entries (groups of listeners, router mappings) shown before "N more ... not shown":
# a host whose thousands of listeners do not fold (each its own process) still gets a
# report a person can read; the least severe are the ones left out.
MAX_BLOCKS = 200


def _rank(sev: str | None) -> int:
    return SEVERITY_RANK[sev] if sev else -1


def build_view(report: Mapping[str, Any]) -> dict[str, Any]:
    findings = report["findings"]
    by_exposure: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if f["exposure_id"] is not None:
            by_exposure.setdefault(f["exposure_id"], []).append(f)
    blocks: list[dict[str, Any]] = []
    groups: dict[tuple[Any, ...], Group] = {}
    # thousands of listeners share a few remediation texts: each set is weighed once
    fixes_of: dict[tuple[str, ...], list[str]] = {(): []}
    process_key = ProcessKeys(report["exposures"])
    for x in report["exposures"]:
        mine = by_exposure.get(x["id"])
        if mine:
            active = [f for f in mine if not f["waived"]]
            active.sort(key=lambda f: -_rank(f["severity"]))
            waived = [f for f in mine if f["waived"]]
        else:
            active, waived = [], []
        if not active and not x["exposed"]:
            continue
        texts = tuple(f["remediation"] for f in active if f["remediation"]) if active else ()
        fixes = fixes_of.get(texts)
        if fixes is None:
            fixes = list(texts) if len(texts) == 1 else distinct_fixes(texts)
            fixes_of[texts] = fixes
        key = listener_key(x, active, waived, fixes, process_key)
        group = groups.get(key)
        if group is not None:
            group.add(x, fixes)
            continue
        block = {
            "kind": "listener",
            "exposure": x,
            "severity": x["severity"],
            "findings": active,
            "waived": waived,
            "fixes": list(fixes),
            "from": [r for r in x["reachable_from"] if not r.startswith("this machine only")],
        }
        groups[key] = Group(block, x, fixes)
        blocks.append(block)
    for group in groups.values():
        group.describe()
    for f in findings:
        if f["dangling"]:
            blocks.append(
                {
                    "kind": "dangling",
                    "exposure": None,
                    "severity": None if f["waived"] else f["severity"],
                    "findings": [] if f["waived"] else [f],
                    "waived": [f] if f["waived"] else [],
                    "fixes": [f["remediation"]] if f["remediation"] else [],
                    "mapping": f["upnp_mappings"][0] if f["upnp_mappings"] else None,
                    "from": [],
                }
            )
    dangling_fp = {
        (f["upnp_mappings"][0]["protocol"], f["upnp_mappings"][0]["external_port"])
        for f in findings
        if f["dangling"] and f["upnp_mappings"]
    }
    for m in report["dangling_mappings"]:
        if (
            m["protocol"],
            m["external_port"],
        ) not in dangling_fp:  # no rule said anything: still show it
            blocks.append(
                {
                    "kind": "dangling",
                    "exposure": None,
                    "severity": None,
                    "findings": [],
                    "waived": [],
                    "fixes": [],
                    "mapping": m,
                    "from": [],
                }
            )
    # Stable sort: worst severity first, keeping the report's order within a severity.
    blocks.sort(key=lambda b: -_rank(b["severity"]))
    exposures = report["exposures"]
    listed = {x["id"] for g in groups.values() for x in g.members}
    shown = blocks[:MAX_BLOCKS]
    hidden = blocks[MAX_BLOCKS:]
    return {
        "blocks": shown,
        # every listener group, also those past MAX_BLOCKS (the diagram counts them)
        "groups": [b for b in blocks if b["kind"] == "listener"],
        "hidden": {
            "blocks": len(hidden),
            "listeners": sum(b.get("count", 1) for b in hidden),
        },
        "waived": [f for f in findings if f["waived"]],
        "loopback_only": [x for x in exposures if not x["exposed"]],
        # loopback-only listeners without a block of their own (a finding gives one)
        "loopback_unlisted": [x for x in exposures if not x["exposed"] and x["id"] not in listed],
        "exposed": [x for x in exposures if x["exposed"]],
        "severities_desc": list(reversed(SEVERITIES)),
    }


def distinct_fixes(remediations: Iterable[str]) -> list[str]:
    """Each fix once, worst finding's first. Several rules on one socket often give the
    same fix behind a different lead-in ("Keep it on this machine: X." and "Restrict it:
    X."): a fix whose substance another already shown contains is left out."""
    shown: list[str] = []
    cores: list[str] = []
    for text in remediations:
        lead, sep, rest = text.partition(": ")
        core = (rest if sep and len(lead) <= 40 else text).strip().rstrip(".").casefold()
        if any(core in c or c in core for c in cores):
            continue
        shown.append(text)
        cores.append(core)
    return shown
