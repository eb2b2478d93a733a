"""The headline and the counts follow the firewall: in a namespace, a default-drop
ruleset lets 2 of 6 listeners through; a peer on another namespace really connects to
those 2 and to none of the others, and the report (JSON summary and verdict, terminal,
Prometheus) says 2, with the other 4 shown as blocked by the firewall, quoting the rule
that drops them."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from netns import cli_argv, link, namespaces, netns_skip_reason, unique, wait_for

PORTS = (7001, 7002, 7003, 7004, 7005, 7006)
OPEN_PORTS = (7001, 7004)
RULESET = """
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport { 7001, 7004 } accept
	}
}
"""
LISTENER = """
import socket, time
socks = []
for port in %r:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(8); socks.append(s)
print("ready", flush=True)
time.sleep(600)
"""
PROBE = """
import json, socket, sys
out = []
for port in json.loads(sys.argv[1]):
    try:
        socket.create_connection(("10.7.0.1", port), timeout=1.0).close(); out.append(port)
    except OSError:
        pass
print(json.dumps(out))
"""


def _skip() -> str | None:
    return netns_skip_reason() or (None if shutil.which("nft") else "needs nft")


@pytest.mark.skipif(_skip() is not None, reason=_skip() or "")
def test_two_of_six_listeners_through_a_default_drop_firewall(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with namespaces(unique("eaV-h"), unique("eaV-p")) as (host, peer):
        link(host, "vA", peer, "eth0")
        host.ip("addr", "add", "10.7.0.1/24", "dev", "vA")
        peer.ip("addr", "add", "10.7.0.2/24", "dev", "eth0")
        host.run(["nft", "-f", "-"], input=RULESET, check=True)
        proc = host.python(LISTENER % (PORTS,))
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        reached: list[int] = []

        def probe() -> bool:
            out = peer.run([sys.executable, "-c", PROBE, json.dumps(PORTS)], check=True)
            reached[:] = json.loads(out.stdout)
            return bool(reached)

        assert wait_for(probe)
        assert tuple(reached) == OPEN_PORTS  # the ground truth: 2 of 6

        out = {fmt: tmp_path / f"r.{ext}" for fmt, ext in
               (("json", "json"), ("terminal", "txt"), ("prometheus", "prom"))}  # fmt: skip
        argv = [*cli_argv(), "run", "--no-upnp", "--fail-on", "none"]
        for path in out.values():
            argv += ["-o", str(path)]
        env = {"EXPOSURE_AUDIT_NO_UPNP": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        res = host.run(argv, timeout=120, env=env)
        assert res.returncode == 0, res.stderr
        report = json.loads(out["json"].read_text())
        s = report["summary"]
        mine = [x for x in report["exposures"] if x["port"] in PORTS]
        assert sorted(x["port"] for x in mine if x["reachable"]) == list(OPEN_PORTS)
        assert sorted(x["port"] for x in mine if x["blocked_by_firewall"]) == [
            p for p in PORTS if p not in OPEN_PORTS
        ]
        assert s["listeners_exposed"] == 2, s
        assert s["listeners_blocked_by_firewall"] == 4
        assert s["listeners_beyond_loopback"] == 6
        assert s["verdict_headline"].startswith("2 services on "), s["verdict"]
        assert "4 more blocked by the firewall" in s["verdict"]
        assert s["reachable_by_scope"]["lan"] == 2

        text = " ".join(out["terminal"].read_text().split())  # (wrapped to the width)
        assert "2 services on " in text and "4 more blocked by the firewall" in text
        # one process, one address: the open ports are one entry, the blocked ones another
        assert text.count("BLOCKED") == 1, text
        assert "on tcp 0.0.0.0 (4 ports): 7002–7003, 7005–7006" in text
        assert "on tcp 0.0.0.0 (2 ports): 7001, 7004" in text
        assert "blocked by the firewall on every path checked:" in text
        assert "policy drop of chain inet filter input" in text  # the dropping rule, quoted
        assert "15 services" not in text and "6 services" not in text

        prom = out["prometheus"].read_text()
        assert "exposure_audit_listeners_exposed 2" in prom, prom
        assert "exposure_audit_listeners_blocked_by_firewall 4" in prom
