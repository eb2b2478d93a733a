"""--since-last on a real kernel: runs inside a namespace, a listener added between runs.

Namespace ``eaC-*`` (linked by veth only to another ``eaC-*`` namespace) with real
sockets; the CLI runs in it via ``ip netns exec`` with --no-upnp.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from netns import Netns, cli_argv, link, namespaces, requires_netns, unique

pytestmark = [pytest.mark.netns, requires_netns]

LISTEN = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
print("ready", flush=True)
time.sleep(120)
"""


def _listen(ns: Netns, port: int) -> subprocess.Popen:
    proc = ns.popen([sys.executable, "-c", LISTEN, str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def _run(ns: Netns, state: Path, fmt: str = "json") -> tuple[int, Any]:
    env = dict(os.environ, EXPOSURE_AUDIT_NO_UPNP="1", XDG_CONFIG_HOME="/nonexistent-eac")
    res = ns.run(
        [
            *cli_argv(),
            "run",
            "--no-upnp",
            "--since-last",
            "--state-dir",
            str(state),
            "--format",
            fmt,
        ],
        env=env,
        timeout=60,
    )
    assert res.returncode in (0, 1), res.stderr
    assert "Traceback" not in res.stderr
    if fmt == "json":
        return res.returncode, (json.loads(res.stdout) if res.stdout else None)
    return res.returncode, res.stdout


def _ports(findings: list[dict[str, Any]]) -> set[str]:
    return {str(f.get("exposure_id")) for f in findings}


def test_since_last_shows_exactly_the_new_listener_then_resolved(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with namespaces(unique("eaC-a"), unique("eaC-b")) as (a, b):
        link(a, "eac0", b, "eac1")
        a.ip("addr", "add", "10.203.0.1/24", "dev", "eac0")
        b.ip("addr", "add", "10.203.0.2/24", "dev", "eac1")

        old = _listen(a, 3000)  # exposed before the first run, and stays
        code, first = _run(a, state)
        assert first is not None and first["no_baseline"]
        assert _ports(first["new"]) == {"tcp/0.0.0.0/3000"}
        assert code == 1  # a high finding nobody has seen yet

        # The old service restarts (new pid) and a new one appears.
        _stop(old)
        old = _listen(a, 3000)
        new = _listen(a, 8000)
        code, second = _run(a, state)
        assert second is not None
        assert _ports(second["new"]) == {"tcp/0.0.0.0/8000"}, second["new"]
        assert second["resolved"] == []
        assert _ports(second["unchanged"]) == {"tcp/0.0.0.0/3000"}
        assert [(c["key"], c["change"]) for c in second["listeners"]] == [
            ("tcp/0.0.0.0/8000", "appeared")
        ]
        assert code == 1
        new_fps = {f["fingerprint"] for f in second["new"]}

        # Nothing changed: nothing printed, exit 0 (the 3000 finding is known).
        code, third = _run(a, state)
        assert (code, third) == (0, None)

        _stop(new)
        code, text = _run(a, state, fmt="terminal")
        assert code == 0
        assert "Resolved findings" in text and "New findings" not in text
        stored = sorted((state / "reports").glob("report-*.json"))
        assert len(stored) == 4
        last = json.loads(stored[-1].read_text())
        assert not {f["fingerprint"] for f in last["findings"]} & new_fps
        _stop(old)
