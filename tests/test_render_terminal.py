"""The terminal summary: worst first, one block per listener, plain words, the fix; no
colour unless asked; nothing from a process can drive the terminal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import report_fixture
from golden_util import check_golden

from exposure_audit.core import records
from exposure_audit.core.errors import ConfigError
from exposure_audit.reporting import Format, RenderContext, render
from exposure_audit.reporting.document import build_report
from exposure_audit.reporting.rendering import clean_text

STAMP = "2026-11-27T14:00:05Z"
SGR = re.compile(r"\x1b\[[0-9;]*m")


def _report(hostile: bool = False) -> dict[str, Any]:
    return build_report(report_fixture.build(hostile=hostile), generated_at=STAMP)


def _term(report: dict[str, Any] | None = None, **ctx: Any) -> str:
    return render(Format.TERMINAL, report or _report(), RenderContext(**ctx))


def test_golden_terminal() -> None:
    check_golden("laptop.terminal.txt", _term(width=100))


def test_golden_terminal_quiet_host() -> None:
    r = build_report(report_fixture.quiet_host(), generated_at=STAMP)
    check_golden("quiet-host.terminal.txt", _term(r, width=100))


def test_quiet_is_one_verdict_line() -> None:
    out = _term(quiet=True)
    assert out.count("\n") == 1 and out.endswith("\n")
    assert out.startswith("CRITICAL: 6 services on laptop are reachable from other machines:")
    assert "1 critical, 3 high, 1 medium, 1 low findings, 1 waived" in out


def test_blocks_are_worst_first_and_grouped_by_listener() -> None:
    out = _term(width=100)
    heads = [ln.split()[0] for ln in out.splitlines() if re.match(r"^[A-Z]{3,}\s", ln)]
    assert heads[:6] == ["CRITICAL", "HIGH", "HIGH", "MEDIUM", "LOW", "WAIVED"]
    # Two rules on the Jupyter socket: one block, both rules, both fixes.
    assert out.count("jupyter-notebook on tcp 0.0.0.0:8888") == 1
    block = out.split("\n\n")[1]
    assert "EA-UPNP-001" in block and "EA-DEV-003" in block
    assert "upnpc -d 8888 TCP" in block and "jupyter notebook --ip=127.0.0.1" in block
    assert "everyone on wlan0 (192.168.1.0/24)" in block
    assert "the internet via the router: port 8888/tcp" in block


def test_exposed_listener_without_rules_is_still_listed() -> None:
    """Issue 2: every listener reachable beyond loopback is listed, rule or not."""
    out = _term(width=100)
    assert "EXPOSED   unknown process on tcp 0.0.0.0:6000" in out
    assert "socket owner uid 1001" in out
    # Loopback-only listeners are counted, not listed.
    assert "postgres" not in out and "5432" not in out
    assert "2 more listeners reachable from this machine only" in out


def test_waived_findings_do_not_count_in_the_verdict() -> None:
    out = _term(width=100)
    assert "waived EA-MDNS-001: desktop mDNS is expected" in out
    last = out.strip().splitlines()[-1]
    assert "1 waived" in last and "info" not in last


def test_dangling_mapping_block() -> None:
    out = _term(width=100)
    assert "router forwards port 3389/tcp to 192.168.1.23:3389, where nothing listens" in out
    assert "upnpc -d 3389 TCP" in out


@pytest.mark.parametrize("width", [40, 60, 80, 100, 140])
def test_lines_fit_the_width(width: int) -> None:
    for report in (_report(), _report(hostile=True)):
        for line in _term(report, width=width).splitlines():
            assert len(line) <= width, f"{len(line)} > {width}: {line!r}"


def test_no_colour_unless_asked() -> None:
    assert "\x1b" not in _term()
    coloured = _term(color=True)
    assert SGR.search(coloured)
    assert SGR.sub("", coloured) == _term()


@pytest.mark.parametrize("color", [False, True])
def test_control_characters_from_processes_are_neutralised(color: bool) -> None:
    """Process names and cmdlines are attacker-chosen: an ESC, BEL, CR or bidi override in
    them is shown as text, never sent to the terminal."""
    out = _term(_report(hostile=True), width=300, color=color)
    without_ours = SGR.sub("", out)
    bad = [c for c in without_ours if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0]
    assert not bad, f"raw control characters in the output: {bad!r}"
    assert "jupyter-notebook\\x1b[2J\\x1b]0;pwned\\x07evil\\x0dOVERWRITE" in without_ours


def test_clean_text_escapes_every_kind_of_control() -> None:
    assert clean_text("a\x1b[31mb") == "a\\x1b[31mb"
    assert clean_text("x\x9by") == "x\\x9by"  # C1 CSI
    assert clean_text("evil\u202eexe.txt") == "evil\\u202eexe.txt"  # bidi override
    assert clean_text("bad\udcffname") == "bad\\udcffname"  # undecodable byte
    assert clean_text("tab\there\nnl") == "tab\\x09here\\x0anl"
    assert clean_text("plain ü → ok") == "plain ü → ok"


def test_user_template(tmp_path: Path) -> None:
    tpl = tmp_path / "mine.txt.j2"
    tpl.write_text(
        "{{ summary.status|upper_ }} {{ report.host.hostname }}\n"
        "{% for b in view.blocks %}{{ b.exposure.id if b.exposure else 'mapping' }}\n{% endfor %}"
        "{{ report.exposures[0].process.cmdline|cmd }}\n"
    )
    out = _term(_report(hostile=True), template=tpl)
    lines = out.splitlines()
    assert lines[0] == "CRITICAL laptop"
    assert lines[1] == "tcp/0.0.0.0/8888"
    assert "\x1b" not in out  # user templates get the same cleaning


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% for x in %}", "line 1"),
        ("ok\n{{ report.no_such_key }}", "no_such_key"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "template"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ],
)
def test_broken_template_is_a_config_error(tmp_path: Path, source: str, message: str) -> None:
    tpl = tmp_path / "bad.j2"
    tpl.write_text(source)
    with pytest.raises(ConfigError, match=message):
        _term(template=tpl)


def test_published_container_port_without_a_host_socket() -> None:
    """Docker/Podman DNAT with no socket on the host: named by its container, the fix is
    to publish on loopback (not to rebind a process that does not exist here)."""

    from exposure_audit.core.model import Exposure, Listener, Reach

    lst = Listener(
        "tcp",
        "ipv4",
        "0.0.0.0",
        8080,
        source="dnat",
        notes=("no socket on this host: port 8080 is DNAT to 172.17.0.5:80",),
    )
    x = Exposure(
        lst,
        (Reach("wlan0", "192.168.1.23", "lan", "192.168.1.0/24"),),
        "lan",
        ("lan",),
        published_by="docker",
        container="web",
    )
    ev = report_fixture.build()
    report = build_report(records.replace(ev, exposures=(*ev.exposures, x)), generated_at=STAMP)
    out = _term(report, width=100)
    block = out[out.index("EXPOSED   docker container web on tcp 0.0.0.0:8080") :].split("\n\n")[0]
    assert "DNAT to 172.17.0.5:80" in block
    assert "docker run -p 127.0.0.1:8080:" in block
    html = render(Format.HTML, report)
    assert "docker container web" in html and "docker run -p 127.0.0.1:8080:" in html


def _with_strings(name: str, arg: str, desc: str) -> dict[str, Any]:

    ev = report_fixture.build()
    x = ev.exposures[0]
    assert x.listener.process is not None
    proc = records.replace(x.listener.process, name=name, cmdline=(arg, arg))
    mapping = records.replace(x.upnp_mappings[0], description=desc)
    x2 = records.replace(
        x, listener=records.replace(x.listener, process=proc), upnp_mappings=(mapping,)
    )
    findings = tuple(records.replace(f, exposure=x2) if f.exposure is x else f
                     for f in ev.findings)  # fmt: skip
    ev = records.replace(ev, exposures=(x2, *ev.exposures[1:]), findings=findings)
    return build_report(ev, generated_at=STAMP)


def test_any_string_from_a_process_stays_inert() -> None:
    """Property: whatever a process or the router calls itself, the terminal output holds
    no control character, and every line still fits the width."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=40, deadline=None)
    @given(st.text(max_size=60), st.text(max_size=80), st.text(max_size=60))
    def check(name: str, arg: str, desc: str) -> None:
        out = _term(_with_strings(name, arg, desc), width=80)
        bad = [c for c in out if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0]
        assert not bad
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out)
        for line in out.splitlines():
            assert len(line) <= 80, line

    check()


