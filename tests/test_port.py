"""`exposure-audit port PORT`: on fixture Facts, and the installed CLI against real sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from netns import cli_argv, namespaces, requires_netns, unique

from exposure_audit.commands.port import (
    clean,
    free_ports_near,
    port_report,
    render_text,
    report_to_dict,
)
from exposure_audit.core import records
from exposure_audit.core.model import ProcessInfo
from exposure_audit.core.serialize import load_facts

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
EPH = (32768, 60999)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli_argv(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1"},
    )


# --------------------------------------------------------------------------- free ports


def test_free_ports_nearest_first_above_on_ties() -> None:
    assert free_ports_near(8000, set()) == (8001, 7999, 8002)
    assert free_ports_near(8000, {8000, 8001, 7999}) == (8002, 7998, 8003)


def test_free_ports_never_privileged_for_an_unprivileged_port() -> None:
    assert free_ports_near(1024, set()) == (1025, 1026, 1027)
    assert free_ports_near(80, set()) == (81, 79, 82)


def test_free_ports_avoid_the_ephemeral_range_from_outside_it() -> None:
    assert free_ports_near(32767, set(), ephemeral=EPH) == (32766, 32765, 32764)
    # Inside the range (a port someone chose there): neighbours are fine.
    assert free_ports_near(40000, set(), ephemeral=EPH) == (40001, 39999, 40002)


def test_free_ports_at_the_edges() -> None:
    assert free_ports_near(65535, set(), ephemeral=(1, 1)) == (65534, 65533, 65532)
    assert free_ports_near(1, set(), ephemeral=(2000, 3000)) == (2, 3, 4)
    assert free_ports_near(2, set(range(1, 1024)), ephemeral=(2000, 3000)) == (1024, 1025, 1026)
    assert free_ports_near(8000, set(range(1024, 65536)) - {8000}) == ()


# --------------------------------------------------------------------------- on fixtures


def test_report_on_the_cafe_laptop() -> None:
    facts = load_facts(FIXTURES / "laptop_cafe.json")
    rep = port_report(facts, 8000, "tcp", EPH)
    assert len(rep.holders) == 1
    text = render_text(rep)
    assert "port 8000/tcp is in use (1 socket)" in text
    assert "python3 (pid 4242, user alice)" in text
    assert "manage.py runserver 0.0.0.0:8000" in text
    assert "reachable from: the Wi-Fi network (wlan0)" in text
    assert "wlan0 192.168.1.23 (192.168.1.0/24)" in text
    assert "free tcp ports nearby: 8001, 7999, 8002" in text

    d = report_to_dict(rep)
    assert d["in_use"] and d["holders"][0]["widest_scope"] == "lan"
    assert d["holders"][0]["listener"]["process"]["pid"] == 4242
    json.dumps(d)


def test_report_loopback_and_both_families() -> None:
    facts = load_facts(FIXTURES / "laptop_cafe.json")
    text = render_text(port_report(facts, 5432, "tcp", EPH))
    assert "(2 sockets)" in text
    assert "127.0.0.1:5432" in text and "[::1]:5432" in text
    assert text.count("this machine only (loopback)") == 2


def test_report_free_port_and_other_protocol() -> None:
    facts = load_facts(FIXTURES / "laptop_cafe.json")
    text = render_text(port_report(facts, 5353, "tcp", EPH))
    assert text.startswith("port 5353/tcp is free: nothing on this machine listens on it.")
    assert "5353/udp is in use (see: exposure-audit port 5353 --udp)" in text
    text = render_text(port_report(facts, 5353, "udp", EPH))
    assert "(IPv6 only)" in text and "avahi-daemon" in text


def test_report_unattributed_listener_names_the_owner_and_the_fix() -> None:
    facts = load_facts(FIXTURES / "server_public.json")
    text = render_text(port_report(facts, 6379, "tcp", EPH))
    assert "unknown process (owner uid 110)" in text
    assert "reachable from: the internet directly (public address on eth0)" in text
    assert "run as root" in text


def test_hostile_command_line_is_inert_text() -> None:
    facts = load_facts(FIXTURES / "laptop_cafe.json")
    evil = ProcessInfo(pid=6, name="x\x1b]0;pwned\x07", cmdline=("sh", "-c", "\x1b[2J\rboom"))
    lst = records.replace(facts.listeners[0], process=evil)
    facts = records.replace(facts, listeners=(lst,))
    text = render_text(port_report(facts, lst.port, lst.protocol, EPH))
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\x1b[2J\\x0dboom" in text
    assert clean("plain") == "plain"


# --------------------------------------------------------------------------- the CLI


def test_cli_names_the_process_holding_a_real_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = cli("port", str(port))
        res_json = cli("port", str(port), "--json")
    assert res.returncode == 0, res.stderr
    assert f"port {port}/tcp is in use" in res.stdout
    assert f"pid {os.getpid()}" in res.stdout
    assert "this machine only (loopback)" in res.stdout
    data = json.loads(res_json.stdout)
    assert data["in_use"] is True
    assert data["holders"][0]["listener"]["process"]["pid"] == os.getpid()
    assert data["holders"][0]["widest_scope"] == "loopback"
    assert port not in data["free_nearby"]


def test_cli_udp() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        udp = cli("port", str(port), "--udp")
        tcp = cli("port", str(port))
    assert f"port {port}/udp is in use" in udp.stdout
    assert f"pid {os.getpid()}" in udp.stdout
    assert f"{port}/udp is in use" in tcp.stdout


@pytest.mark.allow_skip_in_ci(reason="needs nobody else listening on 1/tcp")
def test_cli_free_port() -> None:
    data = json.loads(cli("port", "1", "--json").stdout)  # tcpmux: nobody runs it
    if data["in_use"]:
        pytest.skip("something on this machine listens on 1/tcp")
    res = cli("port", "1")
    assert res.returncode == 0
    assert res.stdout.startswith("port 1/tcp is free")


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("abc", "'abc' is not a port number"),
        ("0", "0 is out of range"),
        ("65536", "65536 is out of range"),
        ("8000.5", "not a port number"),
        ("", "not a port number"),
    ],
)
def test_cli_bad_port_is_a_usage_error(arg: str, message: str) -> None:
    res = cli("port", arg)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_help() -> None:
    res = cli("port", "--help")
    assert res.returncode == 0
    assert "--udp" in res.stdout and "--json" in res.stdout and "no packet" in res.stdout


@requires_netns
def test_cli_in_a_namespace_reports_lan_reach() -> None:
    with namespaces(unique("eaG-port")) as (ns,):
        ns.ip("link", "add", "eaGp0", "type", "veth", "peer", "name", "eaGp1")
        ns.ip("link", "set", "eaGp0", "up")
        ns.ip("link", "set", "eaGp1", "up")
        ns.ip("addr", "add", "192.168.50.10/24", "dev", "eaGp0")
        server = ns.python(
            "import socket,time\n"
            "a=socket.socket(); a.bind(('0.0.0.0', 8000)); a.listen()\n"
            "b=socket.socket(); b.bind(('127.0.0.1', 8001)); b.listen()\n"
            "print('ready', flush=True); time.sleep(60)"
        )
        assert server.stdout.readline().strip() == "ready"
        res = ns.run([*cli_argv(), "port", "8000"])
        assert res.returncode == 0, res.stderr
        assert f"pid {server.pid}" in res.stdout
        assert "reachable from: the local network (eaGp0)" in res.stdout
        assert "eaGp0 192.168.50.10 (192.168.50.0/24)" in res.stdout
        assert "free tcp ports nearby: 7999, 8002, 7998" in res.stdout
