"""The data model: frozen records (`@record`, see records.py: not `dataclasses`; use
``records.replace`` and ``records.asdict``) passed between stages.

Facts (what the collectors saw) -> Exposure (where each listener is reachable)
-> Finding (what a rule says about it). Everything here is JSON-able through
``exposure_audit.core.serialize``; nothing here touches the OS or the network.
"""

from __future__ import annotations

from exposure_audit.core.records import record

# Facts document format; bump on any incompatible change (see serialize.py).
FACTS_SCHEMA_VERSION = "2.3"

# Reach scopes, narrowest first. ``internet`` = forwarded by a UPnP mapping.
SCOPES: tuple[str, ...] = ("loopback", "link_local", "lan", "vpn", "public", "internet")
SCOPE_RANK: dict[str, int] = {s: i for i, s in enumerate(SCOPES)}

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

PROBE_OUTCOMES: tuple[str, ...] = ("answered", "unrecognised", "refused", "timeout", "error")
PROBE_STATES: tuple[str, ...] = ("open", "auth-required", "protected")
# What a probe's answer can show a service to be (collectors/probe.py).
PROBE_SERVICES: tuple[str, ...] = (
    "redis",
    "memcached",
    "postgresql",
    "mongodb",
    "werkzeug-debugger",
    "werkzeug",
    "jupyter",
    "node-inspector",
    "docker-api",
    "elasticsearch",
    "metrics",
    "http",
)

# ``container_bridge`` and ``container_veth`` only where a container engine's own state
# says the interface is its (``Interface.evidence``); any other ``bridge`` or ``veth`` is a
# network like any other.
INTERFACE_KINDS: tuple[str, ...] = (
    "loopback",
    "physical",
    "bridge",
    "vpn",
    "container_bridge",
    "container_veth",
    "veth",
    "other",
)
CONTAINER_KINDS: frozenset[str] = frozenset({"container_bridge", "container_veth"})


def widest(scopes: list[str] | tuple[str, ...]) -> str | None:
    """The widest of ``scopes`` by SCOPE_RANK, or None for an empty list."""
    return max(scopes, key=SCOPE_RANK.__getitem__) if scopes else None


# --------------------------------------------------------------------------- facts


@record
class HostInfo:
    """The machine the facts were collected on, and by which tool version."""

    hostname: str
    os: str  # platform.system(): Linux, Darwin, ...
    os_release: str  # PRETTY_NAME from os-release, or platform.release()
    kernel: str
    privileged: bool  # effective uid 0: full process attribution
    uid: int | None
    tool_version: str
    python: str


@record
class Address:
    """One address of an interface, with the scope it is reachable from."""

    address: str  # no zone suffix
    prefixlen: int
    family: str  # "ipv4" | "ipv6"
    scope: str  # one of SCOPES except "internet"
    network: str  # CIDR of the on-link network, e.g. "192.168.1.0/24"
    zone: str | None = None  # IPv6 link-local zone (interface name)


@record
class Interface:
    """A network interface and its addresses."""

    name: str
    up: bool
    kind: str  # one of INTERFACE_KINDS
    addresses: tuple[Address, ...] = ()
    index: int | None = None
    mac: str | None = None
    # The facts the kind is decided from (Linux; None where not known):
    link_kind: str | None = None  # the kernel's IFLA_INFO_KIND: "veth", "bridge", ...
    master: str | None = None  # the bridge this interface is a port of
    peer_netns: bool | None = None  # a veth: its peer is in another network namespace
    engine: str | None = None  # the container engine that owns it: docker, podman, ...
    evidence: str | None = None  # what says so, in words (set with a container kind)


@record
class LocalRoute:
    """A ``local`` route that is not one of an interface's own addresses: the host takes
    every address in ``prefix`` as its own ("AnyIP": ``ip route add local 10.50.0.0/24
    dev lo``). A socket bound to one of them is reached wherever the prefix is routed
    to this host."""

    family: str  # "ipv4" | "ipv6"
    prefix: str  # CIDR
    interface: str


@record
class Gateway:
    """A route's gateway (the default route's is the way out)."""

    family: str  # "ipv4" | "ipv6"
    address: str
    interface: str
    default: bool


