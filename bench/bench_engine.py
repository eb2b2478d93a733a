#!/usr/bin/env python3
"""Benchmark: the rules engine over 10,000 listeners x all built-in rules.

Pure computation over synthetic Facts (no sockets, no network): a host with loopback,
a Wi-Fi LAN, a public address and a VPN, and N listeners mixing catalogued ports
(dev servers, databases, debuggers...), unknown ports, frameworks recognisable from the
command line, loopback-only and wildcard binds, and some UPnP-mapped ones. Prints the
median of several repetitions for run_rules alone, and for resolve + run_rules, plus
rule loading. Target (issue 3): run_rules well under one second for 10,000 listeners.

Usage:
    .venv/bin/python bench/bench_engine.py [--listeners 10000] [--reps 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import statistics
import time
from collections.abc import Callable

from exposure_audit.analysis.engine import run_rules
from exposure_audit.analysis.exposure import resolve
from exposure_audit.core.model import (
    Address,
    Facts,
    HostInfo,
    Interface,
    Listener,
    ProcessInfo,
    UpnpFacts,
    UpnpMapping,
)
from exposure_audit.policy.config import load_config
from exposure_audit.policy.loader import load_ruleset

PROGRAMS = [
    ("python3", "python3 manage.py runserver 0.0.0.0:{port}"),
    ("python3", "python3 -m http.server {port}"),
    ("flask", "flask run --host 0.0.0.0 --port {port} --debug"),
    ("node", "node node_modules/.bin/vite --host --port {port}"),
    ("node", "node --inspect=0.0.0.0:9229 server.js"),
    ("node", "node node_modules/.bin/next dev -p {port}"),
    ("ruby", "ruby bin/rails server -b 0.0.0.0 -p {port}"),
    ("jupyter-lab", "python3 jupyter-lab --ip=0.0.0.0 --port={port}"),
    ("redis-server", "/usr/bin/redis-server *:{port}"),
    ("postgres", "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql"),
    ("docker-proxy", "/usr/bin/docker-proxy -proto tcp -host-port {port}"),
    ("sshd", "sshd: /usr/sbin/sshd -D"),
    ("java", "java -Xmx4g -jar /opt/app/" + "x" * 300 + ".jar --server.port={port}"),
    ("myservice", "/opt/myservice/bin/myservice --listen :{port}"),
]
USERS = ("alice", "root", "www-data")
BINDS = ["0.0.0.0", "::", "127.0.0.1", "::1", "192.168.1.23", "94.130.10.21", "10.66.0.1"]


def synthetic_facts(n: int, seed: int = 7, processes: int | None = None) -> Facts:
    """``processes``: how many distinct processes hold the listeners (None: every
    listener has its own command line, the worst case for framework detection)."""
    rng = random.Random(seed)
    catalogue_ports = sorted({port for (_proto, port) in load_ruleset([]).catalogue.entries})
    interfaces = (
        Interface(
            "lo",
            True,
            "loopback",
            (
                Address("127.0.0.1", 8, "ipv4", "loopback", "127.0.0.0/8"),
                Address("::1", 128, "ipv6", "loopback", "::1/128"),
            ),
        ),
        Interface(
            "wlan0",
            True,
            "physical",
            (Address("192.168.1.23", 24, "ipv4", "lan", "192.168.1.0/24"),),
        ),
        Interface(
            "eth0",
            True,
            "physical",
            (Address("94.130.10.21", 26, "ipv4", "public", "94.130.10.0/26"),),
        ),
        Interface("wg0", True, "vpn", (Address("10.66.0.1", 24, "ipv4", "vpn", "10.66.0.0/24"),)),
    )
    listeners = []
    shared: dict[int, ProcessInfo] = {}
    used: set[tuple[str, str, int]] = set()
    while len(listeners) < n:
        port = rng.choice(catalogue_ports) if rng.random() < 0.5 else rng.randint(1024, 65535)
        protocol = "udp" if rng.random() < 0.15 else "tcp"
        address = rng.choice(BINDS)
        if (protocol, address, port) in used:
            continue
        used.add((protocol, address, port))
        name, cmdline = rng.choice(PROGRAMS)
        pid = rng.randint(100, 99999)
        user = rng.choice(USERS)
        if processes is not None:
            pid = rng.randrange(processes)
            name, cmdline = PROGRAMS[pid % len(PROGRAMS)]
            user = USERS[pid % len(USERS)]  # a process runs as one user, as on a host
        process = shared.get(pid) if processes is not None else None
        if process is None:
            process = ProcessInfo(
                pid=pid,
                name=name,
                cmdline=tuple(cmdline.format(port=pid if processes else port).split()),
                username=user,
                container_id="4f2c9a1b7d3e" if name == "docker-proxy" else None,
            )
            # the collector reads each process once: its listeners share one ProcessInfo
            shared[pid] = process
        family = "ipv6" if ":" in address else "ipv4"
        listeners.append(Listener(protocol, family, address, port, v6only=False, process=process))
    mapped = [lst for lst in listeners if lst.address == "0.0.0.0"][: n // 100]
    mappings = tuple(
        UpnpMapping(lst.protocol, 40000 + i, "192.168.1.23", lst.port)
        for i, lst in enumerate(mapped)
    )
    return Facts(
        host=HostInfo("bench", "Linux", "Debian", "6.1", True, 0, "0.1.0", "3.11"),
        collected_at="2026-11-27T10:00:00Z",
        interfaces=interfaces,
        listeners=tuple(listeners),
        upnp=UpnpFacts(status="ok", external_ip="203.0.113.9", mappings=mappings),
    )


def median_seconds(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds (CPU time is steadier on a busy machine),
    each call with the cyclic garbage collector off, as cli.main runs every command.
    What ``fn`` returns is freed after the clock stops: a command keeps the findings
    until its report is written (``run`` as a whole, frees included: bench_run.py)."""
    wall, cpu = [], []
    for _ in range(reps):
        gc.disable()
        try:
            w0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            del result
        finally:
            gc.enable()
    return statistics.median(wall), statistics.median(cpu)


