"""Crontab lines, systemd timers, launchd jobs and Task Scheduler tasks for periodic runs.

The command names the installed executable by absolute path (cron's PATH is
/usr/bin:/bin, which rarely contains a virtualenv or ~/.local/bin), sets a PATH that
includes the sbin directories (nft and iptables live there), and passes --since-last
with an absolute --state-dir, so a run mails (cron) or logs (journal) only what changed.
The minute is derived from the hostname so a fleet does not run all at once.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

from exposure_audit.core import paths, privilege
from exposure_audit.core.atomicio import write_atomic
from exposure_audit.core.errors import UsageError
from exposure_audit.core.records import record

SANE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CRON_MARKER = "# exposure-audit: managed by 'exposure-audit schedule --install'"
UNIT_NAME = "exposure-audit"
MIN_SECONDS = 60
MAX_SECONDS = 31 * 86400
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_EVERY_RE = re.compile(r"^\s*(\d{1,6})\s*(s|m|min|h|d|w)\s*$")


def parse_every(text: str) -> int:
    """``15m``, ``1h``, ``6h``, ``1d``, ``1w`` -> seconds (at least 1 minute)."""
    m = _EVERY_RE.match(text.lower())
    if not m:
        raise UsageError(
            f"--every {text!r}: expected a number and a unit, "
            "e.g. 15m, 1h, 6h, 1d (units: m, h, d, w)"
        )
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds < MIN_SECONDS:
        raise UsageError(f"--every {text!r}: at least 1m (a run takes a few seconds)")
    if seconds > MAX_SECONDS:
        raise UsageError(f"--every {text!r}: at most 31d")
    if seconds % 60:
        raise UsageError(f"--every {text!r}: use whole minutes")
    return seconds


def human(seconds: int) -> str:
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _seed(host: str | None = None) -> int:
    return zlib.crc32((host or socket.gethostname()).encode("utf-8", "replace"))


def cron_schedule(seconds: int, seed: int) -> str:
    """The five cron time fields for ``seconds``; UsageError if cron cannot express it."""
    minutes = seconds // 60
    if minutes < 60:
        if 60 % minutes:
            raise UsageError(
                f"cron cannot run every {minutes}m evenly: use a divisor of 60 minutes "
                "(1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30m), whole hours dividing 24, 1d or 1w, "
                "or --systemd (any interval)"
            )
        if minutes == 1:
            return "* * * * *"
        first = (seed % 60) % minutes
        return f"{','.join(str(x) for x in range(first, 60, minutes))} * * * *"
    minute = seed % 60
    if minutes % 60 == 0 and minutes < 24 * 60:
        hours = minutes // 60
        if 24 % hours:
            raise UsageError(
                f"cron cannot run every {hours}h evenly: use 1, 2, 3, 4, 6, 8 or 12h, "
                "or --systemd (any interval)"
            )
        if hours == 1:
            return f"{minute} * * * *"
        first = (seed >> 8) % hours
        return f"{minute} {','.join(str(x) for x in range(first, 24, hours))} * * *"
    hour = (seed >> 8) % 24
    if minutes == 24 * 60:
        return f"{minute} {hour} * * *"
    if minutes == 7 * 24 * 60:
        return f"{minute} {hour} * * {(seed >> 16) % 7}"
    raise UsageError(
        f"cron cannot run every {human(seconds)} evenly: use 1d or 1w, or --systemd (any interval)"
    )


def _runnable(path: str, windows: bool) -> bool:
    # Windows has no execute bit: an existing file is what CreateProcess can start.
    return os.path.isfile(path) and (windows or os.access(path, os.X_OK))


def _script_names(windows: bool) -> tuple[str, ...]:
    return ("exposure-audit.exe",) if windows else ("exposure-audit",)


def _scripts_dirs() -> list[str]:
    """Where pip puts console scripts for this interpreter (and for ``pip --user``)."""
    import sysconfig

    found = []
    for scheme in (None, f"{os.name}_user", "osx_framework_user"):
        try:
            path = (
                sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
            )
        except KeyError:
            continue
        if path and path not in found:
            found.append(path)
    return found


def resolve_command(
    explicit: str | None = None,
    platform: str | None = None,
    argv0: str | None = None,
    executable: str | None = None,
    scripts_dirs: Sequence[str] | None = None,
) -> list[str]:
    """Absolute argv prefix that runs this exposure-audit from anywhere: ``explicit``
    (--executable); else the console script this process was started as; else the one
    installed with this interpreter (beside it: a venv's ``bin/`` or ``Scripts\\``;
    its ``Scripts\\`` folder: a python.org install on Windows; pip's scripts folders);
    else ``python -m exposure_audit`` with this interpreter's absolute path.

    On Windows the console script is ``exposure-audit.exe``; pip's launcher hands the
    program its own path without ``.exe`` in ``sys.argv[0]``, so that is tried too."""
    windows = privilege.os_family(platform) == "windows"
    if explicit:
        path = shutil.which(explicit) if os.sep not in explicit else explicit
        if not path or not _runnable(path, windows):
            raise UsageError(f"--executable {explicit!r}: not an executable file")
        return [os.path.abspath(path)]
    argv0 = (sys.argv[0] if sys.argv else "") if argv0 is None else argv0
    if os.path.basename(argv0).startswith("exposure-audit"):
        path = os.path.abspath(argv0) if os.sep in argv0 else shutil.which(argv0)
        for candidate in (path, f"{path}.exe" if windows and path else None):
            if candidate and _runnable(candidate, windows):
                return [os.path.abspath(candidate)]
    interpreter = sys.executable if executable is None else executable
    here = os.path.dirname(os.path.abspath(interpreter))
    places = [here, os.path.join(here, "Scripts")] if windows else [here]
    places += _scripts_dirs() if scripts_dirs is None else list(scripts_dirs)
    for place in places:
        for name in _script_names(windows):
            candidate = os.path.join(place, name)
            if _runnable(candidate, windows):
                return [os.path.abspath(candidate)]
    return [os.path.abspath(interpreter), "-m", "exposure_audit"]


def check_writable_text(what: str, value: str) -> None:
    """Refuse a value with a control character (C0, DEL, C1, or a Unicode line or
    paragraph separator) before it is written into a crontab line or a unit file: a
    newline there is an extra crontab line or an extra systemd directive."""
    for ch in value:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
            from exposure_audit.core.termtext import terminal_text

            raise UsageError(
                f"{what} {terminal_text(value, 200)!s} contains the control character "
                f"U+{code:04X}: refusing to write it into a crontab line or unit file"
            )


@record
class Plan:
    seconds: int
    command: tuple[str, ...]  # absolute argv of the scheduled run
    environment: tuple[tuple[str, str], ...]  # set for the run, PATH first
    state_dir: Path


def make_plan(
    every: str,
    state_dir: Path,
    fail_on: str,
    no_upnp: bool,
    extra: Sequence[str] = (),
    executable: str | None = None,
) -> Plan:
    seconds = parse_every(every)
    check_writable_text("--state-dir (or XDG_STATE_HOME)", str(state_dir))
    for arg in extra:
        check_writable_text("an extra run argument", arg)
    command = [
        *resolve_command(executable),
        "run",
        "--since-last",
        "--state-dir",
        str(state_dir),
        "--fail-on",
        fail_on,
    ]
    if no_upnp:
        command.append("--no-upnp")
    command.extend(extra)
    for arg in command:
        check_writable_text("the command", arg)
    env = [("PATH", SANE_PATH)]
    if no_upnp:
        env.append(("EXPOSURE_AUDIT_NO_UPNP", "1"))
    return Plan(seconds, tuple(command), tuple(env), state_dir)


def shell_command(plan: Plan) -> str:
    """The command as /bin/sh reads it (what cron runs)."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in plan.environment)
    return f"{env} {shlex.join(plan.command)}"


def crontab_entry(plan: Plan, seed: int | None = None) -> str:
    """Marker comment and crontab line. ``%`` means newline to cron: escaped."""
    when = cron_schedule(plan.seconds, _seed() if seed is None else seed)
    line = shell_command(plan).replace("%", "\\%")
    return f"{CRON_MARKER}\n{when} {line}\n"


def _systemd_quote(arg: str, exec_line: bool = True) -> str:
    # Specifiers (%) are expanded everywhere, variables ($) in ExecStart= only.
    arg = arg.replace("%", "%%")
    if exec_line:
        arg = arg.replace("$", "$$")
    if arg and re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


SYSTEM_STATE_DIR = Path(paths.LINUX_SYSTEM_STATE_DIR)
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")


def systemd_units(plan: Plan, name: str = UNIT_NAME, system: bool = False) -> dict[str, str]:
    """A oneshot service and its timer; ``system``: for /etc/systemd/system (runs as
    root, waits for the network, lets systemd create /var/lib/exposure-audit)."""
    every = human(plan.seconds)
    unit_extra = "After=network-online.target\nWants=network-online.target\n" if system else ""
    service_extra = ""
    if system and plan.state_dir == SYSTEM_STATE_DIR:
        service_extra = "StateDirectory=exposure-audit\nStateDirectoryMode=0700\n"
    exec_start = " ".join(_systemd_quote(a) for a in plan.command)
    env = "\n".join(
        f"Environment={_systemd_quote(f'{k}={v}', exec_line=False)}" for k, v in plan.environment
    )
    spread = max(1, min(300, plan.seconds // 10))
    service = f"""\
[Unit]
Description=exposure-audit: report services newly reachable from other machines
{unit_extra}
[Service]
Type=oneshot
{env}
ExecStart={exec_start}
{service_extra}Nice=10
# Exit 1 = a new finding at or above --fail-on: the unit shows as failed until the next
# clean run, and OnFailure= hooks can alert on it.
"""
    timer = f"""\
[Unit]
Description=Run exposure-audit every {every}

[Timer]
OnBootSec=5min
OnUnitActiveSec={plan.seconds}s
RandomizedDelaySec={spread}s
AccuracySec=1min
Unit={name}.service

[Install]
WantedBy=timers.target
"""
    return {f"{name}.service": service, f"{name}.timer": timer}


def user_unit_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = (
        Path(xdg)
        if xdg and os.path.isabs(xdg)
        else Path(env.get("HOME") or "~").expanduser() / ".config"
    )
    return base / "systemd" / "user"


def install_systemd(units: dict[str, str], directory: Path | None = None) -> list[Path]:
    directory = directory or user_unit_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {directory}: {exc.strerror or exc}") from None
    written = []
    for fname, text in units.items():
        write_atomic(directory / fname, text, mode=0o644)
        written.append(directory / fname)
    return written


def merge_crontab(current: str, entry: str) -> str:
    """``current`` without any earlier managed entry, plus ``entry``."""
    out: list[str] = []
    skip_next = False
    for line in current.splitlines():
        if skip_next:
            skip_next = False
            continue
        if line.strip() == CRON_MARKER:
            skip_next = True
            continue
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    body = "\n".join(out)
    return (body + "\n" if body else "") + entry


def install_crontab(entry: str) -> None:
    """Replace the managed entry in the invoking user's crontab (``crontab -l``/``-``)."""
    crontab = shutil.which("crontab")
    if not crontab:
        raise UsageError("no 'crontab' command on PATH: install cron, or use --systemd")
    try:
        cur = subprocess.run(
            [crontab, "-l"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"crontab -l failed: {exc}") from None
    if cur.returncode == 0:
        current = cur.stdout
    elif "no crontab" in cur.stderr.lower():
        current = ""
    else:
        raise UsageError(f"crontab -l failed: {cur.stderr.strip() or cur.returncode}")
    new = merge_crontab(current, entry)
    try:
        res = subprocess.run(
            [crontab, "-"], input=new, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"crontab - failed: {exc}") from None
    if res.returncode != 0:
        raise UsageError(f"crontab refused the new table: {res.stderr.strip() or res.returncode}")


# --- macOS: a launchd property list -------------------------------------------------

LAUNCHD_LABEL = "org.exposure-audit.audit"
LAUNCHD_SYSTEM_DIR = Path("/Library/LaunchDaemons")
LAUNCHD_SYSTEM_STATE_DIR = Path(paths.MACOS_SYSTEM_STATE_DIR)
LAUNCHD_SYSTEM_LOG_DIR = Path("/Library/Logs")


def launchd_label(name: str = UNIT_NAME) -> str:
    """``org.exposure-audit.audit`` for the default unit name, else the name as given."""
    return LAUNCHD_LABEL if name == UNIT_NAME else name


def launchd_dir(system: bool = False, env: dict[str, str] | None = None) -> Path:
    """~/Library/LaunchAgents (a user agent), or /Library/LaunchDaemons (``system``)."""
    if system:
        return LAUNCHD_SYSTEM_DIR
    env = dict(os.environ) if env is None else env
    return Path(env.get("HOME") or "~").expanduser() / "Library" / "LaunchAgents"


def _log_dir(system: bool, env: dict[str, str] | None = None) -> Path:
    if system:
        return LAUNCHD_SYSTEM_LOG_DIR
    env = dict(os.environ) if env is None else env
    return Path(env.get("HOME") or "~").expanduser() / "Library" / "Logs"


def _check_strings(what: str, value: object) -> None:
    """check_writable_text on every string in a nested dict/list/tuple."""
    if isinstance(value, str):
        check_writable_text(what, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(what, key)
            _check_strings(f"{what} {key}", item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_strings(what, item)


def launchd_plist(
    plan: Plan,
    name: str = UNIT_NAME,
    system: bool = False,
    env: dict[str, str] | None = None,
) -> bytes:
    """A launchd job (XML property list) running the plan every ``plan.seconds``.

    launchd runs ProgramArguments as an argv (no shell); plistlib escapes the XML.
    Control characters are refused first: XML 1.0 cannot hold most of them, and a
    newline in an argument is not what anyone meant."""
    import plistlib

    label = launchd_label(name)
    logs = _log_dir(system, env)
    job: dict[str, object] = {
        "Label": label,
        "ProgramArguments": list(plan.command),
        "EnvironmentVariables": dict(plan.environment),
        "StartInterval": plan.seconds,
        "RunAtLoad": False,
        "ProcessType": "Background",
        "Nice": 10,
        "StandardOutPath": str(logs / f"{label}.log"),
        "StandardErrorPath": str(logs / f"{label}.err.log"),
    }
    _check_strings("the launchd job's", job)
    return plistlib.dumps(job, fmt=plistlib.FMT_XML, sort_keys=False)


def launchctl_steps(path: Path, name: str = UNIT_NAME, system: bool = False) -> list[str]:
    """The commands that (re)load the job at ``path``; printed, never run here."""
    label = launchd_label(name)
    domain = "system" if system else f"gui/{os.getuid() if hasattr(os, 'getuid') else '$UID'}"
    sudo = "sudo " if system else ""
    return [
        f"{sudo}launchctl bootout {domain}/{label} 2>/dev/null   # only if loaded before",
        f"{sudo}launchctl bootstrap {domain} {shlex.quote(str(path))}",
    ]


def install_file(directory: Path, fname: str, data: str | bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``directory/fname`` atomically, creating ``directory``."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {directory}: {exc.strerror or exc}") from None
    write_atomic(directory / fname, data, mode=mode)
    return directory / fname


# --- Windows: a Task Scheduler task (XML, schema 1.2) -------------------------------

TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def iso_duration(seconds: int) -> str:
    """Whole minutes as an ISO 8601 duration: 900 -> PT15M, 5400 -> PT1H30M, 86400 -> P1D."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def windows_quote(arg: str) -> str:
    """One argument as CommandLineToArgvW (and the MS C runtime) reads it back: quoted
    when empty or holding a space, tab or quote; inside quotes, backslashes are doubled
    only before a quote or the closing quote, and a quote is backslash-escaped."""
    if arg and not any(c in arg for c in ' \t\n\v"'):
        return arg
    out = ['"']
    backslashes = 0
    for ch in arg:
        if ch == "\\":
            backslashes += 1
            continue
        if ch == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + ch)
        backslashes = 0
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


def windows_cmdline(argv: Sequence[str]) -> str:
    return " ".join(windows_quote(a) for a in argv)


def check_task_text(what: str, value: str) -> None:
    """check_writable_text, and no ``%``: Task Scheduler expands %VARIABLE% in a
    task's command and arguments, and has no way to escape it."""
    check_writable_text(what, value)
    if "%" in value:
        from exposure_audit.core.termtext import terminal_text

        raise UsageError(
            f"{what} {terminal_text(value, 200)!s} contains '%': Task Scheduler would "
            "expand %VARIABLE% in it (no escape exists); put the value in the config file"
        )


def schtasks_xml(
    plan: Plan,
    name: str = UNIT_NAME,
    system: bool = False,
    seed: int | None = None,
    encoding: str = "UTF-16",
) -> bytes:
    """A Task Scheduler task running the plan every ``plan.seconds``, as
    ``schtasks /Create /XML`` reads it (UTF-16 with a byte order mark by default, as
    Task Scheduler exports). ``system``: runs as SYSTEM with the highest privileges;
    otherwise as the registering user, only while logged on, least privilege."""
    import xml.etree.ElementTree as ET

    for arg in plan.command:
        check_task_text("the command", arg)
    check_writable_text("the task name", name)
    ET.register_namespace("", TASK_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        el = ET.SubElement(parent, f"{{{TASK_NS}}}{tag}")
        if text is not None:
            el.text = text
        return el

    task = ET.Element(f"{{{TASK_NS}}}Task", {"version": "1.2"})
    info = sub(task, "RegistrationInfo")
    sub(info, "Description", "exposure-audit: report services newly reachable from other machines")
    sub(info, "URI", f"\\{name}")
    trigger = sub(sub(task, "Triggers"), "TimeTrigger")
    repetition = sub(trigger, "Repetition")
    sub(repetition, "Interval", iso_duration(plan.seconds))
    sub(repetition, "StopAtDurationEnd", "false")
    # A start in the past at a per-host minute: the fleet does not run all at once.
    minute = (_seed() if seed is None else seed) % 60
    sub(trigger, "StartBoundary", f"2000-01-01T00:{minute:02d}:00")
    sub(trigger, "Enabled", "true")
    principal = sub(sub(task, "Principals"), "Principal", None)
    principal.set("id", "Author")
    if system:
        sub(principal, "UserId", "S-1-5-18")  # LocalSystem
        sub(principal, "RunLevel", "HighestAvailable")
    else:
        sub(principal, "LogonType", "InteractiveToken")
        sub(principal, "RunLevel", "LeastPrivilege")
    settings = sub(task, "Settings")
    sub(settings, "MultipleInstancesPolicy", "IgnoreNew")
    sub(settings, "DisallowStartIfOnBatteries", "false")
    sub(settings, "StopIfGoingOnBatteries", "false")
    sub(settings, "StartWhenAvailable", "true")
    sub(settings, "ExecutionTimeLimit", iso_duration(min(plan.seconds, 3600)))
    sub(settings, "Enabled", "true")
    sub(settings, "Priority", "7")
    actions = sub(task, "Actions")
    actions.set("Context", "Author")
    action = sub(actions, "Exec")
    sub(action, "Command", plan.command[0])
    sub(action, "Arguments", windows_cmdline(plan.command[1:]))
    ET.indent(task)
    text = ET.tostring(task, encoding="unicode")
    # The "utf-16" codec writes the byte order mark schtasks expects.
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{text}\n'.encode(encoding)


def schtasks_steps(path: Path, name: str = UNIT_NAME) -> list[str]:
    """The command that registers the task from ``path``; printed, never run here."""
    return [f"schtasks /Create /XML {windows_quote(str(path))} /TN {name} /F"]