@record
class ProcessInfo:
    """The process behind a socket, as far as it could be attributed."""

    pid: int | None
    name: str | None = None
    exe: str | None = None
    cmdline: tuple[str, ...] = ()
    username: str | None = None
    uid: int | None = None
    container_id: str | None = None
    # The named variables that switch a debugger on (procinfo.DEBUG_ENV), when set and
    # readable: (name, value) pairs. No other variable is ever read into the Facts.
    environment: tuple[tuple[str, str], ...] = ()


@record
class Listener:
    """A listening TCP socket or a bound UDP socket."""

    protocol: str  # "tcp" | "udp"
    family: str  # "ipv4" | "ipv6"
    address: str  # bound address without zone; "0.0.0.0" / "::" for wildcard
    port: int
    v6only: bool | None = None  # None = unknown (psutil fallback)
    bound_interface: str | None = None  # SO_BINDTODEVICE, if any
    zone: str | None = None  # link-local scope id as an interface name
    uid: int | None = None  # socket owner (from sock_diag even without root)
    inode: int | None = None
    process: ProcessInfo | None = None  # None = not attributable
    source: str = "sock_diag"  # "sock_diag" | "psutil"
    notes: tuple[str, ...] = ()


@record
class ProbeResult:
    """What a listening service answered when this host asked it one side-effect-free
    question (collectors/probe.py: the closed list of probes). Keyed to its listener by
    (protocol, address, port). The answer is untrusted: ``evidence`` is short printable
    text, cut and escaped by the collector."""

    protocol: str  # the listener's
    address: str  # the listener's bound address
    port: int
    probe: str  # "http" | "redis" | "memcached" | "postgresql" | "mongodb"
    target: str  # the address the probe connected to (this host's own)
    # "answered" (a protocol it recognised) | "unrecognised" | "refused" | "timeout" | "error"
    outcome: str
    # What the answer shows it is: "redis", "memcached", "postgresql", "mongodb",
    # "werkzeug-debugger", "werkzeug", "jupyter", "node-inspector", "docker-api",
    # "elasticsearch", "metrics", "http"; None: not recognised
    service: str | None = None
    state: str | None = None  # "open" | "auth-required" | "protected"; None: not told
    evidence: tuple[str, ...] = ()  # what it answered, one sentence each
    elapsed_ms: int = 0


@record
class CollectorWarning:
    """Something a collector could not see: partial facts, and why."""

    collector: str  # "interfaces" | "listeners" | "upnp" | "firewall" | ...
    message: str
    hint: str | None = None  # what the user can do about it


@record
class UpnpMapping:
    """A port mapping the router's IGD forwards from outside to a LAN host."""

    protocol: str  # "tcp" | "udp" (lower case)
    external_port: int
    internal_client: str
    internal_port: int
    description: str = ""
    enabled: bool = True
    lease_duration: int = 0
    remote_host: str = ""  # "" = any


@record
class UpnpPinhole:
    """An IPv6 firewall pinhole opened through the router's IGD."""

    protocol: str
    internal_client: str
    internal_port: int
    remote_host: str = ""
    remote_port: int = 0
    lease_time: int = 0
    unique_id: str = ""
    enabled: bool = True


@record
class UpnpFacts:
    """What the router's UPnP IGD said (or why it was not asked)."""

    # "disabled" (--no-upnp), "not_found" (no IGD answered), "ok", "error"
    status: str
    location: str | None = None  # description URL
    control_url: str | None = None
    service_type: str | None = None
    friendly_name: str | None = None
    manufacturer: str | None = None
    model_name: str | None = None
    external_ip: str | None = None
    external_scope: str | None = None  # scope of the WAN address: public / lan / vpn
    mappings: tuple[UpnpMapping, ...] = ()
    pinholes: tuple[UpnpPinhole, ...] = ()
    truncated: bool = False  # stopped at the mapping cap
    message: str | None = None


