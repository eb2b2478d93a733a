"""What the terminal and HTML templates iterate over, derived from the report dict only.

Findings are grouped by listener (several rules on one socket make one block), worst
first; listeners exposed beyond loopback with no finding still get a block; waived
findings are kept apart so they never count towards the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from exposure_audit.core.model import SEVERITIES, SEVERITY_RANK


def _rank(sev: str | None) -> int:
    return SEVERITY_RANK[sev] if sev else -1


def build_view(report: Mapping[str, Any]) -> dict[str, Any]:
    findings = report["findings"]
    by_exposure: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if f["exposure_id"] is not None:
            by_exposure.setdefault(f["exposure_id"], []).append(f)
    blocks: list[dict[str, Any]] = []
    for x in report["exposures"]:
        mine = by_exposure.get(x["id"], [])
        active = sorted((f for f in mine if not f["waived"]), key=lambda f: -_rank(f["severity"]))
        if not active and not x["exposed"]:
            continue
        blocks.append(
            {
                "kind": "listener",
                "exposure": x,
                "severity": x["severity"],
                "findings": active,
                "waived": [f for f in mine if f["waived"]],
                "fixes": distinct_fixes(f["remediation"] for f in active if f["remediation"]),
                "from": [r for r in x["reachable_from"] if not r.startswith("this machine only")],
            }
        )
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
    listed = {b["exposure"]["id"] for b in blocks if b["exposure"] is not None}
    return {
        "blocks": blocks,
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
