"""The rules engine on hand-built exposures: condition semantics, order, templates,
frameworks, fingerprints. No sockets: the engine is pure over its inputs."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from exposure_audit.analysis.engine import run_rules
from exposure_audit.analysis.fingerprint import dangling_fingerprint, listener_fingerprint
from exposure_audit.core import records
from exposure_audit.core.model import (
    Address,
    DanglingMapping,
    Exposure,
    Facts,
    Finding,
    HostInfo,
    Interface,
    Listener,
    ProcessInfo,
    Reach,
    UpnpFacts,
    UpnpMapping,
    Waiver,
)
from exposure_audit.policy.conditions import RuleSet
from exposure_audit.policy.loader import load_ruleset

TODAY = dt.date(2026, 11, 27)
NO_WAIVERS: tuple[Waiver, ...] = ()

HOST = HostInfo("h", "Linux", "Debian", "6.1", True, 0, "0.1.0", "3.11")
IFACES = (
    Interface(
        "lo", True, "loopback", (Address("127.0.0.1", 8, "ipv4", "loopback", "127.0.0.0/8"),)
    ),
    Interface(
        "wlan0", True, "physical", (Address("192.168.1.23", 24, "ipv4", "lan", "192.168.1.0/24"),)
    ),
    Interface(
        "eth1", True, "physical", (Address("94.130.10.21", 26, "ipv4", "public", "94.130.10.0/26"),)
    ),
    Interface("wg0", True, "vpn", (Address("10.66.0.1", 24, "ipv4", "vpn", "10.66.0.0/24"),)),
    Interface(
        "docker0",
        True,
        "container_bridge",
        (Address("172.17.0.1", 16, "ipv4", "lan", "172.17.0.0/16"),),
    ),
)
FACTS = Facts(host=HOST, collected_at="2026-11-27T10:00:00Z", interfaces=IFACES)

REACH = {
    "lo": Reach("lo", "127.0.0.1", "loopback", "127.0.0.0/8"),
    "wlan0": Reach("wlan0", "192.168.1.23", "lan", "192.168.1.0/24"),
    "eth1": Reach("eth1", "94.130.10.21", "public", "94.130.10.0/26"),
    "wg0": Reach("wg0", "10.66.0.1", "vpn", "10.66.0.0/24"),
    "docker0": Reach("docker0", "172.17.0.1", "lan", "172.17.0.0/16"),
}
KIND = {i.name: i.kind for i in IFACES}
SCOPE_ORDER = ("loopback", "link_local", "lan", "vpn", "public", "internet")


def proc(name: str | None = "python3", cmdline: str = "", **kw: object) -> ProcessInfo:
    return ProcessInfo(pid=kw.pop("pid", 100), name=name, cmdline=tuple(cmdline.split()), **kw)  # type: ignore[arg-type]


def exposure(
    port: int,
    ifaces: tuple[str, ...] = ("lo", "wlan0"),
    *,
    protocol: str = "tcp",
    address: str = "0.0.0.0",
    process: ProcessInfo | None = None,
    mappings: tuple[UpnpMapping, ...] = (),
    **extra: object,
) -> Exposure:
    reach = tuple(REACH[i] for i in ifaces)
    scopes = sorted({r.scope for r in reach}, key=SCOPE_ORDER.index)
    if mappings:
        scopes.append("internet")
    family = "ipv6" if ":" in address else "ipv4"
    return Exposure(
        listener=Listener(protocol, family, address, port, process=process),
        reach=reach,
        widest_scope=scopes[-1] if scopes else "loopback",
        scopes=tuple(scopes),
        interface_kinds=tuple(sorted({KIND[i] for i in ifaces})),
        upnp_mappings=mappings,
        **extra,  # type: ignore[arg-type]
    )


def rules_from(tmp_path: Path, text: str) -> RuleSet:
    path = tmp_path / "r.toml"
    path.write_text(CATALOGUE + text, encoding="utf-8")
    return load_ruleset([path], builtin=False)


CATALOGUE = """
[[port]]
port = 8000
service = "Dev thing"
tags = ["dev-server"]
why = "w"

[[port]]
port = 6379
service = "Redis"
tags = ["cache", "unauthenticated"]
why = "w"
"""


def rule(id_: str, match: str, severity: str = "medium", extra: str = "") -> str:
    return f"""
