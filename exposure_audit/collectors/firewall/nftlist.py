"""Which nftables tables exist in this network namespace, asked of the kernel directly.

One netlink request (NFT_MSG_GETTABLE dump, the first thing ``nft list tables`` sends)
tells the firewall collector which commands are worth starting: none on a host with no
tables at all, no ``ip6tables-nft-save`` without an ``ip6`` table, and so on. Each
command costs a process start (a few ms of CPU on a small machine, while the other
collectors run). Needs CAP_NET_ADMIN, as nft does; ``list_tables`` returns None when
the kernel cannot be asked, and the collector then starts every command as before.
"""

from __future__ import annotations

import _socket
import os
import struct

NETLINK_NETFILTER = 12
_NFNL_SUBSYS_NFTABLES = 10
_NFT_MSG_NEWTABLE = 0
_NFT_MSG_GETTABLE = 1
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NFTA_TABLE_NAME = 1
_NFTA_TABLE_FLAGS = 2
NFT_TABLE_F_DORMANT = 0x1  # the table's base chains are not registered: no rule applies
_NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

_NLMSGHDR = struct.Struct("=IHHII")
_NFGENMSG = struct.Struct("=BBH")
_NLATTR = struct.Struct("=HH")

# nfgenmsg.nfgen_family -> nft's family name
FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}

_MAX_BYTES = 4 * 1024 * 1024
_MAX_TABLES = 10_000


class TableListError(Exception):
    """The kernel's answer could not be read (malformed, too large)."""


def list_tables(timeout: float = 2.0) -> list[tuple[str, str]] | None:
    """(family, name) of every nftables table, or None when the kernel cannot be asked
    (no nf_tables, no permission, a timeout, a malformed answer)."""
    got = table_flags(timeout)
    return None if got is None else list(got)


def table_flags(timeout: float = 2.0) -> dict[tuple[str, str], int] | None:
    """{(family, name): the table's flags (NFTA_TABLE_FLAGS)} of every nftables table, in
    the kernel's order, or None when the kernel cannot be asked. The flags are read here
    because nft 1.0.6's JSON misprints them (``"flags": "t"`` for a dormant table)."""
    try:
        sock = _socket.socket(
            _socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_NETFILTER
        )
    except OSError:
        return None
    try:
        sock.settimeout(timeout)
        sock.bind((0, 0))
        seq = 1
        body = _NFGENMSG.pack(0, 0, 0)  # NFPROTO_UNSPEC: every family
        mtype = (_NFNL_SUBSYS_NFTABLES << 8) | _NFT_MSG_GETTABLE
        header = _NLMSGHDR.pack(
            _NLMSGHDR.size + len(body), mtype, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0
        )
        sock.sendto(header + body, (0, 0))
        tables: list[tuple[str, str]] = []
        flags: dict[tuple[str, str], int] = {}
        total = 0
        while True:
            data = sock.recv(1 << 16)
            total += len(data)
            if not data or total > _MAX_BYTES:
                return None
            if parse_messages(data, seq, tables, flags):
                return {t: flags.get(t, 0) for t in tables}
    except (OSError, TableListError):
        return None
    finally:
        sock.close()


def parse_messages(
    data: bytes,
    seq: int,
    tables: list[tuple[str, str]],
    flags: dict[tuple[str, str], int] | None = None,
) -> bool:
    """Add the tables in one recv's worth of netlink messages to ``tables`` (and their
    flags to ``flags``, when given); True once the dump is complete. Raises
    TableListError on anything malformed, OSError on an error answer."""
    offset = 0
    newtable = (_NFNL_SUBSYS_NFTABLES << 8) | _NFT_MSG_NEWTABLE
    while offset + _NLMSGHDR.size <= len(data):
        length, mtype, _flags, mseq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            raise TableListError("malformed netlink message")
        if mseq == seq:
            if mtype == _NLMSG_DONE:
                return True
            if mtype == _NLMSG_ERROR:
                if length < _NLMSGHDR.size + 4:
                    raise TableListError("short netlink error message")
                (code,) = struct.unpack_from("=i", data, offset + _NLMSGHDR.size)
                raise OSError(-code, os.strerror(-code) if code < 0 else "netlink error")
            if mtype == newtable:
                family, name, tflags = _table(data, offset + _NLMSGHDR.size, offset + length)
                tables.append((family, name))
                if flags is not None:
                    flags[(family, name)] = tflags
                if len(tables) > _MAX_TABLES:
                    raise TableListError("too many tables")
        offset += (length + 3) & ~3
    return False


def _table(data: bytes, start: int, end: int) -> tuple[str, str, int]:
    if start + _NFGENMSG.size > end:
        raise TableListError("short nftables message")
    family, _version, _res = _NFGENMSG.unpack_from(data, start)
    pos = start + _NFGENMSG.size
    name = None
    tflags = 0
    while pos + _NLATTR.size <= end:
        alen, atype = _NLATTR.unpack_from(data, pos)
        if alen < _NLATTR.size or pos + alen > end:
            raise TableListError("malformed netlink attribute")
        if atype & _NLA_TYPE_MASK == _NFTA_TABLE_NAME:
            raw = data[pos + _NLATTR.size : pos + alen].split(b"\0", 1)[0]
            name = raw.decode("utf-8", "backslashreplace")
        elif atype & _NLA_TYPE_MASK == _NFTA_TABLE_FLAGS:
            if alen != _NLATTR.size + 4:
                raise TableListError("malformed table flags")
            (tflags,) = struct.unpack_from("!I", data, pos + _NLATTR.size)
        pos += (alen + 3) & ~3
    if name is None:
        raise TableListError("table without a name")
    return FAMILIES.get(family, f"family-{family}"), name, tflags