def _with_finding_on(port: int, **kw: Any) -> dict[str, Any]:
    """The laptop, with one more finding on its listener on ``port``."""
    from exposure_audit.core.model import Finding

    ev = report_fixture.build()
    x = next(x for x in ev.exposures if x.listener.port == port)
    f = Finding(
        "EA-TEST-001",
        kw.pop("severity", "low"),
        "Test finding",
        "a test finding",
        "Bind it elsewhere.",
        f"EA-TEST-001:{x.key}",
        exposure=x,
        **kw,
    )
    return build_report(records.replace(ev, findings=(*ev.findings, f)), generated_at=STAMP)


def test_loopback_count_leaves_out_listeners_already_shown() -> None:
    """Two loopback-only listeners, one of them shown for a LOW finding: "1 more", not "2"."""
    report = _with_finding_on(5432)  # postgres on 127.0.0.1
    out = _term(report, width=100)
    assert "postgres on tcp 127.0.0.1:5432" in out
    assert "1 more listener reachable from this machine only (not shown)" in out
    assert "2 more listeners" not in out


def test_expired_waiver_is_said() -> None:
    """A finding whose waiver expired counts again: the terminal says so, as JSON and HTML do."""
    reason = "waiver expired on 2026-01-31: postgres for the demo"
    report = _with_finding_on(5432, waiver_reason=reason, waiver_expired=True)
    for width in (40, 100):
        out = _term(report, width=width)
        block = out[out.index("postgres on tcp") :].split("\n\n")[0]
        said = " ".join(block.split())
        assert "EA-TEST-001" in said
        assert "waiver expired on 2026-01-31: postgres for the demo; it counts again" in said


