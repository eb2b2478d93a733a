"""Throw-away network namespaces for tests: real kernels, no packet on the real network.

Every namespace made here is linked only to other namespaces made here (veth pairs
created directly inside them), never to the root namespace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def cli_argv() -> list[str]:
    """How to run the installed exposure-audit (the venv's own binary, not a shim)."""
    exe = Path(sys.executable).with_name("exposure-audit")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "exposure_audit"]


def netns_skip_reason() -> str | None:
    """None when this process can make namespaces; else why not."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (CI runs as root)"
    if shutil.which("ip") is None:
        return "needs iproute2's 'ip' (apt-get install iproute2)"
    return None


requires_netns = pytest.mark.skipif(
    netns_skip_reason() is not None, reason=netns_skip_reason() or ""
)


def _run(argv: Sequence[str], check: bool = True, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(  # type: ignore[call-overload]
        list(argv), check=check, capture_output=True, text=True, timeout=30, **kw
    )


@dataclass
class Netns:
    name: str
    _procs: list[subprocess.Popen] = field(default_factory=list)

    def ip(self, *args: str) -> None:
        _run(["ip", "-n", self.name, *args])

    def run(
        self, argv: Sequence[str], check: bool = False, timeout: float = 60, **kw: object
    ) -> subprocess.CompletedProcess:
        return subprocess.run(  # type: ignore[call-overload]
            ["ip", "netns", "exec", self.name, *argv],
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )

    def popen(self, argv: Sequence[str], **kw: object) -> subprocess.Popen:
        proc = subprocess.Popen(  # type: ignore[call-overload]
            ["ip", "netns", "exec", self.name, *argv], **kw
        )
        self._procs.append(proc)
        return proc

    def python(self, code: str, **kw: object) -> subprocess.Popen:
        """Start ``python -c code`` inside the namespace (stdout piped)."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        return self.popen([sys.executable, "-c", code], **kw)

    def stop_all(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self._procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def namespaces(*names: str) -> Iterator[list[Netns]]:
    """Create namespaces (loopback up, IPv6 on), yield them, stop their processes and
    delete them."""
    made: list[Netns] = []
    try:
        for name in names:
            _run(["ip", "netns", "add", name])
            ns = Netns(name)
            made.append(ns)
            ns.ip("link", "set", "lo", "up")
        yield made
    finally:
        for ns in made:
            ns.stop_all()
            # Anything a test left behind inside this namespace, by PID.
            out = _run(["ip", "netns", "pids", ns.name], check=False).stdout.split()
            for pid in out:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _run(["ip", "netns", "del", ns.name], check=False)


def link(a: Netns, a_if: str, b: Netns, b_if: str) -> None:
    """A veth pair between two namespaces, created inside ``a`` (never in the root ns)."""
    a.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)
    a.ip("link", "set", a_if, "up")
    b.ip("link", "set", b_if, "up")


def wait_for(pred, timeout: float = 5.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())
