"""Alike processes fold, for real (issue 16): 40 real processes of one Python script, each
holding its own TCP port on 0.0.0.0 inside a namespace of our own, are one entry of the
real CLI's terminal and HTML report ("40 ports, 40 processes"); the JSON still lists
40 listeners of 40 processes. One more copy, started with another argument, is not
alike and stays its own entry."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from netns import cli_argv, link, namespaces, requires_netns, unique

SERVER = """
import socket, sys, time
s = socket.socket()
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
print("ready", flush=True)
time.sleep(600)
"""
COPIES = 40
FIRST = 42000  # inside our own namespace: no other listener there


@requires_netns
def test_forty_processes_of_one_server_are_one_entry(tmp_path: Path) -> None:
    script = tmp_path / "portserver.py"
    script.write_text(SERVER)
    with namespaces(unique("eaL-alike"), unique("eaL-alikep")) as (host, peer):
        link(host, "eaAh0", peer, "eaAp0")
        host.ip("addr", "add", "10.78.0.1/24", "dev", "eaAh0")
        peer.ip("addr", "add", "10.78.0.2/24", "dev", "eaAp0")
        procs = [
            host.popen([sys.executable, str(script), str(FIRST + i)], stdout=-1, text=True)
            for i in range(COPIES)
        ]
        # not alike: the same script with another argument beyond its port
        odd = host.popen(
            [sys.executable, str(script), str(FIRST + COPIES), "--tag"], stdout=-1, text=True
        )
        for proc in [*procs, odd]:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        pids = {proc.pid for proc in procs}  # `ip netns exec` execs: the same pid

        base = [*cli_argv(), "run", "--no-upnp", "--no-probe", "--fail-on", "none"]
        env = {**os.environ, "COLUMNS": "160"}  # the heading and its pids on one line
        res = host.run(base, env=env)
        assert res.returncode == 0, res.stderr
        name = r"python[\d.]*"
        heads = [ln for ln in res.stdout.splitlines() if re.match(rf"^[A-Z]{{3,}}\s+{name} ", ln)]
        assert len(heads) == 2, res.stdout  # the 40 copies, and the odd one
        span = f"(40 ports, 40 processes): {FIRST}–{FIRST + COPIES - 1}"
        assert span in heads[0] and f"pids {min(pids)}" in heads[0], res.stdout
        assert heads[1].endswith(f" on tcp 0.0.0.0:{FIRST + COPIES}  pid {odd.pid}, root")

        html = tmp_path / "report.html"
        res = host.run([*base, "-f", "html", "-o", str(html)], env=env)
        assert res.returncode == 0, res.stderr
        page = html.read_text(encoding="utf-8")
        assert "40 processes (pids " in page and f"{FIRST}–{FIRST + COPIES - 1}" in page

        res = host.run([*base, "-f", "json"], env=env)
        assert res.returncode == 0, res.stderr
        mine = [
            x for x in json.loads(res.stdout)["exposures"] if FIRST <= x["port"] < FIRST + COPIES
        ]
        assert len(mine) == COPIES
        assert {x["process"]["pid"] for x in mine} == pids
