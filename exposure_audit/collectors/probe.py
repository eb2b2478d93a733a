"""Ask the service itself what it is: one side-effect-free request from a closed list,
sent only to this host's own addresses.

What is sent (and nothing else):

- HTTP: ``GET`` requests (``/``, and by what answered: ``/console`` for the Werkzeug
  debugger, ``/api`` and ``/api/status`` for Jupyter, ``/json/version`` for the Node
  inspector, ``/version`` for the Docker API, ``/metrics`` for Prometheus and exporters);
- Redis: ``PING`` (its reply tells open, password required or protected mode);
- memcached: ``version``;
- PostgreSQL: an SSLRequest (8 bytes; the server answers one byte);
- MongoDB: ``hello`` (an OP_MSG).

Which listener gets which probe comes from its process and port (``choose``); a protocol
not in that list is never spoken to, and a debug adapter never (the debugpy adapter
stops listening while a client is connected and may never listen again). Every answer
is untrusted: at most ``READ_CAP`` bytes read per request, each connection bounded by
``timeout``, the whole run by ``budget`` (probes run concurrently), and what is kept is
short printable text (``clean``).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import struct
import time
from collections.abc import Callable, Sequence

from exposure_audit.core.addresses import split_zone
from exposure_audit.core.model import CollectorWarning, Interface, Listener, ProbeResult
from exposure_audit.core.records import record

READ_CAP = 4096  # bytes read from one answer
TIMEOUT = 0.3  # seconds: one connection (connect, send, read)
BUDGET = 1.0  # seconds: every probe of a run
MAX_PROBED = 256  # listeners asked in one run; the rest are named in a warning
WORKERS = 64
_SHOWN = 120  # characters of an answer kept as evidence

# Never connected to, whatever the port: a debug adapter may take its single client slot
# (debugpy's stops listening while a client is connected), and a debugger's wire
# protocol is not a question without side effects.
_NEVER = re.compile(
    r"debugpy|pydevd|ptvsd|\bdlv\b|delve|gdbserver|lldb-server|jdwp|xdebug|"
    r"--remote-debugging|vscode-js-debug|js-debug|\bdap\b|"
    # A Jupyter kernel's ZeroMQ sockets are not HTTP (its path names jupyter/runtime).
    r"ipykernel|ipykernel_launcher|jupyter/runtime/kernel-",
    re.IGNORECASE,
)

_BY_PROCESS: dict[str, str] = {
    "redis-server": "redis",
    "redis-stack-server": "redis",
    "memcached": "memcached",
    "postgres": "postgresql",
    "postmaster": "postgresql",
    "mongod": "mongodb",
}
# Command lines of HTTP servers (and the HTTP endpoint of the Node inspector, on the
# port its flag names: handled in choose).
_HTTP_CMDLINE = re.compile(
    r"\bflask\b|\bwerkzeug\b|\bmanage\.py\s+runserver|django-admin\s+runserver|"
    r"-m\s*http\.server|\bjupyter(-|\s+)(lab|notebook|server)\b|jupyterlab|jupyter_server|"
    r"notebook\.notebookapp|\buvicorn\b|"
    r"\bgunicorn\b|\bhypercorn\b|\btensorboard\b|\bprometheus\b|_exporter\b|"
    r"\belasticsearch\b|org\.elasticsearch\.",
)
_HTTP_PROCESS = re.compile(r"^(prometheus|.*_exporter|dockerd|nginx|caddy|httpd|apache2)$")
_INSPECT = re.compile(r"--inspect(?:-brk|-wait)?(?:[=\s](?:(?:\[[^\]]*\]|[^\s:=]+):)?(\d+))?")
_BY_PORT: dict[int, str] = {
    6379: "redis",
    11211: "memcached",
    5432: "postgresql",
    27017: "mongodb",
    **dict.fromkeys(
        (2375, 3000, 5000, 8000, 8001, 8008, 8080, 8081, 8088, 8888, 8889, 9090, 9100, 9200),
        "http",
    ),
}
# What an HTTP probe asks first, by what the process or port suggest.
_HTTP_FIRST: dict[str, str] = {"node-inspector": "/json/version", "docker": "/version"}


@record
class ProbeTarget:
    listener: Listener
    probe: str  # "http" | "redis" | "memcached" | "postgresql" | "mongodb"
    target: str  # the address connected to
    hint: str = ""  # "node-inspector", "jupyter", "docker", "metrics", ...


def _hint(listener: Listener, cmdline: str, name: str) -> str:
    if "jupyter" in cmdline or "notebookapp" in cmdline:
        return "jupyter"
    if name == "dockerd" or listener.port == 2375:
        return "docker"
    if name == "prometheus" or name.endswith("_exporter") or listener.port in (9090, 9100):
        return "metrics"
    return ""


def choose(listener: Listener) -> tuple[str, str] | None:
    """The probe for ``listener`` and a hint for it, or None: never asked."""
    if listener.protocol != "tcp":
        return None
    proc = listener.process
    name = (proc.name or "") if proc else ""
    cmdline = " ".join(proc.cmdline)[:4096] if proc else ""
    if _NEVER.search(cmdline) or _NEVER.search(name):
        return None
    if name in _BY_PROCESS:
        return _BY_PROCESS[name], ""
    if name == "webpack":
        # webpack rewrites its title to just "webpack", erasing any --inspect flag: each
        # of its listeners is its dev server or a Node inspector, both HTTP, and only
        # /json/version tells them apart.
        return "http", "node-inspector"
    m = _INSPECT.search(cmdline) if name.startswith("node") else None
    if m is not None:
        if int(m.group(1) or 9229) == listener.port:
            return "http", "node-inspector"
    if _HTTP_CMDLINE.search(cmdline) or _HTTP_PROCESS.match(name):
        return "http", _hint(listener, cmdline, name)
    probe = _BY_PORT.get(listener.port)
    if probe is None:
        return None
    if proc is not None and name in ("sshd", "dnsmasq", "systemd-resolved", "cupsd"):
        return None  # the process says what it is, and it is not what the port suggests
    return probe, _hint(listener, cmdline, name) if probe == "http" else ""


def _own_addresses(interfaces: Sequence[Interface]) -> dict[str, list[str]]:
    """This host's up, non-loopback addresses, by family: routable ones first, then
    IPv6 link-local ones with their zone (``fe80::1%eth0``)."""
    out: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
    later: list[str] = []
    for iface in interfaces:
        if not iface.up or iface.kind == "loopback":
            continue
        for a in iface.addresses:
            if a.scope == "loopback":
                continue
            if a.scope != "link_local":
                out[a.family].append(a.address)
            elif a.family == "ipv6":
                later.append(f"{a.address}%{a.zone or iface.name}")
    out["ipv6"].extend(later)
    return out


def target_address(
    listener: Listener, probe: str, own: dict[str, list[str]], all_own: frozenset[str]
) -> str | None:
    """Where to connect: this host's own address only. A wildcard or loopback listener is
    asked over loopback, except Redis, which is asked over one of this host's other
    addresses when it has one (protected mode answers loopback as if open: what another
    host is told is what counts; for IPv6 a link-local address will do). A listener
    bound to one address is asked there, if the host holds it."""
    try:
        ip = ipaddress.ip_address(listener.address)
    except ValueError:
        return None
    if listener.zone is not None or ip.is_link_local:
        return None
    if ip.is_unspecified:
        if probe == "redis" and own.get(listener.family):
            return own[listener.family][0]
        return "::1" if ip.version == 6 else "127.0.0.1"
    if ip.is_loopback or listener.address in all_own:
        return listener.address
    return None


def plan(
    listeners: Sequence[Listener], interfaces: Sequence[Interface]
) -> tuple[list[ProbeTarget], list[CollectorWarning]]:
    """The probes to run, at most MAX_PROBED, and a warning naming how many were not."""
    own = _own_addresses(interfaces)
    all_own = frozenset(a.address for i in interfaces for a in i.addresses)
    held = {(lst.process.pid, lst.port) for lst in listeners if lst.process is not None}
    targets: list[ProbeTarget] = []
    for lst in listeners:
        chosen = choose(lst)
        if chosen is None:
            continue
        pid = lst.process.pid if lst.process is not None else None
        if chosen[0] == "redis" and pid is not None and (pid, lst.port - 10000) in held:
            continue  # a Redis Cluster bus (client port + 10000): its own binary protocol
        address = target_address(lst, chosen[0], own, all_own)
        if address is not None:
            targets.append(ProbeTarget(lst, chosen[0], address, chosen[1]))
    warnings = []
    if len(targets) > MAX_PROBED:
        warnings.append(
            CollectorWarning(
                "probe",
                f"{len(targets) - MAX_PROBED} of {len(targets)} listeners that a probe could "
                f"ask were not asked (at most {MAX_PROBED} per run)",
            )
        )
        targets = targets[:MAX_PROBED]
    return targets, warnings


# --------------------------------------------------------------------------- wire


def clean(data: bytes | str, limit: int = _SHOWN) -> str:
    """Untrusted bytes as short printable ASCII: anything else (escape sequences,
    control characters, non-ASCII) as ``\\xNN``, cut at ``limit`` characters."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    out = []
    size = 0
    for ch in text:
        piece = ch if " " <= ch <= "~" else f"\\x{ord(ch) & 0xFF:02x}"
        if size + len(piece) > limit:
            out.append("...")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


