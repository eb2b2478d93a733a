"""Bounded HTTP for talking to a (possibly hostile) LAN device.

Every request has a connect timeout, a per-read timeout and a *total* deadline. The
total deadline is what stops a device that dribbles one byte a second: requests' read
timeout restarts on every byte, so it alone would wait forever. It is enforced by the
socket itself (``_DeadlineSocket``), so it also covers the status line and headers,
which http.client reads before requests returns.

Other rules: bodies are read with a byte cap (``Content-Length`` above the cap is
refused unread), no redirect is followed, no proxy / netrc / environment settings are
used (``trust_env=False``: a LAN device must never see credentials), no compression
is accepted (no decompression bombs), http:// only.
"""

from __future__ import annotations

import contextvars
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

from exposure_audit.collectors.upnp.description import inert
from exposure_audit.collectors.upnp.wire import Connection, WireError
from exposure_audit.core.records import record

# Monotonic time after which any read or write on our sockets fails.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "exposure_audit_upnp_deadline", default=None
)

USER_AGENT = "exposure-audit UPnP/1.1"


class FetchError(Exception):
    """A request failed: the message is ready for a warning."""


class DeadlineExceeded(TimeoutError):
    pass


class _DeadlineSocket(socket.socket):
    """A socket whose every recv/send is bounded by the current request's deadline."""

    def _call(self, fn: Any, *args: Any) -> Any:
        deadline = _DEADLINE.get()
        if deadline is None:
            return fn(*args)
        base = self.gettimeout()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("total time limit for the request reached")
        if base is not None and base <= remaining:
            return fn(*args)  # the per-read timeout is the tighter bound
        super().settimeout(remaining)
        try:
            return fn(*args)
        except TimeoutError:
            raise DeadlineExceeded("total time limit for the request reached") from None
        finally:
            super().settimeout(base)

    def recv_into(self, *args: Any) -> int:
        return int(self._call(super().recv_into, *args))

    def recv(self, *args: Any) -> bytes:
        return bytes(self._call(super().recv, *args))

    def sendall(self, *args: Any) -> None:
        self._call(super().sendall, *args)

    def send(self, *args: Any) -> int:
        return int(self._call(super().send, *args))


class _Connection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        timeout = sock.gettimeout()
        wrapped = _DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        wrapped.settimeout(timeout)
        return wrapped


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool}


@record
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    url: str


def check_url(url: str) -> tuple[str, int]:
    """(host, port) of an http:// URL, or FetchError."""
    shown = inert(url, 200)
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError as exc:
        raise FetchError(f"invalid URL {shown!r}: {exc}") from None
    if parts.scheme.lower() != "http":
        raise FetchError(f"only http:// URLs are used for UPnP, not {shown!r}")
    if not parts.hostname:
        raise FetchError(f"URL without a host: {shown!r}")
    if parts.username or parts.password:
        raise FetchError(f"URL with credentials refused: {shown!r}")
    return parts.hostname, port


class HttpClient:
    """One keep-alive session to one device, with bounded requests."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies, no .netrc credentials for LAN devices
        self.session.headers.clear()
        self.session.headers.update(
            {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Connection": "keep-alive"}
        )
        self._adapter = _Adapter(pool_connections=2, pool_maxsize=1, max_retries=0)
        self.session.mount("http://", self._adapter)
        self.session.mount("https://", self._adapter)  # refused by check_url anyway
        self.requests = 0
        self._conns: dict[tuple[str, int], Connection] = {}

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _timeouts(self, deadline: float) -> tuple[float, float]:
        remaining = max(0.01, deadline - time.monotonic())
        return min(self.timeout, remaining), min(self.timeout, remaining)

    def get(self, url: str, max_bytes: int, deadline: float | None = None) -> HttpResponse:
        """GET with requests (no redirects). Raises FetchError."""
        check_url(url)
        deadline = deadline or time.monotonic() + self.timeout
        token = _DEADLINE.set(deadline)
        self.requests += 1
        try:
            resp = self.session.get(
                url, timeout=self._timeouts(deadline), allow_redirects=False, stream=True
            )
            try:
                return _finish(url, resp.status_code, resp.raw, max_bytes)
            finally:
                resp.close()
        except FetchError:
            raise
        except Exception as exc:  # requests/urllib3/socket errors of every kind
            raise FetchError(_describe(exc, url, deadline)) from None
        finally:
            _DEADLINE.reset(token)

    def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        max_bytes: int,
        deadline: float | None = None,
    ) -> HttpResponse:
        """POST over a lean kept-alive connection (see wire.py for why not requests),
        with the same deadline-bounded sockets. Raises FetchError."""
        host, port = check_url(url)
        deadline = deadline or time.monotonic() + self.timeout
        token = _DEADLINE.set(deadline)
        self.requests += 1
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn = self._conns.get((host, port))
        if conn is None:
            conn = self._conns[(host, port)] = Connection(host, port, self._open)
        try:
            all_headers = {"User-Agent": USER_AGENT, "Connection": "keep-alive", **headers}
            status, resp_headers, data = conn.post(path, all_headers, body, max_bytes)
            return HttpResponse(status=status, headers=resp_headers, body=data, url=url)
        except WireError as exc:
            raise FetchError(f"{inert(url, 200)}: {exc}") from None
        except Exception as exc:
            raise FetchError(_describe(exc, url, deadline)) from None
        finally:
            _DEADLINE.reset(token)

    def _open(self, host: str, port: int) -> socket.socket:
        deadline = _DEADLINE.get() or time.monotonic() + self.timeout
        remaining = max(0.01, deadline - time.monotonic())
        sock = socket.create_connection((host, port), timeout=min(self.timeout, remaining))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            wrapped = _DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        except BaseException:
            sock.close()
            raise
        wrapped.settimeout(self.timeout)
        return wrapped


def _finish(full_url: str, status: int, raw: Any, max_bytes: int) -> HttpResponse:
    url = inert(full_url, 200)
    headers = {str(k).lower(): str(v) for k, v in raw.headers.items()}
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError(f"{url}: compressed response ({encoding[:40]!r}) refused")
    length = headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise FetchError(f"{url}: invalid Content-Length {length[:40]!r}") from None
        if declared > max_bytes:
            raise FetchError(
                f"{url}: response of {declared} bytes refused (limit {max_bytes} bytes)"
            )
    chunks: list[bytes] = []
    total = 0
    for chunk in raw.stream(16384, decode_content=False):
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(f"{url}: response larger than {max_bytes} bytes: stopped reading")
        chunks.append(chunk)
    return HttpResponse(status=status, headers=headers, body=b"".join(chunks), url=full_url)


def _describe(exc: BaseException, full_url: str, deadline: float) -> str:
    url = inert(full_url, 200)
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
        if cur is not None and cur in chain:
            break
    if any(isinstance(e, DeadlineExceeded) for e in chain) or time.monotonic() >= deadline:
        return f"{url}: no complete answer within the time limit (device too slow or stalling)"
    text = " ".join(str(e) for e in chain[-1:]) or type(exc).__name__
    if any(isinstance(e, (TimeoutError, socket.timeout)) for e in chain) or "timed out" in text:
        return f"{url}: timed out"
    if "refused" in text.lower():
        return f"{url}: connection refused"
    return f"{url}: {type(chain[-1]).__name__}: {text[:200]}"
