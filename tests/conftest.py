"""Test-wide safety: no traffic to the machine's real network, ever.

In the machine's own network namespace, a test process that connects or sends to an
address outside loopback fails loudly. Inside a namespace that a test created (the
inode of /proc/self/ns/net equals that of a file under /run/netns/) it is allowed.
Subprocesses get EXPOSURE_AUDIT_NO_UPNP=1 and EXPOSURE_AUDIT_NO_PROBE=1 (no probe of a
listener: a wildcard Redis would be asked over the host's real address) unless a test
runs them inside a namespace and says otherwise.

Also: skips are summarised at the end of every run and fail it under CI=true
(tests/skip_policy.py), and ``show_table`` prints a ground-truth table live only with -v.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import skip_policy

os.environ["EXPOSURE_AUDIT_NO_UPNP"] = "1"
os.environ["EXPOSURE_AUDIT_NO_PROBE"] = "1"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.is_registered(skip_policy):
        config.pluginmanager.register(skip_policy, "exposure_audit_skip_policy")


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


@pytest.fixture
def show_table(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """``show_table(text)``: with -v, print it live; otherwise print it into the captured
    output, which pytest shows only when the test fails."""

    def show(text: str) -> None:
        if request.config.get_verbosity() > 0:
            with capsys.disabled():
                print(text)
        else:
            print(text)

    return show
