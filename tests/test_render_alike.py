"""Alike processes fold (issue 16): Docker's one docker-proxy per published port, copies
of a server with a port each. Listeners of different processes are one entry when the
processes have the same executable, name, user and container, and command lines that name
their own ports and differ only in them (grouping.ProcessKeys); the JSON lists each one.
The fixture is scale_fixture.build_proxies: 4,000 docker-proxy processes (one entry), 8
PHP built-in servers (one entry), and five processes unlike the rest (one entry each).

Goldens: golden/alike.terminal.txt and golden/alike.report.html. Regenerate after an
intended change with ``EA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render_alike.py``.
Before this folding the same fixture gave 4,015 entries (200 shown, "3815 more entries
... not shown"), an 85 KB terminal report and a 350 KB page.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import scale_fixture
from golden_util import check_golden

from exposure_audit.reporting import Format, RenderContext, render
from exposure_audit.reporting.grouping import ProcessKeys, pids_text
from exposure_audit.reporting.view import build_view


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return scale_fixture.report(scale_fixture.build_proxies())


@pytest.fixture(scope="module")
def terminal(report: dict[str, Any]) -> str:
    return render(Format.TERMINAL, report, RenderContext(width=100))


@pytest.fixture(scope="module")
def html(report: dict[str, Any]) -> str:
    return render(Format.HTML, report, RenderContext())


def test_golden_terminal(terminal: str) -> None:
    check_golden("alike.terminal.txt", terminal)


def test_golden_html(html: str) -> None:
    check_golden("alike.report.html", html)


def test_four_thousand_proxies_are_one_entry(terminal: str) -> None:
    heads = [ln for ln in terminal.splitlines() if re.match(r"^[A-Z]{3,}\s", ln)]
    assert len(heads) - 1 == 9  # the last is the verdict
    assert "not shown" not in terminal
    assert (
        "EXPOSED   docker-proxy on tcp 0.0.0.0 (4,000 ports, 4,000 processes): 20000–23999\n"
        "          user root, pids 10000–11999, 12100–14099\n"
        "  what  pid 10000 (the others alike but for their ports): /usr/bin/docker-proxy"
    ) in terminal
    assert (
        "php on tcp 0.0.0.0 (8 ports, 8 processes): 8001–8008  user www, pids 3100–3107" in terminal
    )


def test_processes_that_are_not_alike_stay_apart(terminal: str) -> None:
    # another user, another executable, a command line that differs beyond the port
    assert "docker-proxy on tcp 0.0.0.0:24000  pid 15000, alice" in terminal
    assert "docker-proxy on tcp 0.0.0.0:24001  pid 15001, root" in terminal
    assert "docker-proxy on tcp 0.0.0.0:24002  pid 15002, root" in terminal
    assert "what  /opt/docker/docker-proxy" in terminal
    assert "-container-ip 172.17.0.3" in terminal
    # a command line naming none of its ports: as on Windows, where two svchost.exe with
    # one command line are two services
    assert "EXPOSED   node on tcp 0.0.0.0:6100  pid 3200, alice" in terminal
    assert "EXPOSED   node on tcp 0.0.0.0:6101  pid 3201, alice" in terminal


def test_one_process_reads_as_before(terminal: str, html: str) -> None:
    assert "nginx on tcp 0.0.0.0 (2 ports): 80, 443  pid 1200, root\n  what  nginx:" in terminal
    assert "sshd on tcp 0.0.0.0:22  pid 700, root" in terminal
    assert '<span class="who">pid 1200 · root · 2 ports</span>' in html


def test_html_says_how_many_processes_and_which(html: str) -> None:
    assert len(html) < 40_000 and html.count('<article class="card') == 9
    assert (
        '<span class="who">4,000 processes (pids 10000–11999, 12100–14099) · root · '
        "4,000 ports</span>"
    ) in html
    assert "Shown for pid 10000; the other 3,999 processes are alike but for their ports." in html
    table = html[html.index("<h3>Listening sockets") : html.index("<h3>Router")]
    assert table.count("<tr>") == 1 + 9
    assert 'docker-proxy <span class="meta">(4,000 processes, pids 10000–11999' in table
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "docker-proxy (4,000 processes)" in svg
    assert "or of alike processes" in html


def test_every_listener_is_in_one_group_and_the_json_lists_each(report: dict[str, Any]) -> None:
    view = build_view(report)
    members = [x["id"] for g in view["groups"] for x in g["members"]]
    assert len(members) == len(set(members)) == len(report["exposures"]) == 4_016
    proxies = max(view["groups"], key=lambda g: g["count"])
    assert (proxies["count"], proxies["processes"]) == (4_000, 4_000)
    data = json.loads(render(Format.JSON, report))
    assert len(data["exposures"]) == len(data["facts"]["listeners"]) == 4_016
    assert len({x["process"]["pid"] for x in data["exposures"]}) == 4_000 + 3 + 8 + 2 + 2


def _exposure(pid: int, port: int, cmdline: list[str], user: str = "root") -> dict[str, Any]:
    process = {"pid": pid, "name": "srv", "exe": "/usr/bin/srv", "cmdline": cmdline,
               "username": user, "uid": 0, "container_id": None}  # fmt: skip
    return {"process": process, "port": port, "published_by": None, "container": None}


def test_what_makes_processes_alike() -> None:
    # its command line names one of its ports: every listener of it still folds together
    one = [
        _exposure(7, 8000, ["srv", "--port", "8000"]),
        _exposure(7, 8001, ["srv", "--port", "8000"]),
    ]
    keys = ProcessKeys(one)
    assert keys(one[0]) == keys(one[1])
    # one command line naming no port: two processes stay apart
    same = [_exposure(3, 135, ["svchost.exe"]), _exposure(4, 3389, ["svchost.exe"])]
    keys = ProcessKeys(same)
    assert keys(same[0]) != keys(same[1])
    # two processes alike but for their ports; a third with another number elsewhere
    two = [
        _exposure(8, 9000, ["srv", "--port", "9000", "--workers", "4"]),
        _exposure(9, 9001, ["srv", "--port=9001", "--workers", "4"]),
        _exposure(10, 9002, ["srv", "--port", "9002", "--workers", "4"]),
        _exposure(11, 9003, ["srv", "--port", "9003", "--workers", "5"]),
        _exposure(12, 9004, ["srv", "--port", "9004", "--workers", "4"], user="bob"),
    ]
    keys = ProcessKeys(two)
    assert keys(two[0]) == keys(two[2])
    assert keys(two[0]) != keys(two[1])  # "--port=9001" is another argument
    assert keys(two[0]) != keys(two[3]) and keys(two[0]) != keys(two[4])


def _docker_proxy(pid: int, port: int, container_ip: str, container_port: str) -> dict[str, Any]:
    x = _exposure(pid, port, [])
    x["process"].update(
        name="docker-proxy",
        exe="/usr/bin/docker-proxy",
        cmdline=[
            "/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0",
            "-host-port", str(port), "-container-ip", container_ip, *container_port.split(),
        ],
    )  # fmt: skip
    return x


def test_docker_proxies_of_a_range_published_onto_other_ports_are_alike() -> None:
    # `docker run -p 30000-30003:20000-20003`: each proxy forwards to its own container
    # port; one container, one entry. Another container (address) stays apart, and so
    # does a program that is not docker-proxy with the same flag.
    proxies = [
        _docker_proxy(100, 30000, "172.17.0.2", "-container-port 20000"),
        _docker_proxy(101, 30001, "172.17.0.2", "-container-port 20001"),
        _docker_proxy(102, 30002, "172.17.0.2", "--container-port=20002"),
        _docker_proxy(103, 30003, "172.17.0.2", "-container-port=20003"),
        _docker_proxy(104, 30004, "172.17.0.3", "-container-port 20004"),
        _docker_proxy(105, 30005, "172.17.0.3", "-container-port 20004"),
    ]
    other = _exposure(106, 30006, ["srv", "--port", "30006", "-container-port", "20005"])
    twin = _exposure(107, 30007, ["srv", "--port", "30007", "-container-port", "20006"])
    keys = ProcessKeys([*proxies, other, twin])
    assert keys(proxies[0]) == keys(proxies[1])
    assert keys(proxies[2]) != keys(proxies[0])  # "--container-port=" is another flag
    assert keys(proxies[2]) != keys(proxies[3])  # -container-port=N and --container-port=N
    assert keys(proxies[4]) != keys(proxies[0])  # another container
    assert keys(proxies[4]) == keys(proxies[5])
    assert keys(other) != keys(twin)  # not docker-proxy: the container port is its own


def test_pids_in_words() -> None:
    assert pids_text([5, 3, 4, 9]) == "pids 3–5, 9"
    assert pids_text([1, 3, 5, 7, 9]) == "pids 1, 3, 5 and 2 more ranges"
