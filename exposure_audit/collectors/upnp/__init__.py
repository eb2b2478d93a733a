"""UPnP collector: the router's external IP and port mappings, read from a hostile LAN.

Flow: SSDP M-SEARCH (or ``--igd URL``) -> description XML (from the answering
address only, and only a private / link-local / loopback one) -> WAN*Connection
service -> GetExternalIPAddress -> GetGenericPortMappingEntry 0, 1, 2, ... until
error 713 -> WANIPv6FirewallControl GetFirewallStatus where offered.

IPv6 pinholes: IGD:2's WANIPv6FirewallControl has no action that lists pinholes (only
per-UniqueID queries on pinholes one already knows), so ``UpnpFacts.pinholes`` stays
empty; the firewall status (enabled, inbound pinholes allowed) goes into the message.

``requests`` is imported only when UPnP is actually used (``collect --no-upnp`` must
not pay for it): this module imports nothing heavy at import time.
"""

from __future__ import annotations

import ipaddress
import os
import time
from typing import TYPE_CHECKING

from exposure_audit.core import addresses
from exposure_audit.core.model import CollectorWarning, UpnpFacts
from exposure_audit.core.records import record

if TYPE_CHECKING:
    from typing import TypedDict

    from exposure_audit.collectors.upnp.description import Description
    from exposure_audit.collectors.upnp.http import HttpClient

    class _Device(TypedDict):
        """The UpnpFacts fields read from the IGD's description."""

        location: str
        friendly_name: str | None
        manufacturer: str | None
        model_name: str | None


MAX_DESCRIPTION_BYTES = 256 * 1024  # real IGD descriptions are 2-10 KiB
COLLECTOR = "upnp"


@record
class UpnpOptions:
    igd_url: str | None = None  # skip discovery: talk to this description URL only
    timeout: float = 2.0  # discovery wait, and the total bound on each request
    max_mappings: int = 10000  # stop reading the table there (truncated=True)
    budget: float = 30.0  # total seconds for reading the mapping table (real: <1 s)
    max_candidates: int = 4  # distinct SSDP LOCATIONs tried per discovery


class _Result:
    def __init__(self) -> None:
        self.warnings: list[CollectorWarning] = []

    def warn(self, message: str, hint: str | None = None) -> None:
        self.warnings.append(CollectorWarning(collector=COLLECTOR, message=message, hint=hint))


def collect_upnp(
    opts: UpnpOptions,
    local_addresses: frozenset[str],
    gateways: frozenset[str] = frozenset(),
) -> tuple[UpnpFacts, list[CollectorWarning]]:
    """Discover the IGD and read its mappings. Never raises for network or device
    misbehaviour: status "not_found" (nobody answered), "error" (+ warning) or "ok".

    ``local_addresses``: this host's own addresses (a description served from one of
    them is refused unless ``--igd`` names it: any local process can answer SSDP);
    ``gateways``: the default routes' gateways, preferred among the devices that answer.
    """
    res = _Result()
    try:
        facts = _collect(opts, local_addresses, gateways, res)
    except Exception as exc:  # a bug of ours must not lose the rest of the report
        if os.environ.get("EXPOSURE_AUDIT_DEBUG"):
            raise
        msg = f"UPnP check failed unexpectedly ({type(exc).__name__}: {exc})"
        res.warn(msg, "re-run with EXPOSURE_AUDIT_DEBUG=1 for a traceback, and please report it")
        facts = UpnpFacts(status="error", message=msg)
    return facts, res.warnings


def _collect(
    opts: UpnpOptions, local: frozenset[str], gateways: frozenset[str], res: _Result
) -> UpnpFacts:
    from exposure_audit.collectors.upnp.http import FetchError, HttpClient

    timeout = opts.timeout if opts.timeout > 0 else 2.0
    with HttpClient(timeout) as client:
        if opts.igd_url:
            try:
                desc = _fetch_description(client, opts.igd_url, time.monotonic() + timeout)
            except (FetchError, _Unusable) as exc:
                msg = f"the IGD at {_short(opts.igd_url)!r} could not be used: {exc}"
                res.warn(msg, "check the --igd URL (the router's rootDesc.xml)")
                return UpnpFacts(status="error", location=_short(opts.igd_url), message=msg)
            return _read_igd(client, desc, opts, local, res, "named by --igd")
        return _discover_and_read(client, opts, timeout, local, gateways, res)


class _Unusable(Exception):
    pass


def _fetch_description(client: HttpClient, url: str, deadline: float) -> Description:
    from exposure_audit.collectors.upnp.description import XmlError, inert, parse_description

    resp = client.get(url, MAX_DESCRIPTION_BYTES, deadline)
    if 300 <= resp.status < 400:
        target = inert(resp.headers.get("location", ""), 200)
        raise _Unusable(f"it answered with a redirect to {target!r} (redirects are not followed)")
    if resp.status != 200:
        raise _Unusable(f"its description request answered HTTP {resp.status}")
    try:
        desc = parse_description(resp.body, url)
    except XmlError as exc:
        raise _Unusable(str(exc)) from None
    if not desc.wan_services:
        why = "; ".join(desc.problems)
        raise _Unusable(
            "its description offers no usable WANIPConnection/WANPPPConnection service"
            + (f" ({why})" if why else "")
        )
    return desc


