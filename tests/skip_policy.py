"""Skips must not hide tests: a pytest plugin (registered by conftest.py).

- Every run ends with one "skipped: N" line, and when N > 0 the reasons, grouped.
- Under CI (environment variable CI=true, as GitHub Actions, GitLab CI and most others
  set it; .ci/run sets it too) every skipped test fails the session (exit 1) and is
  listed, unless it is marked ``@pytest.mark.allow_skip_in_ci(reason="...")``: a skip
  that depends on the moment (a pid wrap-around, a port someone else holds), not on the
  machine lacking root, namespaces or installed software that CI is meant to have.

A module skipped as a whole (``pytest.importorskip`` or ``pytest.skip(allow_module_level
=True)``) counts like a skipped test and cannot be allowed.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import pytest

MARKER = "allow_skip_in_ci"


def ci_enabled(env: dict[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get("CI", "")
    return value.strip().lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class Skip:
    nodeid: str
    reason: str
    allowed_because: str | None  # the allow_skip_in_ci reason, if the test has one


_skips: list[Skip] = []


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        text = str(longrepr)
    return text.removeprefix("Skipped: ").strip() or "(no reason given)"


def _allowed(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return None
    reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
    return str(reason).strip() or None  # a bare marker without a reason allows nothing


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(reason): this test may skip under CI=true (the skip depends on the "
        "moment, not on missing root/namespaces/software); the reason is required",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.append(Skip(item.nodeid, _reason(report), _allowed(item)))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped:
        _skips.append(Skip(report.nodeid, _reason(report), None))


def _not_allowed() -> list[Skip]:
    return [s for s in _skips if s.allowed_because is None] if ci_enabled() else []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _not_allowed() and session.exitstatus in (
        pytest.ExitCode.OK,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    tr = terminalreporter
    bad = _not_allowed()
    if bad:
        tr.write_sep("=", f"CI=true: {len(bad)} skipped test(s) that CI must run", red=True)
        for s in bad:
            tr.write_line(f"SKIPPED IN CI {s.nodeid}: {s.reason}")
        tr.write_line(
            f"(a skip that depends on the moment, not on this machine's set-up, may be "
            f"marked @pytest.mark.{MARKER}(reason=...))"
        )
    if not _skips:
        tr.write_line("skipped: 0")
        return
    groups = Counter((s.reason, s.allowed_because) for s in _skips)
    tr.write_line(f"skipped: {len(_skips)} — reasons:")
    for (reason, allowed), n in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0][0])):
        note = f"  [allowed in CI: {allowed}]" if allowed else ""
        tr.write_line(f"  {n:4} × {reason}{note}")
