"""render/prometheus.py: parsed back by prometheus_client's own text parser."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from test_diff import exposure, finding, report

from exposure_audit.reporting.prometheus import (
    escape_label,
    iso_to_epoch,
    render_failure,
    render_prometheus,
    write_metrics,
)

parser = pytest.importorskip("prometheus_client.parser", reason="needs prometheus-client")

HOSTILE = 'evil"} 1\nexposure_audit_findings{severity="critical"} 999\n\\\r\x00\x1b[31m\ud800'


def _families(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for fam in parser.text_string_to_metric_families(text):
        out[fam.name] = fam.samples
    return out


def _value(samples: list, **labels: str) -> float:
    hits = [s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(hits) == 1, (labels, samples)
    return float(hits[0])


def _sample_report() -> dict:
    r = report(
        [
            finding("a", "high", rule="EA-DEV-001"),
            finding("b", "high", rule="EA-DEV-001"),
            finding("c", "critical", rule="EA-DB-001"),
            finding("d", "medium", rule="EA-DB-001", waived=True),
        ],
        [exposure(8000, "lan"), exposure(5432, "internet"), exposure(631, "loopback")],
        at="2026-11-27T10:00:00Z",
    )
    r["tool"] = {"name": "exposure-audit", "version": "0.1.0"}
    r["warnings"] = [{"collector": "upnp", "message": "x"}]
    r["dangling_mappings"] = []
    return r


def test_metrics_parse_and_count() -> None:
    fams = _families(render_prometheus(_sample_report(), new_findings=2, resolved_findings=0))
    findings = fams["exposure_audit_findings"]
    assert _value(findings, severity="high") == 2
    assert _value(findings, severity="critical") == 1
    assert _value(findings, severity="medium") == 0  # waived: not counted here ...
    assert _value(fams["exposure_audit_findings_waived"], severity="medium") == 1  # ... but here
    assert _value(fams["exposure_audit_rule_findings"], rule_id="EA-DEV-001") == 2
    assert _value(fams["exposure_audit_listeners"], scope="internet") == 1
    assert _value(fams["exposure_audit_listeners"], scope="loopback") == 1
    assert _value(fams["exposure_audit_listeners_exposed"]) == 2
    assert len(fams["exposure_audit_exposed_listener"]) == 2
    assert _value(fams["exposure_audit_last_run_timestamp_seconds"]) == 1795773600
    assert _value(fams["exposure_audit_last_run_success"]) == 1
    assert _value(fams["exposure_audit_collector_warnings"]) == 1
    assert _value(fams["exposure_audit_new_findings"]) == 2
    assert _value(fams["exposure_audit_info"], version="0.1.0") == 1


def test_hostile_label_values_cannot_inject_series() -> None:
    r = _sample_report()
    r["exposures"][0]["process"]["name"] = HOSTILE
    r["findings"][0]["rule_id"] = HOSTILE
    r["host"]["hostname"] = HOSTILE
    text = render_prometheus(r)
    fams = _families(text)
    # The injected "999" line did not become a sample.
    assert _value(fams["exposure_audit_findings"], severity="critical") == 1
    procs = [s.labels["process"] for s in fams["exposure_audit_exposed_listener"]]
    assert any(p.startswith('evil"} 1\nexposure_audit_findings') for p in procs)
    evil = next(p for p in procs if p.startswith("evil"))
    assert "\r" not in evil and "\x00" not in evil and "\x1b" not in evil
    text.encode("utf-8")  # no lone surrogate left


def test_label_values_are_capped() -> None:
    assert len(escape_label("x" * 10_000)) <= 200


def test_empty_and_failure_reports_parse() -> None:
    fams = _families(render_prometheus(report([])))
    assert _value(fams["exposure_audit_findings"], severity="critical") == 0
    fail = _families(render_failure(stamp=1234.5))
    assert _value(fail["exposure_audit_last_run_success"]) == 0
    assert _value(fail["exposure_audit_last_run_timestamp_seconds"]) == 1234.5


def test_iso_to_epoch() -> None:
    assert iso_to_epoch("1970-01-01T00:01:00Z") == 60
    assert iso_to_epoch("1970-01-01T01:00:00+01:00") == 0
    assert iso_to_epoch("yesterday") is None
    assert iso_to_epoch(None) is None


def test_textfile_write_is_atomic_for_a_concurrent_reader(tmp_path: Path) -> None:
    """node_exporter reads *.prom at any moment: it must only ever see whole files."""
    target = tmp_path / "exposure_audit.prom"
    small = render_prometheus(report([]))
    big_report = _sample_report()
    big_report["exposures"] = [exposure(p, "lan") for p in range(1, 400)]
    big = render_prometheus(big_report)
    write_metrics(target, small)
    stop = threading.Event()
    seen: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            seen.append(target.read_text())

    t = threading.Thread(target=reader)
    t.start()
    for i in range(30):
        write_metrics(target, big if i % 2 else small)
    stop.set()
    t.join()
    assert seen and all(s in (small, big) for s in seen)
    # No temp file that node_exporter would pick up (*.prom) is left behind.
    assert [p.name for p in tmp_path.iterdir()] == ["exposure_audit.prom"]
    assert oct(os.stat(target).st_mode & 0o777) == "0o644"


def test_cli_writes_textfile_and_marks_a_failed_run(tmp_path: Path) -> None:
    from test_exit_codes import _listener, run_cli, write_facts

    facts = write_facts(
        tmp_path / "f.json", _listener(8000, name=HOSTILE.replace("\ud800", "")), _listener(22)
    )
    prom = tmp_path / "textfile" / "exposure_audit.prom"
    prom.parent.mkdir()
    res = run_cli("--facts", str(facts), "-o", str(prom))
    assert res.returncode == 1, res.stderr
    fams = _families(prom.read_text())
    assert _value(fams["exposure_audit_findings"], severity="high") >= 1
    assert _value(fams["exposure_audit_listeners_exposed"]) == 2
    assert _value(fams["exposure_audit_last_run_success"]) == 1
    assert [p.name for p in prom.parent.iterdir()] == ["exposure_audit.prom"]

    # A run that fails (here: unreadable Facts) says so instead of leaving stale numbers.
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    res = run_cli("--facts", str(bad), "-o", str(prom))
    assert res.returncode == 2
    fams = _families(prom.read_text())
    assert _value(fams["exposure_audit_last_run_success"]) == 0
    assert "exposure_audit_findings" not in fams


def test_cli_since_last_exports_new_and_resolved_counts(tmp_path: Path) -> None:
    """With --since-last the textfile carries what changed since the previous run: the
    first run counts every finding as new, the next ones what came and went."""
    from test_exit_codes import _listener, run_cli, write_facts

    prom = tmp_path / "exposure_audit.prom"
    state = ["--since-last", "--state-dir", str(tmp_path / "state"), "-o", str(prom)]
    two = write_facts(tmp_path / "two.json", _listener(8000), _listener(5432))
    res = run_cli("--facts", str(two), *state, "--fail-on", "none")
    assert res.returncode == 0, res.stderr
    fams = _families(prom.read_text())
    first_new = _value(fams["exposure_audit_new_findings"])
    assert first_new >= 2 and _value(fams["exposure_audit_resolved_findings"]) == 0
    assert first_new == _value(fams["exposure_audit_findings"], severity="high") + sum(
        _value(fams["exposure_audit_findings"], severity=s)
        for s in ("critical", "medium", "low", "info")
    )
    run_cli("--facts", str(two), *state, "--fail-on", "none")  # nothing changed
    fams = _families(prom.read_text())
    assert _value(fams["exposure_audit_new_findings"]) == 0
    assert _value(fams["exposure_audit_resolved_findings"]) == 0
    one = write_facts(tmp_path / "one.json", _listener(8000))  # 5432 closed
    run_cli("--facts", str(one), *state, "--fail-on", "none")
    fams = _families(prom.read_text())
    assert _value(fams["exposure_audit_new_findings"]) == 0
    assert _value(fams["exposure_audit_resolved_findings"]) >= 1
    # Without --since-last there is nothing to compare: no such series at all.
    run_cli("--facts", str(one), "-o", str(prom), "--fail-on", "none")
    assert "exposure_audit_new_findings" not in _families(prom.read_text())
