"""Run a short command and read its output, with a deadline and a size cap.

The firewall collector runs nft and iptables-save side by side while the other
collectors work. This does it with ``os.posix_spawn`` and ``select.poll`` instead of
the subprocess module, whose import (with signal, threading and selectors' enums) is
about 4 ms of a ``collect`` that should take ~40 ms in all; and without a thread: the
commands start first and are read when the caller is ready.
"""

from __future__ import annotations

import os
import select
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal  # (typeshed has no stub for _signal; signal re-exports it)
else:
    import _signal  # the C half of `signal`: already loaded at start-up, unlike `signal`

# What the child must not inherit from Python: it ignores SIGPIPE (and SIGXFSZ), and an
# ignored signal stays ignored across exec (subprocess resets them the same way).
_RESET_SIGNALS = tuple(
    getattr(_signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(_signal, name)
)
_CHUNK = 256 * 1024


class Spawned:
    """A started command; ``result()`` waits for it (up to the deadline) and reads it.

    ``error`` is set when it could not start (not found, not executable)."""

    def __init__(
        self,
        argv: list[str],
        timeout: float,
        max_output: int,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = argv
        self.timeout = timeout
        self.max_output = max_output
        self.deadline = time.monotonic() + timeout
        self.pid: int | None = None
        self.error = ""
        self._fds: list[int] = []
        exe = which(argv[0])
        if exe is None:
            self.error = f"{argv[0]} not found"
            return
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.pid = os.posix_spawn(
                exe,
                [exe, *argv[1:]],
                os.environ if env is None else env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                ],
                setsigdef=_RESET_SIGNALS,
            )
        except OSError as exc:
            os.close(out_r)
            os.close(err_r)
            self.error = f"{' '.join(argv)}: {exc.strerror or exc}"
            return
        finally:
            os.close(out_w)
            os.close(err_w)
        self._fds = [out_r, err_r]

    def result(self) -> tuple[bytes | None, bytes, str]:
        """(stdout, stderr, error). stdout is None when the command did not start, timed
        out, wrote more than ``max_output`` or exited non-zero (``error`` says which)."""
        if self.pid is None:
            return None, b"", self.error
        out, err = bytearray(), bytearray()
        overflow = self._drain(out, err)
        status = self._wait() if overflow is None else None
        if status is None:
            self._kill()
        name = " ".join(self.argv)
        if overflow is not None:
            return None, bytes(err), f"{name}: {overflow}"
        if status is None:
            return None, bytes(err), f"{name} timed out after {self.timeout:g}s"
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            lines = err.decode("utf-8", "backslashreplace").strip().splitlines()
            why = lines[0] if lines else f"exit {code}" if code > 0 else f"signal {-code}"
            return None, bytes(err), f"{name} failed: {why}"
        return bytes(out), bytes(err), ""

    def _drain(self, out: bytearray, err: bytearray) -> str | None:
        """Read both pipes to their end; a reason string if that had to stop early."""
        poller = select.poll()
        buffers = {self._fds[0]: out, self._fds[1]: err}
        for fd in buffers:
            poller.register(fd, select.POLLIN)
        open_fds = set(buffers)
        try:
            while open_fds:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    return None  # the deadline: _wait sees it too and reports the timeout
                for fd, _event in poller.poll(left * 1000):
                    chunk = os.read(fd, _CHUNK)
                    if not chunk:
                        poller.unregister(fd)
                        open_fds.discard(fd)
                        continue
                    buffers[fd] += chunk
                    if len(buffers[fd]) > self.max_output:
                        return f"output larger than {self.max_output // 2**20} MiB"
            return None
        finally:
            for fd in self._fds:
                os.close(fd)
            self._fds = []

    def _wait(self) -> int | None:
        """The wait status, or None at the deadline (the child is still running)."""
        assert self.pid is not None
        delay = 0.0002
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = None
                return status
            left = self.deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.01)

    def _kill(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, _signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ChildProcessError, ProcessLookupError):
                pass
            self.pid = None

    def __del__(self) -> None:
        # result() never called (the caller failed first): no fd leak, no zombie
        for fd in self._fds:
            os.close(fd)
        self._kill()


def which(name: str) -> str | None:
    """``shutil.which`` for a bare command name (without importing shutil)."""
    if "/" in name:
        return name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(directory or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None
