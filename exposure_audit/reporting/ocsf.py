"""OCSF events: one Detection Finding (class_uid 2004, OCSF 1.3.0) per finding, for a SIEM.

``exposure-audit run --format ocsf`` (and ``fleet --format ocsf``) writes JSON Lines:
one event per line, each a complete OCSF Detection Finding with the ``host`` profile
(``device`` is the audited machine). Written with the standard library only; the test
suite validates every event against the official OCSF 1.3.0 schema (docs/ocsf.md has
the mapping, field by field).

Reports read by ``fleet`` come from other machines: every value is type-checked here
before use, and anything of the wrong type is left out rather than trusted.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import shlex
import time
from collections.abc import Iterable, Mapping
from typing import Any

from exposure_audit.reporting import RenderContext

OCSF_VERSION = "1.3.0"
CLASS_UID = 2004  # Detection Finding
CATEGORY_UID = 2  # Findings
ACTIVITY_CREATE = 1
TYPE_UID = CLASS_UID * 100 + ACTIVITY_CREATE

# Our severities -> OCSF severity_id (1 Informational ... 5 Critical).
SEVERITY_IDS = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAMES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
STATUS_NEW, STATUS_SUPPRESSED = 1, 3

# OCSF's hostname pattern (RFC 1123 labels); anything else goes in device.name only.
_HOSTNAME = re.compile(
    r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*"
    r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$"
)
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
# OCSF strings are capped at 65,535 characters; a hostile report's may be longer.
MAX_STRING = 4096
MAX_LIST = 64


def _s(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value if len(value) <= MAX_STRING else value[: MAX_STRING - 1] + "…"


def _i(value: object, lo: int = 0, hi: int = 2**63 - 1) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


def _strs(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [s for s in (_s(v) for v in value[:MAX_LIST]) if s is not None]


def _d(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def epoch_ms(stamp: object) -> int | None:
    """``2026-11-27T14:00:05Z`` -> milliseconds since the epoch; None if not that form."""
    if not isinstance(stamp, str) or len(stamp) > 40:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return calendar.timegm(time.strptime(stamp, fmt)) * 1000
        except ValueError:
            continue
    return None


def _ip(address: str | None) -> str | None:
    """An address OCSF's ip pattern accepts (IPv4, or IPv6 without a zone), else None."""
    if not address:
        return None
    if _IPV4.match(address):
        return address
    import ipaddress

    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return None
    return ip.compressed if ip.scope_id is None else None


def device(report: Mapping[str, Any]) -> dict[str, Any]:
    host = _d(report.get("host"))
    name = _s(host.get("hostname")) or "unknown"
    dev: dict[str, Any] = {"type_id": 0, "type": "Unknown", "name": name}
    if _HOSTNAME.match(name) and len(name) <= 253:
        dev["hostname"] = name
    os_name = _s(host.get("os_release")) or _s(host.get("os"))
    if os_name:
        linux = (_s(host.get("os")) or "").lower() == "linux"
        dev["os"] = {
            "name": os_name,
            "type_id": 200 if linux else 0,
            "type": "Linux" if linux else "Unknown",
        }
        kernel = _s(host.get("kernel"))
        if kernel:
            dev["os"]["version"] = kernel
    return dev


def _process(listener: Mapping[str, Any]) -> dict[str, Any] | None:
    pid = _i(listener.get("pid"), 0, 2**31)
    name = _s(listener.get("process"))
    if pid is None and name is None:
        return None
    proc: dict[str, Any] = {}
    if pid is not None:
        proc["pid"] = pid
    if name is not None:
        proc["name"] = name
    cmdline = _strs(listener.get("cmdline"))
    if cmdline:
        proc["cmd_line"] = _s(shlex.join(cmdline)) or ""
    exe = _s(listener.get("exe"))
    if exe:
        proc["file"] = {"path": exe, "name": exe.rsplit("/", 1)[-1] or exe, "type_id": 1}
    user, uid = _s(listener.get("user")), _i(listener.get("uid"), 0, 2**32)
    if user is not None or uid is not None:
        proc["user"] = {k: v for k, v in (("name", user), ("uid", _str(uid))) if v is not None}
    container = _s(listener.get("container_id"))
    if container:
        proc.setdefault("xattributes", {})["container_id"] = container
    if "pid" not in proc:  # OCSF asks for pid or uid
        proc["uid"] = f"{name}@unknown-pid"
    return proc


