"""Which collector backend reads this machine: ``native`` or ``portable``.

- ``native`` (Linux only): sock_diag, rtnetlink, /proc, nftables/iptables. Exact: the
  kernel's own v6-only flag, link-local zone and bound interface of every socket.
- ``portable`` (every OS): psutil and netifaces, plus the OS's stock commands where
  those stop (``lsof`` on macOS without root; ``socketfilterfw`` / ``pfctl`` on macOS
  and ``netsh advfirewall`` on Windows for the firewall's state). What psutil cannot see
  (v6-only, link-local zone, bound interface) is declared unknown and read the wide way.

Chosen by platform; ``--backend`` or ``EXPOSURE_AUDIT_BACKEND`` forces one (so the
portable backend runs, and is tested, on Linux too).
"""

from __future__ import annotations

import os
import sys

from exposure_audit.core.errors import UsageError

BACKENDS: tuple[str, ...] = ("native", "portable")
ENV_BACKEND = "EXPOSURE_AUDIT_BACKEND"


class BackendError(UsageError):
    """An unknown or impossible backend was asked for."""


def default_backend(platform: str = sys.platform) -> str:
    return "native" if platform.startswith("linux") else "portable"


def choose_backend(
    requested: str | None = None,
    env: dict[str, str] | None = None,
    platform: str = sys.platform,
) -> str:
    """``requested`` (the flag), else the environment variable, else the platform's."""
    source = "--backend"
    value = requested
    if not value:
        value = (os.environ if env is None else env).get(ENV_BACKEND, "").strip().lower()
        source = ENV_BACKEND
    if not value or value == "auto":
        return default_backend(platform)
    if value not in BACKENDS:
        raise BackendError(
            f"{source}: unknown backend {value!r} (choose from: auto, {', '.join(BACKENDS)})"
        )
    if value == "native" and not platform.startswith("linux"):
        raise BackendError(
            f"{source}: the native backend reads Linux kernel interfaces; on {platform} "
            "only the portable backend works"
        )
    return value
