"""The terminal summary: worst first, one block per exposed listener, the fix for each.

Drawn from reports/terminal.txt.j2 (or the user's ``--template``). Every value is
cleaned of control characters (process names and command lines are attacker-chosen);
colour only when the caller says so (a TTY without NO_COLOR).
"""

from __future__ import annotations

import shlex
import textwrap
from collections.abc import Mapping
from typing import Any

from exposure_audit.reporting import RenderContext
from exposure_audit.reporting.grouping import endpoint
from exposure_audit.reporting.rendering import Safe, clean_text, finalize_terminal
from exposure_audit.reporting.view import build_view

TEMPLATE = "terminal.txt.j2"

# ANSI SGR codes by style name: the terminal report and the fleet view alike.
STYLES = {
    "critical": "1;97;41",
    "high": "1;31",
    "medium": "1;33",
    "low": "1;36",
    "info": "2",
    "ok": "1;32",
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
}


def _filters(ctx: RenderContext) -> dict[str, Any]:
    def color(value: object, style: str) -> Safe:
        text = value if isinstance(value, Safe) else clean_text(value)
        code = STYLES.get(str(style))
        if not ctx.color or not code or not text:
            return Safe(text)
        return Safe(f"\x1b[{code}m{text}\x1b[0m")

    def short(value: object, width: int) -> Safe:
        text = clean_text(value)
        width = max(int(width), 8)
        return Safe(text if len(text) <= width else text[: width - 1] + "…")

    def wrap(
        value: object, width: int, indent: int = 0, first: int | None = None, lines: int = 0
    ) -> Safe:
        """Wrap to ``width`` columns in all: later lines start with ``indent`` spaces; the
        first line starts at column ``first`` (default ``indent``), after a label the
        template has already printed, so it gets no spaces of its own. ``lines`` > 0:
        at most that many lines, the last ending in " …" when text was left out."""
        text = clean_text(value)
        width, indent = int(width), int(indent)
        start = indent if first is None else int(first)
        newline = ""
        if width - start < 16 <= width - indent:  # no room after the label: next line
            start, newline = indent, "\n" + " " * indent
        out = textwrap.wrap(
            text,
            width=max(width, start + 16, indent + 16),
            initial_indent="\0" * start,
            subsequent_indent=" " * indent,
            break_on_hyphens=False,
        )
        if not out:
            return Safe("")
        if 0 < int(lines) < len(out):
            del out[int(lines) :]
            out[-1] = out[-1][: max(width, indent + 16) - 2] + " …"
        out[0] = newline + out[0][start:]
        return Safe("\n".join(out))

    def cmd(argv: object) -> str:
        if isinstance(argv, (list, tuple)):
            return " ".join(a if a and _plain(a) else shlex.quote(a) for a in map(str, argv))
        return str(argv)

    def ep(obj: Mapping[str, Any]) -> str:
        return endpoint(str(obj.get("address", "")), obj.get("port"))

    def upper(value: object) -> str:
        return str(value).upper()

    return {
        "c": color,
        "short": short,
        "wrap": wrap,
        "cmd": cmd,
        "upper_": upper,
        "ep": ep,
        "clen": lambda v: len(clean_text(v)),
    }


def _plain(arg: str) -> bool:
    return all(ch.isalnum() or ch in "-_./=:,@%+" for ch in arg)


def render(report: Mapping[str, Any], ctx: RenderContext) -> str:
    filters = _filters(ctx)
    context = {
        "report": report,
        "summary": report["summary"],
        "view": ctx.view if ctx.view is not None else build_view(report),
        "width": max(40, ctx.width),
        "quiet": ctx.quiet,
        "color": ctx.color,
    }
    text = None
    if ctx.template is None:  # the built-in template: its precompiled code, no jinja2
        from exposure_audit.reporting.compiled import render_builtin

        text = render_builtin(TEMPLATE, context, filters, finalize_terminal)
    if text is None:
        from exposure_audit.reporting.templating import environment, render_template

        env = environment("terminal", ctx.template, filters)
        text = render_template(env, TEMPLATE, ctx.template, context)
    # a label whose text moved to the next line leaves trailing blanks: drop them
    return "\n".join(line.rstrip(" ") for line in text.split("\n"))
