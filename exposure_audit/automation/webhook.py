"""Deliver the report to an HTTP(S) webhook: bounded in time, never fatal by default.

Bounds: each attempt has a connect/read timeout *and* runs in a worker thread joined
with the remaining budget, so even a receiver that drips its answer one byte at a time
cannot hold the run past ``total``. Retries (connection errors, timeouts, 429, 5xx)
back off 0.5 s, 1 s, 2 s ... within that budget; other 4xx and redirects are not retried
(a redirect is not followed: the body would go to another address).

A failed delivery is a warning on stderr and the audit's own exit code stands, unless
``--webhook-strict`` asks for exit 4. Messages name the receiver only as
scheme://host:port: URLs often carry tokens in userinfo, path or query.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from exposure_audit import __version__
from exposure_audit.core.errors import UsageError
from exposure_audit.core.records import record
from exposure_audit.core.urls import validate_url

if TYPE_CHECKING:
    from exposure_audit.automation.diffing import ReportDiff

EXIT_WEBHOOK = 4  # only with --webhook-strict
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 2
DEFAULT_TOTAL = 20.0


@record
class WebhookOptions:
    url: str
    timeout: float = DEFAULT_TIMEOUT  # per attempt
    retries: int = DEFAULT_RETRIES  # attempts after the first
    total: float = DEFAULT_TOTAL  # hard bound on the whole delivery
    backoff: float = 0.5


@record
class DeliveryResult:
    ok: bool
    attempts: int
    status: int | None  # last HTTP status, None if none was received
    message: str  # safe to print: no secrets from the URL
    elapsed: float


def redact_url(url: str) -> str:
    """scheme://host[:port] only: userinfo, path and query may hold secrets."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"


def _attempt(session: Any, url: str, body: bytes, timeout: float, box: dict[str, Any]) -> None:
    import requests

    try:
        resp = session.post(
            url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"exposure-audit/{__version__}",
            },
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,  # the answer's body is not needed: do not read it
        )
        box["status"] = resp.status_code
        resp.close()
    except requests.exceptions.Timeout:
        box["error"] = "timed out"
    except requests.exceptions.SSLError:
        box["error"] = "TLS error"
    except requests.exceptions.ConnectionError:
        box["error"] = "connection failed"
    except requests.exceptions.RequestException as exc:
        box["error"] = type(exc).__name__
    except Exception as exc:  # a worker thread must not die with a traceback
        box["error"] = type(exc).__name__


