"""Evaluation: exposure resolution, the firewall verdicts and the rules engine, over
Facts only (no OS, no network): `run --facts` replays a saved collection through it."""

from __future__ import annotations

from exposure_audit.core.model import CollectorWarning, Evaluation, Facts
from exposure_audit.core.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime as _dt
    from pathlib import Path
    from typing import Any

    from exposure_audit.policy.config import Config


@record
class EvaluateOptions:
    """Which rules, waivers and config evaluate() applies."""

    rule_dirs: tuple[Path, ...] = ()
    builtin_rules: bool = True
    config_path: Path | None = None  # None = default location if it exists
    builtin_waivers: bool = True
    today: _dt.date | None = None  # for waiver expiry; None = today
    config: Config | None = None  # already loaded (run reads fail_on from it first)


def evaluate(facts: Facts, opts: EvaluateOptions) -> Evaluation:
    """Exposure resolution and the rules engine, over Facts only (no OS, no network)."""
    from exposure_audit.analysis.engine import run_rules
    from exposure_audit.analysis.exposure import resolve
    from exposure_audit.policy.config import load_config
    from exposure_audit.policy.loader import load_ruleset

    ruleset = load_ruleset(opts.rule_dirs, builtin=opts.builtin_rules)
    config = opts.config or load_config(opts.config_path, builtin_waivers=opts.builtin_waivers)
    resolved = resolve(facts)
    exposures = resolved.exposures
    if facts.firewall is not None:
        from exposure_audit.analysis.firewall.annotate import annotate
        from exposure_audit.analysis.firewall.published import published_exposures

        # + ports published to containers by DNAT with no host socket at all
        exposures = annotate(facts, exposures) + published_exposures(facts)
    import datetime as _dt

    today = opts.today or _dt.date.today()
    findings = run_rules(ruleset, facts, exposures, resolved.dangling, config.waivers, today)
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
