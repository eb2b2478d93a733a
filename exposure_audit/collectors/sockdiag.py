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

import errno
import os
import socket
import struct
from typing import NamedTuple

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
INET_DIAG_SKV6ONLY = 11

# struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }
_NLMSGHDR = struct.Struct("=IHHII")
# struct inet_diag_req_v2 { u8 family, protocol, ext, pad; u32 states; inet_diag_sockid id; }
# inet_diag_sockid: be16 sport, dport; be32 src[4], dst[4]; u32 if; u32 cookie[2] (48 bytes)
_REQ_V2 = struct.Struct("=BBBxI48s")
# struct inet_diag_msg: u8 family, state, timer, retrans; sockid; u32 expires, rqueue,
# wqueue, uid, inode. Ports are big-endian: read as raw bytes.
_DIAG_MSG = struct.Struct("=BBxx2s2x16s16xI8x12xII")
# Both at once: the hot path reads one struct per socket.
_HDR_AND_MSG = struct.Struct("=IHHI4x" + _DIAG_MSG.format[1:])
_FULL_LEN = _HDR_AND_MSG.size
_RTATTR = struct.Struct("=HH")
_DIAG_MSG_LEN = 72
assert _DIAG_MSG.size == _DIAG_MSG_LEN and _REQ_V2.size == 56 and _FULL_LEN == 16 + 72

PROTOCOLS: dict[str, tuple[int, int]] = {
    # name: (IPPROTO_*, state mask)
    "tcp": (socket.IPPROTO_TCP, 1 << TCP_LISTEN),
    "udp": (socket.IPPROTO_UDP, 1 << TCP_CLOSE),
}

# Bounds: generous for a real host (a 100,000-listener box is already extraordinary).
DEFAULT_MAX_SOCKETS = 1_000_000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_TIMEOUT = 5.0
_RECV_BUF = 256 * 1024


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


class DiagSocket(NamedTuple):
    """One socket as the kernel reports it (a NamedTuple: cheap at 10,000 sockets)."""

    protocol: str  # "tcp" | "udp"
    family: str  # "ipv4" | "ipv6"
    address: str  # no zone suffix
    port: int
    uid: int  # owner uid, as seen from the caller's user namespace
    inode: int  # 0 when no struct socket is attached
    ifindex: int  # idiag_if: SO_BINDTODEVICE or a link-local bind's scope; 0 = none
    interface: str | None  # name of ifindex, if it still exists
    zone: str | None  # for link-local (fe80::/10, ffx2::) addresses bound to an interface
    v6only: bool | None  # IPV6_V6ONLY for ipv6 sockets; None for ipv4 or if not reported
    state: int  # TCP_LISTEN or TCP_CLOSE


class DumpResult(NamedTuple):
    sockets: list[DiagSocket]
    truncated: bool  # stopped at max_sockets / max_bytes
    interrupted: bool  # the kernel flagged the dump as inconsistent (sockets changed)


def available() -> bool:
    """Cheap check: can this process open a NETLINK_SOCK_DIAG socket at all?"""
    try:
        _open(0.5).close()
    except SockDiagUnavailable:
        return False
    return True


