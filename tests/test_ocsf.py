"""OCSF output: every event is a Detection Finding valid against the official OCSF schema.

The schema is not ours: ocsf-json-schema (PyPI, a test extra) ships the official OCSF
schema exports (schema.ocsf.io/<version>/export/schema) and generates the JSON Schema
of one class from them; jsonschema validates our events against it. Validated against
the pinned version (1.3.0) and the newest one the library ships, so a consumer on a
later OCSF version can read them too.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import report_fixture

from exposure_audit.cli import main
from exposure_audit.reporting import Format, format_for_path, render
from exposure_audit.reporting.document import build_report
from exposure_audit.reporting.ocsf import OCSF_VERSION, events, finding_event

ocsf_json_schema = pytest.importorskip("ocsf_json_schema")

STAMP = "2026-11-27T14:00:05Z"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "facts"
NEWEST = max(
    (v for v in ocsf_json_schema.get_packaged_versions() if "-" not in v),
    key=lambda v: tuple(int(p) for p in v.split(".")),
)


@cache
def validator(version: str) -> jsonschema.protocols.Validator:
    schema = ocsf_json_schema.OcsfJsonSchemaEmbedded(
        ocsf_json_schema.get_ocsf_schema(version=version)
    ).get_class_schema(class_name="detection_finding", profiles=["host"])
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)  # type: ignore[no-any-return]


def _check(event: dict[str, Any], version: str = OCSF_VERSION) -> None:
    errors = sorted(validator(version).iter_errors(event), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message[:300]}" for e in errors)


def _report(hostile: bool = False) -> dict[str, Any]:
    return build_report(report_fixture.build(hostile=hostile), generated_at=STAMP)


def test_pinned_version_is_shipped_by_the_validator() -> None:
    assert OCSF_VERSION in ocsf_json_schema.get_packaged_versions()


@pytest.mark.parametrize("version", sorted({OCSF_VERSION, NEWEST}))
@pytest.mark.parametrize("hostile", [False, True])
def test_every_event_validates(version: str, hostile: bool) -> None:
    report = _report(hostile)
    evs = events(report)
    assert len(evs) == len(report["findings"]) > 3
    for ev in evs:
        _check(ev, version)


def test_mapping() -> None:
    report = _report()
    evs = {e["finding_info"]["analytic"]["uid"]: e for e in events(report)}
    upnp = evs["EA-UPNP-001"]
    assert upnp["class_uid"] == 2004 and upnp["type_uid"] == 200401
    assert upnp["severity_id"] == 5 and upnp["status_id"] == 1
    assert upnp["metadata"]["version"] == OCSF_VERSION
    assert upnp["device"]["hostname"] == "laptop"
    assert upnp["time"] == 1795788005000  # 2026-11-27T14:00:05Z
    ev = upnp["evidences"][0]
    assert ev["dst_endpoint"] == {"ip": "0.0.0.0", "port": 8888}
    assert ev["process"]["pid"] == 4242 and ev["process"]["name"] == "jupyter-notebook"
    assert ev["process"]["user"]["name"] == "alice"
    assert ev["data"]["widest_scope"] == "internet"
    assert ev["data"]["upnp_mappings"][0]["external_port"] == 8888
    assert upnp["remediation"]["desc"].startswith("Delete the mapping")
    waived = evs["EA-MDNS-001"]
    assert waived["status_id"] == 3 and waived["status_detail"].startswith("waived")
    dangling = evs["EA-UPNP-002"]
    assert dangling["evidences"][0]["data"]["dangling"] is True
    assert "port" in dangling["evidences"][0]["dst_endpoint"]


def test_hostile_values_still_validate() -> None:
    """Whatever a report from another machine holds, an event is valid or absent."""
    report = {
        "tool": {"version": 7},
        "generated_at": "yesterday",
        "host": {"hostname": "bad host\x1b[2J<img>", "os": None},
        "findings": [
            {"rule_id": "R", "severity": "high", "fingerprint": "f", "title": "x" * 100_000,
             "listener": {"address": "fe80::1%eth0", "port": 10**30, "pid": -1,
                          "cmdline": ["a", 5, None], "uid": "0"},
             "exposure": {"scopes": "lan", "reachable_from": [1, 2]},
             "upnp_mappings": "nope", "references": "x"},
            {"rule_id": "R", "severity": "catastrophic", "fingerprint": "g"},
            {"rule_id": "R", "severity": ["high"], "fingerprint": "h"},  # once a TypeError
            {"severity": "high"},
            "not an object",
        ],
    }  # fmt: skip
    evs = events(report)
    assert len(evs) == 1
    _check(evs[0])
    assert "hostname" not in evs[0]["device"]  # not a valid hostname: device.name only
    assert finding_event(report, {"rule_id": "R"}) is None


def test_cli_run_format_ocsf(tmp_path: Path) -> None:
    out = tmp_path / "events.ocsf"
    assert format_for_path(str(out)) is Format.OCSF
    code = main(["run", "--facts", str(FIXTURES / "upnp_home.json"), "-o", str(out),
                 "--fail-on", "none"])  # fmt: skip
    assert code == 0
    lines = out.read_text().splitlines()
    assert lines
    for line in lines:
        _check(json.loads(line))


def test_render_is_json_lines() -> None:
    text = render(Format.OCSF, _report(hostile=True))
    assert text.endswith("\n") and text.isascii()
    assert all(json.loads(line)["class_uid"] == 2004 for line in text.splitlines())