class _Closed(Exception):
    """The service closed the connection or refused it (a fact, not a failure)."""


class _Conn:
    """One connection with a deadline for everything on it."""

    def __init__(self, address: str, port: int, deadline: float) -> None:
        self.deadline = deadline
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        ip, zone = split_zone(address)
        where: tuple[str, int] | tuple[str, int, int, int] = (ip, port)
        if zone is not None:
            where = (ip, port, 0, socket.if_nametoindex(zone))
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(self._left())
            self.sock.connect(where)
        except ConnectionRefusedError:
            self.sock.close()
            raise _Closed("connection refused") from None
        except BaseException:
            self.sock.close()
            raise

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self._left())
        self.sock.sendall(data)

    def read(self, done: Callable[[bytes], bool], cap: int = READ_CAP) -> bytes:
        """Bytes until ``done(bytes)``, the peer closes, ``cap`` bytes or the deadline
        (a slow drip cannot hold it past the deadline)."""
        buf = b""
        while len(buf) < cap and not done(buf):
            try:
                self.sock.settimeout(self._left())
                chunk = self.sock.recv(cap - len(buf))
            except ConnectionResetError:
                break
            except TimeoutError:
                if buf:  # what came in time is the answer (a drip, a kept-alive socket)
                    break
                raise
            if not chunk:
                break
            buf += chunk
        return buf

    def close(self) -> None:
        self.sock.close()


