"""``exposure-audit run``: collect (or load saved Facts), evaluate, report, exit code.

The sequence, each step a function so later options slot in between:

    plan outputs (usage errors, before anything is touched)
    -> facts: collect, or load --facts FILE (then no collector is even imported)
    -> evaluate: exposure resolution + rules + waivers
    -> build the report document (report.py: the JSON contract)
    -> render every requested format (a broken template fails here: nothing written)
    -> write every file (staged: all or none), then standard output
    -> exit code from --fail-on
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from pathlib import Path
from typing import Any

from exposure_audit.commands.options import add_collect_options, add_rules_options, rules_options
from exposure_audit.core.atomicio import Content, Streamed, publish
from exposure_audit.core.errors import EXIT_USAGE, UsageError
from exposure_audit.core.model import SEVERITIES, Evaluation, Facts
from exposure_audit.core.records import record

DESCRIPTION = """\
Collect what this machine exposes (or load saved Facts with --facts), work out where
each listening service can be reached from, check it against the rules, and report
it worst first: what, reachable from where, and the one-line fix.
"""

EPILOG = """\
output:
  Without --format or -o, the terminal summary goes to standard output.
  -o FILE picks the format from the extension (.txt terminal, .json, .html, .prom
  Prometheus), and the terminal summary still goes to standard output unless a
  format is sent there with -o -.
  --format F (repeatable, or comma-separated: --format json,html) chooses formats
  explicitly: each -o FILE takes the format its extension names, the others are
  paired with the remaining -o in order, and at most one format may be left
  without a file: it goes to standard output.
  --template [FORMAT=]PATH renders terminal or html output from your own jinja2
  template (FORMAT defaults from the file name: html if it contains .htm, else
  terminal). A template sees the JSON report's document as `report` (e.g.
  {{ report.findings }}, {{ report.host.hostname }}), plus `summary` (=
  report.summary) and `view` (the rows the built-in templates draw).
  Files are written atomically and only after everything rendered: a failed run
  (bad rule, bad template, unwritable path) leaves previous reports untouched.
  Each file written is named on standard error (not with --quiet or --since-last).

examples:
  exposure-audit run --no-upnp                     summary of this machine
  exposure-audit run -o report.html                also write the HTML report
  exposure-audit run --format json -o -            the JSON report on standard output
  exposure-audit run --facts facts.json -o r.json  evaluate saved Facts, offline
  exposure-audit run --quiet --fail-on medium      one line, and exit 1 on medium+

exit codes:
  0  no unwaived finding at or above --fail-on
  1  an unwaived finding at or above --fail-on (default: high)
  2  usage, configuration, rule, template or input-file error; or an output could
     not be written (nothing was written)
  3  collection failed outright
  4  --webhook-strict only: the report was not delivered to the webhook
  5  another run held the state directory's lock past --lock-timeout

cron (see 'exposure-audit schedule'):
  exposure-audit run --since-last --state-dir DIR   print only what changed since the
                                                   last run (nothing if nothing did);
                                                   --fail-on then counts new findings only
