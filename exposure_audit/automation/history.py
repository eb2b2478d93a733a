"""Run history for cron and timers: a state directory of past JSON reports.

Layout of the state directory (``--state-dir``, else the per-OS default of core/paths.py:
``$XDG_STATE_HOME/exposure-audit`` or ``~/.local/state/exposure-audit`` on Linux; created
0700, since reports name every service):

    lock                                    flock run lock (see locking.py)
    reports/report-0000000042-20261127T151120Z.json

The sequence number orders the reports even if the clock jumps back; each file is
written atomically, so a reader (or the next run) never sees half a report.

Cron semantics (``--since-last`` / ``--baseline FILE``): standard output carries only
the changes (new and resolved findings, listener reach changes), and nothing at all
when nothing changed. ``--fail-on`` then considers only the *new* findings, so a known
exposure does not fail (and mail) every hour; ``--fail-on-existing`` makes it consider
every current finding again, as a plain ``run`` does.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exposure_audit.automation.diffing import (
    ReportDiff,
    check_report,
    diff_reports,
    fails,
    load_report,
)
from exposure_audit.automation.locking import DEFAULT_LOCK_TIMEOUT, run_lock
from exposure_audit.automation.webhook import (
    EXIT_WEBHOOK,
    WebhookRequest,
    check_request,
    deliver_report,
)
from exposure_audit.core import paths, records
from exposure_audit.core.atomicio import write_atomic
from exposure_audit.core.errors import EXIT_FINDINGS, EXIT_OK, FormatError, UsageError
from exposure_audit.core.records import field, record

DEFAULT_KEEP = 50
REPORTS_SUBDIR = "reports"
_NAME_RE = re.compile(r"^report-(\d{1,18})-(\d{8}T\d{6}Z)\.json$")


def default_state_dir(env: dict[str, str] | None = None, platform: str | None = None) -> Path:
    """The per-OS default (core/paths.py): ``$XDG_STATE_HOME/exposure-audit`` or
    ``~/.local/state/exposure-audit`` on Linux."""
    return paths.state_dir(platform, env)


# Report majors whose findings and exposures compare as they are (2.0 changed only the
# embedded facts: listeners point into a process table).
_SAME_FINDINGS_MAJORS = frozenset({"1", "2"})


def _warn(message: str) -> None:
    print(f"exposure-audit: warning: {message}", file=sys.stderr)


@record
class History:
    """Past reports in a state directory. Callers hold ``run_lock`` while writing."""

    root: Path

    @property
    def reports(self) -> Path:
        return self.root / REPORTS_SUBDIR

    def ensure(self) -> None:
        """Create (0700) and check the state directory and its ``reports/``: every
        component on the way is walked without following anyone else's symlink and
        must belong to root or to this user (see core/safefs.py), the directories
        themselves to this user, writable by nobody else. Nothing is created inside a
        directory that fails the check."""
        from exposure_audit.core.safefs import check_private_dir

        for d in (self.root, self.reports):
            if d is not self.root and d.is_symlink():
                raise UsageError(f"state directory {d} is a symlink: refusing to use it")
            try:
                check_private_dir(d)
            except OSError as exc:
                raise UsageError(
                    f"state directory {d}: {exc.strerror or exc}: refusing to use it"
                ) from None

    def report_paths(self) -> list[Path]:
        """Stored reports, oldest first."""
        try:
            entries = list(self.reports.iterdir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise UsageError(f"cannot read {self.reports}: {exc.strerror or exc}") from None
        found = []
        for p in entries:
            m = _NAME_RE.match(p.name)
            if m:
                found.append((int(m.group(1)), p.name, p))
        return [p for _seq, _name, p in sorted(found)]

    def save(self, report: dict[str, Any], now: float | None = None) -> Path:
        paths = self.report_paths()
        seq = _sequence(paths[-1]) + 1 if paths else 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        target = self.reports / f"report-{seq:010d}-{stamp}.json"
        write_atomic(target, json.dumps(report, indent=1, ensure_ascii=True) + "\n", mode=0o600)
        return target

    def previous(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest stored report that reads back, or None. An unreadable one (a disk
        that filled up, a hand edit) is skipped with a warning, not a failed run."""
        for p in reversed(self.report_paths()):
            try:
                return p, load_report(p)
            except FormatError as exc:
                _warn(f"skipping unreadable stored report: {exc}")
        return None

    def prune(self, keep: int) -> list[Path]:
        """Keep the newest ``keep`` reports; also drop temp files of killed runs."""
        removed = []
        paths = self.report_paths()
        for p in paths[: max(0, len(paths) - keep)]:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
        # Under the run lock no other writer is active: any temp file is a leftover.
        # (.old: a report kept for rolling back an all-or-none write, see atomicio.)
        for p in [*self.reports.glob(".report-*.tmp"), *self.reports.glob(".report-*.old")]:
            with contextlib.suppress(OSError):
                p.unlink()
        return removed


def _sequence(path: Path) -> int:
    """The sequence number of a stored report (report_paths lists only names that match)."""
    m = _NAME_RE.match(path.name)
    if m is None:
        raise ValueError(f"not a stored report's name: {path.name}")
    return int(m.group(1))


def previous_report(state_dir: Path) -> dict[str, Any] | None:
    """The newest readable report stored in ``state_dir``, or None (no lock taken:
    reports are written atomically, so a reader never sees half of one)."""
    prev = History(state_dir).previous()
    return prev[1] if prev else None


# --------------------------------------------------------------------------- cron runs


