"""The firewall's state on macOS and Windows, from their stock commands, as evidence.

macOS: the Application Firewall (``socketfilterfw --getglobalstate --getblockall
--getstealthmode``) filters per application, and pf (``pfctl -s info``, ``pfctl -s rules``,
root only) per packet. Windows: ``netsh advfirewall show allprofiles`` gives each
profile's state and default inbound policy; its per-program rules are not read.

Neither ruleset is modelled rule by rule, so the verdict is ``unknown`` with the state as
evidence (backend "unavailable"), except where the state alone makes a claim safe:

- Application Firewall block-all on: every incoming connection is refused except those
  "required for basic Internet services, such as DHCP, Bonjour, and IPSec" (Apple): a
  drop policy with those UDP ports accepted, so they stay open and the rest filtered;
- nothing filtering at all (Application Firewall off and pf disabled; every Windows
  profile off): backend "none", every reach open (the widest verdict).
"""

from __future__ import annotations

from exposure_audit.core.model import (
    CollectorWarning,
    FirewallChain,
    FirewallFacts,
    FirewallMatch,
    FirewallRule,
)
from exposure_audit.core.privilege import elevate
from exposure_audit.core.records import field, record

SOCKETFILTERFW = "/usr/libexec/ApplicationFirewall/socketfilterfw"
ALF_ARGV = [SOCKETFILTERFW, "--getglobalstate", "--getblockall", "--getstealthmode"]
PF_INFO_ARGV = ["/sbin/pfctl", "-s", "info"]
PF_RULES_ARGV = ["/sbin/pfctl", "-s", "rules"]
NETSH_ARGV = ["netsh", "advfirewall", "show", "allprofiles"]
PF_HINT = f"{elevate('darwin')} to read pf"
# Apple: block-all still admits "basic Internet services, such as DHCP, Bonjour, and IPSec".
BLOCK_ALL_EXCEPTIONS = ("68", "5353", "500", "4500")
_MAX_LINES = 10_000


@record
class AlfState:
    """The Application Firewall's switches; None = not in the output."""

    enabled: bool | None = None
    global_state: int | None = None  # 0 off, 1 on, 2 essential services only
    block_all: bool | None = None
    stealth: bool | None = None
    evidence: tuple[str, ...] = ()  # the lines read, as printed


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()[:_MAX_LINES] if line.strip()]


def parse_socketfilterfw(text: str) -> AlfState:
    """Lines of ``socketfilterfw --getglobalstate --getblockall --getstealthmode``, in
    the wordings macOS releases print (``Block all DISABLED!`` is the older one)."""
    enabled = block_all = stealth = None
    state: int | None = None
    evidence: list[str] = []
    for line in _lines(text):
        low = line.lower()
        if low.startswith("firewall is enabled") or low.startswith("firewall is disabled"):
            enabled = low.startswith("firewall is enabled")
            _head, sep, tail = line.partition("(State = ")
            digits = tail.rstrip(")").strip()
            if sep and digits.isdigit() and len(digits) < 3:
                state = int(digits)
        elif low.startswith("firewall has block all state set to "):
            word = low.removeprefix("firewall has block all state set to ").rstrip(".")
            block_all = {"enabled": True, "disabled": False}.get(word)
        elif low in ("block all enabled!", "block all disabled!"):
            block_all = low == "block all enabled!"
        elif low.startswith("firewall stealth mode is "):
            stealth = {"on": True, "off": False}.get(low.removeprefix("firewall stealth mode is "))
        elif low in ("stealth mode enabled", "stealth mode disabled"):
            stealth = low == "stealth mode enabled"
        else:
            continue
        evidence.append(line[:200])
    if enabled is False:
        state = 0 if state is None else state
    return AlfState(enabled, state, block_all, stealth, tuple(evidence))


@record
class PfState:
    enabled: bool | None = None  # None: not readable (pfctl needs root)
    rules: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()


def parse_pfctl(info: str | None, rules: str | None) -> PfState:
    """``pfctl -s info`` (its ``Status: Enabled|Disabled`` line) and ``pfctl -s rules``
    (one rule per line; the ALTQ notices macOS prints first are not rules)."""
    enabled = None
    evidence: list[str] = []
    for line in _lines(info or ""):
        if line.startswith("Status: "):
            word = line.split()[1] if len(line.split()) > 1 else ""
            enabled = {"Enabled": True, "Disabled": False}.get(word)
            evidence.append(line[:200])
            break
    out = []
    for line in _lines(rules or ""):
        if line.startswith(("No ALTQ support", "ALTQ related functions")):
            continue
        if line.startswith("["):  # -v counters
            continue
        out.append(line[:500])
    return PfState(enabled, tuple(out), tuple(evidence))


