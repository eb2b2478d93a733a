"""SSDP discovery of Internet Gateway Devices (UDA 1.1 M-SEARCH over IPv4 multicast).

Every datagram is an attacker's: answers are size-capped, parsed leniently, and only
the fields we need are kept. Whether a LOCATION may be fetched is decided by the
caller (``location_problem``), from the address that actually sent the answer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

from exposure_audit.core import addresses
from exposure_audit.core.records import record

SSDP_ADDR = "239.255.255.250"
SSDP_PORT = 1900
MX = 1  # seconds a device may wait before answering (UDA: 1..5); small = fast answers

SEARCH_TARGETS: tuple[str, ...] = (
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
)

MAX_DATAGRAM = 8192  # a real answer is ~300 bytes
MAX_FIELD = 1024
MAX_ANSWERS = 1000  # datagrams looked at per discovery: a flood costs bounded time


@record
class SsdpAnswer:
    sender: str  # the address the datagram came from
    location: str
    st: str
    usn: str
    server: str


def m_search(st: str, mx: int = MX) -> bytes:
    return (
        "M-SEARCH * HTTP/1.1\r\n"
        f"HOST: {SSDP_ADDR}:{SSDP_PORT}\r\n"
        'MAN: "ssdp:discover"\r\n'
        f"MX: {mx}\r\n"
        f"ST: {st}\r\n"
        "USER-AGENT: Linux/1 UPnP/1.1 exposure-audit/1\r\n"
        "\r\n"
    ).encode("ascii")


def parse_answer(data: bytes, sender: str) -> SsdpAnswer | None:
    """An M-SEARCH answer, or None for anything else (NOTIFY, junk, other devices)."""
    if len(data) > MAX_DATAGRAM:
        return None
    text = data.decode("latin-1")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    if not lines or not lines[0].upper().startswith("HTTP/1.") or " 200" not in lines[0]:
        return None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            break
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        if key not in fields:
            fields[key] = value.strip()[:MAX_FIELD]
    st = fields.get("st", "")
    location = fields.get("location", "")
    if not location or not _is_igd_target(st, fields.get("usn", "")):
        return None
    return SsdpAnswer(
        sender=sender,
        location=location,
        st=st,
        usn=fields.get("usn", ""),
        server=fields.get("server", ""),
    )


def _is_igd_target(st: str, usn: str) -> bool:
    for value in (st, usn):
        if any(t.rsplit(":", 1)[0] in value for t in SEARCH_TARGETS):
            return True
    return False


def location_problem(answer: SsdpAnswer) -> str | None:
    """Why this answer's LOCATION must not be fetched, or None if it may be."""
    try:
        parts = urlsplit(answer.location)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"an invalid LOCATION {answer.location!r}"
    if parts.scheme.lower() != "http":
        return f"a non-http LOCATION {answer.location!r}"
    try:
        loc_ip = ipaddress.ip_address(host)
    except ValueError:
        return (
            f"LOCATION {answer.location!r} names a host, not the answering address {answer.sender}"
        )
    if str(loc_ip) != str(ipaddress.ip_address(answer.sender)):
        return (
            f"LOCATION {answer.location!r} points at another host than the one that "
            f"answered ({answer.sender})"
        )
    if not addresses.fetch_allowed(answer.sender):
        return (
            f"it came from {answer.sender}, which is not a private, link-local or loopback address"
        )
    return None


class Searcher:
    """One UDP socket on an ephemeral port; answers are yielded as they arrive."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.setblocking(False)
        self.datagrams = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self) -> None:
        """Send one M-SEARCH per target. OSError (no route for multicast...) propagates."""
        for st in SEARCH_TARGETS:
            self.sock.sendto(m_search(st), (SSDP_ADDR, SSDP_PORT))

    def answers(self, deadline: float, resend_at: float | None = None) -> Iterator[SsdpAnswer]:
        """Answers until ``deadline`` (monotonic). The caller stops early by not asking
        for more. One re-send at ``resend_at`` (UDP may drop the first)."""
        while self.datagrams < MAX_ANSWERS:
            now = time.monotonic()
            if now >= deadline:
                return
            if resend_at is not None and now >= resend_at:
                resend_at = None
                with contextlib.suppress(OSError):
                    self.send()
            wait = deadline - now
            if resend_at is not None:
                wait = min(wait, max(0.0, resend_at - now))
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                continue
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self.datagrams += 1  # e.g. a queued ICMP error: keep listening
                continue
            self.datagrams += 1
            answer = parse_answer(data, str(addr[0]))
            if answer is not None:
                yield answer