[[rule]]
id = "{id_}"
title = "t {id_}"
severity = "{severity}"
message = "{{endpoint}}"
remediation = "{{fix}}"
{extra}
[rule.match]
{match}
"""


def severities(rs: RuleSet, *exposures: Exposure) -> dict[str, str]:
    return {f.rule_id: f.severity for f in run_rules(rs, FACTS, exposures, (), NO_WAIVERS, TODAY)}


def fired(rs: RuleSet, *exposures: Exposure) -> list[tuple[str, int]]:
    return [
        (f.rule_id, f.exposure.listener.port)
        for f in run_rules(rs, FACTS, exposures, (), NO_WAIVERS, TODAY)
        if f.exposure
    ]


# --------------------------------------------------------------------------- conditions


def test_and_across_keys_or_within_a_list(tmp_path: Path) -> None:
    rs = rules_from(tmp_path, rule("T-1", 'port = [8000, 9000]\nprotocol = "tcp"'))
    assert fired(rs, exposure(8000)) == [("T-1", 8000)]
    assert fired(rs, exposure(9000)) == [("T-1", 9000)]
    assert fired(rs, exposure(8000, protocol="udp")) == []
    assert fired(rs, exposure(8001)) == []


def test_port_ranges(tmp_path: Path) -> None:
    rs = rules_from(tmp_path, rule("T-1", 'port = ["8000-8099", 22]'))
    assert [p for _r, p in fired(rs, *(exposure(p) for p in (7999, 8000, 8099, 8100, 22)))] == [
        22,
        8000,
        8099,
    ]


def test_scope_conditions(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("W-1", 'port = [8000]\nwidest = ["lan"]')
        + rule("A-1", 'port = [8000]\nwidest_at_least = "vpn"')
        + rule("R-1", 'port = [8000]\nreach = ["lan"]')
        + rule("K-1", 'port = [8000]\ninterface_kind = ["container_bridge"]')
        + rule("F-1", 'port = [8000]\nfamily = "ipv6"'),
    )

    def ids(e: Exposure) -> set[str]:
        return {r for r, _p in fired(rs, e)}

    assert ids(exposure(8000, ("lo", "wlan0"))) == {"W-1", "R-1"}
    assert ids(exposure(8000, ("lo", "wlan0", "wg0"))) == {"A-1", "R-1"}
    assert ids(exposure(8000, ("lo", "docker0"))) == {"W-1", "R-1", "K-1"}
    assert ids(exposure(8000, ("lo",), address="::1")) == {"F-1"}
    assert ids(exposure(8000, ("eth1",))) == {"A-1"}


def test_process_user_globs_and_absent_data(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("P-1", 'process = ["PYTHON*", "gunicorn"]')
        + rule("U-1", 'user = "www-*"\nport = [8000]'),
    )
    assert fired(rs, exposure(8000, process=proc("python3.11"))) == [("P-1", 8000)]
    assert fired(rs, exposure(8000, process=proc("node"))) == []
    assert fired(rs, exposure(8000, process=None)) == []  # unknown process: no match
    assert fired(rs, exposure(8000, process=proc("x", username="www-data"))) == [("U-1", 8000)]
    assert fired(rs, exposure(8000, process=proc("x", username=None))) == []


def test_cmdline_regex_and_its_length_bound(tmp_path: Path) -> None:
    rs = rules_from(tmp_path, rule("C-1", r"cmdline = ['--bind\s+0\.0\.0\.0']"))
    assert fired(rs, exposure(1, process=proc("x", "x --bind 0.0.0.0"))) == [("C-1", 1)]
    assert fired(rs, exposure(1, process=proc("x", "x --bind 127.0.0.1"))) == []
    # Only the first 4096 characters of a command line are searched.
    late = proc("x", "x " + "a" * 5000 + " --bind 0.0.0.0")
    assert fired(rs, exposure(1, process=late)) == []


def test_container_conditions(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("IN-1", "container = true\nport = [1]")
        + rule("OUT-1", "container = false\nport = [1]")
        + rule("ID-1", 'container = ["4f2c*"]\nport = [1]'),
    )
    in_box = exposure(1, process=proc("x", container_id="4f2c9a1b"))
    assert {r for r, _ in fired(rs, in_box)} == {"IN-1", "ID-1"}
    assert {r for r, _ in fired(rs, exposure(1, process=proc("x")))} == {"OUT-1"}
    named = exposure(1, process=proc("x"), container="web-1")  # set by firewall annotate
    assert {r for r, _ in fired(rs, named)} == {"IN-1"}


def test_firewall_and_published_by_absent_data_never_matches(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("FW-1", 'firewall = ["open"]\nport = [1]')
        + rule("PB-1", 'published_by = ["docker"]\nport = [1]'),
    )
    assert fired(rs, exposure(1)) == []
    assert {r for r, _ in fired(rs, exposure(1, firewall="open", published_by="docker"))} == {
        "FW-1",
        "PB-1",
    }
    assert fired(rs, exposure(1, firewall="filtered", published_by="podman")) == []


def test_tags_catalogued_and_upnp(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("TAG-1", 'tags = ["unauthenticated", "notebook"]')
        + rule("UNK-1", "catalogued = false")
        + rule("MAP-1", "upnp_mapped = true"),
    )
    m = UpnpMapping("tcp", 16379, "192.168.1.23", 6379)
    assert {r for r, _ in fired(rs, exposure(6379))} == {"TAG-1"}
    assert {r for r, _ in fired(rs, exposure(6379, mappings=(m,)))} == {"TAG-1", "MAP-1"}
    assert {r for r, _ in fired(rs, exposure(4444))} == {"UNK-1"}
    assert {r for r, _ in fired(rs, exposure(6379, protocol="udp"))} == {"UNK-1"}


def test_unless_suppresses_only_when_all_its_keys_hold(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("T-1", "port = [8000]", extra='unless.process = ["safe*"]\nunless.user = ["root"]'),
    )
    assert fired(rs, exposure(8000, process=proc("safe-app", username="root"))) == []
    assert fired(rs, exposure(8000, process=proc("safe-app", username="bob"))) == [("T-1", 8000)]
    assert fired(rs, exposure(8000, process=proc("other", username="root"))) == [("T-1", 8000)]


def test_internet_severity_escalates(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("T-1", "port = [8000]", severity="high", extra='internet_severity = "critical"'),
    )
    m = UpnpMapping("tcp", 8000, "192.168.1.23", 8000)
    [lan] = run_rules(rs, FACTS, [exposure(8000)], (), NO_WAIVERS, TODAY)
    [net] = run_rules(rs, FACTS, [exposure(8000, mappings=(m,))], (), NO_WAIVERS, TODAY)
    assert (lan.severity, net.severity) == ("high", "critical")


# --------------------------------------------------------------------------- grouping


def test_one_finding_per_rule_grouped_by_listener_worst_first(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("LOW-1", "port = [8000, 6379]", severity="low")
        + rule("HIGH-1", "port = [8000]", severity="high")
        + rule("CRIT-1", "port = [6379]", severity="critical")
        + rule("MED-1", "port = [22]", severity="medium"),
    )
    findings = run_rules(
        rs,
        FACTS,
        [exposure(8000), exposure(6379), exposure(22, ("eth1",))],
        (),
        NO_WAIVERS,
        TODAY,
    )
    order = [(f.rule_id, f.exposure.listener.port) for f in findings]
    assert order == [
        ("MED-1", 22),  # public beats lan, whatever the severity
        ("CRIT-1", 6379),  # same scope: the listener with the worst finding first
        ("LOW-1", 6379),
        ("HIGH-1", 8000),
        ("LOW-1", 8000),
    ]


def test_order_by_scope_severity_then_listeners_before_mappings_then_port(
    tmp_path: Path,
) -> None:
    """The documented order, worked out here from its definition, on listeners and
    dangling mappings that tie on every part of it but one (ports 0 and 65535 too)."""
    rs = rules_from(
        tmp_path,
        rule("LOW-1", 'protocol = ["tcp", "udp"]', severity="low")
        + rule("HIGH-1", "port = [1, 2, 65535]", severity="high")
        + """
