"""``exposure-audit rules list|check``: show the rules, validate rule files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from exposure_audit.core import resources
from exposure_audit.core.errors import EXIT_OK, UsageError
from exposure_audit.policy.loader import load_files, load_ruleset, rule_files

EPILOG = """\
Rule files are TOML: [[rule]], [[framework]] and [[port]] tables (see rules/README.md).

exit codes:
  0  the rules are valid (check) / listed (list)
  2  a rule file is broken: the message names the file, the rule and the key
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "rules",
        help="list the rules, or check rule files",
        description="List the rules in use, or validate rule files before using them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="rules_command", metavar="COMMAND", parser_class=type(p))

    lst = sub.add_parser(
        "list",
        help="id, severity and title of every rule",
        description="Show the id, severity and title of every rule that a run would use.",
    )
    lst.add_argument(
        "--rules",
        metavar="DIR",
        dest="rule_dirs",
        action="append",
        type=Path,
        default=[],
        help="also load the rule files in DIR (repeatable)",
    )
    lst.add_argument(
        "--no-builtin-rules",
        dest="builtin_rules",
        action="store_false",
        help="list only the rules given with --rules",
    )
    lst.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    lst.set_defaults(func=run_list)

    chk = sub.add_parser(
        "check",
        help="validate rule files or directories",
        description=(
            "Validate rule files (or directories of them) together with the built-in rules, "
            "as a run would load them: unknown keys, bad severities, regexes and templates, "
            "duplicate ids (including clashes with built-in ids)."
        ),
    )
    chk.add_argument(
        "paths", metavar="PATH", nargs="+", type=Path, help="a .toml file or a directory"
    )
    chk.add_argument(
        "--no-builtin-rules",
        dest="builtin_rules",
        action="store_false",
        help="check the files on their own, without the built-in rules",
    )
    chk.set_defaults(func=run_check)

    p.set_defaults(func=lambda _args: _usage(p))


def _usage(p: argparse.ArgumentParser) -> int:
    raise UsageError(f"{p.prog}: say 'list' or 'check PATH...'")


def run_list(args: argparse.Namespace) -> int:
    if not args.builtin_rules and not args.rule_dirs:
        raise UsageError("--no-builtin-rules needs at least one --rules DIR")
    ruleset = load_ruleset(args.rule_dirs, builtin=args.builtin_rules)
    if args.json:
        rows = [
            {
                "id": r.id,
                "severity": r.severity,
                "title": r.title,
                "kind": r.kind,
                "source": r.source,
            }
            for r in ruleset.rules
        ]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    from exposure_audit.core.termtext import terminal_text

    shown = [
        (terminal_text(r.id, 80), r.severity, terminal_text(r.title, 300)) for r in ruleset.rules
    ]
    width = max((len(i) for i, _s, _t in shown), default=2)
    lines = [f"{'ID':<{width}}  {'SEVERITY':<8}  TITLE"]
    lines += [f"{i:<{width}}  {sev:<8}  {title}" for i, sev, title in shown]
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    checked: list[Path] = []
    for path in args.paths:
        checked.extend(rule_files(path))
    files: list[Path] = []
    builtin = rule_files(resources.rules_dir()) if args.builtin_rules else []
    if builtin and any(_is_builtin_set(path, builtin) for path in args.paths):
        # `rules check rules/` in a checkout: those files are the built-in rules (edited,
        # perhaps), not additions to the installed copy of them.
        builtin = []
    files.extend(builtin)
    files.extend(checked)
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    ruleset = load_files(list(unique.values()))
    mine = {f.resolve() for f in checked}
    count = sum(1 for r in ruleset.rules if Path(r.source).resolve() in mine)
    n_files = len(mine)
    plural = "s" if count != 1 else ""
    file_plural = "s" if n_files != 1 else ""
    sys.stdout.write(f"{count} rule{plural} OK ({n_files} file{file_plural})\n")
    return EXIT_OK


def _is_builtin_set(path: Path, builtin: list[Path]) -> bool:
    """A directory holding every built-in rule file by name: a copy of the built-in rules
    (the repository's own rules/), checked in their place."""
    if not path.is_dir():
        return False
    names = {f.relative_to(resources.rules_dir()).as_posix() for f in builtin}
    return names <= {f.relative_to(path).as_posix() for f in rule_files(path)}
