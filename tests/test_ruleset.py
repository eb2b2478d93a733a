"""Rule loading and validation: the built-in rules and catalogue, and the broken corpus."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposure_audit.commands.options import add_rules_options, rules_options
from exposure_audit.core import resources
from exposure_audit.core.errors import ConfigError
from exposure_audit.core.model import SEVERITIES
from exposure_audit.policy.conditions import OPERATORS, TAGS
from exposure_audit.policy.loader import (
    FRAMEWORK_KEYS,
    PORT_KEYS,
    RULE_KEYS,
    load_documents,
    load_ruleset,
)
from exposure_audit.policy.templates import LISTENER_FIELDS, check_template
from exposure_audit.policy.values import Where

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BROKEN = FIXTURES / "rules_broken"
EXPECTED: dict[str, str] = json.loads((BROKEN / "expected.json").read_text(encoding="utf-8"))

# Ports issue 3 requires in the catalogue.
REQUIRED_PORTS = (
    8000, 8080, 8888, 3000, 4200, 5000, 5173, 8081, 9000, 9229, 5678, 4000, 1313, 6006,
    5432, 3306, 6379, 27017, 9200, 5601, 11211, 5672, 15672, 2375, 2376, 10250, 2379,
    3389, 5900, 22, 445, 139, 111, 2049, 9090, 9100,
)  # fmt: skip

VALID_RULE = """
[[port]]
port = 8123
service = "Thing server"
tags = ["dev-server"]
why = "because"

