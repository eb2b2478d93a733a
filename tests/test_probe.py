"""Probes against hostile responders (real sockets, a real responder process on
loopback): every probe, every kind of hostile answer, within its bounds, escaped, never
a crash; and the probe choice (what is never asked).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exposure_audit.collectors.probe import (
    PROBE_NAMES,
    TIMEOUT,
    ProbeTarget,
    choose,
    clean,
    plan,
    probe_one,
    run_probes,
)
from exposure_audit.core.model import Address, Interface, Listener, ProcessInfo

HERE = Path(__file__).resolve().parent
MODES = ("garbage", "endless", "drip", "huge", "escapes", "silent", "close")


def start_responders(address: str, modes: list[str]) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "probe_responders.py"), address, *modes],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ports = []
    for line in proc.stdout:
        if line.strip() == "ready":
            break
        ports.append(int(line.split()[1]))
    assert len(ports) == len(modes)
    return proc, ports


@pytest.fixture(scope="module")
def hostile() -> Iterator[dict[str, int]]:
    proc, ports = start_responders("127.0.0.1", list(MODES))
    try:
        yield dict(zip(MODES, ports, strict=True))
    finally:
        proc.kill()
        proc.wait()


def _target(port: int, probe: str, hint: str = "") -> ProbeTarget:
    return ProbeTarget(Listener("tcp", "ipv4", "127.0.0.1", port), probe, "127.0.0.1", hint)


def _printable(text: str) -> bool:
    return all(" " <= ch <= "~" for ch in text)


HTTP_HINTS = ("", "jupyter", "node-inspector", "docker", "metrics")
CASES = [
    (p, m, h) for p in PROBE_NAMES for m in MODES for h in (HTTP_HINTS if p == "http" else ("",))
]


@pytest.mark.parametrize(("probe", "mode", "hint"), CASES)
def test_hostile_responder(probe: str, mode: str, hint: str, hostile: dict[str, int]) -> None:
    t0 = time.monotonic()
    r = probe_one(_target(hostile[mode], probe, hint), TIMEOUT)
    took = time.monotonic() - t0
    # One probe, all its requests: at most twice the per-connection timeout.
    assert took <= 2 * TIMEOUT + 0.15, (probe, mode, took)
    assert r.outcome in ("unrecognised", "refused", "timeout", "error", "answered")
    for line in r.evidence:
        assert _printable(line) and len(line) <= 200, line
        assert "\x1b" not in line
    if mode in ("garbage", "silent", "close", "drip", "endless", "huge"):
        # Nothing hostile is taken for a recognised service with a verified state.
        assert r.state is None, r
    if mode == "silent":
        assert r.outcome == "timeout"


def test_escapes_are_escaped_in_evidence(hostile: dict[str, int]) -> None:
    r = probe_one(_target(hostile["escapes"], "redis"), TIMEOUT)
    text = " ".join(r.evidence)
    assert "\\x1b[2J" in text and "\x1b" not in text
    h = probe_one(_target(hostile["escapes"], "http"), TIMEOUT)
    assert all(_printable(e) for e in h.evidence)
    assert "\\x1b" in " ".join(h.evidence)


def test_all_hostile_at_once_within_the_budget(hostile: dict[str, int]) -> None:
    """Every probe against every hostile responder, four times over (140 probes):
    the run ends within its 1 s budget, and each target gets a result."""
    targets = [_target(hostile[m], p) for p in PROBE_NAMES for m in MODES] * 4
    t0 = time.monotonic()
    results, warnings = run_probes(targets)
    took = time.monotonic() - t0
    print(f"\n{len(targets)} hostile probes: {took * 1000:.0f} ms, {len(warnings)} warnings")
    assert took <= 1.0 + 0.2
    assert len(results) == len(targets)


def test_budget_cuts_a_long_run(hostile: dict[str, int]) -> None:
    """More silent targets than the workers can wait for in the budget: the run still
    ends on time, and the ones not asked are recorded as timeouts with a warning."""
    targets = [_target(hostile["silent"], "redis")] * 200
    t0 = time.monotonic()
    results, warnings = run_probes(targets, timeout=0.3, budget=0.5, workers=8)
    assert time.monotonic() - t0 <= 0.5 + 0.2
    assert all(r.outcome == "timeout" for r in results)
    assert warnings and "did not finish within 0.5 s" in warnings[0].message


def test_clean() -> None:
    assert clean(b"ok\x1b[31m\xff") == "ok\\x1b[31m\\xff"
    assert clean("x" * 500).endswith("...") and len(clean("x" * 500)) <= 123


def _listener(port: int, name: str | None, cmdline: str = "", address: str = "0.0.0.0") -> Listener:
    proc = ProcessInfo(1, name, cmdline=tuple(cmdline.split())) if name else None
    return Listener("tcp", "ipv4", address, port, process=proc)


def test_choose_closed_list() -> None:
    assert choose(_listener(6379, "redis-server")) == ("redis", "")
    assert choose(_listener(7000, "redis-server")) == ("redis", "")
    assert choose(_listener(11211, None)) == ("memcached", "")
    assert choose(_listener(5000, "python3", "python3 app.py")) == ("http", "")
    assert choose(_listener(9400, "node", "node --inspect=0.0.0.0:9400 x.js")) == (
        "http",
        "node-inspector",
    )
    assert choose(_listener(8890, "jupyter-server", "jupyter-server --ip=0.0.0.0")) == (
        "http",
        "jupyter",
    )
    # Never: debug adapters (whatever the port), unknown protocols, UDP.
    assert (
        choose(_listener(5678, "python3", "python3 -m debugpy --listen 0.0.0.0:5678 x.py")) is None
    )
    assert (
        choose(_listener(8000, "python3", "python3 -m debugpy --listen 0.0.0.0:8000 x.py")) is None
    )
    assert choose(_listener(6379, "python3", "/venv/lib/debugpy/adapter --port 6379")) is None
    assert choose(_listener(4444, "nc", "nc -l 4444")) is None
    kernel = "python3 -m ipykernel_launcher -f /root/.local/share/jupyter/runtime/kernel-1.json"
    assert choose(_listener(8888, "python3", kernel)) is None  # ZeroMQ, not HTTP
    assert choose(_listener(22, "sshd")) is None
    assert choose(Listener("udp", "ipv4", "0.0.0.0", 6379)) is None


def test_plan_addresses() -> None:
    lo = Interface(
        "lo", True, "loopback", (Address("127.0.0.1", 8, "ipv4", "loopback", "127.0.0.0/8"),)
    )
    eth = Interface(
        "eth0", True, "physical", (Address("192.0.2.5", 24, "ipv4", "lan", "192.0.2.0/24"),)
    )
    listeners = [
        _listener(6379, "redis-server"),  # wildcard Redis: one of the host's own other addresses
        _listener(8080, None),  # wildcard HTTP: loopback
        _listener(8081, None, address="192.0.2.5"),  # bound to an own address: that one
        _listener(8088, None, address="198.51.100.9"),  # not this host's: never
    ]
    targets, _ = plan(listeners, [lo, eth])
    assert [(t.listener.port, t.target) for t in targets] == [
        (6379, "192.0.2.5"),
        (8080, "127.0.0.1"),
        (8081, "192.0.2.5"),
    ]
    only_lo, _ = plan(listeners[:1], [lo])
    assert only_lo[0].target == "127.0.0.1"
    # A Redis Cluster node: its client port is asked, its bus (port + 10000) never.
    node = [_listener(7000, "redis-server"), _listener(17000, "redis-server")]
    cluster, _ = plan(node, [lo])
    assert [t.listener.port for t in cluster] == [7000]


def test_hostile_probe_evidence_in_saved_facts_is_escaped_in_every_output(
    tmp_path: Path,
) -> None:
    """Saved Facts are untrusted too: probe evidence with raw escape sequences and markup
    (as a hand-edited or forged file could hold) reaches the terminal escaped and the
    HTML inert; an oversized evidence line is refused with one clear message."""
    import json

    from netns import cli_argv

    fixture = HERE / "fixtures" / "golden" / "probed_dev.facts.json"
    doc = json.loads(fixture.read_text())
    evil = "\x1b[2J\x1b]0;pwned\x07<script>alert(1)</script>"
    for p in doc["probes"]:
        if p["port"] == 6379:
            p["evidence"] = [evil]
    facts = tmp_path / "evil.json"
    facts.write_text(json.dumps(doc))
    out_html = tmp_path / "r.html"
    res = subprocess.run(
        [*cli_argv(), "run", "--facts", str(facts), "--fail-on", "none", "-o", str(out_html)],
        capture_output=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert b"\x1b" not in res.stdout and b"refuses other hosts" in res.stdout
    html = out_html.read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    for p in doc["probes"]:
        p["evidence"] = ["x" * 5000]
    facts.write_text(json.dumps(doc))
    res = subprocess.run(
        [*cli_argv(), "run", "--facts", str(facts)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2 and "probes[0].evidence" in res.stderr, res.stderr


def test_stand_ins_for_servers_debian_does_not_ship() -> None:
    """MongoDB, Elasticsearch and the Docker API are not in Debian: stand-ins answer as
    their documentation says they do (tests/probe_responders.py), so the parsing of a
    real-shaped answer is checked; the real servers' probes are in test_probe_real.py."""
    modes = ["mongo", "elastic", "elastic401", "docker"]
    proc, ports = start_responders("127.0.0.1", modes)
    try:
        port = dict(zip(modes, ports, strict=True))
        mongo = probe_one(_target(port["mongo"], "mongodb"))
        assert (mongo.outcome, mongo.service) == ("answered", "mongodb"), mongo
        es = probe_one(
            ProbeTarget(Listener("tcp", "ipv4", "127.0.0.1", port["elastic"]), "http", "127.0.0.1")
        )
        assert (es.service, es.state) == ("elasticsearch", "open"), es
        locked = probe_one(_target(port["elastic401"], "http"))
        assert (locked.service, locked.state) == ("elasticsearch", "auth-required"), locked
        docker = probe_one(_target(port["docker"], "http", "docker"))
        assert (docker.service, docker.state) == ("docker-api", "open"), docker
    finally:
        proc.kill()
        proc.wait()
