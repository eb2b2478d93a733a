"""Rule files: loading and validation (policy as data, see rules/README.md).

A rules directory holds TOML files with three kinds of tables, in any file:
``[[port]]`` (the port catalogue), ``[[framework]]`` (frameworks recognised from the
command line, each with its own fix) and ``[[rule]]``. Every file is validated on load;
anything wrong is one ``ConfigError`` naming the file, the rule (or port, framework) and
the key, with a suggestion for a misspelt name. Nothing is evaluated here: see engine.py.

Conditions are a typed table (``OPERATORS``: key -> parser + test), not an if/elif chain.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import re
import string
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exposure_audit.core import resources
from exposure_audit.core.errors import ConfigError, shown
from exposure_audit.core.model import INTERFACE_KINDS, SCOPE_RANK, SCOPES, SEVERITIES

# Catalogue tags. A rule or port naming any other tag is an error (a typo would
# otherwise silently match nothing).
TAGS: frozenset[str] = frozenset(
    {
        "amplification",
        "app-server",
        "cache",
        "cleartext",
        "container-api",
        "database",
        "debugger",
        "dev-server",
        "discovery",
        "dns",
        "file-share",
        "iot",
        "mail",
        "message-broker",
        "metrics",
        "ml",
        "notebook",
        "orchestration",
        "os-service",
        "printing",
        "remote-admin",
        "remote-desktop",
        "rpc",
        "search",
        "unauthenticated",
        "vpn",
        "web",
        "web-admin",
    }
)

KINDS: tuple[str, ...] = ("listener", "dangling_mapping")
PROTOCOLS: tuple[str, ...] = ("tcp", "udp")
FAMILIES: tuple[str, ...] = ("ipv4", "ipv6")
FIREWALL_STATES: tuple[str, ...] = ("open", "filtered", "unknown")
PUBLISHERS: tuple[str, ...] = ("docker", "podman")

MAX_FILE_BYTES = 1024 * 1024
MAX_REGEX_CHARS = 1000
# Regexes are matched against at most this much of a command line: a hostile process
# can have a megabyte-long command line, and Python's re has no timeout.
CMDLINE_MATCH_LIMIT = 4096
MAX_CATALOGUE_RANGE = 1000

_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")

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
    "service": 'catalogue service name, or "an unrecognised service"',
    "reach_desc": 'who can reach it: "everyone on wlan0 (192.168.1.0/24)"',
    "widest": "widest scope: loopback, link_local, lan, vpn, public, internet",
    "framework": "framework recognised from the command line, else the service name",
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
    "service": 'catalogue service for the internal port, or "an unrecognised service"',
    "delete_cmd": 'the command deleting the mapping: "upnpc -d 2200 TCP"',
    "upnp_audience": LISTENER_FIELDS["upnp_audience"],
}
FIELDS_BY_KIND: dict[str, dict[str, str]] = {
    "listener": LISTENER_FIELDS,
    "dangling_mapping": DANGLING_FIELDS,
}
FRAMEWORK_FIX_FIELDS: frozenset[str] = frozenset(LISTENER_FIELDS) - {"fix", "framework"}


# --------------------------------------------------------------------------- data


_UNSET: Any = object()


class Subject:
    """What conditions test: one listener (or one dangling mapping), flattened once.

    Absent data (no process attribution, no firewall facts) is None; a positive
    condition on absent data does not match. The framework is looked up only when a
    condition or a finding needs it (regex searches over the command line).
    """

    __slots__ = (
        "_find_framework",
        "_framework",
        "catalogued",
        "cmdline",
        "container",
        "external_port",
        "family",
        "firewall",
        "kinds",
        "port",
        "process",
        "protocol",
        "published_by",
        "scopes",
        "tags",
        "upnp_mapped",
        "user",
        "widest",
        "widest_rank",
    )

    def __init__(
        self,
        *,
        port: int | None = None,
        protocol: str | None = None,
        external_port: int | None = None,
        family: str | None = None,
        tags: frozenset[str] = frozenset(),
        catalogued: bool = False,
        widest: str | None = None,
        widest_rank: int = -1,
        scopes: frozenset[str] = frozenset(),
        kinds: frozenset[str] = frozenset(),
        process: str | None = None,
        cmdline: str | None = None,
        user: str | None = None,
        container: str | None = None,
        upnp_mapped: bool = False,
        firewall: str | None = None,
        published_by: str | None = None,
        find_framework: Callable[[], Framework | None] | None = None,
    ) -> None:
        self.port = port
        self.protocol = protocol
        self.external_port = external_port
        self.family = family
        self.tags = tags
        self.catalogued = catalogued
        self.widest = widest
        self.widest_rank = widest_rank
        self.scopes = scopes
        self.kinds = kinds
        self.process = process
        self.cmdline = cmdline
        self.user = user
        self.container = container
        self.upnp_mapped = upnp_mapped
        self.firewall = firewall
        self.published_by = published_by
        self._find_framework = find_framework
        self._framework = _UNSET

    @property
    def framework(self) -> Framework | None:
        if self._framework is _UNSET:
            find = self._find_framework
            self._framework = find() if find is not None else None
        return self._framework  # type: ignore[no-any-return]

    @property
    def framework_id(self) -> str | None:
        f = self.framework
        return f.id if f is not None else None


@dataclass(frozen=True)
class PortEntry:
    port: int
    protocol: str
    service: str
    tags: tuple[str, ...]
    why: str
    references: tuple[str, ...]
    source: str
    fix: str | None = None  # used for {fix} when no framework is recognised


@dataclass(frozen=True, eq=False)
class Catalogue:
    entries: dict[tuple[str, int], PortEntry]

    def get(self, protocol: str, port: int) -> PortEntry | None:
        return self.entries.get((protocol, port))


@dataclass(frozen=True, eq=False)
class Framework:
    id: str
    name: str
    fix: str
    process: re.Pattern[str] | None
    cmdline: re.Pattern[str] | None
    ports: frozenset[int] | None
    container: bool | None
    source: str
    describes: bool = True  # False: gives a fix only; {framework} shows the service name

    def matches_process(self, process: str | None, cmdline: str | None, container: bool) -> bool:
        """The port-independent part of the match (cached per process by the engine)."""
        if self.process is not None and (process is None or not self.process.match(process)):
            return False
        if self.cmdline is not None and (cmdline is None or not self.cmdline.search(cmdline)):
            return False
        return self.container is None or self.container == container


@dataclass(frozen=True, eq=False)
class Condition:
    key: str
    test: Callable[[Any, Subject], bool]
    value: Any


@dataclass(frozen=True, eq=False)
class Rule:
    id: str
    title: str
    severity: str
    message: str
    remediation: str
    kind: str = "listener"
    internet_severity: str | None = None
    rationale: str = ""
    references: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    # Groups of conditions: the rule does not fire when every condition of any group holds.
    unless: tuple[tuple[Condition, ...], ...] = ()
    source: str = ""


@dataclass(frozen=True, eq=False)
class RuleSet:
    rules: tuple[Rule, ...]
    catalogue: Catalogue
    frameworks: tuple[Framework, ...]
    files: tuple[Path, ...] = ()


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class _Where:
    file: str
    what: str  # "rule EA-DEV-001", "port 8000", "framework django"

    def error(self, key: str, message: str) -> ConfigError:
        # shown(message) too: it may quote the hostile value itself (a port of "\n")
        return ConfigError(f"{self.file}: {self.what}: key '{shown(key)}': {shown(message)}")


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def type_name(value: Any) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return names.get(type(value), type(value).__name__)


def _str(where: _Where, key: str, value: Any, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise where.error(key, f"expected a string, got {type_name(value)}")
    if not empty and not value.strip():
        raise where.error(key, "must not be empty")
    return value


def _str_list(where: _Where, key: str, value: Any) -> list[str]:
    """A string or a list of strings (a lone string is a list of one)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise where.error(key, f"expected a string or a non-empty list, got {type_name(value)}")
    for item in items:
        if not isinstance(item, str):
            raise where.error(key, f"expected strings in the list, got {type_name(item)}")
        if not item.strip():
            raise where.error(key, "empty string in the list")
    return items