@record
class NetshProfile:
    name: str  # "Domain" | "Private" | "Public"
    state: str | None = None  # "ON" | "OFF"
    policy: str | None = None  # "BlockInbound,AllowOutbound", ...
    settings: dict[str, str] = field(default_factory=dict)


def parse_netsh(text: str) -> list[NetshProfile]:
    """``netsh advfirewall show allprofiles`` (or ``currentprofile``): a block per
    ``<Name> Profile Settings:`` header, then ``Key   value`` lines."""
    blocks: list[tuple[str, dict[str, str]]] = []
    cur: dict[str, str] | None = None
    for line in _lines(text):
        if line.endswith("Profile Settings:"):
            cur = {}
            blocks.append((line.removesuffix("Profile Settings:").strip()[:40], cur))
            continue
        if cur is None or line.startswith("-") or line == "Ok.":
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            continue
        key, value = parts[0], parts[1].strip()
        if key == "Firewall" and value.startswith("Policy"):
            key, value = "Firewall Policy", value.removeprefix("Policy").strip()
        cur.setdefault(key[:60], value[:200])
    out = []
    for name, settings in blocks:
        state = settings.get("State", "").upper()
        out.append(
            NetshProfile(
                name=name,
                state=state if state in ("ON", "OFF") else None,
                policy=settings.get("Firewall Policy"),
                settings=settings,
            )
        )
    return out


# --------------------------------------------------------------------------- facts


def macos_facts(alf: AlfState, pf: PfState) -> FirewallFacts:
    evidence = "; ".join((*alf.evidence, *pf.evidence)) or "no firewall state could be read"
    if alf.enabled and alf.block_all:
        text = f"Application Firewall blocks all incoming connections ({evidence})"
        accept = FirewallRule(
            text="Application Firewall block-all admits DHCP, Bonjour and IPsec",
            matches=(
                FirewallMatch("l4proto", ("udp",)),
                FirewallMatch("dport", BLOCK_ALL_EXCEPTIONS),
            ),
            verdict="accept",
        )
        chain = FirewallChain(
            table="application-firewall",
            family="inet",
            name="block-all",
            hook="input",
            type="filter",
            priority=0,
            policy="drop",
            rules=(accept,),
        )
        return FirewallFacts(backend="macos-alf", chains=(chain,), message=text)
    if alf.enabled is False and pf.enabled is False:
        return FirewallFacts(
            backend="none", message=f"Application Firewall off and pf disabled ({evidence})"
        )
    why = "per-application rules and pf are not modelled"
    if pf.enabled is None:
        why += "; pf's state not readable (pfctl needs root)"
    return FirewallFacts(backend="unavailable", message=f"{evidence} ({why})")


def windows_facts(profiles: list[NetshProfile]) -> FirewallFacts:
    evidence = "; ".join(f"{p.name}: {p.state or '?'} {p.policy or ''}".strip() for p in profiles)
    if profiles and all(p.state == "OFF" for p in profiles):
        return FirewallFacts(
            backend="none", message=f"every Windows Firewall profile off ({evidence})"
        )
    return FirewallFacts(
        backend="unavailable",
        message=(
            f"Windows Firewall: {evidence or 'state not readable'} (per-program rules are not "
            "read, and which profile each network uses is not known)"
        ),
    )


def collect_os_firewall(platform: str) -> tuple[FirewallFacts | None, list[CollectorWarning]]:
    """The firewall state on macOS or Windows; (None, []) elsewhere."""
    from exposure_audit.collectors.portable import run_stock

    warnings: list[CollectorWarning] = []
    if platform == "darwin":
        text, error = run_stock(ALF_ARGV)
        if text is None:
            warnings.append(CollectorWarning("firewall", f"Application Firewall: {error}"))
        info, err_info = run_stock(PF_INFO_ARGV)
        rules, _err = run_stock(PF_RULES_ARGV) if info is not None else (None, "")
        if info is None:
            warnings.append(CollectorWarning("firewall", f"pf: {err_info}", hint=PF_HINT))
        return macos_facts(parse_socketfilterfw(text or ""), parse_pfctl(info, rules)), warnings
    if platform == "win32":
        text, error = run_stock(NETSH_ARGV)
        if text is None:
            warnings.append(CollectorWarning("firewall", f"Windows Firewall: {error}"))
        return windows_facts(parse_netsh(text or "")), warnings
    return None, warnings
