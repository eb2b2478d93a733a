"""Message templates: the fields a rule's message, remediation or fix may name, and the
check that a template names only those (documented in rules/README.md)."""

from __future__ import annotations

import string
from collections.abc import Iterable

from exposure_audit.policy.files import did_you_mean
from exposure_audit.policy.values import Where

# Template fields, with what they hold (documented in rules/README.md).
LISTENER_FIELDS: dict[str, str] = {
    "rule_id": "the rule's id",
    "severity": "the finding's severity",
    "title": "the rule's title",
    "process": 'process name, or "an unidentified process"',
    "pid": 'process id, or "?"',
    "user": 'user the process runs as, or "an unknown user"',
    "cmdline": "command line (first 200 characters)",
    "address": "bound address (0.0.0.0, ::, 192.168.1.23, ...)",
    "port": "port number",
    "protocol": "tcp or udp",
    "family": "ipv4 or ipv6",
    "endpoint": "address:port, IPv6 in brackets ([::]:8000)",
    "service": (
        "the recognised framework's (or the catalogue's) service name; from the catalogue "
        'alone a likelihood, "probably NAME"; else "an unrecognised service"'
    ),
    "reach_desc": 'who can reach it: "everyone on wlan0 (192.168.1.0/24)"',
    "widest": "widest scope: loopback, link_local, lan, vpn, public, internet",
    "framework": "framework recognised from the command line, else the service name",
    "command": "the command line as the process was started (its own interpreter and flags)",
    "rebound": 'that command with the bound address replaced by loopback, or ""',
    "python": "the Python interpreter as the process was started (python3, a venv path)",
    "evidence": "how the service was identified (command line, environment, port)",
    "fix": "the framework's one-line fix, or a generic bind-to-loopback sentence",
    "container": 'container name or id, or ""',
    "mapping_desc": 'UPnP mappings to it: "port 8080/tcp on 203.0.113.7", or ""',
    "delete_cmd": 'command deleting its UPnP mappings: "upnpc -d 8080 TCP", or ""',
    "external_ip": "the router's external address, or \"the router's external address\"",
    "upnp_audience": 'who a UPnP mapping exposes it to: "anyone on the internet", or, behind '
    "double or carrier-grade NAT, the network beyond the router (said so)",
}
DANGLING_FIELDS: dict[str, str] = {
    "rule_id": "the rule's id",
    "severity": "the finding's severity",
    "title": "the rule's title",
    "protocol": "tcp or udp",
    "external_port": "the router's port",
    "external_ip": "the router's external address (or a description)",
    "internal_client": "this host's address the mapping forwards to",
    "internal_port": "the port on this host",
    "port": "the port on this host (same as internal_port)",
    "endpoint": "internal_client:internal_port",
    "description": "the mapping's description, as the router reports it",
    "service": (
        'catalogue service for the internal port ("probably NAME"), or "an unrecognised service"'
    ),
    "delete_cmd": 'the command deleting the mapping: "upnpc -d 2200 TCP"',
    "upnp_audience": LISTENER_FIELDS["upnp_audience"],
}
FIELDS_BY_KIND: dict[str, dict[str, str]] = {
    "listener": LISTENER_FIELDS,
    "dangling_mapping": DANGLING_FIELDS,
}
FRAMEWORK_FIX_FIELDS: frozenset[str] = frozenset(LISTENER_FIELDS) - {"fix", "framework"}


def check_template(where: Where, key: str, text: str, allowed: Iterable[str]) -> None:
    """Placeholders must be plain names from ``allowed``: no attribute access or
    indexing (``{x.__class__}``), no format specs, no positional ``{}``."""
    allowed = frozenset(allowed)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise where.error(
            key, f"bad template: {exc} (write {{{{ and }}}} for literal braces)"
        ) from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit():
            raise where.error(
                key, "positional placeholder {} in template: name a field, e.g. {port}"
            )
        if not name.isidentifier():
            raise where.error(
                key, f"placeholder {{{name}}}: only plain field names are allowed, e.g. {{port}}"
            )
        if name not in allowed:
            raise where.error(
                key,
                f"unknown placeholder {{{name}}}{did_you_mean(name, allowed)}"
                f" (fields: {', '.join(sorted(allowed))})",
            )
        if spec or conversion:
            raise where.error(
                key, f"placeholder {{{name}}}: format specs and !conversions are not supported"
            )