[[rule]]
id = "D-1"
title = "t D-1"
severity = "high"
kind = "dangling_mapping"
message = "{endpoint}"
remediation = "{delete_cmd}"
[rule.match]
protocol = ["tcp", "udp"]
""",
    )
    m = UpnpMapping("tcp", 2, "192.168.1.50", 9)
    # (a process per reach: the same socket seen from elsewhere would be one finding)
    exposures = [
        exposure(port, ifaces, protocol=protocol, address=address, mappings=maps, process=who)
        for port in (65535, 2, 1, 0)
        for ifaces, maps, who in (
            (("lo", "wlan0"), (), proc("lan")),
            (("lo", "eth1"), (), proc("public")),
            (("lo", "wlan0"), (m,), proc("mapped")),
        )
        for protocol in ("udp", "tcp")
        for address in ("0.0.0.0", "10.66.0.1", "::")
    ]
    dangling = [
        DanglingMapping(UpnpMapping(protocol, external, "192.168.1.50", 9))
        for external in (65535, 2, 0)
        for protocol in ("udp", "tcp")
    ]
    findings = run_rules(rs, FACTS, exposures, dangling, NO_WAIVERS, TODAY)
    sev = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

    def place(f: Finding) -> tuple[object, ...]:
        if f.exposure is not None:
            lst = f.exposure.listener
            worst = max(sev[g.severity] for g in findings if g.exposure is f.exposure)
            scope = SCOPE_ORDER.index(f.exposure.widest_scope)
            return (-scope, -worst, 0, lst.port, lst.protocol, lst.address, -sev[f.severity])
        assert f.dangling is not None
        d = f.dangling.mapping
        scope = SCOPE_ORDER.index("internet")
        return (-scope, -sev[f.severity], 1, d.external_port, d.protocol, d.internal_client, 0)

    assert len(findings) == 72 + 54 + 6
    assert [place(f) for f in findings] == sorted(place(f) for f in findings)
    assert {f.rule_id for f in findings} == {"LOW-1", "HIGH-1", "D-1"}


def test_dangling_rules_and_their_fields(tmp_path: Path) -> None:
    text = (
        CATALOGUE
        + """
