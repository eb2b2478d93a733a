"""Read the port-mapping table with GetGenericPortMappingEntry, index 0 upwards.

Never GetListOfPortMappings over the full range: miniupnpd before 2.3.4 (Debian 12's
2.3.1, and many routers) aborts when a queried range holds more than 128 mappings of
one protocol. The Generic loop asks for one entry at a time and cannot trigger it.
"""

from __future__ import annotations

import ipaddress
import time

from exposure_audit.collectors.upnp.description import inert
from exposure_audit.collectors.upnp.soap import (
    ERROR_ARRAY_INDEX_INVALID,
    SoapClient,
    SoapError,
    SoapFault,
)
from exposure_audit.core.model import UpnpMapping
from exposure_audit.core.records import record

MAX_DESCRIPTION = 512
MAX_LEASE = 2**32 - 1  # ui4


class BadEntry(ValueError):
    pass


def _port(value: str, name: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        raise BadEntry(f"{name} {inert(value, 40)!r} is not a port number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise BadEntry(f"{name} {port} is outside 1-65535")
    return port


def _ip(value: str, name: str, allow_empty: bool) -> str:
    text = value.strip()
    if not text and allow_empty:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadEntry(f"{name} {inert(value, 60)!r} is not an IP address") from None


def entry_to_mapping(values: dict[str, str]) -> UpnpMapping:
    """Validate one GetGenericPortMappingEntry answer. Raises BadEntry."""
    proto = values.get("NewProtocol", "").strip().upper()
    if proto not in ("TCP", "UDP"):
        raise BadEntry(f"protocol {inert(values.get('NewProtocol', ''), 40)!r} is not TCP/UDP")
    enabled_text = values.get("NewEnabled", "1").strip().lower()
    if enabled_text not in ("1", "0", "true", "false", "yes", "no"):
        raise BadEntry(f"NewEnabled {inert(enabled_text, 40)!r} is not a boolean")
    lease_text = values.get("NewLeaseDuration", "0").strip() or "0"
    if not lease_text.isascii() or not lease_text.isdigit() or int(lease_text) > MAX_LEASE:
        raise BadEntry(f"lease duration {inert(lease_text, 40)!r} is not a number of seconds")
    return UpnpMapping(
        protocol=proto.lower(),
        external_port=_port(values.get("NewExternalPort", ""), "external port"),
        internal_client=_ip(values.get("NewInternalClient", ""), "internal client", False),
        internal_port=_port(values.get("NewInternalPort", ""), "internal port"),
        description=inert(values.get("NewPortMappingDescription", ""), MAX_DESCRIPTION),
        enabled=enabled_text in ("1", "true", "yes"),
        lease_duration=int(lease_text),
        remote_host=_ip(values.get("NewRemoteHost", ""), "remote host", True),
    )


def _too_slow(budget: float, index: int) -> str:
    return (
        f"stopped reading UPnP mappings after {budget:g} s ({index} entries read): "
        "the router answers too slowly; the list is incomplete"
    )


@record
class MappingTable:
    mappings: tuple[UpnpMapping, ...]
    truncated: bool
    warnings: tuple[str, ...]
    requests: int
    end: str  # why the loop stopped: "713", "fault", "cap", "time", "error"


def read_mappings(soap: SoapClient, max_mappings: int, budget: float) -> MappingTable:
    """Every mapping, index 0 upwards, until error 713 or another stop condition.

    ``budget`` bounds the whole loop in seconds (each request is bounded on its own by
    the client's timeout): a device that answers slowly but forever cannot hold us.
    """
    stop_at = time.monotonic() + budget
    mappings: list[UpnpMapping] = []
    seen: set[tuple[str, int, str]] = set()
    bad: list[str] = []
    duplicates = 0
    warnings: list[str] = []
    invalid_utf8 = False
    index = 0
    truncated = False
    end = "713"
    while True:
        if index >= max_mappings:
            truncated = True
            end = "cap"
            warnings.append(
                f"stopped reading UPnP mappings at the cap of {max_mappings} entries; the "
                "router may hold more (a real router rarely has more than a few dozen: "
                "this one may be misbehaving)"
            )
            break
        now = time.monotonic()
        if now >= stop_at:
            truncated = True
            end = "time"
            warnings.append(_too_slow(budget, index))
            break
        try:
            result = soap.call(
                "GetGenericPortMappingEntry",
                {"NewPortMappingIndex": index},
                deadline=min(stop_at, now + soap.http.timeout),
            )
        except SoapFault as fault:
            if fault.code != ERROR_ARRAY_INDEX_INVALID:
                end = "fault"
                # Some IGDs end the list with 714/402/500 instead of 713: not fatal, but
                # the reader should know the end was not the standard one.
                warnings.append(
                    f"the router ended its mapping list at index {index} with {fault} "
                    "instead of error 713; the list may be incomplete"
                )
            break
        except SoapError as exc:
            truncated = True
            if time.monotonic() >= stop_at:
                end = "time"
                warnings.append(_too_slow(budget, index))
                break
            end = "error"
            warnings.append(f"reading UPnP mapping {index} failed ({exc}); the list is incomplete")
            break
        index += 1
        invalid_utf8 = invalid_utf8 or result.invalid_utf8
        try:
            mapping = entry_to_mapping(result.values)
        except BadEntry as exc:
            bad.append(f"#{index - 1}: {exc}")
            continue
        key = (mapping.protocol, mapping.external_port, mapping.remote_host)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        mappings.append(mapping)
    if bad:
        examples = "; ".join(bad[:3])
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        warnings.append(
            f"skipped {len(bad)} invalid UPnP mapping entr{'y' if len(bad) == 1 else 'ies'}: "
            f"{examples}{more}"
        )
    if duplicates:
        warnings.append(f"the router listed {duplicates} duplicate mapping entries (ignored)")
    if invalid_utf8:
        warnings.append("some UPnP mapping answers had invalid UTF-8 (shown as U+FFFD)")
    return MappingTable(
        mappings=tuple(mappings),
        truncated=truncated,
        warnings=tuple(warnings),
        requests=index + 1,
        end=end,
    )
