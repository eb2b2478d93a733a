"""nftlist: the kernel's nftables table list over netlink, real and malformed."""

from __future__ import annotations

import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netns import namespaces, requires_netns, unique

from exposure_audit.collectors.firewall import nftlist

NEWTABLE = 10 << 8


def _msg(mtype: int, payload: bytes, seq: int = 1) -> bytes:
    data = struct.pack("=IHHII", 16 + len(payload), mtype, 2, seq, 0) + payload
    return data + b"\0" * (-len(data) % 4)


def _table(family: int, name: bytes) -> bytes:
    attr = struct.pack("=HH", 4 + len(name) + 1, 1) + name + b"\0"
    return _msg(NEWTABLE, struct.pack("=BBH", family, 0, 0) + attr + b"\0" * (-len(attr) % 4))


DONE = _msg(3, b"\0\0\0\0")


def test_parses_tables_and_the_end_of_the_dump() -> None:
    tables: list[tuple[str, str]] = []
    data = _table(1, b"filter") + _table(10, b"six") + _table(99, b"odd")
    assert nftlist.parse_messages(data, 1, tables) is False  # not done yet
    assert nftlist.parse_messages(DONE, 1, tables) is True
    assert tables == [("inet", "filter"), ("ip6", "six"), ("family-99", "odd")]
    stale: list[tuple[str, str]] = []  # another request's messages are ignored
    assert (
        nftlist.parse_messages(
            _table(
                2,
                b"x",
            )
            + DONE,
            1,
            stale,
        )
        is True
    )
    assert stale == [("ip", "x")]
    assert nftlist.parse_messages(_msg(NEWTABLE, b"\2\0\0\0", seq=7) + DONE, 1, []) is True


@pytest.mark.parametrize(
    "data",
    [
        struct.pack("=IHHII", 8, NEWTABLE, 0, 1, 0),  # length below the header
        struct.pack("=IHHII", 400, NEWTABLE, 0, 1, 0),  # longer than what arrived
        _msg(NEWTABLE, b"\2\0"),  # no room for nfgenmsg
        _msg(NEWTABLE, b"\2\0\0\0" + struct.pack("=HH", 2, 1)),  # attribute length 2
        _msg(NEWTABLE, b"\2\0\0\0" + struct.pack("=HH", 40, 1) + b"abc\0"),  # past the end
        _msg(NEWTABLE, b"\2\0\0\0"),  # a table without a name
        _msg(2, b"\0\0"),  # a short error message
    ],
)
def test_malformed_answers_are_one_error(data: bytes) -> None:
    with pytest.raises(nftlist.TableListError):
        nftlist.parse_messages(data, 1, [])


def test_an_error_answer_is_an_oserror() -> None:
    with pytest.raises(OSError, match="Operation not permitted"):
        nftlist.parse_messages(_msg(2, struct.pack("=i", -1)), 1, [])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_or_hang(data: bytes) -> None:
    try:
        nftlist.parse_messages(data, 1, [])
    except (nftlist.TableListError, OSError):
        pass


@requires_netns
def test_real_kernel_lists_tables_and_refuses_an_unprivileged_user() -> None:
    code = (
        "from exposure_audit.collectors.firewall.nftlist import list_tables; print(list_tables())"
    )
    with namespaces(unique("eaF-nl")) as (ns,):
        assert ns.run([sys.executable, "-c", code], check=True).stdout.strip() == "[]"
        ns.run(["nft", "add table inet a; add table ip b; add table netdev c"], check=True)
        out = ns.run([sys.executable, "-c", code], check=True).stdout.strip()
        assert out == "[('inet', 'a'), ('ip', 'b'), ('netdev', 'c')]"
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        out = ns.run([*nobody, sys.executable, "-c", code], check=True).stdout.strip()
        assert out == "None"  # no CAP_NET_ADMIN: the collector starts every command instead
