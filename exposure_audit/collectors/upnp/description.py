"""The IGD's description XML: which WAN connection service to talk to, and where.

XML is parsed only through defusedxml with DTDs, entities and external references
forbidden (billion laughs, XXE). Text from the device is made inert: length-capped,
and control / bidirectional-override characters replaced by visible escapes, so no
string from the LAN can drive a terminal or reorder what a reader sees.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlsplit

import defusedxml
import defusedxml.ElementTree as DET

from exposure_audit.core.records import record

WAN_CONNECTION_TYPES: tuple[str, ...] = (
    # preference order: the IGD:2 service first, then IGD:1, then PPP
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
)
IPV6_FIREWALL_TYPE = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"

MAX_NAME = 256
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_XML_DECL_ENC = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class XmlError(Exception):
    """XML that is broken or hostile: the message is ready for a warning."""


def inert(text: str | None, limit: int = MAX_NAME) -> str:
    """Device text made safe to print anywhere (still the same text for a reader)."""
    if not text:
        return ""
    text = text.strip()
    if len(text) > limit:
        text = text[:limit] + "…"
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def parse_xml(data: bytes, what: str) -> tuple[ET.Element, bool]:
    """Parse untrusted XML. Returns (root, had_invalid_utf8). Raises XmlError."""
    replaced = False
    source: bytes | str = data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        match = _XML_DECL_ENC.match(data[:200])
        if match is None or match.group(1).lower().replace(b"_", b"-") in (b"utf-8", b"utf8"):
            # Declared (or defaulted) UTF-8 but not valid: keep the text, mark the
            # broken bytes (U+FFFD) and say so, rather than losing the whole device.
            text = data.decode("utf-8", errors="replace")
            source = _strip_decl(text)
            replaced = True
    try:
        root = DET.fromstring(source, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise XmlError(f"{what} contains a DTD (refused: entity expansion / XXE risk)") from None
    except defusedxml.EntitiesForbidden:
        raise XmlError(f"{what} declares entities (refused: billion laughs / XXE)") from None
    except defusedxml.DefusedXmlException as exc:
        raise XmlError(f"{what} refused: {type(exc).__name__}") from None
    except ET.ParseError as exc:
        raise XmlError(f"{what} is not well-formed XML ({exc})") from None
    except (ValueError, LookupError, RecursionError) as exc:
        raise XmlError(f"{what} could not be parsed ({type(exc).__name__})") from None
    return root, replaced


def _strip_decl(text: str) -> str:
    if text.lstrip().startswith("<?xml"):
        end = text.find("?>")
        if end != -1:
            return text[end + 2 :]
    return text


def local(tag: object) -> str:
    """Tag name without its namespace (devices differ in how they use namespaces)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def child_text(elem: ET.Element, name: str) -> str:
    for child in elem:
        if local(child.tag) == name:
            return (child.text or "").strip()
    return ""


@record
class Service:
    service_type: str
    control_url: str  # absolute


@record
class Description:
    location: str
    friendly_name: str
    manufacturer: str
    model_name: str
    device_type: str
    wan_services: tuple[Service, ...]  # preference order
    firewall_service: Service | None
    problems: tuple[str, ...] = ()  # services skipped (bad control URL...)
    invalid_utf8: bool = False


def parse_description(data: bytes, location: str, max_elements: int = 5000) -> Description:
    """Find the WAN connection service(s) in an IGD description. Raises XmlError."""
    root, replaced = parse_xml(data, f"description at {location}")
    if local(root.tag) != "root":
        raise XmlError(f"description at {location} is not a UPnP device description")
    base = child_text(root, "URLBase") or location
    desc_host = _host(location)
    top = next((c for c in root if local(c.tag) == "device"), None)
    if top is None:
        raise XmlError(f"description at {location} has no <device>")

    wan: list[Service] = []
    firewall: Service | None = None
    problems: list[str] = []
    for count, elem in enumerate(root.iter()):
        if count > max_elements:
            problems.append(f"description has more than {max_elements} elements: rest ignored")
            break
        if local(elem.tag) != "service":
            continue
        stype = child_text(elem, "serviceType")
        wanted = stype in WAN_CONNECTION_TYPES or stype == IPV6_FIREWALL_TYPE
        if not wanted:
            continue
        ctl = child_text(elem, "controlURL")
        url = _control_url(base, ctl)
        if url is None or desc_host is None or _host(url) != desc_host:
            problems.append(
                f"{inert(stype)}: control URL {inert(ctl)!r} is not on the description's "
                f"host {desc_host}: not used"
            )
            continue
        svc = Service(service_type=stype, control_url=url)
        if stype == IPV6_FIREWALL_TYPE:
            firewall = firewall or svc
        else:
            wan.append(svc)
    wan.sort(key=lambda s: WAN_CONNECTION_TYPES.index(s.service_type))
    return Description(
        location=location,
        friendly_name=inert(child_text(top, "friendlyName")),
        manufacturer=inert(child_text(top, "manufacturer")),
        model_name=inert(child_text(top, "modelName")),
        device_type=inert(child_text(top, "deviceType")),
        wan_services=tuple(wan),
        firewall_service=firewall,
        problems=tuple(problems),
        invalid_utf8=replaced,
    )


def _host(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() != "http":
            return None
        return (parts.hostname or "").lower() or None
    except ValueError:
        return None


def _control_url(base: str, ctl: str) -> str | None:
    if not ctl or len(ctl) > 2048:
        return None
    try:
        url = urljoin(base, ctl)
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() != "http" or parts.username or parts.password:
        return None
    return url
