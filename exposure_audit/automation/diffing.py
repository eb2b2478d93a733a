"""What changed between two JSON reports: new, resolved and unchanged findings.

Findings are matched by their ``fingerprint`` only (rule + what was exposed, never a pid
or a timestamp), so a restarted service is "unchanged", not "resolved + new" (the noise
users of osquery #4270 and wazuh #1610 complain about). Listeners are matched by
protocol/address/port, and their widest reach is compared, so an exposure that appeared
or widened shows even when no rule fires on it. UDP sockets on ephemeral ports (often
clients, whose port changes every run) are folded into one entry per process and
address, ``udp/ADDR/32768-65535 (PROCESS)``: a process that newly has one reachable
beyond loopback (a backdoor on a high port) shows as appeared; the same process
rebinding another ephemeral port does not make every run "changed".

Everything here works on report dicts as loaded from JSON; ``load_report`` checks the
few fields this module relies on and turns anything else into a ``FormatError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exposure_audit.core.errors import FormatError
from exposure_audit.core.model import SCOPE_RANK, SEVERITIES, SEVERITY_RANK
from exposure_audit.core.records import record
from exposure_audit.core.serialize import read_json_file
from exposure_audit.core.termtext import terminal_text

# Linux's default ip_local_port_range starts here. Bound UDP sockets above it are often
# clients with a kernel-chosen port: listed one by one, a new port each run would be the
# wazuh #1610 noise, so they are compared per process (see the module docstring).
EPHEMERAL_UDP_FROM = 32768
DIFF_FORMAT_VERSION = "1.1"  # 1.1: listeners[].reachable_from


@record
class ListenerChange:
    key: str  # "tcp/0.0.0.0/8000"
    change: str  # "appeared" | "disappeared" | "widened" | "narrowed"
    old_scope: str | None
    new_scope: str | None
    process: str | None = None
    # where it is reachable from, in the report's own words (core/wording.py made them)
    reachable_from: tuple[str, ...] = ()


@record
class ReportDiff:
    new: tuple[dict[str, Any], ...]
    resolved: tuple[dict[str, Any], ...]
    unchanged: tuple[dict[str, Any], ...]
    listeners: tuple[ListenerChange, ...] = ()
    old_generated_at: str | None = None
    new_generated_at: str | None = None
    # True when there was nothing to compare with (first run): every finding is new.
    no_baseline: bool = False

    @property
    def changed(self) -> bool:
        """Something a person would want to hear about: a finding or listener came or went."""
        return bool(self.new or self.resolved or self.listeners)


def check_report(data: Any, source: str) -> dict[str, Any]:
    """Check the parts of a JSON report that diffing and history rely on."""
    if not isinstance(data, dict):
        raise FormatError(f"{source}: not an exposure-audit JSON report (expected a JSON object)")
    if not isinstance(data.get("schema_version"), str):
        raise FormatError(f"{source}: no schema_version: not an exposure-audit JSON report")
    findings = data.get("findings")
    if not isinstance(findings, list):
        raise FormatError(f"{source}: no findings list: not an exposure-audit JSON report")
    for i, f in enumerate(findings):
        where = f"{source}: findings[{i}]"
        if not isinstance(f, dict):
            raise FormatError(f"{where}: expected an object, got {type(f).__name__}")
        for key in ("fingerprint", "rule_id", "severity"):
            if not isinstance(f.get(key), str) or not f[key]:
                raise FormatError(f"{where}.{key}: missing or not a string")
        if f["severity"] not in SEVERITY_RANK:
            raise FormatError(
                f"{where}.severity: {f['severity']!r} is not one of {', '.join(SEVERITIES)}"
            )
        if "waived" in f and not isinstance(f["waived"], bool):
            raise FormatError(f"{where}.waived: expected true/false")
    exposures = data.get("exposures")
    if exposures is not None and not isinstance(exposures, list):
        raise FormatError(f"{source}: exposures: expected a list")
    return data


def load_report(path: str | Path) -> dict[str, Any]:
    """Read and check a JSON report written by ``exposure-audit run --format json``."""
    p = Path(path)
    data = read_json_file(p, "report")
    return check_report(data, str(p))


def _by_fingerprint(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in report.get("findings") or []:
        out.setdefault(f["fingerprint"], f)
    return out


def _exposure_scopes(
    report: dict[str, Any],
) -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
    """Listener key -> (widest scope, process name, reachable_from), from the report's
    exposures.

    Tolerant by design: an exposure entry this version cannot read is skipped rather
    than failing a diff whose main job is the findings.
    """
    out: dict[str, tuple[str, str | None, tuple[str, ...]]] = {}
    for e in report.get("exposures") or []:
        if not isinstance(e, dict):
            continue
        scope = e.get("widest_scope")
        # Reports 1.x and 2.x: listener fields flat on the exposure; Evaluation dumps: nested.
        nested = e.get("listener")
        lst: dict[str, Any] = nested if isinstance(nested, dict) else e
        if not isinstance(scope, str) or scope not in SCOPE_RANK:
            continue
        proto, addr, port = lst.get("protocol"), lst.get("address"), lst.get("port")
        if not isinstance(proto, str) or not isinstance(addr, str) or not isinstance(port, int):
            continue
        proc = lst.get("process")
        name = proc.get("name") if isinstance(proc, dict) else None
        if not isinstance(name, str):
            name = None
        key = f"{proto}/{addr}/{port}"
        if proto == "udp" and port >= EPHEMERAL_UDP_FROM:
            uid = lst.get("uid")
            who = name or (f"uid {uid}" if isinstance(uid, int) else "unknown process")
            key = f"udp/{addr}/{EPHEMERAL_UDP_FROM}-65535 ({who})"
        words = e.get("reachable_from")
        reach = (
            tuple(w for w in words[:20] if isinstance(w, str)) if isinstance(words, list) else ()
        )
        prev = out.get(key)
        if prev is None or SCOPE_RANK[scope] > SCOPE_RANK[prev[0]]:
            out[key] = (scope, name, reach)
    return out


def _listener_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[ListenerChange, ...]:
    if "exposures" not in old or "exposures" not in new:
        return ()
    a, b = _exposure_scopes(old), _exposure_scopes(new)
    changes: list[ListenerChange] = []
    for key in sorted(set(a) | set(b)):
        oa, nb = a.get(key), b.get(key)
        # Loopback-only listeners come and go all day: not an exposure change.
        old_scope = oa[0] if oa and oa[0] != "loopback" else None
        new_scope = nb[0] if nb and nb[0] != "loopback" else None
        proc = (nb or oa or (None, None, ()))[1]
        # the newer report's words: where it is reachable from now (or was, if it went)
        reach = (nb if new_scope is not None and nb else oa or (None, None, ()))[2]
        if old_scope == new_scope:
            continue
        if old_scope is None:
            kind = "appeared"
        elif new_scope is None:
            kind = "disappeared"
        elif SCOPE_RANK[new_scope] > SCOPE_RANK[old_scope]:
            kind = "widened"
        else:
            kind = "narrowed"
        changes.append(ListenerChange(key, kind, old_scope, new_scope, proc, reach))
    return tuple(changes)


def _sort_key(f: dict[str, Any]) -> tuple[int, str, str]:
    return (-SEVERITY_RANK.get(f.get("severity", ""), -1), f["rule_id"], f["fingerprint"])


def diff_reports(old: dict[str, Any] | None, new: dict[str, Any]) -> ReportDiff:
    """Compare two checked reports. ``old`` None means no baseline: everything is new."""
    if old is None:
        return ReportDiff(
            new=tuple(sorted(_by_fingerprint(new).values(), key=_sort_key)),
            resolved=(),
            unchanged=(),
            new_generated_at=new.get("generated_at"),
            no_baseline=True,
        )
    a, b = _by_fingerprint(old), _by_fingerprint(new)
    return ReportDiff(
        new=tuple(sorted((b[k] for k in b.keys() - a.keys()), key=_sort_key)),
        resolved=tuple(sorted((a[k] for k in a.keys() - b.keys()), key=_sort_key)),
        unchanged=tuple(sorted((b[k] for k in a.keys() & b.keys()), key=_sort_key)),
        listeners=_listener_changes(old, new),
        old_generated_at=old.get("generated_at"),
        new_generated_at=new.get("generated_at"),
    )


def fails(findings: tuple[dict[str, Any], ...] | list[dict[str, Any]], fail_on: str) -> bool:
    """True when an unwaived finding is at or above ``fail_on``."""
    bar = SEVERITY_RANK[fail_on]
    return any(
        not f.get("waived", False) and SEVERITY_RANK.get(f.get("severity", ""), -1) >= bar
        for f in findings
    )


def _brief(f: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "fingerprint",
        "rule_id",
        "severity",
        "title",
        "message",
        "remediation",
        "waived",
        "exposure_id",
    )
    return {k: f[k] for k in keep if k in f}


def diff_to_dict(d: ReportDiff, full: bool = False) -> dict[str, Any]:
    """The diff as JSON-able data (``full``: each finding as in the report, else a summary)."""
    pick = (lambda f: f) if full else _brief
    return {
        "diff_version": DIFF_FORMAT_VERSION,
        "old_generated_at": d.old_generated_at,
        "new_generated_at": d.new_generated_at,
        "no_baseline": d.no_baseline,
        "summary": {
            "new": len(d.new),
            "resolved": len(d.resolved),
            "unchanged": len(d.unchanged),
            "listeners_changed": len(d.listeners),
        },
        "new": [pick(f) for f in d.new],
        "resolved": [pick(f) for f in d.resolved],
        "unchanged": [pick(f) for f in d.unchanged],
        "listeners": [
            {
                "key": c.key,
                "change": c.change,
                "old_scope": c.old_scope,
                "new_scope": c.new_scope,
                "process": c.process,
                "reachable_from": list(c.reachable_from),
            }
            for c in d.listeners
        ],
    }


def _clean(text: Any, limit: int = 2000) -> str:
    """One line of plain text: control characters from hostile names shown escaped."""
    return terminal_text(text, limit)


def render_diff_text(d: ReportDiff, show_unchanged: bool = False) -> str:
    """Plain text for a person (or a cron mail). Empty string when nothing changed."""
    lines: list[str] = []
    if d.no_baseline and d.new:
        lines.append("No earlier report to compare with: every finding is listed as new.")
    for title, items in (("New", d.new), ("Resolved", d.resolved)):
        if not items:
            continue
        lines.append(f"{title} findings ({len(items)}):")
        for f in items:
            waived = " (waived)" if f.get("waived") else ""
            sign = "+" if title == "New" else "-"
            head = f"  {sign} [{_clean(f['severity']).upper()}] {_clean(f['rule_id'], 80)}"
            lines.append(f"{head}{waived}: {_clean(f.get('message') or f.get('title') or '')}")
            if title == "New" and f.get("remediation"):
                lines.append(f"      fix: {_clean(f['remediation'])}")
    if d.listeners:
        lines.append(f"Listener reach changes ({len(d.listeners)}):")
        for c in d.listeners:
            proc = f" ({_clean(c.process)})" if c.process else ""
            lines.append(
                f"  {c.change:<11} {_clean(c.key)}{proc}: "
                f"{_clean(c.old_scope or '-')} -> {_clean(c.new_scope or '-')}"
            )
            if c.reachable_from:
                was = "was reachable" if c.change == "disappeared" else "reachable"
                words = "; ".join(_clean(w, 200) for w in c.reachable_from[:4])
                lines.append(f"              {was} from {words}")
    if show_unchanged and d.unchanged:
        lines.append(f"Unchanged findings ({len(d.unchanged)}):")
        for f in d.unchanged:
            lines.append(
                f"  = [{_clean(f['severity']).upper()}] {_clean(f['rule_id'], 80)}: "
                f"{_clean(f.get('title', ''))}"
            )
    if not lines:
        return ""
    return "\n".join(lines) + "\n"
