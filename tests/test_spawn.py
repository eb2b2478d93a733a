"""spawn.Spawned: real child processes, with deadlines, caps and clean-up."""

from __future__ import annotations

import os
import time

from exposure_audit.collectors.spawn import Spawned, which


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_output_error_and_exit_code() -> None:
    ok = Spawned(["sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2"], 5, 1 << 20)
    assert ok.result() == (b"out\n", b"err\n", "")
    bad = Spawned(["sh", "-c", "echo nope >&2; exit 3"], 5, 1 << 20)
    out, err, error = bad.result()
    assert out is None and err == b"nope\n" and error == "sh -c echo nope >&2; exit 3 failed: nope"
    quiet = Spawned(["sh", "-c", "exit 4"], 5, 1 << 20)
    assert quiet.result()[2].endswith("failed: exit 4")


def test_missing_command_is_an_error_not_an_exception() -> None:
    missing = Spawned(["exposure-audit-no-such-tool"], 5, 1 << 20)
    assert missing.result() == (None, b"", "exposure-audit-no-such-tool not found")
    assert which("exposure-audit-no-such-tool") is None
    assert which("sh") is not None and os.access(which("sh") or "", os.X_OK)


def test_stdin_is_empty_and_env_and_signals_are_reset() -> None:
    cat = Spawned(["cat"], 5, 1 << 20)  # would hang on an inherited terminal/pipe
    assert cat.result() == (b"", b"", "")
    env = Spawned(["sh", "-c", "echo $LC_ALL"], 5, 1 << 20, env={**os.environ, "LC_ALL": "C"})
    assert env.result()[0] == b"C\n"
    # Python ignores SIGPIPE; the child must not inherit that (a pipe reader closing early
    # would leave it writing forever).
    status = Spawned(["grep", "SigIgn", "/proc/self/status"], 5, 1 << 20).result()[0] or b""
    ignored = int(status.split()[1], 16)
    assert not ignored & (1 << (13 - 1)), status


def test_deadline_kills_and_reaps_a_hung_child() -> None:
    before = _fds()
    start = time.monotonic()
    hung = Spawned(["sleep", "30"], 0.3, 1 << 20)
    pid = hung.pid
    out, _err, error = hung.result()
    assert out is None and error == "sleep 30 timed out after 0.3s"
    assert time.monotonic() - start < 3
    assert pid is not None and not os.path.exists(f"/proc/{pid}")  # killed and reaped
    # closed its output but kept running: still bounded by the deadline
    closed = Spawned(["sh", "-c", "exec >&- 2>&-; sleep 30"], 0.3, 1 << 20)
    assert "timed out" in closed.result()[2]
    assert _fds() == before


def test_output_cap_stops_a_flood() -> None:
    before = _fds()
    flood = Spawned(["sh", "-c", "exec cat /dev/zero"], 10, 1 << 20)
    pid = flood.pid
    start = time.monotonic()
    out, _err, error = flood.result()
    assert out is None and error.endswith("output larger than 1 MiB")
    assert time.monotonic() - start < 5
    assert pid is not None and not os.path.exists(f"/proc/{pid}")
    assert _fds() == before


def test_side_by_side_and_large_output() -> None:
    before = _fds()
    jobs = [Spawned(["sh", "-c", f"sleep 0.5; head -c {n} /dev/zero"], 5, 8 << 20) for n in
            (0, 100, 300_000, 3_000_000)]  # fmt: skip
    start = time.monotonic()
    sizes = [len(job.result()[0] or b"") for job in jobs]
    assert sizes == [0, 100, 300_000, 3_000_000]
    assert time.monotonic() - start < 1.5  # side by side: one after another takes 2 s
    assert _fds() == before


def test_abandoned_command_leaves_no_fd_or_zombie() -> None:
    before = _fds()
    job = Spawned(["sleep", "30"], 5, 1 << 20)
    pid = job.pid
    del job
    assert _fds() == before
    assert pid is not None and not os.path.exists(f"/proc/{pid}")
