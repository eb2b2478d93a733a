"""Hostile input files: each is exit 2 and one clear line, never "internal error".

Deeply nested TOML, integers of more than 4,300 digits in --facts / diff / --baseline, a
corrupt stored report under --since-last, templates that overflow, recurse or allocate
without bound, and a default config path that cannot be read.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from netns import cli_argv

REPO = Path(__file__).resolve().parent.parent
FIXTURE = str(REPO / "tests/fixtures/facts/upnp_home.json")
ENV = {**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1", "COLUMNS": "100", "NO_COLOR": "1"}


def cli(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_argv(), *args],
        cwd=REPO,
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def one_line_error(res: subprocess.CompletedProcess, code: int = 2) -> str:
    assert res.returncode == code, (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "internal error" not in lines[0] and "Traceback" not in res.stderr
    return lines[0]


def huge_int_json(tmp_path: Path) -> Path:
    doc = json.loads(Path(FIXTURE).read_text())
    text = json.dumps(doc).replace('"listeners": [', '"x": ' + "9" * 5000 + ', "listeners": [', 1)
    path = tmp_path / "huge.json"
    path.write_text(text)
    return path


def test_huge_integers_in_facts_diff_and_baseline(tmp_path: Path) -> None:
    huge = str(huge_int_json(tmp_path))
    for args in (
        ("run", "--facts", huge),
        ("diff", huge, huge),
        ("run", "--facts", FIXTURE, "--baseline", huge),
    ):
        assert "4300 digits" in one_line_error(cli(*args)), args


def test_deeply_nested_toml(tmp_path: Path) -> None:
    deep = "a = " + "[" * 3000 + "]" * 3000 + "\n"
    (tmp_path / "config.toml").write_text(deep)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.toml").write_text(deep)
    res = cli("run", "--facts", FIXTURE, "--config", str(tmp_path / "config.toml"))
    assert "nested too deeply" in one_line_error(res)
    res = cli("run", "--facts", FIXTURE, "--rules", str(tmp_path / "rules"))
    assert "nested too deeply" in one_line_error(res)
    res = cli("rules", "check", str(tmp_path / "rules"))
    assert res.returncode == 2 and "internal error" not in res.stderr


def test_a_corrupt_stored_report_is_skipped_with_a_warning(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ("run", "--facts", FIXTURE, "--since-last", "--state-dir", str(state), "-q")
    assert cli(*args).returncode in (0, 1)
    [stored] = sorted((state / "reports").iterdir())
    stored.write_text(stored.read_text().replace("{", '{"x": ' + "9" * 5000 + ",", 1))
    res = cli(*args)
    assert res.returncode in (0, 1), res.stderr
    assert "skipping unreadable stored report" in res.stderr and "4300 digits" in res.stderr
    # ... and the next run compares with the good one written just now.
    res = cli(*args)
    assert res.returncode in (0, 1) and res.stderr == ""
    assert res.stdout == ""  # nothing changed since the good one


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("{% for i in range(10**9) %}{% endfor %}", "MAX_RANGE"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion too deep"),
        ('{{ "x" * 10**10 }}', "repetition"),
        ("{{ (range(100000)|list) * 1000 }}", "repetition"),
        ("{{ 10**100000000 }}", "power"),
        ("{{ 1e308 * 10 }}{{ 2.0 ** 10000 }}", "out of range"),
        ('{{ "x"|center(10**10) }}', "width"),
        ('{{ "%1000000000s"|format(1) }}', "width"),
        ('{{ "%*s" % (10**9, "x") }}', "width"),
        ('{{ "{:>1000000000}".format(1) }}', "width"),
        ('{% for i in range(100000) %}{{ "y" * 10000 }}{% endfor %}', "output larger than"),
    ],
)
def test_templates_are_bounded(tmp_path: Path, source: str, why: str) -> None:
    tpl = tmp_path / "t.txt.j2"
    tpl.write_text(source)
    res = cli("run", "--facts", FIXTURE, "--template", f"terminal={tpl}")
    assert why in one_line_error(res)
    assert res.stdout == ""


def test_default_config_behind_an_unreadable_home_is_absent(tmp_path: Path) -> None:
    """Run as another user with HOME=/root: the default config cannot even be looked
    for; before, that crashed the run."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = {**ENV, "HOME": str(home), "XDG_CONFIG_HOME": ""}
    if os.geteuid() == 0:
        res = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             *cli_argv(), "run", "--facts", FIXTURE, "-q"],
            cwd="/", env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    else:
        home.chmod(0)
        res = cli("run", "--facts", FIXTURE, "-q", env=env)
    assert res.returncode in (0, 1), res.stderr
    assert "error" not in res.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own a file as another user")