# How long answers are gathered: devices answer within MX seconds of an M-SEARCH (UDA
# 1.1), and every answer of the window is weighed before one device is chosen.
GATHER_SECONDS = 1.5


def _discover_and_read(
    client: HttpClient,
    opts: UpnpOptions,
    timeout: float,
    local: frozenset[str],
    gateways: frozenset[str],
    res: _Result,
) -> UpnpFacts:
    """Gather every SSDP answer of the window, then try the devices in order: this
    host's default gateway first, then the others as they answered. A description
    served from this host's own address is never fetched (any local user can answer
    SSDP: only --igd may name such a device). The report says which device was used and
    why, and warns when several answered or the one used is not the gateway."""
    from exposure_audit.collectors.upnp.description import inert
    from exposure_audit.collectors.upnp.http import FetchError
    from exposure_audit.collectors.upnp.ssdp import Searcher, SsdpAnswer, location_problem

    start = time.monotonic()
    answers_until = start + min(timeout, GATHER_SECONDS)
    # Descriptions fetched after the window still get their own bound, but the whole
    # discovery phase never exceeds the window plus twice the timeout.
    phase_end = answers_until + 2 * timeout
    refused: dict[tuple[str, str], str] = {}
    failed: list[str] = []
    candidates: dict[str, SsdpAnswer] = {}  # LOCATION -> first answer naming it
    try:
        searcher = Searcher()
    except OSError as exc:
        msg = f"UPnP discovery not possible here ({exc.strerror or exc})"
        return UpnpFacts(status="not_found", message=msg)
    with searcher:
        try:
            searcher.send()
        except OSError as exc:
            msg = f"UPnP discovery not possible here: SSDP multicast failed ({exc.strerror or exc})"
            return UpnpFacts(status="not_found", message=msg)
        resend = start + min(1.0, timeout / 2)
        for answer in searcher.answers(answers_until, resend_at=resend):
            if answer.location in candidates or (answer.sender, answer.location) in refused:
                continue
            problem = location_problem(answer) or _own_address_problem(answer.sender, local)
            if problem is not None:
                refused[(answer.sender, answer.location)] = problem
                continue
            candidates[answer.location] = answer
    senders = list(dict.fromkeys(a.sender for a in candidates.values()))
    ordered = sorted(candidates.values(), key=lambda a: a.sender not in gateways)
    found = None
    chosen: SsdpAnswer | None = None
    for answer in ordered[: opts.max_candidates]:
        now = time.monotonic()
        try:
            desc = _fetch_description(
                client, answer.location, min(now + timeout, max(phase_end, now + 0.2))
            )
        except (FetchError, _Unusable) as exc:
            failed.append(f"the device at {answer.sender} could not be used: {exc}")
            continue
        found, chosen = desc, answer
        break
    elapsed = time.monotonic() - start

    for (sender, location), problem in list(refused.items())[:5]:
        res.warn(
            f"ignored an SSDP answer from {sender} pointing at {inert(location, 200)!r}: {problem}",
            "a description is fetched only from the address that answered, only from a "
            "private, link-local or loopback address, and never from this host's own "
            "address unless --igd names it",
        )
    if len(refused) > 5:
        res.warn(f"ignored {len(refused) - 5} more suspicious SSDP answers")
    for text in failed:
        res.warn(text)
    if found is None or chosen is None:
        if failed:
            return UpnpFacts(
                status="error",
                message=f"a UPnP gateway answered but could not be used: {failed[0]}",
            )
        if refused:
            n = len(refused)
            return UpnpFacts(
                status="not_found",
                message=f"no usable UPnP gateway: {n} suspicious SSDP answer"
                f"{'' if n == 1 else 's'} ignored (see the warnings)",
            )
        return UpnpFacts(
            status="not_found",
            message=f"no UPnP Internet Gateway Device answered ({elapsed:.1f} s of SSDP discovery)",
        )
    why = _why_chosen(chosen.sender, senders, gateways)
    if len(senders) > 1:
        others = ", ".join(s for s in senders if s != chosen.sender)
        res.warn(
            f"{len(senders)} UPnP gateways answered SSDP: used {chosen.sender} ({why}); "
            f"not read: {others}",
            "if the wrong device was used, name the router with --igd URL",
        )
    if gateways and chosen.sender not in gateways:
        res.warn(
            f"the UPnP gateway used, {chosen.sender}, is not this host's default gateway "
            f"({', '.join(sorted(gateways))}): its mappings may not be the ones that "
            "reach this host from the internet",
            "name the router with --igd URL",
        )
    return _read_igd(client, found, opts, local, res, why)


def _own_address_problem(sender: str, local: frozenset[str]) -> str | None:
    try:
        ip = ipaddress.ip_address(sender)
    except ValueError:
        return None
    if sender in local or ip.is_loopback:
        return (
            f"it came from this host's own address {sender}, where any local process can "
            "answer SSDP (name a gateway on this host with --igd URL)"
        )
    return None


