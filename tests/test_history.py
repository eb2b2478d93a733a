"""history.py: the state directory, retention and the cron-mode decisions."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
from test_diff import finding, report

from exposure_audit.automation.history import (
    DEFAULT_KEEP,
    CronOptions,
    History,
    apply_history_and_delivery,
    cron_session,
    default_state_dir,
    previous_report,
)
from exposure_audit.commands.cron import add_cron_options, cron_options
from exposure_audit.core.errors import UsageError


def _args(*argv: str) -> CronOptions:
    p = argparse.ArgumentParser()
    add_cron_options(p)
    return cron_options(p.parse_args(list(argv)))


def test_default_state_dir_follows_xdg() -> None:
    assert default_state_dir({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}) == Path(
        "/x/state/exposure-audit"
    )
    # The XDG spec says a relative value is invalid and must be ignored.
    assert default_state_dir({"XDG_STATE_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.local/state/exposure-audit"
    )
    assert default_state_dir({"HOME": "/h"}) == Path("/h/.local/state/exposure-audit")


def test_save_orders_by_sequence_even_if_the_clock_goes_back(tmp_path: Path) -> None:
    h = History(tmp_path / "state")
    h.ensure()
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    first = h.save(report([finding("a")]), now=2_000_000_000)
    second = h.save(report([finding("b")]), now=1_000_000_000)  # clock jumped back
    assert h.report_paths() == [first, second]
    assert second.stat().st_mode & 0o777 == 0o600
    prev = h.previous()
    assert prev is not None and prev[0] == second
    assert prev[1]["findings"][0]["fingerprint"] == "b"
    assert not list(h.reports.glob(".*.tmp"))


def test_prune_keeps_the_newest_and_removes_stale_temp_files(tmp_path: Path) -> None:
    h = History(tmp_path)
    h.ensure()
    saved = [h.save(report([finding(str(i))])) for i in range(7)]
    (h.reports / ".report-0000000099-x.json.abc.tmp").write_text("half")
    (h.reports / "notes.txt").write_text("mine")  # not ours: left alone
    removed = h.prune(3)
    assert removed == saved[:4]
    assert h.report_paths() == saved[4:]
    assert not list(h.reports.glob(".*.tmp"))
    assert (h.reports / "notes.txt").exists()


def test_previous_skips_a_corrupt_report_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = History(tmp_path)
    h.ensure()
    good = h.save(report([finding("a")]))
    bad = h.save(report([]))
    bad.write_text('{"truncated": ')
    prev = h.previous()
    assert prev is not None and prev[0] == good
    assert "skipping unreadable stored report" in capsys.readouterr().err


def _finish(state: Path, findings: list[dict], *extra: str, fail_on: str | None = "high"):
    args = _args("--since-last", "--state-dir", str(state), *extra)
    return apply_history_and_delivery(args, report(findings), fail_on)


def test_since_last_cron_semantics(tmp_path: Path) -> None:
    state = tmp_path / "s"
    # First run: no baseline, everything is new and fails.
    out = _finish(state, [finding("a", "high")])
    assert out.diff is not None and out.diff.no_baseline
    assert out.exit_code == 1 and "every finding is listed as new" in (out.stdout_text or "")
    # Nothing new: prints nothing, exit 0 although a high finding is still there.
    out = _finish(state, [finding("a", "high")])
    assert out.stdout_text == "" and out.exit_code == 0
    # ... unless --fail-on-existing asks to count it.
    out = _finish(state, [finding("a", "high")], "--fail-on-existing")
    assert out.stdout_text == "" and out.exit_code == 1
    # A new low finding: printed, but below --fail-on.
    out = _finish(state, [finding("a", "high"), finding("b", "low")])
    assert "EA-DEV-001" in (out.stdout_text or "") and out.exit_code == 0
    assert [f["fingerprint"] for f in out.diff.new] == ["b"]  # type: ignore[union-attr]
    # "a" goes away: resolved is printed, exit 0.
    out = _finish(state, [finding("b", "low")])
    assert "Resolved findings (1)" in (out.stdout_text or "") and out.exit_code == 0
    # A new waived high finding does not fail.
    out = _finish(state, [finding("b", "low"), finding("w", "critical", waived=True)])
    assert out.exit_code == 0
    assert len(History(state).report_paths()) == 6


def test_keep_bounds_the_state_directory(tmp_path: Path) -> None:
    for i in range(5):
        _finish(tmp_path, [finding(str(i))], "--keep", "2")
    assert len(History(tmp_path).report_paths()) == 2
    assert DEFAULT_KEEP >= 10


def test_json_stdout_format_prints_the_diff_document(tmp_path: Path) -> None:
    args = _args("--since-last", "--state-dir", str(tmp_path))
    out = apply_history_and_delivery(args, report([finding("a")]), "high", stdout_format="json")
    doc = json.loads(out.stdout_text or "")
    assert doc["summary"]["new"] == 1
    out = apply_history_and_delivery(args, report([finding("a")]), "high", stdout_format="json")
    assert out.stdout_text == ""  # nothing changed: nothing printed, in JSON mode too


def test_plain_run_keeps_no_history_and_uses_all_findings(tmp_path: Path) -> None:
    out = apply_history_and_delivery(_args(), report([finding("a", "high")]), "high")
    assert out.diff is None and out.stdout_text is None and out.saved is None
    assert out.exit_code == 1
    out = apply_history_and_delivery(_args(), report([finding("a", "high")]), None)
    assert out.exit_code == 0


def test_state_dir_alone_stores_without_comparing(tmp_path: Path) -> None:
    out = apply_history_and_delivery(
        _args("--state-dir", str(tmp_path)), report([finding("a")]), "high"
    )
    assert out.diff is None and out.saved is not None and out.saved.exists()


def test_baseline_file(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    base.write_text(json.dumps(report([finding("a", "critical")])))
    args = _args("--baseline", str(base))
    out = apply_history_and_delivery(args, report([finding("a", "critical")]), "high")
    assert out.exit_code == 0 and out.stdout_text == "" and out.saved is None
    out = apply_history_and_delivery(args, report([finding("z", "critical")]), "high")
    assert out.exit_code == 1
    assert [f["fingerprint"] for f in out.diff.resolved] == ["a"]  # type: ignore[union-attr]


def test_option_conflicts_are_usage_errors(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    base.write_text(json.dumps(report([])))
    with pytest.raises(UsageError, match="not both"):
        with cron_session(_args("--since-last", "--baseline", str(base))):
            pass
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="state directory"):
        with cron_session(_args("--since-last", "--state-dir", str(blocker / "x"))):
            pass


def test_unsafe_state_directories_are_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UsageError, match="world-writable"):
        History(shared).ensure()
    mine = tmp_path / "mine"
    mine.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (mine / "reports").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="symlink"):
        History(mine).ensure()
    if os.geteuid() == 0:  # only root can give a directory away
        other = tmp_path / "other"
        other.mkdir()
        os.chown(other, 65534, 65534)
        with pytest.raises(UsageError, match="belongs to uid 65534"):
            History(other).ensure()
    # A symlinked state directory itself is fine when its target is ours.
    link = tmp_path / "link"
    link.symlink_to(mine / "real", target_is_directory=True)
    (mine / "real").mkdir()
    History(link).ensure()


def test_schema_major_change_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.json"
    old = report([finding("a")])
    old["schema_version"] = "0.9"
    base.write_text(json.dumps(old))
    apply_history_and_delivery(_args("--baseline", str(base)), report([finding("a")]), "high")
    assert "schema 0.9" in capsys.readouterr().err
    old["schema_version"] = "1.7"
    base.write_text(json.dumps(old))
    apply_history_and_delivery(_args("--baseline", str(base)), report([finding("a")]), "high")
    assert capsys.readouterr().err == ""
    # Report 2.0 changed only the embedded facts: a 1.x baseline compares without a word.
    new = report([finding("a")])
    new["schema_version"] = "2.0"
    apply_history_and_delivery(_args("--baseline", str(base)), new, "high")
    assert capsys.readouterr().err == ""
    new["schema_version"] = "3.0"
    apply_history_and_delivery(_args("--baseline", str(base)), new, "high")
    assert "schema 1.7, this one 3.0" in capsys.readouterr().err


def test_previous_report(tmp_path: Path) -> None:
    assert previous_report(tmp_path / "none") is None
    h = History(tmp_path)
    h.ensure()
    h.save(report([finding("x")]))
    prev = previous_report(tmp_path)
    assert prev is not None and prev["findings"][0]["fingerprint"] == "x"
