"""What rule conditions mean: the records the engine consumes and the operator table.

A rule's conditions test a ``Subject`` (one listener or one dangling mapping, flattened
once). ``OPERATORS`` is the table of condition keys: for each, what its value is (the
loader parses it, see values.py), the test it applies, the kinds of rule it applies to
and its cost (cheap, selective tests run first). Nothing here reads files: the engine
imports this module; loader.py builds these records from rule files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from exposure_audit.core.model import INTERFACE_KINDS, SCOPES
from exposure_audit.core.records import record

if TYPE_CHECKING:
    from pathlib import Path

    from exposure_audit.policy.values import LinearRegex, PortSet

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

# Regexes are matched against at most this much of a command line: a hostile process
# can have a megabyte-long command line, and Python's re has no timeout.
CMDLINE_MATCH_LIMIT = 4096


# --------------------------------------------------------------------------- records


class Subject:
    """What conditions test: one listener (or one dangling mapping), flattened once.

    Absent data (no process attribution, no firewall facts) is None; a positive
    condition on absent data does not match. The framework is looked up only when a
    condition or a finding needs it (regex searches over the command line).
    """

    __slots__ = (
        "_find_framework",
        "_framework",
        "_looked_up",
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
        self._framework: Framework | None = None
        self._looked_up = False

    @property
    def framework(self) -> Framework | None:
        if not self._looked_up:
            find = self._find_framework
            self._framework = find() if find is not None else None
            self._looked_up = True
        return self._framework

    @property
    def framework_id(self) -> str | None:
        f = self.framework
        return f.id if f is not None else None


@record
class PortEntry:
    port: int
    protocol: str
    service: str
    tags: tuple[str, ...]
    why: str
    references: tuple[str, ...]
    source: str
    fix: str | None = None  # used for {fix} when no framework is recognised


@record
class Catalogue:
    entries: dict[tuple[str, int], PortEntry]

    def get(self, protocol: str, port: int) -> PortEntry | None:
        return self.entries.get((protocol, port))


@record
class Framework:
    id: str
    name: str
    fix: str
    process: re.Pattern[str] | None
    cmdline: LinearRegex | None
    ports: PortSet | None
    container: bool | None
    source: str
    describes: bool = True  # False: gives a fix only; {framework} shows the service name
    # Searched in the named debugger variables, one "NAME=value" per line (see
    # collectors/procinfo.DEBUG_ENV): the identity then comes from the environment.
    env: LinearRegex | None = None
    # A flag naming the framework's own port (group "port"): the framework is only the
    # listener on that port, or on default_port when the flag names none.
    listen_flag: LinearRegex | None = None
    default_port: int | None = None
    tags: tuple[str, ...] | None = None  # what it is; None: the port catalogue's tags
    references: tuple[str, ...] = ()  # replace the rule's references in its findings
    rebind_fix: str | None = None  # the fix when the bound address is in the argv
    # The framework is only a listener whose probe showed one of these services (in one
    # of these states): verified by asking, whatever the process says
    probe: tuple[str, ...] | None = None
    probe_state: tuple[str, ...] | None = None

    def matches_probe(self, service: str | None, state: str | None) -> bool:
        if self.probe is None:
            return True
        if service not in self.probe:
            return False
        return self.probe_state is None or state in self.probe_state

    def matches_process(
        self, process: str | None, cmdline: str | None, container: bool, env: str = ""
    ) -> bool:
        """The port-independent part of the match (cached per process by the engine)."""
        if self.process is not None and (process is None or not self.process.match(process)):
            return False
        if self.cmdline is not None and (cmdline is None or not self.cmdline.search(cmdline)):
            return False
        if self.env is not None and not self.env.search(env):
            return False
        return self.container is None or self.container == container

    def flag_port(self, cmdline: str | None, env: str = "") -> int | None:
        """The port the listen flag names (in the command line, else the environment),
        its default_port when the flag names none; None without such a flag."""
        if self.listen_flag is None:
            return None
        for text in (cmdline or "", env):
            m = self.listen_flag.search(text)
            if m is not None:
                port = m.groupdict().get("port")
                if port and port.isdigit():
                    return int(port)
                return self.default_port
        return None


@record
class Condition:
    key: str
    test: Callable[[Any, Subject], bool]
    value: Any


@record
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


@record
class RuleSet:
    rules: tuple[Rule, ...]
    catalogue: Catalogue
    frameworks: tuple[Framework, ...]
    files: tuple[Path, ...] = ()


# --------------------------------------------------------------------------- tests


def _t_port(v: PortSet, s: Subject) -> bool:
    return s.port in v


def _t_external_port(v: PortSet, s: Subject) -> bool:
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


def _t_cmdline(v: tuple[LinearRegex, ...], s: Subject) -> bool:
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


@record
class Value:
    """What a condition's value is written as; values.py has the parser of each ``kind``."""

    kind: str  # "ports", "choices", "scope_rank", "bool", "names", "globs", "regexes", "container"
    choices: tuple[str, ...] = ()  # kind "choices": the allowed words
    noun: str = ""  # kind "choices": what one is called in messages ("protocol")


