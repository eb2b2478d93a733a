"""The sock_diag netlink reader against the real kernel, and its parser against
malformed answers.

Sockets bound to a wildcard or to a veth are opened only inside namespaces made here
(prefix eaL); in the machine's own namespace only loopback binds are used.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netns import link, namespaces, requires_netns, unique

from exposure_audit.collectors import sockdiag

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="sock_diag is a Linux kernel interface"
)
pytestmark = linux_only


def _key(s: sockdiag.DiagSocket) -> tuple[str, str, str, int]:
    return (s.protocol, s.family, s.address, s.port)


def _all() -> list[sockdiag.DiagSocket]:
    return sockdiag.dump("tcp").sockets + sockdiag.dump("udp").sockets


def test_sees_tcp_and_udp_loopback_sockets_on_both_families_with_uid_and_inode() -> None:
    """Every kind of socket we open (tcp4, tcp6, udp4, udp6) is reported with the
    right address, port, owner uid and inode; a connected UDP socket and a bound but
    not listening TCP socket are not listeners and are not reported."""
    opened = []
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.bind((host, 0))
        t.listen()
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((host, 0))
        opened += [("tcp", t), ("udp", u)]
    idle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    idle.bind(("127.0.0.1", 0))  # bound, never listen(): not a listener
    connected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    connected.bind(("127.0.0.1", 0))
    connected.connect(opened[1][1].getsockname())
    try:
        by_inode = {s.inode: s for s in _all()}
        for proto, sock in opened:
            ino = os.fstat(sock.fileno()).st_ino
            assert ino in by_inode, f"{proto} {sock.getsockname()} not reported"
            got = by_inode[ino]
            host, port = sock.getsockname()[:2]
            fam = "ipv6" if sock.family == socket.AF_INET6 else "ipv4"
            assert (got.protocol, got.family, got.address, got.port) == (proto, fam, host, port)
            assert got.uid == os.geteuid()
            assert got.ifindex == 0 and got.interface is None and got.zone is None
            # ::1 is a specific IPv6 address: the kernel makes such sockets v6-only
            assert got.v6only is (True if fam == "ipv6" else None)
        for sock in (idle, connected):
            assert os.fstat(sock.fileno()).st_ino not in by_inode
    finally:
        for _p, sock in opened:
            sock.close()
        idle.close()
        connected.close()


def test_dump_is_dump_rows_as_named_tuples() -> None:
    """dump() gives DiagSocket tuples (fields by name, _asdict, repr), dump_rows() the
    same values as plain tuples (what the listeners collector reads by index)."""
    assert sockdiag.available()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port, ino = s.getsockname()[1], os.fstat(s.fileno()).st_ino
    try:
        named = [x for x in sockdiag.dump("tcp", (socket.AF_INET,)).sockets if x.port == port]
        rows = [r for r in sockdiag.dump_rows("tcp", (socket.AF_INET,)).sockets if r[3] == port]
    finally:
        s.close()
    assert len(named) == len(rows) == 1
    (one,), (row,) = named, rows
    assert type(one) is sockdiag.DiagSocket and type(row) is tuple and tuple(one) == row
    assert (one.protocol, one.family, one.address, one.port, one.inode) == (
        "tcp",
        "ipv4",
        "127.0.0.1",
        port,
        ino,
    )
    assert one == tuple(getattr(one, f) for f in sockdiag.DiagSocket._fields)
    assert list(one._asdict()) == list(sockdiag.DiagSocket._fields)
    assert repr(one).startswith("DiagSocket(protocol='tcp', family='ipv4', address='127.0.0.1'")
    with pytest.raises(TypeError):
        sockdiag.DiagSocket("tcp", "ipv4")


def test_max_sockets_bound_truncates_and_says_so() -> None:
    """The reader stops at max_sockets and reports truncated instead of reading on."""
    socks = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        socks.append(s)
    try:
        res = sockdiag.dump("tcp", max_sockets=2)
        assert res.truncated and len(res.sockets) == 2
        assert not sockdiag.dump("tcp").truncated
    finally:
        for s in socks:
            s.close()


def test_unknown_protocol_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        sockdiag.dump("sctp")


_IN_NS = textwrap.dedent(
    """
    import json, socket, sys
    from exposure_audit.collectors import sockdiag
    SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
    made = {}
    def keep(name, s):
        made[name] = s
        return s
    for proto, kind in (("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)):
        for v6only in (0, 1):
            s = keep(f"{proto}-any6-v6only{v6only}", socket.socket(socket.AF_INET6, kind))
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
            s.bind(("::", 0))
        s = keep(f"{proto}-any4", socket.socket(socket.AF_INET, kind))
        s.bind(("0.0.0.0", 0))
        s = keep(f"{proto}-ll", socket.socket(socket.AF_INET6, kind))
        s.bind(("fe80::1", 0, 0, socket.if_nametoindex(sys.argv[1])))
        s = keep(f"{proto}-dev", socket.socket(socket.AF_INET, kind))
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, sys.argv[1].encode())
        s.bind(("0.0.0.0", 0))
    for name, s in made.items():
        if name.startswith("tcp"):
            s.listen()
    ports = {name: s.getsockname()[1] for name, s in made.items()}
    found = [s._asdict() for s in sockdiag.dump("tcp").sockets + sockdiag.dump("udp").sockets]
    import psutil
    ps = sorted(
        ["tcp" if c.type == socket.SOCK_STREAM else "udp", c.laddr[0].split("%")[0], c.laddr[1]]
        for c in psutil.net_connections(kind="inet")
        if (c.type == socket.SOCK_STREAM and c.status == "LISTEN")
        or (c.type == socket.SOCK_DGRAM and not c.raddr)
    )
    print(json.dumps({"ports": ports, "found": found, "psutil": ps}))
    """
)


@requires_netns
def test_v6only_zone_bindtodevice_and_psutil_agreement_in_a_namespace() -> None:
    """Inside a namespace with a veth: IPV6_V6ONLY on [::] binds is reported per socket
    (false and true, TCP and UDP); a link-local bind keeps its zone (the veth's name);
    an SO_BINDTODEVICE socket reports the interface; and the set of (protocol,
    address, port) agrees exactly with psutil's, which reads /proc/net instead."""
    host_name, peer_name = unique("eaL-sd"), unique("eaL-sdp")
    with namespaces(host_name, peer_name) as (host, peer):
        link(host, "eaLv0", peer, "eaLv1")
        host.ip("addr", "add", "fe80::1/64", "dev", "eaLv0", "nodad")
        out = host.run([sys.executable, "-c", _IN_NS, "eaLv0"], check=True)
        data = json.loads(out.stdout)
    ports: dict[str, int] = data["ports"]
    found = data["found"]
    by_port = {(f["protocol"], f["port"]): f for f in found}
    for name, port in ports.items():
        proto = name.split("-", 1)[0]
        got = by_port[(proto, port)]
        if "any6" in name:
            assert got["address"] == "::" and got["family"] == "ipv6"
            assert got["v6only"] is name.endswith("v6only1"), name
            assert got["zone"] is None and got["interface"] is None
        elif name.endswith("-ll"):
            assert got["address"] == "fe80::1"
            assert got["zone"] == "eaLv0" and got["interface"] == "eaLv0"
            assert got["v6only"] is True
        elif name.endswith("-dev"):
            assert got["address"] == "0.0.0.0" and got["family"] == "ipv4"
            assert got["interface"] == "eaLv0" and got["zone"] is None
            assert got["v6only"] is None
        else:
            assert got["address"] == "0.0.0.0" and got["interface"] is None
    assert len(found) == len(ports) == 10  # nothing else listens in a fresh namespace
    ours = sorted([f["protocol"], f["address"], f["port"]] for f in found)
    assert ours == data["psutil"]


# --------------------------------------------------------------------------- parser
# The kernel never sends malformed answers on purpose; these feed crafted bytes to the
# reader through a socketpair (the only fake here: a broken kernel cannot be made).

_HDR = struct.Struct("=IHHII")


def _msg(mtype: int, payload: bytes, seq: int = 1, flags: int = 0) -> bytes:
    return _HDR.pack(16 + len(payload), mtype, flags, seq, 0) + payload


def _diag(family: int, port: int, addr: bytes, attrs: bytes = b"", ifindex: int = 0) -> bytes:
    body = (
        struct.pack("=BBBB", family, sockdiag.TCP_LISTEN, 0, 0)
        + struct.pack(">HH", port, 0)
        + addr.ljust(16, b"\0")
        + b"\0" * 16
        + struct.pack("=I8sIIIII", ifindex, b"\0" * 8, 0, 0, 0, 1000, 4242)
    )
    return _msg(sockdiag.SOCK_DIAG_BY_FAMILY, body + attrs)


def _attr(atype: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), atype) + value
    return raw + b"\0" * (-len(raw) % 4)


def _feed(*datagrams: bytes, family: int = socket.AF_INET6) -> list[sockdiag.DiagSocket]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        for d in datagrams:
            b.send(d)
        b.close()
        a.settimeout(1)
        out: list[tuple] = []  # type: ignore[type-arg]
        sockdiag._read_dump(a, "tcp", family, 1, out, 1000, [1 << 20], {})
        return [sockdiag.DiagSocket(*row) for row in out]
    finally:
        a.close()


def _done(code: int = 0) -> bytes:
    return _msg(sockdiag.NLMSG_DONE, struct.pack("=i", code))


def test_parser_reads_attributes_and_skips_stale_answers() -> None:
    """v6only comes from the INET_DIAG_SKV6ONLY attribute wherever it sits among the
    others (None when it is missing); a message with another sequence number (a stale
    dump) is ignored."""
    addr = socket.inet_pton(socket.AF_INET6, "2001:db8::5")
    attrs = _attr(8, b"\0") + _attr(sockdiag.INET_DIAG_SKV6ONLY, b"\x01") + _attr(30, b"x" * 8)
    stale = _HDR.pack(16 + 4, sockdiag.SOCK_DIAG_BY_FAMILY, 0, 99, 0) + b"\0" * 4
    elsewhere = _attr(30, b"x" * 8) + _attr(8, b"\0") + _attr(sockdiag.INET_DIAG_SKV6ONLY, b"\0")
    absent = _attr(8, b"\0") + _attr(30, b"x" * 8)
    got = _feed(
        stale
        + _diag(socket.AF_INET6, 8080, addr, attrs)  # where the kernel puts it: read at once
        + _diag(socket.AF_INET6, 8081, addr, elsewhere)  # found by the attribute walk
        + _diag(socket.AF_INET6, 8082, addr, absent)
        + _diag(socket.AF_INET6, 8083, addr)  # no attributes at all
        + _done()
    )
    assert [(s.address, s.port, s.v6only, s.uid, s.inode) for s in got] == [
        ("2001:db8::5", 8080, True, 1000, 4242),
        ("2001:db8::5", 8081, False, 1000, 4242),
        ("2001:db8::5", 8082, None, 1000, 4242),
        ("2001:db8::5", 8083, None, 1000, 4242),
    ]


@pytest.mark.parametrize(
    ("code", "exc"),
    [
        (errno.ENOENT, sockdiag.SockDiagUnavailable),
        (errno.EPERM, sockdiag.SockDiagUnavailable),
        (errno.EINVAL, sockdiag.SockDiagError),
    ],
)
def test_kernel_errors_map_to_unavailable_or_error(code: int, exc: type[Exception]) -> None:
    """An NLMSG_ERROR the caller can work around (no diag module, refused) is
    SockDiagUnavailable (fall back to psutil); anything else is SockDiagError."""
    with pytest.raises(exc):
        _feed(_msg(sockdiag.NLMSG_ERROR, struct.pack("=i", -code) + b"\0" * 16))
    with pytest.raises(exc):
        _feed(_done(-code))


@pytest.mark.parametrize(
    "data",
    [
        _HDR.pack(8, 20, 0, 1, 0),  # length shorter than the header
        _HDR.pack(500, 20, 0, 1, 0) + b"\0" * 8,  # length past the datagram
        _msg(20, b"\0" * 10),  # truncated inet_diag_msg
        _msg(77, b""),  # unknown message type
        _diag(socket.AF_INET, 1, b"\x7f\0\0\1"),  # family does not match the request
        _diag(socket.AF_INET6, 1, b"\0" * 16, attrs=struct.pack("=HH", 200, 11)),  # attr
        _diag(  # v6only where the kernel puts it, but its length runs past the message
            socket.AF_INET6,
            1,
            b"\0" * 16,
            attrs=_attr(8, b"\0") + struct.pack("=HHB3x", 200, 11, 1),
        ),
        _HDR.pack(16, 20, 0, 1, 0)[:10],  # trailing bytes
    ],
)
def test_malformed_answers_are_a_clean_error(data: bytes) -> None:
    with pytest.raises(sockdiag.SockDiagError):
        _feed(data)


def test_silence_is_a_timeout_error_not_a_hang() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        a.settimeout(0.2)
        with pytest.raises(sockdiag.SockDiagError, match="timed out"):
            sockdiag._read_dump(a, "tcp", socket.AF_INET, 1, [], 10, [1 << 20], {})
    finally:
        a.close()
        b.close()


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=400))
def test_arbitrary_bytes_never_escape_as_another_exception(data: bytes) -> None:
    """Whatever the bytes, the reader returns sockets or raises SockDiagError."""
    try:
        _feed(data, _done())
    except sockdiag.SockDiagError:
        pass


