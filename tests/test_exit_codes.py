"""Exit codes through the real CLI on fixture Facts: findings x waivers x --fail-on, the
cron mode (--since-last), the run lock, webhook delivery, and the generated crontab line
run in cron's minimal environment.

0  no unwaived finding at or above --fail-on (with --since-last: no *new* one)
1  there is one
2  usage, configuration or input-file error
4  --webhook-strict and the webhook was not delivered
5  another run held the state directory's lock past --lock-timeout
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from netns import cli_argv, wait_for

from exposure_audit.core.model import (
    Address,
    Facts,
    HostInfo,
    Interface,
    Listener,
    ProcessInfo,
    UpnpFacts,
)
from exposure_audit.core.serialize import to_jsonable

HOST = HostInfo("eac-host", "Linux", "Debian", "6.1", True, 0, "0.1.0", "3.11")
LO = Interface(
    "lo",
    True,
    "loopback",
    (Address("127.0.0.1", 8, "ipv4", "loopback", "127.0.0.0/8"),),
    index=1,
)
LAN = Interface(
    "eth0",
    True,
    "physical",
    (Address("192.168.7.10", 24, "ipv4", "lan", "192.168.7.0/24"),),
    index=2,
)


def _listener(port: int, address: str = "0.0.0.0", name: str = "python3") -> Listener:
    return Listener(
        "tcp",
        "ipv4",
        address,
        port,
        uid=1000,
        process=ProcessInfo(pid=4000 + port, name=name, cmdline=(name,), uid=1000),
    )


def write_facts(path: Path, *listeners: Listener) -> Path:
    facts = Facts(
        host=HOST,
        collected_at="2026-11-27T12:00:00Z",
        interfaces=(LO, LAN),
        listeners=tuple(listeners),
        upnp=UpnpFacts(status="disabled"),
    )
    path.write_text(json.dumps(to_jsonable(facts)))
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    env = dict(os.environ if env is None else env)
    env.setdefault("EXPOSURE_AUDIT_NO_UPNP", "1")
    env.setdefault("XDG_CONFIG_HOME", "/nonexistent-eac")  # no user config file
    return subprocess.run(
        [*cli_argv(), "run", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def _report(res: Any) -> dict[str, Any]:
    return json.loads(res.stdout)


@pytest.fixture
def facts(tmp_path: Path) -> dict[str, Path]:
    return {
        "none": write_facts(tmp_path / "none.json", _listener(8000, "127.0.0.1")),
        "dev": write_facts(tmp_path / "dev.json", _listener(8000)),  # EA-DEV-001, high
    }


def _config(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(body)
    return p


WAIVE_DEV = """
[[waiver]]
rule = "EA-DEV-*"
port = 8000
reason = "demo box"
"""
EXPIRED_DEV = WAIVE_DEV + "expires = 2001-01-01\n"


def _severities(res: Any) -> set[str]:
    return {f["severity"] for f in _report(res)["findings"] if not f["waived"]}


def test_fixture_findings_are_what_the_matrix_assumes(facts: dict[str, Path]) -> None:
    res = run_cli("--facts", str(facts["none"]), "--format", "json", "--fail-on", "none")
    assert res.returncode == 0, res.stderr
    assert _report(res)["findings"] == []
    res = run_cli("--facts", str(facts["dev"]), "--format", "json", "--fail-on", "none")
    assert res.returncode == 0, res.stderr
    assert _severities(res) == {"high"}


@pytest.mark.parametrize(
    ("which", "waiver", "fail_on", "code"),
    [
        ("none", None, "info", 0),
        ("none", None, None, 0),
        ("dev", None, None, 1),  # default --fail-on is high
        ("dev", None, "high", 1),
        ("dev", None, "medium", 1),
        ("dev", None, "info", 1),
        ("dev", None, "critical", 0),
        ("dev", None, "none", 0),
        ("dev", WAIVE_DEV, "high", 0),
        ("dev", WAIVE_DEV, "info", 0),
        ("dev", EXPIRED_DEV, "high", 1),  # an expired waiver stops hiding its finding
    ],
)
def test_exit_code_matrix(
    tmp_path: Path,
    facts: dict[str, Path],
    which: str,
    waiver: str | None,
    fail_on: str | None,
    code: int,
) -> None:
    args = ["--facts", str(facts[which]), "--format", "json"]
    if fail_on:
        args += ["--fail-on", fail_on]
    if waiver:
        args += ["--config", str(_config(tmp_path, waiver))]
    res = run_cli(*args)
    assert res.returncode == code, (res.stdout[-2000:], res.stderr)
    assert "Traceback" not in res.stderr
    _report(res)  # the report is written whatever the exit code


@pytest.mark.parametrize(
    "args",
    [
        ["--fail-on", "apocalyptic"],
        ["--facts", "/nonexistent/facts.json"],
        ["--facts", "GARBAGE"],
        ["--config", "BROKEN"],
        ["--since-last", "--baseline", "X"],
        ["--baseline", "/nonexistent/report.json"],
        ["--keep", "0"],
        ["--webhook", "ftp://x/"],
        ["--webhook-changes-only", "--webhook", "http://127.0.0.1:9/"],
    ],
)
def test_usage_and_input_errors_exit_2(
    tmp_path: Path, facts: dict[str, Path], args: list[str]
) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"host": 5}')
    broken = _config(tmp_path, "[[waiver]]\nrule = 5\n")
    args = [str(garbage) if a == "GARBAGE" else str(broken) if a == "BROKEN" else a for a in args]
    if "--facts" not in args:
        args = ["--facts", str(facts["dev"]), *args]
    state = tmp_path / "state"
    res = run_cli(*args, "--state-dir", str(state))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "error" in res.stderr
    # Nothing was stored for a run that did not happen.
    assert not list(state.glob("reports/report-*.json"))


def test_since_last_exit_codes_consider_only_new_findings(
    tmp_path: Path, facts: dict[str, Path]
) -> None:
    state = ["--state-dir", str(tmp_path / "state"), "--since-last"]
    first = run_cli("--facts", str(facts["dev"]), *state)
    assert first.returncode == 1, first.stderr  # first run: the high finding is new
    assert "EA-DEV-001" in first.stdout
    again = run_cli("--facts", str(facts["dev"]), *state)
    assert (again.returncode, again.stdout) == (0, ""), again.stderr  # cron: silent
    strict = run_cli("--facts", str(facts["dev"]), *state, "--fail-on-existing")
    assert (strict.returncode, strict.stdout) == (1, "")
    gone = run_cli("--facts", str(facts["none"]), *state)
    assert gone.returncode == 0 and "Resolved findings (1)" in gone.stdout
    back = run_cli("--facts", str(facts["dev"]), *state, "--fail-on", "critical")
    assert back.returncode == 0 and "New findings (1)" in back.stdout


def test_webhook_down_keeps_the_exit_code_unless_strict(
    tmp_path: Path, facts: dict[str, Path]
) -> None:
    url = "http://127.0.0.1:9/hook?token=SECRET"  # discard port: nothing listens
    start = time.monotonic()
    res = run_cli("--facts", str(facts["dev"]), "--format", "json", "--webhook", url)
    assert res.returncode == 1 and _report(res)["findings"]
    assert "webhook not delivered" in res.stderr and "SECRET" not in res.stderr
    res = run_cli("--facts", str(facts["none"]), "--webhook", url, "--webhook-strict")
    assert res.returncode == 4
    assert time.monotonic() - start < 30


def _stored(state: Path) -> list[Path]:
    return sorted((state / "reports").glob("report-*.json"))


def test_parallel_runs_one_state_dir(tmp_path: Path, facts: dict[str, Path]) -> None:
    """Started together, with room to wait: all succeed, one after the other."""
    state = tmp_path / "state"
    argv = [*cli_argv(), "run", "--facts", str(facts["dev"]), "--since-last"]
    env = dict(os.environ, EXPOSURE_AUDIT_NO_UPNP="1", XDG_CONFIG_HOME="/nonexistent-eac")
    procs = [
        subprocess.Popen(
            [*argv, "--state-dir", str(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 0, 0, 1], results  # exactly one saw the finding as new
    stored = _stored(state)
    assert len(stored) == 4
    for p in stored:
        json.loads(p.read_text())
    assert not list((state / "reports").glob(".*"))


def test_overlapping_run_gets_one_clear_message(tmp_path: Path, facts: dict[str, Path]) -> None:
    """The first run holds the lock while it reads its Facts from a FIFO that the test
    has not written yet; the second waits --lock-timeout, then exits 5 naming it; the
    first then finishes and its report is whole."""
    state = tmp_path / "state"
    fifo = tmp_path / "facts.fifo"
    os.mkfifo(fifo)
    env = dict(os.environ, EXPOSURE_AUDIT_NO_UPNP="1", XDG_CONFIG_HOME="/nonexistent-eac")
    argv = [*cli_argv(), "run", "--facts", str(fifo), "--since-last", "--state-dir", str(state)]
    first = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lock = state / "lock"
    try:
        assert wait_for(
            lambda: lock.exists() and lock.read_text().startswith(f"{first.pid} "), timeout=30
        )
        start = time.monotonic()
        second = run_cli(
            "--facts", str(facts["dev"]), "--since-last", "--state-dir", str(state),
            "--lock-timeout", "0.5",
        )  # fmt: skip
        assert time.monotonic() - start < 10
        assert second.returncode == 5, second.stderr
        assert f"pid {first.pid}" in second.stderr and "--lock-timeout" in second.stderr
        assert second.stderr.count("\n") == 1 and second.stdout == ""
    finally:
        # Unblocks the first run (also after a failure above). Non-blocking open: if the
        # first run is gone, there is no reader and this fails instead of hanging.
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "wb") as fh:
            fh.write(facts["dev"].read_bytes())
    _out, err = first.communicate(timeout=60)
    assert first.returncode == 1, err
    stored = _stored(state)
    assert len(stored) == 1 and json.loads(stored[0].read_text())["findings"]


def _cron_command(line: str) -> str:
    """What cron hands to /bin/sh: the line after the five time fields, \\% -> %."""
    fields = line.split(None, 5)
    return fields[5].replace("\\%", "%")


def test_generated_crontab_line_works_in_cron_environment(
    tmp_path: Path, facts: dict[str, Path]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    state = tmp_path / "state"
    gen = subprocess.run(
        [
            *cli_argv(),
            "schedule",
            "--every",
            "1h",
            "--no-upnp",
            "--state-dir",
            str(state),
            "--",
            "--facts",
            str(facts["dev"]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = gen.stdout.splitlines()[1]
    cron_env = ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={home}", "SHELL=/bin/sh", "LOGNAME=root"]
    cmd = _cron_command(line)
    first = subprocess.run([*cron_env, "sh", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert first.returncode == 1, first.stderr  # a new high finding: cron mails it
    assert "EA-DEV-001" in first.stdout and first.stderr == ""
    second = subprocess.run(
        [*cron_env, "sh", "-c", cmd], capture_output=True, text=True, timeout=60
    )
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")  # no mail
    assert len(_stored(state)) == 2


def test_generated_crontab_line_collects_for_real_in_cron_environment(tmp_path: Path) -> None:
    """No --facts: real collection on this host, UPnP off, with cron's bare PATH."""
    state = tmp_path / "state"
    gen = subprocess.run(
        [*cli_argv(), "schedule", "--every", "15m", "--no-upnp", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    cmd = _cron_command(gen.stdout.splitlines()[1])
    assert "--no-upnp" in shlex.split(cmd)
    res = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={tmp_path}", "SHELL=/bin/sh", "sh", "-c", cmd],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode in (0, 1), res.stderr
    assert "Traceback" not in res.stderr
    stored = _stored(state)
    assert len(stored) == 1
    report = json.loads(stored[0].read_text())
    assert report["facts"]["upnp"]["status"] == "disabled"
    assert report["facts"]["listeners"]  # it saw this host's sockets


def test_a_command_module_that_fails_to_import_is_an_error_not_a_missing_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from exposure_audit import cli

    # A command listed but absent from the package: once silently dropped from --help.
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "ghost"))
    assert cli.main(["--help"]) == 3
    err = capsys.readouterr().err
    assert "'ghost' command cannot be loaded" in err and "reinstall" in err
    assert "Traceback" not in err

    # A command whose own imports break (a missing dependency): the same, with the cause.
    real_import = cli.importlib.import_module

    def broken(name: str, package: str | None = None) -> object:
        if name == "exposure_audit.commands.diff":
            raise ImportError("No module named 'jinja2'")
        return real_import(name, package)

    monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS[:-1])
    monkeypatch.setattr(cli.importlib, "import_module", broken)
    assert cli.main(["diff", "a.json", "b.json"]) == 3
    err = capsys.readouterr().err
    assert "'diff' command cannot be loaded (ImportError: No module named 'jinja2')" in err