def one_of(allowed: Iterable[str], noun: str) -> Value:
    """A word, or a list of words, from ``allowed`` (parsed into a frozenset)."""
    return Value("choices", tuple(allowed), noun)


@record
class Operator:
    value: Value
    test: Callable[[Any, Subject], bool]
    kinds: frozenset[str]
    cost: int  # evaluation order: cheap, selective tests first
    doc: str


_BOTH = frozenset(KINDS)
_LISTENER = frozenset({"listener"})
_PORTS = Value("ports")
_BOOL = Value("bool")
_GLOBS = Value("globs")
_SCOPES = one_of(SCOPES, "scope")
_INTERFACE_KINDS = one_of(INTERFACE_KINDS, "interface kind")
TAG_CHOICES = one_of(sorted(TAGS), "tag")

OPERATORS: dict[str, Operator] = {
    "port": Operator(_PORTS, _t_port, _BOTH, 0, 'port numbers and "from-to" ranges'),
    "protocol": Operator(one_of(PROTOCOLS, "protocol"), _t_protocol, _BOTH, 1, "tcp, udp"),
    "tags": Operator(TAG_CHOICES, _t_tags, _BOTH, 1, "catalogue tags (any of)"),
    "catalogued": Operator(_BOOL, _t_catalogued, _BOTH, 1, "port is in the catalogue"),
    "external_port": Operator(
        _PORTS, _t_external_port, frozenset({"dangling_mapping"}), 0, "router port"
    ),
    "widest": Operator(_SCOPES, _t_widest, _LISTENER, 1, "widest scope"),
    "widest_at_least": Operator(
        Value("scope_rank"), _t_widest_at_least, _LISTENER, 1, "widest scope is this or wider"
    ),
    "reach": Operator(_SCOPES, _t_reach, _LISTENER, 2, "any scope reached"),
    "interface_kind": Operator(_INTERFACE_KINDS, _t_interface_kind, _LISTENER, 2, "kinds"),
    "only_interface_kind": Operator(
        _INTERFACE_KINDS,
        _t_only_interface_kind,
        _LISTENER,
        2,
        "every interface beyond loopback it is reached through is of these kinds",
    ),
    "family": Operator(one_of(FAMILIES, "address family"), _t_family, _LISTENER, 1, "family"),
    "upnp_mapped": Operator(_BOOL, _t_upnp_mapped, _LISTENER, 1, "a UPnP mapping forwards to it"),
    "firewall": Operator(
        one_of(FIREWALL_STATES, "firewall state"), _t_firewall, _LISTENER, 1, "verdict"
    ),
    "published_by": Operator(
        one_of(PUBLISHERS, "publisher"), _t_published_by, _LISTENER, 1, "docker, podman"
    ),
    "framework": Operator(Value("names"), _t_framework, _LISTENER, 2, "framework ids"),
    "process": Operator(_GLOBS, _t_process, _LISTENER, 3, "process-name globs"),
    "user": Operator(_GLOBS, _t_user, _LISTENER, 3, "user-name globs"),
    "container": Operator(Value("container"), _t_container, _LISTENER, 3, "bool or id globs"),
    "cmdline": Operator(Value("regexes"), _t_cmdline, _LISTENER, 4, "command-line regexes"),
}
