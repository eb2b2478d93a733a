"""`exposure-audit run` end to end: formats and outputs, exit codes, colour rules,
`--facts` replay that touches nothing, and all-or-nothing atomic writes."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from golden_util import check_golden, normalise_time, validate_report
from netns import cli_argv

from exposure_audit.commands.run import Output, plan_outputs
from exposure_audit.core.errors import UsageError
from exposure_audit.reporting import Format

REPO = Path(__file__).resolve().parent.parent
FIXTURE = "tests/fixtures/facts/upnp_home.json"  # relative: goldens name the file
ENV = {**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1", "COLUMNS": "100"}
ENV.pop("NO_COLOR", None)


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


def _fixture_report(fail_on: str = "high") -> dict[str, Any]:
    res = cli("run", "--facts", FIXTURE, "-f", "json", "--fail-on", fail_on)
    assert res.returncode in (0, 1), res.stderr
    return dict(json.loads(res.stdout))


# --------------------------------------------------------------------------- planning


T, J, H = Format.TERMINAL, Format.JSON, Format.HTML


@pytest.mark.parametrize(
    ("formats", "outputs", "expected", "implicit"),
    [
        ([], [], [(T, "-")], True),
        ([], ["r.json"], [(J, "r.json"), (T, "-")], True),
        (
            [],
            ["r.json", "r.html", "r.txt"],
            [(J, "r.json"), (H, "r.html"), (T, "r.txt"), (T, "-")],
            True,
        ),
        ([], ["r.HTM", "-"], [(H, "r.HTM"), (T, "-")], False),  # "-" alone: terminal
        ([J], [], [(J, "-")], False),
        ([J, H], ["a.html", "b.json"], [(H, "a.html"), (J, "b.json")], False),
        ([J, T], ["a.json"], [(J, "a.json"), (T, "-")], False),
        ([J], ["report.out"], [(J, "report.out")], False),
        ([J], ["report.txt"], [(J, "report.txt")], False),  # --format wins over extension
        ([T, H], ["x.html", "-"], [(H, "x.html"), (T, "-")], False),
    ],
)
def test_plan_outputs(
    formats: list[Format],
    outputs: list[str],
    expected: list[tuple[Format, str]] | None,
    implicit: bool,
) -> None:
    if expected is None:
        with pytest.raises(UsageError):
            plan_outputs(formats, outputs)
        return
    plan, was_implicit = plan_outputs(formats, outputs)
    assert plan == [Output(f, p) for f, p in expected]
    assert was_implicit is implicit


@pytest.mark.parametrize(
    ("formats", "outputs", "message"),
    [
        ([J, H], [], "have no -o"),
        ([], ["report.xyz"], "cannot tell the format"),
        ([J], ["a.json", "b.json"], "no --format left"),
        ([], ["a.json", "./a.json"], "given twice"),
        ([J, T], ["-"], "standard output is taken"),
    ],
)
def test_plan_outputs_usage_errors(formats: list[Format], outputs: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_outputs(formats, outputs)


# --------------------------------------------------------------------------- formats


def test_golden_cli_outputs_from_fixture_facts(tmp_path: Path) -> None:
    """All three formats from fixture Facts through the real exposure resolution; only the
    generation time is normalised. Built-in rules are off so that rule wording changes do
    not churn these files (the findings parts are covered by the renderer goldens)."""
    res = cli(
        "run",
        "--facts",
        FIXTURE,
        "--no-builtin-rules",
        "--no-default-waivers",
        "--no-color",
        "-o",
        str(tmp_path / "r.json"),
        "-o",
        str(tmp_path / "r.html"),
        "-o",
        str(tmp_path / "r.txt"),
    )
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    validate_report(report)
    keep = (report["facts"]["collected_at"],)
    check_golden("cli.upnp_home.json", normalise_time((tmp_path / "r.json").read_text(), keep))
    check_golden("cli.upnp_home.html", normalise_time((tmp_path / "r.html").read_text(), keep))
    check_golden("cli.upnp_home.txt", normalise_time((tmp_path / "r.txt").read_text(), keep))
    # The terminal summary also went to standard output, identical to the .txt file
    # apart from the width (stdout is not a terminal here: 100 columns either way).
    assert normalise_time(res.stdout) == normalise_time((tmp_path / "r.txt").read_text())


def test_json_to_stdout_validates() -> None:
    report = _fixture_report()
    validate_report(report)
    assert report["options"]["facts_file"] == FIXTURE
    assert report["options"]["upnp"] is False


def test_every_format_through_the_cli(tmp_path: Path) -> None:
    for fmt in Format:
        res = cli("run", "--facts", FIXTURE, "-f", fmt.value, "--fail-on", "none")
        assert res.returncode == 0, (fmt, res.stderr)
        assert len(res.stdout) > 100, fmt


@pytest.mark.parametrize("fail_on", ["info", "low", "medium", "high", "critical", "none"])
def test_fail_on(fail_on: str) -> None:
    report = _fixture_report(fail_on)
    res = cli("run", "--facts", FIXTURE, "--quiet", "--fail-on", fail_on)
    from exposure_audit.core.model import SEVERITY_RANK

    worst = report["summary"]["highest_severity"]
    expect = int(
        fail_on != "none" and worst is not None and SEVERITY_RANK[worst] >= SEVERITY_RANK[fail_on]
    )
    assert res.returncode == expect, (res.stdout, res.stderr)


def test_quiet_prints_the_verdict_line_only() -> None:
    res = cli("run", "--facts", FIXTURE, "--quiet")
    assert res.stdout.count("\n") == 1
    assert res.stdout.startswith("HIGH: 3 services on carol-pc are reachable")
    assert res.stderr == ""


def _run_in_pty(args: list[str], env: dict[str, str]) -> str:
    """Run the CLI with its stdout on a pseudo-terminal (a TTY), return what it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*cli_argv(), *args], cwd=REPO, env=env, stdout=follower, stderr=subprocess.PIPE
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_only_on_a_tty_and_never_with_no_color() -> None:
    args = ["run", "--facts", FIXTURE]
    assert "\x1b[" in _run_in_pty(args, ENV)
    assert "\x1b[" not in _run_in_pty(args, {**ENV, "NO_COLOR": "1"})
    assert "\x1b[" not in _run_in_pty([*args, "--no-color"], ENV)
    assert "\x1b[" not in cli(*args).stdout  # a pipe is not a TTY