def _why_chosen(sender: str, senders: list[str], gateways: frozenset[str]) -> str:
    if sender in gateways:
        return "this host's default gateway"
    if len(senders) == 1:
        return "the only device that answered"
    return "the first usable answer"


def _read_igd(
    client: HttpClient,
    desc: Description,
    opts: UpnpOptions,
    local: frozenset[str],
    res: _Result,
    why: str = "",
) -> UpnpFacts:
    from exposure_audit.collectors.upnp.description import inert
    from exposure_audit.collectors.upnp.mappings import read_mappings
    from exposure_audit.collectors.upnp.soap import SoapClient, SoapError, SoapFault

    base_loc = inert(desc.location, 200)
    for problem in desc.problems:
        res.warn(f"IGD description at {base_loc}: {problem}")
    if desc.invalid_utf8:
        res.warn(f"IGD description at {base_loc} has invalid UTF-8 (shown as U+FFFD)")
    base: _Device = {
        "location": inert(desc.location, 2048),
        "friendly_name": desc.friendly_name or None,
        "manufacturer": desc.manufacturer or None,
        "model_name": desc.model_name or None,
    }

    # The first WAN connection service that reports a usable external address wins
    # (a DSL modem may offer an idle WANIPConnection beside the live WANPPPConnection).
    chosen = None
    external_ip: str | None = None
    errors: list[str] = []
    for svc in desc.wan_services:
        soap = SoapClient(client, svc.control_url, svc.service_type)
        try:
            answer = soap.call("GetExternalIPAddress")
        except (SoapFault, SoapError) as exc:
            errors.append(f"{svc.service_type.rsplit(':', 2)[-2]}: {exc}")
            continue
        ip = _valid_ip(answer.values.get("NewExternalIPAddress", ""))
        if chosen is None or (external_ip is None and ip is not None):
            chosen, external_ip = soap, ip
        if ip is not None:
            break
    if chosen is None:
        msg = f"the IGD at {base_loc} did not answer GetExternalIPAddress: " + "; ".join(errors)
        res.warn(msg)
        return UpnpFacts(status="error", message=msg, **base)

    notes: list[str] = []
    external_scope: str | None = None
    if external_ip is None:
        notes.append("the router reports no external address (WAN link down?)")
    else:
        external_scope = addresses.address_scope(external_ip)
        nat = _nested_nat(external_ip, external_scope)
        if nat:
            notes.append(nat)
            res.warn(nat, "check the upstream router or ask the ISP for a public address")

    table = read_mappings(chosen, opts.max_mappings, opts.budget)
    for text in table.warnings:
        res.warn(text)

    firewall = _firewall_status(client, desc)
    if firewall:
        notes.append(firewall)

    to_host = sum(1 for m in table.mappings if m.internal_client in local)
    n = len(table.mappings)
    summary = (
        f"{n} port mapping{'' if n == 1 else 's'}"
        f"{' (truncated)' if table.truncated else ''}, {to_host} to this host"
    )
    if why:
        host = _host_of(desc.location)
        notes.insert(0, f"gateway {host} used: {why}" if host else f"gateway used: {why}")
    return UpnpFacts(
        status="ok",
        control_url=inert(chosen.control_url, 2048),
        service_type=chosen.service_type,
        external_ip=external_ip,
        external_scope=external_scope,
        mappings=table.mappings,
        truncated=table.truncated,
        message="; ".join([summary, *notes]),
        **base,
    )


def _valid_ip(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return None if ip.is_unspecified else str(ip)


def _nested_nat(external_ip: str, scope: str) -> str | None:
    ip = ipaddress.ip_address(external_ip)
    if isinstance(ip, ipaddress.IPv4Address) and ip in addresses.CGNAT:
        return (
            f"carrier-grade NAT: the router's own external address {external_ip} is in "
            "100.64.0.0/10, so its mappings reach the ISP's network, not necessarily the "
            "internet"
        )
    if scope != "public":
        return (
            f"double NAT: the router's own external address {external_ip} is not public "
            f"({scope}), so its mappings reach the next network out, not necessarily the "
            "internet"
        )
    return None


def _firewall_status(client: HttpClient, desc: Description) -> str | None:
    from exposure_audit.collectors.upnp.soap import SoapClient, SoapError, SoapFault

    svc = desc.firewall_service
    if svc is None:
        return None
    try:
        values = SoapClient(client, svc.control_url, svc.service_type).call("GetFirewallStatus")
    except (SoapFault, SoapError):
        return None
    enabled = values.values.get("FirewallEnabled", "").strip() in ("1", "true")
    inbound = values.values.get("InboundPinholeAllowed", "").strip() in ("1", "true")
    return (
        f"IPv6 firewall (WANIPv6FirewallControl): {'enabled' if enabled else 'DISABLED'}, "
        f"inbound pinholes {'allowed' if inbound else 'not allowed'} (pinholes cannot be "
        "listed through UPnP)"
    )


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _short(url: str) -> str:
    from exposure_audit.collectors.upnp.description import inert

    return inert(url, 200)
