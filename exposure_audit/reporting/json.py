"""The JSON report: the document itself (reports/report.schema.json is its contract)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exposure_audit.core.serialize import json_text
from exposure_audit.reporting import RenderContext


def render(report: Mapping[str, Any], ctx: RenderContext) -> str:
    return json_text(report)
