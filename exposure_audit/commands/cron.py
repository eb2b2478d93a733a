"""The history, cron and delivery options of ``exposure-audit run``, and the parts of a
cron run that belong to the run itself: how stdout shows the changes, and the metrics
written when the run fails. (automation/history.py keeps the state directory and the
decisions; automation/webhook.py the delivery.)"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from exposure_audit.automation.history import DEFAULT_KEEP, CronOptions
from exposure_audit.automation.locking import DEFAULT_LOCK_TIMEOUT
from exposure_audit.automation.webhook import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_TOTAL,
    EXIT_WEBHOOK,
    FROM_CONFIG,
    WebhookRequest,
)
from exposure_audit.core import paths
from exposure_audit.core.errors import Terminated, UsageError

if TYPE_CHECKING:
    from exposure_audit.policy.config import WebhookConfig


def add_cron_options(parser: argparse.ArgumentParser) -> None:
    """History, cron and delivery options of ``exposure-audit run``."""
    g = parser.add_argument_group(
        "history and cron",
        "With --since-last or --baseline, output shows only what changed (nothing when "
        "nothing did), and --fail-on counts only new findings.",
    )
    g.add_argument(
        "--state-dir",
        metavar="DIR",
        help="keep each run's JSON report here "
        f"(default with --since-last: {paths.state_dir_help().replace('%', '%%')})",
    )
    g.add_argument(
        "--since-last",
        action="store_true",
        help="report what is new and what was resolved since the last stored run",
    )
    g.add_argument(
        "--baseline",
        metavar="FILE",
        help="report what is new and resolved compared with this JSON report",
    )
    g.add_argument(
        "--keep",
        metavar="N",
        type=_positive_int,
        default=None,
        help=f"keep the newest N reports in the state directory (default: {DEFAULT_KEEP})",
    )
    g.add_argument(
        "--fail-on-existing",
        action="store_true",
        help="with --since-last/--baseline, let --fail-on count every current finding, "
        "not only new ones",
    )
    g.add_argument(
        "--lock-timeout",
        metavar="SECONDS",
        type=_non_negative_float,
        default=DEFAULT_LOCK_TIMEOUT,
        help="wait at most this long for another run using the state directory, then "
        f"exit 5 (default: {DEFAULT_LOCK_TIMEOUT:g})",
    )
    add_webhook_options(parser)


def add_webhook_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "delivery",
        "A failed delivery is a warning; the audit's exit code stands unless --webhook-strict.",
    )
    g.add_argument(
        "--webhook",
        metavar="URL",
        nargs="?",
        const=FROM_CONFIG,
        help="POST the JSON report to this http(s) URL; @FILE reads the URL from FILE, and "
        "--webhook alone takes url (and changes_only, strict, timeout) from the config "
        "file's [webhook] section: either keeps a token out of ps and crontab",
    )
    g.add_argument(
        "--webhook-changes-only",
        action="store_true",
        help="post only the changes (needs --since-last or --baseline); nothing when none",
    )
    g.add_argument(
        "--webhook-timeout",
        metavar="SECONDS",
        type=float,
        default=None,
        help=f"per-attempt timeout (default: {DEFAULT_TIMEOUT:g}); "
        f"{DEFAULT_RETRIES} retries, all within {DEFAULT_TOTAL:g} s",
    )
    g.add_argument(
        "--webhook-strict",
        action="store_true",
        help=f"exit {EXIT_WEBHOOK} when delivery fails (after the report is written)",
    )


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _non_negative_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= x <= 86400:
        raise argparse.ArgumentTypeError("must be between 0 and 86400")
    return x


def cron_options(args: argparse.Namespace) -> CronOptions:
    """The options above, parsed (after ``apply_webhook_config``), as typed options."""
    return CronOptions(
        state_dir=args.state_dir,
        since_last=args.since_last,
        baseline=args.baseline,
        keep=args.keep,
        fail_on_existing=args.fail_on_existing,
        lock_timeout=args.lock_timeout,
        webhook=WebhookRequest(
            target=args.webhook,
            changes_only=args.webhook_changes_only,
            strict=args.webhook_strict,
            timeout=args.webhook_timeout,
        ),
    )


def apply_webhook_config(args: argparse.Namespace, cfg: WebhookConfig, path: object) -> None:
    """``--webhook`` alone: the [webhook] section's URL, and its settings where the flags
    did not say. A run without ``--webhook`` posts nothing, whatever the config holds
    (an interactive run should not post to the team channel)."""
    if getattr(args, "webhook", None) != FROM_CONFIG:
        return
    where = path or "the config file"
    if cfg.url is None:
        raise UsageError(f"--webhook without a URL needs url in the [webhook] section of {where}")
    args.webhook = cfg.url
    if not cfg.private:
        print(
            f"exposure-audit: warning: {where} holds the webhook URL and other users can read "
            f"it (chmod 600 {where})",
            file=sys.stderr,
        )
    comparing = getattr(args, "since_last", False) or getattr(args, "baseline", None)
    if cfg.changes_only and comparing:  # a manual run posts the whole report
        args.webhook_changes_only = True
    if cfg.strict:
        args.webhook_strict = True
    if cfg.timeout is not None and getattr(args, "webhook_timeout", None) is None:
        args.webhook_timeout = cfg.timeout


def cron_stdout_format(plan: Iterable[Any]) -> str | None:
    """How ``compare`` should print the changes, from run.py's output plan: the
    terminal summary on stdout becomes the text of the changes, a JSON report on stdout
    the JSON diff; other formats (and files) keep the full report."""
    for out in plan:
        if getattr(out, "path", None) == "-":
            name = getattr(getattr(out, "format", None), "value", None)
            return {"terminal": "text", "json": "json"}.get(str(name))
    return None


@contextlib.contextmanager
def write_failure_metrics(plan: Iterable[Any]) -> Iterator[None]:
    """If the run fails (collection, a broken rule, config or template, bad --facts, an
    unsafe state directory, an unwritable output, a signal), replace any Prometheus
    textfile in the plan with ``last_run_success 0`` so fleet alerting sees the failure
    instead of stale numbers; then let the error go on. Not when another run holds the
    lock (exit 5): that run writes its own."""
    from exposure_audit.automation.locking import LockBusyError

    try:
        yield
    except LockBusyError:
        raise
    except (Exception, Terminated):
        from exposure_audit.reporting.prometheus import render_failure, write_metrics

        for out in plan:
            name = getattr(getattr(out, "format", None), "value", None)
            path = getattr(out, "path", "-")
            if name == "prometheus" and path != "-":
                with contextlib.suppress(Exception):
                    write_metrics(path, render_failure())
        raise