def _choice(where: _Where, key: str, value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise where.error(
            key,
            f"unknown {what} '{value}'{did_you_mean(value, allowed)}"
            f" (expected one of: {', '.join(allowed)})",
        )
    return value


def _check_keys(where: _Where, prefix: str, table: dict[str, Any], allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            raise where.error(
                f"{prefix}{key}",
                f"unknown key{did_you_mean(key, allowed)} (allowed: {', '.join(sorted(allowed))})",
            )


# --------------------------------------------------------------------------- parsers


def _parse_port_value(where: _Where, key: str, item: Any) -> range:
    if isinstance(item, int) and not isinstance(item, bool):
        lo = hi = item
    elif isinstance(item, str):
        m = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", item) or re.fullmatch(
            r"\s*(\d{1,5})\s*", item
        )
        if not m:
            raise where.error(key, f"bad port range '{item}' (expected a number or \"8000-8099\")")
        lo = int(m.group(1))
        hi = int(m.group(m.lastindex or 1))
    else:
        raise where.error(key, f'expected a port number or "from-to" range, got {type_name(item)}')
    if not (0 < lo <= 65535 and 0 < hi <= 65535):
        raise where.error(key, f"bad port range '{item}' (ports are 1-65535)")
    if lo > hi:
        raise where.error(key, f"bad port range '{item}' (start is after end)")
    return range(lo, hi + 1)


def _p_ports(where: _Where, key: str, value: Any) -> frozenset[int]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise where.error(key, "empty list")
    ports: set[int] = set()
    for item in items:
        ports.update(_parse_port_value(where, key, item))
    return frozenset(ports)


def _p_choices(allowed: Sequence[str], what: str) -> Callable[[_Where, str, Any], frozenset[str]]:
    def parse(where: _Where, key: str, value: Any) -> frozenset[str]:
        return frozenset(
            _choice(where, key, v, allowed, what) for v in _str_list(where, key, value)
        )

    return parse


def _p_scope_rank(where: _Where, key: str, value: Any) -> int:
    return SCOPE_RANK[_choice(where, key, _str(where, key, value), SCOPES, "scope")]


def _p_bool(where: _Where, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise where.error(key, f"expected true or false, got {type_name(value)}")
    return value


def _globs(where: _Where, key: str, value: Any) -> re.Pattern[str]:
    """Globs (any of), case-insensitive, compiled into one anchored regex."""
    parts = [fnmatch.translate(g) for g in _str_list(where, key, value)]
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)


def _regex(where: _Where, key: str, value: Any) -> re.Pattern[str]:
    text = _str(where, key, value)
    if len(text) > MAX_REGEX_CHARS:
        raise where.error(key, f"regex longer than {MAX_REGEX_CHARS} characters")
    try:
        return re.compile(text)
    except re.error as exc:
        raise where.error(key, f"bad regex '{text}': {exc}") from None


def _p_regexes(where: _Where, key: str, value: Any) -> tuple[re.Pattern[str], ...]:
    return tuple(_regex(where, key, v) for v in _str_list(where, key, value))


def _p_container(where: _Where, key: str, value: Any) -> bool | re.Pattern[str]:
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, list)):
        return _globs(where, key, value)
    raise where.error(key, f"expected true, false or container-id globs, got {type_name(value)}")


