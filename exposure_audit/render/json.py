"""The JSON report: the document itself (reports/report.schema.json is its contract)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from exposure_audit.render import RenderContext


def render(report: Mapping[str, Any], ctx: RenderContext) -> str:
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Undecodable bytes in a process name or cmdline (kept as lone surrogates):
        # ASCII escapes keep the document valid JSON and valid UTF-8.
        text = json.dumps(report, indent=2, ensure_ascii=True) + "\n"
    return text