[[rule]]
id = "ACME-T-001"
title = "Thing reachable"
severity = "medium"
match.tags = ["dev-server"]
match.widest_at_least = "lan"
message = "{service} on {endpoint}"
remediation = "{fix}"
"""


def write(dir_: Path, name: str, text: str) -> Path:
    dir_.mkdir(parents=True, exist_ok=True)
    path = dir_ / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- broken corpus


def expected_message(key: str, path: Path) -> str:
    return (
        EXPECTED[key]
        .replace("{path}", str(path))
        .replace("{dir}", str(path))
        .replace("{builtin}", str(resources.rules_dir()))
    )


def test_corpus_and_expectations_match() -> None:
    on_disk = {p.name for p in BROKEN.glob("*.toml")} | {
        p.name for p in BROKEN.iterdir() if p.is_dir()
    }
    assert on_disk == set(EXPECTED)
    assert len(EXPECTED) >= 30


@pytest.mark.parametrize("name", sorted(k for k in EXPECTED if k.endswith(".toml")))
def test_broken_file_gives_its_exact_message(name: str, tmp_path: Path) -> None:
    shutil.copy(BROKEN / name, tmp_path / name)
    with pytest.raises(ConfigError) as exc:
        load_ruleset([tmp_path])
    assert str(exc.value) == expected_message(name, tmp_path / name)
    assert exc.value.exit_code == 2
    assert "\n" not in str(exc.value)


def test_duplicate_id_across_files_names_both(tmp_path: Path) -> None:
    d = tmp_path / "dup"
    shutil.copytree(BROKEN / "dup_across_files", d)
    with pytest.raises(ConfigError) as exc:
        load_ruleset([d])
    assert str(exc.value) == expected_message("dup_across_files", d)


def test_broken_file_also_fails_without_builtin_rules(tmp_path: Path) -> None:
    shutil.copy(BROKEN / "bad_severity.toml", tmp_path / "x.toml")
    with pytest.raises(ConfigError, match="did you mean 'high'"):
        load_ruleset([tmp_path], builtin=False)


# --------------------------------------------------------------------------- built-in data


def test_builtin_rules_load() -> None:
    rs = load_ruleset([])
    assert len(rs.rules) >= 15
    assert len({e.port for e in rs.catalogue.entries.values()}) >= 40


@pytest.mark.parametrize("port", REQUIRED_PORTS)
def test_catalogue_covers_required_port(port: int) -> None:
    entry = load_ruleset([]).catalogue.get("tcp", port)
    assert entry is not None, port
    assert entry.service and entry.tags and entry.why
    assert entry.references and all(r.startswith("https://") for r in entry.references)


def test_catalogue_udp_entries() -> None:
    cat = load_ruleset([]).catalogue
    assert cat.get("udp", 8125) is not None  # StatsD is UDP
    assert cat.get("udp", 5353) is not None
    assert cat.get("tcp", 5353) is None


def test_catalogue_tags_of_key_ports() -> None:
    cat = load_ruleset([]).catalogue
    assert "notebook" in cat.get("tcp", 8888).tags
    assert "debugger" in cat.get("tcp", 9229).tags
    assert "debugger" in cat.get("tcp", 5678).tags
    assert "container-api" in cat.get("tcp", 2375).tags
    assert "unauthenticated" in cat.get("tcp", 6379).tags
    assert "dev-server" in cat.get("tcp", 5173).tags
    assert "remote-admin" in cat.get("tcp", 22).tags


def test_every_builtin_rule_is_documented() -> None:
    for rule in load_ruleset([]).rules:
        assert re.fullmatch(r"EA-[A-Z0-9]+-\d{3}", rule.id), rule.id
        assert rule.severity in SEVERITIES
        assert rule.title and rule.message and rule.remediation
        assert len(rule.rationale) > 40, rule.id
        assert rule.references and all(r.startswith("https://") for r in rule.references)


def test_required_rule_families_exist() -> None:
    rules = {r.id: r for r in load_ruleset([]).rules}
    expected = {
        "EA-DEV-001": "high",  # dev server beyond loopback
        "EA-DBG-001": "critical",  # debugger beyond loopback
        "EA-DBG-002": "critical",  # notebook beyond loopback
        "EA-DATA-001": "high",  # unauthenticated-by-default store
        "EA-CTR-001": "critical",  # Docker API on TCP
        "EA-ADM-001": "medium",  # remote admin on a public address
        "EA-NET-001": "low",  # unknown service on a public address: review
        "EA-UPNP-001": "high",  # reachable through a UPnP mapping
        "EA-UPNP-002": "medium",  # dangling mapping
        "EA-LOCAL-001": "low",  # debugger on loopback
        "EA-LOCAL-003": "low",  # notebook on loopback
    }
    assert {k: rules[k].severity for k in expected} == expected
    assert rules["EA-UPNP-002"].kind == "dangling_mapping"
    assert "0.0.0.0 day" in rules["EA-LOCAL-001"].message
    refs = " ".join(rules["EA-LOCAL-002"].references)
    assert "CVE-2025-30359" in refs and "CVE-2024-34069" in refs


def test_builtin_frameworks_cover_the_issue_list() -> None:
    ids = {f.id for f in load_ruleset([]).frameworks}
    assert {
        "django", "flask", "http-server", "vite", "webpack-dev-server", "nextjs", "rails",
        "jupyter", "node-inspect",
    } <= ids  # fmt: skip


def test_readme_documents_every_condition_tag_and_field() -> None:
    readme = (resources.rules_dir() / "README.md").read_text(encoding="utf-8")
    for key in OPERATORS:
        assert f"`{key}`" in readme, key
    for tag in TAGS:
        assert f"`{tag}`" in readme, tag
    for name in LISTENER_FIELDS:
        assert f"{{{name}}}" in readme, name


# --------------------------------------------------------------------------- user rules


def test_user_rules_dir_adds_to_builtin(tmp_path: Path) -> None:
    write(tmp_path / "mine", "thing.toml", VALID_RULE)
    rs = load_ruleset([tmp_path / "mine"])
    ids = [r.id for r in rs.rules]
    assert "ACME-T-001" in ids and "EA-DEV-001" in ids
    assert rs.catalogue.get("tcp", 8123).service == "Thing server"


def test_no_builtin_rules_loads_only_the_users(tmp_path: Path) -> None:
    write(tmp_path / "mine", "thing.toml", VALID_RULE)
    rs = load_ruleset([tmp_path / "mine"], builtin=False)
    assert [r.id for r in rs.rules] == ["ACME-T-001"]
    assert rs.catalogue.get("tcp", 8000) is None


def test_a_single_file_and_the_builtin_dir_named_again(tmp_path: Path) -> None:
    path = write(tmp_path, "thing.toml", VALID_RULE)
    rs = load_ruleset([path, resources.rules_dir()])
    assert sum(r.id == "EA-DEV-001" for r in rs.rules) == 1
    assert "ACME-T-001" in {r.id for r in rs.rules}


def test_missing_and_empty_rule_dirs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such rules file or directory"):
        load_ruleset([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no \.toml rule files"):
        load_ruleset([tmp_path / "empty"])


def test_firewall_and_published_by_conditions_are_accepted(tmp_path: Path) -> None:
    text = VALID_RULE.replace(
        'match.widest_at_least = "lan"',
        'match.firewall = ["open", "unknown"]\nmatch.published_by = "docker"',
    )
    rs = load_ruleset([write(tmp_path, "fw.toml", text)], builtin=False)
    assert {c.key for c in rs.rules[0].conditions} == {"tags", "firewall", "published_by"}


def test_oversized_rule_file(tmp_path: Path) -> None:
    path = write(tmp_path, "big.toml", "# " + "x" * (1024 * 1024 + 10) + "\n")
    with pytest.raises(ConfigError, match="larger than 1024 KiB"):
        load_ruleset([path], builtin=False)


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{port[0]}", "only plain field names"),
        ("{process.__class__.__init__}", "only plain field names"),
        ("{port!r}", "format specs and !conversions"),
        ("{port:>99999}", "format specs and !conversions"),
        ("{}", "positional placeholder"),
        ("{0}", "positional placeholder"),
        ("{nope}", "unknown placeholder {nope}"),
        ("{port", "bad template"),
        ("}", "bad template"),
    ],
)
def test_template_validation(template: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        check_template(Where("f.toml", "rule X"), "message", template, LISTENER_FIELDS)
    assert fragment in str(exc.value)
    assert str(exc.value).startswith("f.toml: rule X: key 'message': ")


def test_literal_braces_are_fine() -> None:
    check_template(Where("f", "rule X"), "message", "use {{ and }} around {port}", LISTENER_FIELDS)
    assert string.Formatter().parse("{{x}}")  # sanity: the stdlib parser is what we use


def test_add_rules_options_round_trip() -> None:
    parser = argparse.ArgumentParser()
    add_rules_options(parser)
    args = parser.parse_args(
        ["--rules", "a", "--rules", "b", "--no-builtin-rules", "--config", "c.toml"]
    )
    assert rules_options(args) == {
        "rule_dirs": (Path("a"), Path("b")),
        "builtin_rules": False,
        "config_path": Path("c.toml"),
        "builtin_waivers": True,
    }
    defaults = rules_options(parser.parse_args(["--no-default-waivers"]))
    assert defaults == {
        "rule_dirs": (),
        "builtin_rules": True,
        "config_path": None,
        "builtin_waivers": False,
    }


def test_hostile_ids_stay_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.toml", VALID_RULE.replace('id = "ACME-T-001"', 'id = "A\\nB"'))
    with pytest.raises(ConfigError) as exc:
        load_ruleset([path], builtin=False)
    assert "\n" not in str(exc.value) and "rule 'A\\nB': key 'id': bad id" in str(exc.value)
    fw = '[[framework]]\nid = "x\\ny"\nname = "n"\ncmdline = "c"\nfix = "f"\n'
    with pytest.raises(ConfigError) as exc:
        load_ruleset([write(tmp_path, "f.toml", fw)], builtin=False)
    assert "\n" not in str(exc.value) and "framework 'x\\ny': key 'id': bad id" in str(exc.value)


# --------------------------------------------------------------------------- hostile input

toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.dates(),
    st.sampled_from(["8000-8099", "lan", "dev-server", "{port}", "{x.y}", "(", "high", "*"]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
plausible = st.one_of(
    st.sampled_from(
        [
            8000, 70000, 0, "8000-8099", "9-1", "lan", "public", "bogus", "dev-server", "databse",
            "tcp", "ipv6", "python*", "[", "(unclosed", "docker", "open", "django", True, False,
        ]
    ),
    st.lists(st.sampled_from([22, "1-2", "lan", "dev-server", "tcp", "*"]), max_size=3),
    toml_values,
)  # fmt: skip
condition_tables = st.dictionaries(st.sampled_from([*OPERATORS, "prot"]), plausible, max_size=3)
valid_rule = {
    "id": "ACME-1",
    "title": "t",
    "severity": "high",
    "message": "{endpoint}",
    "remediation": "{fix}",
}
rule_tables = st.builds(
    lambda ident, overrides, match, unless: {
        **valid_rule,
        "id": ident,
        **overrides,
        **({"match": match} if match is not None else {}),
        **({"unless": unless} if unless is not None else {}),
    },
    ident=st.sampled_from(["ACME-1", "ACME-2", "EA-DEV-001"]),
    overrides=st.dictionaries(
        st.sampled_from([*RULE_KEYS, "extra"]), plausible | st.just("{nope}"), max_size=1
    ),
    match=st.none() | condition_tables,
    unless=st.none() | condition_tables,
)
documents = st.fixed_dictionaries(
    {"rule": st.lists(rule_tables, max_size=3)},
    optional={
        "port": st.lists(st.dictionaries(st.sampled_from(PORT_KEYS), plausible), max_size=2),
        "framework": st.lists(
            st.dictionaries(st.sampled_from(FRAMEWORK_KEYS), plausible), max_size=2
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(documents, min_size=1, max_size=3))
def test_hostile_documents_give_a_config_error_or_a_ruleset(docs: list[dict]) -> None:
    """Whatever a rule file holds: a RuleSet, or one ConfigError naming the file."""
    paths = [Path(f"/rules/f{i}.toml") for i in range(len(docs))]
    try:
        rs = load_documents(zip(paths, docs, strict=True))
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text
        assert any(text.startswith(f"{p}: ") for p in paths), text
    else:
        assert all(r.severity in SEVERITIES for r in rs.rules)


@pytest.mark.parametrize("value", ["\n", "80\x1b[2J", "1-\u202e9"])
def test_a_hostile_port_value_is_shown_escaped_in_one_line(value: str) -> None:
    """Found by the property test above: the value itself is quoted in the message."""
    with pytest.raises(ConfigError) as err:
        load_documents([(Path("/rules/p.toml"), {"port": [{"port": value}]})])
    text = str(err.value)
    assert text.isprintable() and "bad port range" in text, text


def test_readme_examples_load(tmp_path: Path) -> None:
    """Every TOML example in rules/README.md is valid: the docs cannot drift from the code."""
    from exposure_audit.policy.config import load_config

    readme = (resources.rules_dir() / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL)
    assert len(blocks) >= 4
    for i, block in enumerate(blocks):
        if block.lstrip().startswith("[webhook]"):  # a config file section
            path = write(tmp_path / f"b{i}", "config.toml", block)
            assert load_config(path, builtin_waivers=False).webhook.url
            continue
        if "[[" not in block:  # a fragment of a rule: try it inside one
            block = VALID_RULE + block
        path = write(tmp_path / f"b{i}", "example.toml", block)
        if "[[waiver]]" in block:
            assert load_config(path, builtin_waivers=False).waivers
        elif "[[framework]]" in block:
            # a framework example reuses a built-in id on purpose: load it on its own
            assert load_ruleset([path], builtin=False).frameworks
        elif "[[port]]" in block:
            assert load_ruleset([path], builtin=False).catalogue.entries
        else:
            assert load_ruleset([path]).rules