@record
class FirewallMatch:
    """One condition of a normalised firewall rule; ``values`` are ORed.

    field: "iifname" (nftables' form: a trailing ``*`` is a prefix wildcard, a trailing
    ``\\*`` a literal star, all else literal; iptables' ``eth+`` is written ``eth*``;
    Facts before 2.2 held iptables' form), "saddr" / "daddr" (addresses or CIDRs),
    "l4proto" ("tcp", "udp", ...), "dport" ("22" or "1000-2000"), "ct_state"
    ("new", "established", ...), "nfproto" ("ipv4" | "ipv6"), "pkttype" ("host", ...).
    """

    field: str
    values: tuple[str, ...]
    negate: bool = False


@record
class FirewallRule:
    """One normalised firewall rule: conditions (ANDed) and a verdict."""

    text: str  # the rule as its tool prints it: quoted as evidence
    matches: tuple[FirewallMatch, ...] = ()
    # "accept" | "drop" | "reject" | "jump" | "goto" | "return" | None (counter, log...)
    verdict: str | None = None
    target: str | None = None  # chain name for jump / goto (same table)
    # constructs the collector could not model: the rule may or may not match
    unknown: tuple[str, ...] = ()
    # verdict "dnat" | "redirect" (nat prerouting chains): the new destination. A
    # redirect goes to the incoming interface's own address; None: unchanged (port) /
    # not given. A target the collector cannot resolve (maps, ranges) is verdict
    # "unknown" instead.
    nat_address: str | None = None
    nat_port: int | None = None


@record
class FirewallChain:
    """A firewall chain on the inbound path, with its rules in order: filter chains
    (type "filter") and, since Facts 2.1, the nat chains on prerouting (type "nat",
    with their dnat / redirect rules) and the chains they jump to."""

    table: str
    family: str  # nftables family: "ip" | "ip6" | "inet" | "netdev" | "bridge" | "arp"
    name: str
    hook: str | None = None  # base chains only: "input", "prerouting", ...
    type: str | None = None  # base chains only: "filter" | "nat" | "route"
    priority: int | None = None
    policy: str | None = None  # base chains only: "accept" | "drop"
    rules: tuple[FirewallRule, ...] = ()


@record
class ContainerInfo:
    """A container known to Docker or Podman."""

    id: str
    runtime: str  # "docker" | "podman"
    name: str | None = None
    addresses: tuple[str, ...] = ()


@record
class FirewallFacts:
    """The inbound firewall ruleset, normalised, and the containers seen."""

    # "nftables" | "iptables-legacy" | "iptables-nft" | "none" (no rules at all)
    # | "unavailable" (could not read: not root, no tools)
    backend: str
    chains: tuple[FirewallChain, ...] = ()  # the inbound path only (filter input etc.)
    containers: tuple[ContainerInfo, ...] = ()
    message: str | None = None
    # net.ipv4.conf.<name>.route_localnet = 1: those interface names ("all" for
    # conf/all). A DNAT to 127.0.0.0/8 is routed only for a packet that came in on such
    # an interface (else a martian, dropped). None: not read (Facts before 2.2, or unreadable).
    route_localnet: tuple[str, ...] | None = None


@record
class PublishedPort:
    """A port published to a container by a DNAT rule (Docker, Podman).

    Such traffic takes FORWARD, not INPUT: host input filters (ufw, firewalld's
    INPUT zones) do not apply (``bypasses_input_filter``). ``host_address`` None =
    every address of the host. Listed whether or not a proxy also listens on the port
    (Docker's userland proxy does); see firewall.published_without_listener.
    """

    protocol: str  # "tcp" | "udp"
    host_port: int
    target_address: str
    target_port: int
    published_by: str  # "docker" | "podman"
    family: str = "ipv4"
    host_address: str | None = None
    host_port_end: int | None = None  # a published range: host_port..host_port_end
    excluded_interface: str | None = None  # Docker: "! -i docker0"
    container_id: str | None = None
    container_name: str | None = None
    bypasses_input_filter: bool = True
    evidence: str = ""  # the NAT rule


