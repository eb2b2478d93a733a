"""schedule.py and `exposure-audit schedule`: crontab lines, systemd units, launchd jobs,
Task Scheduler tasks, --install.

Cron-environment runs of the generated line are in test_exit_codes.py (they need `run`).
"""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from netns import cli_argv

from exposure_audit.automation.schedule import (
    CRON_MARKER,
    LAUNCHD_LABEL,
    SANE_PATH,
    Plan,
    cron_schedule,
    crontab_entry,
    iso_duration,
    launchd_plist,
    merge_crontab,
    parse_every,
    schtasks_xml,
    systemd_units,
    windows_cmdline,
)
from exposure_audit.core.errors import UsageError


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_argv(), "schedule", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h", 3600), ("90min", 5400), ("1d", 86400), ("1w", 604800), (" 2H ", 7200)],
)
def test_parse_every(text: str, seconds: int) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "30s", "0m", "-1h", "1.5h", "90s", "32d", "1y"])
def test_parse_every_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--every"):
        parse_every(text)


def test_cron_schedules() -> None:
    seed = 7 + 60 * 4 * 8 * 6 * 109  # seed % 60 == 7
    assert cron_schedule(60, seed) == "* * * * *"
    assert cron_schedule(900, seed) == "7,22,37,52 * * * *"
    assert cron_schedule(3600, seed) == "7 * * * *"
    hour = (seed >> 8) % 24
    assert cron_schedule(86400, seed) == f"7 {hour} * * *"
    assert cron_schedule(7 * 86400, seed) == f"7 {hour} * * {(seed >> 16) % 7}"
    six = cron_schedule(6 * 3600, seed).split()[1].split(",")
    assert len(six) == 4 and {int(h) % 6 for h in six} == {int(six[0])}
    for bad in (7 * 60, 90 * 60, 5 * 3600, 2 * 86400):
        with pytest.raises(UsageError, match="--systemd"):
            cron_schedule(bad, seed)


def _plan(*extra: str) -> Plan:
    return Plan(
        3600,
        ("/opt/ea/bin/exposure-audit", "run", "--since-last", *extra),
        (("PATH", SANE_PATH), ("EXPOSURE_AUDIT_NO_UPNP", "1")),
        Path("/var/lib/ea"),
    )


def test_crontab_entry_escapes_percent_and_quotes() -> None:
    entry = crontab_entry(_plan("--webhook", "https://h/x?a=1%20b&c=$(id)"), seed=3)
    marker, line = entry.splitlines()
    assert marker == CRON_MARKER
    assert line.startswith("3 * * * * PATH=/usr/local/sbin:")
    assert "\\%20" in line  # cron turns a bare % into a newline
    assert "'https://h/x?a=1\\%20b&c=$(id)'" in line  # single-quoted: no $(id) expansion


def test_merge_crontab_replaces_only_our_entry() -> None:
    mine = "MAILTO=me@example.org\n0 3 * * * /usr/bin/backup\n"
    once = merge_crontab(mine, crontab_entry(_plan(), seed=1))
    twice = merge_crontab(once, crontab_entry(_plan("--keep", "5"), seed=1))
    assert twice.startswith(mine)
    assert twice.count(CRON_MARKER) == 1 and "--keep 5" in twice
    assert twice.count("\n") == mine.count("\n") + 2


def test_systemd_units_quote_specifiers_and_variables() -> None:
    units = systemd_units(_plan("--webhook", "https://h/%i/$HOME x"))
    service = units["exposure-audit.service"]
    assert (
        'ExecStart=/opt/ea/bin/exposure-audit run --since-last --webhook "https://h/%%i/$$HOME x"'
        in service
    )
    assert f"Environment=PATH={SANE_PATH}" in service
    assert "OnUnitActiveSec=3600s" in units["exposure-audit.timer"]


def _split_units(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("# --- "):
            current = line[6:]
            out[current] = []
        elif line.startswith("# Install"):
            current = None
        elif current:
            out[current].append(line)
    return {k: "\n".join(v) + "\n" for k, v in out.items()}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize(("every", "system"), [("15m", False), ("90m", False), ("1d", True)])
def test_systemd_units_verify(tmp_path: Path, every: str, system: bool) -> None:
    where = ["--system"] if system else ["--state-dir", str(tmp_path)]
    res = _cli("--every", every, "--systemd", "--unit-name", "eac-verify", *where)
    assert res.returncode == 0, res.stderr
    units = _split_units(res.stdout)
    assert set(units) == {"eac-verify.service", "eac-verify.timer"}
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    exec_line = next(
        x for x in units["eac-verify.service"].splitlines() if x.startswith("ExecStart=")
    )
    assert exec_line.split()[0].removeprefix("ExecStart=").startswith("/")
    check = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in units)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "eac-verify" not in check.stderr, check.stderr  # no warning about our units
    if system:
        assert "StateDirectory=exposure-audit" in units["eac-verify.service"]
        assert "--state-dir /var/lib/exposure-audit" in exec_line


