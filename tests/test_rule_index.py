"""The engine's rule index (rules by port, protocol and tags, candidates remembered per
port signature, protocol and tags) gives exactly what testing every rule's every
condition against every subject gives: a differential test over many generated
subjects, with the built-in rules and with rules written to stress the index (no port
condition, port ranges, protocol only, tags only, negations, ``unless`` on port,
protocol and tags).

The reference below reads the rules' conditions as loaded (``Rule.conditions`` and
``Rule.unless``), not the engine's compiled form, so an index that dropped or skipped a
rule for some subject would differ from it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from exposure_audit.analysis.engine import _compile, _RuleIndex
from exposure_audit.core.resources import rules_dir
from exposure_audit.policy.conditions import TAGS, Framework, Rule, RuleSet, Subject
from exposure_audit.policy.loader import load_ruleset

STRESS = """
[[rule]]
id = "T-PORT"
title = "t"
severity = "low"
match.port = [22, 80, "8000-8100"]
message = "m"
remediation = "r"

[[rule]]
id = "T-PORT-UDP"
title = "t"
severity = "low"
match.port = ["8050-9000"]
match.protocol = "udp"
message = "m"
remediation = "r"

[[rule]]
id = "T-PROTO"
title = "t"
severity = "high"
match.protocol = "tcp"
unless.port = [80]
message = "m"
remediation = "r"

[[rule]]
id = "T-NOTHING-INDEXED"
title = "t"
severity = "medium"
match.catalogued = false
match.widest_at_least = "lan"
message = "m"
remediation = "r"

[[rule]]
id = "T-EVERYTHING"
title = "t"
severity = "low"
match.family = ["ipv4", "ipv6"]
message = "m"
remediation = "r"

[[rule]]
id = "T-TAGS-UNLESS"
title = "t"
severity = "critical"
match.tags = ["database", "cache", "web"]
unless = [{ tags = ["cache"] }, { protocol = "udp", port = ["1-1024"] }]
message = "m"
remediation = "r"

[[rule]]
id = "T-UNLESS-ONLY"
title = "t"
severity = "low"
match.family = "ipv6"
unless.tags = ["debugger"]
message = "m"
remediation = "r"

[[rule]]
id = "T-NEGATED"
title = "t"
severity = "low"
match.upnp_mapped = false
match.reach = ["lan", "public"]
match.process = ["py*", "node"]
unless.cmdline = ["--safe"]
message = "m"
remediation = "r"

[[rule]]
id = "T-KINDS"
title = "t"
severity = "low"
match.only_interface_kind = ["physical", "vpn"]
unless.user = ["alice"]
unless.container = true
message = "m"
remediation = "r"

[[rule]]
id = "T-FRAMEWORK"
title = "t"
severity = "low"
match.framework = ["flask-debug", "jupyter"]
match.port = ["5000-9000"]
message = "m"
remediation = "r"

[[rule]]
id = "T-DANGLING"
kind = "dangling_mapping"
title = "t"
severity = "low"
match.external_port = ["1-2000"]
match.tags = ["web"]
message = "m"
remediation = "r"