def _str(value: int | None) -> str | None:
    return None if value is None else str(value)


def _endpoint(address: str | None, port: int | None, **extra: Any) -> dict[str, Any]:
    ep: dict[str, Any] = {}
    ip = _ip(address)
    if ip is not None:
        ep["ip"] = ip
    elif address:
        ep["name"] = address
    if port is not None:
        ep["port"] = port
    ep.update({k: v for k, v in extra.items() if v})
    if not ({"ip", "name", "svc_name"} & ep.keys()):
        ep["name"] = "unknown"  # OCSF asks for one of ip, name, hostname, svc_name...
    return ep


# The class, category and activity every event shares.
_CLASSIFICATION: Mapping[str, Any] = {
    "class_uid": CLASS_UID,
    "class_name": "Detection Finding",
    "category_uid": CATEGORY_UID,
    "category_name": "Findings",
    "activity_id": ACTIVITY_CREATE,
    "activity_name": "Create",
    "type_uid": TYPE_UID,
    "type_name": "Detection Finding: Create",
}


def finding_event(report: Mapping[str, Any], finding: Mapping[str, Any]) -> dict[str, Any] | None:
    """One Detection Finding, or None when the finding lacks what every event needs."""
    rule_id, fingerprint = _s(finding.get("rule_id")), _s(finding.get("fingerprint"))
    severity = finding.get("severity")
    if (
        not rule_id
        or not fingerprint
        or not isinstance(severity, str)
        or severity not in SEVERITY_IDS
    ):
        return None
    dev = device(report)
    generated = epoch_ms(report.get("generated_at")) or 0
    title = _s(finding.get("title")) or rule_id
    waived = finding.get("waived") is True
    uid = f"{fingerprint}@{dev['name']}"
    event: dict[str, Any] = {
        **_CLASSIFICATION,
        "time": generated,
        **_severity_and_status(str(severity), waived),
        "message": _s(finding.get("message")) or title,
        "metadata": _metadata(report, uid, generated),
        "finding_info": _finding_info(finding, uid, rule_id, title, generated),
        "device": dev,
    }
    event.update(_waiver_and_remediation(finding, waived))
    listener = _d(finding.get("listener"))
    evidence = _evidence(finding, listener)
    event["evidences"] = [evidence]
    event["resources"] = [
        {
            "uid": _s(finding.get("exposure_id")) or fingerprint,
            "name": dev["name"],
            "type": "Listening socket" if listener else "UPnP port mapping",
        }
    ]
    observables = _observables(dev, evidence)
    if observables:
        event["observables"] = observables
    return event


def _severity_and_status(severity: str, waived: bool) -> dict[str, Any]:
    """Our severity as OCSF's severity_id and name; a waived finding is Suppressed."""
    severity_id = SEVERITY_IDS[severity]
    return {
        "severity_id": severity_id,
        "severity": SEVERITY_NAMES[severity_id],
        "status_id": STATUS_SUPPRESSED if waived else STATUS_NEW,
        "status": "Suppressed" if waived else "New",
    }


def _metadata(report: Mapping[str, Any], uid: str, generated: int) -> dict[str, Any]:
    """The event's metadata: the product, and a uid unique to the finding and the run."""
    tool = _d(report.get("tool"))
    return {
        "version": OCSF_VERSION,
        "profiles": ["host"],
        "uid": hashlib.sha256(f"{uid}|{generated}".encode("utf-8", "replace")).hexdigest(),
        "product": {
            "name": "exposure-audit",
            "vendor_name": "exposure-audit",
            "version": _s(tool.get("version")) or "unknown",
        },
        "log_name": "exposure-audit",
    }


def _finding_info(
    finding: Mapping[str, Any], uid: str, rule_id: str, title: str, generated: int
) -> dict[str, Any]:
    """What was found: the finding's uid, title, rule and types (its tags)."""
    tags = _strs(finding.get("tags"))
    return {
        "uid": uid,
        "title": title,
        "desc": _s(finding.get("message")) or title,
        "types": ["Network Exposure", *tags],
        "analytic": {"uid": rule_id, "name": rule_id, "type_id": 1, "type": "Rule"},
        "created_time": generated,
    }


