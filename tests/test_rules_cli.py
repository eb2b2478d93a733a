"""``exposure-audit rules list|check``, and broken rules stopping ``run`` with exit 2 and
no report written. In-process through cli.main for the whole corpus; the real installed
binary in subprocesses for a few cases (exit codes as a shell sees them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from netns import cli_argv

from exposure_audit import cli
from exposure_audit.core import resources
from exposure_audit.policy.loader import load_ruleset

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BROKEN = FIXTURES / "rules_broken"
EXPECTED: dict[str, str] = json.loads((BROKEN / "expected.json").read_text(encoding="utf-8"))
FILE_CASES = sorted(k for k in EXPECTED if k.endswith(".toml"))
GOLDEN_FACTS = FIXTURES / "golden" / "laptop_cafe.facts.json"
# A few representative cases for the slower subprocess runs.
SUBPROCESS_CASES = [
    "bad_toml.toml",
    "unknown_key.toml",
    "duplicate_builtin_id.toml",
    "bad_regex.toml",
]

VALID = """
[[rule]]
id = "ACME-T-001"
title = "Thing on port 8123"
severity = "low"
match.port = [8123]
message = "{endpoint}"
remediation = "{fix}"

[[rule]]
id = "ACME-T-002"
title = "Thing on port 8124"
severity = "critical"
match.port = [8124]
message = "{endpoint}"
remediation = "{fix}"
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("EXPOSURE_AUDIT_NO_UPNP", "1")


def broken_dir(tmp_path: Path, name: str, builtin: Path | None = None) -> tuple[Path, str]:
    d = tmp_path / "rules"
    d.mkdir()
    shutil.copy(BROKEN / name, d / name)
    message = (
        EXPECTED[name]
        .replace("{path}", str(d / name))
        .replace("{builtin}", str(builtin or resources.rules_dir()))
    )
    return d, message


