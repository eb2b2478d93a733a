"""The HTML report as text: self-contained, escaped, CSP-locked, and the same findings
as the JSON. (tests/test_html_chromium.py loads it in a real browser.)"""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import report_fixture
from golden_util import check_golden

from exposure_audit.core import records
from exposure_audit.core.errors import ConfigError
from exposure_audit.reporting import Format, RenderContext, render
from exposure_audit.reporting.document import build_report

STAMP = "2026-11-27T14:00:05Z"
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}


def _report(hostile: bool = False) -> dict[str, Any]:
    return build_report(report_fixture.build(hostile=hostile), generated_at=STAMP)


def _html(report: dict[str, Any] | None = None, **ctx: Any) -> str:
    return render(Format.HTML, report or _report(), RenderContext(**ctx))


class _Collect(HTMLParser):
    """Every start tag with its attributes, the text, and the open-tag stack check."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.style: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        (self.style if self._in_style else self.text).append(data)


def _parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    p.close()
    return p


def test_golden_html() -> None:
    check_golden("laptop.report.html", _html())


def test_well_formed_and_self_contained() -> None:
    html = _html()
    p = _parse(html)
    assert not p.errors and not p.stack, (p.errors, p.stack)
    names = [t for t, _ in p.tags]
    assert "script" not in names and "link" not in names and "iframe" not in names
    assert "img" not in names and "object" not in names and "embed" not in names
    for tag, attrs in p.tags:
        for key, value in attrs.items():
            assert not key.startswith("on"), f"event handler {key} on <{tag}>"
            assert key != "style", f"inline style attribute on <{tag}> (the CSP would block it)"
            if key in ("src", "srcset", "action", "poster", "data"):
                raise AssertionError(f"<{tag} {key}={value!r}>: nothing may be loaded")
            if key == "href" and tag != "a":
                raise AssertionError(f"<{tag} href>: nothing may be loaded")
    css = "".join(p.style)
    assert "url(" not in css and "@import" not in css


def test_csp_allows_exactly_the_inline_style() -> None:
    html = _html()
    p = _parse(html)
    metas = [
        a for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert len(metas) == 1
    csp = str(metas[0]["content"])
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["default-src"] == "'none'"
    assert "script-src" not in directives  # falls back to 'none'
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert directives["style-src"] == f"'sha256-{digest}'"
    # The CSP meta comes before anything it must govern.
    assert html.index("Content-Security-Policy") < html.index("<style>")


def test_hostile_strings_are_escaped() -> None:
    html = _html(_report(hostile=True))
    assert report_fixture.XSS_IMG not in html
    assert report_fixture.XSS_SCRIPT not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in html
    p = _parse(html)
    text = "".join(p.text)
    assert report_fixture.XSS_IMG in text  # shown to the reader as text
    assert not p.errors and not p.stack
    assert [t for t, _ in p.tags].count("script") == 0


def test_verdict_counts_and_sections() -> None:
    html = _html()
    text = " ".join("".join(_parse(html).text).split())
    assert "6 services on laptop are reachable from other machines:" in text
    assert "1 from the internet (a UPnP port mapping on the router)" in text
    for section in ("What reaches what", "Findings, by service", "Interfaces and addresses",
                    "Listening sockets", "Router (UPnP)", "Warnings"):  # fmt: skip
        assert section in text
    assert "jupyter notebook --ip=127.0.0.1" in text  # the fix
    assert "HomeRouter" in text and "203.0.113.7" in text
    assert "1 listener's process could not be read" in text


def test_findings_grouped_by_listener_worst_first() -> None:
    html = _html()
    cards = re.findall(r'<article class="card s-([a-z]+)">', html)
    assert cards == ["critical", "high", "high", "medium", "low", "waived", "none"]
    first = html.split("<article")[1]
    assert "EA-UPNP-001" in first and "EA-DEV-003" in first


def test_diagram_draws_every_exposed_listener() -> None:
    html = _html()
    svg = html[html.index("<svg") : html.index("</svg>")]
    for name in ("jupyter-notebook", "node", "sshd", "prometheus", "avahi-daemon"):
        assert f">{name}</text>" in svg
    assert "unknown process (uid 1001)" in svg
    assert "Router: HomeRouter" in svg and "Internet" in svg
    assert "wlan0 · local network" in svg and "tailscale0 · VPN" in svg
    assert "nothing listening (:3389)" in svg
    assert "postgres" not in svg  # loopback only: not drawn
    assert 'stroke-dasharray="7 5"' in svg  # the UPnP forward


def test_quiet_host_page() -> None:
    html = _html(build_report(report_fixture.quiet_host(), generated_at=STAMP))
    assert "Nothing on laptop is reachable from other machines" in html
    assert "Nothing reachable beyond this machine" in html
    assert "all clear" in html


def test_user_html_template_is_autoescaped(tmp_path: Path) -> None:
    tpl = tmp_path / "mine.html.j2"
    tpl.write_text(
        "<p>{{ report.exposures[0].process.cmdline|join(' ') }}</p>"
        "<p>{{ report.facts.upnp.friendly_name }}</p>"
    )
    out = _html(_report(hostile=True), template=tpl)
    assert "<img" not in out and "&lt;img src=x" in out


def test_broken_html_template(tmp_path: Path) -> None:
    tpl = tmp_path / "bad.html.j2"
    tpl.write_text("<p>\n{% if %}</p>")
    with pytest.raises(ConfigError, match=r"bad.html.j2, line 2"):
        _html(template=tpl)


def _with_copies(owners: int) -> dict[str, Any]:
    """The fixture plus 30 copies of its unattributed 0.0.0.0:6000 socket (no findings)
    on ports 10000-10029, owned by ``owners`` different uids in turn."""
    ev = report_fixture.build()
    base = ev.exposures[5]
    assert base.listener.process is None and base.listener.port == 6000
    many = tuple(
        records.replace(
            base, listener=records.replace(base.listener, port=10000 + i, uid=2000 + i % owners)
        )
        for i in range(30)
    )
    return build_report(records.replace(ev, exposures=ev.exposures + many), generated_at=STAMP)


def test_diagram_caps_the_number_of_listeners_drawn() -> None:
    from exposure_audit.reporting.html import MAX_DIAGRAM_LISTENERS

    report = _with_copies(owners=30)  # each its own owner: nothing folds
    html = _html(report)
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert svg.count("<title>") == MAX_DIAGRAM_LISTENERS
    exposed = sum(1 for x in report["exposures"] if x["exposed"])
    assert f"{exposed - MAX_DIAGRAM_LISTENERS} more exposed listeners not drawn;" in html
    assert "folded" not in html
    assert html.count('<article class="card') == 7 + 30  # every one is still listed


def test_listeners_differing_only_in_port_are_one_card_and_one_node() -> None:
    report = _with_copies(owners=2)  # uid 2000 on even ports, 2001 on odd ones
    html = _html(report)
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert html.count('<article class="card') == 7 + 2
    cards = html.split("<article")[1:]
    even = next(c for c in cards if "owner uid 2000" in c)
    assert "tcp 0.0.0.0:10000, 10002, 10004, 10006 and 11 more ranges" in even
    assert "15 ports" in even
    assert "10000, 10002, 10004" in even and "10026, 10028</div>" in even  # the full list
    assert svg.count("<title>") == 6 + 2
    assert "tcp 0.0.0.0 · 15 ports" in svg
    assert "28 more services folded into 2 groups" in html
    # the socket table: one row per owner for the copies
    table = html[html.index("<h3>Listening sockets") :]
    assert table.count("(15 ports)") == 2
    # the JSON document under it still has each listener
    assert sum(1 for x in report["exposures"] if 10000 <= x["port"] < 10030) == 30


def test_any_string_from_a_process_stays_text() -> None:
    """Property: whatever a process or the router calls itself, the page keeps its
    structure (no tag opened or closed by data) and the string reads back as text."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from test_render_terminal import _with_strings

    base = _parse(_html())
    base_tags = [t for t, _ in base.tags]

    alphabet = st.sampled_from(list("<>&\"'/= abcscriptimgonerror()!-[]{}`\\"))

    @settings(max_examples=40, deadline=None)
    @given(st.text(alphabet, max_size=40), st.text(alphabet, max_size=60))
    def check(name: str, desc: str) -> None:
        p = _parse(_html(_with_strings(name, name, desc)))
        assert [t for t, _ in p.tags] == base_tags
        assert not p.errors and not p.stack

    check()


