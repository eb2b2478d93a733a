"""The README says what the code does: facts it states are checked against the source."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from exposure_audit import cli
from exposure_audit.policy.config import parse_config
from exposure_audit.reporting.document import REPORT_SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_schema_version_the_readme_names_is_the_one_reports_carry() -> None:
    named = set(re.findall(r"`schema_version` (\d+\.\d+)", README))
    assert named == {REPORT_SCHEMA_VERSION}


def test_the_config_examples_are_valid_configs(tmp_path: Path) -> None:
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", README, flags=re.S) if "[[" in b]
    assert blocks
    for block in blocks:
        config = parse_config(tmp_path / "config.toml", tomllib.loads(block))
        assert config.waivers, block


def test_every_command_is_in_the_readme_table() -> None:
    for name in cli.COMMANDS:
        assert f"`exposure-audit {name}" in README, name