def test_default_config_of_another_user_is_refused(tmp_path: Path) -> None:
    """Root with another user's HOME (sudo -E): that user's waivers would hide what
    they expose."""
    cfg = tmp_path / "home" / ".config" / "exposure-audit"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('[[waiver]]\nrule = "*"\nreason = "mine"\n')
    os.chown(cfg / "config.toml", 65534, 65534)
    env = {**ENV, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": ""}
    res = cli("run", "--facts", FIXTURE, "-q", env=env)
    assert "belongs to uid 65534" in one_line_error(res)


# --------------------------------------------------------------------------- stdout


def _closed_stdout(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_argv(), *args], cwd=REPO, env=ENV, stdout=None, stderr=subprocess.PIPE,
        text=True, timeout=60, pass_fds=(), close_fds=True,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip


def test_closed_stdout_costs_only_stdout(tmp_path: Path) -> None:
    """cron with >&-: before, "internal error", exit 3, and history, webhook and metrics
    skipped. Now the files, the history and the metrics are written, and exit 2 with
    one line says stdout was lost."""
    prom, state = tmp_path / "m.prom", tmp_path / "state"
    res = _closed_stdout(
        "run", "--facts", FIXTURE, "-q", "-o", str(prom), "--state-dir", str(state)
    )  # fmt: skip
    assert "cannot write standard output: it is closed" in one_line_error(res)
    assert "exposure_audit_last_run_success 1" in prom.read_text()
    assert len(list((state / "reports").iterdir())) == 1
    # With nothing to print (--since-last, nothing changed) a closed stdout is no error.
    res = _closed_stdout("run", "--facts", FIXTURE, "--since-last", "--state-dir", str(state))
    assert res.returncode in (0, 1) and res.stderr == "", res.stderr
    for args in (("rules", "list"), ("diff", FIXTURE, FIXTURE)):
        res = _closed_stdout(*args)
        assert res.returncode == 2 and "internal error" not in res.stderr, res.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_stdout_on_a_full_device(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    with open("/dev/full", "w") as full:
        res = subprocess.run(
            [*cli_argv(), "run", "--facts", FIXTURE, "-q", "-o", str(out)],
            cwd=REPO, env=ENV, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    assert "No space left on device" in one_line_error(res)
    assert json.loads(out.read_text())["schema_version"]


def test_every_failed_run_writes_last_run_success_0(tmp_path: Path) -> None:
    prom = tmp_path / "m.prom"
    assert cli("run", "--facts", FIXTURE, "-o", str(prom)).returncode in (0, 1)
    assert "exposure_audit_last_run_success 1" in prom.read_text()
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    failures = [
        ("--facts", str(huge_int_json(tmp_path))),  # unreadable input
        ("--facts", FIXTURE, "--state-dir", str(shared)),  # unsafe state directory
        ("--facts", FIXTURE, "-o", str(tmp_path / "missing" / "r.json")),  # an output
    ]
    for args in failures:
        assert cli("run", "--facts", FIXTURE, "-o", str(prom)).returncode in (0, 1)
        res = cli("run", *args, "-o", str(prom))
        assert res.returncode == 2, (args, res.stderr)
        assert "exposure_audit_last_run_success 0" in prom.read_text(), args


# --------------------------------------------------------------------------- escaping

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_one_escaping_function_covers_controls_and_every_bidi_control() -> None:
    from exposure_audit.core.termtext import terminal_text

    evil = "a\x1b[31m\x9b1m\x07\x7f\r\n" + BIDI + "\u2028\ud800z"
    shown = terminal_text(evil)
    assert shown.isprintable() and "\x1b" not in shown
    for ch in BIDI:
        assert f"\\u{ord(ch):04x}" in shown
    assert "\\x9b" in shown and "\\x0d" in shown and "\\u2028" in shown
    cut = terminal_text("x" * 240_000, 100)
    assert cut == "x" * 100 + "... [239900 more characters]"


def test_diff_escapes_a_crafted_reports_rule_id(tmp_path: Path) -> None:
    """Before: rule_id reached the terminal raw (an escape sequence, a bidi override)."""
    doc = json.loads(cli("run", "--facts", FIXTURE, "-f", "json", "-o", "-").stdout)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**doc, "findings": []}))
    doc["findings"][0]["rule_id"] = "EA\x1b]0;pwned\x07\x1b[2J\u202eX\u061c"
    new = tmp_path / "new.json"
    new.write_text(json.dumps(doc))
    res = cli("diff", str(old), str(new))
    assert res.returncode in (0, 1), res.stderr
    assert "\x1b" not in res.stdout and "\u202e" not in res.stdout and "\u061c" not in res.stdout
    assert "EA\\x1b]0;pwned\\x07\\x1b[2J\\u202eX\\u061c" in res.stdout


