"""One block per listener shows each fix once, even when several rules phrase it apart."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from netns import cli_argv

from exposure_audit.collectors.listeners import NOTE_NOT_FOUND
from exposure_audit.reporting.view import distinct_fixes

LAPTOP = Path(__file__).parent / "fixtures" / "facts" / "laptop_cafe.json"


def test_same_fix_behind_different_lead_ins_is_shown_once() -> None:
    fix = "publish it on loopback only: docker run -p 127.0.0.1:6379:6379."
    got = distinct_fixes(
        [
            f"Keep it on this machine: {fix}",
            f"Restrict it: {fix}",
            "Delete the mapping (upnpc -d 6379 TCP).",
        ]
    )
    assert got == [f"Keep it on this machine: {fix}", "Delete the mapping (upnpc -d 6379 TCP)."]


def test_different_fixes_are_all_kept_in_order() -> None:
    fixes = ["Bind it to 127.0.0.1.", "Delete the mapping: upnpc -d 8000 TCP.", "Set a token."]
    assert distinct_fixes(fixes) == fixes


def test_root_run_says_why_a_socket_has_no_process(tmp_path: Path) -> None:
    """Run as root, an unattributed socket is not 'run as root to see it': the
    collector's note (no process holds it here) is what the terminal and HTML show."""
    data = json.loads(LAPTOP.read_text())
    assert data["host"]["privileged"] is True
    data["listeners"].append(
        {
            "protocol": "tcp",
            "family": "ipv4",
            "address": "0.0.0.0",
            "port": 2024,
            "uid": 0,
            "process": None,
            "notes": [NOTE_NOT_FOUND],
        }
    )
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(data))
    html = tmp_path / "r.html"
    proc = subprocess.run(
        [*cli_argv(), "run", "--facts", str(facts), "--no-color", "-o", str(html)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode in (0, 1), proc.stderr
    block = proc.stdout.split("unknown process on tcp 0.0.0.0:2024", 1)[1].split("\n\n", 1)[0]
    assert "no process found holding this socket" in block
    assert "run as root" not in block
    assert "no process found holding this socket" in html.read_text()
