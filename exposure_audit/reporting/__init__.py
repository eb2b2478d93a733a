"""Renderers: one module per output format, each ``render(report, ctx) -> str``.

``report`` is the dict from :func:`exposure_audit.reporting.document.build_report` (the JSON
contract); every format reads that same document. To add a format: a member of
:class:`Format`, a module here with ``render``, its entry in ``RENDERERS`` and its file
extension in ``EXTENSIONS`` (tests/test_report_json.py checks that every member renders).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exposure_audit.core.records import record


class Format(enum.Enum):
    TERMINAL = "terminal"
    JSON = "json"
    HTML = "html"
    PROMETHEUS = "prometheus"  # node_exporter textfile (render/prometheus.py)
    OCSF = "ocsf"  # OCSF 1.3.0 Detection Findings, JSON Lines (reporting/ocsf.py)


# Format -> the module whose ``render(report, ctx) -> str`` draws it (imported on use:
# jinja2 costs ~50 ms, and `collect` never renders).
RENDERERS: dict[Format, str] = {
    Format.TERMINAL: "exposure_audit.reporting.terminal",
    Format.JSON: "exposure_audit.reporting.json",
    Format.HTML: "exposure_audit.reporting.html",
    Format.PROMETHEUS: "exposure_audit.reporting.prometheus",
    Format.OCSF: "exposure_audit.reporting.ocsf",
}

# File extension -> format, for ``-o report.html`` without ``--format``.
EXTENSIONS: dict[str, Format] = {
    ".txt": Format.TERMINAL,
    ".json": Format.JSON,
    ".html": Format.HTML,
    ".htm": Format.HTML,
    ".prom": Format.PROMETHEUS,
    ".ocsf": Format.OCSF,
}

# Formats drawn from a jinja2 template, which ``--template`` may replace.
TEMPLATED: frozenset[Format] = frozenset({Format.TERMINAL, Format.HTML})


@record
class RenderContext:
    color: bool = False  # ANSI colour (terminal only)
    width: int = 100  # terminal columns
    quiet: bool = False  # terminal: the verdict line only
    template: Path | None = None  # a user's own jinja2 template for this format
    # view.build_view of the report being rendered, when the caller already has it: a
    # run that draws both the terminal summary and the HTML page builds it once
    view: Mapping[str, Any] | None = None


def format_names() -> list[str]:
    return [f.value for f in Format]


def render(fmt: Format, report: Mapping[str, Any], ctx: RenderContext | None = None) -> str:
    """Render ``report`` as ``fmt``. Raises ConfigError for a broken user template."""
    module = importlib.import_module(RENDERERS[fmt])
    return str(module.render(report, ctx or RenderContext()))


def format_for_path(path: str) -> Format | None:
    """The format an output file's extension implies, or None."""
    return EXTENSIONS.get(Path(path).suffix.lower())
