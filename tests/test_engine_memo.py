"""The engine works out what listeners share once per run (a process's fields and
framework evidence, a bind address's reach sentence, a rule's references and the
waivers that may apply): each finding must still be exactly the one the engine makes
for that listener alone, in a run where nothing is shared with another listener.

The listeners below come in near twins: one process on many ports and addresses,
processes that differ in one field only (pid, user, executable, command line, an
environment variable), sockets whose process names no user (the socket's uid shows),
TCP and UDP on one port, probed and unprobed, mapped by UPnP and not. A rule names
every field a message may name, so a value taken from the wrong twin shows."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import ipaddress
from pathlib import Path

import pytest

from exposure_audit.analysis import engine
from exposure_audit.analysis.engine import run_rules
from exposure_audit.analysis.exposure import resolve
from exposure_audit.core import records
from exposure_audit.core.model import (
    Address,
    Facts,
    Finding,
    HostInfo,
    Interface,
    Listener,
    ProbeResult,
    ProcessInfo,
    UpnpFacts,
    UpnpMapping,
    Waiver,
)
from exposure_audit.policy.config import load_config
from exposure_audit.policy.loader import load_ruleset
from exposure_audit.policy.templates import LISTENER_FIELDS

TODAY = dt.date(2026, 11, 27)
EVERY_FIELD = " | ".join(f"{name}={{{name}}}" for name in sorted(LISTENER_FIELDS))
RULE = f'''
[[rule]]
id = "T-EVERY"
title = "every field"
severity = "low"
internet_severity = "high"
match.widest_at_least = "loopback"
message = "{EVERY_FIELD}"
remediation = "fix: {{fix}} / {{rebound}} / {{command}}"

[[rule]]
id = "T-PORT"
title = "one port"
severity = "medium"
match.port = [7002]
message = "{{process}} on {{endpoint}}"
remediation = "stop it"

[[framework]]
id = "t-ported"
name = "Ported"
process = ["ported"]
port = [7100]
fix = "ported fix for {{port}}"
'''

INTERFACES = (
    Interface(
        "lo",
        True,
        "loopback",
        (
            Address("127.0.0.1", 8, "ipv4", "loopback", "127.0.0.0/8"),
            Address("::1", 128, "ipv6", "loopback", "::1/128"),
        ),
    ),
    Interface(
        "wlan0", True, "physical", (Address("192.168.1.23", 24, "ipv4", "lan", "192.168.1.0/24"),)
    ),
    Interface("wg0", True, "vpn", (Address("10.66.0.1", 24, "ipv4", "vpn", "10.66.0.0/24"),)),
)


def _proc(pid: int, name: str, cmdline: str, **kw: object) -> ProcessInfo:
    return ProcessInfo(pid=pid, name=name, cmdline=tuple(cmdline.split()), **kw)  # type: ignore[arg-type]


FLASK = "flask run --host 0.0.0.0 --port 5000 --debug"
NODE = "node --inspect=0.0.0.0:9229 server.js"
PROCESSES = [
    _proc(10, "flask", FLASK, username="alice", exe="/usr/bin/python3"),
    _proc(11, "flask", FLASK, username="alice", exe="/usr/bin/python3"),  # pid only
    _proc(10, "flask", FLASK, username="bob", exe="/usr/bin/python3"),  # user only
    _proc(10, "flask", FLASK, username="alice", exe="/usr/sbin/cupsd"),  # exe only
    _proc(10, "flask", FLASK.replace("--debug", ""), username="alice", exe="/usr/bin/python3"),
    _proc(10, "flask", FLASK, username="alice", environment=(("FLASK_DEBUG", "1"),)),
    _proc(20, "node", NODE, username="alice"),
    _proc(21, "node", NODE.replace("9229", "9230"), username="alice"),
    _proc(30, "python3", "python3 manage.py runserver 0.0.0.0:8000"),  # no user: socket uid
    _proc(40, "redis-server", "/usr/bin/redis-server *:6379", username="redis"),
    _proc(50, "cupsd", "/usr/sbin/cupsd -l", exe="/usr/sbin/cupsd", username="root"),
    _proc(60, "braces", "/opt/braces --fmt={port} }{ {{x}}", username="{user}"),
    # what stands for the port while a plan's templates are filled in (engine._PORT_MARK)
    _proc(61, "marks", f"/opt/marks --x={engine._PORT_MARK}", username="alice"),
    None,
]
ADDRESSES = ["0.0.0.0", "::", "127.0.0.1", "192.168.1.23", "10.66.0.1"]
PORTS = [5000, 5001, 6379, 8000, 9229, 9230, 632, 40001]


CUPS = _proc(50, "cupsd", "/usr/sbin/cupsd -l", username="root")
CUPS_EXE = records.replace(CUPS, exe="/usr/sbin/cupsd")
NODE_VITE = _proc(70, "node", "node --inspect=0.0.0.0:9339 node_modules/.bin/vite --host")
PORTED = _proc(80, "ported", "/opt/ported --listen", username="alice")
UID_33 = _proc(90, "myservice", "/opt/myservice/bin/myservice", uid=33)
UID_34 = records.replace(UID_33, uid=34)


def host_facts() -> Facts:
    # first a process with no executable, then its twin that has the one a built-in
    # waiver names: the waivers worked out for the first must not be the second's
    # (both orders, whichever address the engine meets first)
    listeners = [
        Listener("tcp", "ipv4", "127.0.0.1", 631, process=CUPS),
        Listener("tcp", "ipv6", "::1", 631, process=CUPS_EXE),
        Listener("udp", "ipv4", "127.0.0.1", 631, process=CUPS_EXE),
        Listener("udp", "ipv6", "::1", 631, process=CUPS),
    ]
    # one process, two frameworks: the Node inspector on its flag's port, Vite elsewhere
    listeners += [
        Listener("tcp", "ipv4", "0.0.0.0", 9339, process=NODE_VITE),
        Listener("tcp", "ipv4", "0.0.0.0", 5173, process=NODE_VITE),
        Listener("tcp", "ipv4", "192.168.1.23", 5173, process=NODE_VITE),
    ]
    # a framework only on its own port (7100), the same process on another
    listeners += [
        Listener("tcp", "ipv4", "0.0.0.0", 7100, process=PORTED),
        Listener("tcp", "ipv4", "0.0.0.0", 7101, process=PORTED),
    ]
    # one bind address, one bound to an interface (SO_BINDTODEVICE): other reach
    listeners += [
        Listener("tcp", "ipv4", "0.0.0.0", 7001, bound_interface="wg0", process=PROCESSES[0]),
        Listener("tcp", "ipv4", "0.0.0.0", 7002, process=PROCESSES[0]),
        Listener("tcp", "ipv4", "0.0.0.0", 7003, process=PROCESSES[0]),  # not T-PORT's
    ]
    # processes that name no user, differing in their uid only
    listeners += [
        Listener("tcp", "ipv4", "0.0.0.0", 7200, process=UID_33),
        Listener("tcp", "ipv4", "0.0.0.0", 7201, process=UID_34),
    ]
    twins = len(listeners)  # the twins above get no probe and no mapping
    for i, proc in enumerate(PROCESSES):
        for j, address in enumerate(ADDRESSES):
            for k, port in enumerate(PORTS):
                if (i + j + k) % 3 == 0:
                    continue
                protocol = "udp" if (i + k) % 5 == 0 else "tcp"
                family = "ipv6" if ":" in address else "ipv4"
                uid = 1000 + (i * 7 + k) % 3  # the socket's owner, shown where no user
                # one socket per (protocol, address, port): the process varies by port
                listeners.append(
                    Listener(protocol, family, address, port + 100 * i, uid=uid, process=proc)
                )
    # twins on one port: TCP and UDP, and every process on one shared port number
    listeners += [
        Listener("tcp", "ipv4", "0.0.0.0", 7000, process=PROCESSES[0]),
        Listener("udp", "ipv4", "0.0.0.0", 7000, process=PROCESSES[0]),
        Listener("tcp", "ipv4", "192.168.1.23", 7000, process=PROCESSES[1]),
        Listener("tcp", "ipv6", "::", 7000, process=PROCESSES[2]),
    ]
    mapped = [lst for lst in listeners[twins:] if lst.address == "0.0.0.0"][::4]
    mappings = tuple(
        UpnpMapping(lst.protocol, 40000 + n, "192.168.1.23", lst.port)
        for n, lst in enumerate(mapped)
    )
    probes = tuple(
        ProbeResult(
            lst.protocol,
            lst.address,
            lst.port,
            "http",
            "127.0.0.1",
            "answered",
            service,
            evidence=("HTTP/1.0 200 OK",),
        )
        for n, lst in enumerate(listeners[twins:])
        if n % 5 == 0
        for service in [("werkzeug-debugger", "http", "redis", None)[n % 4]]
    )
    return Facts(
        host=HostInfo("twins", "Linux", "Debian", "6.1", True, 0, "0.1.0", "3.11"),
        collected_at="2026-11-27T10:00:00Z",
        interfaces=INTERFACES,
        listeners=tuple(listeners),
        upnp=UpnpFacts(status="ok", external_ip="203.0.113.9", mappings=mappings),
        probes=probes,
    )


WAIVERS = (
    *load_config(None).waivers,  # the built-in ones: by executable (cupsd, ...)
    Waiver(rule="EA-DEV-*", reason="dev box", process="flask", address="192.168.1.0/24"),
    Waiver(rule="T-EVERY", reason="old", port=5001, expires="2026-01-01"),
    Waiver(rule="*", reason="vpn is fine", address="10.66.0.0/24", protocol="udp"),
)


def alone(facts: Facts, lst: Listener) -> Facts:
    """The Facts with this one listener (and its own mappings and probe)."""
    upnp = facts.upnp
    assert upnp is not None
    mappings = tuple(m for m in upnp.mappings if m.internal_port == lst.port)
    return records.replace(
        facts,
        listeners=(lst,),
        upnp=records.replace(upnp, mappings=mappings),
        probes=tuple(
            p
            for p in facts.probes
            if (p.protocol, p.address, p.port) == (lst.protocol, lst.address, lst.port)
        ),
    )


def findings(facts: Facts, rule_dir: Path) -> list[Finding]:
    resolved = resolve(facts)
    ruleset = load_ruleset([rule_dir])
    return run_rules(ruleset, facts, resolved.exposures, (), WAIVERS, TODAY)


@pytest.fixture
def rule_dir(tmp_path: Path) -> Path:
    (tmp_path / "every.toml").write_text(RULE, encoding="utf-8")
    return tmp_path


def test_each_finding_is_the_one_made_for_its_listener_alone(
    rule_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plan that serves many listeners has its templates filled in for all its ports
    # (engine._exact); alone, each listener's are filled in for it.
    made = []
    real_exact = engine._exact

    def exact(ctx: object, plan: object) -> object:
        made.append(plan)
        return real_exact(ctx, plan)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_exact", exact)
    facts = host_facts()
    keys = [(lst.protocol, lst.address, lst.port) for lst in facts.listeners]
    assert len(set(keys)) == len(keys)
    together = findings(facts, rule_dir)
    by_listener: dict[str, list[Finding]] = {}
    for f in together:
        assert f.exposure is not None
        by_listener.setdefault(f.exposure.key, []).append(f)
    for lst in facts.listeners:
        own = findings(alone(facts, lst), rule_dir)
        key = f"{lst.protocol}/{lst.address}/{lst.port}"
        # The whole finding: message, remediation, fingerprint, references, tags,
        # service, identity and evidence, waiver state, and the exposure itself.
        assert by_listener.get(key, []) == own, key
    assert made
    # fingerprints as documented (analysis/fingerprint.py), worked out here anew
    for f in together:
        assert f.exposure is not None
        lst = f.exposure.listener
        address = ipaddress.ip_address(lst.address).compressed
        name = lst.process.name if lst.process and lst.process.name else ""
        text = "\x1f".join(
            ("v1", "listener", f.rule_id, lst.protocol, str(lst.port), address, name)
        )
        assert f.fingerprint == hashlib.sha256(text.encode()).hexdigest()[:16]
    # the near twins did make findings that differ where their inputs differ
    messages = {f.message for f in together if f.rule_id == "T-EVERY"}
    assert len(messages) == len([f for f in together if f.rule_id == "T-EVERY"])
    assert any(f.waived for f in together) and any(f.waiver_expired for f in together)
    assert any(f.identity and f.identity.source == "probe" for f in together)
    cups = {
        f.exposure.key: f.waived
        for f in together
        if f.exposure is not None and f.exposure.listener.port == 631
    }
    assert cups == {
        "tcp/127.0.0.1/631": False,
        "tcp/::1/631": True,
        "udp/127.0.0.1/631": True,
        "udp/::1/631": False,
    }
    frameworks = {
        f.exposure.key: f.identity.framework
        for f in together
        if f.exposure is not None and f.identity is not None and f.rule_id == "T-EVERY"
    }
    assert frameworks["tcp/0.0.0.0/9339"] == "node-inspect"
    assert frameworks["tcp/0.0.0.0/5173"] == "vite"
    assert frameworks["tcp/0.0.0.0/7100"] == "t-ported"
    assert "tcp/0.0.0.0/7101" not in frameworks
    port_rule = {f.exposure.key for f in together if f.rule_id == "T-PORT" and f.exposure}
    assert port_rule == {"tcp/0.0.0.0/7002"}
    marks = [f.message for f in together if "pid=61 " in f.message]
    assert len(marks) > 1 and all(engine._PORT_MARK in m for m in marks)
    braces = [f.message for f in together if "pid=60 " in f.message]
    assert len(braces) > 1
    assert all("--fmt={port} }{ {{x}}" in m and "user={user} " in m for m in braces)


def test_twins_differing_in_one_field_differ_in_that_field(rule_dir: Path) -> None:
    """Independent expectations: same port and address, processes differing in pid,
    user or socket uid; the finding shows each its own."""
    base = PROCESSES[0]
    assert base is not None
    twins = [
        base,
        records.replace(base, pid=11),
        records.replace(base, username="bob"),
        records.replace(base, username=None, uid=None),
    ]
    listeners = tuple(
        Listener("tcp", "ipv4", address, 5000, uid=1000 + n, process=p)
        for n, (p, address) in enumerate(
            zip(twins, ["0.0.0.0", "192.168.1.23", "10.66.0.1", "127.0.0.1"], strict=True)
        )
    )
    facts = records.replace(host_facts(), listeners=listeners, probes=(), upnp=None)
    got = {
        f.exposure.listener.address: f.message
        for f in findings(facts, rule_dir)
        if f.rule_id == "T-EVERY" and f.exposure is not None
    }
    assert "pid=10 |" in got["0.0.0.0"] and "user=alice |" in got["0.0.0.0"]
    assert "pid=11 |" in got["192.168.1.23"] and "user=alice |" in got["192.168.1.23"]
    assert "user=bob |" in got["10.66.0.1"]
    assert "user=uid 1003 |" in got["127.0.0.1"]
    for address, message in got.items():
        endpoint = f"endpoint={address}:5000 |"
        assert endpoint in message, (address, message)


def test_run_rules_makes_no_cycles(rule_dir: Path) -> None:
    """Commands run with the cyclic garbage collector off (cli.main): sound only while
    a run of the engine leaves no cyclic garbage behind."""
    facts = host_facts()
    resolved = resolve(facts)
    ruleset = load_ruleset([rule_dir])
    gc.collect()
    gc.disable()
    try:
        found = run_rules(ruleset, facts, resolved.exposures, (), WAIVERS, TODAY)
        assert found
        del found
        assert gc.collect() == 0
    finally:
        gc.enable()