[[rule]]
id = "D-1"
title = "dangling"
severity = "medium"
kind = "dangling_mapping"
match.external_port = ["2000-3000"]
message = "{external_port}/{protocol} -> {endpoint} ({description}, {service}) on {external_ip}"
remediation = "{delete_cmd}"
"""
    )
    path = tmp_path / "d.toml"
    path.write_text(text)
    rs = load_ruleset([path], builtin=False)
    facts = records.replace(FACTS, upnp=UpnpFacts(status="ok", external_ip="203.0.113.9"))
    d_in = DanglingMapping(UpnpMapping("TCP", 2200, "192.168.1.23", 6379, "x"))
    d_out = DanglingMapping(UpnpMapping("tcp", 8080, "192.168.1.23", 8080, "y"))
    [f] = run_rules(rs, facts, [], [d_in, d_out], NO_WAIVERS, TODAY)
    assert f.message == "2200/tcp -> 192.168.1.23:6379 (x, probably Redis) on 203.0.113.9"
    assert f.remediation == "upnpc -d 2200 TCP"
    assert f.exposure is None and f.dangling is d_in
    assert f.fingerprint == dangling_fingerprint("D-1", "tcp", 2200, "192.168.1.23", 6379)


# --------------------------------------------------------------------------- text


def test_reach_desc_and_endpoint(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        """
[[rule]]
id = "T-1"
title = "t"
severity = "low"
match.port = [8000]
message = "{endpoint} from {reach_desc}"
remediation = "{fix}"
""",
    )

    def message(e: Exposure) -> str:
        return run_rules(rs, FACTS, [e], (), NO_WAIVERS, TODAY)[0].message

    assert message(exposure(8000)) == "0.0.0.0:8000 from everyone on wlan0 (192.168.1.0/24)"
    # A container bridge (an engine's state claims it): containers on it.
    assert message(exposure(8000, ("lo", "eth1", "wg0", "docker0"))) == (
        "0.0.0.0:8000 from anyone on the internet via eth1 (94.130.10.21), "
        "peers on the VPN wg0 (10.66.0.0/24) and containers on docker0 (172.17.0.0/16)"
    )
    # The same bridge with no engine claiming it: a network like any other.
    plain = records.replace(
        FACTS,
        interfaces=tuple(
            records.replace(i, kind="bridge") if i.name == "docker0" else i for i in IFACES
        ),
    )
    [f] = run_rules(rs, plain, [exposure(8000, ("docker0",))], (), NO_WAIVERS, TODAY)
    assert f.message == "0.0.0.0:8000 from everyone on docker0 (172.17.0.0/16)"
    assert (
        message(exposure(8000, ("lo",), address="::1"))
        == "[::1]:8000 from this machine only (loopback)"
    )
    assert message(exposure(8000, ())) == (
        "0.0.0.0:8000 from nowhere right now (its address is not assigned to an up interface)"
    )


def test_hostile_process_strings_are_not_interpreted(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path, rule("T-1", "port = [8000]").replace("{endpoint}", "{process} {cmdline}")
    )
    evil = proc("{port}{0}{process.__class__}", "x {reach_desc} %s {{}}")
    [f] = run_rules(rs, FACTS, [exposure(8000, process=evil)], (), NO_WAIVERS, TODAY)
    assert f.message == "{port}{0}{process.__class__} x {reach_desc} %s {{}}"


def test_unknown_process_wording(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("T-1", "port = [6379]").replace("{endpoint}", "{service} ({process}) as {user}"),
    )
    [f] = run_rules(rs, FACTS, [exposure(6379, process=None)], (), NO_WAIVERS, TODAY)
    # The port catalogue alone: a likelihood, never a fact.
    assert f.message == "Probably Redis (an unidentified process) as an unknown user"
    assert f.remediation == "bind it to 127.0.0.1 (or ::1) instead of 0.0.0.0"


# --------------------------------------------------------------------------- frameworks


FRAMEWORK_CASES = [
    # (port, process, cmdline, rule expected, text expected in the remediation)
    (
        8000,
        "python3",
        "python3 manage.py runserver 0.0.0.0:8000",
        "EA-DEV-001",
        "run it as: python3 manage.py runserver 127.0.0.1:8000",
    ),
    (
        5000,
        "flask",
        "flask run --host 0.0.0.0",
        "EA-DEV-001",
        "run it as: flask run --host 127.0.0.1",
    ),
    (
        5000,
        "python3",
        "python3 -m flask run --host=0.0.0.0 --debug",
        "EA-DEV-003",
        "never on a reachable address",
    ),
    (
        8000,
        "python3",
        "python3 -m http.server",
        "EA-DEV-001",
        "run it as: python3 -m http.server --bind 127.0.0.1",
    ),
    (5173, "node", "node node_modules/.bin/vite --host 0.0.0.0", "EA-DEV-001", "drop --host"),
    (
        8080,
        "node",
        "node node_modules/.bin/webpack-dev-server --host 0.0.0.0",
        "EA-DEV-001",
        "devServer.host",
    ),
    (
        3000,
        "node",
        "node node_modules/.bin/next dev -H 0.0.0.0",
        "EA-DEV-001",
        "next dev -H 127.0.0.1 -p 3000",
    ),
    (
        3000,
        "ruby",
        "ruby bin/rails server -b 0.0.0.0",
        "EA-DEV-001",
        "bin/rails server -b 127.0.0.1 -p 3000",
    ),
    (
        8888,
        "jupyter-notebook",
        "python3 /usr/bin/jupyter-notebook --ip=0.0.0.0",
        "EA-DBG-002",
        "run it as: /usr/bin/jupyter-notebook --ip=127.0.0.1",
    ),
    (9229, "node", "node --inspect=0.0.0.0:9229 app.js", "EA-DBG-001", "--inspect=127.0.0.1:9229"),
    (9400, "node", "node --inspect=0.0.0.0:9400 app.js", "EA-DBG-001", "--inspect=127.0.0.1:9400"),
    (9229, "node", "node --inspect-brk=0.0.0.0 app.js", "EA-DBG-001", "--inspect-brk=127.0.0.1"),
    (
        5999,
        "python3",
        "/v/bin/python /v/bin/debugpy --listen 0.0.0.0:5999 app.py",
        "EA-DBG-001",
        "/v/bin/python -m debugpy --listen 127.0.0.1:5999",
    ),
    (
        5000,
        "flask",
        "/v/bin/python3 /v/bin/flask --app hello --debug run --host 0.0.0.0",
        "EA-DEV-003",
        "run it as: /v/bin/flask --app hello --debug run --host 127.0.0.1",
    ),
    (
        8888,
        "python3",
        "python3 -m http.server 8888",
        "EA-DEV-001",
        "run it as: python3 -m http.server 8888 --bind 127.0.0.1",
    ),
    (
        4200,
        "node",
        "node node_modules/.bin/ng serve --host 0.0.0.0",
        "EA-DEV-001",
        "ng serve --host 127.0.0.1",
    ),
    (3000, "node", "node node_modules/.bin/react-scripts start", "EA-DEV-001", "HOST=127.0.0.1"),
    (
        1313,
        "hugo",
        "hugo server --bind 0.0.0.0",
        "EA-DEV-001",
        "hugo server --bind 127.0.0.1 --port 1313",
    ),
    (
        5678,
        "python3",
        "python3 -m debugpy --listen 0.0.0.0:5678 app.py",
        "EA-DBG-001",
        "--listen 127.0.0.1:5678",
    ),
]


@pytest.mark.parametrize(("port", "name", "cmdline", "rule_id", "fix"), FRAMEWORK_CASES)
def test_framework_specific_fix(port: int, name: str, cmdline: str, rule_id: str, fix: str) -> None:
    rs = load_ruleset([])
    e = exposure(port, process=proc(name, cmdline))
    findings = {f.rule_id: f for f in run_rules(rs, FACTS, [e], (), NO_WAIVERS, TODAY)}
    assert rule_id in findings, sorted(findings)
    assert fix in findings[rule_id].remediation


def _one(port: int, p: ProcessInfo, address: str = "0.0.0.0") -> dict[str, Finding]:
    rs = load_ruleset([])
    ifaces = ("lo",) if address.startswith("127.") else ("lo", "wlan0")
    e = exposure(port, ifaces, process=p, address=address)
    return {f.rule_id: f for f in run_rules(rs, FACTS, [e], (), NO_WAIVERS, TODAY)}


def test_the_process_beats_the_port_catalogue() -> None:
    # http.server on Jupyter's port: a dev server, not "Jupyter ... code execution".
    found = _one(8888, proc("python3", "python3 -m http.server 8888"))
    assert set(found) == {"EA-DEV-001"}
    f = found["EA-DEV-001"]
    assert f.severity == "high" and f.service == "python -m http.server"
    assert "Jupyter" not in f.message and not any("jupyter" in r for r in f.references)
    assert f.identity is not None and f.identity.source == "process"
    assert f.identity.framework == "http-server"
    assert any("usually Jupyter" in e and "not this one" in e for e in f.identity.evidence)


def test_debuggers_on_any_port_from_their_flags() -> None:
    for port, cmd in (
        (9400, "node --inspect=0.0.0.0:9400 server.js"),
        (9401, "node --inspect-brk 0.0.0.0:9401 server.js"),
        (5999, "python3 -m debugpy --listen 0.0.0.0:5999 app.py"),
        (
            40123,
            "/usr/bin/python3 /v/lib/python3.11/site-packages/debugpy/adapter"
            " --for-server 40124 --host 0.0.0.0 --port 40123 --server-access-token x",
        ),
    ):
        found = _one(port, proc(cmd.split()[0].rsplit("/", 1)[-1], cmd))
        assert "EA-DBG-001" in found, (cmd, sorted(found))
        assert found["EA-DBG-001"].severity == "critical"
    # ... and the app port of a process with an inspector is not the inspector.
    assert "EA-DBG-001" not in _one(3000, proc("node", "node --inspect=0.0.0.0:9400 s.js"))


def test_debugger_switched_on_by_the_environment() -> None:
    p = proc("node", "node server.js", environment=(("NODE_OPTIONS", "--inspect=0.0.0.0:9555"),))
    f = _one(9555, p)["EA-DBG-001"]
    assert f.identity is not None and f.identity.source == "environment"
    assert "environment: NODE_OPTIONS=--inspect=0.0.0.0:9555" in f.identity.evidence
    flask_env = proc("flask", "/v/bin/python /v/bin/flask run --host 0.0.0.0")
    assert "EA-DEV-003" not in _one(5000, flask_env)
    debug_on = records.replace(flask_env, environment=(("FLASK_DEBUG", "1"),))
    f = _one(5000, debug_on)["EA-DEV-003"]
    assert f.severity == "critical" and "unset FLASK_DEBUG" in f.remediation


def test_flask_debug_spellings() -> None:
    for cmd in (
        "flask --debug run --host 0.0.0.0",
        "flask --app a run --debug --host 0.0.0.0",
        "python3 -m flask run --debugger --host=0.0.0.0",
    ):
        assert "EA-DEV-003" in _one(5000, proc("flask", cmd)), cmd


def test_production_servers_are_not_dev_servers() -> None:
    for cmd in (
        "/v/bin/python3 /v/bin/gunicorn -b 0.0.0.0:8000 app:app",
        "/v/bin/python3 /v/bin/uvicorn app:app --host 0.0.0.0",
    ):
        found = _one(8000, proc("python3", cmd))
        assert "EA-DEV-001" not in found and "EA-DEV-002" not in found, (cmd, sorted(found))
    reload = _one(
        8000, proc("python3", "/v/bin/python3 /v/bin/uvicorn a:app --reload --host 0.0.0.0")
    )
    assert "EA-DEV-001" in reload


def test_rewritten_process_title_is_split_back() -> None:
    p = ProcessInfo(pid=7, name="node", cmdline=("webpack serve --host 0.0.0.0", "", "", ""))
    f = _one(8080, p)["EA-DEV-001"]
    assert f.service == "webpack-dev-server"
    assert "''" not in f.message


def test_debugger_on_loopback_is_not_told_to_keep_its_authentication() -> None:
    f = _one(9229, proc("node", "node --inspect app.js"), address="127.0.0.1")
    assert "EA-LOCAL-001" in f, sorted(f)
    assert "authentication on" not in f["EA-LOCAL-001"].remediation
    j = _one(8888, proc("jupyter", "/v/bin/jupyter-server"), address="127.0.0.1")
    assert "token authentication on" in j["EA-LOCAL-003"].remediation


def test_inspector_fix_only_on_the_inspector_port() -> None:
    rs = load_ruleset([])
    e = exposure(3000, process=proc("node", "node --inspect=0.0.0.0:9229 app.js"))
    [f] = run_rules(rs, FACTS, [e], (), NO_WAIVERS, TODAY)
    assert f.rule_id == "EA-DEV-001" and "--inspect" not in f.remediation


# --------------------------------------------------------------------------- fingerprints


def test_fingerprint_ignores_pid_and_time_but_not_identity(tmp_path: Path) -> None:
    rs = rules_from(tmp_path, rule("T-1", "port = [8000, 8001]"))

    def fp(e: Exposure, facts: Facts = FACTS) -> str:
        return run_rules(rs, facts, [e], (), NO_WAIVERS, TODAY)[0].fingerprint

    base = fp(exposure(8000, process=proc("python3", pid=100)))
    later = records.replace(FACTS, collected_at="2027-01-01T00:00:00Z")
    assert fp(exposure(8000, process=proc("python3", pid=999)), later) == base
    assert fp(exposure(8000, process=proc("python3", "other args"))) == base
    assert fp(exposure(8001, process=proc("python3"))) != base
    assert fp(exposure(8000, process=proc("node"))) != base
    assert fp(exposure(8000, address="192.168.1.23", process=proc("python3"))) != base
    assert fp(exposure(8000, protocol="udp", process=proc("python3"))) != base
    assert base == listener_fingerprint("T-1", "tcp", 8000, "0.0.0.0", "python3")
    assert len(base) == 16 and int(base, 16) >= 0


def test_fingerprints_are_sha256_as_documented() -> None:
    """The fingerprint text's SHA-256 (analysis/fingerprint.py takes CPython's own where
    there is one): worked out here with hashlib, surrogates and all."""
    for process in ("python3", "n\udcffode", "x" * 500, None):
        got = listener_fingerprint("EA-DEV-001", "tcp", 8000, "::ffff:10.0.0.1", process)
        text = "\x1f".join(
            ("v1", "listener", "EA-DEV-001", "tcp", "8000", "::ffff:a00:1", process or "")
        )
        want = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        assert got == want


def test_fingerprint_normalises_addresses() -> None:
    a = listener_fingerprint("R", "tcp", 1, "2001:DB8::1", "x")
    assert a == listener_fingerprint("R", "TCP", 1, "2001:db8:0:0::1", "x")
    assert listener_fingerprint("R", "tcp", 1, "not an address", None)  # never raises


def test_run_rules_is_pure_and_repeatable() -> None:
    rs = load_ruleset([])
    exposures = [exposure(8000, process=proc("python3")), exposure(6379, ("lo", "eth1"))]
    first = run_rules(rs, FACTS, exposures, (), NO_WAIVERS, TODAY)
    assert first == run_rules(rs, FACTS, exposures, (), NO_WAIVERS, TODAY)
    assert exposures[0].listener.port == 8000 and len(first) >= 2


# --------------------------------------------------------------------------- firewall


def with_verdicts(e: Exposure, verdicts: dict[str, str]) -> Exposure:
    """As firewall.annotate leaves it: a verdict per reach entry, the most open overall."""
    reach = tuple(records.replace(r, firewall=verdicts.get(r.interface)) for r in e.reach)
    rank = {"filtered": 0, "unknown": 1, "open": 2}
    beyond = [r.firewall for r in reach if r.scope != "loopback" and r.firewall]
    return records.replace(e, reach=reach, firewall=max(beyond, key=rank.__getitem__))


def test_reach_the_firewall_blocks_does_not_count(tmp_path: Path) -> None:
    rs = rules_from(
        tmp_path,
        rule("PUB-1", 'port = [8000]\nreach = ["public"]')
        + rule("LAN-1", 'port = [8000]\nwidest = ["lan"]')
        + rule("ANY-1", 'port = [8000]\nwidest_at_least = "link_local"').replace(
            "{endpoint}", "{reach_desc}"
        ),
    )
    e = exposure(8000, ("lo", "wlan0", "eth1"))
    assert {r for r, _ in fired(rs, e)} == {"PUB-1", "ANY-1"}
    lan_only = with_verdicts(e, {"lo": "open", "wlan0": "open", "eth1": "filtered"})
    # PUB-1 matched only through the blocked public reach: kept, but as info.
    assert severities(rs, lan_only) == {"LAN-1": "medium", "ANY-1": "medium", "PUB-1": "info"}
    unknown = with_verdicts(e, {"lo": "open", "wlan0": "filtered", "eth1": "unknown"})
    assert severities(rs, unknown) == {"PUB-1": "medium", "ANY-1": "medium"}
    blocked = with_verdicts(e, {"lo": "open", "wlan0": "filtered", "eth1": "filtered"})
    assert severities(rs, blocked) == {"PUB-1": "info", "ANY-1": "info"}
    [pub] = [
        f for f in run_rules(rs, FACTS, [blocked], (), NO_WAIVERS, TODAY) if f.rule_id == "PUB-1"
    ]
    assert "But the firewall blocks this on wlan0 and eth1" in pub.message
    [f] = [
        f for f in run_rules(rs, FACTS, [lan_only], (), NO_WAIVERS, TODAY) if f.rule_id == "ANY-1"
    ]
    assert f.message == "everyone on wlan0 (192.168.1.0/24) (the firewall blocks it on eth1)"
    assert f.exposure is lan_only  # the evidence keeps every verdict


def test_no_firewall_facts_means_reach_as_resolved(tmp_path: Path) -> None:
    rs = rules_from(tmp_path, rule("PUB-1", 'port = [8000]\nreach = ["public"]'))
    e = exposure(8000, ("lo", "eth1"))
    quiet = records.replace(
        e, reach=tuple(records.replace(r, firewall="filtered") for r in e.reach)
    )
    assert fired(rs, quiet) == [("PUB-1", 8000)]  # Exposure.firewall None: not evaluated


def test_identical_sockets_give_one_finding_the_worst(tmp_path: Path) -> None:
    """SO_REUSEPORT siblings, or one socket per interface: same fingerprint, one finding."""
    rs = rules_from(tmp_path, rule("T-1", "port = [8000]").replace("{endpoint}", "{reach_desc}"))
    narrow = exposure(8000, ("wlan0",), process=proc("python3", pid=1))
    wide = exposure(8000, ("eth1",), process=proc("python3", pid=2))
    findings = run_rules(rs, FACTS, [narrow, wide, narrow], (), NO_WAIVERS, TODAY)
    assert [f.message for f in findings] == ["anyone on the internet via eth1 (94.130.10.21)"]


def test_references_are_the_rules_then_the_ports() -> None:
    rs = load_ruleset([])
    e = exposure(5173, process=proc("node", "node vite --host"))
    [f] = run_rules(rs, FACTS, [e], (), NO_WAIVERS, TODAY)
    rule = next(r for r in rs.rules if r.id == f.rule_id)
    port = rs.catalogue.get("tcp", 5173)
    assert f.references[: len(rule.references)] == rule.references
    assert set(port.references) <= set(f.references)
    assert len(set(f.references)) == len(f.references)


def test_unless_as_a_list_any_group_suppresses(tmp_path: Path) -> None:
    extra = 'unless = [{ process = ["safe*"] }, { only_interface_kind = ["container_bridge"] }]'
    rs = rules_from(tmp_path, rule("T-1", "port = [8000]", extra=extra))
    assert fired(rs, exposure(8000, ("lo", "wlan0"), process=proc("safe-app"))) == []
    assert fired(rs, exposure(8000, ("lo", "docker0"), process=proc("app"))) == []
    both = exposure(8000, ("lo", "wlan0", "docker0"), process=proc("app"))
    assert fired(rs, both) == [("T-1", 8000)]
    assert fired(rs, exposure(8000, ("lo",), process=proc("app"))) == [("T-1", 8000)]
