"""The fleet HTML page in real headless Chromium: it renders from disk, requests nothing
but itself, logs no error (no CSP violation), and hostile strings from hosts' reports
(hostnames, rule titles, process names) stay text and never run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import report_fixture
from cdp import Browser, chromium_skip_reason, distinct_colors
from test_fleet import fleet, host_report, hostile_tree, write

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(chromium_skip_reason() is not None, reason=chromium_skip_reason() or ""),
]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("fleet")
    d = hostile_tree(tmp)
    write(d / "plain" / "report.json", host_report("plain"))
    out = d / "fleet.html"
    fleet(str(d), "-o", str(out), "--fail-on", "none")
    with Browser(width=1200, height=900) as b:
        b.open_page()
        b.events.clear()
        b.navigate(out.as_uri())
        b.drain(0.5)
        return {
            "url": out.as_uri(),
            "events": list(b.events),
            "text": b.evaluate("document.body.textContent"),
            "counts": json.loads(
                b.evaluate(
                    "JSON.stringify({img: document.querySelectorAll('img').length,"
                    " script: document.querySelectorAll('script').length,"
                    " links: [...document.querySelectorAll('a')].map(a => a.href),"
                    " handlers: [...document.querySelectorAll('*')].filter("
                    "   e => [...e.attributes].some(a => a.name.startsWith('on'))).length,"
                    " rows: document.querySelectorAll('tr').length})"
                )
            ),
            "small": b.screenshot(full_page=False, scale=0.25),
        }


def test_requests_nothing_but_itself(page: dict[str, Any]) -> None:
    urls = [
        e["params"]["request"]["url"]
        for e in page["events"]
        if e["method"] == "Network.requestWillBeSent"
    ]
    assert urls == [page["url"]]


def test_no_errors_no_script(page: dict[str, Any]) -> None:
    noisy = ("Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Page.javascriptDialogOpening")
    bad = [
        e
        for e in page["events"]
        if e["method"] in noisy
        or (
            e["method"] == "Log.entryAdded"
            and e["params"]["entry"]["level"] in ("error", "warning")
        )
    ]
    assert not bad, json.dumps(bad)[:2000]
    c = page["counts"]
    assert (c["img"], c["script"], c["handlers"]) == (0, 0, 0)
    assert c["rows"] > 10


def test_hostile_text_shown_as_text(page: dict[str, Any]) -> None:
    assert report_fixture.XSS_SCRIPT in page["text"]  # the hostname, as text
    assert all(link.startswith("file://") for link in page["counts"]["links"])
    assert page["counts"]["links"], "each host's report is linked"
    assert distinct_colors(page["small"]) > 50


def test_links_resolve_to_the_reports(page: dict[str, Any]) -> None:
    from urllib.parse import unquote, urlparse

    for link in page["counts"]["links"]:
        assert Path(unquote(urlparse(link).path)).is_file(), link