def _waiver_and_remediation(finding: Mapping[str, Any], waived: bool) -> dict[str, Any]:
    """``status_detail`` (why a waived finding is waived) and ``remediation``, if any."""
    extra: dict[str, Any] = {}
    if waived:
        reason = _s(finding.get("waiver_reason"))
        extra["status_detail"] = f"waived: {reason}" if reason else "waived"
    remediation = _s(finding.get("remediation"))
    if remediation:
        extra["remediation"] = {"desc": remediation}
        refs = _strs(finding.get("references"))
        if refs:
            extra["remediation"]["references"] = refs
    return extra


def _upnp_mappings(finding: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = finding.get("upnp_mappings")
    return [_d(m) for m in raw[:MAX_LIST]] if isinstance(raw, list) else []


def _evidence(finding: Mapping[str, Any], listener: Mapping[str, Any]) -> dict[str, Any]:
    """The exposure: where the service listens, who holds it, where it is reachable from."""
    service = _s(finding.get("service"))
    mappings = _upnp_mappings(finding)
    exposure = _d(finding.get("exposure"))
    evidence: dict[str, Any] = {}
    reach: dict[str, Any] = {
        "widest_scope": _s(exposure.get("widest_scope")),
        "scopes": _strs(exposure.get("scopes")),
        "reachable_from": _strs(exposure.get("reachable_from")),
        "interfaces": _strs(exposure.get("interfaces")),
        "networks": _strs(exposure.get("networks")),
    }
    if listener:
        address = _s(listener.get("address"))
        port = _i(listener.get("port"), 0, 65535)
        evidence["dst_endpoint"] = _endpoint(address, port, svc_name=service)
        proc = _process(listener)
        if proc is not None:
            evidence["process"] = proc
        reach["protocol"] = _s(listener.get("protocol"))
        reach["exposure_id"] = _s(finding.get("exposure_id"))
    elif mappings:  # a dangling UPnP mapping: the router forwards to nothing
        m = mappings[0]
        evidence["dst_endpoint"] = _endpoint(
            _s(m.get("internal_client")), _i(m.get("internal_port"), 0, 65535), svc_name=service
        )
        reach["protocol"] = _s(m.get("protocol"))
        reach["widest_scope"] = reach["widest_scope"] or "internet"
    if mappings:
        reach["upnp_mappings"] = [_upnp_mapping(m) for m in mappings]
    reach["dangling"] = finding.get("dangling") is True
    evidence["data"] = {k: v for k, v in reach.items() if v not in (None, [])}
    return evidence


def _upnp_mapping(m: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "protocol": _s(m.get("protocol")),
        "external_port": _i(m.get("external_port"), 0, 65535),
        "internal_client": _s(m.get("internal_client")),
        "internal_port": _i(m.get("internal_port"), 0, 65535),
        "description": _s(m.get("description")),
    }


def _observables(dev: Mapping[str, Any], evidence: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The device's hostname and the exposed endpoint's address and port, as observables."""
    observables: list[dict[str, Any]] = []
    if "hostname" in dev:
        observables.append({"name": "device.hostname", "type_id": 1, "value": dev["hostname"]})
    ip = evidence.get("dst_endpoint", {}).get("ip")
    if ip:
        observables.append({"name": "evidences[0].dst_endpoint.ip", "type_id": 2, "value": ip})
    port = evidence.get("dst_endpoint", {}).get("port")
    if port is not None:
        observables.append(
            {"name": "evidences[0].dst_endpoint.port", "type_id": 11, "value": str(port)}
        )
    return observables


def events(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every finding of one host report as an OCSF Detection Finding, in report order."""
    findings = report.get("findings")
    if not isinstance(findings, list):
        return []
    out = []
    for f in findings:
        if isinstance(f, Mapping):
            ev = finding_event(report, f)
            if ev is not None:
                out.append(ev)
    return out


def json_lines(evs: Iterable[Mapping[str, Any]]) -> str:
    """JSON Lines: one compact event per line (surrogates escaped: always valid UTF-8)."""
    return "".join(json.dumps(e, ensure_ascii=True, separators=(",", ":")) + "\n" for e in evs)


def render(report: Mapping[str, Any], ctx: RenderContext) -> str:
    del ctx  # no options: one event per finding, nothing else
    return json_lines(events(report))