@record
class _Limit:
    """Each connection gets ``timeout`` seconds, and none goes past ``deadline`` (the
    probe's own, itself within the run's budget)."""

    timeout: float
    deadline: float

    def until(self) -> float:
        return min(time.monotonic() + self.timeout, self.deadline)


def _exchange(
    address: str, port: int, request: bytes, done: Callable[[bytes], bool], lim: _Limit
) -> bytes:
    conn = _Conn(address, port, lim.until())
    try:
        conn.send(request)
        return conn.read(done)
    finally:
        conn.close()


# --------------------------------------------------------------------------- probes

_Outcome = tuple[str, str | None, str | None, list[str]]  # outcome, service, state, evidence


def _line(buf: bytes) -> bool:
    return b"\n" in buf


def _probe_redis(t: ProbeTarget, lim: _Limit) -> _Outcome:
    reply = _exchange(t.target, t.listener.port, b"PING\r\n", _line, lim)
    first = reply.split(b"\n", 1)[0].rstrip(b"\r")
    said = f"answered PING with {clean(first, 80)!r}"
    if first.startswith(b"+PONG"):
        ip = ipaddress.ip_address(split_zone(t.target)[0])
        if ip.is_loopback:  # protected mode lets loopback in: the others may be refused
            why = "open to loopback; what other hosts are told is not known"
            return "answered", "redis", None, [f"{said}: {why}"]
        return "answered", "redis", "open", [f"{said}: no password needed"]
    if first.startswith(b"-NOAUTH") or b"-ERR operation not permitted" in first:
        return "answered", "redis", "auth-required", [f"{said}: a password is required"]
    if first.startswith(b"-DENIED"):
        why = "protected mode: it refuses clients that are not on loopback"
        return "answered", "redis", "protected", [f"{said}: {why}"]
    return "unrecognised", None, None, [f"answered PING with {clean(first or reply, 80)!r}"]


