"""The HTML report in real headless Chromium, driven over the DevTools protocol (a pipe,
no port): opened from disk it renders, loads nothing, logs no error, and hostile strings
from a process command line and a UPnP description stay text and never run.

Set EA_UPDATE_SCREENSHOT=1 to refresh docs/report.png (the README's screenshot).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import report_fixture
from cdp import Browser, chromium_skip_reason, distinct_colors, png_pixels

from exposure_audit.reporting import Format, render
from exposure_audit.reporting.document import build_report

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(chromium_skip_reason() is not None, reason=chromium_skip_reason() or ""),
]

REPO = Path(__file__).resolve().parent.parent
STAMP = "2026-11-27T14:00:05Z"


def _write(tmp_path: Path, hostile: bool) -> Path:
    report = build_report(report_fixture.build(hostile=hostile), generated_at=STAMP)
    path = tmp_path / ("hostile.html" if hostile else "report.html")
    path.write_text(render(Format.HTML, report), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both pages loaded once (Chromium starts in ~1 s; the module shares it)."""
    tmp = tmp_path_factory.mktemp("html")
    out: dict[str, Any] = {}
    with Browser(width=1200, height=900) as b:
        b.open_page()
        for hostile in (False, True):
            path = _write(tmp, hostile)
            b.events.clear()
            b.navigate(path.as_uri())
            b.drain(0.5)  # late console messages, stray requests
            out[hostile] = {
                "url": path.as_uri(),
                "events": list(b.events),
                "verdict": b.evaluate("document.getElementById('verdict').textContent"),
                "text": b.evaluate("document.body.textContent"),
                "counts": b.evaluate(
                    "JSON.stringify({img: document.querySelectorAll('img').length,"
                    " script: document.querySelectorAll('script').length,"
                    " handlers: [...document.querySelectorAll('*')].filter("
                    "   e => [...e.attributes].some(a => a.name.startsWith('on'))).length,"
                    " svgnodes: document.querySelectorAll('svg rect').length,"
                    " cards: document.querySelectorAll('article.card').length})"
                ),
                "shot": b.screenshot_top(1560),
                "small": b.screenshot(full_page=False, scale=0.25),
                "width": b.evaluate("document.documentElement.scrollWidth"),
            }
            b.call("Emulation.setEmulatedMedia", {"media": "print"})
            out[hostile]["print_small"] = b.screenshot(full_page=False, scale=0.25)
            out[hostile]["pdf"] = b.call("Page.printToPDF", {"printBackground": True})["data"]
            b.call("Emulation.setEmulatedMedia", {"media": ""})
    yield out


@pytest.mark.parametrize("hostile", [False, True])
def test_no_network_requests(loaded: dict[str, Any], hostile: bool) -> None:
    page = loaded[hostile]
    urls = [
        e["params"]["request"]["url"]
        for e in page["events"]
        if e["method"] == "Network.requestWillBeSent"
    ]
    assert urls == [page["url"]], f"the page requested more than itself: {urls}"


@pytest.mark.parametrize("hostile", [False, True])
def test_no_console_errors_or_exceptions(loaded: dict[str, Any], hostile: bool) -> None:
    """A CSP violation (a blocked inline style or script) would be logged here too."""
    bad = [
        e
        for e in loaded[hostile]["events"]
        if e["method"] in ("Runtime.exceptionThrown", "Runtime.consoleAPICalled")
        or (
            e["method"] == "Log.entryAdded"
            and e["params"]["entry"]["level"] in ("error", "warning")
        )
    ]
    assert not bad, json.dumps(bad, indent=1)[:3000]


@pytest.mark.parametrize("hostile", [False, True])
def test_verdict_in_the_dom(loaded: dict[str, Any], hostile: bool) -> None:
    verdict = " ".join(loaded[hostile]["verdict"].split())
    assert "6 services on laptop are reachable from other machines:" in verdict
    assert "1 from the internet" in verdict
    counts = json.loads(loaded[hostile]["counts"])
    assert counts["cards"] == 7 and counts["svgnodes"] >= 10


def test_hostile_payload_is_text_and_never_runs(loaded: dict[str, Any]) -> None:
    page = loaded[True]
    dialogs = [e for e in page["events"] if e["method"] == "Page.javascriptDialogOpening"]
    assert not dialogs, dialogs
    counts = json.loads(page["counts"])
    assert counts == {**counts, "img": 0, "script": 0, "handlers": 0}
    text = page["text"]
    assert report_fixture.XSS_IMG in text  # the cmdline, shown as text
    assert report_fixture.XSS_SCRIPT in text  # the UPnP description, shown as text
    assert "HomeRouter<img src=x onerror=alert(1)>" in text  # the router's friendly name


@pytest.mark.parametrize("hostile", [False, True])
def test_screenshot_is_not_blank(loaded: dict[str, Any], hostile: bool) -> None:
    page = loaded[hostile]
    width, height, _rows = png_pixels(page["small"])
    assert width >= 250 and height >= 200
    assert distinct_colors(page["small"]) > 200  # text, badges, the diagram: not a blank page
    assert page["width"] <= 1200  # nothing overflows sideways
    assert distinct_colors(page["print_small"]) > 50
    assert len(page["pdf"]) > 10_000
    if not hostile and os.environ.get("EA_UPDATE_SCREENSHOT") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        (REPO / "docs" / "report.png").write_bytes(page["shot"])


