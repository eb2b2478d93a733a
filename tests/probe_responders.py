"""Hostile (and polite) responders for the probe tests and bench: one process, one
listening socket per mode given, each port printed as "MODE PORT" once listening.

    python probe_responders.py ADDRESS MODE [MODE ...]

Modes: garbage (random bytes, then close), endless (bytes until the peer goes, capped
at 20 s), drip (one byte every 50 ms, capped at 20 s), huge (a 10 MB banner), escapes
(terminal and HTML escape sequences in a plausible reply to each probe), silent
(accepts, never answers), close (accepts and closes at once), http (a small honest HTTP
server); and stand-ins, shaped as their documentation describes the answer, for
servers Debian does not ship: mongo (an OP_MSG hello reply), elastic (Elasticsearch's
root document), elastic401 (its security's 401), docker (the Docker API's /version).
Every loop is bounded in time: the process ends by itself after 120 s.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
import time

CAP = 20.0
ESCAPES = b"\x1b[2J\x1b[31mHACKED\x1b[0m\x1b]0;pwned\x07<script>alert(1)</script>\xff\xfe\x00"


def _bson(fields: list[tuple[str, object]]) -> bytes:
    body = b""
    for name, value in fields:
        key = name.encode() + b"\x00"
        if isinstance(value, bool):
            body += b"\x08" + key + (b"\x01" if value else b"\x00")
        elif isinstance(value, int):
            body += b"\x10" + key + struct.pack("<i", value)
        elif isinstance(value, float):
            body += b"\x01" + key + struct.pack("<d", value)
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _mongo() -> bytes:
    doc = _bson([("isWritablePrimary", True), ("maxWireVersion", 21), ("ok", 1.0)])
    payload = struct.pack("<I", 0) + b"\x00" + doc
    return struct.pack("<iiii", 16 + len(payload), 7, 1, 2013) + payload


def _http(status: str, body: bytes, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


CANNED = {
    "mongo": _mongo,
    "elastic": lambda: _http(
        "200 OK",
        b'{"name":"n1","cluster_name":"es","version":{"number":"8.13.0"},'
        b'"tagline":"You Know, for Search"}',
    ),
    "elastic401": lambda: _http(
        "401 Unauthorized",
        b'{"error":{"type":"security_exception"},"status":401}',
        'WWW-Authenticate: Basic realm="security" charset="UTF-8"\r\n',
    ),
    "docker": lambda: _http(
        "200 OK", b'{"Version":"24.0.7","ApiVersion":"1.43","Os":"linux"}', "Server: Docker\r\n"
    ),
}


def _serve(conn: socket.socket, mode: str) -> None:
    end = time.monotonic() + CAP
    conn.settimeout(CAP)
    try:
        request = b""
        if mode in ("escapes", "http", *CANNED):
            try:
                request = conn.recv(4096)
            except OSError:
                return
        if mode == "garbage":
            conn.sendall(os.urandom(512))
        elif mode == "endless":
            chunk = b"A" * 65536
            while time.monotonic() < end:
                conn.sendall(chunk)
        elif mode == "drip":
            while time.monotonic() < end:
                conn.sendall(b"+")
                time.sleep(0.05)
        elif mode == "huge":
            conn.sendall(b"+" + b"B" * (10 * 1024 * 1024))
        elif mode == "escapes":
            if request.startswith(b"GET"):
                reply = b"HTTP/1.1 200 OK\r\nServer: Werkzeug/" + ESCAPES + b"\r\n\r\n" + ESCAPES
            elif request.startswith(b"PING"):
                reply = b"+PONG" + ESCAPES + b"\r\n"
            elif request.startswith(b"version"):
                reply = b"VERSION " + ESCAPES + b"\r\n"
            else:
                reply = ESCAPES
            conn.sendall(reply)
        elif mode == "silent":
            time.sleep(CAP)
        elif mode in CANNED:
            conn.sendall(CANNED[mode]())
        elif mode == "http":
            conn.sendall(b"HTTP/1.0 200 OK\r\nServer: bench\r\nContent-Length: 2\r\n\r\nhi")
    except OSError:
        pass
    finally:
        conn.close()


def _accept(sock: socket.socket, mode: str) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        threading.Thread(target=_serve, args=(conn, mode), daemon=True).start()


def main() -> None:
    address, modes = sys.argv[1], sys.argv[2:]
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for mode in modes:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, 0))
        sock.listen(64)
        threading.Thread(target=_accept, args=(sock, mode), daemon=True).start()
        print(mode, sock.getsockname()[1], flush=True)
    print("ready", flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main()
