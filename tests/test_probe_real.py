"""Probes against real servers, started the usual (risky) ways inside a namespace: the
probe must tell what each really is, and severity must follow: Redis from Debian with
no config (protected mode) low, with a password medium, with protected mode off high;
Flask's app.run(debug=True) (nothing in its command line or environment says debugger)
critical through its console page; Jupyter without a token critical, with one medium;
the Node inspector verified; memcached and PostgreSQL verified. The debugpy adapter is
never connected to (it stops listening while a client is connected), and every server
still listens after the run. A peer namespace gives the host a non-loopback address.

The PyPI servers come from tests/test_real_servers.py's cached venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from netns import cli_argv, link, namespaces, requires_netns, unique, wait_for
from servers import listening, pypi_venv

HOST, PEER = "10.78.0.1", "10.78.0.2"

DEBUG_APP = """
from flask import Flask
app = Flask(__name__)
@app.route("/")
def index():
    return "hi"
if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000, debug=True)
"""


def probe_run(ns, *extra: str) -> tuple[dict, float]:  # type: ignore[no-untyped-def, type-arg]
    """``exposure-audit run -f json`` in ``ns`` with probing on (the suite turns it off)."""
    t0 = time.monotonic()
    res = ns.run(
        ["env", "-u", "EXPOSURE_AUDIT_NO_PROBE", *cli_argv(), "run", "--no-upnp", "-f", "json",
         "--fail-on", "none", *extra],
        timeout=120,
    )  # fmt: skip
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout), took


def _postgres(host, data: Path, port: int) -> bool:  # type: ignore[no-untyped-def]
    """Debian's PostgreSQL, as the nobody user in a fresh data directory."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not bins or not (bins[-1] / "initdb").exists():
        return False
    initdb, postgres = str(bins[-1] / "initdb"), str(bins[-1] / "postgres")
    data.mkdir()
    shutil.chown(data, "nobody")
    res = subprocess.run(
        ["runuser", "-u", "nobody", "--", initdb, "-D", str(data), "-A", "trust", "-U", "pg"],
        capture_output=True,
        timeout=120,
    )
    if res.returncode != 0:
        return False
    host.popen(
        ["runuser", "-u", "nobody", "--", postgres, "-D", str(data), "-p", str(port),
         "-c", "listen_addresses=*", "-k", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return True


@requires_netns
@pytest.mark.allow_skip_in_ci(reason="needs PyPI reachable to build the cached venv")
def test_probes_tell_real_servers_apart(tmp_path: Path, show_table) -> None:  # type: ignore[no-untyped-def]
    redis = shutil.which("redis-server")
    memcached = shutil.which("memcached")
    if redis is None or memcached is None:
        pytest.skip(
            "needs Debian's redis-server and memcached (scripts/run-tests.sh installs them)"
        )
    venv = pypi_venv()
    py, bin_ = str(venv / "bin" / "python3"), venv / "bin"
    (tmp_path / "debugapp.py").write_text(DEBUG_APP)
    (tmp_path / "loop.py").write_text("import time\nwhile True: time.sleep(1)\n")
    os.chmod(tmp_path, 0o755)
    node = shutil.which("node")

    def redis_argv(port: int, *more: str) -> list[str]:
        d = tmp_path / f"redis{port}"
        d.mkdir()
        return [redis, "--port", str(port), "--dir", str(d), "--save", "", "--appendonly", "no",
                *more]  # fmt: skip

    # name, argv, port, expected rule (None: none above low), severity, framework,
    # identity source, probe service/state
    cases = [
        ("redis, no config (protected mode)", redis_argv(6379), 6379,
         "EA-DATA-003", "low", "redis-protected", "probe", ("redis", "protected")),
        # A password is set: still a data store other hosts reach, but not an open one
        # (the veth is a network like any other: no container engine claims it).
        ("redis with requirepass", redis_argv(6380, "--requirepass", "s3cret-pw"), 6380,
         "EA-DATA-002", "medium", "redis-auth", "probe", ("redis", "auth-required")),
        ("redis, protected-mode no", redis_argv(6381, "--protected-mode", "no"), 6381,
         "EA-DATA-001", "high", "redis-open", "probe", ("redis", "open")),
        ("memcached", [memcached, "-u", "nobody", "-l", "0.0.0.0", "-p", "11211", "-U", "0"],
         11211, "EA-DATA-001", "high", "memcached", "probe", ("memcached", "open")),
        ("app.run(debug=True)", [py, "debugapp.py"], 5000,
         "EA-DEV-003", "critical", "werkzeug-debugger", "probe", ("werkzeug-debugger", "open")),
        ("python -m http.server", [py, "-m", "http.server", "8765"], 8765,
         "EA-DEV-001", "high", "http-server", "process", ("http", None)),
        ("jupyter server (token)", [str(bin_ / "jupyter-server"), "--ip=0.0.0.0",
         "--port=8890", "--allow-root", "--no-browser"], 8890,
         "EA-DBG-003", "medium", "jupyter-token", "probe", ("jupyter", "auth-required")),
        ("jupyter server (no token)", [str(bin_ / "jupyter-server"), "--ip=0.0.0.0",
         "--port=8891", "--allow-root", "--no-browser", "--IdentityProvider.token="], 8891,
         "EA-DBG-002", "critical", "jupyter-open", "probe", ("jupyter", "open")),
        ("debugpy (never probed)", [py, "-m", "debugpy", "--listen", "0.0.0.0:5999",
         "loop.py"], 5999, "EA-DBG-001", "critical", "debugpy", "process", None),
    ]  # fmt: skip
    exporter = shutil.which("prometheus-node-exporter")
    if exporter:  # Debian's node_exporter: its /metrics answers anyone (EA-MON-001 is for
        # public addresses: none here)
        cases.append(
            ("node_exporter (Debian)", [exporter, "--web.listen-address=0.0.0.0:9100",
             "--collector.disable-defaults", "--collector.loadavg"], 9100,
             None, None, None, "probe", ("metrics", "open")),
        )  # fmt: skip
    if node:
        cases.append(
            ("node --inspect", [node, "--inspect=0.0.0.0:9400", "-e", "setInterval(()=>{},1000)"],
             9400, "EA-DBG-001", "critical", "node-inspect", "probe", ("node-inspector", "open")),
        )  # fmt: skip
    env = {"PATH": f"{bin_}:{os.environ.get('PATH', '')}", "HOME": str(tmp_path)}
    rows, problems = [], []
    with namespaces(unique("eaP-host"), unique("eaP-peer")) as (host, peer):
        link(host, "eaPh0", peer, "eaPp0")
        host.ip("addr", "add", f"{HOST}/24", "dev", "eaPh0")
        peer.ip("addr", "add", f"{PEER}/24", "dev", "eaPp0")
        for _name, argv, *_ in cases:
            host.popen(
                ["env", *(f"{k}={v}" for k, v in env.items()), *argv],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        # Its own directory under /tmp: pytest's tmp_path is in a 0700 tree nobody
        # cannot enter.
        pg_dir = Path(tempfile.mkdtemp(prefix="ea-probe-pg-"))
        os.chmod(pg_dir, 0o755)
        pg = _postgres(host, pg_dir / "pg", 5432)
        if pg:
            cases.append(
                ("postgres (Debian)", [], 5432, "EA-DATA-002", "medium", "postgres", "probe",
                 ("postgresql", None)),
            )  # fmt: skip
        for name, _argv, port, *_ in cases:
            assert wait_for(lambda port=port: listening(host, port), 60), f"{name} not up"
        report, took = probe_run(host)
        assert report["options"]["probe"] is True
        # Each port's IPv4 wildcard socket, else its IPv6 one (Go's node_exporter binds a
        # dual-stack ::); Redis binds both, its :: asked over the host's link-local address.
        ordered = sorted(report["facts"]["probes"], key=lambda p: ":" not in p["address"])
        probes = {p["port"]: p for p in ordered}
        probes6 = {p["port"]: p for p in report["facts"]["probes"] if ":" in p["address"]}
        by_port: dict[int, list[dict]] = {}  # type: ignore[type-arg]
        for f in report["findings"]:
            if f["listener"]:
                by_port.setdefault(f["listener"]["port"], []).append(f)
        for name, _argv, port, rule, severity, framework, source, verified in cases:
            fs = [
                f
                for f in by_port.get(port, [])
                if f["severity"] not in ("info", "low") or rule is not None
            ]
            got = fs[0] if fs else None
            ident = got["identity"] if got else None
            pr = probes.get(port)
            seen = (pr["service"], pr["state"]) if pr else None
            if rule is None:
                ok = got is None and seen == verified
            else:
                ok = (
                    got is not None
                    and got["rule_id"] == rule
                    and got["severity"] == severity
                    and ident is not None
                    and ident["framework"] == framework
                    and ident["source"] == source
                    and seen == verified
                )
            rows.append([name, got["rule_id"] if got else "-", got["severity"] if got else "-",
                         ident["source"] if ident else "-", ident["framework"] if ident else "-",
                         f"{seen[0]}/{seen[1]}" if seen else "not probed",
                         f"{pr['elapsed_ms']} ms" if pr else "-",
                         "ok" if ok else "WRONG"])  # fmt: skip
            if not ok:
                problems.append((name, got, pr))
        # Redis's IPv6 socket in protected mode, asked over the host's IPv6 link-local
        # address, is refused too: never taken for open.
        v6 = probes6.get(6379)
        assert v6 is not None and v6["state"] == "protected", v6
        rows.append(["redis, no config, [::]", "", "", "", "", f"{v6['service']}/{v6['state']}",
                     f"{v6['elapsed_ms']} ms via {v6['target']}", ""])  # fmt: skip
        # Nothing was lost by asking: every server still listens (debugpy was never asked).
        for name, _argv, port, *_ in cases:
            if not listening(host, port):
                problems.append((name, "stopped listening after the probe run"))
        # The Redis in protected mode told the probe (from this host's own non-loopback
        # address) what it tells a peer: a peer's PING is refused the same way.
        code = (
            f"import socket\ns=socket.create_connection(('{HOST}',6379),2)\n"
            "s.sendall(b'PING\\r\\n')\nprint(s.recv(100)[:7].decode())"
        )
        peer_says = peer.run([sys.executable, "-c", code], timeout=10).stdout.strip()
        assert peer_says == "-DENIED", peer_says
        # --no-probe: no probes in the Facts, and Redis back to what the port alone says.
        quiet, quiet_took = probe_run(host, "--no-probe")
        assert quiet["options"]["probe"] is False
        assert quiet["facts"]["probes"] == []
        r6379 = [f for f in quiet["findings"] if f["listener"] and f["listener"]["port"] == 6379]
        assert r6379 and r6379[0]["rule_id"] == "EA-DATA-001"
        # [defaults] probe = false: for run (--config) and for collect (the default file).
        xdg = tmp_path / "xdg"
        (xdg / "exposure-audit").mkdir(parents=True)
        cfg = xdg / "exposure-audit" / "config.toml"
        cfg.write_text("[defaults]\nprobe = false\n")
        off, _ = probe_run(host, "--config", str(cfg))
        assert off["options"]["probe"] is False
        assert off["facts"]["probes"] == []
        unprobed = ["env", "-u", "EXPOSURE_AUDIT_NO_PROBE", *cli_argv(), "collect", "--no-upnp"]
        collected = host.run(["env", f"XDG_CONFIG_HOME={xdg}", *unprobed], timeout=60)
        assert collected.returncode == 0 and json.loads(collected.stdout)["probes"] == []
        collected = host.run(unprobed, timeout=60)
        assert len(json.loads(collected.stdout)["probes"]) == len(report["facts"]["probes"])
        # A saved run replays the probe results without probing.
        saved = tmp_path / "report.json"
        saved.write_text(json.dumps(report))
        replay, _ = probe_run(host, "--facts", str(saved))
        assert replay["options"]["probe"] is False
        assert replay["facts"]["probes"] == report["facts"]["probes"]
        assert [f["rule_id"] for f in replay["findings"]] == [
            f["rule_id"] for f in report["findings"]
        ]
    shutil.rmtree(pg_dir, ignore_errors=True)
    table = "\n".join(" | ".join(map(str, r)) for r in rows)
    show_table(
        f"\n{table}\n(run with probes: {took:.2f} s; with --no-probe: {quiet_took:.2f} s; "
        f"probes: {len(probes)})"
    )
    assert not problems, problems
