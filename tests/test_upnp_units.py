"""UPnP parsing and validation on literal inputs (no sockets): SSDP answers, LOCATION
checks, descriptions, mapping entries, inert text."""

from __future__ import annotations

import pytest
from hostile_igd import BILLION_LAUGHS, description, entry

from exposure_audit.collectors.upnp.description import (
    XmlError,
    inert,
    parse_description,
    parse_xml,
)
from exposure_audit.collectors.upnp.mappings import BadEntry, entry_to_mapping
from exposure_audit.collectors.upnp.ssdp import (
    SEARCH_TARGETS,
    SsdpAnswer,
    location_problem,
    m_search,
    parse_answer,
)

ANSWER = (
    b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: "
    b"urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nUSN: uuid:x::urn:schemas-upnp-"
    b"org:device:InternetGatewayDevice:2\r\nEXT:\r\nSERVER: Debian UPnP/1.1 MiniUPnPd/2.3.1\r\n"
    b"LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n"
)


def test_m_search_asks_for_every_igd_flavour() -> None:
    assert len(SEARCH_TARGETS) == 5
    msg = m_search(SEARCH_TARGETS[0]).decode()
    assert msg.startswith("M-SEARCH * HTTP/1.1\r\n")
    assert 'MAN: "ssdp:discover"' in msg and "MX: 1\r\n" in msg
    assert msg.endswith("\r\n\r\n")


def test_parse_answer() -> None:
    a = parse_answer(ANSWER, "192.168.1.1")
    assert a is not None
    assert a.location == "http://192.168.1.1:5000/rootDesc.xml"
    assert a.sender == "192.168.1.1"
    assert location_problem(a) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"NOTIFY * HTTP/1.1\r\nLOCATION: http://192.168.1.1/\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n",
        ANSWER.replace(b"InternetGatewayDevice", b"MediaRenderer"),  # not an IGD
        ANSWER.replace(b"LOCATION", b"X-LOC"),
        ANSWER + b"X" * 9000,  # oversized datagram
        b"\xff\xfe\x00garbage",
    ],
)
def test_parse_answer_ignores_everything_else(data: bytes) -> None:
    assert parse_answer(data, "192.168.1.1") is None


@pytest.mark.parametrize(
    ("sender", "location", "problem"),
    [
        ("192.168.1.1", "http://192.168.1.2/", "another host"),
        ("192.168.1.1", "http://router.lan/", "names a host"),
        ("169.254.169.254", "http://169.254.169.254/latest/meta-data/", "not a private"),
        ("100.100.100.200", "http://100.100.100.200/", "not a private"),
        # the metadata address in IPv4-mapped form is the metadata address
        ("::ffff:169.254.169.254", "http://[::ffff:169.254.169.254]/", "not a private"),
        ("::ffff:a9fe:a9fe", "http://[::ffff:a9fe:a9fe]/latest/meta-data/", "not a private"),
        ("8.8.8.8", "http://8.8.8.8/", "not a private"),
        ("192.168.1.1", "file:///etc/passwd", "non-http"),
        ("192.168.1.1", "http://192.168.1.1:99999/", "invalid"),
        ("192.168.1.1", "http://[::1/", "invalid"),
    ],
)
def test_location_problems(sender: str, location: str, problem: str) -> None:
    answer = SsdpAnswer(sender=sender, location=location, st="", usn="", server="")
    reason = location_problem(answer)
    assert reason is not None and problem in reason


@pytest.mark.parametrize(
    "sender", ["192.168.1.1", "10.0.0.1", "172.16.5.4", "169.254.3.4", "127.0.0.1"]
)
def test_location_allowed_from_private_link_local_loopback(sender: str) -> None:
    answer = SsdpAnswer(
        sender=sender, location=f"http://{sender}:1900/d.xml", st="", usn="", server=""
    )
    assert location_problem(answer) is None


def test_description_finds_the_service_and_joins_urls() -> None:
    desc = parse_description(
        description(control="ctl/IPConn").encode(), "http://10.0.0.1:5000/a/b.xml"
    )
    assert [s.control_url for s in desc.wan_services] == ["http://10.0.0.1:5000/a/ctl/IPConn"]
    assert desc.friendly_name == "Hostile IGD"


def test_xml_declaring_another_encoding_is_read_in_it() -> None:
    """Not UTF-8 and declared as such (ISO-8859-1): read in the declared encoding, not
    marked as broken UTF-8 (this used to raise TypeError: bytes.replace given str)."""
    root, replaced = parse_xml(
        b'<?xml version="1.0" encoding="ISO-8859-1"?><root>caf\xe9</root>', "x"
    )
    assert (root.text, replaced) == ("caf\u00e9", False)
    root, replaced = parse_xml(b'<?xml version="1.0" encoding="UTF_8"?><root>caf\xe9</root>', "x")
    assert (root.text, replaced) == ("caf\ufffd", True)


def test_description_rejects_control_url_elsewhere() -> None:
    with pytest.raises(XmlError):
        parse_xml(b"<root", "x")
    desc = parse_description(
        description(control="http://10.0.0.9/ctl").encode(), "http://10.0.0.1:5000/d.xml"
    )
    assert desc.wan_services == ()
    assert "not on the description's host" in desc.problems[0]


def test_billion_laughs_is_refused_quickly() -> None:
    with pytest.raises(XmlError, match="DTD"):
        parse_description(BILLION_LAUGHS.encode(), "http://10.0.0.1/d.xml")


def test_entry_validation() -> None:
    m = entry_to_mapping(entry(8080, internal_port=80, proto="tcp", lease="3600", enabled="0"))  # type: ignore[arg-type]
    assert (m.protocol, m.external_port, m.internal_port, m.lease_duration, m.enabled) == (
        "tcp",
        8080,
        80,
        3600,
        False,
    )
    for bad in (
        entry("８０"),  # full-width digits: isdigit() but not ASCII
        entry("0"),
        entry(" "),
        entry(1, client="10.0.0.256"),
        entry(1, lease="-5"),
        entry(1, enabled="maybe"),
        entry(1, proto="SCTP"),
    ):
        with pytest.raises(BadEntry):
            entry_to_mapping(bad)  # type: ignore[arg-type]


def test_inert() -> None:
    assert inert("a\x1b[31mb") == "a\\u001b[31mb"
    assert inert("x\u202ey") == "x\\u202ey"
    assert inert("<b>") == "<b>"
    assert inert("a" * 300).endswith("…") and len(inert("a" * 300)) == 257
