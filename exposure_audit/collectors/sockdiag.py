"""A small, stdlib-only reader of the kernel's sock_diag netlink interface (what `ss` uses).

Why not /proc/net/tcp6 (psutil): it cannot tell a dual-stack ``[::]`` listener from a
v6-only one, and drops the zone of a link-local bind. sock_diag reports, per socket and
without root: address, port, owner uid, inode, the bound interface (``idiag_if``) and,
for IPv6 sockets in LISTEN or CLOSE state, IPV6_V6ONLY (the ``INET_DIAG_SKV6ONLY``
attribute). That attribute cannot be asked for through ``idiag_ext`` (8 bits; see
include/uapi/linux/inet_diag.h): the kernel adds it unconditionally for LISTEN/CLOSE
sockets, so ``idiag_ext`` stays 0 and the reader just looks for it in every answer.

What "listening" means here: TCP sockets in LISTEN, and UDP sockets in CLOSE state
(bound, not connected: ss's "UNCONN"; a connected UDP socket only talks to its peer).

Only sockets of the caller's network namespace are visible: that is the kernel's rule.
Everything is bounded (socket count, bytes, a receive timeout); anything unexpected is a
``SockDiagError``; ``SockDiagUnavailable`` means "use another source" (not Linux, no
netlink, or the kernel has no diag module for that protocol).
"""

from __future__ import annotations

# _socket, not socket: socket.py imports enum, selectors and collections (~4 ms of
# every start); everything used here is in the C module.
import _socket
import errno
import os
import struct
from _operator import itemgetter  # operator.py itself costs ~0.4 ms to import

from exposure_audit.core.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h, net/tcp_states.h
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x01
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_DUMP_INTR = 0x10
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_ESTABLISHED = 1
TCP_CLOSE = 7
TCP_LISTEN = 10
INET_DIAG_SHUTDOWN = 8
INET_DIAG_SKV6ONLY = 11
AF_INET = _socket.AF_INET
AF_INET6 = _socket.AF_INET6

# struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }
_NLMSGHDR = struct.Struct("=IHHII")
# struct inet_diag_req_v2 { u8 family, protocol, ext, pad; u32 states; inet_diag_sockid id; }
# inet_diag_sockid: be16 sport, dport; be32 src[4], dst[4]; u32 if; u32 cookie[2] (48 bytes)
_REQ_V2 = struct.Struct("=BBBxI48s")
# struct inet_diag_msg: u8 family, state, timer, retrans; sockid; u32 expires, rqueue,
# wqueue, uid, inode. Ports are big-endian: read as raw bytes.
_DIAG_MSG = struct.Struct("=BBxx2s2x16s16xI8x12xII")
_DIAG_MSG_LEN = 72
# The hot path reads header + inet_diag_msg in one unpack per socket; for IPv4 only the
# first 4 bytes of the address.
_HDR_AND_MSG = {
    AF_INET: struct.Struct("=IHHI4xBBxx2s2x4s12x16xI8x12xII"),
    AF_INET6: struct.Struct("=IHHI4xBBxx2s2x16s16xI8x12xII"),
}
_FULL_LEN = 16 + _DIAG_MSG_LEN
# The attributes the kernel puts first for an IPv6 LISTEN/CLOSE socket, in this order
# (inet_diag_msg_attrs_fill): INET_DIAG_SHUTDOWN (u8), then INET_DIAG_SKV6ONLY (u8).
# Read at once when they are there; anything else goes through the attribute walk.
_V6_ATTRS = struct.Struct("=HHB3xHHB")
_V6ONLY_AT = _FULL_LEN + 8  # where INET_DIAG_SKV6ONLY then starts in the message
_RTATTR = struct.Struct("=HH")
_INT = struct.Struct("=i")
assert _DIAG_MSG.size == _DIAG_MSG_LEN and _REQ_V2.size == 56
assert all(s.size == _FULL_LEN for s in _HDR_AND_MSG.values())

PROTOCOLS: dict[str, tuple[int, int]] = {
    # name: (IPPROTO_*, state mask)
    "tcp": (_socket.IPPROTO_TCP, 1 << TCP_LISTEN),
    "udp": (_socket.IPPROTO_UDP, 1 << TCP_CLOSE),
}

# Bounds: generous for a real host (a 100,000-listener box is already extraordinary).
DEFAULT_MAX_SOCKETS = 1_000_000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_TIMEOUT = 5.0
# The kernel fills one ~32 KiB message batch per recv whatever the buffer: more does
# not mean fewer calls.
_RECV_BUF = 64 * 1024


