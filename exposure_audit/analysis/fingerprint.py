"""Stable finding fingerprints: the same exposure gives the same fingerprint on every run.

Built from what identifies the exposure, never from what changes between runs (pid,
time, inode). ``v1`` is part of the hashed text: a change to what goes in bumps it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import ipaddress
from collections.abc import Callable

from exposure_audit.core.addresses import split_zone

_SEP = "\x1f"


def _builtin_sha256() -> Callable[[bytes], hashlib._Hash]:
    """CPython's own SHA-256 (_sha2 from 3.12, _sha256 before), else hashlib's: for the
    ~60 bytes of a fingerprint, OpenSSL's setting up of a context per call is most of
    the time (0.82 -> 0.56 us a digest here). The same function: the same digests."""
    for name in ("_sha2", "_sha256"):
        try:
            found: Callable[[bytes], hashlib._Hash] = importlib.import_module(name).sha256
        except (ImportError, AttributeError):
            continue
        return found
    return hashlib.sha256


_sha256 = _builtin_sha256()


@functools.lru_cache(maxsize=4096)  # a few addresses stand for thousands of listeners
def _normal_address(address: str) -> str:
    """``::FFFF:0:0`` and ``::ffff:0.0.0.0`` hash alike; text that is not an address as is."""
    try:
        return ipaddress.ip_address(split_zone(address)[0]).compressed
    except ValueError:
        return address


def _digest(parts: tuple[str, ...]) -> str:
    return _sha256(_encode(_SEP.join(parts))).hexdigest()[:16]


def listener_fingerprint(
    rule_id: str, protocol: str, port: int, address: str, process: str | None
) -> str:
    """rule id + protocol + port + bind address + process name (empty when unknown)."""
    before, after = listener_fingerprint_parts(protocol, address, process)
    return listener_fingerprint_of(
        listener_fingerprint_head(rule_id, before), listener_fingerprint_tail(port, after)
    )


def listener_fingerprint_parts(protocol: str, address: str, process: str | None) -> tuple[str, str]:
    """What a listener's fingerprints hash between the rule id and the port, and after
    the port: "v1", "listener", the rule id, protocol, port, bind address and process
    joined by _SEP (the same for all the ports of one process and bind address)."""
    return (
        _SEP.join(("", protocol.lower(), "")),
        _SEP.join(("", _normal_address(address), process or "")),
    )


def listener_fingerprint_head(rule_id: str, before: str) -> bytes:
    """The hashed bytes up to the port (``before``: listener_fingerprint_parts')."""
    return _encode(_SEP.join(("v1", "listener", rule_id)) + before)


def listener_fingerprint_tail(port: int | str, after: str) -> bytes:
    """The hashed bytes from the port on (``after``: listener_fingerprint_parts')."""
    return _encode(f"{port}{after}")


def listener_fingerprint_of(head: bytes, tail: bytes) -> str:
    """The fingerprint of a rule (``head``) on a listener (``tail``). Encoding the text
    in two parts gives its bytes: surrogates are encoded one by one (surrogatepass)."""
    return _sha256(head + tail).hexdigest()[:16]


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def dangling_fingerprint(
    rule_id: str, protocol: str, external_port: int, internal_client: str, internal_port: int
) -> str:
    """rule id + protocol + external port + internal client + internal port."""
    return _digest(
        (
            "v1",
            "dangling",
            rule_id,
            protocol.lower(),
            str(external_port),
            _normal_address(internal_client),
            str(internal_port),
        )
    )
