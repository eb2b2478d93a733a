"""webhook.py against real HTTP servers on 127.0.0.1: delivered, down, slow, 500."""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_diff import finding, report

from exposure_audit.automation.history import CronOptions, apply_history_and_delivery
from exposure_audit.automation.webhook import (
    EXIT_WEBHOOK,
    WebhookOptions,
    check_request,
    deliver,
    redact_url,
)
from exposure_audit.commands.cron import add_cron_options, cron_options
from exposure_audit.core.errors import UsageError


class Receiver:
    def __init__(self, status: int = 200, delay: float = 0.0, statuses: list[int] | None = None):
        self.status = status
        self.statuses = list(statuses or [])
        self.delay = delay
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []


@contextlib.contextmanager
def serve(rcv: Receiver) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            rcv.bodies.append(self.rfile.read(length))
            rcv.headers.append(dict(self.headers))
            rcv.paths.append(self.path)
            if rcv.delay:
                time.sleep(rcv.delay)
            status = rcv.statuses.pop(0) if rcv.statuses else rcv.status
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the client gave up (slow-receiver test)

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: refused


def test_delivered_with_json_content_type() -> None:
    rcv = Receiver()
    with serve(rcv) as base:
        res = deliver(b'{"x": 1}', WebhookOptions(url=base + "/hook?token=s3cret"))
    assert res.ok and res.attempts == 1 and res.status == 200
    assert rcv.bodies == [b'{"x": 1}']
    assert rcv.headers[0]["Content-Type"] == "application/json"
    assert rcv.paths == ["/hook?token=s3cret"]
    assert "s3cret" not in res.message


def test_500_is_retried_then_succeeds() -> None:
    rcv = Receiver(statuses=[500, 503])
    with serve(rcv) as base:
        res = deliver(b"{}", WebhookOptions(url=base, backoff=0.05))
    assert res.ok and res.attempts == 3


def test_persistent_500_gives_up_after_bounded_retries() -> None:
    rcv = Receiver(status=500)
    with serve(rcv) as base:
        res = deliver(b"{}", WebhookOptions(url=base, retries=2, backoff=0.05))
    assert not res.ok and res.attempts == 3 and res.status == 500
    assert "HTTP 500" in res.message


def test_4xx_is_not_retried() -> None:
    rcv = Receiver(status=404)
    with serve(rcv) as base:
        res = deliver(b"{}", WebhookOptions(url=base, backoff=0.05))
    assert not res.ok and res.attempts == 1


def test_redirect_is_not_followed() -> None:
    rcv = Receiver(status=307)
    with serve(rcv) as base:
        res = deliver(b"{}", WebhookOptions(url=base, backoff=0.05))
    assert not res.ok and len(rcv.bodies) == 1


def test_receiver_down_is_fast_and_secret_free() -> None:
    url = f"http://user:hunter2@127.0.0.1:{_closed_port()}/p/SECRETPATH?k=SECRETQ"
    start = time.monotonic()
    res = deliver(b"{}", WebhookOptions(url=url, backoff=0.05))
    assert time.monotonic() - start < 3
    assert not res.ok and res.attempts == 3 and res.status is None
    for secret in ("hunter2", "SECRETPATH", "SECRETQ", "user"):
        assert secret not in res.message


def test_slow_receiver_is_bounded_by_total() -> None:
    rcv = Receiver(delay=5)
    with serve(rcv) as base:
        start = time.monotonic()
        res = deliver(b"{}", WebhookOptions(url=base, timeout=0.5, retries=5, total=1.5))
        elapsed = time.monotonic() - start
    assert not res.ok
    assert elapsed < 2.5, elapsed
    assert "timed out" in res.message or "bound" in res.message


def test_redact_url() -> None:
    assert redact_url("https://u:p@hooks.example:8443/x/y?z=1") == "https://hooks.example:8443"
    assert redact_url("http://[::1]:9/a") == "http://[::1]:9"


def _args(*argv: str) -> CronOptions:
    p = argparse.ArgumentParser()
    add_cron_options(p)
    return cron_options(p.parse_args(list(argv)))


def check_webhook_args(opts: CronOptions) -> None:
    check_request(opts.webhook, opts.comparing)