@record
class Facts:
    """Everything the collectors saw: the input of every later stage."""

    host: HostInfo
    collected_at: str  # ISO 8601 UTC
    interfaces: tuple[Interface, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    listeners: tuple[Listener, ...] = ()
    upnp: UpnpFacts | None = None
    warnings: tuple[CollectorWarning, ...] = ()
    # "bindv6only" sysctl: default for sockets whose own v6only flag is unknown
    ipv6_bindv6only: bool | None = None
    schema_version: str = FACTS_SCHEMA_VERSION
    firewall: FirewallFacts | None = None  # None = not collected
    published: tuple[PublishedPort, ...] = ()
    local_routes: tuple[LocalRoute, ...] = ()  # since 2.2 (rtnetlink, Linux)
    probes: tuple[ProbeResult, ...] = ()  # since 2.3; empty: not probed (--no-probe, --facts)


# --------------------------------------------------------------------------- exposure


@record
class Reach:
    """One way to reach a listener: through an interface address."""

    interface: str
    address: str
    scope: str  # one of SCOPES
    network: str | None = None
    up: bool = True  # reach via a down interface is listed but does not count
    # "open" | "filtered" | "unknown"; None = not evaluated (firewall.annotate)
    firewall: str | None = None
    firewall_evidence: str | None = None


@record
class Exposure:
    """A listener and everywhere it can be reached from."""

    listener: Listener
    reach: tuple[Reach, ...]  # includes down interfaces (up=False)
    widest_scope: str  # over reach with up=True, plus "internet" when mapped
    scopes: tuple[str, ...]  # distinct scopes, narrowest first (up=True only)
    interface_kinds: tuple[str, ...] = ()  # kinds of the interfaces reached
    upnp_mappings: tuple[UpnpMapping, ...] = ()
    # most open over up reach entries: open > unknown > filtered; None = not evaluated
    firewall: str | None = None
    firewall_evidence: str | None = None
    published_by: str | None = None  # "docker" | "podman"
    container: str | None = None  # container name, else id, else its address
    # The host firewall's verdict on what the router's UPnP mappings forward here (from
    # any source); None = not evaluated. "filtered": the internet reach does not count.
    upnp_firewall: str | None = None
    upnp_firewall_evidence: str | None = None

    @property
    def key(self) -> str:
        lst = self.listener
        return f"{lst.protocol}/{lst.address}/{lst.port}"


@record
class DanglingMapping:
    """A UPnP mapping to one of this host's addresses with no listener behind it."""

    mapping: UpnpMapping


# --------------------------------------------------------------------------- findings


@record
class Waiver:
    """An accepted risk: findings of ``rule`` that match are reported as waived."""

    rule: str
    reason: str
    port: int | None = None
    process: str | None = None  # glob
    address: str | None = None  # an address or a network (CIDR)
    expires: str | None = None  # ISO date; the waiver holds through that day
    source: str = "config"  # "config" | "builtin"
    protocol: str | None = None  # "tcp" | "udp"
    # The executable's path (globs; ``*`` never crosses a ``/``), which no process can
    # change about itself, unlike its name; and the OS it applies on ("linux", "darwin").
    exe: tuple[str, ...] = ()
    os: str | None = None


@record
class Identity:
    """What a listener's service is, and from what evidence (strongest source first:
    what the service itself answered to a probe, the process's command line, its
    environment, then the port catalogue's guess)."""

    name: str  # the service, in words
    source: str  # "probe" | "process" | "environment" | "catalogue"
    evidence: tuple[str, ...] = ()  # one sentence per clue, strongest first
    framework: str | None = None  # the [[framework]] id that recognised it


@record
class Finding:
    """What a rule says about an exposure (or a dangling UPnP mapping)."""

    rule_id: str
    severity: str
    title: str
    message: str
    remediation: str
    fingerprint: str
    references: tuple[str, ...] = ()
    exposure: Exposure | None = None  # None for a dangling mapping
    dangling: DanglingMapping | None = None
    waived: bool = False
    waiver_reason: str | None = None
    waiver_expired: bool = False  # a waiver matched but has expired
    tags: tuple[str, ...] = ()
    service: str | None = None  # the service's name (identity), else the catalogue's
    identity: Identity | None = None  # how the service was identified; None: not at all


@record
class Evaluation:
    """Everything the renderers need: facts, exposures, findings."""

    facts: Facts
    exposures: tuple[Exposure, ...]
    findings: tuple[Finding, ...]
    dangling: tuple[DanglingMapping, ...] = ()
    rules_evaluated: tuple[str, ...] = ()
    warnings: tuple[CollectorWarning, ...] = ()