def _probe_memcached(t: ProbeTarget, lim: _Limit) -> _Outcome:
    reply = _exchange(t.target, t.listener.port, b"version\r\n", _line, lim)
    first = reply.split(b"\n", 1)[0].rstrip(b"\r")
    if re.fullmatch(rb"VERSION [ -~]{1,64}", first):
        return "answered", "memcached", "open", [f"answered 'version' with {clean(first)!r}"]
    return "unrecognised", None, None, [f"answered 'version' with {clean(first or reply, 80)!r}"]


_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def _probe_postgresql(t: ProbeTarget, lim: _Limit) -> _Outcome:
    reply = _exchange(t.target, t.listener.port, _SSL_REQUEST, lambda b: len(b) >= 1, lim)
    if reply[:1] == b"S":
        return "answered", "postgresql", None, ["answered an SSLRequest with 'S' (TLS offered)"]
    if reply[:1] == b"N":
        return "answered", "postgresql", None, ["answered an SSLRequest with 'N' (no TLS)"]
    return "unrecognised", None, None, [f"answered an SSLRequest with {clean(reply[:40])!r}"]


def _bson_hello() -> bytes:
    body = b"\x10hello\x00" + struct.pack("<i", 1)
    body += b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _op_msg() -> bytes:
    payload = struct.pack("<I", 0) + b"\x00" + _bson_hello()
    return struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload


def _whole_message(buf: bytes) -> bool:
    return len(buf) >= 4 and len(buf) >= struct.unpack("<i", buf[:4])[0]


def _probe_mongodb(t: ProbeTarget, lim: _Limit) -> _Outcome:
    reply = _exchange(t.target, t.listener.port, _op_msg(), _whole_message, lim)
    if (
        len(reply) >= 16
        and struct.unpack("<i", reply[12:16])[0] == 2013
        and b"maxWireVersion" in reply
    ):
        return "answered", "mongodb", None, ["answered 'hello' as MongoDB (maxWireVersion)"]
    return "unrecognised", None, None, [f"answered 'hello' with {clean(reply[:40])!r}"]


@record
class _Http:
    status: int | None
    server: str
    body: bytes
    auth: str = ""  # WWW-Authenticate


_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,9})[ \t]*\r\n", re.IGNORECASE)


