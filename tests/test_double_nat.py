"""Behind double or carrier-grade NAT a UPnP mapping does not prove internet reach:
the findings must say so instead of overclaiming (issue 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exposure_audit.analysis.evaluate import EvaluateOptions, evaluate
from exposure_audit.core import records
from exposure_audit.core.serialize import load_facts

HOME = Path(__file__).parent / "fixtures" / "facts" / "upnp_home.json"


def _upnp_findings(external_ip: str, scope: str) -> list[str]:
    facts = load_facts(HOME)
    assert facts.upnp is not None
    upnp = records.replace(facts.upnp, external_ip=external_ip, external_scope=scope)
    ev = evaluate(records.replace(facts, upnp=upnp), EvaluateOptions(builtin_waivers=False))
    return [f.message for f in ev.findings if f.rule_id.startswith("EA-UPNP")]


@pytest.mark.parametrize(
    ("ip", "scope", "why"),
    [("10.0.0.2", "lan", "double NAT"), ("100.70.1.2", "vpn", "carrier-grade NAT")],
)
def test_private_wan_address_is_not_called_the_internet(ip: str, scope: str, why: str) -> None:
    messages = _upnp_findings(ip, scope)
    assert messages, "the UPnP rules must still fire"
    for m in messages:
        assert why in m and "perhaps not the whole internet" in m, m
        assert "anyone on the internet" not in m


def test_public_wan_address_is_the_internet() -> None:
    messages = _upnp_findings("94.130.77.88", "public")
    assert any("anyone on the internet" in m for m in messages)
    assert not any("double NAT" in m for m in messages)


def test_report_verdict_and_reach_words_say_double_nat() -> None:
    from exposure_audit.reporting.document import build_report

    facts = load_facts(HOME)
    assert facts.upnp is not None
    upnp = records.replace(facts.upnp, external_ip="10.0.0.2", external_scope="lan")
    ev = evaluate(records.replace(facts, upnp=upnp), EvaluateOptions(builtin_waivers=False))
    report = build_report(ev, generated_at="2026-01-01T00:00:00Z")
    text = " ".join(report["summary"].get("verdict_reasons", [])) + " ".join(
        w for x in report["exposures"] for w in x["reachable_from"]
    )
    assert "double NAT" in text
    assert "the internet via the router" not in text