"""

FAIL_ON_CHOICES = (*SEVERITIES, "none")


@record
class Output:
    format: Any  # render.Format
    path: str  # "-" = standard output


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    p = subparsers.add_parser(
        "run",
        help="collect, evaluate and report: what is reachable from where, and the fix",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--facts",
        metavar="FILE",
        help="evaluate a saved Facts file (from 'collect', or a JSON report) instead of "
        "collecting: touches nothing on this machine",
    )
    add_collect_options(p)
    add_rules_options(p)
    g = p.add_argument_group("output")
    g.add_argument(
        "-f",
        "--format",
        metavar="FORMAT",
        action="append",
        default=[],
        help="terminal, json, html or prometheus (repeatable, or comma-separated)",
    )
    g.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        action="append",
        default=[],
        help="write a report to PATH ('-' = standard output; repeatable)",
    )
    g.add_argument(
        "--template",
        metavar="[FORMAT=]PATH",
        action="append",
        default=[],
        help="your own jinja2 template for the terminal or html output",
    )
    g.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        default=None,
        type=str.lower,
        choices=FAIL_ON_CHOICES,
        help="exit 1 when an unwaived finding is at or above SEVERITY "
        "(info, low, medium, high, critical, or none; default: the config file's "
        "[defaults] fail_on, else high)",
    )
    g.add_argument(
        "-q", "--quiet", action="store_true", help="terminal output: only the verdict line"
    )
    g.add_argument(
        "--no-color",
        action="store_true",
        help="no colour (also NO_COLOR=1; colour is only ever used on a terminal)",
    )
    # --- cron tooling (cron.py): --state-dir, --since-last, --baseline,
    # --keep, --fail-on-existing, --lock-timeout, --webhook*
    from exposure_audit.commands.cron import add_cron_options

    add_cron_options(p)
    # --- end cron tooling
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- planning


def parse_formats(values: list[str]) -> list[Any]:
    from exposure_audit.reporting import Format, format_names

    out: list[Any] = []
    for value in values:
        for name in value.split(","):
            name = name.strip().lower()
            if not name:
                continue
            try:
                fmt = Format(name)
            except ValueError:
                raise UsageError(
                    f"unknown format {name!r} (choose from {', '.join(format_names())})"
                ) from None
            if fmt not in out:
                out.append(fmt)
    return out


def plan_outputs(formats: list[Any], outputs: list[str]) -> tuple[list[Output], bool]:
    """Pair formats with destinations. Returns (outputs, implicit_terminal): the second is
    True when the terminal summary was added for stdout without being asked for."""
    from exposure_audit.reporting import Format, format_for_path

    seen: set[str] = set()
    for path in outputs:
        key = path if path == "-" else os.path.abspath(path)
        if key in seen:
            raise UsageError(f"-o {path} given twice")
        seen.add(key)

    if not formats:
        plan = []
        for path in outputs:
            fmt = Format.TERMINAL if path == "-" else format_for_path(path)
            if fmt is None:
                raise UsageError(
                    f"cannot tell the format of {path} from its extension "
                    "(.txt, .json, .html, .prom): add --format"
                )
            plan.append(Output(fmt, path))
        if not any(o.path == "-" for o in plan):
            plan.append(Output(Format.TERMINAL, "-"))
            return plan, True
        return plan, False

    remaining = list(formats)
    plan = []
    unpaired = []
    for path in outputs:
        fmt = format_for_path(path) if path != "-" else None
        if fmt is not None and fmt in remaining:
            remaining.remove(fmt)
            plan.append(Output(fmt, path))
        else:
            unpaired.append(path)
    for path in unpaired:
        if not remaining:
            raise UsageError(f"no --format left for -o {path}")
        plan.append(Output(remaining.pop(0), path))
    if len(remaining) > 1:
        names = ", ".join(f.value for f in remaining)
        raise UsageError(f"formats {names} have no -o: give each its own -o PATH (or -o -)")
    if remaining:
        if any(o.path == "-" for o in plan):
            raise UsageError(f"format {remaining[0].value} has no -o, and standard output is taken")
        plan.append(Output(remaining[0], "-"))
    return plan, False


def parse_templates(values: list[str]) -> dict[Any, Path]:
    from exposure_audit.reporting import TEMPLATED, Format

    out: dict[Any, Path] = {}
    for value in values:
        prefix, sep, rest = value.partition("=")
        fmt = None
        if sep and prefix.lower() in {f.value for f in Format}:
            fmt, path = Format(prefix.lower()), Path(rest)
        else:
            path = Path(value)
            fmt = Format.HTML if ".htm" in path.name.lower() else Format.TERMINAL
        if fmt not in TEMPLATED:
            raise UsageError(f"--template: the {fmt.value} format takes no template")
        if fmt in out:
            raise UsageError(f"--template given twice for {fmt.value}")
        if not path.is_file():
            what = "not a regular file" if path.exists() else "no such file"
            raise UsageError(f"--template {path}: {what}")
        out[fmt] = path
    return out


def use_color(args: argparse.Namespace, stream: Any = None) -> bool:
    from exposure_audit.core.console import use_color as console_color

    return console_color(stream, no_color=args.no_color)


# --------------------------------------------------------------------------- steps


def load_or_collect(args: argparse.Namespace, config: Any = None) -> Facts:
    if args.facts:
        return load_facts_file(args.facts)  # never probes: replays the saved probe results
    from exposure_audit.collectors.collect import collect_facts
    from exposure_audit.commands.collect import options_from_args

    return collect_facts(options_from_args(args, config.probe if config is not None else None))


def load_facts_file(path: str) -> Facts:
    """A Facts file from ``collect``, or a JSON report from ``run`` (its ``facts``)."""
    from exposure_audit.core.serialize import load_facts

    return load_facts(path)


def evaluate(args: argparse.Namespace, facts: Facts, config: Any = None) -> Evaluation:
    from exposure_audit.analysis.evaluate import EvaluateOptions
    from exposure_audit.analysis.evaluate import evaluate as pipeline_evaluate

    return pipeline_evaluate(facts, EvaluateOptions(**rules_options(args), config=config))


def build(args: argparse.Namespace, evaluation: Evaluation, config: Any = None) -> dict[str, Any]:
    from exposure_audit.core.clock import now_iso
    from exposure_audit.reporting.document import build_report

    options = {
        "facts_file": args.facts,
        "upnp": not args.no_upnp if not args.facts else False,
        "igd_url": None if args.facts else args.igd,
        "firewall": not getattr(args, "no_firewall", False) if not args.facts else False,
        # whether this run asked the services (a --facts run replays, never asks)
        "probe": not args.facts
        and not getattr(args, "no_probe", False)
        and (config is None or config.probe is not False),
        **rules_options(args),
    }
    return build_report(evaluation, generated_at=now_iso(), options=options, fail_on=fail_on(args))


def evaluate_and_build(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """Facts -> evaluation -> report document. Only the document leaves: the Facts and
    the evaluation (a third of the memory at 10,000 listeners) are freed before the
    formats are rendered."""
    facts = load_or_collect(args, config)
    _settled()
    evaluation = evaluate(args, facts, config)
    _settled()
    report = build(args, evaluation, config)
    del facts, evaluation
    _settled()
    return report


def fail_on(args: argparse.Namespace) -> str | None:
    return None if args.fail_on == "none" else str(args.fail_on)


def render_all(
    args: argparse.Namespace,
    plan: list[Output],
    templates: dict[Any, Path],
    report: dict[str, Any],
) -> list[tuple[Output, Content]]:
    from exposure_audit.reporting import Format, RenderContext, render

    rendered = []
    view = None  # the terminal summary and the HTML page draw the same view: built once
    for out in plan:
        to_stdout = out.path == "-"
        if view is None and out.format in (Format.TERMINAL, Format.HTML):
            from exposure_audit.reporting.view import build_view

            view = build_view(report)
        ctx = RenderContext(
            color=to_stdout and out.format is Format.TERMINAL and use_color(args),
            width=_width() if to_stdout else 100,
            quiet=bool(args.quiet) and to_stdout,
            template=templates.get(out.format),
            view=view,
        )
        if out.format is Format.JSON:  # always valid UTF-8 (ASCII escapes if need be)
            from exposure_audit.reporting.json import render_bytes, render_streamed

            # a file: encoded as it is written (write_all); standard output: bytes
            rendered.append((out, render_bytes(report) if to_stdout else render_streamed(report)))
            continue
        text = render(out.format, report, ctx)
        # Process names and cmdlines may hold bytes that are not UTF-8 (kept as
        # surrogates): written as visible escapes, never as invalid UTF-8.
        rendered.append((out, text.encode("utf-8", errors="backslashreplace")))
    return rendered


def with_change_counts(
    rendered: list[tuple[Output, Content]], report: dict[str, Any], diff: Any
) -> list[tuple[Output, Content]]:
    """Prometheus outputs again, with the new and resolved (unwaived) finding counts of
    --since-last / --baseline, which are known only once the report is compared."""
    from exposure_audit.reporting import Format
    from exposure_audit.reporting.prometheus import render_prometheus

    new = sum(1 for f in diff.new if not f.get("waived"))
    resolved = sum(1 for f in diff.resolved if not f.get("waived"))
    out = []
    for o, data in rendered:
        if o.format is Format.PROMETHEUS:
            data = render_prometheus(report, new, resolved).encode("utf-8", "backslashreplace")
        out.append((o, data))
    return out


def _width() -> int:
    import shutil  # (and zlib with it: ~1 ms a run that prints nowhere else)

    return max(40, min(shutil.get_terminal_size((100, 24)).columns, 160))


def write_all(rendered: list[tuple[Output, Content]]) -> None:
    """Every file, atomically and all-or-none (atomicio.publish): staged first, renamed
    when all are staged; a device or FIFO (``-o /dev/null``) in place, standard output last."""
    publish([(out.path, data) for out, data in rendered])


def write_stdout(data: bytes) -> str | None:
    """Write ``data`` to standard output; None, or why it could not be written."""
    if not data:
        return None
    stream = sys.stdout
    if stream is None:
        return "it is closed"
    try:
        stream.flush()
        stream.buffer.write(data)
        stream.flush()
    except BrokenPipeError:
        raise  # a reader that stopped early (| head): cli.py treats that as success
    except (OSError, ValueError, AttributeError) as exc:
        _silence_stdout()
        return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return None


def _silence_stdout() -> None:
    """After a failed write, point fd 1 at /dev/null so the interpreter's final flush
    of what is still buffered does not fail again (and turn the exit code into 120)."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