class _ScriptedKernel:
    """Answers each request with the next scripted datagram (a socketpair underneath).
    Stands in for a kernel without IPv6, which cannot be booted here."""

    def __init__(self, *answers: bytes) -> None:
        self.answers = list(answers)
        self.a, self.b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.a.settimeout(1)

    def sendto(self, data: bytes, address: object) -> int:
        self.b.send(self.answers.pop(0))
        return len(data)

    def recv_into(self, buf: bytearray) -> int:
        return self.a.recv_into(buf)

    def close(self) -> None:
        self.a.close()
        self.b.close()


def _error(code: int, seq: int) -> bytes:
    return _msg(sockdiag.NLMSG_ERROR, struct.pack("=i", -code) + b"\0" * 16, seq=seq)


def test_a_kernel_without_ipv6_still_gives_the_ipv4_sockets() -> None:
    """IPv4 answers, the IPv6 dump says ENOENT/EAFNOSUPPORT: the IPv4 sockets are the
    result (no IPv6 in the kernel means no IPv6 listeners), not a fallback to psutil.
    The same error on the first (IPv4) request still means "unavailable"."""
    v4 = _diag(socket.AF_INET, 22, socket.inet_aton("0.0.0.0"))
    for code in (errno.ENOENT, errno.EAFNOSUPPORT):
        kernel = _ScriptedKernel(v4 + _done(), _error(code, seq=2))
        try:
            res = sockdiag._dump_on(kernel, "tcp", (socket.AF_INET, socket.AF_INET6), 10, 1 << 20)  # type: ignore[arg-type]
        finally:
            kernel.close()
        assert [(s[2], s[3]) for s in res.sockets] == [("0.0.0.0", 22)]  # address, port
    kernel = _ScriptedKernel(_error(errno.ENOENT, seq=1))
    try:
        with pytest.raises(sockdiag.SockDiagUnavailable):
            sockdiag._dump_on(kernel, "tcp", (socket.AF_INET, socket.AF_INET6), 10, 1 << 20)  # type: ignore[arg-type]
    finally:
        kernel.close()
