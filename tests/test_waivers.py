"""The config file and waivers: loading, validation, matching, expiry, built-in defaults."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposure_audit.analysis.engine import run_rules
from exposure_audit.core import records
from exposure_audit.core.errors import ConfigError
from exposure_audit.core.model import (
    Address,
    DanglingMapping,
    Exposure,
    Facts,
    HostInfo,
    Interface,
    Listener,
    ProcessInfo,
    Reach,
    UpnpMapping,
    Waiver,
)
from exposure_audit.policy.config import (
    Config,
    WebhookConfig,
    default_config_path,
    load_config,
    parse_config,
    read_default_waivers,
)
from exposure_audit.policy.loader import load_ruleset

TODAY = dt.date(2026, 11, 27)
HOST = HostInfo("h", "Linux", "Debian", "6.1", True, 0, "0.1.0", "3.11")
FACTS = Facts(
    host=HOST,
    collected_at="2026-11-27T10:00:00Z",
    interfaces=(
        Interface(
            "wlan0",
            True,
            "physical",
            (Address("192.168.1.23", 24, "ipv4", "lan", "192.168.1.0/24"),),
        ),
    ),
)


@pytest.fixture(autouse=True)
def _isolated_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    return xdg


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def exp(port: int, address: str = "0.0.0.0", name: str | None = "python3", protocol: str = "tcp"):
    family = "ipv6" if ":" in address else "ipv4"
    return Exposure(
        listener=Listener(
            protocol, family, address, port, process=ProcessInfo(1, name) if name else None
        ),
        reach=(Reach("wlan0", "192.168.1.23", "lan", "192.168.1.0/24"),),
        widest_scope="lan",
        scopes=("lan",),
        interface_kinds=("physical",),
    )


def findings(config: Config, *exposures: Exposure, dangling=(), today: dt.date = TODAY):
    return run_rules(load_ruleset([]), FACTS, exposures, dangling, config.waivers, today)


# --------------------------------------------------------------------------- loading


def test_default_location_follows_xdg(_isolated_xdg: Path) -> None:
    assert default_config_path() == _isolated_xdg / "exposure-audit" / "config.toml"


def test_default_location_home_when_xdg_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", "/home/someone")
    assert default_config_path() == Path("/home/someone/.config/exposure-audit/config.toml")


def test_no_config_file_means_builtin_waivers_only() -> None:
    config = load_config(None)
    assert config.path is None
    assert config.waivers and all(w.source == "builtin" for w in config.waivers)
    assert load_config(None, builtin_waivers=False).waivers == ()


def test_default_location_is_read_when_present(_isolated_xdg: Path) -> None:
    path = _isolated_xdg / "exposure-audit" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[[waiver]]\nrule = "EA-DEV-001"\nreason = "mine"\n')
    config = load_config(None, builtin_waivers=False)
    assert config.path == path
    assert config.waivers == (Waiver(rule="EA-DEV-001", reason="mine"),)


def test_explicit_missing_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_full_waiver_parses(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        """
[defaults]
fail_on = "medium"

[[waiver]]
rule = "EA-DEV-*"
port = 8000
protocol = "tcp"
process = "python*"
address = "192.168.1.0/24"
reason = "demo network"
expires = 2027-01-31