def test_help_documents_exit_codes() -> None:
    res = cli("run", "--help")
    assert res.returncode == 0
    for line in ("0  no unwaived finding", "1  an unwaived finding", "2  usage", "3  collection"):
        assert line in res.stdout
    assert "--fail-on" in res.stdout and "--template" in res.stdout and "--facts" in res.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["-f", "bogus"],
        ["-o", "report.xyz"],
        ["-f", "json,html"],
        ["--template", "json=x.j2"],
        ["--template", "/nonexistent/x.j2"],
        ["--fail-on", "urgent"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    res = cli("run", "--facts", FIXTURE, *args)
    assert res.returncode == 2, res.stdout
    assert "Traceback" not in res.stderr and res.stderr.strip()
    assert res.stdout == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"schema_version": "9.0", "host": {}}', "not supported"),
        ('{"schema_version": "1.0", "host": 3}', "host"),
    ],
)
def test_broken_facts_file_exit_2(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "facts.json"
    bad.write_text(content)
    res = cli("run", "--facts", str(bad))
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_user_template_through_the_cli(tmp_path: Path) -> None:
    tpl = tmp_path / "brief.txt.j2"
    tpl.write_text("{{ summary.status }} {{ summary.listeners_exposed }}\n")
    res = cli("run", "--facts", FIXTURE, "--template", str(tpl))
    assert res.stdout == "high 3\n"
    html_tpl = tmp_path / "page.j2"
    html_tpl.write_text("<b>{{ report.host.hostname }}</b>")
    out = tmp_path / "p.html"
    res = cli("run", "--facts", FIXTURE, "--template", f"html={html_tpl}", "-o", str(out))
    assert out.read_text() == "<b>carol-pc</b>"


def test_run_help_names_what_a_template_sees_and_it_is_so(tmp_path: Path) -> None:
    help_text = cli("run", "--help").stdout
    assert "{{ report.findings }}" in help_text and "`summary`" in help_text
    tpl = tmp_path / "t.txt.j2"
    tpl.write_text(
        "{{ report.findings | length }} {{ report.host.hostname }} "
        "{{ summary == report.summary }} {{ view is defined }}\n"
    )
    res = cli("run", "--facts", FIXTURE, "--template", str(tpl))
    n = len(json.loads(cli("run", "--facts", FIXTURE, "--format", "json").stdout)["findings"])
    assert res.stdout == f"{n} carol-pc True True\n"


# --------------------------------------------------------------------------- --facts


AUDIT = textwrap.dedent(
    """
    import sys
    events = []
    def hook(event, args):
        if event.startswith(("socket.", "subprocess.", "os.exec", "os.posix_spawn", "os.fork")):
            events.append(event)
        elif event == "open" and isinstance(args[0], str) and args[0].startswith(("/proc", "/sys")):
            # The process's own memory use (templating's render bound) is not the machine.
            if args[0] != "/proc/self/statm":
                events.append(f"open {args[0]}")
    sys.addaudithook(hook)
    from exposure_audit.cli import main
    code = main(sys.argv[1:])
    touched = sorted(m for m in sys.modules
                     if m.startswith("exposure_audit.collectors")
                     or m.split(".")[0] in ("psutil", "netifaces", "requests"))
    sys.stdout.flush()
    print("\\nAUDIT " + repr((code, sorted(set(events)), touched)), file=sys.stderr)
    """
)


def test_facts_run_touches_nothing(tmp_path: Path) -> None:
    """`run --facts` imports no collector, opens no socket, reads nothing under /proc or
    /sys and starts no process: it only reads the file and writes the outputs."""
    out = tmp_path / "r.html"
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            AUDIT,
            "run",
            "--facts",
            FIXTURE,
            "-o",
            str(out),
            "-f",
            "html,terminal",
        ],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("AUDIT ")]
    assert line, res.stderr
    code, events, touched = eval(line[0][len("AUDIT ") :])
    assert code == 1
    assert events == [], f"--facts touched the machine: {events}"
    assert touched == [], f"--facts imported {touched}"
    assert out.stat().st_size > 10_000


