"""Facts from a macOS and a Windows laptop (tests/fixtures/golden/{macos,windows}_laptop,
built by build_os_facts.py through the portable backend's own conversions and the real
socketfilterfw / netsh outputs) replay on Linux with ``run --facts``: one code path,
rendered as terminal text and JSON (the findings themselves: test_golden_findings.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from golden_util import check_golden, normalise_time
from netns import cli_argv

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "golden"


@pytest.mark.parametrize("name", ["macos_laptop", "windows_laptop"])
def test_os_laptop_replays_and_renders(name: str, tmp_path: Path) -> None:
    facts = FIXTURES / f"{name}.facts.json"
    shown = facts.relative_to(REPO)  # the report names the file: the same in every checkout
    env = {"XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "EXPOSURE_AUDIT_NO_UPNP": "1"}
    text = subprocess.run(
        [*cli_argv(), "run", "--facts", str(shown), "--no-color"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert text.returncode in (0, 1), text.stderr  # 1: findings at or above the threshold
    stamp = json.loads(facts.read_text())["collected_at"]
    check_golden(f"{name}.terminal.txt", normalise_time(text.stdout, keep=(stamp,)))
    res = subprocess.run(
        [*cli_argv(), "run", "--facts", str(shown), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    assert doc["facts"]["host"]["os"] in ("Darwin", "Windows") if "facts" in doc else True
    fw = json.loads(facts.read_text())["firewall"]
    assert fw["backend"] == "unavailable" and fw["message"]  # state as evidence: unknown
    check_golden(f"{name}.report.json", normalise_time(res.stdout, keep=(stamp,)))
