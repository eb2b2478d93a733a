"""Property: whatever the Facts (another host's file, a bug report, a hostile process
name), exposure resolution + the rules engine never raise, and every finding is sane."""

from __future__ import annotations

import datetime as dt
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exposure_audit.analysis.engine import run_rules
from exposure_audit.analysis.exposure import resolve
from exposure_audit.core.model import (
    INTERFACE_KINDS,
    SCOPES,
    SEVERITIES,
    Address,
    Exposure,
    Facts,
    HostInfo,
    Interface,
    Listener,
    ProcessInfo,
    Reach,
    UpnpFacts,
    UpnpMapping,
    Waiver,
)
from exposure_audit.policy.config import Config
from exposure_audit.policy.loader import load_ruleset

RULESET = load_ruleset([])
HOST = HostInfo("h", "Linux", "Debian", "6.1", True, 0, "0.1.0", "3.11")
HEX16 = re.compile(r"[0-9a-f]{16}")

texts = st.text(max_size=40)
addresses = st.one_of(
    st.sampled_from(
        [
            "0.0.0.0",
            "::",
            "127.0.0.1",
            "::1",
            "127.0.0.53",
            "192.168.1.23",
            "100.101.102.103",
            "94.130.10.21",
            "fe80::1",
            "::ffff:192.168.1.23",
            "2001:db8::1",
            "",
            "not-an-address",
            "fe80::1%eth0",
        ]
    ),
    st.ip_addresses().map(str),
    texts,
)
ports = st.integers(min_value=-1, max_value=70000)
iface_names = st.sampled_from(["lo", "eth0", "wlan0", "docker0", "tailscale0", "weird{0}"])
# Facts files are type-checked on load but enum values are not: resolve() currently
# raises on an unknown address scope (reported to its owner), so the resolve+engine
# property keeps scopes valid; the engine-only property below uses bogus values too.
scopes = st.sampled_from(SCOPES[:-1])
kinds = st.sampled_from([*INTERFACE_KINDS, "bogus"])
any_scopes = st.sampled_from([*SCOPES, "bogus"])
protocols = st.sampled_from(["tcp", "udp", "TCP", "sctp", ""])

address_records = st.builds(
    Address,
    address=addresses,
    prefixlen=st.integers(-1, 200),
    family=st.sampled_from(["ipv4", "ipv6", "x"]),
    scope=scopes,
    network=st.one_of(texts, st.just("192.168.1.0/24")),
    zone=st.none() | iface_names,
)
interfaces = st.builds(
    Interface,
    name=iface_names,
    up=st.booleans(),
    kind=kinds,
    addresses=st.lists(address_records, max_size=4).map(tuple),
)
processes = st.builds(
    ProcessInfo,
    pid=st.none() | st.integers(-1, 2**31),
    name=st.none() | st.sampled_from(["python3", "node", "ControlCenter", "cupsd"]) | texts,
    cmdline=st.one_of(
        st.lists(texts, max_size=5).map(tuple),
        st.sampled_from(
            [
                ("python3", "manage.py", "runserver", "0.0.0.0:8000"),
                ("node", "--inspect=0.0.0.0:9229", "x.js"),
                ("flask", "run", "--debug"),
                ("x" * 20000,),
            ]
        ),
    ),
    username=st.none() | texts,
    uid=st.none() | st.integers(-1, 70000),
    container_id=st.none() | texts,
)
listeners = st.builds(
    Listener,
    protocol=protocols,
    family=st.sampled_from(["ipv4", "ipv6", "x"]),
    address=addresses,
    port=ports,
    v6only=st.none() | st.booleans(),
    bound_interface=st.none() | iface_names,
    zone=st.none() | iface_names,
    uid=st.none() | st.integers(-1, 70000),
    process=st.none() | processes,
)
mappings = st.builds(
    UpnpMapping,
    protocol=protocols,
    external_port=ports,
    internal_client=addresses,
    internal_port=st.sampled_from([22, 445, 8000, 6379, 8080]) | ports,
    description=texts,
    enabled=st.booleans(),
    remote_host=st.just("") | texts,
)
upnp = st.none() | st.builds(
    UpnpFacts,
    status=st.sampled_from(["ok", "disabled", "error"]),
    external_ip=st.none() | addresses,
    mappings=st.lists(mappings, max_size=5).map(tuple),
)
facts_strategy = st.builds(
    Facts,
    host=st.just(HOST),
    collected_at=st.just("2026-11-27T10:00:00Z"),
    interfaces=st.lists(interfaces, max_size=4).map(tuple),
    listeners=st.lists(listeners, max_size=8).map(tuple),
    upnp=upnp,
    ipv6_bindv6only=st.none() | st.booleans(),
)
waivers = st.builds(
    Waiver,
    rule=st.sampled_from(["*", "EA-DEV-*", "EA-[", "EA-DEV-001"]) | texts,
    reason=texts,
    port=st.none() | ports,
    process=st.none() | texts,
    address=st.none() | st.sampled_from(["0.0.0.0", "127.0.0.0/8", "::", "garbage/99"]),
    expires=st.none() | st.sampled_from(["2026-01-01", "2030-12-31", "not a date"]),
    source=st.sampled_from(["config", "builtin"]),
    protocol=st.none() | protocols,
)
configs = st.builds(Config, waivers=st.lists(waivers, max_size=4).map(tuple))
days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1))


def check(findings: list) -> None:
    for f in findings:
        assert f.severity in SEVERITIES
        assert HEX16.fullmatch(f.fingerprint)
        assert isinstance(f.message, str) and isinstance(f.remediation, str)
        assert (f.exposure is None) != (f.dangling is None)
        assert not (f.waived and f.waiver_expired)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=facts_strategy, config=configs, today=days)
def test_random_facts_never_make_resolve_and_engine_raise(
    facts: Facts, config: Config, today: dt.date
) -> None:
    resolved = resolve(facts)
    check(run_rules(RULESET, facts, resolved.exposures, resolved.dangling, config.waivers, today))


reaches = st.builds(
    Reach, interface=iface_names, address=addresses, scope=any_scopes, network=st.none() | texts
)
exposures = st.builds(
    Exposure,
    listener=listeners,
    reach=st.lists(reaches, max_size=6).map(tuple),
    widest_scope=any_scopes,
    scopes=st.lists(any_scopes, max_size=4).map(tuple),
    interface_kinds=st.lists(kinds, max_size=3).map(tuple),
    upnp_mappings=st.lists(mappings, max_size=2).map(tuple),
    firewall=st.none() | st.sampled_from(["open", "filtered", "unknown", "??"]),
    published_by=st.none() | st.sampled_from(["docker", "podman", "??"]),
    container=st.none() | texts,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=facts_strategy, exps=st.lists(exposures, max_size=6), config=configs)
def test_inconsistent_exposures_never_make_the_engine_raise(
    facts: Facts, exps: list[Exposure], config: Config
) -> None:
    """Exposures that resolve() would never produce (a later stage may add fields)."""
    check(run_rules(RULESET, facts, exps, [], config.waivers, dt.date(2026, 11, 27)))