def _http_whole(buf: bytes) -> bool:
    """The headers and, when they give a Content-Length, that much body: a server that
    keeps the connection open (the Node inspector) need not be waited for."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = _LENGTH.search(head + b"\r\n")
    return m is not None and len(body) >= int(m.group(1))


def _get(t: ProbeTarget, path: str, lim: _Limit) -> _Http:
    host = f"[{t.target}]" if ":" in t.target else t.target
    req = (
        f"GET {path} HTTP/1.0\r\nHost: {host}:{t.listener.port}\r\n"
        "User-Agent: exposure-audit-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode()
    reply = _exchange(t.target, t.listener.port, req, _http_whole, lim)
    head, _sep, rest = reply.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", lines[0]) if lines else None
    if m is None:
        return _Http(None, "", reply)
    server = auth = ""
    for line in lines[1:]:
        name, _c, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"server":
            server = clean(value.strip(), 80)
        elif name == b"www-authenticate":
            auth = clean(value.strip(), 80)
    return _Http(int(m.group(1)), server, rest, auth)


def _json(body: bytes) -> dict[str, object] | None:
    try:
        doc = json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _probe_http(t: ProbeTarget, lim: _Limit) -> _Outcome:
    first = _HTTP_FIRST.get(t.hint, "/")
    r = _get(t, first, lim)
    if r.status is None:
        return "unrecognised", None, None, [f"answered GET {first} with {clean(r.body[:60])!r}"]
    evidence = [
        f"answered GET {first} with HTTP {r.status}" + (f", Server: {r.server}" if r.server else "")
    ]
    if t.hint == "node-inspector":
        doc = _json(r.body)
        if r.status == 200 and doc is not None and "Protocol-Version" in doc:
            browser = clean(str(doc.get("Browser", "")), 60)
            evidence.append(
                f"/json/version says {browser!r}: the Node inspector, no authentication"
            )
            return "answered", "node-inspector", "open", evidence
        return "answered", "http", None, evidence
    if t.hint == "docker":
        doc = _json(r.body)
        if r.status == 200 and doc is not None and "ApiVersion" in doc:
            version = clean(str(doc.get("Version", "")), 40)
            evidence.append(f"/version answers as the Docker API {version}, no authentication")
            return "answered", "docker-api", "open", evidence
        return "answered", "http", None, evidence
    doc = _json(r.body) if r.status == 200 else None
    if doc is not None and doc.get("tagline") == "You Know, for Search":
        evidence.append("the tagline says Elasticsearch, answering without a password")
        return "answered", "elasticsearch", "open", evidence
    if r.status == 401 and 'realm="security"' in r.auth and b"security_exception" in r.body:
        evidence.append("401 from Elasticsearch's security: a password is required")
        return "answered", "elasticsearch", "auth-required", evidence
    if r.server.startswith("Werkzeug/"):
        c = _get(t, "/console", lim)
        if c.status == 200 and b"Werkzeug" in c.body and b"console" in c.body.lower():
            evidence.append(
                "GET /console answered HTTP 200 with the Werkzeug debugger's console page"
            )
            return "answered", "werkzeug-debugger", "open", evidence
        evidence.append(f"GET /console answered HTTP {c.status}: no debugger console")
        return "answered", "werkzeug", None, evidence
    if t.hint == "jupyter" or r.server.startswith("TornadoServer"):
        api = _get(t, "/api", lim)
        doc = _json(api.body) if api.status == 200 else None
        if doc is not None and isinstance(doc.get("version"), str):
            st = _get(t, "/api/status", lim)
            version = clean(str(doc["version"]), 20)
            if st.status == 200:
                evidence.append(f"Jupyter {version}: /api/status answered HTTP 200 without a token")
                return "answered", "jupyter", "open", evidence
            if st.status in (401, 403):
                evidence.append(
                    f"Jupyter {version}: /api/status answered HTTP {st.status}: a token is required"
                )
                return "answered", "jupyter", "auth-required", evidence
            evidence.append(f"Jupyter {version}: /api/status answered HTTP {st.status}")
            return "answered", "jupyter", None, evidence
    if t.hint == "metrics":
        m = _get(t, "/metrics", lim)
        if m.status == 200 and re.search(rb"^# (HELP|TYPE) ", m.body[:READ_CAP], re.MULTILINE):
            evidence.append("/metrics answered Prometheus metrics without a password")
            return "answered", "metrics", "open", evidence
    return "answered", "http", None, evidence


_PROBES: dict[str, Callable[[ProbeTarget, _Limit], _Outcome]] = {
    "http": _probe_http,
    "redis": _probe_redis,
    "memcached": _probe_memcached,
    "postgresql": _probe_postgresql,
    "mongodb": _probe_mongodb,
}
PROBE_NAMES: tuple[str, ...] = tuple(_PROBES)


def probe_one(
    t: ProbeTarget, timeout: float = TIMEOUT, deadline: float | None = None
) -> ProbeResult:
    """Run one probe; never raises (a hostile or broken answer is an outcome)."""
    start = time.monotonic()
    lim = _Limit(timeout, start + 2 * timeout if deadline is None else deadline)
    try:
        if lim.deadline <= start:
            raise TimeoutError
        outcome, service, state, evidence = _PROBES[t.probe](t, lim)
    except _Closed as exc:
        outcome, service, state, evidence = "refused", None, None, [str(exc)]
    except TimeoutError:
        outcome, service, state, evidence = "timeout", None, None, ["no complete answer in time"]
    except OSError as exc:
        why = clean(exc.strerror or type(exc).__name__, 60)
        outcome, service, state, evidence = "error", None, None, [why]
    except Exception as exc:  # a parser meeting input it does not expect: still an outcome
        outcome, service, state, evidence = "error", None, None, [clean(type(exc).__name__, 60)]
    lst = t.listener
    return ProbeResult(
        protocol=lst.protocol,
        address=lst.address,
        port=lst.port,
        probe=t.probe,
        target=t.target,
        outcome=outcome,
        service=service,
        state=state,
        evidence=tuple(clean(e, 200) for e in evidence),
        elapsed_ms=int((time.monotonic() - start) * 1000),
    )


def run_probes(
    targets: Sequence[ProbeTarget],
    timeout: float = TIMEOUT,
    budget: float = BUDGET,
    workers: int = WORKERS,
) -> tuple[list[ProbeResult], list[CollectorWarning]]:
    """Every probe, concurrently, within ``budget`` seconds in all: a probe not
    finished by then is recorded as ``timeout`` and named in a warning."""
    if not targets:
        return [], []
    import threading  # only when something is probed: a plain collect imports no threads

    deadline = time.monotonic() + budget
    results: list[ProbeResult | None] = [None] * len(targets)
    lock = threading.Lock()
    next_index = [0]

    def work() -> None:
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(targets) or time.monotonic() >= deadline:
                return  # the rest are recorded as not asked within the budget
            # An HTTP probe may make up to three requests: each gets the timeout, the
            # probe as a whole at most twice it.
            per = timeout * (2 if targets[i].probe == "http" else 1)
            results[i] = probe_one(targets[i], timeout, min(deadline, time.monotonic() + per))

    threads = [
        threading.Thread(target=work, name="probe", daemon=True)
        for _ in range(min(workers, len(targets)))
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(0.0, deadline - time.monotonic()) + 0.05)
    out: list[ProbeResult] = []
    late = 0
    for t, r in zip(targets, results, strict=True):
        if r is None:
            late += 1
            lst = t.listener
            r = ProbeResult(
                lst.protocol, lst.address, lst.port, t.probe, t.target, "timeout",
                evidence=(f"not asked or not answered within the {budget:g} s budget",),
            )  # fmt: skip
        out.append(r)
    warnings = []
    if late:
        warnings.append(
            CollectorWarning(
                "probe", f"{late} of {len(targets)} probes did not finish within {budget:g} s"
            )
        )
    return out, warnings


def collect_probes(
    listeners: Sequence[Listener], interfaces: Sequence[Interface]
) -> tuple[tuple[ProbeResult, ...], list[CollectorWarning]]:
    targets, warnings = plan(listeners, interfaces)
    results, more = run_probes(targets)
    return tuple(results), warnings + more
