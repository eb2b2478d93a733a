"""Test-wide safety: no traffic to the machine's real network, ever.

In the machine's own network namespace, a test process that connects or sends to an
address outside loopback fails loudly. Inside a namespace that a test created (the
inode of /proc/self/ns/net equals that of a file under /run/netns/) it is allowed.
Subprocesses get EXPOSURE_AUDIT_NO_UPNP=1 unless a test runs them inside a namespace
and says otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import pytest

os.environ["EXPOSURE_AUDIT_NO_UPNP"] = "1"


class NetworkGuardError(AssertionError):
    pass


def in_test_namespace() -> bool:
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return False
    run_netns = Path("/run/netns")
    if not run_netns.is_dir():
        return False
    for entry in run_netns.iterdir():
        try:
            if entry.stat().st_ino == mine:
                return True
        except OSError:
            continue
    return False


def _allowed(address: Any) -> bool:
    if isinstance(address, (bytes, str)) and not isinstance(address, tuple):
        return True  # AF_UNIX path
    if not isinstance(address, tuple) or not address:
        return True
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).split("%", 1)[0]
    if host in ("localhost", ""):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: could resolve anywhere
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _guard(sock: socket.socket, address: Any, what: str) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    if _allowed(address) or in_test_namespace():
        return
    raise NetworkGuardError(
        f"network guard: a test tried to {what} {address!r} from the machine's own network "
        "namespace; tests may only reach loopback or addresses inside namespaces they create"
    )


_orig_connect = socket.socket.connect
_orig_connect_ex = socket.socket.connect_ex
_orig_sendto = socket.socket.sendto


def _connect(self: socket.socket, address: Any) -> None:
    _guard(self, address, "connect to")
    return _orig_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _guard(self, address, "connect to")
    return _orig_connect_ex(self, address)


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    address = args[-1]
    _guard(self, address, "send to")
    return _orig_sendto(self, data, *args)


socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
socket.socket.sendto = _sendto  # type: ignore[method-assign,assignment]


@pytest.fixture
def no_network_guard_bypass() -> None:
    """Marker fixture for readability; the guard is always on."""