@pytest.fixture(scope="module")
def scale_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The 10,000 + 1,000 listener report (tests/scale_fixture.py), grouped."""
    import scale_fixture

    path = tmp_path_factory.mktemp("html-scale") / "scale.html"
    path.write_text(render(Format.HTML, scale_fixture.report()), encoding="utf-8")
    with Browser(width=1200, height=900) as b:
        b.open_page()
        b.navigate(path.as_uri())
        b.drain(0.5)
        yield {
            "url": path.as_uri(),
            "events": list(b.events),
            "layout": json.loads(
                b.evaluate(
                    """JSON.stringify((() => {
                    const box = e => { const r = e.getBoundingClientRect();
                        return {x: r.x, y: r.y + scrollY, w: r.width, h: r.height}; };
                    const folded = document.getElementById('folded');
                    const svg = document.querySelector('.diagram svg');
                    return {
                      width: document.documentElement.scrollWidth,
                      height: document.documentElement.scrollHeight,
                      folded: folded && {text: folded.textContent, box: box(folded),
                        visibility: getComputedStyle(folded).visibility,
                        display: getComputedStyle(folded).display},
                      svg: box(svg),
                      nodes: [...svg.querySelectorAll('g > g > rect')].map(box),
                      texts: [...svg.querySelectorAll('text')].map(t => box(t).h),
                      cards: document.querySelectorAll('article.card').length,
                      rows: document.querySelectorAll('table tr').length,
                    }; })())"""
                )
            ),
            "small": b.screenshot(full_page=False, scale=0.25),
            "pdf": b.call("Page.printToPDF", {"printBackground": True})["data"],
        }


def test_scale_page_loads_nothing_and_logs_nothing(scale_page: dict[str, Any]) -> None:
    urls = [
        e["params"]["request"]["url"]
        for e in scale_page["events"]
        if e["method"] == "Network.requestWillBeSent"
    ]
    assert urls == [scale_page["url"]]
    bad = [
        e
        for e in scale_page["events"]
        if e["method"] in ("Runtime.exceptionThrown", "Runtime.consoleAPICalled")
        or (
            e["method"] == "Log.entryAdded"
            and e["params"]["entry"]["level"] in ("error", "warning")
        )
    ]
    assert not bad, json.dumps(bad, indent=1)[:3000]


def test_scale_page_says_what_was_folded_where_it_can_be_seen(scale_page: dict[str, Any]) -> None:
    layout = scale_page["layout"]
    folded = layout["folded"]
    assert folded is not None
    assert "7,983 more services folded into 6 groups" in folded["text"]
    assert folded["visibility"] == "visible" and folded["display"] != "none"
    box = folded["box"]
    assert box["w"] > 300 and box["h"] >= 12  # laid out, on one line or more
    assert box["y"] > layout["svg"]["y"] + layout["svg"]["h"] - 1  # under the picture
    assert box["x"] >= 0 and box["x"] + box["w"] <= layout["width"]


def test_scale_page_is_legible(scale_page: dict[str, Any]) -> None:
    layout = scale_page["layout"]
    assert layout["width"] <= 1200  # nothing overflows sideways
    assert layout["height"] < 15_000  # a page to read, not 11,000 cards and rows
    assert layout["cards"] < 25 and layout["rows"] < 60
    # the picture: a legible number of nodes, none overlapping, text not shrunk away
    nodes = layout["nodes"]
    assert 10 <= len(nodes) <= 3 + 24
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            apart = (
                a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
            )  # fmt: skip
            assert apart, (a, b)
    assert min(layout["texts"]) >= 11  # CSS pixels: the SVG is not scaled down to fit
    assert layout["svg"]["h"] < 2_000
    assert distinct_colors(scale_page["small"]) > 100
    assert len(scale_page["pdf"]) > 10_000


def test_alike_processes_page_is_legible(tmp_path: Path) -> None:
    """4,000 docker-proxy processes (scale_fixture.build_proxies): one card that says how
    many processes and which pids, nothing overflowing sideways, nothing loaded."""
    import scale_fixture

    path = tmp_path / "alike.html"
    page = render(Format.HTML, scale_fixture.report(scale_fixture.build_proxies()))
    path.write_text(page, encoding="utf-8")
    with Browser(width=1200, height=900) as b:
        b.open_page()
        b.navigate(path.as_uri())
        b.drain(0.5)
        events = list(b.events)
        layout = json.loads(
            b.evaluate(
                """JSON.stringify((() => {
                const card = [...document.querySelectorAll('article.card')]
                    .find(c => c.textContent.includes('4,000 processes'));
                const who = card && card.querySelector('.who');
                const r = who && who.getBoundingClientRect();
                return {
                  width: document.documentElement.scrollWidth,
                  cards: document.querySelectorAll('article.card').length,
                  who: who && who.textContent, whoBox: r && {x: r.x, w: r.width, h: r.height},
                  processes: card && [...card.querySelectorAll('.row')]
                    .map(row => row.textContent).filter(t => t.startsWith('Processes')),
                }; })())"""
            )
        )
    assert [e for e in events if e["method"] == "Runtime.exceptionThrown"] == []
    assert layout["width"] <= 1200 and layout["cards"] == 9
    assert layout["who"].startswith("4,000 processes (pids 10000–11999, 12100–14099)")
    box = layout["whoBox"]
    assert box["w"] > 100 and box["h"] >= 10 and box["x"] + box["w"] <= 1200
    assert layout["processes"] == ["Processespids 10000–11999, 12100–14099"]