def deliver(payload: bytes, opts: WebhookOptions) -> DeliveryResult:
    """POST ``payload`` (JSON bytes) to ``opts.url``; never raises for delivery problems."""
    import threading

    import requests

    start = time.monotonic()
    deadline = start + opts.total
    where = redact_url(opts.url)
    status: int | None = None
    message = ""
    attempts = 0
    with requests.Session() as session:
        for attempt in range(opts.retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                message = f"{message}; gave up at the {opts.total:g} s bound"
                break
            attempts += 1
            box: dict[str, Any] = {}
            worker = threading.Thread(
                target=_attempt,
                args=(session, opts.url, payload, min(opts.timeout, remaining), box),
                daemon=True,  # abandoned on timeout; dies with the process
                name="exposure-audit-webhook",
            )
            worker.start()
            worker.join(remaining)
            if worker.is_alive():
                message = f"no answer from {where} within the {opts.total:g} s bound"
                break
            status = box.get("status")
            if status is not None and 200 <= status < 300:
                return DeliveryResult(
                    True, attempts, status, f"delivered to {where}", time.monotonic() - start
                )
            if status is not None:
                message = f"{where} answered HTTP {status}"
                if not (status == 429 or status >= 500):
                    break  # the receiver rejects this request: retrying will not help
            else:
                message = f"{where}: {box.get('error', 'failed')}"
            if attempt < opts.retries:
                pause = min(opts.backoff * (2**attempt), deadline - time.monotonic())
                if pause > 0:
                    time.sleep(pause)
    return DeliveryResult(False, attempts, status, message, time.monotonic() - start)


def changes_payload(report: dict[str, Any], diff: ReportDiff) -> dict[str, Any]:
    from exposure_audit.automation.diffing import diff_to_dict

    out = diff_to_dict(diff, full=True)
    out["host"] = (report.get("host") or {}) if isinstance(report.get("host"), dict) else {}
    out["generated_at"] = report.get("generated_at")
    out["report_schema_version"] = report.get("schema_version")
    return out


# --------------------------------------------------------------------------- a run's request

MAX_URL_FILE_BYTES = 8192
# --webhook given without a URL: the URL comes from the config file.
FROM_CONFIG = "\0config"


@record
class WebhookRequest:
    """What a run asks for: ``--webhook`` and its flags (commands/cron.py), with the
    config file's [webhook] section already applied where the flags did not say."""

    target: str | None = None  # --webhook: a URL, @FILE (the URL is in FILE), FROM_CONFIG
    changes_only: bool = False
    strict: bool = False  # exit EXIT_WEBHOOK when delivery fails
    timeout: float | None = None  # per attempt; None: DEFAULT_TIMEOUT


def _timeout(req: WebhookRequest) -> float:
    return DEFAULT_TIMEOUT if req.timeout is None else float(req.timeout)


def webhook_url(req: WebhookRequest) -> str | None:
    """``--webhook URL``, or ``--webhook @FILE``: the URL read from FILE, so a token in
    it shows neither in ``ps`` nor in a crontab."""
    value = req.target
    if value == FROM_CONFIG:
        raise UsageError("--webhook without a URL needs url in the config's [webhook] section")
    if not value or not value.startswith("@"):
        return value or None
    path = value[1:]
    from exposure_audit.core.safefs import read_input

    try:
        raw = read_input(path, MAX_URL_FILE_BYTES)
    except OSError as exc:
        raise UsageError(f"--webhook @{path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_URL_FILE_BYTES:
        raise UsageError(f"--webhook @{path}: larger than {MAX_URL_FILE_BYTES} bytes")
    lines = raw.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        raise UsageError(f"--webhook @{path}: the file is empty")
    return lines[0].strip()


def check_request(req: WebhookRequest, comparing: bool) -> None:
    """Usage errors, raised before any collection happens. ``comparing``: the run has
    --since-last or --baseline (which --webhook-changes-only needs)."""
    url = webhook_url(req)
    if url:
        validate_url(url)
        t = _timeout(req)
        if not 0 < t <= 300:
            raise UsageError("--webhook-timeout must be between 0 and 300 seconds")
    elif req.changes_only or req.strict:
        raise UsageError("--webhook-changes-only and --webhook-strict need --webhook URL")
    if req.changes_only and not comparing:
        raise UsageError("--webhook-changes-only needs --since-last or --baseline FILE")


def deliver_report(
    req: WebhookRequest, comparing: bool, report: dict[str, Any], diff: ReportDiff | None
) -> DeliveryResult | None:
    """Deliver as the request says (a failure is a warning on stderr). None when no
    webhook was asked for, or --webhook-changes-only had nothing to post."""
    import json

    check_request(req, comparing)
    url = webhook_url(req)
    if not url:
        return None
    if req.changes_only:
        if diff is None or not diff.changed:
            return None
        payload: dict[str, Any] = changes_payload(report, diff)
    else:
        payload = report
    # ASCII-only JSON: a lone surrogate from a non-UTF-8 process name stays a valid escape.
    body = json.dumps(payload, ensure_ascii=True).encode("ascii")
    timeout = _timeout(req)
    opts = WebhookOptions(url=url, timeout=timeout, total=max(DEFAULT_TOTAL, 3 * timeout + 3.5))
    result = deliver(body, opts)
    if result.ok:
        return result
    print(
        f"exposure-audit: warning: webhook not delivered after {result.attempts} attempt(s), "
        f"{result.elapsed:.1f} s: {result.message}",
        file=sys.stderr,
    )
    return result
