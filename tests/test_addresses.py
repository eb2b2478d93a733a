"""core.addresses: the one place address text is split at "%" and parsed."""

from __future__ import annotations

import ipaddress

import pytest

from exposure_audit.core.addresses import address_scope, parse_ip, split_zone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fe80::1%eth0", ("fe80::1", "eth0")),
        ("fe80::1%", ("fe80::1", None)),  # an empty zone is no zone
        ("fe80::1", ("fe80::1", None)),
        ("10.0.0.1", ("10.0.0.1", None)),
        ("fe80::1%eth0%x", ("fe80::1", "eth0%x")),  # split at the first % only
        ("", ("", None)),
        ("not an address%lo", ("not an address", "lo")),  # text is not checked
    ],
)
def test_split_zone(text: str, expected: tuple[str, str | None]) -> None:
    assert split_zone(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.168.1.5", ipaddress.IPv4Address("192.168.1.5")),
        ("::ffff:192.168.1.5", ipaddress.IPv4Address("192.168.1.5")),  # v4-mapped -> v4
        ("::FFFF:0:0", ipaddress.IPv4Address("0.0.0.0")),
        ("::ffff:127.0.0.1%lo", ipaddress.IPv4Address("127.0.0.1")),
        ("fe80::1%eth0", ipaddress.IPv6Address("fe80::1")),  # zone dropped
        ("::", ipaddress.IPv6Address("::")),
        ("2001:db8::1", ipaddress.IPv6Address("2001:db8::1")),
        ("::192.168.1.5", ipaddress.IPv6Address("::c0a8:105")),  # v4-compatible: not mapped
    ],
)
def test_parse_ip(text: str, expected: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert parse_ip(text) == expected


@pytest.mark.parametrize(
    "text", ["", "%eth0", "garbage", "999.1.1.1", "10.0.0.1/24", "fe80::1 ", "1.2.3", "::ffff:"]
)
def test_parse_ip_garbage_is_none(text: str) -> None:
    assert parse_ip(text) is None


def test_address_scope_uses_the_same_normalisation() -> None:
    assert address_scope("::ffff:127.0.0.1") == "loopback"
    assert address_scope("::ffff:192.168.1.5") == "lan"
    assert address_scope("fe80::1%eth0") == "link_local"
    with pytest.raises(ValueError, match="'garbage' does not appear"):
        address_scope("garbage%eth0")
