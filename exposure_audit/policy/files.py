"""Reading policy files (rule files, the config file): TOML with a size bound, and the
words shared by their error messages ("did you mean ...", "expected a string, got ...")."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from exposure_audit.core.errors import ConfigError

MAX_FILE_BYTES = 1024 * 1024


def read_toml(path: Path, what: str = "a rule file") -> dict[str, Any]:
    from exposure_audit.core.safefs import read_input

    try:
        raw = read_input(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB: not {what}")
    made = _preparsed(raw)
    if made is not None:
        return made
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        why = "a number of more than 4300 digits" if "4300" in str(exc) else str(exc)[:120]
        raise ConfigError(f"{path}: not valid TOML ({why})") from None


def _preparsed(raw: bytes) -> dict[str, Any] | None:
    """A built-in rule file's document as scripts/preparse_rules.py stored it (parsing
    it is ~8 ms a run), only for bytes identical to the ones it was parsed from."""
    import hashlib

    from exposure_audit.policy.preparsed import DOCUMENTS

    made = DOCUMENTS.get(hashlib.sha256(raw).hexdigest())
    return made() if made is not None else None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def type_name(value: Any) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return names.get(type(value), type(value).__name__)
