"""A hostile UPnP gateway for tests: answers SSDP and HTTP the way an attacker on the
LAN would (billion laughs, XXE, 50 MB bodies, one byte a second, redirects, endless
mapping lists, junk fields...), and records every request it receives so a test can
assert on what the auditor fetched.

In-process (loopback): ``with HostileIgd("billion_laughs") as igd: ... igd.url ...``.
Inside a test namespace: ``python tests/hostile_igd.py --scenario NAME --bind ADDR
[--ssdp] [--location URL] [--ssdp-source ADDR] --log FILE`` (prints READY when
listening; one JSON line per request in FILE).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

WANIP1 = "urn:schemas-upnp-org:service:WANIPConnection:1"
MB = 1024 * 1024


def description(
    name: str = "Hostile IGD",
    manufacturer: str = "Evil Corp",
    control: str = "/ctl/IPConn",
    extra: str = "",
    url_base: str = "",
    doctype: str = "",
) -> str:
    base = f"<URLBase>{url_base}</URLBase>" if url_base else ""
    return (
        f'<?xml version="1.0"?>\n{doctype}'
        '<root xmlns="urn:schemas-upnp-org:device-1-0">'
        f"<specVersion><major>1</major><minor>0</minor></specVersion>{base}"
        "<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>"
        f"<friendlyName>{name}</friendlyName><manufacturer>{manufacturer}</manufacturer>"
        "<modelName>X-1</modelName><UDN>uuid:0000-hostile</UDN>"
        "<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>"
        "<deviceList><device>"
        "<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>"
        f"<serviceList><service><serviceType>{WANIP1}</serviceType>"
        "<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>"
        f"<controlURL>{control}</controlURL><SCPDURL>/scpd.xml</SCPDURL>"
        "</service></serviceList>"
        f"</device></deviceList></device></deviceList>{extra}</device></root>"
    )


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE root [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + ']><root xmlns="urn:schemas-upnp-org:device-1-0"><device>'
    "<friendlyName>&lol9;</friendlyName></device></root>"
)


def soap_response(action: str, values: dict[str, str | bytes]) -> bytes:
    parts = []
    for k, v in values.items():
        vb = v if isinstance(v, bytes) else v.encode()
        parts.append(f"<{k}>".encode() + vb + f"</{k}>".encode())
    return (
        b'<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/'
        b'envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        + f'<u:{action}Response xmlns:u="{WANIP1}">'.encode()
        + b"".join(parts)
        + f"</u:{action}Response></s:Body></s:Envelope>\r\n".encode()
    )


def soap_fault(code: int, desc: str) -> bytes:
    return (
        '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/'
        'envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>"
        '<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0">'
        f"<errorCode>{code}</errorCode><errorDescription>{desc}</errorDescription>"
        "</UPnPError></detail></s:Fault></s:Body></s:Envelope>\r\n"
    ).encode()


def entry(
    port: int | str,
    client: str = "192.168.1.20",
    proto: str = "TCP",
    desc: str | bytes = "app",
    internal_port: int | str | None = None,
    lease: str = "0",
    enabled: str = "1",
    remote: str = "",
) -> dict[str, str | bytes]:
    return {
        "NewRemoteHost": remote,
        "NewExternalPort": str(port),
        "NewProtocol": proto,
        "NewInternalPort": str(internal_port if internal_port is not None else port),
        "NewInternalClient": client,
        "NewEnabled": enabled,
        "NewPortMappingDescription": desc,
        "NewLeaseDuration": lease,
    }


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: str

    @property
    def action(self) -> str:
        return self.headers.get("soapaction", "").strip('"').rsplit("#", 1)[-1]

    def arg(self, name: str) -> str:
        text = self.body.decode("utf-8", "replace")
        start = text.find(f"<{name}>")
        end = text.find(f"</{name}>")
        return text[start + len(name) + 2 : end] if start != -1 and end != -1 else ""


@dataclass
class HostileIgd:
    """A threaded hostile HTTP (and optionally SSDP) server."""

    scenario: str
    bind: str = "127.0.0.1"
    port: int = 0
    external_ip: str = "11.250.42.13"
    mappings: list[dict[str, str | bytes]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seen: list[Request] = field(default_factory=list)
    bytes_sent: int = 0
    log_path: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _sock: socket.socket | None = None

    @property
    def base(self) -> str:
        return f"http://{self.bind}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/rootDesc.xml"

    def start(self) -> HostileIgd:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.bind, self.port))
        self.port = self._sock.getsockname()[1]
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=3)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> HostileIgd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def paths(self) -> list[str]:
        return [r.path for r in self.seen]

    def _spawn(self, fn: Any, *args: Any) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn, addr[0])

    # ------------------------------------------------------------------ HTTP

    def _read_request(self, f: Any, peer: str) -> Request | None:
        line = f.readline(8192)
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) < 2:
            return None
        headers: dict[str, str] = {}
        while True:
            h = f.readline(8192)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0") or 0)
        body = f.read(n) if n else b""
        req = Request(parts[0], parts[1], headers, body, peer)
        self.seen.append(req)
        if self.log_path:
            with open(self.log_path, "a") as log:
                log.write(json.dumps({"method": req.method, "path": req.path, "peer": peer}))
                log.write("\n")
        return req

    def _serve(self, conn: socket.socket, peer: str) -> None:
        conn.settimeout(5)
        f = conn.makefile("rb")
        try:
            while not self._stop.is_set():
                req = self._read_request(f, peer)
                if req is None:
                    return
                if not self._respond(conn, req):
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                f.close()
                conn.close()

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.bytes_sent += len(data)

    def _reply(
        self,
        conn: socket.socket,
        body: bytes,
        status: str = "200 OK",
        ctype: str = 'text/xml; charset="utf-8"',
        extra: str = "",
    ) -> bool:
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: keep-alive\r\n\r\n"
        )
        self._send(conn, head.encode() + body)
        return True

    def _respond(self, conn: socket.socket, req: Request) -> bool:
        """Returns False to close the connection."""
        sc = self.scenario
        if req.method == "GET":
            return self._get(conn, req, sc)
        return self._soap(conn, req, sc)

    def _get(self, conn: socket.socket, req: Request, sc: str) -> bool:
        p = self.params
        if sc == "billion_laughs":
            return self._reply(conn, BILLION_LAUGHS.encode())
        if sc == "xxe_file":
            doctype = '<!DOCTYPE root [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            return self._reply(conn, description(name="&x;", doctype=doctype).encode())
        if sc == "xxe_http":
            doctype = f'<!DOCTYPE root [<!ENTITY x SYSTEM "{self.base}/xxe-fetched">]>\n'
            return self._reply(conn, description(name="&x;", doctype=doctype).encode())
        if sc == "xxe_external_dtd":
            doctype = f'<!DOCTYPE root SYSTEM "{self.base}/external.dtd">\n'
            return self._reply(conn, description(doctype=doctype).encode())
        if sc == "huge_length":
            head = f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {50 * MB}\r\n\r\n"
            self._send(conn, head.encode())
            return self._stream_junk(conn, 50 * MB)
        if sc == "huge_stream":
            self._send(
                conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n"
            )
            self._send(conn, description().encode()[:-7])  # unclosed root, then padding
            return self._stream_junk(conn, 50 * MB)
        if sc == "dribble_body":
            body = description().encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            self._send(conn, head)
            return self._dribble(conn, body)
        if sc == "dribble_headers":
            body = description().encode()
            return self._dribble(
                conn, f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
        if sc == "silent":
            self._stop.wait(p.get("silent_for", 10))
            return False
        if sc == "redirect" and req.path == "/rootDesc.xml":
            return self._reply(
                conn, b"", status="302 Found", extra=f"Location: {p['redirect_to']}\r\n"
            )
        if sc == "control_elsewhere":
            return self._reply(conn, description(control=p["control"]).encode())
        if sc == "urlbase_elsewhere":
            return self._reply(conn, description(url_base=p["url_base"]).encode())
        if sc == "html_names":
            name = (
                "&lt;script&gt;alert('pwned')&lt;/script&gt;"
                "<![CDATA[<img src=x onerror=alert(1)>]]>"
            )
            manu = "Evil\u009b31m\u202eCorp\u0085"
            return self._reply(conn, description(name=name, manufacturer=manu).encode())
        if sc == "invalid_utf8":
            raw = description(name="BadNAME").encode().replace(b"BadNAME", b"Bad\xff\xfeName")
            return self._reply(conn, raw)
        if sc == "not_xml":
            return self._reply(conn, b"<html><body>Router login</body></html", ctype="text/html")
        if sc == "gzip":
            return self._reply(conn, b"\x1f\x8b" + b"\0" * 64, extra="Content-Encoding: gzip\r\n")
        if req.path != "/rootDesc.xml":
            return self._reply(conn, b"not found", status="404 Not Found", ctype="text/plain")
        return self._reply(conn, description().encode())

    def _stream_junk(self, conn: socket.socket, total: int) -> bool:
        chunk = b"<x>" + b"A" * 65530 + b"</x>"
        sent = 0
        while sent < total and not self._stop.is_set():
            try:
                self._send(conn, chunk)
            except OSError:
                return False
            sent += len(chunk)
        return False

    def _dribble(self, conn: socket.socket, data: bytes) -> bool:
        for i in range(len(data)):
            if self._stop.wait(self.params.get("dribble_interval", 1.0)):
                return False
            try:
                self._send(conn, data[i : i + 1])
            except OSError:
                return False
        return False

    # ------------------------------------------------------------------ SOAP

    def _soap(self, conn: socket.socket, req: Request, sc: str) -> bool:
        action = req.action
        if action == "GetExternalIPAddress":
            if sc == "malformed_soap":
                return self._reply(conn, b"<s:Envelope><s:Body><u:GetExternalIPAddressResp")
            if sc == "soap_no_response":
                return self._reply(conn, b"<?xml version='1.0'?><a><b/></a>")
            return self._reply(
                conn,
                soap_response("GetExternalIPAddress", {"NewExternalIPAddress": self.external_ip}),
            )
        if action == "GetGenericPortMappingEntry":
            index = int(req.arg("NewPortMappingIndex") or -1)
            if sc == "endless":
                e = entry(index % 65535 + 1, desc=f"entry {index}")
                return self._reply(conn, soap_response(action, e))
            if sc == "soap_html_500" and index >= len(self.mappings):
                return self._reply(
                    conn,
                    b"<html>Internal error</html>",
                    status="500 Internal Server Error",
                    ctype="text/html",
                )
            if sc == "dribble_soap" and index == 1:
                body = soap_response(action, entry(2))
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                self._send(conn, head)
                return self._dribble(conn, body)
            if 0 <= index < len(self.mappings):
                body = soap_response(action, self.mappings[index])
                mode = self.params.get("soap_mode")
                if mode == "chunked":
                    chunks = b"".join(
                        b"%x\r\n%s\r\n" % (len(body[i : i + 50]), body[i : i + 50])
                        for i in range(0, len(body), 50)
                    )
                    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    self._send(conn, head + chunks + b"0\r\n\r\n")
                    return True
                if mode == "lie_keepalive":  # says keep-alive, then hangs up
                    self._reply(conn, body)
                    return False
                if mode == "http10_eof":  # no length: the body runs to EOF
                    self._send(conn, b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n" + body)
                    return False
                if mode == "big_headers":
                    self._send(conn, b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
                    return False
                if mode == "endless_chunks":
                    self._send(conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    while not self._stop.is_set():
                        self._send(conn, b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
                    return False
                return self._reply(conn, body)
            return self._reply(
                conn,
                soap_fault(713, "SpecifiedArrayIndexInvalid"),
                status="500 Internal Server Error",
            )
        return self._reply(
            conn, soap_fault(401, "Invalid Action"), status="500 Internal Server Error"
        )


# ---------------------------------------------------------------------- SSDP


def ssdp_sockets(source: str) -> tuple[socket.socket, socket.socket]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind(("0.0.0.0", 1900))
    mreq = struct.pack("4s4s", socket.inet_aton("239.255.255.250"), socket.inet_aton("0.0.0.0"))
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    rx.settimeout(0.2)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    tx.bind((source, 0))
    return rx, tx


def ssdp_responder(
    stop: threading.Event,
    socks: tuple[socket.socket, socket.socket],
    location: str,
    log_path: str | None,
    junk: int = 0,
) -> None:
    """Answer every M-SEARCH on 239.255.255.250:1900 with ``location``, sent from
    the ``tx`` socket's address; ``junk`` garbage datagrams first."""
    rx, tx = socks
    while not stop.is_set():
        try:
            data, addr = rx.recvfrom(65535)
        except TimeoutError:
            continue
        if not data.startswith(b"M-SEARCH"):
            continue
        st = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
        for line in data.decode("latin-1").split("\r\n"):
            if line.lower().startswith("st:"):
                st = line[3:].strip()
        if log_path:
            with open(log_path, "a") as log:
                log.write(json.dumps({"ssdp": st, "peer": addr[0]}) + "\n")
        for _ in range(junk):
            tx.sendto(b"\x00\xff garbage " * 50, addr)
        answer = (
            "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nEXT:\r\n"
            f"LOCATION: {location}\r\nSERVER: Hostile/1.0 UPnP/1.1 Evil/6.6\r\n"
            f"ST: {st}\r\nUSN: uuid:0000-hostile::{st}\r\n\r\n"
        )
        tx.sendto(answer.encode("latin-1"), addr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="good")
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--ssdp", action="store_true")
    ap.add_argument("--location", help="LOCATION in SSDP answers (default: our own URL)")
    ap.add_argument("--ssdp-source", default="0.0.0.0", help="source address of SSDP answers")
    ap.add_argument("--junk", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--mappings", type=int, default=1)
    args = ap.parse_args(argv)
    maps = [entry(1000 + i, client="10.99.0.1") for i in range(args.mappings)]
    igd = HostileIgd(
        args.scenario, bind=args.bind, port=args.port, mappings=maps, log_path=args.log
    )
    igd.start()
    stop = threading.Event()
    if args.ssdp:
        location = args.location or f"http://{args.bind}:{igd.port}/rootDesc.xml"
        threading.Thread(
            target=ssdp_responder,
            args=(stop, ssdp_sockets(args.ssdp_source), location, args.log, args.junk),
            daemon=True,
        ).start()
    print("READY", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        igd.stop()
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    sys.exit(main())
