"""locking.py: a real flock between real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exposure_audit.automation.locking import EXIT_LOCKED, LockBusyError, run_lock

HOLDER = """
import sys, time
from pathlib import Path
from exposure_audit.automation.locking import run_lock
with run_lock(Path(sys.argv[1]), timeout=5):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(state: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_holder_waits_then_fails_with_pid(tmp_path: Path) -> None:
    holder = _hold(tmp_path, 30)
    try:
        start = time.monotonic()
        with pytest.raises(LockBusyError) as exc:
            with run_lock(tmp_path, timeout=0.6):
                pytest.fail("got a lock another process holds")
        waited = time.monotonic() - start
        assert 0.5 <= waited < 3
        assert f"pid {holder.pid}" in str(exc.value)
        assert "--lock-timeout" in str(exc.value)
        assert exc.value.exit_code == EXIT_LOCKED
    finally:
        holder.kill()
        holder.wait()


def test_waiter_gets_the_lock_when_holder_finishes(tmp_path: Path) -> None:
    holder = _hold(tmp_path, 0.5)
    try:
        with run_lock(tmp_path, timeout=10):
            assert holder.poll() is not None  # only after the holder let go
    finally:
        holder.wait()


def test_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = _hold(tmp_path, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with run_lock(tmp_path, timeout=0):
        pass
    assert (tmp_path / "lock").exists()  # the file stays; only the flock is gone


def test_lock_file_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    (tmp_path / "lock").symlink_to(target)
    with pytest.raises(Exception, match="cannot open lock file"):
        with run_lock(tmp_path, timeout=0):
            pass
    assert target.read_text() == "precious"
