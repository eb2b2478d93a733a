"""`exposure-audit upnp` options and the lazy import of requests (no network at all)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.netns import cli_argv


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_argv(), "upnp", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_disabled_by_environment_exits_2_and_sends_nothing() -> None:
    proc = run_cli(env={"EXPOSURE_AUDIT_NO_UPNP": "1"})
    assert proc.returncode == 2
    assert "UPnP is disabled by EXPOSURE_AUDIT_NO_UPNP=1" in proc.stderr
    assert "--igd" in proc.stderr
    assert proc.stdout == ""


def test_no_upnp_flag_exits_2() -> None:
    proc = run_cli("--no-upnp", "--igd", "http://127.0.0.1:9/rootDesc.xml")
    assert proc.returncode == 2
    assert "--no-upnp" in proc.stderr


def test_bad_timeout_is_a_usage_error() -> None:
    for value in ("0", "-1", "nan", "inf", "1000"):
        proc = run_cli("--igd", "http://127.0.0.1:9/", "--upnp-timeout", value)
        assert proc.returncode == 2, value
        assert "--upnp-timeout" in proc.stderr


def test_igd_that_refuses_is_exit_3_with_a_clear_message() -> None:
    # port 9 on loopback: nothing listens (connection refused), with NO_UPNP=1 set:
    # --igd names the one host to ask, so the command proceeds
    proc = run_cli("--igd", "http://127.0.0.1:9/rootDesc.xml", "--upnp-timeout", "1")
    assert proc.returncode == 3, proc.stderr
    assert "connection refused" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_collect_without_upnp_never_imports_requests() -> None:
    code = (
        "import sys\n"
        "from exposure_audit.cli import main\n"
        "rc = main(['collect', '--no-upnp', '-o', '/dev/null'])\n"
        "print(rc, 'requests' in sys.modules, 'defusedxml' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["0", "False", "False"], proc.stderr
