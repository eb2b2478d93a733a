"""The UPnP collector against a hostile gateway (tests/hostile_igd.py) on loopback.

Each case: bounded time (asserted), a clear warning, nothing fetched that should not
be (asserted on what the server saw), hostile strings kept as inert text. The SSDP
cases (LOCATION elsewhere, metadata address) are in test_upnp_ssdp_hostile.py,
inside namespaces, so multicast never touches the host network.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from hostile_igd import HostileIgd, entry
from netns import cli_argv

from exposure_audit.collectors.upnp import UpnpOptions, collect_upnp
from exposure_audit.core.model import CollectorWarning, UpnpFacts

TIMEOUT = 1.0
LOCAL = frozenset({"192.168.1.20"})


def run(igd: HostileIgd, **kw: object) -> tuple[UpnpFacts, list[CollectorWarning], float]:
    t0 = time.monotonic()
    opts = UpnpOptions(igd_url=igd.url, timeout=TIMEOUT, **kw)  # type: ignore[arg-type]
    facts, warnings = collect_upnp(opts, LOCAL)
    return facts, warnings, time.monotonic() - t0


def text(warnings: list[CollectorWarning]) -> str:
    return "\n".join(w.message for w in warnings)


def test_good_device_baseline() -> None:
    """The server itself works: a well-behaved answer is read completely."""
    maps = [entry(8080, internal_port=80), entry(5353, proto="UDP", client="192.168.1.30")]
    with HostileIgd("good", mappings=maps) as igd:
        facts, warnings, elapsed = run(igd)
    assert facts.status == "ok", facts.message
    assert warnings == []
    assert facts.external_ip == "11.250.42.13"
    assert [
        (m.protocol, m.external_port, m.internal_client, m.internal_port) for m in facts.mappings
    ] == [
        ("tcp", 8080, "192.168.1.20", 80),
        ("udp", 5353, "192.168.1.30", 5353),
    ]
    assert "1 to this host" in (facts.message or "")
    # description, external IP, entries 0, 1 and the 713 at index 2
    assert igd.paths() == ["/rootDesc.xml"] + ["/ctl/IPConn"] * 4
    assert elapsed < 1.0


@pytest.mark.parametrize(
    ("scenario", "expect"),
    [
        ("billion_laughs", "DTD"),
        ("xxe_file", "DTD"),
        ("xxe_http", "DTD"),
        ("xxe_external_dtd", "DTD"),
    ],
)
def test_entity_attacks_are_refused_unexpanded(scenario: str, expect: str) -> None:
    with HostileIgd(scenario) as igd:
        facts, warnings, elapsed = run(igd)
        seen = igd.paths()
    assert facts.status == "error"
    assert expect in text(warnings)
    assert elapsed < 1.0
    # the external entity / external DTD was never fetched, nothing but the description
    assert seen == ["/rootDesc.xml"]
    dumped = json.dumps([str(facts), text(warnings)])
    assert "root:" not in dumped and "lollol" not in dumped


@pytest.mark.parametrize("scenario", ["huge_length", "huge_stream"])
def test_50_mb_description_is_not_read(scenario: str) -> None:
    with HostileIgd(scenario) as igd:
        facts, warnings, elapsed = run(igd)
        time.sleep(0.1)
        sent = igd.bytes_sent
    assert facts.status == "error"
    assert "bytes" in text(warnings) and ("refused" in text(warnings) or "larger" in text(warnings))
    assert elapsed < 1.5
    # we stopped reading long before 50 MB (socket buffers hold a few MB at most)
    assert sent < 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("scenario", "interval"),
    [
        ("dribble_body", 0.05),
        ("dribble_body", 0.9),  # "one byte a second", just inside the 1 s read timeout
        ("dribble_headers", 0.05),
        ("silent", 0),
    ],
)
def test_slow_device_costs_bounded_time(scenario: str, interval: float) -> None:
    with HostileIgd(scenario, params={"dribble_interval": interval}) as igd:
        facts, warnings, elapsed = run(igd)
    assert facts.status == "error"
    assert "time limit" in text(warnings) or "timed out" in text(warnings)
    # total deadline = timeout, whatever the per-byte pace (a byte every 0.05 or 0.9 s:
    # the 1 s per-read timeout alone would never fire)
    assert elapsed < TIMEOUT + 0.5


def test_dribbling_soap_answer_stops_the_list_in_time() -> None:
    with HostileIgd(
        "dribble_soap", mappings=[entry(1), entry(2), entry(3)], params={"dribble_interval": 0.05}
    ) as igd:
        facts, warnings, elapsed = run(igd)
    assert facts.status == "ok"
    assert facts.truncated
    assert [m.external_port for m in facts.mappings] == [1]
    assert "incomplete" in text(warnings)
    assert elapsed < TIMEOUT + 0.5


def test_redirect_is_not_followed() -> None:
    with HostileIgd("good") as elsewhere:
        target = f"http://127.0.0.2:{elsewhere.port}/rootDesc.xml"
        elsewhere_seen = elsewhere.seen
        with HostileIgd("redirect", params={"redirect_to": target}) as igd:
            facts, warnings, _ = run(igd)
            seen = igd.paths()
    assert facts.status == "error"
    assert "redirect" in text(warnings) and target in text(warnings)
    assert seen == ["/rootDesc.xml"]
    assert elsewhere_seen == []


@pytest.mark.parametrize("scenario", ["control_elsewhere", "urlbase_elsewhere"])
def test_control_url_on_another_host_is_not_used(scenario: str) -> None:
    with HostileIgd("good") as elsewhere:
        params = {
            "control": f"http://127.0.0.2:{elsewhere.port}/ctl/IPConn",
            "url_base": f"http://127.0.0.2:{elsewhere.port}/",
        }
        with HostileIgd(scenario, params=params) as igd:
            facts, warnings, _ = run(igd)
            seen = igd.paths()
        elsewhere_seen = list(elsewhere.seen)
    assert facts.status == "error"
    assert "not on the description's host" in text(warnings)
    assert seen == ["/rootDesc.xml"]
    assert elsewhere_seen == []


def test_endless_mapping_index_hits_the_cap() -> None:
    with HostileIgd("endless") as igd:
        facts, warnings, elapsed = run(igd, max_mappings=300)
        soap_calls = len(igd.seen) - 1
    assert facts.status == "ok"
    assert facts.truncated
    assert len(facts.mappings) == 300
    assert "cap of 300" in text(warnings)
    assert soap_calls == 301  # GetExternalIPAddress + 300 entries, not one more
    assert elapsed < 5


def test_endless_mapping_index_hits_the_time_budget() -> None:
    with HostileIgd("endless") as igd:
        facts, warnings, elapsed = run(igd, budget=0.5)
    assert facts.truncated
    assert "too slowly" in text(warnings)
    assert elapsed < 0.5 + TIMEOUT + 0.5


def test_invalid_rows_are_skipped_with_a_warning() -> None:
    maps = [
        entry(8080),
        entry("abc"),
        entry(70000),
        entry(-1),
        entry(22, proto="ICMP"),
        entry(23, client="<script>alert(1)</script>"),
        entry(24, client="router.lan"),
        entry(25, lease="soon"),
        entry(26, remote="not an ip"),
        entry(443, desc="<script>alert(1)</script>".replace("<", "&lt;")),
        entry(444, desc=b"caf\xe9 \xff"),
        entry(8080),  # duplicate of the first
    ]
    with HostileIgd("good", mappings=maps) as igd:
        facts, warnings, _ = run(igd)
    assert facts.status == "ok"
    assert [m.external_port for m in facts.mappings] == [8080, 443, 444]
    by_port = {m.external_port: m for m in facts.mappings}
    assert by_port[443].description == "<script>alert(1)</script>"  # inert text, kept
    assert by_port[444].description == "caf\ufffd \ufffd"
    msg = text(warnings)
    assert "skipped 8 invalid UPnP mapping entries" in msg
    assert "'abc' is not a port number" in msg
    assert "duplicate" in msg
    assert "invalid UTF-8" in msg


def test_html_and_control_characters_in_names_stay_inert_text() -> None:
    with HostileIgd("html_names", mappings=[entry(8080, desc="&lt;b&gt;x&lt;/b&gt;")]) as igd:
        facts, warnings, _ = run(igd)
        url = igd.url
        proc = subprocess.run(
            [*cli_argv(), "upnp", "--igd", url, "--upnp-timeout", "1"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "0"},  # the IGD is on loopback
        )
    assert facts.status == "ok"
    assert facts.friendly_name == "<script>alert('pwned')</script><img src=x onerror=alert(1)>"
    # C1 CSI, bidi override and NEL become visible escapes: they cannot drive a terminal
    assert facts.manufacturer == "Evil\\u009b31m\\u202eCorp"
    assert warnings == []
    assert proc.returncode == 0, proc.stderr
    assert "<script>alert('pwned')</script>" in proc.stdout
    assert "'<b>x</b>'" in proc.stdout
    assert "\x9b" not in proc.stdout and "\u202e" not in proc.stdout


def test_invalid_utf8_description_is_read_with_replacement() -> None:
    with HostileIgd("invalid_utf8") as igd:
        facts, warnings, _ = run(igd)
    assert facts.status == "ok"
    assert facts.friendly_name == "Bad\ufffd\ufffdName"
    assert "invalid UTF-8" in text(warnings)


@pytest.mark.parametrize(
    ("scenario", "expect"),
    [
        ("not_xml", "not well-formed"),
        ("gzip", "compressed"),
        ("malformed_soap", "GetExternalIPAddress"),
        ("soap_no_response", "GetExternalIPAddressResponse"),
    ],
)
def test_broken_answers_give_an_error_not_a_crash(scenario: str, expect: str) -> None:
    with HostileIgd(scenario) as igd:
        facts, warnings, elapsed = run(igd)
    assert facts.status == "error"
    assert expect in text(warnings)
    assert elapsed < 1.0


def test_html_500_ends_the_list_with_a_warning() -> None:
    with HostileIgd("soap_html_500", mappings=[entry(1)]) as igd:
        facts, warnings, _ = run(igd)
    assert facts.status == "ok"
    assert [m.external_port for m in facts.mappings] == [1]
    assert "instead of error 713" in text(warnings)


@pytest.mark.parametrize(
    ("external", "scope", "words"),
    [("192.168.0.10", "lan", "double NAT"), ("100.72.1.2", "vpn", "carrier-grade NAT")],
)
def test_nested_nat_is_reported(external: str, scope: str, words: str) -> None:
    with HostileIgd("good", external_ip=external) as igd:
        facts, warnings, _ = run(igd)
    assert facts.external_scope == scope
    assert words in (facts.message or "")
    assert words in text(warnings)


def test_nothing_listening_is_an_error_with_the_url() -> None:
    with HostileIgd("good") as igd:
        url = igd.url
    facts, warnings = collect_upnp(UpnpOptions(igd_url=url, timeout=TIMEOUT), LOCAL)
    assert facts.status == "error"
    assert "refused" in text(warnings)


def test_non_http_igd_url_is_refused() -> None:
    facts, warnings = collect_upnp(
        UpnpOptions(igd_url="file:///etc/passwd", timeout=TIMEOUT), LOCAL
    )
    assert facts.status == "error"
    assert "only http://" in text(warnings)


@pytest.mark.parametrize("mode", ["chunked", "lie_keepalive", "http10_eof"])
def test_soap_transport_variants_are_read(mode: str) -> None:
    maps = [entry(1), entry(2), entry(3)]
    with HostileIgd("good", mappings=maps, params={"soap_mode": mode}) as igd:
        facts, warnings, elapsed = run(igd)
    assert facts.status == "ok", warnings
    assert [m.external_port for m in facts.mappings] == [1, 2, 3]
    assert warnings == []
    assert elapsed < 1.0


@pytest.mark.parametrize(
    ("mode", "expect"),
    [("big_headers", "response header longer than"), ("endless_chunks", "larger than")],
)
def test_soap_transport_abuse_is_bounded(mode: str, expect: str) -> None:
    with HostileIgd("good", mappings=[entry(1)], params={"soap_mode": mode}) as igd:
        facts, warnings, elapsed = run(igd)
    assert facts.status == "ok"
    assert facts.truncated and facts.mappings == ()
    assert expect in text(warnings)
    assert elapsed < 1.0
