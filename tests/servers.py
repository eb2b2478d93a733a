"""What the real-server tests share: is a server up (read from the socket table), can a
peer connect, and the cached venv of PyPI servers."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from netns import REPO, Netns

# The PyPI servers the tests start; the venv is cached under .cache/, keyed by this list.
PYPI_SERVERS = ("django", "flask", "jupyter_server", "debugpy", "uvicorn", "gunicorn")
_LOOPBACK = ("127.", "[::1]", "[::ffff:127.")


def listening(
    ns: Netns, port: int, address: str | None = None, loopback_only: bool = False
) -> bool:
    """A TCP socket listens on ``port`` in ``ns`` (on ``address`` if given; only on
    loopback addresses with ``loopback_only``). Read from the socket table, never by
    connecting: the debugpy adapter stops listening while a client is connected (and
    may not listen again), so a readiness connect would hide it from the scan after."""
    query = f"sport = :{port}" + (f" and src {address}" if address else "")
    res = ns.run(["ss", "-Hltn", query], timeout=10)
    if res.returncode != 0 or not res.stdout.strip():
        return False
    if not loopback_only:
        return True
    locals_ = [line.split()[3] for line in res.stdout.splitlines() if len(line.split()) > 3]
    return all(a.startswith(_LOOPBACK) for a in locals_)


def connects(ns: Netns, address: str, port: int) -> bool:
    """A TCP connect from ``ns`` to ``address:port`` succeeds within a second."""
    code = (
        "import socket,sys\n"
        "s=socket.socket();s.settimeout(1)\n"
        f"sys.exit(0 if s.connect_ex(('{address}',{port}))==0 else 1)"
    )
    return ns.run([sys.executable, "-c", code], timeout=10).returncode == 0


def pypi_venv() -> Path:
    """The venv with PYPI_SERVERS installed, built once and cached under .cache/."""
    key = hashlib.sha256(" ".join(PYPI_SERVERS).encode()).hexdigest()[:12]
    venv = REPO / ".cache" / f"realsw-{key}"
    if not (venv / "ok").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        res = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", *PYPI_SERVERS],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if res.returncode != 0:
            pytest.skip(f"pip install of the test servers failed: {res.stderr[-300:]}")
        (venv / "ok").write_text("ok\n")
    return venv