@pytest.mark.parametrize(
    "message",
    [
        "UPnP not checked (--no-upnp)",
        "UPnP not checked (EXPOSURE_AUDIT_NO_UPNP=1)",
        "no Internet Gateway Device answered within 2.0 s",
    ],
)
def test_upnp_line_says_it_once(message: str) -> None:
    line = "UPnP: " + message.removeprefix("UPnP ")
    from exposure_audit.core.model import UpnpFacts

    ev = report_fixture.quiet_host()
    status = "disabled" if "not checked" in message else "not_found"
    facts = records.replace(ev.facts, upnp=UpnpFacts(status=status, message=message))
    out = _term(build_report(records.replace(ev, facts=facts), generated_at=STAMP), width=80)
    assert line in out.splitlines()
    assert "UPnP: UPnP" not in out


@pytest.mark.parametrize(
    ("firewall", "warned", "line"),
    [
        (("none", None), False, "firewall: no rules loaded (nftables/iptables empty): nothing"),
        (("unavailable", "no firewall tool found"), False, "firewall: not read: no firewall tool"),
        (("unavailable", "no firewall tool found"), True, None),  # the warning says it
        (("nftables", None), False, None),
        (None, False, None),
    ],
)
def test_firewall_line(firewall: tuple[str, str | None] | None, warned: bool, line: str) -> None:
    """Read and empty: one line says nothing filters; not read: why (once)."""
    from exposure_audit.core.model import CollectorWarning, FirewallFacts

    ev = report_fixture.quiet_host()
    fw = FirewallFacts(firewall[0], message=firewall[1]) if firewall else None
    warnings = (CollectorWarning("firewall", "no firewall tool found"),) if warned else ()
    facts = records.replace(ev.facts, firewall=fw, warnings=warnings)
    ev = records.replace(ev, facts=facts, warnings=warnings)
    for width in (40, 80):
        out = _term(build_report(ev, generated_at=STAMP), width=width)
        said = " ".join(out.split())
        if line is None:
            assert "firewall:" not in said
        else:
            assert line in said


def test_firewall_line_no_firewall_option() -> None:
    report = build_report(
        report_fixture.quiet_host(), generated_at=STAMP, options={"firewall": False}
    )
    assert "firewall: not read (--no-firewall)" in _term(report, width=100)
    report["options"]["facts_file"] = "facts.json"  # replayed Facts: the option says nothing
    assert "firewall:" not in _term(report, width=100)


JAVA = (
    "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
    "-Xms512m",
    "-Xmx4g",
    "-XX:+UseG1GC",
    "-Dspring.profiles.active=dev",
    "-Dserver.address=0.0.0.0",
    "-classpath",
    "/opt/app/lib/spring-boot-3.2.1.jar:/opt/app/lib/jackson-databind-2.16.0.jar",
    "com.example.DemoApplication",
    "--server.port=5173",
)