@record
class CronOptions:
    """A run's history and delivery options (the flags are in commands/cron.py)."""

    state_dir: str | None = None  # --state-dir
    since_last: bool = False
    baseline: str | None = None  # --baseline FILE
    keep: int | None = None  # None: DEFAULT_KEEP
    fail_on_existing: bool = False
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    webhook: WebhookRequest = field(default_factory=WebhookRequest)

    @property
    def comparing(self) -> bool:
        """Output and --fail-on are about the changes (--since-last or --baseline)."""
        return self.since_last or bool(self.baseline)


def state_dir_for(opts: CronOptions) -> Path | None:
    """The state directory this run uses, or None when it keeps no history."""
    if opts.state_dir:
        return Path(opts.state_dir).expanduser().absolute()
    if opts.since_last or opts.keep:
        return default_state_dir()
    return None


@record
class CronOutcome:
    """What ``compare`` (and ``commit``) decided: the changes, what to print instead of
    the usual stdout report (None: print the usual report), and the exit code."""

    exit_code: int
    diff: ReportDiff | None = None
    stdout_text: str | None = None
    saved: Path | None = None
    webhook_ok: bool | None = None  # None: no webhook asked for, or nothing to post


class CronSession:
    """State held across one run: the options, the history and the baseline."""

    __slots__ = ("baseline", "history", "opts")

    def __init__(self, opts: CronOptions) -> None:
        self.opts = opts
        self.history: History | None = None
        self.baseline: dict[str, Any] | None = None

    @property
    def comparing(self) -> bool:
        return self.opts.comparing

    def compare(
        self,
        report: dict[str, Any],
        fail_on: str | None,
        stdout_format: str | None = "text",
    ) -> CronOutcome:
        """What changed, what to print instead of the usual stdout report, the exit code.

        ``fail_on``: the --fail-on severity (None: never exit 1). ``stdout_format``:
        "json" prints the changes as JSON, "text" as text, None keeps the usual output.
        Touches nothing: call ``commit`` once the run's own outputs are written.
        """
        from exposure_audit.automation.diffing import diff_to_dict, render_diff_text

        check_report(report, "this run's report")
        if self.baseline is not None:
            old_major = str(self.baseline["schema_version"]).split(".", 1)[0]
            new_major = str(report["schema_version"]).split(".", 1)[0]
            if old_major != new_major and not {old_major, new_major} <= _SAME_FINDINGS_MAJORS:
                _warn(
                    f"the earlier report has schema {self.baseline['schema_version']}, this one "
                    f"{report['schema_version']}: findings may all show as new and resolved once"
                )
        diff = diff_reports(self.baseline, report) if self.comparing else None
        text: str | None = None
        if diff is None:
            code = EXIT_FINDINGS if fail_on and fails(report["findings"], fail_on) else EXIT_OK
        else:
            considered = report["findings"] if self.opts.fail_on_existing else diff.new
            code = EXIT_FINDINGS if fail_on and fails(considered, fail_on) else EXIT_OK
            if stdout_format == "json":
                doc = json.dumps(diff_to_dict(diff), indent=2, ensure_ascii=False) + "\n"
                text = doc if diff.changed else ""
            elif stdout_format is not None:
                text = render_diff_text(diff)
        return CronOutcome(exit_code=code, diff=diff, stdout_text=text)

    def commit(self, report: dict[str, Any], outcome: CronOutcome) -> CronOutcome:
        """Store the report (and prune), then deliver it: the outcome with what was saved
        and delivered; the exit code changes only with --webhook-strict."""
        if self.history is not None:
            outcome = records.replace(outcome, saved=self.history.save(report))
            self.history.prune(self.opts.keep or DEFAULT_KEEP)
        result = deliver_report(self.opts.webhook, self.comparing, report, outcome.diff)
        if result is not None:
            outcome = records.replace(outcome, webhook_ok=result.ok)
            if not result.ok and self.opts.webhook.strict:
                outcome = records.replace(outcome, exit_code=EXIT_WEBHOOK)
        return outcome

    def finish(
        self,
        report: dict[str, Any],
        fail_on: str | None,
        stdout_format: str | None = "text",
    ) -> CronOutcome:
        """``compare`` then ``commit``."""
        return self.commit(report, self.compare(report, fail_on, stdout_format))


@contextlib.contextmanager
def cron_session(opts: CronOptions) -> Iterator[CronSession]:
    """Validate the history options, take the state directory's lock (when there is
    one) and load the baseline. Use around collection + evaluation + ``finish``."""
    if opts.since_last and opts.baseline:
        raise UsageError("use --since-last or --baseline FILE, not both")
    check_request(opts.webhook, opts.comparing)
    session = CronSession(opts)
    if opts.baseline:
        session.baseline = load_report(opts.baseline)
    root = state_dir_for(opts)
    if root is None:
        yield session
        return
    history = History(root)
    history.ensure()
    session.history = history
    with run_lock(root, opts.lock_timeout):
        if opts.since_last:
            prev = history.previous()
            session.baseline = prev[1] if prev else None
        yield session


def apply_history_and_delivery(
    opts: CronOptions,
    report: dict[str, Any],
    fail_on: str | None,
    stdout_format: str = "text",
) -> CronOutcome:
    """One-call form for callers that have the report already: lock, compare, store,
    deliver. (``cron_session`` is better: it holds the lock across collection too.)"""
    with cron_session(opts) as session:
        return session.finish(report, fail_on, stdout_format)
