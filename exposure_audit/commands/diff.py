"""``exposure-audit diff OLD.json NEW.json``: what changed between two JSON reports."""

from __future__ import annotations

import argparse
import json
import sys

from exposure_audit.automation.diffing import (
    diff_reports,
    diff_to_dict,
    fails,
    load_report,
    render_diff_text,
)
from exposure_audit.core.errors import EXIT_FINDINGS, EXIT_OK
from exposure_audit.core.model import SEVERITIES

EPILOG = """\
Findings are matched by fingerprint (rule and exposed service; never pid or time), so
a restarted service is unchanged, not resolved and new again.

exit codes:
  0  compared (changes or not); with --fail-on: no new unwaived finding at or above it
  1  with --fail-on: a new unwaived finding at or above that severity
  2  a file is missing, unreadable or not an exposure-audit JSON report
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "diff",
        help="compare two JSON reports: new, resolved and unchanged findings",
        description="Compare two JSON reports written by 'exposure-audit run --format json'.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("old", metavar="OLD.json", help="the earlier report")
    p.add_argument("new", metavar="NEW.json", help="the later report")
    p.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    p.add_argument(
        "--unchanged", action="store_true", help="list unchanged findings too (text format)"
    )
    p.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        metavar="SEVERITY",
        help=f"exit 1 when a new unwaived finding is at or above it ({', '.join(SEVERITIES)})",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    old = load_report(args.old)
    new = load_report(args.new)
    d = diff_reports(old, new)
    if args.format == "json":
        text = json.dumps(diff_to_dict(d), indent=2, ensure_ascii=False) + "\n"
    else:
        text = render_diff_text(d, show_unchanged=args.unchanged) or "No changes.\n"
    # A process name that is not UTF-8 arrives as a lone surrogate: print it escaped.
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8", errors="backslashreplace"))
    sys.stdout.flush()
    if args.fail_on and fails(d.new, args.fail_on):
        return EXIT_FINDINGS
    return EXIT_OK
