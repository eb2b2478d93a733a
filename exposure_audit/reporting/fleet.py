"""The fleet view: many hosts' JSON reports read into one document, worst first.

``exposure-audit fleet`` reads the reports (as Ansible fetches them into a tree, or any
directory), and :func:`build_fleet` turns them into the fleet document: the contract
of ``fleet --format json`` (reports/fleet.schema.json, docs/fleet.md), which the
terminal and HTML renderers draw, as the host report's renderers draw the report.

Every report is untrusted input from another machine: its size is capped before it is
read, it is parsed with bounded nesting and integers, every field is type-checked
before use, and one unreadable report is a per-file problem, never a traceback. Host
report schema 1.x and 2.x are read (they differ only inside ``facts``, which the fleet
view does not use); any other major version is refused with a clear message.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from exposure_audit.core.model import SCOPE_RANK, SEVERITIES, SEVERITY_RANK
from exposure_audit.core.records import asdict, record

FLEET_SCHEMA_VERSION = "1.0"
DOCUMENT_KIND = "exposure-audit fleet"
READ_MAJORS = (1, 2)  # host report schema majors this version reads
KNOWN_MINOR = {1: 0, 2: 1}  # the newest minor of each that this version knows
DEFAULT_STALE_AFTER = 2 * 3600  # seconds: an hourly schedule that missed a run
DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # per report file
MAX_INT_DIGITS = 20  # a report's integers are counts, ports, pids, uids: < 2**64
MAX_STRING = 2048  # longer strings from a report are cut (with …)
MAX_ROWS = 100_000  # findings or exposures read from one report
INTERNET_SCOPES = ("internet", "public")
EPHEMERAL_UDP_FROM = 32768  # a client's UDP socket (DNS, mDNS, QUIC): not a service

_VERSION = re.compile(r"^(\d{1,4})\.(\d{1,4})$")


class ReportRejected(Exception):
    """A report that cannot be read: the message says why, for the problems list."""


# --------------------------------------------------------------------------- records


@record
class Exposed:
    """One listener of one host reachable beyond loopback."""

    protocol: str
    port: int
    address: str
    widest_scope: str
    process: str | None
    severity: str | None  # highest unwaived finding on it


@record
class HostFinding:
    rule_id: str
    severity: str
    title: str
    waived: bool
    widest_scope: str | None
    port: int | None
    protocol: str | None


@record
class HostReport:
    """What the fleet view keeps of one host's report."""

    path: str
    hostname: str
    generated_at: str
    generated_epoch: int
    schema_version: str
    tool_version: str
    os_release: str
    findings: tuple[HostFinding, ...]
    exposed: tuple[Exposed, ...]
    listeners_total: int
    notes: tuple[str, ...]  # per-host warnings: partial collection, newer minor version
    collection_failed: str | None  # why the report's own collection failed


@record
class Problem:
    """A report file that is stale, failed, skipped or superseded."""

    path: str
    hostname: str | None
    kind: str  # "failed" | "stale" | "superseded"
    message: str


@record
class _Envelope:
    """A host report's checked identity: its schema, tool, host and time."""

    schema_version: str
    tool_version: str
    hostname: str
    os_release: str
    generated_at: str
    generated_epoch: int
    notes: tuple[str, ...]  # a newer minor version than this version knows


# --------------------------------------------------------------------------- reading


def _reject_constant(name: str) -> Any:
    raise ReportRejected(f"holds {name}, which is not JSON")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ReportRejected(f"holds an integer of {len(text)} digits")
    return int(text)


