"""Prometheus metrics in the node_exporter textfile-collector format.

Point ``--output`` at a ``*.prom`` file in node_exporter's
``--collector.textfile.directory``; the file is replaced atomically (temp file in the
same directory, then rename: the temp name does not end in ``.prom``, so node_exporter
never reads half a file). A fleet's Prometheus can then alert across machines, e.g.
``exposure_audit_findings{severity=~"high|critical"} > 0``.

Label values come from process names, rule files and hostnames: every one is escaped
as the exposition format requires (backslash, double quote, newline), other control
characters are shown as ``\\xNN`` text, and each is capped in length.
"""

from __future__ import annotations

import calendar
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from exposure_audit.core.model import SCOPES, SEVERITIES
from exposure_audit.core.termtext import escape_char

PREFIX = "exposure_audit"
MAX_LABEL_CHARS = 200
MAX_LISTENER_SERIES = 500  # per-listener series: bounded cardinality even on odd hosts


def escape_label(value: object) -> str:
    s = str(value)
    if len(s) > MAX_LABEL_CHARS:
        s = s[: MAX_LABEL_CHARS - 3] + "..."
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif 0xD800 <= ord(ch) <= 0xDFFF:  # lone surrogate from a JSON escape: not UTF-8
            out.append("\ufffd")
        elif not ch.isprintable():
            out.append("\\" + escape_char(ch))
        else:
            out.append(ch)
    return "".join(out)


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[Mapping[str, object], float]],
    ) -> None:
        full = f"{PREFIX}_{name}"
        self.lines.append(f"# HELP {full} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {full} {kind}")
        for labels, value in samples:
            if labels:
                inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
                self.lines.append(f"{full}{{{inner}}} {_num(value)}")
            else:
                self.lines.append(f"{full} {_num(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _num(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def iso_to_epoch(stamp: object) -> float | None:
    """``2026-11-27T15:11:20Z`` (or with an offset) -> seconds since the epoch."""
    if not isinstance(stamp, str):
        return None
    import datetime as dt

    try:
        parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return float(calendar.timegm(parsed.timetuple()))
    return parsed.timestamp()


def _dicts(items: object) -> list[dict[str, Any]]:
    return [x for x in items if isinstance(x, dict)] if isinstance(items, list) else []


def render_prometheus(
    report: Mapping[str, Any],
    new_findings: int | None = None,
    resolved_findings: int | None = None,
) -> str:
    """Metrics for one JSON report dict (``new``/``resolved``: counts from --since-last)."""
    w = _Writer()
    findings = _dicts(report.get("findings"))
    unwaived = [f for f in findings if not f.get("waived")]
    sev = Counter(f.get("severity") for f in unwaived)
    w.family(
        "findings",
        "gauge",
        "Unwaived findings by severity.",
        (({"severity": s}, sev.get(s, 0)) for s in SEVERITIES),
    )
    waived_sev = Counter(f.get("severity") for f in findings if f.get("waived"))
    w.family(
        "findings_waived",
        "gauge",
        "Findings hidden by a waiver, by severity.",
        (({"severity": s}, waived_sev.get(s, 0)) for s in SEVERITIES),
    )
    by_rule = Counter((str(f.get("rule_id")), str(f.get("severity"))) for f in unwaived)
    w.family(
        "rule_findings",
        "gauge",
        "Unwaived findings by rule.",
        (({"rule_id": r, "severity": s}, n) for (r, s), n in sorted(by_rule.items())),
    )

    exposures = _dicts(report.get("exposures"))
    scopes = Counter(x.get("widest_scope") for x in exposures)
    w.family(
        "listeners",
        "gauge",
        "Listening sockets by the widest scope they are reachable from.",
        (({"scope": s}, scopes.get(s, 0)) for s in SCOPES),
    )
    beyond = [x for x in exposures if x.get("widest_scope") not in (None, "loopback")]
    # reachable: some path beyond loopback that the firewall does not filter (a report
    # before schema 2.2 has no "reachable": every listener beyond loopback counts)
    exposed = [x for x in beyond if x.get("reachable", True)]
    w.family(
        "listeners_exposed",
        "gauge",
        "Listening sockets reachable from beyond this machine (not blocked by the firewall).",
        [({}, len(exposed))],
    )
    w.family(
        "listeners_blocked_by_firewall",
        "gauge",
        "Listening sockets beyond loopback that the firewall filters on every path.",
        [({}, sum(1 for x in beyond if x.get("blocked_by_firewall")))],
    )
    series = []
    for x in exposed[:MAX_LISTENER_SERIES]:
        proc = x.get("process")
        name = proc.get("name") if isinstance(proc, dict) else None
        labels = {
            "protocol": x.get("protocol", ""),
            "address": x.get("address", ""),
            "port": x.get("port", ""),
            "process": name or "",
            "scope": x.get("widest_scope", ""),
        }
        series.append((labels, 1))
    w.family(
        "exposed_listener",
        "gauge",
        f"One series per exposed listener (at most {MAX_LISTENER_SERIES}).",
        series,
    )
    w.family(
        "dangling_mappings",
        "gauge",
        "UPnP mappings to this host with no listener behind them.",
        [({}, len(_dicts(report.get("dangling_mappings"))))],
    )
    w.family(
        "collector_warnings",
        "gauge",
        "Collector warnings in the last run (partial collection).",
        [({}, len(_dicts(report.get("warnings"))))],
    )
    if new_findings is not None:
        w.family("new_findings", "gauge", "Findings new since the last run.", [({}, new_findings)])
    if resolved_findings is not None:
        w.family(
            "resolved_findings",
            "gauge",
            "Findings resolved since the last run.",
            [({}, resolved_findings)],
        )
    host = report.get("host")
    host = host if isinstance(host, dict) else {}
    tool = report.get("tool")
    tool = tool if isinstance(tool, dict) else {}
    w.family(
        "info",
        "gauge",
        "Tool version and report schema of the last run.",
        [
            (
                {
                    "version": tool.get("version", ""),
                    "schema_version": report.get("schema_version", ""),
                    "hostname": host.get("hostname", ""),
                },
                1,
            )
        ],
    )
    stamp = iso_to_epoch(report.get("generated_at"))
    _run_families(w, success=True, stamp=stamp if stamp is not None else time.time())
    return w.text()


def _run_families(w: _Writer, success: bool, stamp: float) -> None:
    w.family(
        "last_run_timestamp_seconds",
        "gauge",
        "When the last run finished (Unix time).",
        [({}, round(stamp, 3))],
    )
    w.family(
        "last_run_success",
        "gauge",
        "1 if the last run collected and evaluated, 0 if it failed.",
        [({}, 1 if success else 0)],
    )


def render_failure(stamp: float | None = None) -> str:
    """Metrics for a run that failed before it had a report: success 0, and the time."""
    w = _Writer()
    _run_families(w, success=False, stamp=time.time() if stamp is None else stamp)
    return w.text()


def write_metrics(path: str | Path, text: str) -> None:
    """Atomic replace, as node_exporter's textfile collector requires."""
    from exposure_audit.core.atomicio import write_atomic

    write_atomic(path, text.encode("utf-8", "replace"), mode=0o644)


def render(report: Mapping[str, Any], ctx: object = None) -> str:
    """The Format registry's entry point (``--format prometheus``)."""
    return render_prometheus(report)