[webhook]
url = "https://hooks.example.com/services/T0/B0/secret"
changes_only = true
timeout = 2.5
""",
    )
    config = load_config(path, builtin_waivers=False)
    assert config.fail_on == "medium"
    assert config.waivers == (
        Waiver(
            rule="EA-DEV-*",
            reason="demo network",
            port=8000,
            process="python*",
            address="192.168.1.0/24",
            expires="2027-01-31",
            protocol="tcp",
        ),
    )
    assert config.webhook == WebhookConfig(
        url="https://hooks.example.com/services/T0/B0/secret",
        changes_only=True,
        timeout=2.5,
        private=(path.stat().st_mode & 0o077) == 0,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[waiver]]\nrule = "X"\nreason = "r"\nprot = 1\n',
            "waiver #1 (rule X): key 'prot': unknown key (did you mean 'port'?)",
        ),
        ('[[waiver]]\nrule = "X"\n', "waiver #1 (rule X): key 'reason': missing"),
        ('[[waiver]]\nreason = "r"\n', "waiver #1: key 'rule': missing"),
        ('[[waiver]]\nrule = "X"\nreason = "  "\n', "key 'reason': must not be empty"),
        ('[[waiver]]\nrule = "X"\nreason = "r"\nport = "22"\n', "key 'port': expected a port"),
        ('[[waiver]]\nrule = "X"\nreason = "r"\nport = 0\n', "key 'port': expected a port"),
        ('[[waiver]]\nrule = "X"\nreason = "r"\nprotocol = "sctp"\n', "key 'protocol'"),
        ('[[waiver]]\nrule = "X"\nreason = "r"\naddress = "lan"\n', "not an IP address or network"),
        (
            '[[waiver]]\nrule = "X"\nreason = "r"\nexpires = "next year"\n',
            "key 'expires': expected a date such as 2026-12-31",
        ),
        (
            '[[waiver]]\nrule = "X"\nreason = "r"\nexpires = 2026-12-31T10:00:00\n',
            "not a date-time",
        ),
        ('[waiver]\nrule = "X"\n', "'waiver' must be an array of tables"),
        ('[[waivers]]\nrule = "X"\n', "unknown top-level key 'waivers' (did you mean 'waiver'?)"),
        ('[defaults]\nfail_on = "hihg"\n', "unknown severity 'hihg' (did you mean 'high'?)"),
        ('[defaults]\nfailon = "high"\n', "key 'failon': unknown key (did you mean 'fail_on'?)"),
        ('[defaults]\ndefault_waivers = "no"\n', "key 'default_waivers': expected true or false"),
        ("[[waiver]\n", "not valid TOML"),
        ('[schedule]\nevery = "1h"\n', "unknown top-level key 'schedule' (known sections:"),
        ('webhook = "https://x/"\n', "'webhook' must be a table, written [webhook]"),
        ('[webhook]\nurl = "ftp://x/"\n', "[webhook]: key 'url': expected an http:// or https://"),
        ('[webhook]\nurl = "https://x/\\nX-Evil: 1"\n', "key 'url': the URL contains spaces"),
        ("[webhook]\nurl = 5\n", "key 'url': expected a string"),
        ('[webhook]\nuri = "https://x/"\n', "key 'uri': unknown key (did you mean 'url'?)"),
        ('[webhook]\nurl = "https://x/"\nstrict = "yes"\n', "key 'strict': expected true or"),
        ('[webhook]\nurl = "https://x/"\ntimeout = 0\n', "key 'timeout': must be above 0"),
        ('[webhook]\nurl = "https://x/"\ntimeout = true\n', "key 'timeout': expected a number"),
        ("[webhook]\nchanges_only = true\n", "key 'url': missing: the other webhook settings"),
    ],
)
def test_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = config_file(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(f"{path}: ")
    assert message in str(exc.value)


def test_string_dates_are_accepted(tmp_path: Path) -> None:
    path = config_file(tmp_path, '[[waiver]]\nrule = "X"\nreason = "r"\nexpires = "2027-02-01"\n')
    assert load_config(path, builtin_waivers=False).waivers[0].expires == "2027-02-01"


def test_defaults_can_switch_builtin_waivers_off(tmp_path: Path) -> None:
    path = config_file(tmp_path, "[defaults]\ndefault_waivers = false\n")
    assert load_config(path).waivers == ()


# --------------------------------------------------------------------------- matching


def waived(w: Waiver, e: Exposure, today: dt.date = TODAY) -> tuple[bool, bool, str | None]:
    [f] = findings(Config(waivers=(w,)), e, today=today)
    return f.waived, f.waiver_expired, f.waiver_reason


def test_rule_glob_port_protocol_process_address() -> None:
    e = exp(8000)  # EA-DEV-001 on 0.0.0.0:8000, python3
    assert waived(Waiver("EA-DEV-001", "r"), e)[0]
    assert waived(Waiver("ea-dev-*", "r"), e)[0]
    assert waived(Waiver("*", "r"), e)[0]
    assert not waived(Waiver("EA-DATA-*", "r"), e)[0]
    assert waived(Waiver("*", "r", port=8000), e)[0]
    assert not waived(Waiver("*", "r", port=8001), e)[0]
    assert waived(Waiver("*", "r", protocol="tcp"), e)[0]
    assert not waived(Waiver("*", "r", protocol="udp"), e)[0]
    assert waived(Waiver("*", "r", process="PYTHON*"), e)[0]
    assert not waived(Waiver("*", "r", process="node"), e)[0]
    assert not waived(Waiver("*", "r", process="*"), exp(8000, name=None))[0]
    assert waived(Waiver("*", "r", address="0.0.0.0"), e)[0]
    assert not waived(Waiver("*", "r", address="::"), e)[0]
    assert waived(Waiver("*", "r", address="192.168.1.0/24"), exp(8000, "192.168.1.23"))[0]
    assert not waived(Waiver("*", "r", address="10.0.0.0/8"), exp(8000, "192.168.1.23"))[0]
    assert waived(Waiver("*", "r", address="2001:db8::1"), exp(8000, "2001:DB8:0::1"))[0]


def test_expiry_is_inclusive_then_stops_hiding() -> None:
    w = Waiver("EA-DEV-001", "demo week", expires="2026-11-27")
    assert waived(w, exp(8000), today=dt.date(2026, 11, 27)) == (True, False, "demo week")
    [f] = findings(Config(waivers=(w,)), exp(8000), today=dt.date(2026, 11, 28))
    assert (f.waived, f.waiver_expired) == (False, True)
    assert f.waiver_reason == "waiver expired on 2026-11-27: demo week"
    assert f.message.endswith("(The waiver for this finding expired on 2026-11-27.)")


def test_an_active_waiver_wins_over_an_expired_one() -> None:
    old = Waiver("EA-DEV-001", "old", expires="2025-01-01")
    new = Waiver("EA-DEV-*", "new")
    [f] = findings(Config(waivers=(old, new)), exp(8000))
    assert (f.waived, f.waiver_expired, f.waiver_reason) == (True, False, "new")


def test_waived_findings_stay_in_the_results() -> None:
    both = findings(Config(waivers=(Waiver("EA-DEV-001", "r"),)), exp(8000), exp(6379))
    assert sorted((f.rule_id, f.waived) for f in both) == [
        ("EA-DATA-001", False),
        ("EA-DEV-001", True),
    ]


def test_waivers_on_dangling_mappings() -> None:
    d = DanglingMapping(UpnpMapping("tcp", 2200, "192.168.1.23", 22, "ssh"))
    by = {
        "port+address": Waiver("EA-UPNP-*", "r", port=22, address="192.168.1.23"),
        "external port is not the port": Waiver("*", "r", port=2200),
        "process never matches a mapping": Waiver("*", "r", process="*"),
    }
    got = {k: findings(Config(waivers=(w,)), dangling=[d])[0].waived for k, w in by.items()}
    assert got == {
        "port+address": True,
        "external port is not the port": False,
        "process never matches a mapping": False,
    }


# --------------------------------------------------------------------------- built-in defaults


def test_builtin_default_waivers_cover_the_expected_listeners() -> None:
    ws = read_default_waivers()
    assert all(w.source == "builtin" and w.reason for w in ws)
    keys = {(w.port, w.process, w.address) for w in ws}
    assert (53, "systemd-resolve*", "127.0.0.53") in keys
    assert (631, "cupsd", "127.0.0.0/8") in keys
    assert {w.port for w in ws if w.process == "avahi-daemon"} == {5353}
    assert {w.port for w in ws if w.process == "ControlCe*"} == {5000, 7000}


CONTROL_CENTER = "/System/Library/CoreServices/ControlCenter.app/Contents/MacOS/ControlCenter"
MAC = records.replace(FACTS, host=records.replace(HOST, os="Darwin"))


def exe_exp(port: int, name: str, exe: str | None, address: str = "0.0.0.0") -> Exposure:
    e = exp(port, address, name)
    proc = ProcessInfo(1, name, exe=exe)
    return records.replace(e, listener=records.replace(e.listener, process=proc))


def test_builtin_waiver_reason_is_labelled() -> None:
    airplay = exe_exp(5000, "ControlCenter", CONTROL_CENTER)
    [f] = run_rules(load_ruleset([]), MAC, [airplay], (), load_config(None).waivers, TODAY)
    assert f.waived
    assert f.waiver_reason.startswith("built-in default waiver: macOS ControlCenter")
    [g] = run_rules(
        load_ruleset([]),
        MAC,
        [airplay],
        (),
        load_config(None, builtin_waivers=False).waivers,
        TODAY,
    )
    assert not g.waived and g.waiver_reason is None


def test_builtin_waivers_key_on_os_and_executable_never_on_the_name() -> None:
    """A Flask server renamed ControlCenter (prctl) on port 5000 is not waived: not on
    Linux (a macOS waiver), and not on macOS either (its executable is python)."""
    waivers = load_config(None).waivers
    renamed = exe_exp(5000, "ControlCenter", "/usr/bin/python3.11")
    for facts in (FACTS, MAC):
        [f] = run_rules(load_ruleset([]), facts, [renamed], (), waivers, TODAY)
        assert not f.waived, f.waiver_reason
    # The real ControlCenter's path on Linux (a copy anyone can make): macOS only.
    [f] = run_rules(
        load_ruleset([]),
        FACTS,
        [exe_exp(5000, "ControlCenter", CONTROL_CENTER)],
        (),
        waivers,
        TODAY,
    )
    assert not f.waived
    # Without an executable (no attribution) a built-in waiver never applies.
    [f] = run_rules(
        load_ruleset([]), MAC, [exe_exp(5000, "ControlCenter", None)], (), waivers, TODAY
    )
    assert not f.waived
    # A path glob's * stays inside one directory: /tmp/x/usr/sbin/cupsd is not cupsd.
    lo = exe_exp(631, "cupsd", "/tmp/x/usr/sbin/cupsd", "127.0.0.1")
    w = Waiver(rule="*", reason="r", exe=("/*/sbin/cupsd",))
    rule = rules_file_for_port(631)
    [f] = run_rules(rule, FACTS, [lo], (), (w,), TODAY)
    assert not f.waived


def rules_file_for_port(port: int) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.toml"
        path.write_text(
            f'[[rule]]\nid = "T-P"\ntitle = "t"\nseverity = "low"\nmatch.port = [{port}]\n'
            'message = "{endpoint}"\nremediation = "{fix}"\n'
        )
        return load_ruleset([path], builtin=False)


def test_no_builtin_waiver_hides_a_debugger_notebook_or_data_store() -> None:
    """Even a built-in waiver with rule = "*" that matches the process exactly."""
    mac_waiver = Waiver(
        rule="*", reason="r", port=5000, exe=(CONTROL_CENTER,), source="builtin", os="darwin"
    )
    for port in (5678, 6379, 8888):  # debugpy, redis, jupyter
        d = exe_exp(port, "ControlCenter", CONTROL_CENTER)
        w = records.replace(mac_waiver, port=port)
        got = run_rules(load_ruleset([]), MAC, [d], (), (w,), TODAY)
        assert got and not any(f.waived for f in got), (port, [f.rule_id for f in got])
        # The same waiver from the user's config file does apply: their decision.
        mine = records.replace(w, source="config")
        assert all(f.waived for f in run_rules(load_ruleset([]), MAC, [d], (), (mine,), TODAY))


def test_builtin_waivers_hide_loopback_cups_but_not_a_shared_one(tmp_path: Path) -> None:
    rule = tmp_path / "cups.toml"
    rule.write_text(
        '[[rule]]\nid = "T-CUPS"\ntitle = "t"\nseverity = "low"\nmatch.port = [631]\n'
        'message = "{endpoint}"\nremediation = "{fix}"\n'
    )
    rs = load_ruleset([rule], builtin=False)
    loopback = Exposure(
        listener=Listener(
            "tcp",
            "ipv4",
            "127.0.0.1",
            631,
            process=ProcessInfo(700, "cupsd", exe="/usr/sbin/cupsd"),
        ),
        reach=(Reach("lo", "127.0.0.1", "loopback", "127.0.0.0/8"),),
        widest_scope="loopback",
        scopes=("loopback",),
    )
    shared = exe_exp(631, "cupsd", "/usr/sbin/cupsd")
    got = run_rules(rs, FACTS, [loopback, shared], (), load_config(None).waivers, TODAY)
    assert sorted((f.exposure.listener.address, f.waived) for f in got) == [
        ("0.0.0.0", False),
        ("127.0.0.1", True),
    ]


# --------------------------------------------------------------------------- hostile input

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(),
    st.sampled_from(["EA-*", "[", "127.0.0.0/8", "::1", "2026-12-31", "high", 22]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
waiver_tables = st.dictionaries(
    st.sampled_from(["rule", "reason", "port", "protocol", "process", "address", "expires", "x"]),
    values,
    max_size=7,
)
config_docs = st.fixed_dictionaries(
    {},
    optional={
        "waiver": st.lists(waiver_tables, max_size=3) | values,
        "defaults": st.dictionaries(st.sampled_from(["fail_on", "default_waivers", "y"]), values)
        | values,
        "schedule": values,
        "bogus": values,
    },
)


@settings(max_examples=300, deadline=None)
@given(doc=config_docs)
def test_hostile_config_gives_a_config_error_or_a_config(doc: dict) -> None:
    path = Path("/etc/x/config.toml")
    try:
        config = parse_config(path, doc)
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
    else:
        # and the engine takes whatever waivers survived validation
        findings(config, exp(8000), exp(6379, "127.0.0.1"))