def _p_tags(where: _Where, key: str, value: Any) -> frozenset[str]:
    return frozenset(
        _choice(where, key, t, sorted(TAGS), "tag") for t in _str_list(where, key, value)
    )


def _p_names(where: _Where, key: str, value: Any) -> frozenset[str]:
    return frozenset(_str_list(where, key, value))


# --------------------------------------------------------------------------- tests


def _t_port(v: frozenset[int], s: Subject) -> bool:
    return s.port in v


def _t_external_port(v: frozenset[int], s: Subject) -> bool:
    return s.external_port in v


def _t_protocol(v: frozenset[str], s: Subject) -> bool:
    return s.protocol in v


def _t_family(v: frozenset[str], s: Subject) -> bool:
    return s.family in v


def _t_tags(v: frozenset[str], s: Subject) -> bool:
    return not v.isdisjoint(s.tags)


def _t_widest(v: frozenset[str], s: Subject) -> bool:
    return s.widest in v


def _t_widest_at_least(v: int, s: Subject) -> bool:
    return s.widest_rank >= v


def _t_reach(v: frozenset[str], s: Subject) -> bool:
    return not v.isdisjoint(s.scopes)


def _t_interface_kind(v: frozenset[str], s: Subject) -> bool:
    return not v.isdisjoint(s.kinds)


def _t_only_interface_kind(v: frozenset[str], s: Subject) -> bool:
    beyond = s.kinds - _LOOPBACK_KIND
    return bool(beyond) and beyond <= v