def binary_rules_dir(tmp_path: Path) -> Path:
    """The built-in rules directory of the installed binary (inside the wheel when installed
    non-editable, as CI does), which may differ from the checkout this test imports."""
    venv_python = Path(cli_argv()[0]).with_name("python")
    python = str(venv_python) if venv_python.exists() else sys.executable
    out = subprocess.run(
        [python, "-c", "from exposure_audit.core import resources; print(resources.rules_dir())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    return Path(out.stdout.strip())


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_builtin_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_cli(["rules", "list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "SEVERITY", "TITLE"]
    rules = load_ruleset([]).rules
    assert len(lines) == len(rules) + 1
    for rule, line in zip(rules, lines[1:], strict=True):
        assert line.split(None, 2) == [rule.id, rule.severity, rule.title]


def test_list_json_with_user_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "t.toml").write_text(VALID)
    code, out, _ = run_cli(
        ["rules", "list", "--rules", str(tmp_path / "mine"), "--no-builtin-rules", "--json"], capsys
    )
    assert code == 0
    rows = json.loads(out)
    assert [(r["id"], r["severity"], r["title"]) for r in rows] == [
        ("ACME-T-001", "low", "Thing on port 8123"),
        ("ACME-T-002", "critical", "Thing on port 8124"),
    ]


def test_list_without_any_rules_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["rules", "list", "--no-builtin-rules"], capsys)
    assert code == 2
    assert "--no-builtin-rules needs at least one --rules DIR" in err


def test_check_builtin_and_user_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n_builtin = len(load_ruleset([]).rules)
    n_files = len(list(resources.rules_dir().glob("*.toml")))
    code, out, _ = run_cli(["rules", "check", str(resources.rules_dir())], capsys)
    assert (code, out) == (0, f"{n_builtin} rules OK ({n_files} files)\n")
    (tmp_path / "t.toml").write_text(VALID)
    code, out, _ = run_cli(["rules", "check", str(tmp_path / "t.toml")], capsys)
    assert (code, out) == (0, "2 rules OK (1 file)\n")


@pytest.mark.parametrize("name", FILE_CASES)
def test_check_broken_file(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d, message = broken_dir(tmp_path, name)
    code, out, err = run_cli(["rules", "check", str(d)], capsys)
    assert (code, out, err) == (2, "", f"exposure-audit: error: {message}\n")


@pytest.mark.parametrize("name", FILE_CASES)
def test_run_stops_on_broken_rules_and_writes_nothing(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d, message = broken_dir(tmp_path, name)
    report = tmp_path / "report.json"
    code, out, err = run_cli(
        [
            "run",
            "--facts",
            str(GOLDEN_FACTS),
            "--rules",
            str(d),
            "--format",
            "json",
            "-o",
            str(report),
        ],
        capsys,
    )
    assert (code, out, err) == (2, "", f"exposure-audit: error: {message}\n")
    assert not report.exists()
    assert os.listdir(tmp_path) == ["rules"]  # no temporary or partial file either


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_real_binary_exit_codes(name: str, tmp_path: Path) -> None:
    d, message = broken_dir(tmp_path, name, binary_rules_dir(tmp_path))
    env = {**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1", "XDG_CONFIG_HOME": str(tmp_path / "x")}
    check = subprocess.run(
        [*cli_argv(), "rules", "check", str(d)], capture_output=True, text=True, env=env, timeout=60
    )
    assert (check.returncode, check.stderr) == (2, f"exposure-audit: error: {message}\n")
    report = tmp_path / "report.json"
    run = subprocess.run(
        [*cli_argv(), "run", "--no-upnp", "--rules", str(d), "-o", str(report)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == f"exposure-audit: error: {message}\n"
    assert not report.exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[waiver]]\nrule = "EA-DEV-001"\n', "waiver #1 (rule EA-DEV-001): key 'reason': missing"),
        ("[[waivr]]\n", "unknown top-level key 'waivr' (did you mean 'waiver'?)"),
        (None, "config file not found"),
    ],
)
def test_run_stops_on_a_broken_config(
    text: str | None, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    if text is not None:
        config.write_text(text)
    report = tmp_path / "report.json"
    code, out, err = run_cli(
        ["run", "--facts", str(GOLDEN_FACTS), "--config", str(config), "-o", str(report)], capsys
    )
    assert (code, out) == (2, "")
    assert err.startswith(f"exposure-audit: error: {config}: ") and fragment in err
    assert not report.exists()


def test_run_with_user_rules_and_waivers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole path with a user's rules directory and config file, JSON out."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "t.toml").write_text(
        VALID.replace("match.port = [8123]", "match.port = [8765]")
    )
    config = tmp_path / "config.toml"
    config.write_text('[[waiver]]\nrule = "EA-DEV-*"\nport = 8000\nreason = "demo"\n')
    report = tmp_path / "report.json"
    code, _out, err = run_cli(
        [
            "run", "--facts", str(GOLDEN_FACTS), "--rules", str(tmp_path / "mine"),
            "--config", str(config), "--format", "json", "-o", str(report), "--fail-on", "none",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0 and err.startswith(f"exposure-audit: wrote {report} (json, ")
    assert err.count("\n") == 1
    findings = json.loads(report.read_text())["findings"]
    by = {(f["rule_id"], f["listener"]["port"]): f for f in findings if f["listener"]}
    assert by[("ACME-T-001", 8765)]["severity"] == "low"
    assert by[("EA-DEV-001", 8000)]["waived"] is True
    assert by[("EA-DEV-001", 8000)]["waiver_reason"] == "demo"


def test_check_the_repositorys_own_rules_against_an_installed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo_rules = Path(__file__).resolve().parent.parent / "rules"
    # A non-editable install: the built-in rules are a copy elsewhere (site-packages).
    installed = tmp_path / "site-packages" / "rules"
    shutil.copytree(repo_rules, installed)
    monkeypatch.setattr(resources, "rules_dir", lambda: installed)
    assert cli.main(["rules", "check", str(repo_rules)]) == 0
    out = capsys.readouterr().out
    n = len(load_ruleset([], builtin=True).rules)
    assert out.startswith(f"{n} rules OK")

    # An edited copy is checked as it is: a broken edit is still caught.
    edited = tmp_path / "edited"
    shutil.copytree(repo_rules, edited)
    dev = edited / "dev.toml"
    dev.write_text(dev.read_text() + '\n[[rule]]\nid = "EA-DEV-001"\ntitle = "x"\n')
    assert cli.main(["rules", "check", str(edited)]) == 2
    assert "edited/dev.toml: rule EA-DEV-001" in capsys.readouterr().err

    # A user's own file reusing a built-in id still clashes with the built-ins.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "dev.toml").write_text((repo_rules / "dev.toml").read_text())
    assert cli.main(["rules", "check", str(mine)]) == 2
    assert "duplicate rule id" in capsys.readouterr().err
