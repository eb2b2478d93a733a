"""The UPnP collector against a REAL miniupnpd (tests/testbed/igd-netns.sh, prefix eu;
the IGD:1 variant with prefix ev; both plus this run's own tag, upnp_testbed.RUN_TAG).
Mappings are created with the real ``upnpc`` and through the router's SOAP interface;
the auditor runs inside the LAN namespace, both with SSDP discovery (safe there: the
namespace has no link to the host network) and with --igd. Skips with the testbed's own
reason where it cannot run (exit 77).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns import cli_argv, requires_netns
from upnp_testbed import IgdTestbed, IgdUnavailable, add_mapping_args, parse_upnpc_list

from exposure_audit.analysis.exposure import resolve
from exposure_audit.core.serialize import load_facts

pytestmark = [requires_netns, pytest.mark.netns, pytest.mark.upnp]

WANIP2 = "urn:schemas-upnp-org:service:WANIPConnection:2"
WANIP1 = "urn:schemas-upnp-org:service:WANIPConnection:1"
CLIENT = "10.233.0.2"
OTHER_HOST = "10.233.0.7"


def bring_up(prefix: str, **knobs: str) -> Iterator[IgdTestbed]:
    try:
        tb = IgdTestbed.up(prefix, **knobs)
    except IgdUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield tb
    finally:
        tb.down()


@pytest.fixture(scope="module")
def igd2() -> Iterator[IgdTestbed]:
    yield from bring_up("eu")


@pytest.fixture(scope="module")
def igd1() -> Iterator[IgdTestbed]:
    yield from bring_up("ev", EA_IGD_V1="yes")


def upnpc(tb: IgdTestbed, *args: str) -> str:
    proc = tb.run_lan(["upnpc", "-u", tb.url, *args], upnp=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def audit_json(tb: IgdTestbed, *extra: str) -> tuple[dict, float]:
    t0 = time.monotonic()
    proc = tb.run_lan([*cli_argv(), "upnp", "--format", "json", *extra])
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout), elapsed


def mapping_set(doc: dict) -> set[tuple[str, int, str, int, str]]:
    return {
        (
            m["protocol"],
            m["external_port"],
            m["internal_client"],
            m["internal_port"],
            m["description"],
        )
        for m in doc["upnp"]["mappings"]
    }


def test_mappings_equal_upnpc_list(igd2: IgdTestbed) -> None:
    upnpc(igd2, "-a", CLIENT, "8080", "18080", "TCP")
    upnpc(igd2, "-a", CLIENT, "5353", "15353", "UDP")
    upnpc(igd2, "-a", OTHER_HOST, "22", "2222", "TCP")  # another LAN host (secure_mode=no)
    results = igd2.soap_lan(
        [
            ("AddPortMapping", add_mapping_args(19090, CLIENT, 9090, desc="soap <added> & co")),
            ("AddPortMapping", add_mapping_args(16000, OTHER_HOST, 6000, "UDP", "x11")),
        ],
        WANIP2,
    )
    assert all("error" not in r for r in results), results

    listed = parse_upnpc_list(upnpc(igd2, "-l"))
    assert len(listed) == 5

    for extra in ((), ("--igd", igd2.url)):  # SSDP discovery, then --igd
        doc, elapsed = audit_json(igd2, *extra)
        facts = doc["upnp"]
        assert facts["status"] == "ok", doc
        assert facts["external_ip"] == igd2.env["EA_EXT_IP"]
        assert facts["external_scope"] == "public"
        assert facts["service_type"] == WANIP2
        assert facts["location"] == igd2.url
        assert facts["truncated"] is False
        assert doc["warnings"] == []
        assert mapping_set(doc) == listed
        assert "3 to this host" in facts["message"]
        assert "IPv6 firewall" in facts["message"]
        assert elapsed < 2.0  # discovery stops once the gateway answered (upnpc: ~2 s)
    assert igd2.status_ok(), "miniupnpd died during the audit"

    text = igd2.run_lan([*cli_argv(), "upnp"])
    assert text.returncode == 0
    assert "External IP  11.250.42.12 (public)" in text.stdout
    assert re.search(r"\bTCP +18080 +-> 10\.233\.0\.2:8080 \* ", text.stdout), text.stdout
    assert "'soap <added> & co'" in text.stdout


def _listener(port: int) -> str:
    return (
        "import socket, sys, time\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('{CLIENT}', {port})); s.listen(8); print('READY', flush=True)\n"
        "while True:\n"
        "    c, _ = s.accept(); c.sendall(b'hello from the lan'); c.close()\n"
    )


def collect(tb: IgdTestbed, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return tb.run_lan([*cli_argv(), "collect", "-o", str(out), *extra])


def test_mapping_to_a_listener_is_internet_and_deleting_it_removes_it(
    igd2: IgdTestbed, tmp_path: Path
) -> None:
    upnpc(igd2, "-a", CLIENT, "8081", "18081", "TCP")  # to a real listener
    upnpc(igd2, "-a", CLIENT, "9099", "19099", "TCP")  # nothing listens: dangling
    server = subprocess.Popen(
        ["ip", "netns", "exec", igd2.lan, sys.executable, "-c", _listener(8081)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "READY"
        # the mapping is real: from the "internet" side, the router forwards to the listener
        wan = igd2.run_in(
            igd2.env["EA_WAN_NS"],
            [sys.executable, "-c", _connect(igd2.env["EA_EXT_IP"], 18081)],
            upnp=False,
        )
        assert wan.stdout.strip() == "hello from the lan", wan.stderr

        facts_path = tmp_path / "facts.json"
        proc = collect(igd2, facts_path)  # SSDP discovery inside the LAN namespace
        assert proc.returncode == 0, proc.stderr
        facts = load_facts(facts_path)
        assert facts.upnp is not None and facts.upnp.status == "ok"
        resolved = resolve(facts)
        exp = _exposure(resolved, 8081)
        assert exp.widest_scope == "internet"
        assert [(m.external_port, m.internal_port) for m in exp.upnp_mappings] == [(18081, 8081)]
        dangling = {(d.mapping.external_port, d.mapping.internal_port) for d in resolved.dangling}
        assert (19099, 9099) in dangling
        assert (18081, 8081) not in dangling

        # the same through `run --format json` (collect + resolve + rules, one process)
        proc = igd2.run_lan([*cli_argv(), "run", "--format", "json", "--no-firewall"])
        assert proc.returncode in (0, 1), proc.stderr
        report = json.loads(proc.stdout)
        exp_json = next(e for e in report["exposures"] if e["id"] == f"tcp/{CLIENT}/8081")
        assert exp_json["widest_scope"] == "internet"
        assert [m["external_port"] for m in exp_json["upnp_mappings"]] == [18081]
        # every enabled mapping to this host without the listener, and nothing else
        # (an earlier test may have left mappings to this host and to another LAN host)
        expected = {
            (m.external_port, m.internal_port)
            for m in facts.upnp.mappings
            if m.internal_client == CLIENT and m.external_port != 18081
        }
        got = {(d["external_port"], d["internal_port"]) for d in report["dangling_mappings"]}
        assert (19099, 9099) in got and got == expected

        upnpc(igd2, "-d", "18081", "TCP")
        proc = collect(igd2, facts_path, "--igd", igd2.url)
        assert proc.returncode == 0, proc.stderr
        facts = load_facts(facts_path)
        assert facts.upnp is not None
        assert 18081 not in {m.external_port for m in facts.upnp.mappings}
        assert _exposure(resolve(facts), 8081).widest_scope != "internet"
    finally:
        server.terminate()
        server.wait(5)
        upnpc(igd2, "-d", "19099", "TCP")


def test_host_firewall_decides_whether_a_mapping_reaches_the_listener(
    igd2: IgdTestbed, tmp_path: Path
) -> None:
    """Ground truth through the real router: two mappings to two listeners, and the LAN
    host's nftables drops one port. From the internet side the dropped one fails and the
    other answers; the report says upnp_firewall filtered / open accordingly, and only
    the open one keeps an internet finding above info."""
    upnpc(igd2, "-a", CLIENT, "8083", "18083", "TCP")
    upnpc(igd2, "-a", CLIENT, "8084", "18084", "TCP")
    table = "inet eaU"
    drop = f"add table {table}; add chain {table} in {{ type filter hook input priority 0; }}; "
    drop += f"add rule {table} in tcp dport 8084 drop"
    servers = [
        subprocess.Popen(
            ["ip", "netns", "exec", igd2.lan, sys.executable, "-c", _listener(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for port in (8083, 8084)
    ]
    try:
        for server in servers:
            assert server.stdout is not None and server.stdout.readline().strip() == "READY"
        assert igd2.run_lan(["nft", drop], upnp=False).returncode == 0
        wan = {}
        for ext in (18083, 18084):
            wan[ext] = igd2.run_in(
                igd2.env["EA_WAN_NS"],
                [sys.executable, "-c", _connect(igd2.env["EA_EXT_IP"], ext)],
                upnp=False,
            )
        assert wan[18083].stdout.strip() == "hello from the lan", wan[18083].stderr
        assert wan[18084].returncode != 0  # the host drops it: the peer cannot connect

        proc = igd2.run_lan([*cli_argv(), "run", "--format", "json", "--fail-on", "none"])
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        by_id = {e["id"]: e for e in report["exposures"]}
        open_x, dropped = by_id[f"tcp/{CLIENT}/8083"], by_id[f"tcp/{CLIENT}/8084"]
        assert open_x["upnp_firewall"] == "open"
        assert dropped["upnp_firewall"] == "filtered"
        assert "tcp dport 8084 drop" in dropped["upnp_firewall_evidence"]
        sev = {f["fingerprint"]: f["severity"] for f in report["findings"]}
        assert open_x["severity"] in ("high", "critical")
        assert {sev[fp] for fp in dropped["findings"]} == {"info"}
    finally:
        igd2.run_lan(["nft", f"delete table {table}"], upnp=False)
        for server in servers:
            server.terminate()
            server.wait(5)
        upnpc(igd2, "-d", "18083", "TCP")
        upnpc(igd2, "-d", "18084", "TCP")


def _connect(host: str, port: int) -> str:
    return (
        "import socket\n"
        f"s = socket.create_connection(('{host}', {port}), timeout=3)\n"
        "print(s.recv(100).decode())\n"
    )


def _exposure(resolved, port: int):  # type: ignore[no-untyped-def]
    hits = [
        e for e in resolved.exposures if e.listener.port == port and e.listener.protocol == "tcp"
    ]
    assert hits, f"no listener on port {port} in the collected facts"
    return hits[0]


def test_igd_v1_router(igd1: IgdTestbed) -> None:
    upnpc(igd1, "-a", CLIENT, "8080", "18080", "TCP")
    results = igd1.soap_lan([("AddPortMapping", add_mapping_args(18443, CLIENT, 443))], WANIP1)
    assert all("error" not in r for r in results), results
    listed = parse_upnpc_list(upnpc(igd1, "-l"))
    for extra in ((), ("--igd", igd1.url)):
        doc, _ = audit_json(igd1, *extra)
        assert doc["upnp"]["status"] == "ok", doc
        assert doc["upnp"]["service_type"] == WANIP1
        assert mapping_set(doc) == listed and len(listed) == 2


def test_no_gateway_is_a_normal_outcome(igd2: IgdTestbed) -> None:
    # from the "internet" namespace: no route for multicast, no IGD: one line, exit 0
    proc = igd2.run_in(igd2.env["EA_WAN_NS"], [*cli_argv(), "upnp", "--upnp-timeout", "0.5"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("No UPnP gateway found")
    assert len(proc.stdout.strip().splitlines()) == 1