@pytest.mark.parametrize(
    "argv",
    [
        ("--webhook", "ftp://x/y"),
        ("--webhook", "http://"),
        ("--webhook", "http://h:99999/"),
        ("--webhook", "http://h/a b"),
        ("--webhook-strict",),
        ("--webhook", "http://h/", "--webhook-changes-only"),
        ("--webhook", "http://h/", "--webhook-timeout", "0"),
    ],
)
def test_bad_webhook_options_are_usage_errors(argv: tuple[str, ...]) -> None:
    with pytest.raises(UsageError):
        check_webhook_args(_args(*argv))


def test_audit_result_survives_a_down_receiver(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/hook?token=TOPSECRET"
    r = report([finding("a", "critical")])
    out = apply_history_and_delivery(_args("--webhook", url), r, "high")
    assert out.exit_code == 1 and out.webhook_ok is False  # the audit's own answer stands
    err = capsys.readouterr().err
    assert "webhook not delivered" in err and "TOPSECRET" not in err
    out = apply_history_and_delivery(_args("--webhook", url, "--webhook-strict"), r, "high")
    assert out.exit_code == EXIT_WEBHOOK


def test_changes_only_posts_only_when_something_changed(tmp_path: Any) -> None:
    rcv = Receiver()
    with serve(rcv) as base:
        args = _args(
            "--since-last",
            "--state-dir",
            str(tmp_path),
            "--webhook",
            base,
            "--webhook-changes-only",
        )
        apply_history_and_delivery(args, report([finding("a")]), "high")
        apply_history_and_delivery(args, report([finding("a")]), "high")  # no change
        apply_history_and_delivery(args, report([finding("b")]), "high")
    assert len(rcv.bodies) == 2
    last = json.loads(rcv.bodies[-1])
    assert [f["fingerprint"] for f in last["new"]] == ["b"]
    assert [f["fingerprint"] for f in last["resolved"]] == ["a"]
    assert last["host"] == {"hostname": "h"}


def test_webhook_url_from_file(tmp_path: Any) -> None:
    rcv = Receiver()
    secret = tmp_path / "url"
    with serve(rcv) as base:
        secret.write_text(base + "/hook?token=FROMFILE\n")
        out = apply_history_and_delivery(_args("--webhook", f"@{secret}"), report([]), "high")
    assert out.exit_code == 0 and out.webhook_ok and rcv.paths == ["/hook?token=FROMFILE"]
    with pytest.raises(UsageError, match="No such file"):
        check_webhook_args(_args("--webhook", f"@{tmp_path / 'missing'}"))
    secret.write_text("")
    with pytest.raises(UsageError, match="empty"):
        check_webhook_args(_args("--webhook", f"@{secret}"))


# --------------------------------------------------------------------------- the CLI

SCHEMA = Path(__file__).resolve().parent.parent / "reports" / "report.schema.json"


def test_cli_delivers_a_schema_valid_report(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="needs jsonschema")
    from test_exit_codes import _listener, run_cli, write_facts

    facts = write_facts(tmp_path / "f.json", _listener(8000), _listener(5432, name='pg"\n<x>'))
    rcv = Receiver()
    with serve(rcv) as base:
        res = run_cli("--facts", str(facts), "--format", "json", "--webhook", base + "/in")
    assert res.returncode == 1, res.stderr
    assert res.stderr == ""
    assert len(rcv.bodies) == 1
    body = json.loads(rcv.bodies[0])
    jsonschema.validate(body, json.loads(SCHEMA.read_text()))
    assert body == json.loads(res.stdout)  # what was posted is the run's own report


@pytest.mark.parametrize(("status", "delay"), [(500, 0.0), (200, 5.0)])
def test_cli_result_intact_when_receiver_fails_or_is_slow(
    tmp_path: Path, status: int, delay: float
) -> None:
    from test_exit_codes import _listener, run_cli, write_facts

    facts = write_facts(tmp_path / "f.json", _listener(8000))
    out = tmp_path / "r.json"
    rcv = Receiver(status=status, delay=delay)
    with serve(rcv) as base:
        start = time.monotonic()
        res = run_cli(
            "--facts", str(facts), "-o", str(out), "--webhook", base, "--webhook-timeout", "0.5"
        )
        elapsed = time.monotonic() - start
    assert res.returncode == 1  # the audit's answer, not the receiver's
    assert json.loads(out.read_text())["findings"]
    assert "webhook not delivered after 3 attempt(s)" in res.stderr
    assert elapsed < 8, elapsed


def test_drip_feeding_receiver_cannot_outlast_the_total_bound() -> None:
    """Each byte arrives well within the read timeout, so only the total bound stops it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def drip() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"X-Drip: 1\r\n")
                except OSError:
                    return
                time.sleep(0.2)

    t = threading.Thread(target=drip, daemon=True)
    t.start()
    try:
        start = time.monotonic()
        res = deliver(
            b"{}",
            WebhookOptions(url=f"http://127.0.0.1:{srv.getsockname()[1]}/", timeout=1, total=2),
        )
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        srv.close()
    assert not res.ok and "bound" in res.message
    assert 1.9 <= elapsed < 3, elapsed


def test_cli_webhook_from_the_config_file(tmp_path: Path) -> None:
    """`--webhook` alone takes url and settings from the config's [webhook] section; a run
    without `--webhook` posts nothing whatever the config says; a URL given on the
    command line wins; a config readable by others gets a warning."""
    from test_exit_codes import _listener, run_cli, write_facts

    facts = write_facts(tmp_path / "f.json", _listener(8000))
    config = tmp_path / "config.toml"
    rcv = Receiver()
    other = Receiver()
    with serve(rcv) as base, serve(other) as other_base:
        config.write_text(f'[webhook]\nurl = "{base}/cfg"\ntimeout = 2\n')
        config.chmod(0o600)
        common = ("--facts", str(facts), "--config", str(config), "--format", "json")
        res = run_cli(*common)
        assert res.returncode == 1 and rcv.bodies == [], res.stderr  # no --webhook: no post
        res = run_cli(*common, "--webhook")
        assert res.returncode == 1, res.stderr
        assert res.stderr == "" and len(rcv.bodies) == 1
        assert json.loads(rcv.bodies[0]) == json.loads(res.stdout)
        res = run_cli(*common, "--webhook", other_base + "/flag")
        assert len(other.bodies) == 1 and len(rcv.bodies) == 1, res.stderr
        config.chmod(0o644)
        res = run_cli(*common, "--webhook")
        assert len(rcv.bodies) == 2
        assert f"{config} holds the webhook URL and other users can read it" in res.stderr
        assert "/cfg" not in res.stderr  # the URL (a secret) is not printed
    config.write_text('[defaults]\nfail_on = "high"\n')
    res = run_cli(*common, "--webhook")
    assert res.returncode == 2
    assert "--webhook without a URL needs url in the [webhook] section of" in res.stderr
    assert "Traceback" not in res.stderr


def test_config_settings_apply_only_where_the_flags_did_not_say() -> None:
    from exposure_audit.automation.webhook import FROM_CONFIG
    from exposure_audit.commands.cron import apply_webhook_config
    from exposure_audit.policy.config import WebhookConfig

    cfg = WebhookConfig(url="https://h.example/x", changes_only=True, strict=True, timeout=2.0)
    manual = argparse.Namespace(webhook=FROM_CONFIG, webhook_timeout=None, since_last=False)
    apply_webhook_config(manual, cfg, "c.toml")
    assert manual.webhook == "https://h.example/x" and manual.webhook_timeout == 2.0
    assert manual.webhook_strict is True
    assert not getattr(manual, "webhook_changes_only", False)  # a manual run posts it all
    cron = argparse.Namespace(webhook=FROM_CONFIG, webhook_timeout=0.5, since_last=True)
    apply_webhook_config(cron, cfg, "c.toml")
    assert cron.webhook_changes_only is True and cron.webhook_timeout == 0.5  # the flag wins
    flag = argparse.Namespace(webhook="https://other.example/", webhook_timeout=None)
    apply_webhook_config(flag, cfg, "c.toml")
    assert flag.webhook == "https://other.example/" and flag.webhook_timeout is None