def run(args: argparse.Namespace) -> int:
    plan, _implicit = plan_outputs(parse_formats(args.format), list(args.output))
    templates = parse_templates(list(args.template))
    from exposure_audit.policy.config import load_config

    # The config first: a broken one stops the run before anything is collected, and
    # its [defaults] fail_on applies unless --fail-on was given.
    config = load_config(args.config_path, builtin_waivers=args.builtin_waivers)
    if args.fail_on is None:
        args.fail_on = config.fail_on or "high"
    from exposure_audit.commands.cron import (
        apply_webhook_config,
        cron_options,
        cron_stdout_format,
        write_failure_metrics,
    )

    apply_webhook_config(args, config.webhook, config.path)
    # --- cron tooling (history.py): lock the state directory, compare with the last run
    # or --baseline, print only the changes, store the report, deliver the webhook.
    from exposure_audit.automation.history import cron_session

    with write_failure_metrics(plan), cron_session(cron_options(args)) as cron:
        report = evaluate_and_build(args, config)
        rendered = render_all(args, plan, templates, report)
        outcome = cron.compare(report, fail_on(args), cron_stdout_format(plan))
        if outcome.diff is not None:
            rendered = with_change_counts(rendered, report, outcome.diff)
        if outcome.stdout_text is not None:
            changes = outcome.stdout_text.encode("utf-8", errors="backslashreplace")
            rendered = [(o, changes if o.path == "-" else d) for o, d in rendered]
        write_all([(o, d) for o, d in rendered if o.path != "-"])
        if not args.quiet and not args.since_last:  # cron: silent unless something changed
            announce_written(rendered)
        outcome = cron.commit(report, outcome)
    # Standard output last, once files, history, webhook and metrics are done: a closed
    # or full stdout (cron with >&-, /dev/full) costs only the stdout copy, and says so.
    problem = write_stdout(
        b"".join(
            d.to_bytes() if isinstance(d, Streamed) else d for o, d in rendered if o.path == "-"
        )
    )
    if problem is not None:
        print(f"exposure-audit: error: cannot write standard output: {problem}", file=sys.stderr)
        return EXIT_USAGE
    return outcome.exit_code
    # --- end cron tooling


def _settled() -> None:
    """What a stage built lives until the run ends: out of the cyclic collector's
    sight (gc.freeze), so that each later collection does not walk it again (at 10,000
    listeners, a third of the report's build time went to collections)."""
    gc.freeze()


def announce_written(rendered: list[tuple[Output, Content]]) -> None:
    """One line per file written, on standard error (standard output is not a file)."""
    for out, data in rendered:
        if out.path != "-":
            n = (data.size or 0) if isinstance(data, Streamed) else len(data)
            size = f"{n} bytes" if n < 1024 else f"{round(n / 1024)} KB"
            print(f"exposure-audit: wrote {out.path} ({out.format.value}, {size})", file=sys.stderr)
