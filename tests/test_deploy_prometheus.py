"""deploy/prometheus: the alerting rules, checked and unit-tested by Debian's promtool, and
an end-to-end run with the real daemons.

End to end, inside a throw-away namespace (``eaP-*``, linked by veth only to a second
``eaP-*`` namespace so that 0.0.0.0 is reachable from beyond loopback): a real
``exposure-audit run --no-upnp`` writes the textfile, Debian's prometheus-node-exporter
serves it on the namespace's 127.0.0.1, Debian's prometheus scrapes it every second and
evaluates deploy/prometheus/exposure-audit.rules.yml unmodified. A python http.server on
0.0.0.0:8000 makes ExposureAuditHighFinding (EA-DEV-001) fire; closing it resolves it.
Prometheus' HTTP API is queried from inside the namespace. Nothing listens outside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from netns import Netns, cli_argv, link, namespaces, requires_netns, unique

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy" / "prometheus"
RULES = DEPLOY / "exposure-audit.rules.yml"
UNIT_TESTS = DEPLOY / "tests.yml"

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")

requires_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="needs promtool (apt-get install prometheus)"
)


def _promtool(*args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def _alert_names(rules_text: str) -> list[str]:
    yaml = pytest.importorskip("yaml", reason="needs PyYAML (comes with ansible-core)")
    doc = yaml.safe_load(rules_text)
    return [r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r]


@requires_promtool
def test_promtool_check_rules() -> None:
    res = _promtool("check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


@requires_promtool
def test_promtool_unit_tests_pass() -> None:
    res = _promtool("test", "rules", str(UNIT_TESTS))
    assert res.returncode == 0, res.stdout + res.stderr


@requires_promtool
def test_every_alert_is_covered_by_a_unit_test(tmp_path: Path) -> None:
    """Drop each alert from a copy of the rules in turn: tests.yml must then fail, i.e.
    every alert has a unit test that expects it to fire."""
    yaml = pytest.importorskip("yaml", reason="needs PyYAML (comes with ansible-core)")
    names = _alert_names(RULES.read_text())
    assert len(names) >= 5 and len(set(names)) == len(names)
    shutil.copy(UNIT_TESTS, tmp_path / "tests.yml")
    for name in names:
        doc = yaml.safe_load(RULES.read_text())
        for group in doc["groups"]:
            group["rules"] = [r for r in group["rules"] if r.get("alert") != name]
        (tmp_path / RULES.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        res = _promtool("test", "rules", "tests.yml", cwd=tmp_path)
        assert res.returncode != 0, f"no unit test notices that {name} is gone"
        assert f"alertname: {name}" in res.stdout + res.stderr, res.stdout


# --- end to end --------------------------------------------------------------------

e2e_skip = None
if PROMETHEUS is None or PROMTOOL is None:
    e2e_skip = "needs prometheus (apt-get install prometheus)"
elif NODE_EXPORTER is None:
    e2e_skip = "needs node_exporter (apt-get install prometheus-node-exporter)"

HTTP_GET = (
    "import sys, urllib.request\n"
    "try:\n"
    "    print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())\n"
    "except Exception as exc:\n"
    "    print('ERR', exc, file=sys.stderr); sys.exit(1)\n"
)

PROM_PORT = 9090  # inside the namespace's own loopback: no clash with anything else
NODE_PORT = 9100


def _get(ns: Netns, url: str) -> str | None:
    res = ns.run([sys.executable, "-c", HTTP_GET, url], timeout=15)
    return res.stdout if res.returncode == 0 else None


def _api(ns: Netns, path: str) -> Any:
    body = _get(ns, f"http://127.0.0.1:{PROM_PORT}{path}")
    if body is None:
        return None
    doc = json.loads(body)
    assert doc.get("status") == "success", doc
    return doc["data"]


def _poll(pred: Any, timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got or time.monotonic() >= deadline:
            return got
        time.sleep(interval)


def _alerts(ns: Netns, name: str) -> list[dict[str, Any]]:
    data = _api(ns, "/api/v1/alerts") or {"alerts": []}
    return [a for a in data["alerts"] if a["labels"].get("alertname") == name]


def _audit(ns: Netns, prom: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, EXPOSURE_AUDIT_NO_UPNP="1", XDG_CONFIG_HOME="/nonexistent-eap")
    res = ns.run(
        [*cli_argv(), "run", "--no-upnp", "--fail-on", "none", "-q", "-o", str(prom)],
        env=env,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res


SERVER = """
import http.server, sys
srv = http.server.ThreadingHTTPServer(("0.0.0.0", 8000), http.server.SimpleHTTPRequestHandler)
print("ready", flush=True)
srv.serve_forever()
"""


@pytest.mark.netns
@requires_netns
@pytest.mark.skipif(e2e_skip is not None, reason=e2e_skip or "")
def test_alert_fires_and_resolves_end_to_end(tmp_path: Path) -> None:
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    prom_file = textfile / "exposure_audit.prom"
    (tmp_path / "data").mkdir()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        f"rule_files: [{json.dumps(str(RULES))}]\n"
        "scrape_configs:\n"
        "  - job_name: node\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{NODE_PORT}']}}]\n"
    )
    assert _promtool("check", "config", str(config), cwd=tmp_path).returncode == 0

    with namespaces(unique("eaP-host"), unique("eaP-peer")) as (host, peer):
        link(host, "eap0", peer, "eap1")
        host.ip("addr", "add", "10.209.0.1/24", "dev", "eap0")
        peer.ip("addr", "add", "10.209.0.2/24", "dev", "eap1")

        # The textfile first, so the first scrape already has it.
        _audit(host, prom_file)
        logs = {n: open(tmp_path / f"{n}.log", "w") for n in ("node", "prometheus")}
        try:
            assert NODE_EXPORTER is not None and PROMETHEUS is not None
            host.popen(
                [
                    NODE_EXPORTER,
                    f"--web.listen-address=127.0.0.1:{NODE_PORT}",
                    "--collector.disable-defaults",
                    "--collector.textfile",
                    f"--collector.textfile.directory={textfile}",
                ],
                stdout=logs["node"],
                stderr=subprocess.STDOUT,
            )
            host.popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{PROM_PORT}",
                ],
                stdout=logs["prometheus"],
                stderr=subprocess.STDOUT,
            )

            def up() -> bool:
                data = _api(host, "/api/v1/query?query=exposure_audit_last_run_success")
                return bool(data and data["result"] and data["result"][0]["value"][1] == "1")

            t0 = time.monotonic()
            assert _poll(up, 30), _logs(tmp_path)
            print(f"prometheus scraping the textfile {time.monotonic() - t0:.1f}s after start")
            # Nothing risky yet; the rules loaded without error.
            groups = _api(host, "/api/v1/rules")["groups"]
            assert [r["health"] for g in groups for r in g["rules"]] == ["ok"] * 7
            assert _alerts(host, "ExposureAuditHighFinding") == []

            server = host.popen(
                [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, cwd=tmp_path
            )
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            _audit(host, prom_file)
            assert 'rule_id="EA-DEV-001"' in prom_file.read_text()
            t0 = time.monotonic()
            fired = _poll(
                lambda: [
                    a for a in _alerts(host, "ExposureAuditHighFinding") if a["state"] == "firing"
                ],
                20,
            )
            assert fired, _logs(tmp_path)
            print(f"ExposureAuditHighFinding firing {time.monotonic() - t0:.1f}s after the run")
            (alert,) = fired
            assert alert["labels"]["rule_id"] == "EA-DEV-001"
            assert alert["labels"]["severity"] == "warning"
            assert alert["labels"]["instance"] == f"127.0.0.1:{NODE_PORT}"
            assert "EA-DEV-001" in alert["annotations"]["summary"]
            # LAN only: not an internet exposure.
            assert _alerts(host, "ExposureAuditInternetReachable") == []

            server.terminate()
            server.wait(timeout=10)
            _audit(host, prom_file)
            t0 = time.monotonic()
            assert _poll(lambda: not _alerts(host, "ExposureAuditHighFinding"), 20), _logs(tmp_path)
            print(f"ExposureAuditHighFinding resolved {time.monotonic() - t0:.1f}s after the run")
            # node_exporter read the directory without error all along.
            err = _api(host, "/api/v1/query?query=max_over_time(node_textfile_scrape_error[1m])")
            assert err["result"] and err["result"][0]["value"][1] == "0"
        finally:
            host.stop_all()
            for f in logs.values():
                f.close()


def _logs(tmp_path: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("*.log"))
    )
