"""What the namespace benchmarks share: run this script's ``--inner`` part inside a
network namespace of its own, read the JSON line it prints last, and remove the
namespace and every process left in it, whatever happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence


def run_inner(
    prefix: str,
    argv: Sequence[str],
    n: int,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> dict[str, object]:
    """``ip netns exec NS python ARGV``; NS is ``PREFIX-<random>``, made and deleted here."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        proc = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, *argv],
            capture_output=True,
            text=True,
            check=False,
            env=None if env is None else dict(env),
            timeout=timeout,
        )
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            raise SystemExit(f"benchmark for N={n} failed (exit {proc.returncode})")
        result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
        return result
    finally:
        pids = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], check=False)
