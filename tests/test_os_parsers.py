"""Parsers of the stock commands the portable backend reads (lsof -F, socketfilterfw,
pfctl, netsh), on real outputs (tests/fixtures/os/README.md names each source) and on
hostile variants of them."""

from __future__ import annotations

from pathlib import Path

from exposure_audit.analysis.firewall.evaluate import evaluate
from exposure_audit.collectors.lsof import listeners_from_lsof, parse_fields, split_name
from exposure_audit.collectors.osfirewall import (
    AlfState,
    PfState,
    macos_facts,
    parse_netsh,
    parse_pfctl,
    parse_socketfilterfw,
    windows_facts,
)

OS = Path(__file__).parent / "fixtures" / "os"


def _text(name: str) -> str:
    return (OS / name).read_bytes().decode("utf-8")


# --------------------------------------------------------------------------- lsof


def test_lsof_field_output_real_newline_and_nul() -> None:
    for name in ("lsof_linux_live.txt", "lsof_linux_live_nul.bin"):
        found, problems = listeners_from_lsof(_text(name))
        assert not problems
        got = {(x.protocol, x.family, x.address, x.port, x.process.pid) for x in found}  # type: ignore[union-attr]
        assert got == {
            ("tcp", "ipv6", "::1", 47001, 29091),
            ("tcp", "ipv4", "0.0.0.0", 47003, 29091),
        }
        assert all(x.source == "lsof" and x.uid == 0 for x in found)
        assert found[0].process is not None and found[0].process.name == "python3"


def test_lsof_hostile_variants() -> None:
    real = _text("lsof_linux_live_nul.bin")
    # A command name with a newline and a fake field cannot forge a socket in NUL mode.
    forged = real.replace("cpython3", "cevil\nn*:22\nTST=LISTEN")
    found, _ = listeners_from_lsof(forged)
    assert {x.port for x in found} == {47001, 47003}
    assert found[0].process is not None and found[0].process.name == "evil\nn*:22\nTST=LISTEN"
    # Connected UDP, non-LISTEN TCP, a wildcard with no family, garbage pid, KAME scope.
    text = (
        "pabc\ncx\nf1\ntIPv4\nPTCP\nn*:1\nTST=LISTEN\n"  # unreadable pid: skipped, reported
        "p10\ncd\nf1\ntIPv4\nPUDP\nn10.0.0.1:5000->10.0.0.2:6000\n"
        "f2\ntIPv4\nPTCP\nn10.0.0.1:80\nTST=ESTABLISHED\n"
        "f3\nPTCP\nn*:81\nTST=LISTEN\n"
        "f4\ntIPv6\nPUDP\nn[fe80:4::aede:48ff:fe00:1122]:5353\n"
        "f5\ntIPv4\nPTCP\nn1.2.3.4:99999\nTST=LISTEN\n"
        "f6\ntIPv6\nPTCP\nn[not-an-ip]:82\nTST=LISTEN\n"
    )
    found, problems = listeners_from_lsof(text)
    assert [(x.protocol, x.address, x.port, x.zone) for x in found] == [
        ("udp", "fe80::aede:48ff:fe00:1122", 5353, None)
    ]
    assert any("zone" in n for n in found[0].notes)
    assert len(problems) == 3  # the pid, the familyless wildcard, the unreadable address
    assert split_name("[::1]:0") is None and split_name("host") is None
    files, problems = parse_fields("\n".join(["p1"] + ["f1"] * 3_000_000))
    assert problems == ["output cut at 2000000 fields"] and len(files) > 0


# --------------------------------------------------------------------------- socketfilterfw


def test_socketfilterfw_real_outputs() -> None:
    kolide = parse_socketfilterfw(_text("socketfilterfw_kolide.txt"))
    assert (kolide.enabled, kolide.global_state, kolide.block_all, kolide.stealth) == (
        True,
        1,
        False,
        None,
    )
    posture = parse_socketfilterfw(_text("socketfilterfw_posture.txt"))
    assert (posture.enabled, posture.global_state, posture.block_all, posture.stealth) == (
        False,
        0,
        False,
        False,
    )
    assert len(posture.evidence) == 3  # the usage line is not evidence
    hotel = parse_socketfilterfw(_text("socketfilterfw_hotel.txt"))
    assert (hotel.enabled, hotel.block_all) == (True, False)


