"""The network guard in conftest.py must actually stop non-loopback traffic."""

from __future__ import annotations

import socket

import pytest
from conftest import NetworkGuardError, in_test_namespace


@pytest.mark.skipif(in_test_namespace(), reason="the guard is off inside a test namespace")
@pytest.mark.allow_skip_in_ci(reason="the guard is meant to be off there")
def test_connect_outside_loopback_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        with pytest.raises(NetworkGuardError):
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never actually sent


@pytest.mark.skipif(in_test_namespace(), reason="the guard is off inside a test namespace")
@pytest.mark.allow_skip_in_ci(reason="the guard is meant to be off there")
def test_ssdp_multicast_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with pytest.raises(NetworkGuardError):
            s.sendto(b"M-SEARCH * HTTP/1.1\r\n\r\n", ("239.255.255.250", 1900))


def test_loopback_is_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as c:
            c.connect(srv.getsockname())