def test_terminal_summary_and_prometheus_escape_u061c(tmp_path: Path) -> None:
    doc = json.loads(Path(FIXTURE).read_text())
    for proc in doc.get("processes") or []:
        proc["name"] = "py\u061cthon\u202e"
    for lst in doc["listeners"]:
        if isinstance(lst.get("process"), dict):
            lst["process"]["name"] = "py\u061cthon\u202e"
    facts = tmp_path / "f.json"
    facts.write_text(json.dumps(doc))
    prom = tmp_path / "m.prom"
    res = cli("run", "--facts", str(facts), "-o", str(prom))
    assert res.returncode in (0, 1), res.stderr
    assert "\u061c" not in res.stdout and "\u202e" not in res.stdout
    text = prom.read_text()
    assert "\u061c" not in text and "\u202e" not in text
    assert 'process="py\\\\u061cthon\\\\u202e"' in text  # unambiguous, not \\x61c


def test_port_cuts_a_huge_command_line() -> None:
    from exposure_audit.commands.port import clean

    shown = clean("python3 " + "A" * 240_000)
    assert len(shown) < 2100 and shown.endswith("more characters]")


# --------------------------------------------------------------------------- schedule


@pytest.mark.parametrize("evil", ["/tmp/s\n* * * * * root rm -rf /", "/tmp/s\rx", "/tmp/\x85s"])
def test_schedule_refuses_control_characters(tmp_path: Path, evil: str) -> None:
    """Before: a newline in --state-dir or XDG_STATE_HOME wrote an extra crontab line
    or an extra systemd directive."""
    for extra in ((), ("--systemd",)):
        res = cli("schedule", "--every", "1h", "--state-dir", evil, *extra)
        assert "control character" in one_line_error(res)
        assert res.stdout == ""
        env = {**ENV, "XDG_STATE_HOME": evil}
        res = cli("schedule", "--every", "1h", *extra, env=env)
        assert "control character" in one_line_error(res)


def test_schedule_quotes_by_each_formats_rules(tmp_path: Path) -> None:
    odd = "/tmp/a b'%$\"\\x"
    res = cli("schedule", "--every", "1h", "--state-dir", odd)
    assert res.returncode == 0, res.stderr
    [line] = [ln for ln in res.stdout.splitlines() if ln and not ln.startswith("#")]
    assert "\\%" in line and "'/tmp/a b'" in line
    res = cli("schedule", "--every", "1h", "--systemd", "--state-dir", odd)
    assert res.returncode == 0, res.stderr
    [exec_start] = [ln for ln in res.stdout.splitlines() if ln.startswith("ExecStart=")]
    assert '"/tmp/a b\'%%$$\\"\\\\x"' in exec_start