def test_cli_prints_absolute_command_and_no_upnp(tmp_path: Path) -> None:
    env = dict(os.environ, EXPOSURE_AUDIT_NO_UPNP="1")
    res = _cli("--every", "1h", "--state-dir", "rel/dir", env=env)
    assert res.returncode == 0, res.stderr
    line = res.stdout.splitlines()[1]
    fields = line.split()
    assert fields[5].startswith("PATH=") and "/usr/sbin" in fields[5]
    exe = fields[7]
    assert os.path.isabs(exe) and os.access(exe, os.X_OK)
    assert "--since-last" in fields and "--no-upnp" in fields
    state = fields[fields.index("--state-dir") + 1]
    assert os.path.isabs(state) and state.endswith("rel/dir")


def test_cli_rejects_bad_interval_with_exit_2() -> None:
    res = _cli("--every", "7m")
    assert res.returncode == 2 and "--systemd" in res.stderr and "Traceback" not in res.stderr


FAKE_CRONTAB = """#!/bin/sh
# Stand-in for crontab(1): the real one would edit root's real crontab on this machine.
if [ "$1" = "-l" ]; then
  if [ -f "$FAKE_CRONTAB_FILE" ]; then cat "$FAKE_CRONTAB_FILE"; exit 0; fi
  echo "no crontab for $(id -un)" >&2; exit 1
fi
if [ "$1" = "-" ]; then cat > "$FAKE_CRONTAB_FILE"; exit 0; fi
exit 2
"""