def test_legend_explains_dotted_lines_when_the_firewall_filters_a_path() -> None:
    report = _report()
    assert "dotted" not in _html(report)  # nothing filtered: nothing to explain
    for r in report["exposures"][0]["reach"]:
        r["firewall"] = "filtered"
    html = _html(report)
    assert 'stroke-dasharray="2 4"' in html
    assert "dotted, faded: the firewall filters this path" in html
    assert "dashed: forwarded by the router (UPnP)" in html


def _hostile_group() -> dict[str, Any]:
    """The hostile laptop plus ten more sockets of its hostile Jupyter process (name and
    command line carry HTML and ANSI payloads), on ports 20000-20009: one group."""
    ev = report_fixture.build(hostile=True)
    x = ev.exposures[0]
    assert x.listener.process is not None and report_fixture.XSS_IMG in x.listener.process.cmdline
    many = tuple(
        records.replace(x, listener=records.replace(x.listener, port=20000 + i), upnp_mappings=())
        for i in range(10)
    )
    return build_report(records.replace(ev, exposures=ev.exposures + many), generated_at=STAMP)


def test_hostile_strings_in_a_group_stay_text() -> None:
    html = _html(_hostile_group())
    assert "0.0.0.0:20000–20009" in html and "(10)" in html  # a card and a node
    assert report_fixture.XSS_IMG not in html and report_fixture.XSS_SCRIPT not in html
    p = _parse(html)
    assert not p.errors and not p.stack
    names = [t for t, _ in p.tags]
    assert "script" not in names and "img" not in names
    text = "".join(p.text)
    assert report_fixture.XSS_IMG in text
    card = html[html.index("0.0.0.0:20000–20009") :].split("</article>")[0]
    assert "&lt;img src=x onerror=alert(1)&gt;" in card


def test_finding_card_says_what_the_service_is_and_from_what_evidence() -> None:
    from exposure_audit.analysis.evaluate import EvaluateOptions, evaluate
    from exposure_audit.core.serialize import load_facts
    from exposure_audit.policy.config import Config

    facts = load_facts(Path(__file__).parent / "fixtures" / "golden" / "probed_dev.facts.json")
    report = build_report(evaluate(facts, EvaluateOptions(config=Config())), generated_at=STAMP)
    page = _parse(_html(report))
    text = " ".join(page.text)
    # Probe evidence first, in the card of the finding it decided.
    assert "Identified" in text
    assert "Redis (protected mode) from what the service answered when asked" in re.sub(
        r"\s+", " ", text
    )
    assert "answered PING with '-DENIED" in text
    # A catalogue guess is worded as one.
    assert "from the port number only (a likelihood, not verified)" in text
    # The service's own bytes stay text (an escape sequence is shown, not sent).
    assert "\x1b" not in text and "\\x1b[31mHACKED" in text
    assert not page.errors