def scenario(label: str, facts: Facts, reps: int) -> float:
    ruleset = load_ruleset([])
    config = load_config(None)
    resolved = resolve(facts)
    today = dt.date(2026, 11, 27)

    def engine() -> list:
        return run_rules(
            ruleset, facts, resolved.exposures, resolved.dangling, config.waivers, today
        )

    def both() -> list:
        r = resolve(facts)
        return run_rules(ruleset, facts, r.exposures, r.dangling, config.waivers, today)

    findings = engine()
    engine_wall, engine_cpu = median_seconds(engine, reps)
    both_wall, both_cpu = median_seconds(both, reps)
    n, r = len(facts.listeners), len(ruleset.rules)
    print(f"== {label}")
    print(f"   listeners: {n:,}   rules: {r}   rule x listener evaluations: {n * r:,}")
    print(f"   findings: {len(findings):,} ({sum(f.waived for f in findings):,} waived)")
    for what, wall, cpu in (
        ("run_rules:          ", engine_wall, engine_cpu),
        ("resolve + run_rules:", both_wall, both_cpu),
    ):
        print(f"   {what} {wall * 1000:7.1f} ms wall  {cpu * 1000:7.1f} ms CPU")
    print(f"   per rule x listener: {engine_cpu / (n * r) * 1e9:7.0f} ns CPU")
    if findings:
        print(f"   per finding:         {engine_cpu / len(findings) * 1e6:7.1f} us CPU")
    return engine_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--listeners", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()

    load_wall, load_cpu = median_seconds(lambda: load_ruleset([]), args.reps)
    print(f"load built-in rules: {load_wall * 1000:.1f} ms wall, {load_cpu * 1000:.1f} ms CPU")
    print(f"(medians of {args.reps} repetitions)")
    worst = scenario(
        "worst case: every listener its own command line, ~80% of listeners with findings",
        synthetic_facts(args.listeners),
        args.reps,
    )
    typical = scenario(
        "typical: the same listeners held by 50 processes",
        synthetic_facts(args.listeners, processes=50),
        args.reps,
    )
    verdict = "OK" if worst < 1.0 else "SLOWER THAN TARGET"
    print(f"target: run_rules under 1 s for {args.listeners:,} listeners (worst case): {verdict}")
    if args.listeners == 10_000:
        verdict = "OK" if typical <= 0.1 else "SLOWER THAN TARGET"
        print(f"target (issue 16): run_rules <= 100 ms, typical case: {verdict}")


if __name__ == "__main__":
    main()