def parse_report_bytes(raw: bytes) -> Any:
    """JSON from untrusted bytes: bounded integers, no NaN/Infinity; ReportRejected."""
    try:
        return json.loads(raw, parse_int=_parse_int, parse_constant=_reject_constant)
    except RecursionError:
        raise ReportRejected("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise ReportRejected("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ReportRejected(f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except ValueError as exc:  # e.g. int digits limits
        raise ReportRejected(f"not valid JSON ({str(exc)[:100]})") from None


def read_report_file(path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The parsed JSON of one report file; ReportRejected says why not."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ReportRejected(f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        import stat

        if not stat.S_ISREG(st.st_mode):
            raise ReportRejected("not a regular file")
        if st.st_size > max_bytes:
            raise ReportRejected(f"{st.st_size} bytes: larger than the {max_bytes}-byte cap")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ReportRejected(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(raw) > max_bytes:
        raise ReportRejected(f"larger than the {max_bytes}-byte cap")
    return parse_report_bytes(raw)


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value if len(value) <= MAX_STRING else value[: MAX_STRING - 1] + "…"


def _int(value: object, lo: int, hi: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


def parse_time(stamp: object) -> int | None:
    """``2026-11-27T14:00:05Z`` (the reports' form) -> epoch seconds, else None."""
    if not isinstance(stamp, str) or len(stamp) > 40:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return calendar.timegm(time.strptime(stamp, fmt))
        except (ValueError, OverflowError):
            continue
    return None


def is_fleet_document(data: object) -> bool:
    return isinstance(data, dict) and data.get("kind") == DOCUMENT_KIND


def check_host_report(data: object, path: str) -> HostReport:
    """The parts of a host report the fleet view uses, type-checked; ReportRejected."""
    if not isinstance(data, dict):
        raise ReportRejected(f"not an exposure-audit JSON report (a JSON {type(data).__name__})")
    envelope = _check_envelope(data)
    summary, findings_raw, exposures_raw = _check_tables(data)
    findings, exposed, bad = _read_rows(findings_raw, exposures_raw)
    notes = list(envelope.notes)
    if bad:
        notes.append(f"{bad} finding(s) or exposure(s) could not be read and were skipped")
    listeners_total = _int(summary.get("listeners_total"), 0, 2**63) or 0
    failed, collection_notes = _collection_state(data, summary, listeners_total)
    notes.extend(collection_notes)
    return HostReport(
        path=path,
        hostname=envelope.hostname,
        generated_at=envelope.generated_at,
        generated_epoch=envelope.generated_epoch,
        schema_version=envelope.schema_version,
        tool_version=envelope.tool_version,
        os_release=envelope.os_release,
        findings=findings,
        exposed=exposed,
        listeners_total=listeners_total,
        notes=tuple(notes),
        collection_failed=failed,
    )


def _check_schema(data: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """The schema version (a major this version reads), the tool object, and a note
    when the minor version is newer than this version knows; ReportRejected."""
    version = data.get("schema_version")
    tool = data.get("tool")
    if not isinstance(version, str) or not isinstance(tool, dict):
        raise ReportRejected("not an exposure-audit JSON report (no schema_version or tool)")
    if tool.get("name") != "exposure-audit":
        raise ReportRejected("not an exposure-audit JSON report (tool.name)")
    m = _VERSION.match(version)
    if not m:
        raise ReportRejected(f"schema_version {_text(version[:20])!r} is not MAJOR.MINOR")
    major, minor = int(m.group(1)), int(m.group(2))
    if major not in READ_MAJORS:
        raise ReportRejected(
            f"report schema {major}.{minor} is not supported: this version reads 1.x and "
            f"2.x (upgrade exposure-audit to read {major}.x)"
        )
    notes: list[str] = []
    if minor > KNOWN_MINOR[major]:
        notes.append(
            f"report schema {version} is newer than this version knows "
            f"({major}.{KNOWN_MINOR[major]}): fields it added are ignored"
        )
    return version, tool, notes


def _check_envelope(data: dict[str, Any]) -> _Envelope:
    """The schema, then the host and when its report was made; ReportRejected."""
    version, tool, notes = _check_schema(data)
    host = data.get("host")
    if not isinstance(host, dict):
        raise ReportRejected("no host object")
    hostname = _text(host.get("hostname"))
    if not hostname:
        raise ReportRejected("no host.hostname")
    generated = _text(data.get("generated_at"))
    epoch = parse_time(generated)
    if generated is None or epoch is None:
        raise ReportRejected("generated_at missing or not ISO 8601 UTC (2026-11-27T14:00:05Z)")
    return _Envelope(
        schema_version=version,
        tool_version=_text(tool.get("version")) or "?",
        hostname=hostname,
        os_release=_text(host.get("os_release")) or "",
        generated_at=generated,
        generated_epoch=epoch,
        notes=tuple(notes),
    )


def _check_tables(data: dict[str, Any]) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """The summary object and the findings and exposures lists (bounded); ReportRejected."""
    summary = data.get("summary")
    findings_raw, exposures_raw = data.get("findings"), data.get("exposures")
    if not isinstance(summary, dict):
        raise ReportRejected("no summary object")
    if not isinstance(findings_raw, list) or not isinstance(exposures_raw, list):
        raise ReportRejected("no findings or exposures list")
    if len(findings_raw) > MAX_ROWS or len(exposures_raw) > MAX_ROWS:
        raise ReportRejected(f"more than {MAX_ROWS} findings or exposures")
    return summary, findings_raw, exposures_raw


def _read_rows(
    findings_raw: list[Any], exposures_raw: list[Any]
) -> tuple[tuple[HostFinding, ...], tuple[Exposed, ...], int]:
    """The readable findings and exposed listeners, and how many rows were unreadable."""
    findings: list[HostFinding] = []
    bad = 0
    for f in findings_raw:
        hf = _finding(f)
        if hf is None:
            bad += 1
        else:
            findings.append(hf)
    exposed: list[Exposed] = []
    for x in exposures_raw:
        try:
            ex = _exposure(x)
        except ValueError:
            bad += 1
            continue
        if ex is not None:
            exposed.append(ex)
    return tuple(findings), tuple(exposed), bad


def _collection_state(
    data: dict[str, Any], summary: dict[str, Any], listeners_total: int
) -> tuple[str | None, list[str]]:
    """Why the report's own collection failed (its listeners collector warned and found
    none), if it did, and the notes its other collection warnings call for."""
    failed = None
    notes: list[str] = []
    warnings = data.get("warnings")
    listener_warnings = [
        _text(w.get("message")) or ""
        for w in (warnings if isinstance(warnings, list) else [])[:1000]
        if isinstance(w, dict) and w.get("collector") == "listeners"
    ]
    if listener_warnings and listeners_total == 0:
        failed = f"collection failed: {listener_warnings[0]}"
    elif listener_warnings:
        notes.extend(f"listeners: {w}" for w in listener_warnings[:3])
    if summary.get("upnp_status") == "error":
        notes.append("UPnP: the router could not be queried (internet mappings unknown)")
    return failed, notes


def _finding(f: object) -> HostFinding | None:
    if not isinstance(f, dict):
        return None
    rule_id, severity = _text(f.get("rule_id")), f.get("severity")
    if not rule_id or not isinstance(severity, str) or severity not in SEVERITY_RANK:
        return None
    raw_l, raw_e, raw_m = f.get("listener"), f.get("exposure"), f.get("upnp_mappings")
    listener: dict[str, Any] = raw_l if isinstance(raw_l, dict) else {}
    exposure: dict[str, Any] = raw_e if isinstance(raw_e, dict) else {}
    mappings: list[Any] = raw_m if isinstance(raw_m, list) else []
    port = _int(listener.get("port"), 0, 65535)
    protocol = listener.get("protocol")
    scope = exposure.get("widest_scope")
    if f.get("dangling") is True or (not listener and mappings):
        m = mappings[0] if mappings and isinstance(mappings[0], dict) else {}
        port = _int(m.get("internal_port"), 0, 65535)
        protocol = m.get("protocol")
        scope = "internet"
    return HostFinding(
        rule_id=rule_id,
        severity=str(severity),
        title=_text(f.get("title")) or rule_id,
        waived=f.get("waived") is True,
        widest_scope=scope if isinstance(scope, str) and scope in SCOPE_RANK else None,
        port=port,
        protocol=protocol.lower() if isinstance(protocol, str) and len(protocol) < 8 else None,
    )


def _exposure(x: object) -> Exposed | None:
    """An exposed listener; None: loopback only or a client socket; ValueError:
    unreadable."""
    if not isinstance(x, dict):
        raise ValueError("not an object")
    protocol, scope = x.get("protocol"), x.get("widest_scope")
    port = _int(x.get("port"), 0, 65535)
    address = _text(x.get("address"))
    if (
        protocol not in ("tcp", "udp")
        or not isinstance(scope, str)
        or scope not in SCOPE_RANK
        or port is None
        or not address
    ):
        raise ValueError("not an exposure")
    if scope == "loopback" or x.get("exposed") is False:
        return None
    severity = x.get("severity")
    severity = severity if severity in SEVERITY_RANK else None
    if protocol == "udp" and port >= EPHEMERAL_UDP_FROM and severity is None:
        return None
    proc = x.get("process")
    name = _text(proc.get("name")) if isinstance(proc, dict) else None
    if name is None and isinstance(x.get("published_by"), str):
        name = _text(f"{x['published_by']}: {x.get('container') or 'container'}")
    return Exposed(str(protocol), port, address, str(scope), name, severity)


# --------------------------------------------------------------------------- finding files


def find_report_files(paths: Sequence[str]) -> tuple[list[str], list[Problem]]:
    """Report files from files and directories (searched for ``*.json``, symlinks to
    directories not followed, hidden files and directories skipped); missing paths are
    problems."""
    files: list[str] = []
    problems: list[Problem] = []
    seen: set[str] = set()  # (device, inode): a file reached twice is read once
    for p in paths:
        if os.path.isdir(p):
            found: list[str] = []
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    os.path.join(root, n)
                    for n in sorted(names)
                    if n.endswith(".json") and not n.startswith(".")
                )
            candidates = found
        elif os.path.lexists(p):
            candidates = [p]
        else:
            problems.append(Problem(p, None, "failed", "no such file or directory"))
            continue
        for c in candidates:
            try:
                st = os.stat(c)
                key = f"{st.st_dev}:{st.st_ino}"
            except OSError:
                key = c  # reading it will say why
            if key not in seen:
                seen.add(key)
                files.append(c)
    return files, problems


def load_reports(
    files: Iterable[str], max_bytes: int = DEFAULT_MAX_BYTES, keep_raw: bool = False
) -> tuple[list[HostReport], list[Problem], list[Mapping[str, Any]]]:
    """Read every file: the host reports, the problems, and (``keep_raw``: for OCSF
    events) the documents read. Files that are fleet documents are skipped."""
    reports: list[HostReport] = []
    problems: list[Problem] = []
    raws: list[Mapping[str, Any]] = []
    for path in files:
        try:
            data = read_report_file(path, max_bytes)
            if is_fleet_document(data):
                continue  # our own output, in the directory it summarises
            rep = check_host_report(data, path)
        except ReportRejected as exc:
            problems.append(Problem(path, None, "failed", str(exc)))
            continue
        reports.append(rep)
        if keep_raw:
            raws.append(data)
    return reports, problems, raws


# --------------------------------------------------------------------------- the document


def _age(seconds: int) -> str:
    seconds = max(0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            rest = seconds % size
            sub = {"d": ("h", 3600), "h": ("m", 60)}.get(unit)
            more = f" {rest // sub[1]}{sub[0]}" if sub and rest >= sub[1] else ""
            return f"{seconds // size}{unit}{more}"
    return f"{seconds}s"


def _max_sev(sevs: Iterable[str | None]) -> str | None:
    best = None
    for s in sevs:
        if s is not None and (best is None or SEVERITY_RANK[s] > SEVERITY_RANK[best]):
            best = s
    return best


def _sev_key(sev: str | None) -> int:
    return -1 if sev is None else SEVERITY_RANK[sev]


def build_fleet(
    reports: Sequence[HostReport],
    problems: Sequence[Problem],
    *,
    now: int,
    generated_at: str,
    tool_version: str,
    stale_after: int = DEFAULT_STALE_AFTER,
    fail_on: str | None = "high",
    links: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The fleet document (reports/fleet.schema.json). ``links``: report path -> the
    relative href of the host's own report (HTML beside it, or the JSON itself)."""
    links = links or {}
    problems = list(problems)
    newest, superseded = _newest_per_host(reports)
    problems.extend(superseded)
    fail_rank = SEVERITY_RANK[fail_on] if fail_on else None
    hosts: list[dict[str, Any]] = []
    for rep in newest.values():
        host, problem = _host_row(rep, now, stale_after, fail_rank, links.get(rep.path))
        if problem is not None:
            problems.append(problem)
        hosts.append(host)
    hosts.sort(key=_host_order)
    readable = [h for h in hosts if h["status"] != "failed"]
    problems.sort(key=_problem_order)
    return {
        "kind": DOCUMENT_KIND,
        "schema_version": FLEET_SCHEMA_VERSION,
        "tool": {"name": "exposure-audit", "version": tool_version},
        "generated_at": generated_at,
        "options": {
            "stale_after_seconds": stale_after,
            "fail_on": fail_on or "none",
        },
        "summary": _summary(hosts, readable, problems),
        "problems": [asdict(p) for p in problems],
        "hosts": hosts,
        "by_rule": _by_rule(readable, newest),
        "by_port": _by_port(readable, newest),
    }


def _newest_per_host(
    reports: Sequence[HostReport],
) -> tuple[dict[str, HostReport], list[Problem]]:
    """One report per host, the newest (newest host first); the older ones (a history
    directory) are superseded problems."""
    newest: dict[str, HostReport] = {}
    superseded: list[Problem] = []
    for rep in sorted(reports, key=lambda r: (r.generated_epoch, r.path), reverse=True):
        if rep.hostname in newest:
            superseded.append(
                Problem(
                    rep.path,
                    rep.hostname,
                    "superseded",
                    f"an older report of {rep.hostname} ({rep.generated_at}); "
                    f"{newest[rep.hostname].path} is newer",
                )
            )
        else:
            newest[rep.hostname] = rep
    return newest, superseded


def _host_status(rep: HostReport, age: int, stale_after: int) -> tuple[str, str | None]:
    """``ok``, ``failed`` (the report's collection failed) or ``stale``, and why not ok."""
    if rep.collection_failed:
        return "failed", rep.collection_failed
    if age > stale_after:
        return "stale", f"report is {_age(age)} old (--stale-after {_age(stale_after)})"
    return "ok", None


def _host_row(
    rep: HostReport, now: int, stale_after: int, fail_rank: int | None, link: str | None
) -> tuple[dict[str, Any], Problem | None]:
    """One host's row of the document, and its problem if it is failed or stale."""
    age = now - rep.generated_epoch
    status, problem = _host_status(rep, age, stale_after)
    notes = list(rep.notes)
    if age < -300:
        notes.append(f"generated_at is {_age(-age)} in the future: is the host's clock right?")
    unwaived = [f for f in rep.findings if not f.waived]
    internet = [x for x in rep.exposed if x.widest_scope in INTERNET_SCOPES]
    at_or_above = (
        0
        if fail_rank is None or status == "failed"
        else sum(1 for f in unwaived if SEVERITY_RANK[f.severity] >= fail_rank)
    )
    row = {
        "hostname": rep.hostname,
        "report": rep.path,
        "link": link,
        "status": status,
        "problem": problem,
        "notes": notes,
        "generated_at": rep.generated_at,
        "age_seconds": age,
        "schema_version": rep.schema_version,
        "tool_version": rep.tool_version,
        "os_release": rep.os_release,
        "highest_severity": _max_sev(f.severity for f in unwaived),
        "by_severity": {s: sum(1 for f in unwaived if f.severity == s) for s in SEVERITIES},
        "findings": len(unwaived),
        "waived": len(rep.findings) - len(unwaived),
        "listeners_total": rep.listeners_total,
        "listeners_exposed": len(rep.exposed),
        "internet_exposures": len(internet),
        "widest_scope": max(
            (x.widest_scope for x in rep.exposed), key=SCOPE_RANK.__getitem__, default=None
        ),
        "at_or_above_fail_on": at_or_above,
    }
    return row, (Problem(rep.path, rep.hostname, status, problem) if problem else None)


def _host_order(h: Mapping[str, Any]) -> tuple[Any, ...]:
    """Worst host first: failed (nothing is known about them), reachable from the
    internet, highest severity, most findings, most exposed listeners; then by name."""
    return (
        h["status"] != "failed",
        -(h["internet_exposures"] > 0),
        -_sev_key(h["highest_severity"]),
        -h["findings"],
        -h["listeners_exposed"],
        h["hostname"],
    )


def _problem_order(p: Problem) -> tuple[int, str]:
    """Failed reports first, then stale ones, then the rest; by path."""
    return ({"failed": 0, "stale": 1}.get(p.kind, 2), p.path)


def _by_rule(
    readable: Sequence[Mapping[str, Any]], newest: Mapping[str, HostReport]
) -> list[dict[str, Any]]:
    """Unwaived findings of the readable hosts, one row per rule: internet first, then
    by severity and number of hosts."""
    rules: dict[str, dict[str, Any]] = {}
    for h in readable:
        for f in newest[h["hostname"]].findings:
            if f.waived:
                continue
            row = rules.setdefault(
                f.rule_id,
                {"rule_id": f.rule_id, "title": f.title, "severity": f.severity,
                 "internet": False, "findings": 0, "hosts": []},
            )  # fmt: skip
            row["findings"] += 1
            if SEVERITY_RANK[f.severity] > SEVERITY_RANK[row["severity"]]:
                row["severity"] = f.severity
            row["internet"] = row["internet"] or f.widest_scope in INTERNET_SCOPES
            if h["hostname"] not in row["hosts"]:
                row["hosts"].append(h["hostname"])
    by_rule = sorted(
        rules.values(),
        key=lambda r: (-r["internet"], -SEVERITY_RANK[r["severity"]], -len(r["hosts"]),
                       r["rule_id"]),
    )  # fmt: skip
    for r in by_rule:
        r["host_count"] = len(r["hosts"])
    return by_rule


def _by_port(
    readable: Sequence[Mapping[str, Any]], newest: Mapping[str, HostReport]
) -> list[dict[str, Any]]:
    """Listeners of the readable hosts reachable beyond loopback, one row per (protocol,
    port, widest scope): widest scope first, then by severity and number of hosts."""
    ports: dict[tuple[str, int, str], dict[str, Any]] = {}
    for h in readable:
        seen: set[tuple[str, int, str]] = set()
        for x in newest[h["hostname"]].exposed:
            key = (x.protocol, x.port, x.widest_scope)
            row = ports.setdefault(
                key,
                {"protocol": x.protocol, "port": x.port, "scope": x.widest_scope,
                 "severity": None, "hosts": []},
            )  # fmt: skip
            row["severity"] = _max_sev((row["severity"], x.severity))
            if key in seen:  # the same port on v4 and v6: one host entry
                continue
            seen.add(key)
            row["hosts"].append(
                {"hostname": h["hostname"], "address": x.address, "process": x.process,
                 "severity": x.severity, "status": h["status"]}
            )  # fmt: skip
    by_port = sorted(
        ports.values(),
        key=lambda r: (-SCOPE_RANK[r["scope"]], -_sev_key(r["severity"]), -len(r["hosts"]),
                       r["protocol"], r["port"]),
    )  # fmt: skip
    for r in by_port:
        r["host_count"] = len(r["hosts"])
        r["hosts"].sort(key=lambda e: (-_sev_key(e["severity"]), e["hostname"]))
    return by_port


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _summary(
    hosts: Sequence[Mapping[str, Any]],
    readable: Sequence[Mapping[str, Any]],
    problems: Sequence[Problem],
) -> dict[str, Any]:
    """The document's summary: the verdict sentence and the fleet's counts."""
    n_failed = sum(1 for p in problems if p.kind == "failed")
    n_stale = sum(1 for h in hosts if h["status"] == "stale")
    hosts_failing = sum(1 for h in hosts if h["at_or_above_fail_on"])
    internet_hosts = sum(1 for h in readable if h["internet_exposures"])
    with_findings = sum(1 for h in readable if h["findings"])
    headline = (
        f"{_plural(len(readable), 'host')} read: "
        f"{internet_hosts} reachable from the internet, "
        f"{with_findings} with findings to look at"
    )
    extra = []
    if n_stale:
        extra.append(f"{_plural(n_stale, 'report')} stale")
    if n_failed:
        extra.append(f"{_plural(n_failed, 'report')} failed")
    return {
        "verdict": headline + (f"; {', '.join(extra)}" if extra else "") + ".",
        "hosts_total": len(hosts),
        "hosts_ok": sum(1 for h in hosts if h["status"] == "ok"),
        "hosts_stale": n_stale,
        "reports_failed": n_failed,
        "hosts_internet": internet_hosts,
        "hosts_with_findings": with_findings,
        "by_severity": {s: sum(h["by_severity"][s] for h in readable) for s in SEVERITIES},
        "highest_severity": _max_sev(h["highest_severity"] for h in readable),
        "hosts_at_or_above_fail_on": hosts_failing,
        "failed": hosts_failing > 0,
    }
