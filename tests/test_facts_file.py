"""A Facts file is input from elsewhere: every broken one is a clear exit 2, never a crash."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from netns import cli_argv

FIXTURE = Path(__file__).parent / "fixtures" / "facts" / "laptop_cafe.json"


def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    data = json.loads(FIXTURE.read_text())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


CASES = [
    (
        ["interfaces", 1, "addresses", 0, "scope"],
        "galaxy",
        "facts.interfaces[1].addresses[0].scope",
    ),
    (["interfaces", 1, "kind"], "quantum", "facts.interfaces[1].kind"),
    (["listeners", 0, "protocol"], "sctp", "facts.listeners[0].protocol"),
    (["listeners", 0, "port"], 70000, "facts.listeners[0].port"),
    (["listeners", 0, "address"], "not-an-ip", "facts.listeners[0].address"),
    (["listeners", 0, "port"], "8000", "expected an integer"),
    (["schema_version"], "9.0", "not supported"),
]


@pytest.mark.parametrize(("path", "value", "expect"), CASES)
def test_corrupt_facts_file_is_a_usage_error(
    tmp_path: Path, path: list[Any], value: Any, expect: str
) -> None:
    bad = tmp_path / "facts.json"
    bad.write_text(json.dumps(_mutate(path, value)))
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [*cli_argv(), "run", "--facts", str(bad), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert expect in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[]", b"\xff\xfe", b'{"schema_version": 1}', b"[" * 200_000 + b"]" * 200_000],
)
def test_garbage_facts_file_is_a_usage_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "facts.json"
    bad.write_bytes(content)
    proc = subprocess.run(
        [*cli_argv(), "run", "--facts", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_json_report_is_accepted_as_facts(tmp_path: Path) -> None:
    """`run --facts` takes a previous JSON report too (its embedded facts)."""
    report = tmp_path / "report.json"
    first = subprocess.run(
        [*cli_argv(), "run", "--facts", str(FIXTURE), "--format", "json", "-o", str(report)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode in (0, 1), first.stderr
    again = subprocess.run(
        [*cli_argv(), "run", "--facts", str(report), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == first.returncode, again.stderr
    a = json.loads(report.read_text())
    b = json.loads(again.stdout)
    assert [f["fingerprint"] for f in a["findings"]] == [f["fingerprint"] for f in b["findings"]]
    assert a["facts"] == b["facts"]