_LOOPBACK_KIND = frozenset({"loopback"})


def _t_process(v: re.Pattern[str], s: Subject) -> bool:
    return s.process is not None and v.match(s.process) is not None


def _t_cmdline(v: tuple[re.Pattern[str], ...], s: Subject) -> bool:
    text = s.cmdline
    return text is not None and any(p.search(text) for p in v)


def _t_user(v: re.Pattern[str], s: Subject) -> bool:
    return s.user is not None and v.match(s.user) is not None


def _t_container(v: bool | re.Pattern[str], s: Subject) -> bool:
    if v is True:
        return s.container is not None
    if v is False:
        return s.container is None
    return s.container is not None and v.match(s.container) is not None


def _t_upnp_mapped(v: bool, s: Subject) -> bool:
    return s.upnp_mapped is v


def _t_catalogued(v: bool, s: Subject) -> bool:
    return s.catalogued is v


def _t_firewall(v: frozenset[str], s: Subject) -> bool:
    return s.firewall in v


def _t_published_by(v: frozenset[str], s: Subject) -> bool:
    return s.published_by in v


def _t_framework(v: frozenset[str], s: Subject) -> bool:
    return s.framework_id in v


@dataclass(frozen=True)
class Operator:
    parse: Callable[[_Where, str, Any], Any]
    test: Callable[[Any, Subject], bool]
    kinds: frozenset[str]
    cost: int  # evaluation order: cheap, selective tests first
    doc: str


_BOTH = frozenset(KINDS)
_LISTENER = frozenset({"listener"})

OPERATORS: dict[str, Operator] = {
    "port": Operator(_p_ports, _t_port, _BOTH, 0, 'port numbers and "from-to" ranges'),
    "protocol": Operator(_p_choices(PROTOCOLS, "protocol"), _t_protocol, _BOTH, 1, "tcp, udp"),
    "tags": Operator(_p_tags, _t_tags, _BOTH, 1, "catalogue tags (any of)"),
    "catalogued": Operator(_p_bool, _t_catalogued, _BOTH, 1, "port is in the catalogue"),
    "external_port": Operator(
        _p_ports, _t_external_port, frozenset({"dangling_mapping"}), 0, "router port"
    ),
    "widest": Operator(_p_choices(SCOPES, "scope"), _t_widest, _LISTENER, 1, "widest scope"),
    "widest_at_least": Operator(
        _p_scope_rank, _t_widest_at_least, _LISTENER, 1, "widest scope is this or wider"
    ),
    "reach": Operator(_p_choices(SCOPES, "scope"), _t_reach, _LISTENER, 2, "any scope reached"),
    "interface_kind": Operator(
        _p_choices(INTERFACE_KINDS, "interface kind"), _t_interface_kind, _LISTENER, 2, "kinds"
    ),
    "only_interface_kind": Operator(
        _p_choices(INTERFACE_KINDS, "interface kind"),
        _t_only_interface_kind,
        _LISTENER,
        2,
        "every interface beyond loopback it is reached through is of these kinds",
    ),
    "family": Operator(_p_choices(FAMILIES, "address family"), _t_family, _LISTENER, 1, "family"),
    "upnp_mapped": Operator(_p_bool, _t_upnp_mapped, _LISTENER, 1, "a UPnP mapping forwards to it"),
    "firewall": Operator(
        _p_choices(FIREWALL_STATES, "firewall state"), _t_firewall, _LISTENER, 1, "verdict"
    ),
    "published_by": Operator(
        _p_choices(PUBLISHERS, "publisher"), _t_published_by, _LISTENER, 1, "docker, podman"
    ),
    "framework": Operator(_p_names, _t_framework, _LISTENER, 2, "framework ids"),
    "process": Operator(_globs, _t_process, _LISTENER, 3, "process-name globs"),
    "user": Operator(_globs, _t_user, _LISTENER, 3, "user-name globs"),
    "container": Operator(_p_container, _t_container, _LISTENER, 3, "bool or id globs"),
    "cmdline": Operator(_p_regexes, _t_cmdline, _LISTENER, 4, "command-line regexes"),
}

