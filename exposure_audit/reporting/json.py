"""The JSON report: the document itself (reports/report.schema.json is its contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exposure_audit.core.atomicio import Streamed
from exposure_audit.core.jsonout import write_json
from exposure_audit.core.serialize import json_bytes, json_text
from exposure_audit.reporting import RenderContext


def render(report: Mapping[str, Any], ctx: RenderContext) -> str:
    return json_text(report)


def render_bytes(report: Mapping[str, Any]) -> bytes:
    """``render(report)`` encoded as UTF-8, encoded piece by piece: at 10,000 listeners
    the text, its tokens and the bytes are never all held at once."""
    return json_bytes(report)


def render_streamed(report: Mapping[str, Any]) -> Streamed:
    """``render_bytes(report)``, written straight into the staged file when published
    (atomicio.Streamed): the 18 MB of a 10,000-listener report are never held whole."""
    return Streamed(lambda fh: write_json(report, fh))