def test_install_crontab_via_crontab_protocol(tmp_path: Path) -> None:
    """A fake `crontab` first on PATH (the test says so: installing into this machine's
    real root crontab is not acceptable); it speaks crontab -l / crontab - like the real one."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "crontab"
    fake.write_text(FAKE_CRONTAB)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    table = tmp_path / "table"
    env = dict(
        os.environ,
        PATH=f"{bindir}:{os.environ['PATH']}",
        FAKE_CRONTAB_FILE=str(table),
        EXPOSURE_AUDIT_NO_UPNP="1",
    )
    res = _cli("--every", "1h", "--install", "--state-dir", str(tmp_path / "s"), env=env)
    assert res.returncode == 0, res.stderr
    assert table.read_text().count(CRON_MARKER) == 1
    table.write_text("MAILTO=x\n" + table.read_text())
    res = _cli("--every", "15m", "--install", "--state-dir", str(tmp_path / "s"), env=env)
    assert res.returncode == 0, res.stderr
    text = table.read_text()
    assert text.startswith("MAILTO=x\n") and text.count(CRON_MARKER) == 1
    assert text.splitlines()[-1].split()[0].count(",") == 3  # the 15m line replaced the 1h one


def test_install_systemd_writes_user_units_under_home(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path), EXPOSURE_AUDIT_NO_UPNP="1")
    env.pop("XDG_CONFIG_HOME", None)
    res = _cli("--every", "1h", "--systemd", "--install", env=env)
    assert res.returncode == 0, res.stderr
    unit_dir = tmp_path / ".config" / "systemd" / "user"
    assert sorted(p.name for p in unit_dir.iterdir()) == [
        "exposure-audit.service",
        "exposure-audit.timer",
    ]
    assert "systemctl --user enable --now exposure-audit.timer" in res.stdout
    # The state dir default follows the HOME the schedule was made with.
    assert (
        str(tmp_path / ".local/state/exposure-audit")
        in (unit_dir / "exposure-audit.service").read_text()
    )


# --- launchd ---------------------------------------------------------------------


def test_launchd_plist_holds_the_job_and_round_trips() -> None:
    plan = _plan("--webhook", "https://h/</string><string>x&y")
    data = launchd_plist(plan, env={"HOME": "/Users/ann"})
    job = plistlib.loads(data)
    assert job["Label"] == LAUNCHD_LABEL
    assert job["ProgramArguments"] == list(plan.command)  # the escaped value, intact
    assert job["StartInterval"] == 3600 and job["RunAtLoad"] is False
    assert job["EnvironmentVariables"] == {"PATH": SANE_PATH, "EXPOSURE_AUDIT_NO_UPNP": "1"}
    assert job["StandardOutPath"] == f"/Users/ann/Library/Logs/{LAUNCHD_LABEL}.log"
    assert job["StandardErrorPath"] == f"/Users/ann/Library/Logs/{LAUNCHD_LABEL}.err.log"
    assert b"</string><string>x" not in data  # escaped, not a second array element
    # What plutil -lint checks: it is a well-formed plist that reads back to itself.
    assert plistlib.dumps(job, sort_keys=False) == data
    system = plistlib.loads(launchd_plist(plan, "org.example.ea", system=True))
    assert system["Label"] == "org.example.ea"
    assert system["StandardOutPath"] == "/Library/Logs/org.example.ea.log"


@pytest.mark.parametrize("hostile", ["a\nb", "a\x00b", "a\rb", "a\x85b", "a\u2028b", "a\x1bb"])
def test_launchd_plist_refuses_control_characters(hostile: str) -> None:
    with pytest.raises(UsageError, match="control character"):
        launchd_plist(_plan("--webhook", hostile))
    with pytest.raises(UsageError, match="control character"):
        launchd_plist(_plan(), env={"HOME": f"/Users/{hostile}"})


def test_cli_launchd_prints_only_the_plist_on_stdout(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path), EXPOSURE_AUDIT_NO_UPNP="1")
    res = _cli("--every", "90m", "--launchd", "--", "--webhook", "https://h/x?a=1&b=<2>", env=env)
    assert res.returncode == 0, res.stderr
    job = plistlib.loads(res.stdout.encode())
    argv = job["ProgramArguments"]
    assert os.path.isabs(argv[0]) and argv[1:3] == ["run", "--since-last"]
    assert argv[-2:] == ["--webhook", "https://h/x?a=1&b=<2>"] and "--no-upnp" in argv
    assert job["StartInterval"] == 5400
    # The job runs on macOS: macOS's default state directory, under the HOME given.
    state = tmp_path / "Library/Application Support/exposure-audit"
    assert argv[argv.index("--state-dir") + 1] == str(state)
    assert "launchctl bootstrap gui/" in res.stderr
    assert not (tmp_path / "Library").exists()  # nothing written without --install


def test_cli_launchd_system_defaults_and_refusals(tmp_path: Path) -> None:
    res = _cli("--every", "1h", "--launchd", "--system")
    assert res.returncode == 0, res.stderr
    argv = plistlib.loads(res.stdout.encode())["ProgramArguments"]
    assert argv[argv.index("--state-dir") + 1] == "/Library/Application Support/exposure-audit"
    assert "sudo launchctl bootstrap system /Library/LaunchDaemons/" in res.stderr
    res = _cli("--every", "1h", "--launchd", "--state-dir", "/tmp/a\nb")
    assert res.returncode == 2 and "control character" in res.stderr
    assert _cli("--every", "1h", "--launchd", "--systemd").returncode == 2
    if os.uname().sysname != "Darwin":
        res = _cli("--every", "1h", "--launchd", "--system", "--install")
        assert res.returncode == 2 and "only on macOS" in res.stderr


def test_install_launchd_writes_a_user_agent_and_prints_launchctl(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path), EXPOSURE_AUDIT_NO_UPNP="1")
    res = _cli("--every", "1h", "--launchd", "--install", env=env)
    assert res.returncode == 0, res.stderr
    path = tmp_path / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    assert plistlib.loads(path.read_bytes())["StartInterval"] == 3600
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert f"launchctl bootstrap gui/{os.getuid()} {path}" in res.stdout
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left


# --- Task Scheduler ----------------------------------------------------------------

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def command_line_to_argv(line: str) -> list[str]:
    """The documented rules of CommandLineToArgvW / the MS C runtime for arguments after
    the program name: whitespace outside quotes separates; 2n backslashes before a quote
    are n backslashes and the quote toggles quoting; 2n+1 are n and a literal quote;
    backslashes not before a quote are literal; "" inside quotes is a literal quote."""
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        cur: list[str] = []
        quoted = False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                count = j - i
                if j < n and line[j] == '"':
                    cur.append("\\" * (count // 2))
                    if count % 2:
                        cur.append('"')
                        j += 1
                else:
                    cur.append("\\" * count)
                i = j
            elif line[i] == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    cur.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            else:
                cur.append(line[i])
                i += 1
        args.append("".join(cur))


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["a", "b c", ""], 'a "b c" ""'),
        (['x\\"y'], '"x\\\\\\"y"'),  # backslashes before a quote doubled, plus one
        (["tail\\ q\\"], '"tail\\ q\\\\"'),  # inside quotes only before the closing one
        (["C:\\dir\\"], "C:\\dir\\"),  # no quoting needed: backslashes stay as they are
        (['a"b'], '"a\\"b"'),
    ],
)
def test_windows_cmdline_quoting(argv: list[str], line: str) -> None:
    assert windows_cmdline(argv) == line
    assert command_line_to_argv(line) == argv


_ARG = st.text(alphabet=st.sampled_from(list('ab \\"\t&<>^|é')), max_size=12)


@given(st.lists(_ARG, min_size=1, max_size=5))
def test_windows_cmdline_round_trips(argv: list[str]) -> None:
    assert command_line_to_argv(windows_cmdline(argv)) == argv


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(60, "PT1M"), (900, "PT15M"), (3600, "PT1H"), (5400, "PT1H30M"), (86400, "P1D"),
     (90000, "P1DT1H"), (7 * 86400, "P7D"), (31 * 86400, "P31D")],
)  # fmt: skip
def test_iso_duration(seconds: int, text: str) -> None:
    assert iso_duration(seconds) == text


def _task(data: bytes) -> ET.Element:
    return ET.fromstring(data)


def test_schtasks_xml_is_a_task_with_the_interval_and_argv() -> None:
    plan = Plan(
        5400,
        ("C:\\Program Files\\ea\\exposure-audit.exe", "run", "--webhook", 'a b"c\\', "<&>"),
        (("PATH", SANE_PATH),),
        Path("/x"),
    )
    data = schtasks_xml(plan, seed=67)
    assert data.startswith(b"\xff\xfe")  # UTF-16 with a byte order mark, as schtasks exports
    task = _task(data)
    assert task.tag == f"{{{NS['t']}}}Task" and task.get("version") == "1.2"
    trig = task.find("t:Triggers/t:TimeTrigger", NS)
    assert trig is not None
    assert trig.findtext("t:Repetition/t:Interval", namespaces=NS) == "PT1H30M"
    assert trig.findtext("t:StartBoundary", namespaces=NS) == "2000-01-01T00:07:00"
    assert task.findtext("t:Principals/t:Principal/t:RunLevel", namespaces=NS) == "LeastPrivilege"
    assert task.find("t:Principals/t:Principal/t:UserId", NS) is None
    settings = task.find("t:Settings", NS)
    assert settings is not None
    assert settings.findtext("t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert settings.findtext("t:ExecutionTimeLimit", namespaces=NS) == "PT1H"
    command = task.findtext("t:Actions/t:Exec/t:Command", namespaces=NS)
    arguments = task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS)
    assert command == plan.command[0]
    assert arguments is not None and command_line_to_argv(arguments) == list(plan.command[1:])
    assert b"<&>" not in data and "&lt;&amp;&gt;".encode("utf-16-le") in data
    system = _task(schtasks_xml(plan, system=True, encoding="utf-8"))
    principal = system.find("t:Principals/t:Principal", NS)
    assert principal is not None
    assert principal.findtext("t:UserId", namespaces=NS) == "S-1-5-18"
    assert principal.findtext("t:RunLevel", namespaces=NS) == "HighestAvailable"


@pytest.mark.parametrize("hostile", ["a\nb", "a\x00b", "a\rb", "a\x85b", "a\u2028b", "%PATH%"])
def test_schtasks_xml_refuses_control_characters_and_percent(hostile: str) -> None:
    with pytest.raises(UsageError, match=r"control character|Task Scheduler would expand"):
        schtasks_xml(_plan("--webhook", hostile))


def test_cli_schtasks_prints_the_task_and_installs_it_in_cwd(tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path), EXPOSURE_AUDIT_NO_UPNP="1")
    res = subprocess.run(
        [*cli_argv(), "schedule", "--every", "6h", "--schtasks", "--", "--webhook", "a b"],
        capture_output=True, text=True, timeout=60, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    task = _task(res.stdout.encode())
    interval = task.findtext("t:Triggers/t:TimeTrigger/t:Repetition/t:Interval", namespaces=NS)
    assert interval == "PT6H"
    arguments = task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS) or ""
    argv = command_line_to_argv(arguments)
    assert argv[:2] == ["run", "--since-last"] and argv[-2:] == ["--webhook", "a b"]
    assert "schtasks /Create /XML" in res.stderr and not list(tmp_path.glob("*.xml"))
    res = subprocess.run(
        [*cli_argv(), "schedule", "--every", "6h", "--schtasks", "--system", "--install"],
        capture_output=True, text=True, timeout=60, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    path = tmp_path / "exposure-audit.xml"
    task = _task(path.read_bytes())
    arguments = task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS) or ""
    argv = command_line_to_argv(arguments)
    assert argv[argv.index("--state-dir") + 1].endswith("\\exposure-audit")
    assert f"schtasks /Create /XML {path} /TN exposure-audit /F" in res.stdout
    res = _cli("--every", "1h", "--schtasks", "--", "--webhook", "https://h/a%20b", env=env)
    assert res.returncode == 2 and "Task Scheduler would expand" in res.stderr