def _open(timeout: float) -> socket.socket:
    family = getattr(socket, "AF_NETLINK", None)
    if family is None:
        raise SockDiagUnavailable("this platform has no netlink sockets (not Linux)")
    try:
        sock = socket.socket(family, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
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
    if family != socket.AF_INET6:
        return False
    b0, b1 = raw[0], raw[1]
    return (b0 == 0xFE and (b1 & 0xC0) == 0x80) or (b0 == 0xFF and (b1 & 0x0F) == 0x02)


def dump(
    protocol: str,
    families: tuple[int, ...] = (socket.AF_INET, socket.AF_INET6),
    *,
    max_sockets: int = DEFAULT_MAX_SOCKETS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
) -> DumpResult:
    """Every listening socket of ``protocol`` ("tcp" or "udp") in ``families``.

    Raises SockDiagUnavailable when the kernel cannot answer for this protocol, and
    SockDiagError for anything malformed. ``max_sockets``/``max_bytes`` bound the work:
    past either, reading stops and the result says ``truncated``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}")
    sock = _open(timeout)
    try:
        return _dump_on(sock, protocol, families, max_sockets, max_bytes)
    finally:
        sock.close()


def _dump_on(
    sock: socket.socket,
    protocol: str,
    families: tuple[int, ...],
    max_sockets: int,
    max_bytes: int,
) -> DumpResult:
    ipproto, states = PROTOCOLS[protocol]
    out: list[DiagSocket] = []
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
            if family == socket.AF_INET6 and seq > 1 and exc.code in _NO_FAMILY:
                continue  # IPv4 answered: this kernel just has no IPv6 (no sockets)
            raise
        truncated = truncated or t
        interrupted = interrupted or i
    return DumpResult(out, truncated, interrupted)


def _read_dump(
    sock: socket.socket,
    protocol: str,
    family: int,
    seq: int,
    out: list[DiagSocket],
    max_sockets: int,
    budget: list[int],
    ifnames: dict[int, str | None],
) -> tuple[bool, bool]:
    """Read one dump's answers into ``out``. Returns (truncated, interrupted).

    The hot loop of the collector (10,000 listeners = 10,000 messages): locals only,
    one struct unpack for header + inet_diag_msg, tuples built without the NamedTuple's
    Python-level __new__.
    """
    fam_name = "ipv4" if family == socket.AF_INET else "ipv6"
    addr_len = 4 if family == socket.AF_INET else 16
    is_v6 = family == socket.AF_INET6
    ntop = socket.inet_ntop
    hdr_unpack = _NLMSGHDR.unpack_from
    full_unpack = _HDR_AND_MSG.unpack_from
    rta_unpack = _RTATTR.unpack_from
    append = out.append
    new = tuple.__new__
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
                length, mtype, flags, mseq, fam, state, sport, src, ifindex, uid, inode = (
                    full_unpack(buf, off)
                )
            else:
                length, mtype, flags, mseq, _pid = hdr_unpack(buf, off)
                fam = -1
            if length < 16 or off + length > n:
                raise SockDiagError(f"sock_diag: malformed message (length {length})")
            if mtype != SOCK_DIAG_BY_FAMILY or mseq != seq:
                if mseq != seq:
                    off += (length + 3) & ~3
                    continue  # a stale answer to an earlier request: not ours
                if mtype == NLMSG_DONE:
                    if length >= 20:
                        (code,) = struct.unpack_from("=i", buf, off + 16)
                        if code < 0:
                            _raise_errno(-code, protocol, fam_name)
                    return False, interrupted or bool(flags & NLM_F_DUMP_INTR)
                if mtype == NLMSG_ERROR:
                    code = -errno.EIO
                    if length >= 20:
                        (code,) = struct.unpack_from("=i", buf, off + 16)
                    if code == 0:
                        off += (length + 3) & ~3
                        continue  # an ACK
                    _raise_errno(-code, protocol, fam_name)
                raise SockDiagError(f"sock_diag: unexpected message type {mtype}")
            if length < _FULL_LEN:
                raise SockDiagError("sock_diag: truncated inet_diag_msg")
            if fam != family:
                raise SockDiagError(f"sock_diag: asked for family {family}, got {fam}")
            if flags & NLM_F_DUMP_INTR:
                interrupted = True
            raw = src[:addr_len]
            address = addr_cache.get(raw)
            if address is None:
                address = addr_cache[raw] = ntop(family, raw)
            v6only: bool | None = None
            if is_v6:
                a = off + _FULL_LEN
                end = off + length
                while a + 4 <= end:
                    alen, atype = rta_unpack(buf, a)
                    if alen < 4 or a + alen > end:
                        raise SockDiagError("sock_diag: malformed attribute")
                    if (atype & 0x3FFF) == INET_DIAG_SKV6ONLY and alen >= 5:
                        v6only = buf[a + 4] != 0
                        break
                    a += (alen + 3) & ~3
            ifname: str | None = None
            zone: str | None = None
            if ifindex:
                if ifindex in ifnames:
                    ifname = ifnames[ifindex]
                else:
                    try:
                        ifname = socket.if_indextoname(ifindex)
                    except OSError:
                        ifname = None  # the interface went away
                    ifnames[ifindex] = ifname
                if _zone_applies(family, raw):
                    zone = ifname or str(ifindex)
            append(
                new(
                    DiagSocket,
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
                    ),
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