def test_replay_reproduces_the_live_run(tmp_path: Path) -> None:
    """A live run's JSON report, fed back with --facts, gives the same exposures and the
    same findings (issue 2: run --facts reproduces the same exposures)."""
    live, replay = tmp_path / "live.json", tmp_path / "replay.json"
    res = cli("run", "--no-upnp", "-f", "json", "-o", str(live), "--fail-on", "none")
    assert res.returncode == 0, res.stderr
    res = cli("run", "--facts", str(live), "-f", "json", "-o", str(replay), "--fail-on", "none")
    assert res.returncode == 0, res.stderr
    a, b = json.loads(live.read_text()), json.loads(replay.read_text())
    validate_report(a)
    validate_report(b)
    assert a["facts"] == b["facts"]
    assert a["exposures"] == b["exposures"]
    assert a["findings"] == b["findings"]
    assert a["summary"] == b["summary"]
    assert b["options"]["facts_file"] == str(live)


# --------------------------------------------------------------------------- atomic writes


def _previous(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "report.json"
    res = cli("run", "--facts", FIXTURE, "-o", str(path))
    assert res.returncode == 1, res.stderr
    return path, path.read_bytes()


def _no_temp_files(directory: Path) -> None:
    leftovers = [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers


@pytest.mark.parametrize("case", ["bad_template", "bad_rule", "unwritable_second_output"])
def test_failed_run_leaves_previous_report_intact(tmp_path: Path, case: str) -> None:
    path, before = _previous(tmp_path)
    args = ["run", "--facts", FIXTURE, "-o", str(path)]
    if case == "bad_template":
        tpl = tmp_path / "bad.html.j2"
        tpl.write_text("{% if %}")
        args += ["-o", str(tmp_path / "r.html"), "--template", str(tpl)]
    elif case == "bad_rule":
        rules = tmp_path / "rules"
        rules.mkdir()
        (rules / "broken.toml").write_text('[[rule]]\nid = "X-1"\nseverity = "urgent"\n')
        args += ["--rules", str(rules)]
    else:
        # The first output is fine, the second cannot be written (no such directory):
        # neither may be replaced.
        args += ["-o", str(tmp_path / "missing" / "r.html")]
    res = cli(*args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "error" in res.stderr
    assert res.stdout == ""  # not even the terminal summary: the run failed
    assert path.read_bytes() == before
    assert not (tmp_path / "r.html").exists()
    _no_temp_files(tmp_path)


def test_output_to_a_directory_or_proc_is_exit_2(tmp_path: Path) -> None:
    for target in (str(tmp_path), "/proc/exposure-audit-report.json"):
        res = cli("run", "--facts", FIXTURE, "-o", target, "-f", "json")
        assert res.returncode == 2, (target, res.stderr)
        assert "cannot write" in res.stderr and "Traceback" not in res.stderr


def test_reader_never_sees_half_a_report(tmp_path: Path) -> None:
    """The report is renamed into place: its inode changes, the old one is never
    truncated (a reader holding it open still reads the old report in full)."""
    path, before = _previous(tmp_path)
    with path.open("rb") as held:
        inode = os.fstat(held.fileno()).st_ino
        res = cli("run", "--facts", FIXTURE, "-o", str(path), "--fail-on", "none")
        assert res.returncode == 0
        assert held.read() == before
    assert path.stat().st_ino != inode
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    _no_temp_files(tmp_path)


def test_facts_run_in_process_under_the_network_guard(tmp_path: Path, capsys: Any) -> None:
    """The same, inside the test process: conftest's guard fails any non-loopback send."""
    from exposure_audit.cli import main

    out = tmp_path / "r.json"
    code = main(["run", "--facts", str(REPO / FIXTURE), "-o", str(out), "--quiet"])
    assert code == 1
    validate_report(json.loads(out.read_text()))
    assert capsys.readouterr().out.startswith("HIGH: 3 services on carol-pc")


def test_each_file_written_is_named_on_stderr(tmp_path: Path) -> None:
    html, js = tmp_path / "report.html", tmp_path / "report.json"
    res = cli("run", "--facts", FIXTURE, "-o", str(html), "-o", str(js))
    assert res.returncode in (0, 1), res.stderr
    kb = round(html.stat().st_size / 1024)
    assert f"exposure-audit: wrote {html} (html, {kb} KB)\n" in res.stderr
    assert f"exposure-audit: wrote {js} (json, " in res.stderr
    assert "wrote" not in res.stdout and res.stdout.startswith("exposure-audit ")  # summary
    # --quiet: nothing on stderr; a format on standard output is not a file written
    res = cli("run", "--facts", FIXTURE, "-o", str(html), "--quiet")
    assert res.stderr == "" and html.exists()
    res = cli("run", "--facts", FIXTURE, "--format", "json", "-o", "-")
    assert "wrote" not in res.stderr


def test_a_live_run_without_probes_says_so_and_a_replay_does_not(tmp_path: Path) -> None:
    """With probing off (here EXPOSURE_AUDIT_NO_PROBE=1, set for the whole suite so it
    never asks this host's services), the terminal says the names are unverified and
    the JSON records probe=false; a --facts replay never probes and adds no note."""
    assert ENV.get("EXPOSURE_AUDIT_NO_PROBE") == "1"
    live = cli("run", "--no-upnp", "--no-color", "--fail-on", "none")
    assert live.returncode == 0, live.stderr
    assert "probes: off: no service was asked what it is" in live.stdout
    doc = cli("run", "--no-upnp", "-f", "json", "--fail-on", "none")
    assert json.loads(doc.stdout)["options"]["probe"] is False
    replay = cli("run", "--facts", FIXTURE, "--no-color", "--fail-on", "none")
    assert replay.returncode == 0, replay.stderr
    assert "probes: off" not in replay.stdout


def test_a_json_file_with_text_that_is_not_utf8_is_valid_json(tmp_path: Path) -> None:
    """-o r.json is encoded into the file as it is written: a process name with bytes
    that were not UTF-8 (a lone surrogate) makes it start over with ASCII escapes; the
    file is the same as the report written to standard output."""
    facts = json.loads(Path(FIXTURE).read_text())
    rows = []
    for i in range(600):  # 600 listeners: the report is written in pieces
        lst = facts["listeners"][i % len(facts["listeners"])]
        rows.append({**lst, "port": 20000 + i, "inode": 90000 + i})
    assert rows[0]["process"] is not None
    rows[0]["process"] = {**rows[0]["process"], "name": "bad\udcff"}
    facts["listeners"] = rows
    many = tmp_path / "facts.json"
    many.write_text(json.dumps(facts), encoding="ascii")
    out = tmp_path / "r.json"
    res = cli("run", "--facts", str(many), "--fail-on", "none", "-o", str(out))
    assert res.returncode == 0, res.stderr
    data = out.read_bytes()
    assert "\\udcff" in data.decode("utf-8")  # valid UTF-8, the surrogate escaped
    assert f"({'json'}, {round(len(data) / 1024)} KB)" in res.stderr
    stdout = cli("run", "--facts", str(many), "--fail-on", "none", "--format", "json", "-o", "-")
    assert stdout.returncode == 0
    # two runs: equal but for when each was generated (they may fall in different seconds)
    from_file, from_stdout = json.loads(data), json.loads(stdout.stdout)
    from_file.pop("generated_at"), from_stdout.pop("generated_at")
    assert from_file == from_stdout