def test_socketfilterfw_hostile_variants() -> None:
    assert parse_socketfilterfw("") == AlfState()
    odd = parse_socketfilterfw("Firewall is enabled. (State = 99999999999)\x1b[2J\n" * 3)
    assert odd.enabled is True and odd.global_state is None
    wrong = parse_socketfilterfw("Firewall has block all state set to maybe.\nblock all enabled")
    assert wrong.block_all is None
    managed = "Firewall settings cannot be modified from command line on managed Mac computers."
    assert parse_socketfilterfw(managed).enabled is None


# --------------------------------------------------------------------------- pfctl


def test_pfctl_real_rules_and_unknown_state() -> None:
    pf = parse_pfctl(None, _text("pfctl_rules_stackexchange.txt"))
    assert pf.enabled is None
    assert pf.rules == (
        'scrub-anchor "com.apple/*" all fragment reassemble',
        'anchor "com.apple/*" all',
    )


def test_pfctl_hostile_variants() -> None:
    assert parse_pfctl("Status: Enabled for 0 days 00:01:02   Debug: Urgent\n", "").enabled is True
    assert parse_pfctl("Status: Disabled\n", "").enabled is False
    assert parse_pfctl("Status: Enabledish\n", "").enabled is None
    assert parse_pfctl("Status:\n", "[ Evaluations: 1 ]\n").rules == ()


# --------------------------------------------------------------------------- netsh


def test_netsh_real_outputs() -> None:
    (domain,) = parse_netsh(_text("netsh_currentprofile_datacadamia.txt"))
    assert (domain.name, domain.state, domain.policy) == (
        "Domain",
        "ON",
        "BlockInbound,AllowOutbound",
    )
    assert domain.settings["LocalFirewallRules"] == "N/A (GPO-store only)"
    (public,) = parse_netsh(_text("netsh_monitor_datacadamia.txt"))
    assert (public.name, public.state) == ("Public", "ON")
    # Three profiles as `show allprofiles` prints them: the real blocks, concatenated.
    both = parse_netsh(
        _text("netsh_currentprofile_datacadamia.txt")
        + "\n"
        + _text("netsh_monitor_datacadamia.txt")
        + "Ok.\n"
    )
    assert [p.name for p in both] == ["Domain", "Public"]
    assert "unavailable" == windows_facts(both).backend


def test_netsh_hostile_variants() -> None:
    assert parse_netsh("") == []
    off = _text("netsh_monitor_datacadamia.txt").replace("ON", "OFF")
    facts = windows_facts(parse_netsh(off))
    assert facts.backend == "none"  # nothing filters: every reach open
    weird = parse_netsh("Evil Profile Settings:\nState   ON; rm -rf\nState OFF\n")
    assert weird[0].state is None  # the first State wins and is not ON/OFF
    assert windows_facts([]).backend == "unavailable"


# --------------------------------------------------------------------------- verdicts


def test_macos_verdicts_from_state() -> None:
    unknown = macos_facts(parse_socketfilterfw(_text("socketfilterfw_hotel.txt")), PfState())
    assert unknown.backend == "unavailable"
    assert (
        evaluate(unknown, "tcp", 8000, "192.168.1.20", "en0", "192.168.1.0/24").result == "unknown"
    )
    # Block-all on (the hotel output with block-all switched on: a variant, not a capture).
    on = _text("socketfilterfw_hotel.txt").replace("set to disabled", "set to enabled")
    blocked = macos_facts(parse_socketfilterfw(on), PfState())
    v = evaluate(blocked, "tcp", 8000, "192.168.1.20", "en0", "192.168.1.0/24")
    assert v.result == "filtered", v
    assert evaluate(blocked, "udp", 5353, "192.168.1.20", "en0", "192.168.1.0/24").result == "open"
    off = macos_facts(
        parse_socketfilterfw(_text("socketfilterfw_posture.txt")), PfState(enabled=False)
    )
    assert off.backend == "none"
    assert evaluate(off, "tcp", 22, "192.168.1.20", "en0", "192.168.1.0/24").result == "open"