class SockDiagError(Exception):
    """sock_diag answered something we cannot use (malformed, an error, too much)."""


class SockDiagUnavailable(SockDiagError):
    """No sock_diag here (not Linux, no netlink, or no diag module for the protocol):
    the caller should fall back to another source."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code  # the kernel's errno, when it answered one


# A kernel built without IPv6 answers these for an AF_INET6 dump: no IPv6 sockets.
_NO_FAMILY = (errno.ENOENT, errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT)


class DiagSocket(tuple[object, ...]):
    """One socket as the kernel reports it: a tuple with named fields (what
    collections.namedtuple makes, without importing collections), in this order:

    protocol ("tcp" | "udp"), family ("ipv4" | "ipv6"), address (no zone suffix), port,
    uid (owner, as seen from the caller's user namespace), inode (0 when no struct
    socket is attached), ifindex (idiag_if: SO_BINDTODEVICE or a link-local bind's
    scope; 0 = none), interface (name of ifindex, if it still exists), zone (for
    link-local fe80::/10 and ffx2:: addresses bound to an interface), v6only
    (IPV6_V6ONLY for ipv6 sockets; None for ipv4 or if not reported), state
    (TCP_LISTEN or TCP_CLOSE).
    """

    __slots__ = ()
    _fields = (
        "protocol",
        "family",
        "address",
        "port",
        "uid",
        "inode",
        "ifindex",
        "interface",
        "zone",
        "v6only",
        "state",
    )

    if TYPE_CHECKING:
        protocol: str
        family: str
        address: str
        port: int
        uid: int
        inode: int
        ifindex: int
        interface: str | None
        zone: str | None
        v6only: bool | None
        state: int

    def __new__(cls, *values: object) -> DiagSocket:
        if len(values) != len(cls._fields):
            raise TypeError(f"DiagSocket takes {len(cls._fields)} values, got {len(values)}")
        return tuple.__new__(cls, values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self, strict=True))
        return f"DiagSocket({shown})"

    def _asdict(self) -> dict[str, object]:
        return dict(zip(self._fields, self, strict=True))


for _i, _name in enumerate(DiagSocket._fields):
    setattr(DiagSocket, _name, property(itemgetter(_i)))
del _i, _name


@record
class DumpResult:
    """What one dump() read."""

    sockets: list[DiagSocket]
    truncated: bool  # stopped at max_sockets / max_bytes
    interrupted: bool  # the kernel flagged the dump as inconsistent (sockets changed)


@record
class DumpRows:
    """What one dump_rows() read: DumpResult with each socket a plain tuple of
    DiagSocket's fields."""

    sockets: list[tuple[Any, ...]]
    truncated: bool
    interrupted: bool


def available() -> bool:
    """Cheap check: can this process open a NETLINK_SOCK_DIAG socket at all?"""
    try:
        _open(0.5).close()
    except SockDiagUnavailable:
        return False
    return True


def _open(timeout: float) -> _socket.socket:
    family = getattr(_socket, "AF_NETLINK", None)
    if family is None:
        raise SockDiagUnavailable("this platform has no netlink sockets (not Linux)")
    try:
        sock = _socket.socket(family, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    except OSError as exc:
        raise SockDiagUnavailable(f"cannot open a sock_diag netlink socket: {exc}") from exc
    sock.settimeout(timeout)
    return sock


def _request(family: int, protocol: int, states: int, seq: int) -> bytes:
    body = _REQ_V2.pack(family, protocol, 0, states, b"\0" * 48)
    flags = NLM_F_REQUEST | NLM_F_DUMP
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, flags, seq, 0) + body


def _zone_applies(family: int, raw: bytes) -> bool:
    """Link-local unicast (fe80::/10) or link-local-scoped multicast (ffx2::/16)."""
    if family != AF_INET6:
        return False
    b0, b1 = raw[0], raw[1]
    return (b0 == 0xFE and (b1 & 0xC0) == 0x80) or (b0 == 0xFF and (b1 & 0x0F) == 0x02)


def dump(
    protocol: str,
    families: tuple[int, ...] = (AF_INET, AF_INET6),
    *,
    max_sockets: int = DEFAULT_MAX_SOCKETS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
) -> DumpResult:
    """Every listening socket of ``protocol`` ("tcp" or "udp") in ``families``, as
    DiagSocket tuples.

    Raises SockDiagUnavailable when the kernel cannot answer for this protocol, and
    SockDiagError for anything malformed. ``max_sockets``/``max_bytes`` bound the work:
    past either, reading stops and the result says ``truncated``.
    """
    res = dump_rows(
        protocol, families, max_sockets=max_sockets, max_bytes=max_bytes, timeout=timeout
    )
    new = tuple.__new__
    return DumpResult([new(DiagSocket, row) for row in res.sockets], res.truncated, res.interrupted)


