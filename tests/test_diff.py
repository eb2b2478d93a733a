"""diffing.py and `exposure-audit diff`: findings matched by fingerprint, never pid/time."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from netns import cli_argv

from exposure_audit.automation.diffing import (
    check_report,
    diff_reports,
    diff_to_dict,
    fails,
    load_report,
    render_diff_text,
)
from exposure_audit.core.errors import FormatError


def finding(fp: str, severity: str = "high", rule: str = "EA-DEV-001", **kw: Any) -> dict:
    doc = {
        "rule_id": rule,
        "severity": severity,
        "title": f"title of {fp}",
        "message": f"message about {fp}",
        "remediation": f"fix {fp}",
        "fingerprint": fp,
        "waived": False,
    }
    doc.update(kw)
    return doc


def exposure(
    port: int,
    scope: str,
    proto: str = "tcp",
    address: str = "0.0.0.0",
    pid: int = 1,
    name: str = "python3",
):
    return {
        "id": f"{proto}/{address}/{port}",
        "protocol": proto,
        "address": address,
        "port": port,
        "process": {"pid": pid, "name": name},
        "widest_scope": scope,
        "exposed": scope != "loopback",
    }


def report(
    findings: list[dict], exposures: list[dict] | None = None, at: str = "2026-11-27T10:00:00Z"
) -> dict:
    return {
        "schema_version": "1.0",
        "generated_at": at,
        "host": {"hostname": "h"},
        "summary": {},
        "findings": findings,
        "exposures": exposures or [],
    }


def test_new_resolved_unchanged_by_fingerprint() -> None:
    old = report([finding("a"), finding("b", "low")], at="2026-11-27T10:00:00Z")
    # "b" comes back with another pid and message: still the same finding.
    new = report(
        [finding("b", "low", message="pid 999 now"), finding("c", "critical")],
        at="2026-11-27T11:00:00Z",
    )
    d = diff_reports(old, new)
    assert [f["fingerprint"] for f in d.new] == ["c"]
    assert [f["fingerprint"] for f in d.resolved] == ["a"]
    assert [f["fingerprint"] for f in d.unchanged] == ["b"]
    assert d.changed
    assert d.old_generated_at == "2026-11-27T10:00:00Z"
    doc = diff_to_dict(d)
    assert doc["summary"] == {"new": 1, "resolved": 1, "unchanged": 1, "listeners_changed": 0}


def test_identical_reports_have_no_changes_and_empty_text() -> None:
    r = report([finding("a")], [exposure(8000, "lan")])
    d = diff_reports(r, json.loads(json.dumps(r)))
    assert not d.changed
    assert render_diff_text(d) == ""


def test_listener_changes_ignore_pid_and_loopback() -> None:
    old = report([], [exposure(8000, "lan", pid=1), exposure(22, "lan"), exposure(631, "loopback")])
    new = report(
        [],
        [
            exposure(8000, "lan", pid=4242),  # restarted: same key, same reach
            exposure(22, "public"),  # widened
            exposure(5432, "vpn"),  # appeared
            exposure(631, "loopback"),
            exposure(9999, "loopback"),  # loopback-only newcomers are not exposure news
            exposure(41234, "lan", proto="udp"),  # a client's ephemeral UDP socket
            exposure(5353, "lan", proto="udp"),  # a UDP service: news
        ],
    )
    d = diff_reports(old, new)
    changes = {c.key: (c.change, c.old_scope, c.new_scope) for c in d.listeners}
    assert changes == {
        "tcp/0.0.0.0/22": ("widened", "lan", "public"),
        "tcp/0.0.0.0/5432": ("appeared", None, "vpn"),
        "udp/0.0.0.0/5353": ("appeared", None, "lan"),
        "udp/0.0.0.0/32768-65535 (python3)": ("appeared", None, "lan"),
    }
    back = diff_reports(new, old)
    assert {c.key: c.change for c in back.listeners} == {
        "tcp/0.0.0.0/22": "narrowed",
        "tcp/0.0.0.0/5432": "disappeared",
        "udp/0.0.0.0/5353": "disappeared",
        "udp/0.0.0.0/32768-65535 (python3)": "disappeared",
    }


def test_listener_changes_say_where_from_in_the_reports_words() -> None:
    widened = {**exposure(22, "public"), "reachable_from": ["anyone on the internet via eth0"]}
    gone = {**exposure(8000, "lan"), "reachable_from": ["everyone on wlan0 (192.168.1.0/24)"]}
    odd = {**exposure(9000, ["lan"]), "reachable_from": "not a list"}  # a hostile report
    d = diff_reports(report([], [exposure(22, "lan"), gone]), report([], [widened, odd]))
    text = render_diff_text(d)
    assert "tcp/0.0.0.0/22 (python3): lan -> public" in text
    assert "reachable from anyone on the internet via eth0" in text
    assert "was reachable from everyone on wlan0 (192.168.1.0/24)" in text
    assert "9000" not in text  # a scope that is not a scope: skipped, not a crash
    doc = diff_to_dict(d)
    assert doc["diff_version"] == "1.1"
    assert {c["key"]: c["reachable_from"] for c in doc["listeners"]} == {
        "tcp/0.0.0.0/22": ["anyone on the internet via eth0"],
        "tcp/0.0.0.0/8000": ["everyone on wlan0 (192.168.1.0/24)"],
    }


def test_ephemeral_udp_listeners_fold_per_process() -> None:
    """A LAN-reachable UDP backdoor on a high port shows as a change; a client process
    whose ephemeral port moves between runs does not."""
    old = report([], [exposure(41234, "lan", proto="udp", name="dnsmasq")])
    new = report(
        [],
        [
            exposure(50001, "lan", proto="udp", name="dnsmasq"),  # same process, new port
            *(exposure(40000 + i, "lan", proto="udp", name="backdoor") for i in range(50)),
            exposure(45000, "loopback", proto="udp", name="client"),  # loopback: no news
        ],
    )
    d = diff_reports(old, new)
    assert [(c.key, c.change) for c in d.listeners] == [
        ("udp/0.0.0.0/32768-65535 (backdoor)", "appeared")
    ]
    assert "backdoor" in render_diff_text(d)


def test_no_baseline_lists_everything_as_new() -> None:
    d = diff_reports(None, report([finding("a"), finding("b")]))
    assert d.no_baseline and len(d.new) == 2
    assert "every finding is listed as new" in render_diff_text(d)


def test_fails_ignores_waived_and_lower_severities() -> None:
    items = [finding("a", "medium"), finding("b", "critical", waived=True)]
    assert not fails(items, "high")
    assert fails(items, "medium")
    assert not fails([], "info")


def test_text_escapes_control_characters_from_hostile_names() -> None:
    evil = "\x1b[2J\x1b]0;pwned\x07\rOVERWRITE"
    d = diff_reports(report([]), report([finding("a", message=evil)]))
    text = render_diff_text(d)
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text
    assert "OVERWRITE" in text


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe garbage", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"findings": []}', "no schema_version"),
        (b'{"schema_version": "1.0"}', "no findings list"),
        (b'{"schema_version": "1.0", "findings": [7]}', "findings[0]"),
        (b'{"schema_version": "1.0", "findings": [{"fingerprint": "x"}]}', "rule_id"),
        (
            b'{"schema_version": "1.0", "findings": [{"fingerprint": "x", "rule_id": "R",'
            b' "severity": "apocalyptic"}]}',
            "apocalyptic",
        ),
        (b"[" * 100000 + b"]" * 100000, "JSON"),
    ],
)
def test_hostile_report_files_are_format_errors(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    p = tmp_path / "r.json"
    p.write_bytes(content)
    with pytest.raises(FormatError) as exc:
        load_report(p)
    assert needle in str(exc.value)


def test_check_report_rejects_non_bool_waived() -> None:
    with pytest.raises(FormatError, match="waived"):
        check_report(report([finding("a", waived="no")]), "x")


# --------------------------------------------------------------------------- the CLI


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_argv(), "diff", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_cli_diff_text_json_and_fail_on(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(report([finding("a", "low"), finding("gone", "medium")])))
    new.write_text(json.dumps(report([finding("a", "low"), finding("n", "high")])))

    res = _cli(str(old), str(new))
    assert res.returncode == 0, res.stderr
    assert "New findings (1)" in res.stdout and "Resolved findings (1)" in res.stdout

    res = _cli(str(old), str(new), "--format", "json")
    assert res.returncode == 0
    doc = json.loads(res.stdout)
    assert [f["fingerprint"] for f in doc["new"]] == ["n"]
    assert [f["fingerprint"] for f in doc["resolved"]] == ["gone"]
    assert [f["fingerprint"] for f in doc["unchanged"]] == ["a"]

    assert _cli(str(old), str(new), "--fail-on", "high").returncode == 1
    assert _cli(str(old), str(new), "--fail-on", "critical").returncode == 0
    # Already present in OLD: not new, so it does not fail.
    assert _cli(str(new), str(new), "--fail-on", "low").returncode == 0
    res = _cli(str(new), str(new))
    assert res.stdout == "No changes.\n"


def test_cli_diff_bad_input_is_exit_2_without_traceback(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(report([])))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args in ((str(good), str(bad)), (str(tmp_path / "missing.json"), str(good))):
        res = _cli(*args)
        assert res.returncode == 2
        assert "Traceback" not in res.stderr
        assert "exposure-audit: error:" in res.stderr


def test_cli_diff_json_with_non_utf8_process_name(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(report([])))
    # What json.dumps makes of a psutil name decoded with surrogateescape.
    new.write_text(json.dumps(report([finding("a", message="proc \udcff\udcfe")])))
    res = _cli(str(old), str(new), "--format", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["new"][0]["message"] == "proc \udcff\udcfe"
    res = _cli(str(old), str(new))
    assert res.returncode == 0 and "\\udcff" in res.stdout
