"""10,000 TCP and 1,000 UDP listeners (tests/scale_fixture.py): the terminal and HTML
fold listeners that differ only in port into one entry with their port ranges, worst
first, and stay a page long; the JSON report still lists every listener and finding.

Goldens: golden/scale.terminal.txt and golden/scale.report.html (the whole page: grouped,
it is about 50 KB). Regenerate after an intended change with
``EA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render_scale.py`` and review the diff.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import scale_fixture
from golden_util import check_golden

from exposure_audit.reporting import Format, RenderContext, render
from exposure_audit.reporting.view import build_view


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return scale_fixture.report()


@pytest.fixture(scope="module")
def terminal(report: dict[str, Any]) -> str:
    return render(Format.TERMINAL, report, RenderContext(width=100))


@pytest.fixture(scope="module")
def html(report: dict[str, Any]) -> str:
    return render(Format.HTML, report, RenderContext())


def test_golden_terminal(terminal: str) -> None:
    check_golden("scale.terminal.txt", terminal)


def test_golden_html(html: str) -> None:
    check_golden("scale.report.html", html)


def test_the_fixture_is_the_size_the_issue_asks_for(report: dict[str, Any]) -> None:
    protocols = [x["protocol"] for x in report["exposures"]]
    assert protocols.count("tcp") == 10_000 and protocols.count("udp") == 1_000


def test_terminal_is_a_page_not_ten_thousand_blocks(terminal: str) -> None:
    heads = [ln for ln in terminal.splitlines() if re.match(r"^[A-Z]{3,}\s", ln)]
    assert len(heads) < 25 and len(terminal.splitlines()) < 200
    # the largest group, worded as the issue asks, with its ranges
    assert (
        "HIGH      node on tcp 0.0.0.0 (3,999 ports): 20000–20499, 20501–23999  pid 812, alice"
        in terminal
    )
    # the one node port forwarded by UPnP has other reach and findings: its own block
    assert "CRITICAL  node on tcp 0.0.0.0:20500  pid 812, alice" in terminal
    # ranges past the fourth are counted, not listed
    assert "[::] (2,689 ports): 40000–40048, 40050–40098, 40100–40148, 40150–40198 and" in terminal
    assert "\n          51 more ranges\n" in terminal
    # one finding line per group, not per listener: the 2,689 Django listeners, the
    # 3,999 Vite ones and the UPnP-forwarded Vite port; the fix names its first port and
    # says the others are alike
    assert terminal.count("EA-DEV-001") == 3
    assert "on port 40000 (likewise on each port): Keep it on this machine" in terminal
    # fixes that differ in substance keep listeners apart (a Chrome and a Node debugger)
    assert "myservice on tcp 192.168.1.23:9222  pid" in terminal
    assert "myservice on tcp 192.168.1.23:9229  pid" in terminal
    assert "3002 more listeners reachable from this machine only (not shown)" in terminal


def test_worst_first_holds_with_groups(terminal: str) -> None:
    ranks = {"CRITICAL": 5, "HIGH": 4, "MEDIUM": 3, "LOW": 2, "INFO": 1, "EXPOSED": 0}
    heads = [ln.split()[0] for ln in terminal.splitlines() if re.match(r"^[A-Z]{3,}\s", ln)]
    order = [ranks[h] for h in heads[:-1]]  # the last is the verdict
    assert order == sorted(order, reverse=True) and order[0] == 5


def test_every_listener_is_in_exactly_one_group(report: dict[str, Any]) -> None:
    view = build_view(report)
    members = [x["id"] for g in view["groups"] for x in g["members"]]
    assert len(members) == len(set(members))
    expected = {
        x["id"] for x in report["exposures"] if x["exposed"] or x["findings"]
    }  # a block for each exposed listener, and each with a finding
    assert set(members) == expected
    for g in view["groups"]:
        ports = sorted(x["port"] for x in g["members"])
        assert g["count"] == len(g["members"]) and g["port_count"] == len(set(ports))
        first = g["members"][0]
        for x in g["members"]:
            assert (x["protocol"], x["address"], x["severity"]) == (
                first["protocol"],
                first["address"],
                first["severity"],
            )
            assert x["reachable_from"] == first["reachable_from"]


def test_html_is_small_and_says_what_was_folded(html: str) -> None:
    assert len(html) < 120_000  # grouped: no block per listener anywhere on the page
    assert html.count('<article class="card') < 25
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert svg.count("<title>") <= 24
    assert "7,983 more services folded into 6 groups" in html
    assert "3002 listeners reachable from this machine only are not drawn" in html
    assert "tcp 0.0.0.0 · 3,999 ports" in svg
    assert "udp 0.0.0.0:50000–50997 (998)" in svg
    table = html[html.index("<h3>Listening sockets") : html.index("<h3>Router")]
    assert table.count("<tr>") < 30
    assert "tcp 127.0.0.1:30000–32999 <span" in table  # loopback only: a row, not 3,000
    assert "(3,000 ports)" in table


def test_json_still_lists_every_listener_and_finding(report: dict[str, Any]) -> None:
    data = json.loads(render(Format.JSON, report))
    facts = scale_fixture.build()
    assert len(data["exposures"]) == 11_000
    assert len(data["facts"]["listeners"]) == 11_000
    want = {(lst.protocol, lst.address, lst.port) for lst in facts.listeners}
    assert {(x["protocol"], x["address"], x["port"]) for x in data["exposures"]} == want
    # a finding for each Django and each Vite port, each with its own port in its message
    dev = [f for f in data["findings"] if f["rule_id"] == "EA-DEV-001"]
    assert len(dev) == 2_689 + 4_000
    assert len({f["listener"]["port"] for f in dev}) == 2_689 + 4_000
    assert all(f":{f['listener']['port']} " in f["message"] for f in dev)
    assert len(data["findings"]) == data["summary"]["findings_total"] == 6_697
    ids = {x["id"] for x in data["exposures"]}
    assert all(f["exposure_id"] in ids for f in data["findings"])
    assert sum(len(x["findings"]) for x in data["exposures"]) == len(data["findings"])


def test_a_narrow_terminal_keeps_the_count_of_a_group(report: dict[str, Any]) -> None:
    out = render(Format.TERMINAL, report, RenderContext(width=40))
    assert all(len(line) <= 40 for line in out.splitlines())
    # the heading is cut at three lines, after the count, before the last ranges
    assert "HIGH      python3 on tcp [::] (2,689\n          ports): 40000–40048," in out
