"""Full rights on each OS: whether this run has them, and how a message tells the user
to get them. The one place for that wording, so no message says "run as root" to a
Windows user.

=========  ==========================================================================
Linux      root: ``run as root (sudo exposure-audit ...)``
macOS      root through sudo: ``run with sudo (sudo exposure-audit ...)``
Windows    an elevated token: ``run from an elevated (Administrator) prompt``
=========  ==========================================================================
"""

from __future__ import annotations

import os
import sys

_FULL = {
    "windows": "run from an elevated (Administrator) prompt",
    "macos": "run with sudo (sudo exposure-audit ...)",
    "posix": "run as root (sudo exposure-audit ...)",
}
_SHORT = {
    "windows": "run from an elevated prompt",
    "macos": "run with sudo",
    "posix": "run as root",
}
_WHO = {"windows": "an administrator", "macos": "root", "posix": "root"}


def os_family(platform: str | None = None) -> str:
    """``windows``, ``macos`` or ``posix`` (Linux and the other Unixes), from a
    ``sys.platform`` value or a ``platform.system()`` one (``Windows``, ``Darwin``)."""
    p = (sys.platform if platform is None else platform).lower()
    if p.startswith("win"):
        return "windows"
    if p == "darwin":
        return "macos"
    return "posix"


def is_elevated(platform: str | None = None) -> bool:
    """Root (effective uid 0) on POSIX; an elevated (Administrator) token on Windows."""
    if os_family(platform) == "windows":
        try:
            import ctypes

            return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            return False
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def elevate(platform: str | None = None) -> str:
    """How to get full rights, with the command: ``run as root (sudo exposure-audit
    ...)``; followed by what it is for ("... for full process attribution")."""
    return _FULL[os_family(platform)]


def elevate_short(platform: str | None = None) -> str:
    """The same without the command, for a note inside a line: ``run as root``."""
    return _SHORT[os_family(platform)]


def privileged_user(platform: str | None = None) -> str:
    """Who has full rights, for "needs root" sentences: ``root``, ``an administrator``."""
    return _WHO[os_family(platform)]


_REPORT = {
    "windows": {
        "elevated": "run elevated (Administrator)",
        "not_elevated": "not run from an elevated prompt",
        "how": "run from an elevated prompt",
    },
    "macos": {"elevated": "run as root", "not_elevated": "not run as root", "how": "run with sudo"},
    "posix": {"elevated": "run as root", "not_elevated": "not run as root", "how": "run with sudo"},
}


def report_wording(os_name: str | None, key: str) -> str:
    """The report templates' words for the run's rights, by the OS the Facts came from
    (``report.host.os``: ``Linux``, ``Darwin``, ``Windows``), not the OS rendering them.
    ``key``: ``elevated``, ``not_elevated``, ``how`` (how to get them), ``short``
    (:func:`elevate_short`)."""
    family = os_family(os_name or "linux")
    return _SHORT[family] if key == "short" else _REPORT[family][key]
