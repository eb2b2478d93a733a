"""Golden-file comparison shared by the report tests.

Set EA_UPDATE_GOLDEN=1 to rewrite the golden files from the current output (then
review the diff with git before committing it).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
SCHEMA_PATH = REPO / "reports" / "report.schema.json"

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def normalise_time(text: str, keep: tuple[str, ...] = ()) -> str:
    """Replace generated-at timestamps (not the ones in ``keep``, e.g. collected_at)."""
    return _STAMP.sub(lambda m: m.group() if m.group() in keep else "<TIME>", text)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("EA_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run with EA_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"golden/{name}",
                "actual",
                n=2,
            )
        )
        raise AssertionError(
            f"output differs from golden/{name} (if intended: EA_UPDATE_GOLDEN=1 pytest "
            f"{{this test}}, then review git diff):\n{diff[:6000]}"
        )


_VALIDATOR: jsonschema.Draft202012Validator | None = None


def validate_report(report: Any) -> None:
    """Fail with every schema error, each with its path in the report."""
    global _VALIDATOR
    if _VALIDATOR is None:
        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        _VALIDATOR = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.FormatChecker()
        )
    # Round-trip through JSON: validate what a reader would see, not Python objects.
    data = json.loads(json.dumps(report))
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
                 for e in errors[:20]]  # fmt: skip
        raise AssertionError(
            "report does not match reports/report.schema.json:\n" + "\n".join(lines)
        )
