"""Host facts: who and where the audit ran. Cheap: no subprocess, no heavy import."""

from __future__ import annotations

# _socket, not socket: see sockdiag.py (socket.py costs ~2 ms of every start-up)
import _socket
import os
import sys

from exposure_audit import __version__
from exposure_audit.core.model import HostInfo
from exposure_audit.core.privilege import is_elevated

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")


def _unquote(value: str) -> str:
    """A value from os-release (shell-style: optionally quoted, backslash escapes)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        quote, value = value[0], value[1:-1]
        if quote == '"':
            out, it = [], iter(value)
            for ch in it:
                out.append(next(it, "") if ch == "\\" else ch)
            value = "".join(out)
    return value


def os_release(paths: tuple[str, ...] = OS_RELEASE_PATHS) -> str | None:
    """PRETTY_NAME (or NAME VERSION) from os-release, or None."""
    for path in paths:
        try:
            with open(path, "rb") as f:
                text = f.read(64 * 1024).decode("utf-8", "replace")
        except OSError:
            continue
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.lstrip().startswith("#"):
                fields[key.strip()] = _unquote(value)
        pretty = fields.get("PRETTY_NAME") or " ".join(
            v for v in (fields.get("NAME"), fields.get("VERSION")) if v
        )
        return pretty or None
    return None


def collect_host() -> HostInfo:
    if hasattr(os, "uname"):
        uname = os.uname()
        system, release = uname.sysname, uname.release
    else:  # Windows
        import platform

        system, release = platform.system(), platform.release()
    euid = os.geteuid() if hasattr(os, "geteuid") else None
    try:
        hostname = _socket.gethostname()
    except OSError:
        hostname = ""
    return HostInfo(
        hostname=hostname,
        os=system,
        os_release=os_release() or f"{system} {release}",
        kernel=release,
        privileged=is_elevated(),
        uid=euid,
        tool_version=__version__,
        python=".".join(str(p) for p in sys.version_info[:3]),
    )
