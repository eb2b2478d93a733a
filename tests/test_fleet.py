"""``exposure-audit fleet``: many hosts' reports in one view; every report untrusted."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import report_fixture

from exposure_audit.cli import main
from exposure_audit.core.records import replace
from exposure_audit.reporting.document import build_report
from exposure_audit.reporting.fleet import (
    DEFAULT_STALE_AFTER,
    ReportRejected,
    check_host_report,
    parse_report_bytes,
)

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "reports" / "fleet.schema.json").read_text())
NOW = "2026-11-27T15:00:00Z"
FRESH = "2026-11-27T14:30:00Z"  # 30 minutes before NOW
OLD = "2026-11-25T09:00:00Z"  # two days before NOW
ANSI = report_fixture.ANSI_EVIL
XSS = report_fixture.XSS_SCRIPT


def host_report(hostname: str, generated_at: str = FRESH, hostile: bool = False) -> dict[str, Any]:
    ev = report_fixture.build(hostile=hostile)
    facts = replace(ev.facts, host=replace(ev.facts.host, hostname=hostname))
    report = build_report(replace(ev, facts=facts), generated_at=generated_at)
    return json.loads(json.dumps(report))  # as read back from a file


def quiet_report(hostname: str, generated_at: str = FRESH) -> dict[str, Any]:
    """A host with one dev server on the LAN (tcp/8000) and nothing else."""
    r = host_report(hostname, generated_at)
    keep = [x for x in r["exposures"] if x["port"] == 5173]  # the fixture's dev server
    assert keep
    for x in keep:
        x["widest_scope"], x["scopes"], x["upnp_mappings"] = "lan", ["loopback", "lan"], []
        x["port"] = 8000
    r["exposures"] = keep
    ids = {x["id"] for x in keep}
    r["findings"] = [f for f in r["findings"] if f["exposure_id"] in ids]
    for f in r["findings"]:
        f["exposure"]["widest_scope"] = "lan"
        f["listener"]["port"] = 8000
    return r


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def fleet(*argv: str) -> int:
    return main(["fleet", "--now", NOW, *argv])


def fleet_json(tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "out" / "fleet.json"
    out.parent.mkdir(exist_ok=True)
    code = fleet(*argv, "-o", str(out))
    doc = json.loads(out.read_text())
    jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(doc)
    return code, doc


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """As `ansible -m fetch` lays it out: DIR/<host>/<path>/report.json; 12 quiet hosts
    with tcp/8000 on the LAN, one laptop with an internet (UPnP) exposure."""
    root = tmp_path / "fetched"
    for i in range(12):
        write(
            root / f"web{i:02}" / "var/lib/exposure-audit/report.json", quiet_report(f"web{i:02}")
        )
    write(root / "laptop" / "var/lib/exposure-audit/report.json", host_report("laptop"))
    return root


def test_schema_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_grouped_worst_first(tree: Path, tmp_path: Path) -> None:
    code, doc = fleet_json(tmp_path, str(tree), "--fail-on", "none")
    assert code == 0
    s = doc["summary"]
    assert s["hosts_total"] == 13 and s["hosts_internet"] == 1 and s["reports_failed"] == 0
    assert doc["hosts"][0]["hostname"] == "laptop"  # the internet exposure first
    assert doc["by_port"][0]["scope"] == "internet"  # internet exposures first
    lan8000 = next(r for r in doc["by_port"] if (r["port"], r["scope"]) == (8000, "lan"))
    assert lan8000["host_count"] == 12
    dev = next(r for r in doc["by_rule"] if r["rule_id"] == "EA-DEV-001")
    assert dev["host_count"] == 13
    assert doc["by_rule"][0]["internet"] is True
    assert not doc["problems"]


def test_terminal_output(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fleet(str(tree), "--fail-on", "none") == 0
    out = capsys.readouterr().out
    assert "tcp/8000 reachable on the LAN on 12 hosts" in out
    assert out.index("from the internet (UPnP)") < out.index("on the LAN")
    assert "\x1b" not in out  # no colour when not a terminal


def test_fail_on(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fleet(str(tree)) == 1  # default high: the laptop's critical finding
    assert fleet(str(tree), "--fail-on", "critical") == 1
    assert fleet(str(tree / "web00"), "--fail-on", "critical") == 0
    assert fleet(str(tree / "web00"), "--fail-on", "high") == 1  # the dev server is high
    assert fleet(str(tree), "--fail-on", "none") == 0


def test_waived_findings_never_fail(tmp_path: Path) -> None:
    r = quiet_report("h1")
    for f in r["findings"]:
        f["waived"] = True
    write(tmp_path / "h1.json", r)
    assert fleet(str(tmp_path / "h1.json"), "--fail-on", "info", "-q") == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--stale-after", "soon"],
        ["--fail-on", "bad"],
        ["-o", "x.pdf"],
        ["--max-report-size", "0"],
        [],  # the paths are required: an empty argv for the paths goes below
    ],
)
def test_usage_errors_exit_2(
    tree: Path, argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [str(tree)] if argv else []
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:  # argparse's errors
        code = fleet(*paths, *argv)
        raise SystemExit(code)
    assert exc.value.code == 2
    assert not (tmp_path / "x.pdf").exists()


def test_stale_reports(tmp_path: Path) -> None:
    write(tmp_path / "a.json", quiet_report("a", FRESH))
    write(tmp_path / "b.json", quiet_report("b", OLD))
    _code, doc = fleet_json(tmp_path, str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert DEFAULT_STALE_AFTER == 7200 and doc["options"]["stale_after_seconds"] == 7200
    stale = [p for p in doc["problems"] if p["kind"] == "stale"]
    assert [p["hostname"] for p in stale] == ["b"] and "2d" in stale[0]["message"]
    assert doc["summary"]["hosts_stale"] == 1
    _code, doc = fleet_json(tmp_path, str(tmp_path / "b.json"), "--stale-after", "3d")
    assert not doc["problems"]
    # --fail-on-problems: a stale report alone fails the run
    assert fleet(str(tmp_path / "b.json"), "--fail-on", "none", "-q") == 0
    assert fleet(str(tmp_path / "b.json"), "--fail-on", "none", "--fail-on-problems", "-q") == 1


def test_failed_reports_are_called_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "in"
    write(d / "good.json", quiet_report("good"))
    write(d / "notjson.json", "this is not json")
    write(d / "array.json", "[1, 2, 3]")
    write(d / "other-tool.json", {"schema_version": "2.1", "tool": {"name": "nmap"}})
    v3 = quiet_report("future")
    v3["schema_version"] = "3.0"
    write(d / "v3.json", v3)
    broken = quiet_report("broken")
    broken["summary"]["listeners_total"] = 0
    broken["exposures"], broken["findings"] = [], []
    broken["warnings"] = [
        {"collector": "listeners", "message": "could not list sockets: EPERM", "hint": None}
    ]
    write(d / "broken.json", broken)
    code, doc = fleet_json(tmp_path, str(d), str(tmp_path / "missing.json"), "--fail-on", "none")
    assert code == 0
    failed = {Path(p["path"]).name: p["message"] for p in doc["problems"] if p["kind"] == "failed"}
    assert set(failed) == {
        "notjson.json", "array.json", "other-tool.json", "v3.json", "broken.json", "missing.json"
    }  # fmt: skip
    assert "3.0 is not supported" in failed["v3.json"] and "1.x and 2.x" in failed["v3.json"]
    assert "collection failed: could not list sockets" in failed["broken.json"]
    assert doc["hosts"][0]["hostname"] == "broken" and doc["hosts"][0]["status"] == "failed"
    err = capsys.readouterr().err
    assert "warning:" in err and "Traceback" not in err


def test_no_readable_report_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "x.json", "{")
    assert fleet(str(tmp_path)) == 2
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "not one host report" in captured.err


def test_reads_schema_1x_and_newer_minors(tmp_path: Path) -> None:
    """1.x differs from 2.x only inside facts (listeners carried their process inline),
    which the fleet view does not read; a newer 2.x minor is read, with a note."""
    v1 = quiet_report("old-tool")
    v1["schema_version"] = "1.0"
    facts = v1["facts"]
    procs = {p["pid"]: p for p in facts.pop("processes")}
    facts["schema_version"] = "1.0"
    for lst in facts["listeners"]:
        lst["process"] = procs.get(lst.pop("pid"))
    for x in v1["exposures"]:
        x.pop("upnp_firewall", None), x.pop("upnp_firewall_evidence", None)
    write(tmp_path / "v1.json", v1)
    v29 = quiet_report("new-tool")
    v29["schema_version"] = "2.9"
    v29["something_new"] = {"x": 1}
    write(tmp_path / "v29.json", v29)
    _code, doc = fleet_json(tmp_path, str(tmp_path / "v1.json"), str(tmp_path / "v29.json"))
    hosts = {h["hostname"]: h for h in doc["hosts"]}
    assert set(hosts) == {"old-tool", "new-tool"} and not doc["problems"]
    assert hosts["old-tool"]["listeners_exposed"] == hosts["new-tool"]["listeners_exposed"] > 0
    assert any("newer than this version knows" in n for n in hosts["new-tool"]["notes"])


def test_newest_report_per_host_and_own_output_skipped(tmp_path: Path) -> None:
    d = tmp_path / "state"
    write(d / "history" / "old.json", quiet_report("h", OLD))
    write(d / "report.json", quiet_report("h", FRESH))
    _code, doc = fleet_json(tmp_path, str(d))
    write(d / "fleet.json", doc)  # the fleet's own output in the directory it reads
    _code, doc = fleet_json(tmp_path, str(d))
    assert [h["report"] for h in doc["hosts"]] == [str(d / "report.json")]
    assert [p["kind"] for p in doc["problems"]] == ["superseded"]


# --------------------------------------------------------------------------- hostile input


def test_size_cap(tmp_path: Path) -> None:
    r = quiet_report("big")
    r["padding"] = "x" * (2 * 1024 * 1024)
    write(tmp_path / "big.json", r)
    write(tmp_path / "ok.json", quiet_report("ok"))
    _code, doc = fleet_json(tmp_path, str(tmp_path / "big.json"), str(tmp_path / "ok.json"),
                            "--max-report-size", "1")  # fmt: skip
    (p,) = doc["problems"]
    assert p["kind"] == "failed" and "cap" in p["message"]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
        ('{"n": ' + "9" * 5000 + "}", "integer of 5000 digits"),
        ('{"n": ' + "9" * 25 + "}", "integer of 25 digits"),
        ('{"n": NaN}', "NaN"),
        ('{"n": -Infinity}', "Infinity"),
        (b'{"a": "\xff"}', "not UTF-8"),
    ],
)
def test_hostile_json_is_refused(raw: str | bytes, why: str) -> None:
    with pytest.raises(ReportRejected, match=why):
        parse_report_bytes(raw.encode() if isinstance(raw, str) else raw)


def test_hostile_json_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "deep.json", "[" * 500_000)
    write(tmp_path / "int.json", '{"schema_version": ' + "1" * 100_000 + "}")
    write(tmp_path / "ok.json", quiet_report("ok"))
    assert fleet(str(tmp_path), "--fail-on", "none") == 0
    out = capsys.readouterr().out
    assert "deep.json: JSON nested too deeply" in out and "int.json" in out


def test_wrongly_typed_fields_are_skipped_not_trusted(tmp_path: Path) -> None:
    r = quiet_report("typed")
    r["exposures"].append({**r["exposures"][0], "port": 10**18})
    r["exposures"].append({**r["exposures"][0], "protocol": ["tcp"]})
    r["exposures"].append("nonsense")
    r["findings"].append({**r["findings"][0], "severity": "apocalyptic"})
    r["findings"].append({**r["findings"][0], "severity": ["high"]})  # unhashable: once a crash
    r["findings"].append({**r["findings"][0], "exposure": {"widest_scope": {"lan": 1}}})
    r["exposures"].append({**r["exposures"][0], "widest_scope": ["lan"]})
    r["findings"].append({**r["findings"][0], "listener": {"port": "8000"}, "exposure": 5})
    r["warnings"] = "not a list"
    r["summary"]["listeners_total"] = -(10**18)
    rep = check_host_report(r, "typed.json")
    assert len(rep.exposed) == 1 and len(rep.findings) == 3
    assert any("could not be read" in n for n in rep.notes)
    for bad in ({"host": "x"}, {"generated_at": "yesterday"}, {"findings": {}}, {"tool": None}):
        with pytest.raises(ReportRejected):
            check_host_report({**copy.deepcopy(r), **bad}, "bad.json")


def hostile_tree(tmp_path: Path) -> Path:
    d = tmp_path / "hostile"
    r = host_report(f"evil{ANSI}{XSS}", hostile=True)
    r["findings"][0]["title"] = f"title {XSS} {ANSI}"
    r["findings"][0]["rule_id"] = f"EA-{ANSI}"
    write(d / f"host{XSS.replace('/', '_')}.json", r)
    bad = quiet_report("x")
    bad["schema_version"] = f"9.9{ANSI}"
    write(d / "badversion.json", bad)
    return d


def test_hostile_strings_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet(str(hostile_tree(tmp_path)))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "\\x1b[2J" in out  # shown, escaped


def test_hostile_strings_html(tmp_path: Path) -> None:
    out = tmp_path / "fleet.html"
    fleet(str(hostile_tree(tmp_path)), "-o", str(out))
    html = out.read_text()
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;/script&gt;&lt;script&gt;alert(2)" in html
    assert "\x1b" not in html
    csp = html.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert csp.startswith("default-src &#39;none&#39;; style-src &#39;sha256-")


def test_html_links_and_csp(tree: Path, tmp_path: Path) -> None:
    laptop = tree / "laptop" / "var/lib/exposure-audit"
    (laptop / "report.html").write_text("<p>the laptop's own report</p>")
    out = tree / "fleet.html"
    assert fleet(str(tree), "-o", str(out), "--fail-on", "none") == 0
    html = out.read_text()
    assert 'href="laptop/var/lib/exposure-audit/report.html"' in html  # the HTML beside it
    assert 'href="web00/var/lib/exposure-audit/report.json"' in html  # else the JSON
    assert "<script" not in html and "http://" not in html.replace("http-equiv", "")
    assert "tcp/8000" in html


def test_output_is_atomic(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    out.write_text("previous")
    assert fleet(str(tree), "-o", str(out), "--fail-on", "none") == 0
    assert json.loads(out.read_text())["kind"] == "exposure-audit fleet"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fetched", "fleet.json"]
    # a usage error writes nothing: the previous output stays
    assert fleet(str(tree), "-o", str(out), "--stale-after", "never") == 2
    assert json.loads(out.read_text())["kind"] == "exposure-audit fleet"


def test_fleet_ocsf(tree: Path, tmp_path: Path) -> None:
    from test_ocsf import _check

    out = tmp_path / "fleet.ocsf"
    assert fleet(str(tree), "-o", str(out), "--fail-on", "none") == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    hosts = {e["device"]["hostname"] for e in events}
    assert len(hosts) == 13
    for e in events[:40]:
        _check(e)


def test_many_reports_are_fast(tmp_path: Path) -> None:
    import time

    base = json.dumps(quiet_report("h"))
    d = tmp_path / "many"
    d.mkdir()
    for i in range(300):
        (d / f"h{i}.json").write_text(base.replace('"hostname": "h"', f'"hostname": "h{i}"'))
    t0 = time.perf_counter()
    code, doc = fleet_json(tmp_path, str(d), "--fail-on", "none")
    elapsed = time.perf_counter() - t0
    assert code == 0 and doc["summary"]["hosts_total"] == 300
    assert elapsed < 10, elapsed