def _long_cmdline() -> dict[str, Any]:
    """The laptop, its dev server (node on [::]:5173) a JVM with a long command line."""
    ev = report_fixture.build()
    x = next(x for x in ev.exposures if x.listener.port == 5173)
    assert x.listener.process is not None
    proc = records.replace(x.listener.process, name="java", exe=JAVA[0], cmdline=JAVA)
    x2 = records.replace(x, listener=records.replace(x.listener, process=proc))
    exposures = tuple(x2 if e is x else e for e in ev.exposures)
    findings = tuple(records.replace(f, exposure=x2) if f.exposure is x else f
                     for f in ev.findings)  # fmt: skip
    return build_report(
        records.replace(ev, exposures=exposures, findings=findings), generated_at=STAMP
    )


@pytest.mark.parametrize("width", [40, 80])
def test_golden_terminal_long_cmdline(width: int) -> None:
    check_golden(f"long-cmdline.terminal.{width}.txt", _term(_long_cmdline(), width=width))


@pytest.mark.parametrize("width", [40, 80])
def test_narrow_keeps_indent_pid_and_the_command(width: int) -> None:
    """Continuation lines keep their indent; a long command line wraps (at most 4
    lines, then " …"); pid and user stay visible; no endpoint is cut."""
    out = _term(_long_cmdline(), width=width)
    lines = out.splitlines()
    assert lines[1].startswith("  ") if width == 40 else lines[1] == ""  # header wraps
    for pid, user in [(4242, "alice"), (5150, "alice"), (812, "root"), (2020, "alice")]:
        assert f"pid {pid}, {user}" in out
    for endpoint in ["0.0.0.0:8888", "[::]:5173", "0.0.0.0:22", "100.101.102.103:9090"]:
        assert endpoint in out
    what = lines.index(next(ln for ln in lines if ln.startswith("  what  /usr/lib/jvm/")))
    cmd = [lines[what]]
    for ln in lines[what + 1 :]:
        if not ln.startswith("        ") or ln.startswith("  from"):
            break
        cmd.append(ln)
    assert 2 <= len(cmd) <= 4
    assert cmd[-1].endswith(" …") == (width == 40)
    if width == 80:
        assert "--server.port=5173" in cmd[-1]
    heads = [ln for ln in lines if re.match(r"^[A-Z]{3,}\s", ln)]
    assert heads and not any(ln.endswith("…") for ln in lines[:2] + heads)  # nothing cut


def test_hostile_strings_in_a_group_cannot_drive_the_terminal() -> None:
    from test_render_html import _hostile_group

    out = _term(_hostile_group(), width=80)
    assert "tcp 0.0.0.0 (10 ports): 20000–20009" in out
    bad = [c for c in out if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0]
    assert not bad
    assert "\\x1b[2J" in out  # the payload, shown as an escape
    assert all(len(line) <= 80 for line in out.splitlines())


def test_entries_past_the_cap_are_counted_not_shown() -> None:
    """Listeners that do not fold (each its own owner) still make a readable report: the
    least severe entries past MAX_BLOCKS are left out, and both formats say so."""
    from exposure_audit.reporting.view import MAX_BLOCKS

    ev = report_fixture.build()
    base = ev.exposures[5]  # the unattributed 0.0.0.0:6000 socket, no findings
    assert base.listener.process is None
    many = tuple(
        records.replace(base, listener=records.replace(base.listener, port=10000 + i, uid=3000 + i))
        for i in range(MAX_BLOCKS + 50)
    )
    report = build_report(records.replace(ev, exposures=ev.exposures + many), generated_at=STAMP)
    out = _term(report, width=100)
    heads = [ln for ln in out.splitlines() if re.match(r"^[A-Z]{3,}\s", ln)]
    assert len(heads) == MAX_BLOCKS + 1  # and the verdict
    assert heads[0].startswith("CRITICAL")  # the worst are kept
    hidden = 7 + MAX_BLOCKS + 50 - MAX_BLOCKS
    assert f"{hidden} more entries ({hidden} listeners or router mappings, the least" in out
    html = render(Format.HTML, report)
    assert html.count('<article class="card') == MAX_BLOCKS
    assert f"{hidden} more entries ({hidden} listeners or router mappings" in html
    assert "the JSON report lists every one" in html
