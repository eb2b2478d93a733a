"""`exposure-audit upnp` options and the lazy import of requests (no network at all)."""

from __future__ import annotations

import os
import subprocess
import sys

from netns import cli_argv

# The tests' guard variable removed: only for commands sent to loopback.
UPNP_ALLOWED = {"EXPOSURE_AUDIT_NO_UPNP": "0"}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_argv(), "upnp", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_disabled_by_environment_exits_2_and_sends_nothing() -> None:
    """Even to a router named with --igd: the switch is absolute, as for run/collect.
    (A listener on loopback would see the request; none arrives.)"""
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        srv.settimeout(0.5)
        url = f"http://127.0.0.1:{srv.getsockname()[1]}/rootDesc.xml"
        for args in ((), ("--igd", url)):
            proc = run_cli(*args, env={"EXPOSURE_AUDIT_NO_UPNP": "1"})
            assert proc.returncode == 2
            assert "UPnP is disabled by EXPOSURE_AUDIT_NO_UPNP=1" in proc.stderr
            assert proc.stdout == ""
        try:
            conn, _ = srv.accept()
        except TimeoutError:
            pass
        else:
            conn.close()
            raise AssertionError("the router was contacted despite EXPOSURE_AUDIT_NO_UPNP=1")


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
    # port 9 on loopback: nothing listens (connection refused); UPnP allowed for this run
    proc = run_cli(
        "--igd", "http://127.0.0.1:9/rootDesc.xml", "--upnp-timeout", "1", env=UPNP_ALLOWED
    )
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