RULE_KEYS: tuple[str, ...] = (
    "id",
    "title",
    "severity",
    "internet_severity",
    "kind",
    "match",
    "unless",
    "message",
    "remediation",
    "rationale",
    "references",
)
PORT_KEYS: tuple[str, ...] = ("port", "protocol", "service", "tags", "why", "references", "fix")
FRAMEWORK_KEYS: tuple[str, ...] = (
    "id",
    "name",
    "fix",
    "process",
    "cmdline",
    "port",
    "container",
    "describes",
)
TOP_LEVEL_KEYS: tuple[str, ...] = ("rule", "framework", "port")


def check_template(where: _Where, key: str, text: str, allowed: Iterable[str]) -> None:
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


# --------------------------------------------------------------------------- loading


@dataclass
class _Loaded:
    rules: list[Rule]
    ports: dict[tuple[str, int], PortEntry]
    frameworks: list[Framework]
    rule_files: dict[str, str]  # id -> file
    framework_refs: list[tuple[_Where, str, frozenset[str]]]


def read_toml(path: Path, what: str = "a rule file") -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB: not {what}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _tables(path: Path, doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(f"{path}: '{key}' must be an array of tables, written [[{key}]]")
    return value


def _parse_conditions(
    where: _Where, prefix: str, table: Any, kind: str, loaded: _Loaded
) -> tuple[Condition, ...]:
    if not isinstance(table, dict):
        raise where.error(prefix, f"expected a table, got {type_name(table)}")
    conditions: list[tuple[int, Condition]] = []
    for key, value in table.items():
        op = OPERATORS.get(key)
        if op is None:
            allowed = sorted(k for k, o in OPERATORS.items() if kind in o.kinds)
            raise where.error(
                f"{prefix}.{key}",
                f"unknown condition{did_you_mean(key, allowed)} (conditions: {', '.join(allowed)})",
            )
        if kind not in op.kinds:
            raise where.error(f"{prefix}.{key}", f'does not apply to kind = "{kind}"')
        parsed = op.parse(where, f"{prefix}.{key}", value)
        if key == "framework":
            loaded.framework_refs.append((where, f"{prefix}.{key}", parsed))
        conditions.append((op.cost, Condition(key, op.test, parsed)))
    conditions.sort(key=lambda c: c[0])
    return tuple(c for _cost, c in conditions)


def _parse_unless(
    where: _Where, raw: Any, kind: str, loaded: _Loaded
) -> tuple[tuple[Condition, ...], ...]:
    """``unless`` is one table of conditions, or a list of them (any one suppresses)."""
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise where.error("unless", "empty list: remove it or add a table of conditions")
    groups = []
    for i, item in enumerate(items):
        prefix = f"unless[{i}]" if isinstance(raw, list) else "unless"
        group = _parse_conditions(where, prefix, item, kind, loaded)
        if not group:
            raise where.error(prefix, "empty table: remove it or add a condition")
        groups.append(group)
    return tuple(groups)


def _parse_rule(path: Path, index: int, table: dict[str, Any], loaded: _Loaded) -> Rule:
    raw_id = table.get("id")
    where = _Where(str(path), f"rule #{index + 1} (no id)")
    rule_id = _str(where, "id", raw_id) if "id" in table else None
    if rule_id is None:
        raise where.error("id", 'missing (every rule needs an id such as "ACME-WEB-001")')
    if not _ID_RE.fullmatch(rule_id):
        raise _Where(str(path), f"rule {rule_id!r}").error(
            "id", "bad id (letters, digits, '-', '_', '.'; at most 64; e.g. ACME-WEB-001)"
        )
    where = _Where(str(path), f"rule {rule_id}")
    _check_keys(where, "", table, RULE_KEYS)
    for key in ("title", "severity", "message", "remediation"):
        if key not in table:
            raise where.error(key, "missing")
    kind = _choice(where, "kind", _str(where, "kind", table.get("kind", "listener")), KINDS, "kind")
    severity = _choice(
        where, "severity", _str(where, "severity", table["severity"]), SEVERITIES, "severity"
    )
    internet_severity = None
    if "internet_severity" in table:
        if kind != "listener":
            raise where.error("internet_severity", f'does not apply to kind = "{kind}"')
        internet_severity = _choice(
            where,
            "internet_severity",
            _str(where, "internet_severity", table["internet_severity"]),
            SEVERITIES,
            "severity",
        )
    fields = FIELDS_BY_KIND[kind]
    templates = {}
    for key in ("title", "message", "remediation"):
        templates[key] = _str(where, key, table[key])
    for key in ("message", "remediation"):
        check_template(where, key, templates[key], fields)
    rationale = _str(where, "rationale", table.get("rationale", ""), empty=True)
    references = (
        tuple(_str_list(where, "references", table["references"])) if "references" in table else ()
    )
    if kind == "listener" and not table.get("match"):
        raise where.error(
            "match",
            "missing or empty: a listener rule needs at least one condition under [rule.match]",
        )
    conditions = _parse_conditions(where, "match", table.get("match", {}), kind, loaded)
    unless = _parse_unless(where, table.get("unless"), kind, loaded)
    return Rule(
        id=rule_id,
        title=templates["title"],
        severity=severity,
        message=templates["message"],
        remediation=templates["remediation"],
        kind=kind,
        internet_severity=internet_severity,
        rationale=rationale,
        references=references,
        conditions=conditions,
        unless=unless,
        source=str(path),
    )


def _parse_port(path: Path, index: int, table: dict[str, Any], loaded: _Loaded) -> None:
    where = _Where(str(path), f"port #{index + 1}")
    if "port" not in table:
        raise where.error("port", "missing")
    ports = _parse_port_value(where, "port", table["port"])
    where = _Where(str(path), f"port {table['port']}")
    _check_keys(where, "", table, PORT_KEYS)
    if len(ports) > MAX_CATALOGUE_RANGE:
        raise where.error("port", f"bad port range: more than {MAX_CATALOGUE_RANGE} ports")
    for key in ("service", "tags", "why"):
        if key not in table:
            raise where.error(key, "missing")
    protocols = _p_choices(PROTOCOLS, "protocol")(where, "protocol", table.get("protocol", "tcp"))
    service = _str(where, "service", table["service"])
    tags = tuple(sorted(_p_tags(where, "tags", table["tags"])))
    why = _str(where, "why", table["why"])
    references = (
        tuple(_str_list(where, "references", table["references"])) if "references" in table else ()
    )
    fix = None
    if "fix" in table:
        fix = _str(where, "fix", table["fix"])
        check_template(where, "fix", fix, FRAMEWORK_FIX_FIELDS)
    for protocol in sorted(protocols):
        for port in ports:
            previous = loaded.ports.get((protocol, port))
            if previous is not None:
                raise where.error(
                    "port",
                    f"duplicate catalogue entry for {port}/{protocol} (also in {previous.source})",
                )
            loaded.ports[(protocol, port)] = PortEntry(
                port, protocol, service, tags, why, references, str(path), fix
            )


def _parse_framework(path: Path, index: int, table: dict[str, Any], loaded: _Loaded) -> None:
    where = _Where(str(path), f"framework #{index + 1} (no id)")
    if "id" not in table:
        raise where.error("id", "missing")
    fid = _str(where, "id", table["id"])
    if not _ID_RE.fullmatch(fid):
        raise _Where(str(path), f"framework {fid!r}").error(
            "id", "bad id (letters, digits, '-', '_', '.'; at most 64; e.g. my-server)"
        )
    where = _Where(str(path), f"framework {fid}")
    _check_keys(where, "", table, FRAMEWORK_KEYS)
    for key in ("name", "fix"):
        if key not in table:
            raise where.error(key, "missing")
    if not any(k in table for k in ("process", "cmdline", "container")):
        raise where.error("cmdline", "missing: a framework needs process, cmdline or container")
    for other in loaded.frameworks:
        if other.id == fid:
            raise where.error("id", f"duplicate framework id (also in {other.source})")
    fix = _str(where, "fix", table["fix"])
    check_template(where, "fix", fix, FRAMEWORK_FIX_FIELDS)
    container = None
    if "container" in table:
        container = _p_bool(where, "container", table["container"])
    loaded.frameworks.append(
        Framework(
            id=fid,
            name=_str(where, "name", table["name"]),
            fix=fix,
            process=_globs(where, "process", table["process"]) if "process" in table else None,
            cmdline=_regex(where, "cmdline", table["cmdline"]) if "cmdline" in table else None,
            ports=_p_ports(where, "port", table["port"]) if "port" in table else None,
            container=container,
            source=str(path),
            describes=_p_bool(where, "describes", table.get("describes", True)),
        )
    )


def _load_doc(path: Path, doc: dict[str, Any], loaded: _Loaded) -> int:
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            hint = " (waivers belong in the config file, see --config)" if key == "waiver" else ""
            raise ConfigError(
                f"{path}: unknown top-level key '{shown(key)}'"
                f"{did_you_mean(key, TOP_LEVEL_KEYS)}{hint}"
                f" (a rule file holds [[rule]], [[framework]] and [[port]] tables)"
            )
    for i, table in enumerate(_tables(path, doc, "port")):
        _parse_port(path, i, table, loaded)
    for i, table in enumerate(_tables(path, doc, "framework")):
        _parse_framework(path, i, table, loaded)
    rules = _tables(path, doc, "rule")
    for i, table in enumerate(rules):
        rule = _parse_rule(path, i, table, loaded)
        first = loaded.rule_files.get(rule.id)
        if first is not None:
            raise _Where(str(path), f"rule {rule.id}").error(
                "id", f"duplicate rule id (also defined in {first})"
            )
        loaded.rule_files[rule.id] = str(path)
        loaded.rules.append(rule)
    return len(rules)


def rule_files(path: Path) -> list[Path]:
    """The rule files a path names: itself, or a directory's ``*.toml`` (not recursive)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.glob("*.toml") if p.is_file())
        if not files:
            raise ConfigError(f"{path}: no .toml rule files in this directory")
        return files
    raise ConfigError(f"{path}: no such rules file or directory")


def load_files(files: Sequence[Path]) -> RuleSet:
    """Load and cross-check the given rule files (in order)."""
    return load_documents((path, read_toml(path)) for path in files)


def load_documents(docs: Iterable[tuple[Path, dict[str, Any]]]) -> RuleSet:
    """Validate parsed TOML documents (path, document) in order, and cross-check them."""
    loaded = _Loaded([], {}, [], {}, [])
    files: list[Path] = []
    for path, doc in docs:
        files.append(path)
        _load_doc(path, doc, loaded)
    known = {f.id for f in loaded.frameworks}
    for where, key, names in loaded.framework_refs:
        for name in sorted(names):
            if name not in known:
                raise where.error(key, f"unknown framework '{name}'{did_you_mean(name, known)}")
    return RuleSet(
        rules=tuple(loaded.rules),
        catalogue=Catalogue(loaded.ports),
        frameworks=tuple(loaded.frameworks),
        files=tuple(files),
    )


def load_ruleset(rule_dirs: Sequence[Path], builtin: bool = True) -> RuleSet:
    """Built-in rules (unless ``builtin`` is False), then each ``--rules`` path in order.

    A path may be a directory (its ``*.toml`` files) or one file. A path already loaded
    (e.g. the built-in directory named again) is loaded once.
    """
    files: list[Path] = []
    if builtin:
        files.extend(rule_files(resources.rules_dir()))
    for d in rule_dirs:
        files.extend(rule_files(Path(d)))
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return load_files(list(unique.values()))


# --------------------------------------------------------------------------- CLI options


def add_rules_options(parser: argparse.ArgumentParser) -> None:
    """--rules DIR (repeatable), --no-builtin-rules, --config PATH, --no-default-waivers."""
    g = parser.add_argument_group("rules and waivers")
    g.add_argument(
        "--rules",
        metavar="DIR",
        dest="rule_dirs",
        action="append",
        type=Path,
        default=[],
        help="also load the rule files in DIR (repeatable; a single .toml file works too)",
    )
    g.add_argument(
        "--no-builtin-rules",
        dest="builtin_rules",
        action="store_false",
        help="use only the rules given with --rules",
    )
    g.add_argument(
        "--config",
        metavar="PATH",
        dest="config_path",
        type=Path,
        default=None,
        help="config file with waivers (default: ~/.config/exposure-audit/config.toml if present)",
    )
    g.add_argument(
        "--no-default-waivers",
        dest="builtin_waivers",
        action="store_false",
        help="do not apply the built-in waivers for expected OS listeners",
    )


def rules_options(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options above as keyword arguments for pipeline.EvaluateOptions."""
    return {
        "rule_dirs": tuple(args.rule_dirs),
        "builtin_rules": args.builtin_rules,
        "config_path": args.config_path,
        "builtin_waivers": args.builtin_waivers,
    }
