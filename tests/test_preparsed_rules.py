"""The built-in rule files' stored parse (policy/preparsed.py) is current, is what a
run uses, and is never used for bytes other than the ones it was made from."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from exposure_audit.core.resources import rules_dir
from exposure_audit.policy.files import read_toml
from exposure_audit.policy.loader import load_ruleset
from exposure_audit.policy.preparsed import DOCUMENTS

FILES = sorted(rules_dir().rglob("*.toml"))


def test_every_builtin_file_has_its_current_parse() -> None:
    """Edited a rule file? Run scripts/preparse_rules.py (else every run parses it)."""
    assert len(FILES) >= 8
    digests = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in FILES}
    assert set(DOCUMENTS) == set(digests), "rules/ changed: run scripts/preparse_rules.py"
    for digest, path in digests.items():
        assert DOCUMENTS[digest]() == tomllib.loads(path.read_text(encoding="utf-8")), path


def test_each_read_gets_a_document_of_its_own() -> None:
    path = rules_dir() / "dev.toml"
    first = read_toml(path)
    first["rule"].clear()
    first["rule"] = None
    assert read_toml(path)["rule"], "a reader's changes leaked into the next read"


def test_a_run_does_not_parse_the_builtin_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_text: str) -> None:
        raise AssertionError("parsed TOML although the stored parse matches")

    monkeypatch.setattr(tomllib, "loads", refuse)
    rules = load_ruleset([])
    assert len(rules.rules) >= 20 and rules.frameworks


def test_an_edited_rule_file_is_parsed_from_what_it_says(tmp_path: Path) -> None:
    """One byte different (a severity changed): the stored parse is not used."""
    source = (rules_dir() / "dev.toml").read_text(encoding="utf-8")
    assert 'severity = "high"' in source
    edited = tmp_path / "dev.toml"
    edited.write_text(source.replace('severity = "high"', 'severity = "low"', 1))
    doc = read_toml(edited)
    assert doc == tomllib.loads(edited.read_text(encoding="utf-8"))
    original = tomllib.loads(source)
    assert doc != original
    assert [r["severity"] for r in doc["rule"]].count("low") == 1 + [
        r["severity"] for r in original["rule"]
    ].count("low")
