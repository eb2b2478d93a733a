"""The JSON report: the document itself (reports/report.schema.json is its contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exposure_audit.render import RenderContext
from exposure_audit.serialize import json_text


def render(report: Mapping[str, Any], ctx: RenderContext) -> str:
    return json_text(report)