def dump_rows(
    protocol: str,
    families: tuple[int, ...] = (AF_INET, AF_INET6),
    *,
    max_sockets: int = DEFAULT_MAX_SOCKETS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
) -> DumpRows:
    """dump(), with each socket a plain tuple of DiagSocket's fields in their order:
    what the listeners collector reads by index (making 10,000 DiagSocket tuples costs
    ~2 ms more than plain ones)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}")
    sock = _open(timeout)
    try:
        return _dump_on(sock, protocol, families, max_sockets, max_bytes)
    finally:
        sock.close()


def _dump_on(
    sock: _socket.socket,
    protocol: str,
    families: tuple[int, ...],
    max_sockets: int,
    max_bytes: int,
) -> DumpRows:
    ipproto, states = PROTOCOLS[protocol]
    out: list[tuple[Any, ...]] = []
    truncated = False
    interrupted = False
    budget = [max_bytes]
    ifnames: dict[int, str | None] = {}
    for seq, family in enumerate(families, start=1):
        if truncated:
            break
        try:
            sock.sendto(_request(family, ipproto, states, seq), (0, 0))
        except OSError as exc:
            raise SockDiagUnavailable(f"sock_diag request failed: {exc}") from exc
        try:
            t, i = _read_dump(sock, protocol, family, seq, out, max_sockets, budget, ifnames)
        except SockDiagUnavailable as exc:
            if family == AF_INET6 and seq > 1 and exc.code in _NO_FAMILY:
                continue  # IPv4 answered: this kernel just has no IPv6 (no sockets)
            raise
        truncated = truncated or t
        interrupted = interrupted or i
    return DumpRows(out, truncated, interrupted)


def _read_dump(
    sock: _socket.socket,
    protocol: str,
    family: int,
    seq: int,
    out: list[tuple[Any, ...]],
    max_sockets: int,
    budget: list[int],
    ifnames: dict[int, str | None],
) -> tuple[bool, bool]:
    """Read one dump's answers into ``out`` (plain tuples, DiagSocket's fields).
    Returns (truncated, interrupted).

    The hot loop of the collector (10,000 listeners = 10,000 messages): locals only,
    one struct unpack for header + inet_diag_msg (+ one for an IPv6 socket's first two
    attributes), one test for the usual case, plain tuples. Everything unusual
    (another message type, a stale answer, a malformed message) goes to _other_message.
    """
    fam_name = "ipv4" if family == AF_INET else "ipv6"
    is_v6 = family == AF_INET6
    ntop = _socket.inet_ntop
    full_unpack = _HDR_AND_MSG.get(family, _HDR_AND_MSG[AF_INET6]).unpack_from
    v6_unpack = _V6_ATTRS.unpack_from
    v6_attrs_end = _FULL_LEN + _V6_ATTRS.size
    append = out.append
    buf = bytearray(_RECV_BUF)
    interrupted = False
    addr_cache: dict[bytes, str] = {}
    count = len(out)
    while True:
        try:
            n = sock.recv_into(buf)
        except TimeoutError as exc:
            raise SockDiagError("sock_diag: no answer from the kernel (timed out)") from exc
        except OSError as exc:
            raise SockDiagError(f"sock_diag: reading the answer failed: {exc}") from exc
        if n <= 0:
            raise SockDiagError("sock_diag: the kernel closed the dump without DONE")
        budget[0] -= n
        off = 0
        while off + 16 <= n:
            if off + _FULL_LEN <= n:
                length, mtype, flags, mseq, fam, state, sport, raw, ifindex, uid, inode = (
                    full_unpack(buf, off)
                )
                usual = (
                    mtype == SOCK_DIAG_BY_FAMILY
                    and mseq == seq
                    and fam == family
                    and _FULL_LEN <= length
                    and off + length <= n
                )
            else:
                usual = False
            if not usual:
                length, done = _other_message(buf, off, n, seq, family, protocol, fam_name)
                if done:
                    return False, interrupted or done == 2
                off += (length + 3) & ~3
                continue
            if flags & NLM_F_DUMP_INTR:
                interrupted = True
            address = addr_cache.get(raw)
            if address is None:
                address = addr_cache[raw] = ntop(family, raw)
            v6only: bool | None = None
            if is_v6:
                if length >= v6_attrs_end:
                    alen1, atype1, _shut, alen2, atype2, value = v6_unpack(buf, off + _FULL_LEN)
                    if (
                        alen1 == 5
                        and (atype1 & 0x3FFF) == INET_DIAG_SHUTDOWN
                        and 5 <= alen2 <= length - _V6ONLY_AT
                        and (atype2 & 0x3FFF) == INET_DIAG_SKV6ONLY
                    ):
                        v6only = value != 0
                    else:
                        v6only = _find_v6only(buf, off + _FULL_LEN, off + length)
                else:
                    v6only = _find_v6only(buf, off + _FULL_LEN, off + length)
            ifname: str | None = None
            zone: str | None = None
            if ifindex:
                if ifindex in ifnames:
                    ifname = ifnames[ifindex]
                else:
                    try:
                        ifname = _socket.if_indextoname(ifindex)
                    except OSError:
                        ifname = None  # the interface went away
                    ifnames[ifindex] = ifname
                if _zone_applies(family, raw):
                    zone = ifname or str(ifindex)
            append(
                (
                    protocol,
                    fam_name,
                    address,
                    (sport[0] << 8) | sport[1],
                    uid,
                    inode,
                    ifindex,
                    ifname,
                    zone,
                    v6only,
                    state,
                )
            )
            count += 1
            if count >= max_sockets:
                return True, interrupted
            off += (length + 3) & ~3
        if off != n:
            raise SockDiagError("sock_diag: trailing bytes after the last message")
        if budget[0] <= 0:
            return True, interrupted


def _other_message(
    buf: bytearray, off: int, n: int, seq: int, family: int, protocol: str, fam_name: str
) -> tuple[int, int]:
    """Any message but the usual socket answer, at ``off``: (its length, 0) to skip it
    (a stale answer, an ACK), (length, 1 or 2) for the dump's end (2: the kernel flagged
    it interrupted). Raises for errors and for anything malformed."""
    length, mtype, flags, mseq, _pid = _NLMSGHDR.unpack_from(buf, off)
    if length < 16 or off + length > n:
        raise SockDiagError(f"sock_diag: malformed message (length {length})")
    if mseq != seq:
        return length, 0  # a stale answer to an earlier request: not ours
    if mtype == NLMSG_DONE:
        if length >= 20:
            (code,) = _INT.unpack_from(buf, off + 16)
            if code < 0:
                _raise_errno(-code, protocol, fam_name)
        return length, 2 if flags & NLM_F_DUMP_INTR else 1
    if mtype == NLMSG_ERROR:
        code = -errno.EIO
        if length >= 20:
            (code,) = _INT.unpack_from(buf, off + 16)
        if code == 0:
            return length, 0  # an ACK
        _raise_errno(-code, protocol, fam_name)
    if mtype != SOCK_DIAG_BY_FAMILY:
        raise SockDiagError(f"sock_diag: unexpected message type {mtype}")
    if length < _FULL_LEN:
        raise SockDiagError("sock_diag: truncated inet_diag_msg")
    fam = buf[off + 16]
    raise SockDiagError(f"sock_diag: asked for family {family}, got {fam}")


def _find_v6only(buf: bytearray, a: int, end: int) -> bool | None:
    """INET_DIAG_SKV6ONLY among a message's attributes (from ``a`` to ``end``)."""
    while a + 4 <= end:
        alen, atype = _RTATTR.unpack_from(buf, a)
        if alen < 4 or a + alen > end:
            raise SockDiagError("sock_diag: malformed attribute")
        if (atype & 0x3FFF) == INET_DIAG_SKV6ONLY and alen >= 5:
            return buf[a + 4] != 0
        a += (alen + 3) & ~3
    return None


def _raise_errno(code: int, protocol: str, family: str) -> None:
    text = os.strerror(code)
    if code in (errno.ENOENT, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT, errno.EOPNOTSUPP):
        raise SockDiagUnavailable(
            f"sock_diag cannot report {protocol}/{family} sockets here ({text}): "
            "is the kernel's inet_diag / udp_diag support loaded?",
            code,
        )
    if code in (errno.EPERM, errno.EACCES):
        raise SockDiagUnavailable(f"sock_diag refused the request ({text})", code)
    raise SockDiagError(f"sock_diag: the kernel answered an error for {protocol}/{family}: {text}")
