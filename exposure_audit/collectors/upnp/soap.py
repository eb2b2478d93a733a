"""SOAP actions on a UPnP service's control URL (UDA 1.1 section 3)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from exposure_audit.collectors.upnp.description import (
    XmlError,
    child_text,
    inert,
    local,
    parse_xml,
)
from exposure_audit.collectors.upnp.http import FetchError, HttpClient
from exposure_audit.core.records import record

MAX_SOAP_BYTES = 64 * 1024
MAX_ARG = 4096

ERROR_ARRAY_INDEX_INVALID = 713  # SpecifiedArrayIndexInvalid: end of the mapping list


class SoapError(Exception):
    """Transport failure or an answer that is not a SOAP response."""


class SoapFault(Exception):
    """The device answered with a UPnP error (errorCode / errorDescription)."""

    def __init__(self, code: int | None, description: str, http_status: int) -> None:
        self.code = code
        self.description = description
        self.http_status = http_status
        text = f"UPnP error {code}" if code is not None else f"HTTP {http_status}"
        super().__init__(f"{text}: {description}" if description else text)


@record
class SoapResult:
    values: dict[str, str]  # output argument name -> text (raw: validate before use)
    invalid_utf8: bool = False


def envelope(service_type: str, action: str, args: dict[str, str | int]) -> bytes:
    body = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in args.items())
    return (
        '<?xml version="1.0"?>\r\n'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f'<u:{action} xmlns:u="{escape(service_type)}">{body}</u:{action}>'
        "</s:Body></s:Envelope>\r\n"
    ).encode()


class SoapClient:
    def __init__(self, http: HttpClient, control_url: str, service_type: str) -> None:
        self.http = http
        self.control_url = control_url
        self.service_type = service_type

    def call(
        self, action: str, args: dict[str, str | int] | None = None, deadline: float | None = None
    ) -> SoapResult:
        """Invoke ``action``. Raises SoapFault (device said no) or SoapError."""
        headers = {
            "Content-Type": 'text/xml; charset="utf-8"',
            "SOAPAction": f'"{self.service_type}#{action}"',
        }
        body = envelope(self.service_type, action, args or {})
        deadline = deadline or time.monotonic() + self.http.timeout
        try:
            resp = self.http.post(self.control_url, body, headers, MAX_SOAP_BYTES, deadline)
        except FetchError as exc:
            raise SoapError(str(exc)) from None
        what = f"{action} answer"
        if resp.status != 200:
            fault = _fault(resp.body, what)
            if fault is not None:
                code, desc = fault
                raise SoapFault(code, desc, resp.status)
            if 300 <= resp.status < 400:
                location = inert(resp.headers.get("location", ""))
                raise SoapError(f"{action}: redirect to {location!r} not followed")
            raise SoapFault(None, "", resp.status)
        try:
            root, replaced = parse_xml(resp.body, what)
        except XmlError as exc:
            raise SoapError(str(exc)) from None
        fault = _fault_in(root)
        if fault is not None:
            raise SoapFault(fault[0], fault[1], resp.status)
        response = None
        for elem in root.iter():
            if local(elem.tag) == f"{action}Response":
                response = elem
                break
        if response is None:
            raise SoapError(f"{action}: the answer has no {action}Response element")
        values: dict[str, str] = {}
        for child in response:
            name = local(child.tag)
            if name and name not in values:
                values[name] = (child.text or "")[:MAX_ARG]
        return SoapResult(values=values, invalid_utf8=replaced)


def _fault(body: bytes, what: str) -> tuple[int | None, str] | None:
    if not body:
        return None
    try:
        root, _ = parse_xml(body, what)
    except XmlError:
        return None
    return _fault_in(root)


def _fault_in(root: ET.Element) -> tuple[int | None, str] | None:
    saw_fault = False
    for elem in root.iter():
        name = local(elem.tag)
        if name == "UPnPError":
            code_text = inert(child_text(elem, "errorCode"), 10)
            desc = inert(child_text(elem, "errorDescription"), 200)
            code = int(code_text) if code_text.isdigit() else None
            return code, desc
        if name == "Fault":
            saw_fault = True
    return (None, "SOAP fault") if saw_fault else None
