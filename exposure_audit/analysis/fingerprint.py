"""Stable finding fingerprints: the same exposure gives the same fingerprint on every run.

Built from what identifies the exposure, never from what changes between runs (pid,
time, inode). ``v1`` is part of the hashed text: a change to what goes in bumps it.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress

from exposure_audit.core.addresses import split_zone

_SEP = "\x1f"


@functools.lru_cache(maxsize=4096)  # a few addresses stand for thousands of listeners
def _normal_address(address: str) -> str:
    """``::FFFF:0:0`` and ``::ffff:0.0.0.0`` hash alike; text that is not an address as is."""
    try:
        return ipaddress.ip_address(split_zone(address)[0]).compressed
    except ValueError:
        return address


def _digest(parts: tuple[str, ...]) -> str:
    return hashlib.sha256(_SEP.join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def listener_fingerprint(
    rule_id: str, protocol: str, port: int, address: str, process: str | None
) -> str:
    """rule id + protocol + port + bind address + process name (empty when unknown)."""
    return listener_fingerprint_of(
        rule_id, listener_fingerprinter(protocol, port, address, process)
    )


def listener_fingerprinter(
    protocol: str, port: int, address: str, process: str | None
) -> tuple[str, str]:
    """What a listener's fingerprints hash around the rule id: "v1", "listener", the
    rule id, protocol, port, bind address, process, joined by _SEP (worked out once
    for all the rules that match one listener)."""
    head, before, after = listener_fingerprint_parts(protocol, address, process)
    return head, f"{before}{port}{after}"


def listener_fingerprint_parts(
    protocol: str, address: str, process: str | None
) -> tuple[str, str, str]:
    """listener_fingerprinter's text but for the port: what goes before the rule id,
    and before and after the port (the same for all the ports of one process and
    bind address)."""
    return (
        _SEP.join(("v1", "listener", "")),
        _SEP.join(("", protocol.lower(), "")),
        _SEP.join(("", _normal_address(address), process or "")),
    )


def listener_fingerprint_of(rule_id: str, around: tuple[str, str]) -> str:
    """The fingerprint of ``rule_id`` on the listener ``around`` is of."""
    text = around[0] + rule_id + around[1]
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


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
