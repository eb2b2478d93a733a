"""The JSON report: built from an Evaluation, valid against reports/report.schema.json,
and a schema that cannot change under its readers without a schema_version bump."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import report_fixture
from golden_util import GOLDEN, SCHEMA_PATH, check_golden, validate_report

from exposure_audit.core import model, records
from exposure_audit.core.model import SCOPES, SEVERITIES
from exposure_audit.core.serialize import load_facts
from exposure_audit.reporting import Format, RenderContext, format_for_path, render
from exposure_audit.reporting.document import REPORT_SCHEMA_VERSION, build_report

STAMP = "2026-11-27T14:00:05Z"
FACTS_DIR = Path(__file__).resolve().parent / "fixtures" / "facts"


def _report(ev: model.Evaluation | None = None, **kw: Any) -> dict[str, Any]:
    return build_report(ev or report_fixture.build(), generated_at=STAMP, **kw)


def _schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def test_schema_is_valid_draft_2020_12() -> None:
    schema = _schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == REPORT_SCHEMA_VERSION


@pytest.mark.parametrize("name", ["laptop", "hostile", "quiet"])
def test_fixture_reports_validate(name: str) -> None:
    ev = {
        "laptop": report_fixture.build,
        "hostile": lambda: report_fixture.build(hostile=True),
        "quiet": report_fixture.quiet_host,
    }[name]()
    validate_report(_report(ev))


@pytest.mark.parametrize("path", sorted(FACTS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_reports_from_fixture_facts_validate(path: Path) -> None:
    """Through the real exposure resolution and rules engine."""
    from exposure_audit.analysis.evaluate import EvaluateOptions, evaluate

    ev = evaluate(load_facts(path), EvaluateOptions())
    report = _report(ev, options={"facts_file": str(path)})
    validate_report(report)
    assert report["summary"]["listeners_total"] == len(ev.facts.listeners)


def test_schema_rejects_what_it_should() -> None:
    """The schema is strict: an unknown key or a wrong enum value fails."""
    report = json.loads(json.dumps(_report()))
    validate_report(report)
    for mutate in (
        lambda r: r.update(extra=1),
        lambda r: r["summary"].update(status="bad"),
        lambda r: r["findings"][0].update(severity="urgent"),
        lambda r: r["exposures"][0].update(port=70000),
        lambda r: r["exposures"][0]["reach"][0].update(colour="red"),
        lambda r: r["facts"]["listeners"][0].update(process={}),
        lambda r: r["facts"]["listeners"][0].update(pid="1"),
        lambda r: r["facts"]["processes"].append({"pid": None}),
        lambda r: r.pop("findings"),
    ):
        bad = json.loads(json.dumps(report))
        mutate(bad)
        with pytest.raises(AssertionError, match="does not match"):
            validate_report(bad)


def test_golden_json() -> None:
    text = render(Format.JSON, _report())
    check_golden("laptop.report.json", text)
    assert json.loads(text) == json.loads(json.dumps(_report()))


def test_report_contents() -> None:
    r = _report()
    s = r["summary"]
    assert r["schema_version"] == REPORT_SCHEMA_VERSION
    assert r["tool"]["name"] == "exposure-audit"
    assert r["generated_at"] == STAMP
    assert sum(s["by_severity"].values()) + s["waived"] == s["findings_total"] == 7
    assert s["by_severity"] == {"info": 0, "low": 1, "medium": 1, "high": 3, "critical": 1}
    assert s["highest_severity"] == "critical" and s["status"] == "critical"
    assert s["waived"] == 1
    assert sum(s["exposed_by_widest_scope"].values()) == s["listeners_total"] == 8
    assert s["listeners_exposed"] == 6
    assert s["exposed_by_widest_scope"]["internet"] == 1
    assert s["reachable_by_scope"]["lan"] == 5
    assert s["rules_evaluated"] == 7
    assert s["dangling_mappings"] == 1
    assert s["failed"] and s["at_or_above_fail_on"] == 4
    assert s["verdict"].startswith("6 services on laptop are reachable from other machines: ")
    assert "1 from the internet" in s["verdict"] and "Wi-Fi network (wlan0)" in s["verdict"]
    # Worst first; cross references resolve both ways.
    assert [x["id"] for x in r["exposures"][:2]] == ["tcp/0.0.0.0/8888", "tcp/::/5173"]
    ids = {x["id"] for x in r["exposures"]}
    fps = {f["fingerprint"] for f in r["findings"]}
    for f in r["findings"]:
        assert f["exposure_id"] in ids or (f["dangling"] and f["exposure_id"] is None)
    for x in r["exposures"]:
        assert set(x["findings"]) <= fps
    jup = r["findings"][0]
    assert jup["rule_id"] == "EA-UPNP-001"
    assert jup["listener"]["pid"] == 4242 and jup["listener"]["user"] == "alice"
    assert jup["listener"]["cmdline"][0] == "/usr/bin/python3"
    assert jup["exposure"]["widest_scope"] == "internet"
    assert "wlan0" in jup["exposure"]["interfaces"]
    assert "192.168.1.0/24" in jup["exposure"]["networks"]
    assert jup["upnp_mappings"][0]["external_port"] == 8888
    waived = [f for f in r["findings"] if f["waived"]]
    assert waived[0]["waiver_reason"] == "desktop mDNS is expected"
    assert r["findings"][-1] is not jup and r["findings"][-1]["waived"]  # waived last
    # Down interfaces are listed in reach but not in the reachable lists.
    assert "docker0" not in r["exposures"][0]["interfaces"]
    assert any(e["interface"] == "docker0" and not e["up"] for e in r["exposures"][0]["reach"])


@pytest.mark.parametrize(
    ("fail_on", "failed", "count"),
    [("info", True, 6), ("high", True, 4), ("critical", True, 1), (None, False, 0)],
)
def test_fail_on_counts_unwaived_only(fail_on: str | None, failed: bool, count: int) -> None:
    s = _report(fail_on=fail_on)["summary"]
    assert s["failed"] is failed and s["at_or_above_fail_on"] == count
    assert s["fail_on"] == (fail_on or "none")


def test_quiet_host_verdict() -> None:
    s = _report(report_fixture.quiet_host())["summary"]
    assert s["verdict"] == (
        "Nothing on laptop is reachable from other machines: its only listener is on loopback."
    )
    assert s["status"] == "ok" and not s["failed"] and s["highest_severity"] is None


def test_report_is_deterministic_and_pure() -> None:
    a = json.dumps(_report(), sort_keys=True)
    b = json.dumps(_report(), sort_keys=True)
    assert a == b


def test_saved_report_is_accepted_as_facts(tmp_path: Path) -> None:
    """`run --facts report.json`: a JSON report carries the Facts it was built from."""
    from exposure_audit.commands.run import load_facts_file

    path = tmp_path / "report.json"
    path.write_text(render(Format.JSON, _report()))
    assert load_facts_file(str(path)) == report_fixture.build().facts


def test_every_format_renders() -> None:
    """Every member of the Format enum has a renderer that accepts the report."""
    from exposure_audit.reporting import RENDERERS

    assert set(RENDERERS) == set(Format)
    report = _report()
    for fmt in Format:
        out = render(fmt, report, RenderContext())
        assert isinstance(out, str) and len(out) > 100, fmt
    for fmt in Format:  # and every format can be reached from a file name
        assert any(
            format_for_path(f"x{ext}") is fmt
            for ext in (".txt", ".json", ".html", ".prom", ".ocsf")
        )


def test_non_utf8_process_name_still_writes() -> None:
    """A process name with undecodable bytes (kept as surrogates) must not crash JSON."""
    ev = report_fixture.build()
    lst = ev.facts.listeners[0]
    assert lst.process is not None
    odd = records.replace(lst.process, name="bad\udcffname")
    facts = records.replace(
        ev.facts, listeners=(records.replace(lst, process=odd), *ev.facts.listeners[1:])
    )
    text = render(Format.JSON, _report(records.replace(ev, facts=facts)))
    text.encode("utf-8")
    assert "bad\\udcffname" in text


# --------------------------------------------------------------------------- contract


def _fields(cls: type) -> set[str]:
    return {f.name for f in records.fields(cls)}


FACTS_DEFS = {
    "facts": model.Facts,
    "host_info": model.HostInfo,
    "address": model.Address,
    "interface": model.Interface,
    "gateway": model.Gateway,
    "local_route": model.LocalRoute,
    "probe_result": model.ProbeResult,
    "process_info": model.ProcessInfo,
    "listener": model.Listener,
    "collector_warning": model.CollectorWarning,
    "upnp_mapping": model.UpnpMapping,
    "upnp_pinhole": model.UpnpPinhole,
    "upnp_facts": model.UpnpFacts,
    "firewall_match": model.FirewallMatch,
    "firewall_rule": model.FirewallRule,
    "firewall_chain": model.FirewallChain,
    "container_info": model.ContainerInfo,
    "firewall_facts": model.FirewallFacts,
    "published_port": model.PublishedPort,
    "reach": model.Reach,
}


# Where the written Facts (2.x) differ from the model: processes once each in a table,
# listeners pointing at them by pid (jsonout.facts_document).
WRITTEN_AS = {"facts": ({"processes"}, set()), "listener": ({"pid"}, {"process"})}


@pytest.mark.parametrize("name", sorted(FACTS_DEFS))
def test_schema_covers_the_model(name: str) -> None:
    """The embedded Facts are the model serialised: a field added to model.py must be
    added to the schema (a minor schema_version bump) or reports stop validating."""
    props = set(_schema()["$defs"][name]["properties"])
    added, removed = WRITTEN_AS.get(name, (set(), set()))
    fields = (_fields(FACTS_DEFS[name]) | added) - removed
    assert props == fields, (
        f"$defs/{name} and model.{FACTS_DEFS[name].__name__} differ: "
        f"only in the model: {sorted(fields - props)}, only in the schema: {sorted(props - fields)}"
    )


def test_every_facts_dataclass_is_in_the_schema() -> None:
    """Walk the Facts type tree: every dataclass reachable from Facts has a $def."""
    seen: set[type] = set()

    def walk(tp: Any) -> None:
        for arg in typing.get_args(tp):
            walk(arg)
        if records.is_record(tp) and isinstance(tp, type) and tp not in seen:
            seen.add(tp)
            for hint in typing.get_type_hints(tp).values():
                walk(hint)

    walk(model.Facts)
    missing = seen - set(FACTS_DEFS.values())
    assert not missing, (
        f"dataclasses in Facts with no schema $def: {sorted(c.__name__ for c in missing)}"
    )


def _paths(schema: Any, prefix: str = "") -> dict[str, Any]:
    """Every property path in the schema -> (type, required) for compatibility checks."""
    out: dict[str, Any] = {}
    if isinstance(schema, dict):
        if "properties" in schema:
            req = set(schema.get("required", []))
            for key, sub in schema["properties"].items():
                out[f"{prefix}/{key}"] = {
                    "required": key in req,
                    "type": sub.get("type"),
                    "enum": sub.get("enum"),
                    "const": sub.get("const"),
                    "ref": sub.get("$ref"),
                }
                out.update(_paths(sub, f"{prefix}/{key}"))
        for key in ("$defs", "items"):
            if key in schema:
                sub = schema[key]
                if key == "$defs":
                    for name, d in sub.items():
                        out.update(_paths(d, f"#{name}"))
                else:
                    out.update(_paths(sub, f"{prefix}[]"))
    return out


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in path.name.split("-")[1].split(".schema")[0].split("."))


def test_schema_changes_need_a_version_bump() -> None:
    """The schema of each released schema_version is committed under tests/golden/schema/.
    The current schema must equal the copy for its own version (so any change means a
    bump and a new copy), and must keep everything of the older copies with the same
    major version (a minor bump may only add)."""
    current = _schema()
    version = current["properties"]["schema_version"]["const"]
    copies = {p.name: p for p in (GOLDEN / "schema").glob("report-*.schema.json")}
    own = copies.get(f"report-{version}.schema.json")
    assert own is not None, (
        f"schema_version {version} has no committed copy: "
        f"cp reports/report.schema.json tests/golden/schema/report-{version}.schema.json"
    )
    assert json.loads(own.read_text()) == current, (
        f"reports/report.schema.json changed but schema_version is still {version}: bump it "
        "(minor for additions, major for anything that can break a reader), update "
        "report.REPORT_SCHEMA_VERSION, and commit a copy as "
        "tests/golden/schema/report-<new version>.schema.json"
    )
    major = version.split(".")[0]
    new_paths = _paths(current)
    for old in sorted(copies.values(), key=_version_key):
        old_version = old.name[len("report-") : -len(".schema.json")]
        if old_version.split(".")[0] != major or old_version == version:
            continue
        for path, spec in _paths(json.loads(old.read_text())).items():
            assert path in new_paths, f"{path} (in {old_version}) removed without a major bump"
            now = new_paths[path]
            assert spec["type"] == now["type"] and spec["ref"] == now["ref"], path
            if spec["required"]:
                assert now["required"], f"{path} no longer required: needs a major bump"
            if spec["enum"] is not None and now["enum"] is not None:
                assert set(spec["enum"]) <= set(now["enum"]), f"{path}: enum values removed"


def test_enums_follow_the_model() -> None:
    defs = _schema()["$defs"]
    assert defs["finding"]["properties"]["severity"]["enum"] == list(SEVERITIES)
    assert defs["exposure"]["properties"]["widest_scope"]["enum"] == list(SCOPES)
    assert defs["interface"]["properties"]["kind"]["enum"] == list(model.INTERFACE_KINDS)


def test_docs_describe_every_top_level_field() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "json-report.md").read_text()
    for key in _schema()["properties"]:
        assert f"`{key}`" in doc, f"docs/json-report.md does not describe `{key}`"
    for key in _schema()["$defs"]["summary"]["properties"]:
        assert f"`{key}`" in doc, f"docs/json-report.md does not describe summary `{key}`"


def test_a_finding_on_an_equal_exposure_object_gets_its_id() -> None:
    """A finding whose exposure equals one of the evaluation's but is another object (an
    Evaluation put together by hand, or read back) is tied to it by value."""
    ev = report_fixture.build()
    stamp = "2026-11-27T14:00:05Z"
    copies = tuple(
        records.replace(f, exposure=records.replace(f.exposure)) if f.exposure else f
        for f in ev.findings
    )
    assert any(f.exposure is not None for f in copies)
    for f, g in zip(ev.findings, copies, strict=True):
        assert f.exposure == g.exposure and (f.exposure is None or f.exposure is not g.exposure)
    by_identity = build_report(ev, generated_at=stamp)
    by_value = build_report(records.replace(ev, findings=copies), generated_at=stamp)
    assert by_value == by_identity
    assert any(f["exposure_id"] for f in by_value["findings"])


def test_scope_counts_are_counted_per_row() -> None:
    """The summary's scope counts (one pass, each shared pair of scope lists weighed
    once) are those of each row on its own: shared and unshared lists, equal lists that
    are not the same object, a scope twice, a widest scope that is none of SCOPES."""
    from exposure_audit.core.model import SCOPES
    from exposure_audit.reporting.document import _scope_counts

    shared_scopes, shared_open = ["loopback", "lan"], ["lan"]
    rows: list[dict[str, Any]] = []
    for n in range(60):
        if n % 3 == 0:
            scopes, open_to = shared_scopes, shared_open
        elif n % 3 == 1:
            scopes, open_to = ["loopback", "vpn", "vpn"], ["vpn", "loopback"]
        else:
            scopes, open_to = [], ["internet", "public"] if n % 2 else []
        widest = ["lan", "vpn", "internet", "elsewhere", "loopback"][n % 5]
        rows.append({"widest_scope": widest, "scopes": scopes, "reachable_scopes": open_to})
    widest_want = {s: sum(1 for x in rows if x["widest_scope"] == s) for s in SCOPES}
    reach_want = {
        s: sum(
            1 for x in rows if (s in x["reachable_scopes"] if s != "loopback" else s in x["scopes"])
        )
        for s in SCOPES
    }
    assert _scope_counts(rows) == (widest_want, reach_want)
