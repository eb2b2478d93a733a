"""The pipeline: collectors -> Facts -> exposure -> rules -> Evaluation.

Imports of the heavier stages happen inside functions so that `collect` does not pay
for jinja2 or requests (measured: ~170 ms of imports) unless it needs them.
"""

from __future__ import annotations

import time

from exposure_audit.model import (
    CollectorWarning,
    Evaluation,
    Facts,
    PublishedPort,
    UpnpFacts,
)
from exposure_audit.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime as _dt  # evaluate imports it: collect does not need datetime
    from pathlib import Path  # annotations only: collect does not need pathlib
    from typing import Any


@record
class CollectOptions:
    """What collect_facts collects (the collection flags of collect, run, port)."""

    upnp: bool = True  # False with --no-upnp / EXPOSURE_AUDIT_NO_UPNP=1
    igd_url: str | None = None
    upnp_timeout: float = 2.0
    firewall: bool = True


@record
class EvaluateOptions:
    """Which rules, waivers and config evaluate() applies."""

    rule_dirs: tuple[Path, ...] = ()
    builtin_rules: bool = True
    config_path: Path | None = None  # None = default location if it exists
    builtin_waivers: bool = True
    today: _dt.date | None = None  # for waiver expiry; None = today
    config: Any = None  # a config.Config already loaded (run reads fail_on from it first)
    extra: dict[str, object] = field(default_factory=dict)


def now_iso() -> str:
    """The current UTC time to the second, ISO 8601: ``2026-11-27T14:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def collect_facts(opts: CollectOptions) -> Facts:
    """Run every collector. A collector that fails partly adds warnings; never raises
    for a partial failure."""
    from exposure_audit.collectors.host import collect_host
    from exposure_audit.collectors.interfaces import collect_interfaces
    from exposure_audit.collectors.listeners import collect_listeners

    warnings: list[CollectorWarning] = []
    collected_at = now_iso()
    # The firewall collector mostly waits for nft / iptables-save: started first, read last.
    firewall_read = None
    if opts.firewall:
        from exposure_audit.collectors.firewall import start_firewall

        firewall_read = start_firewall()
    host = collect_host()
    ifaces = collect_interfaces()
    warnings.extend(ifaces.warnings)
    lst = collect_listeners()
    warnings.extend(lst.warnings)

    upnp: UpnpFacts
    if not opts.upnp:
        upnp = UpnpFacts(status="disabled", message="UPnP not checked (--no-upnp)")
    else:
        from exposure_audit.collectors.upnp import UpnpOptions, collect_upnp

        local = frozenset(a.address for i in ifaces.interfaces for a in i.addresses)
        upnp, upnp_warnings = collect_upnp(
            UpnpOptions(igd_url=opts.igd_url, timeout=opts.upnp_timeout), local
        )
        warnings.extend(upnp_warnings)

    firewall = None
    published: tuple[PublishedPort, ...] = ()
    if firewall_read is not None:
        firewall, found, fw_warnings = firewall_read.finish()
        published = tuple(found)
        warnings.extend(fw_warnings)

    return Facts(
        host=host,
        collected_at=collected_at,
        interfaces=tuple(ifaces.interfaces),
        gateways=tuple(ifaces.gateways),
        listeners=tuple(lst.listeners),
        upnp=upnp,
        warnings=tuple(warnings),
        ipv6_bindv6only=lst.ipv6_bindv6only,
        firewall=firewall,
        published=published,
    )


def evaluate(facts: Facts, opts: EvaluateOptions) -> Evaluation:
    """Exposure resolution and the rules engine, over Facts only (no OS, no network)."""
    from exposure_audit.config import load_config
    from exposure_audit.engine import run_rules
    from exposure_audit.exposure import resolve
    from exposure_audit.ruleset import load_ruleset

    ruleset = load_ruleset(opts.rule_dirs, builtin=opts.builtin_rules)
    config = opts.config or load_config(opts.config_path, builtin_waivers=opts.builtin_waivers)
    resolved = resolve(facts)
    exposures = resolved.exposures
    if facts.firewall is not None:
        from exposure_audit.firewall import annotate, published_exposures

        # + ports published to containers by DNAT with no host socket at all
        exposures = annotate(facts, exposures) + published_exposures(facts)
    import datetime as _dt

    today = opts.today or _dt.date.today()
    findings = run_rules(ruleset, facts, exposures, resolved.dangling, config, today)
    rule_ids = tuple(r.id for r in ruleset.rules)
    return Evaluation(
        facts=facts,
        exposures=tuple(exposures),
        findings=tuple(findings),
        dangling=tuple(resolved.dangling),
        rules_evaluated=rule_ids,
        warnings=facts.warnings + _inert_waivers(config.waivers, rule_ids),
    )


def _inert_waivers(waivers: Any, rule_ids: tuple[str, ...]) -> tuple[CollectorWarning, ...]:
    """A waiver of the user's whose rule pattern matches no loaded rule (a typo, a rule
    renamed or not loaded) silently does nothing: say so."""
    import fnmatch

    out = []
    for w in waivers:
        if w.source != "config":
            continue
        if not any(fnmatch.fnmatchcase(i.upper(), w.rule.upper()) for i in rule_ids):
            out.append(
                CollectorWarning(
                    collector="config",
                    message=f"a waiver for rule {w.rule!r} matches no loaded rule: it has no "
                    "effect",
                    hint="check the id with 'exposure-audit rules list'",
                )
            )
    return tuple(out)
