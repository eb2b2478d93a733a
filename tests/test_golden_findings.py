"""Golden tests: fixture Facts -> resolve -> firewall.annotate -> run_rules -> exact findings.

Each tests/fixtures/golden/NAME.facts.json (a realistic host, built by build_facts.py)
has NAME.findings.json: every finding's rule id, severity, fingerprint, waiver state,
message and remediation, in report order. NAME.config.toml, when present, is the config
file (waivers). Regenerate after an intended change with
``EA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden_findings.py`` and review the diff.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from exposure_audit.analysis.engine import run_rules
from exposure_audit.analysis.evaluate import EvaluateOptions
from exposure_audit.analysis.evaluate import evaluate as pipeline_evaluate
from exposure_audit.analysis.exposure import resolve
from exposure_audit.core.model import Finding
from exposure_audit.core.serialize import load_facts
from exposure_audit.policy.config import load_config
from exposure_audit.policy.loader import load_ruleset

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
CASES = sorted(p.name.removesuffix(".facts.json") for p in GOLDEN.glob("*.facts.json"))
TODAY = dt.date(2026, 11, 27)
UPDATE = os.environ.get("EA_UPDATE_GOLDEN") == "1"


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own ~/.config/exposure-audit must not leak into golden results."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def where(f: Finding) -> str:
    if f.exposure is not None:
        return f.exposure.key
    assert f.dangling is not None
    m = f.dangling.mapping
    return f"dangling {m.protocol}/{m.external_port}->{m.internal_client}:{m.internal_port}"


def summarise(f: Finding) -> dict[str, Any]:
    return {
        "listener": where(f),
        "rule_id": f.rule_id,
        "severity": f.severity,
        "fingerprint": f.fingerprint,
        "waived": f.waived,
        "waiver_reason": f.waiver_reason,
        "waiver_expired": f.waiver_expired,
        "message": f.message,
        "remediation": f.remediation,
    }


def evaluate(name: str) -> list[Finding]:
    """The run's own path: resolve, firewall annotation when there are firewall facts,
    then the rules engine with the case's config file (or none) and a fixed today."""
    facts = load_facts(GOLDEN / f"{name}.facts.json")
    config_path = GOLDEN / f"{name}.config.toml"
    opts = EvaluateOptions(config_path=config_path if config_path.exists() else None, today=TODAY)
    return list(pipeline_evaluate(facts, opts).findings)


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 6, CASES


@pytest.mark.parametrize("name", CASES)
def test_golden_findings(name: str) -> None:
    got = [summarise(f) for f in evaluate(name)]
    expected_path = GOLDEN / f"{name}.findings.json"
    if UPDATE:
        expected_path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert got == expected


def test_every_builtin_rule_fires_on_a_golden_fixture() -> None:
    """ScoutSuite silently skips most of its rules; here a rule without a fixture fails."""
    fired = {f.rule_id for name in CASES for f in evaluate(name)}
    builtin = {r.id for r in load_ruleset([]).rules}
    assert builtin - fired == set(), "built-in rules with no golden fixture"


def test_golden_run_is_deterministic() -> None:
    assert [summarise(f) for f in evaluate("laptop_cafe")] == [
        summarise(f) for f in evaluate("laptop_cafe")
    ]


def test_cafe_laptop_headline() -> None:
    """The design's headline example, spelled out: Django on 0.0.0.0:8000 at the café."""
    django = next(
        f for f in evaluate("laptop_cafe") if f.exposure and f.exposure.listener.port == 8000
    )
    assert django.rule_id == "EA-DEV-001"
    assert django.severity == "high"
    assert "everyone on wlan0 (192.168.1.0/24)" in django.message
    assert "manage.py runserver 127.0.0.1:8000" in django.remediation


def test_waivers_in_golden_server() -> None:
    by_rule = {
        (f.rule_id, f.exposure.listener.port): f for f in evaluate("server_public") if f.exposure
    }
    honeypot = by_rule[("EA-NET-001", 4444)]
    assert honeypot.waived and honeypot.waiver_reason == "research honeypot, reviewed by security@"
    ssh = by_rule[("EA-ADM-001", 22)]
    assert not ssh.waived and ssh.waiver_expired
    assert "expired on 2026-01-31" in ssh.message
    dns = by_rule[("EA-AMP-001", 53)]
    assert dns.waived


def test_builtin_waiver_is_visible_and_switchable() -> None:
    facts = load_facts(GOLDEN / "macbook.facts.json")
    resolved = resolve(facts)
    rs = load_ruleset([])
    on = run_rules(
        rs, facts, resolved.exposures, resolved.dangling, load_config(None).waivers, TODAY
    )
    off = run_rules(
        rs,
        facts,
        resolved.exposures,
        resolved.dangling,
        load_config(None, builtin_waivers=False).waivers,
        TODAY,
    )
    airplay_on = [f for f in on if f.exposure and f.exposure.listener.port == 5000]
    airplay_off = [f for f in off if f.exposure and f.exposure.listener.port == 5000]
    assert [f.waived for f in airplay_on] == [True]
    assert airplay_on[0].waiver_reason.startswith("built-in default waiver: macOS ControlCenter")
    assert [f.waived for f in airplay_off] == [False]
    assert [f.fingerprint for f in airplay_on] == [f.fingerprint for f in airplay_off]


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).parent / "fixtures" / "facts").glob("*.json")),
    ids=lambda p: p.name,
)
def test_other_fixture_facts_evaluate(path: Path) -> None:
    """The exposure engineer's fixture hosts also go through the engine without error."""
    facts = load_facts(path)
    resolved = resolve(facts)
    findings = run_rules(
        load_ruleset([]),
        facts,
        resolved.exposures,
        resolved.dangling,
        load_config(None).waivers,
        TODAY,
    )
    assert len({(f.rule_id, f.fingerprint) for f in findings}) == len(findings)