[[rule]]
id = "T-DANGLING-ANY"
kind = "dangling_mapping"
title = "t"
severity = "low"
unless.port = [22]
message = "m"
remediation = "r"
"""

SCOPES = ["loopback", "link_local", "lan", "vpn", "public", "internet"]
KINDS = ["loopback", "physical", "vpn", "bridge", "container"]
PORTS = [None, 0, 1, 22, 79, 80, 81, 1024, 1025, 5000, 7999, 8000, 8050, 8100, 8101, 9000, 65535]


def _reference(rules: tuple[Rule, ...], kind: str, s: Subject) -> list[str]:
    """Every rule of ``kind``, every condition, in rule order: no index, no memo."""
    out = []
    for rule in rules:
        if rule.kind != kind:
            continue
        if not all(c.test(c.value, s) for c in rule.conditions):
            continue
        if any(all(c.test(c.value, s) for c in group) for group in rule.unless):
            continue
        out.append(rule.id)
    return out


def _subject(rng: random.Random, frameworks: tuple[Framework, ...]) -> Subject:
    widest = rng.choice(SCOPES)
    framework = rng.choice((None, None, *frameworks)) if frameworks else None
    return Subject(
        port=rng.choice(PORTS) if rng.random() < 0.7 else rng.randint(1, 65535),
        protocol=rng.choice(["tcp", "udp", None]),
        external_port=rng.choice([None, 22, 80, 1999, 2000, 2001, 40000]),
        family=rng.choice(["ipv4", "ipv6"]),
        tags=frozenset(rng.sample(sorted(TAGS), rng.choice([0, 0, 1, 2, 3]))),
        catalogued=rng.random() < 0.5,
        widest=widest,
        widest_rank=SCOPES.index(widest) if rng.random() < 0.9 else -1,
        scopes=frozenset(rng.sample(SCOPES, rng.randint(0, 3))),
        kinds=frozenset(rng.sample(KINDS, rng.randint(0, 2))),
        process=rng.choice([None, "python3", "node", "java", "postgres"]),
        cmdline=rng.choice([None, "python3 app.py", "node x.js --safe", "flask run --debug"]),
        user=rng.choice([None, "root", "alice"]),
        container=rng.choice([None, None, "4f2c9a1b7d3e"]),
        upnp_mapped=rng.random() < 0.3,
        firewall=rng.choice([None, "open", "filtered", "unknown"]),
        published_by=rng.choice([None, None, "docker", "podman"]),
        find_framework=lambda: framework,
    )


def _rulesets(tmp_path: Path) -> list[RuleSet]:
    (tmp_path / "stress.toml").write_text(STRESS, encoding="utf-8")
    return [
        load_ruleset([]),
        # the stress rules with the built-in frameworks and ports, without built-in rules
        load_ruleset(
            [rules_dir() / "ports.toml", rules_dir() / "frameworks.toml", tmp_path / "stress.toml"],
            builtin=False,
        ),
        load_ruleset([tmp_path / "stress.toml"]),
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_index_matches_every_rule_against_every_subject(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    for ruleset in _rulesets(tmp_path):
        wanted = {"flask-debug", "flask-debug-env", "jupyter", "angular", "webpack-dev-server"}
        frameworks = tuple(f for f in ruleset.frameworks if f.id in wanted)
        assert len(frameworks) >= 3
        for kind in ("listener", "dangling_mapping"):
            # one index for all subjects, as in a run: its caches and memo are shared
            index = _RuleIndex([_compile(r) for r in ruleset.rules if r.kind == kind])
            fired: set[str] = set()
            pool = [_subject(rng, frameworks) for _ in range(40)]
            for _ in range(4000):
                s = _mix(rng, rng.choice(pool), _subject(rng, frameworks))
                expected = _reference(ruleset.rules, kind, s)
                assert [r.id for r in index.matching(s)] == expected
                fired.update(expected)
            # the subjects reached most rules (else the comparison proves little)
            ids = {r.id for r in ruleset.rules if r.kind == kind}
            assert len(fired) >= len(ids) * 0.6, sorted(ids - fired)


_FIELDS = [a for a in Subject.__slots__ if not a.startswith("_")] + ["framework"]


def _mix(rng: random.Random, base: Subject, other: Subject) -> Subject:
    """``base`` with one or two of its fields (the port most often) taken from
    ``other``: subjects that differ in one thing, as listeners of one process do, so
    the index's remembered matches are reused, and must not be reused wrongly."""
    take = {"port"} if rng.random() < 0.4 else set(rng.sample(_FIELDS, rng.choice([1, 2])))
    kw = {a: getattr(other if a in take else base, a) for a in _FIELDS}
    framework = kw.pop("framework")
    return Subject(**kw, find_framework=lambda: framework)


def test_stress_rules_each_fire_and_each_miss(tmp_path: Path) -> None:
    """Each stress rule both matches some subjects and misses others through the index:
    the differential test above compares something on both sides for every rule."""
    ruleset = _rulesets(tmp_path)[1]
    rng = random.Random(9)
    hits: dict[str, int] = {r.id: 0 for r in ruleset.rules}
    total = {"listener": 0, "dangling_mapping": 0}
    indexes = {
        kind: _RuleIndex([_compile(r) for r in ruleset.rules if r.kind == kind]) for kind in total
    }
    for _ in range(3000):
        s = _subject(rng, ruleset.frameworks)
        for kind, index in indexes.items():
            total[kind] += 1
            for r in index.matching(s):
                hits[r.id] += 1
    kind_of = {r.id: r.kind for r in ruleset.rules}
    for rule_id, n in hits.items():
        if rule_id == "T-EVERYTHING":
            assert n == total["listener"]
        else:
            assert 0 < n < total[kind_of[rule_id]], rule_id
