"""``exposure-audit fleet REPORT.json... | DIR``: many hosts' reports, one answer."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from exposure_audit.core.console import use_color
from exposure_audit.core.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, shown
from exposure_audit.core.model import SEVERITIES

DESCRIPTION = """\
Read the JSON reports of many hosts (files, or directories searched for *.json, such
as the tree 'ansible ... fetch' writes) and answer once, worst first: which hosts
expose what, grouped by port ("tcp/8000 reachable on the LAN on 12 hosts") and by
rule, internet exposures first; reports that are stale, unreadable, of a schema this
version cannot read, or that say their collection failed are called out. Nothing is
sent anywhere: the reports are only read.
"""

EPILOG = """\
output:
  --format terminal (default), json (reports/fleet.schema.json, docs/fleet.md), html
  (one self-contained page, links to each host's report beside it) or ocsf (every
  host's findings as OCSF Detection Findings, JSON Lines; docs/ocsf.md).
  -o FILE picks the format from the extension (.txt, .json, .html, .ocsf) and is
  written atomically.

staleness:
  a report whose generated_at is older than --stale-after (default 2h: an hourly
  schedule that missed a run) is flagged stale; its findings still count. Give
  --stale-after twice your schedule's interval (e.g. 2d for daily runs).

exit codes:
  0  no host has an unwaived finding at or above --fail-on
  1  a host has one (default: high); with --fail-on-problems also any stale or
     failed report
  2  usage error, or not one report could be read (the output still lists why)
"""

FORMATS = ("terminal", "json", "html", "ocsf")
EXTENSIONS = {".txt": "terminal", ".json": "json", ".html": "html", ".htm": "html",
              ".ocsf": "ocsf"}  # fmt: skip


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "fleet",
        help="many hosts' JSON reports in one view: who exposes what, worst first",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="REPORT.json|DIR", help="reports or directories")
    p.add_argument("-f", "--format", choices=FORMATS, default=None, help="default: terminal")
    p.add_argument("-o", "--output", metavar="PATH", default="-", help="default: standard output")
    p.add_argument(
        "--stale-after",
        metavar="INTERVAL",
        default="2h",
        help="flag reports older than this (15m, 2h, 1d, 1w; default: 2h)",
    )
    p.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        default="high",
        type=str.lower,
        choices=(*SEVERITIES, "none"),
        help="exit 1 when any host has an unwaived finding at or above SEVERITY "
        "(info, low, medium, high, critical, or none; default: high)",
    )
    p.add_argument(
        "--fail-on-problems",
        action="store_true",
        help="exit 1 also when a report is stale or failed",
    )
    p.add_argument(
        "--max-report-size",
        metavar="MiB",
        type=float,
        default=32,
        help="refuse report files larger than this (default: 32)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="terminal: the verdict line only")
    p.add_argument("--no-color", action="store_true", help="no colour (also NO_COLOR=1)")
    p.add_argument("--now", help=argparse.SUPPRESS)  # tests: the clock, ISO 8601 UTC
    p.set_defaults(func=run)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.output == "-":
        return "terminal"
    ext = os.path.splitext(args.output)[1].lower()
    if ext not in EXTENSIONS:
        raise UsageError(
            f"cannot tell the format of {args.output} from its extension "
            "(.txt, .json, .html, .ocsf): add --format"
        )
    return EXTENSIONS[ext]


def links_for(paths: list[str], output: str) -> dict[str, str | None]:
    """Each report's href, relative to the output's directory: the host's HTML report
    when one sits beside the JSON (same name, .html), else the JSON report itself."""
    from urllib.parse import quote

    base = os.getcwd() if output == "-" else os.path.dirname(os.path.abspath(output))
    out: dict[str, str | None] = {}
    for path in paths:
        stem, _ext = os.path.splitext(path)
        target = next((c for c in (stem + ".html", stem + ".htm") if os.path.isfile(c)), path)
        try:
            rel = os.path.relpath(os.path.abspath(target), base)
        except ValueError:
            out[path] = None
            continue
        out[path] = quote(rel.replace(os.sep, "/"), safe="/")  # ':' quoted: never a scheme
    return out


def run(args: argparse.Namespace) -> int:
    from exposure_audit import __version__
    from exposure_audit.automation.schedule import parse_every
    from exposure_audit.core.atomicio import write_atomic
    from exposure_audit.core.clock import now_iso
    from exposure_audit.reporting.fleet import (
        build_fleet,
        find_report_files,
        load_reports,
        parse_time,
    )

    fmt = _format(args)
    try:
        stale_after = parse_every(args.stale_after)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--every", "--stale-after")) from None
    if not 0 < args.max_report_size <= 4096:
        raise UsageError("--max-report-size: between 0 and 4096 MiB")
    max_bytes = int(args.max_report_size * 1024 * 1024)
    stamp = args.now or now_iso()
    now = parse_time(stamp)
    if now is None:
        raise UsageError(f"--now {shown(stamp)}: not ISO 8601 UTC (2026-11-27T14:00:05Z)")

    files, problems = find_report_files(list(args.paths))
    reports, read_problems, raws = load_reports(files, max_bytes, keep_raw=fmt == "ocsf")
    problems += read_problems
    fail_on = None if args.fail_on == "none" else str(args.fail_on)
    doc = build_fleet(
        reports,
        problems,
        now=now,
        generated_at=stamp,
        tool_version=__version__,
        stale_after=stale_after,
        fail_on=fail_on,
        links=links_for([r.path for r in reports], args.output) if fmt == "html" else None,
    )

    text = _render(fmt, doc, raws, args)
    write_atomic(args.output, text.encode("utf-8", errors="backslashreplace"))

    failed = [p for p in doc["problems"] if p["kind"] == "failed"]
    if args.output != "-" or fmt != "terminal":
        from exposure_audit.reporting.rendering import clean_text

        for p in failed[:20]:
            print(
                f"exposure-audit fleet: warning: {clean_text(p['path'])}: "
                f"{clean_text(p['message'])}",
                file=sys.stderr,
            )
        if len(failed) > 20:
            print(f"exposure-audit fleet: ... and {len(failed) - 20} more", file=sys.stderr)
    if not reports:
        print("exposure-audit fleet: error: not one host report could be read", file=sys.stderr)
        return EXIT_USAGE
    if doc["summary"]["failed"]:
        return EXIT_FINDINGS
    if args.fail_on_problems and any(p["kind"] in ("failed", "stale") for p in doc["problems"]):
        return EXIT_FINDINGS
    return EXIT_OK


def _render(fmt: str, doc: dict[str, Any], raws: list[Any], args: argparse.Namespace) -> str:
    import shutil

    from exposure_audit.reporting import RenderContext
    from exposure_audit.reporting.fleet_render import render_html, render_ocsf, render_terminal

    if fmt == "json":
        import json

        # Indented for a readable file; compact from 200 hosts (json's C encoder: ~5x faster).
        indent = 2 if len(doc["hosts"]) < 200 else None
        return json.dumps(doc, indent=indent, ensure_ascii=False) + "\n"
    if fmt == "html":
        return render_html(doc, RenderContext())
    if fmt == "ocsf":
        return render_ocsf(raws)
    to_tty = args.output == "-"
    color = to_tty and use_color(no_color=args.no_color)
    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 160)) if to_tty else 100
    return render_terminal(doc, RenderContext(color=color, width=width, quiet=args.quiet))
