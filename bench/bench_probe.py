#!/usr/bin/env python3
"""Benchmark: how long the probes take at N listeners (default 100), honest and hostile.

In a fresh network namespace of its own (loopback only, nothing linked to it), one
responder process (tests/probe_responders.py, started under a name the probe takes for
an HTTP server) opens N listening sockets on 127.0.0.1; then:

- ``collect --no-upnp`` with probes and with ``--no-probe``, median of --reps runs (the
  difference is what probing costs a run), and the slowest probe in the Facts;
- the same N sockets answering as hostile responders (silent, slow drip, endless bytes,
  a 10 MB banner, garbage), where the 1 s budget is what bounds the run.

Needs root (ip netns). Usage:
    sudo .venv/bin/python bench/bench_probe.py [--listeners 100] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESPONDERS = REPO / "tests" / "probe_responders.py"
HOSTILE = ("silent", "drip", "endless", "huge", "garbage")


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("exposure-audit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "exposure_audit"]


def _collect(ns: str, *extra: str) -> tuple[float, dict]:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if k != "EXPOSURE_AUDIT_NO_PROBE"}
    t0 = time.perf_counter()
    res = subprocess.run(
        ["ip", "netns", "exec", ns, *_cli(), "collect", "--no-upnp", *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    return time.perf_counter() - t0, json.loads(res.stdout)


def _start(ns: str, script: Path, modes: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, str(script), "127.0.0.1", *modes],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "ready":
            break
    return proc


def _measure(ns: str, script: Path, modes: list[str], reps: int, label: str) -> None:
    proc = _start(ns, script, modes)
    try:
        with_probe, without = [], []
        facts: dict = {}  # type: ignore[type-arg]
        for _ in range(reps):
            took, facts = _collect(ns)
            with_probe.append(took)
            without.append(_collect(ns, "--no-probe")[0])
        probes = facts["probes"]
        outcomes: dict[str, int] = {}
        for p in probes:
            outcomes[p["outcome"]] = outcomes.get(p["outcome"], 0) + 1
        slowest = max((p["elapsed_ms"] for p in probes), default=0)
        a, b = statistics.median(with_probe), statistics.median(without)
        print(
            f"{label:<44} {len(probes):>4} probed  collect {a * 1000:6.0f} ms  "
            f"--no-probe {b * 1000:6.0f} ms  probing +{(a - b) * 1000:5.0f} ms  "
            f"slowest probe {slowest:4d} ms  {outcomes}"
        )
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listeners", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (ip netns)")
    ns = f"eaL-probe-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="ea-bench-probe-"))
    # The probe asks HTTP servers it recognises by command line: under this name the
    # responders are one (uvicorn), and nothing else about them changes.
    script = tmp / "uvicorn-bench.py"
    shutil.copy(RESPONDERS, script)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        n = args.listeners
        print(f"{n} listeners on 127.0.0.1 in namespace {ns}, median of {args.reps} runs")
        _measure(ns, script, ["http"] * n, args.reps, "honest HTTP servers")
        hostile = [HOSTILE[i % len(HOSTILE)] for i in range(n)]
        _measure(ns, script, hostile, args.reps, "hostile (" + "/".join(HOSTILE) + ")")
        _measure(ns, script, ["silent"] * n, args.reps, "all silent")
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
