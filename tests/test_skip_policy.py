"""tests/skip_policy.py, run for real: pytest in a subprocess on a tiny suite with skips,
with and without CI=true; the exit code and the end-of-run summary are checked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SUITE = {
    "test_a.py": """
        import pytest

        def test_passes():
            pass

        @pytest.mark.skipif(True, reason="needs root to create network namespaces")
        def test_needs_root():
            pass

        def test_skips_at_run_time():
            pytest.skip("needs miniupnpd")

        @pytest.mark.allow_skip_in_ci(reason="depends on the moment")
        def test_may_skip():
            pytest.skip("port 1 is busy")

        @pytest.mark.xfail(reason="known bug")
        def test_xfail():
            assert False
    """,
    "test_b.py": """
        import pytest

        pytest.importorskip("no_such_module_for_the_skip_policy_test")
    """,
}


def run(tmp_path: Path, ci: str | None, *files: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in files:
        (tmp_path / name).write_text(textwrap.dedent(SUITE[name]))
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(REPO)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.skip_policy", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_ci_skips_pass_and_are_summarised(tmp_path: Path) -> None:
    res = run(tmp_path, None, "test_a.py", "test_b.py")
    assert res.returncode == 0, res.stdout
    assert "skipped: 4 — reasons:" in res.stdout
    assert "1 × needs root to create network namespaces" in res.stdout
    assert "1 × needs miniupnpd" in res.stdout
    assert "1 × port 1 is busy  [allowed in CI: depends on the moment]" in res.stdout
    assert "no_such_module_for_the_skip_policy_test" in res.stdout
    assert "SKIPPED IN CI" not in res.stdout
    assert "known bug" not in res.stdout.split("skipped: 4")[1]  # an xfail is not a skip


def test_ci_fails_on_every_skip_not_allowed(tmp_path: Path) -> None:
    res = run(tmp_path, "true", "test_a.py", "test_b.py")
    assert res.returncode == 1, res.stdout
    assert "CI=true: 3 skipped test(s) that CI must run" in res.stdout
    listed = [line for line in res.stdout.splitlines() if line.startswith("SKIPPED IN CI ")]
    assert len(listed) == 3, res.stdout
    assert any("test_a.py::test_needs_root: needs root" in line for line in listed)
    assert any("test_a.py::test_skips_at_run_time: needs miniupnpd" in line for line in listed)
    assert any(line.startswith("SKIPPED IN CI test_b.py") for line in listed)
    assert not any("test_may_skip" in line for line in listed)
    assert "skipped: 4 — reasons:" in res.stdout


def test_ci_passes_when_only_allowed_tests_skip(tmp_path: Path) -> None:
    (tmp_path / "test_c.py").write_text(
        textwrap.dedent(
            """
            import pytest

            def test_passes():
                pass

            @pytest.mark.allow_skip_in_ci(reason="depends on the moment")
            def test_may_skip():
                pytest.skip("port 1 is busy")

            @pytest.mark.allow_skip_in_ci  # no reason: allows nothing
            def test_bare_marker():
                pytest.skip("needs chromium")
            """
        )
    )
    res = run(tmp_path, "true")
    assert res.returncode == 1, res.stdout
    assert "SKIPPED IN CI test_c.py::test_bare_marker: needs chromium" in res.stdout
    (tmp_path / "test_c.py").write_text(
        (tmp_path / "test_c.py").read_text().split("@pytest.mark.allow_skip_in_ci  #")[0]
    )
    res = run(tmp_path, "true")
    assert res.returncode == 0, res.stdout
    assert "skipped: 1 — reasons:" in res.stdout


def test_no_skips_still_says_so(tmp_path: Path) -> None:
    (tmp_path / "test_d.py").write_text("def test_ok():\n    pass\n")
    for ci in (None, "true"):
        res = run(tmp_path, ci)
        assert res.returncode == 0, res.stdout
        assert "skipped: 0" in res.stdout
