"""The config file's [defaults] fail_on sets the exit threshold; --fail-on overrides it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from netns import cli_argv

LAPTOP = Path(__file__).parent / "fixtures" / "facts" / "laptop_cafe.json"  # one high finding


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_argv(), "run", "--facts", str(LAPTOP), "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("config_fail_on", "flag", "expected"),
    [
        (None, [], 1),  # built-in default: high
        ("critical", [], 0),  # the config raises the bar
        ("critical", ["--fail-on", "high"], 1),  # the flag wins
        ("low", ["--fail-on", "none"], 0),
    ],
)
def test_fail_on_from_config(
    tmp_path: Path, config_fail_on: str | None, flag: list[str], expected: int
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[defaults]\nfail_on = "{config_fail_on}"\n' if config_fail_on else "")
    proc = _run("--config", str(cfg), *flag)
    assert proc.returncode == expected, proc.stderr


def test_broken_config_stops_before_collection(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[defaults]\nfail_on = "hihg"\n')
    out = tmp_path / "r.json"
    proc = _run("--config", str(cfg), "-o", str(out))
    assert proc.returncode == 2
    assert "fail_on" in proc.stderr and "high" in proc.stderr  # did-you-mean
    assert not out.exists()


def test_a_waiver_for_no_loaded_rule_is_reported(tmp_path: Path) -> None:
    import json

    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[[waiver]]\nrule = "EA-DEV-00l"\nreason = "typo: letter l"\n'
        '[[waiver]]\nrule = "EA-DEV-*"\nreason = "a pattern that matches"\n'
    )
    proc = _run("--config", str(cfg), "--format", "json")
    report = json.loads(proc.stdout)
    config_warnings = [w["message"] for w in report["warnings"] if w["collector"] == "config"]
    assert config_warnings == [
        "a waiver for rule 'EA-DEV-00l' matches no loaded rule: it has no effect"
    ]


def test_probe_default_must_be_a_bool(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[defaults]\nprobe = "no"\n')
    proc = _run("--config", str(cfg))
    assert proc.returncode == 2
    assert "probe" in proc.stderr and "expected true or false" in proc.stderr
