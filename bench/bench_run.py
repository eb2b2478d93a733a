#!/usr/bin/env python3
"""Benchmark: `exposure-audit run` at scale against `collect` (issue 16).

For each size (default 100+10, 1,000+100, 10,000+1,000 TCP+UDP listeners) the script
makes a network namespace of its own (eaR-bench-*, deleted afterwards) holding a veth
pair that exists only inside it (a LAN address, 192.168.77.2/24 on one end), and four
child processes that open the listeners, spread over 0.0.0.0, 127.0.0.1, :: and the
LAN address. Inside the namespace it then times, as fresh processes, interleaved run by
run (the machine's noise hits all alike):

  collect   exposure-audit collect --no-upnp --no-probe              (to /dev/null)
  run       exposure-audit run --no-upnp --no-probe --fail-on none   (terminal, /dev/null)
  run json  exposure-audit run --no-upnp --no-probe --fail-on none -o DIR/r.json
  run html  exposure-audit run --no-upnp --no-probe --fail-on none -o DIR/r.html

and prints medians, each run's ratio to collect, and the peak RSS of the run commands
(wait4's rusage). ``--baseline TREE`` adds the same commands on another tree
(PYTHONPATH=TREE, e.g. `git archive` of the commit before) to the same interleaving, so
the before and after columns come from one run. Last, in the namespace, the rules
engine alone (run_rules, in process, minimum CPU time) over the Facts collected there.

Then, with no sockets: the rules engine alone over synthetic Facts (bench_engine's
generator; resolve + run_rules, and run_rules alone) at 100 ... 100,000 listeners,
with the cost per listener at each size (linear cost: the same figure at every size),
and the whole `run --facts` pipeline (evaluate, document, JSON) over the same Facts.

Needs root (ip netns) for the socket part; ``--engine-only`` runs without it. Usage:
    git archive HEAD | tar -x -C /tmp/before
    sudo .venv/bin/python bench/bench_run.py [--sizes 100,1000,10000] [--reps 5]
        [--baseline /tmp/before] [--engine-sizes 100,1000,10000,100000] [--engine-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROCS = 4
UDP_SHARE = 11  # one listener in 11 is UDP: 10,000 TCP + 1,000 UDP
LAN = "192.168.77.2"
BINDS = ("0.0.0.0", "127.0.0.1", "::", LAN)

CHILD = r"""
import resource, socket, sys
n, offset, udp_share = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
binds = sys.argv[4].split(",")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < n + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(n + 64, soft), max(n + 64, hard)))
held = []
for i in range(n):
    k = offset + i
    host = binds[k % len(binds)]
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    udp = k % udp_share == 0
    s = socket.socket(fam, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, 0))
    if not udp:
        s.listen(1)
    held.append(s)
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()  # hold until the parent closes our stdin
"""


def _exe() -> list[str]:
    exe = Path(sys.executable).with_name("exposure-audit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "exposure_audit"]


def _timed(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in KiB, CPU seconds) of one run, output discarded. CPU
    time (user + system) is the steadier figure on a shared machine."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        sys.stderr.write(f"warning: {' '.join(argv)} exited {rc}: {err[-400:]!r}\n")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def _commands(out: str) -> dict[str, list[str]]:
    exe = _exe()
    # --no-probe: evaluation and rendering are timed here (bench_probe.py times probes)
    run = [*exe, "run", "--no-upnp", "--no-probe", "--fail-on", "none"]
    return {
        "collect": [*exe, "collect", "--no-upnp", "--no-probe"],
        "run": run,
        "run json": [*run, "-o", os.path.join(out, "r.json")],
        "run html": [*run, "-o", os.path.join(out, "r.html")],
    }


def _start_children(n: int, work: str) -> list[subprocess.Popen[str]]:
    # a script file, not `python -c CHILD`: a server's command line is a few words, and
    # every exposure in the JSON report carries its process's command line
    script = os.path.join(work, "listen.py")
    Path(script).write_text(CHILD)
    children: list[subprocess.Popen[str]] = []
    per = [n // PROCS + (1 if i < n % PROCS else 0) for i in range(PROCS)]
    offset = 0
    for count in per:
        argv = [sys.executable, script, str(count), str(offset), str(UDP_SHARE)]
        children.append(
            subprocess.Popen(
                [*argv, ",".join(BINDS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        )
        offset += count
    for child in children:
        if (child.stdout.readline() if child.stdout else "").strip() != "ready":
            raise SystemExit(f"a listener child failed to start (pid {child.pid})")
    return children


def _stop_children(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        if child.stdin:
            child.stdin.close()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def inner(n: int, reps: int, baseline: str | None, save_facts: str | None) -> dict[str, object]:
    """Runs inside the namespace: veth + listeners, then every command, interleaved."""
    for argv in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "link", "add", "eaR0", "type", "veth", "peer", "name", "eaR1"],
        ["ip", "addr", "add", f"{LAN}/24", "dev", "eaR0"],
        ["ip", "link", "set", "eaR0", "up"],
        ["ip", "link", "set", "eaR1", "up"],
    ):
        subprocess.run(argv, check=True)
    # more ephemeral ports than the default 28k: wildcard binds share one port space
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as fh:
        fh.write("1024 65000")
    time.sleep(0.2)  # IPv6 duplicate address detection does not matter: IPv4 LAN only
    work = tempfile.mkdtemp(prefix="eaR-bench-")
    children: list[subprocess.Popen[str]] = []
    try:
        children = _start_children(n, work)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["EXPOSURE_AUDIT_NO_UPNP"] = "1"
        env["XDG_CONFIG_HOME"] = work  # no user config changes what is timed
        env["XDG_STATE_HOME"] = work
        cases: list[tuple[str, list[str], dict[str, str]]] = []
        trees = {"after": None, "before": baseline} if baseline else {"after": None}
        for tree, path in trees.items():
            tenv = dict(env, PYTHONPYCACHEPREFIX=os.path.join(work, f"pyc-{tree}"))
            if path:
                tenv["PYTHONPATH"] = path
            out = os.path.join(work, tree)
            os.mkdir(out)
            for name, argv in _commands(out).items():
                cases.append((f"{name} [{tree}]" if baseline else name, argv, tenv))
        seen = subprocess.run(["ss", "-Htuln"], capture_output=True, text=True, check=True)
        if save_facts:  # the Facts of this namespace, to profile `run --facts` on
            subprocess.run(
                [*_exe(), "collect", "--no-upnp", "--no-probe", "-o", save_facts],
                check=True,
                env=env,
            )
            if reps == 0:
                return {"n": n}
        for _label, argv, cenv in cases:  # warm-up: bytecode caches, page cache
            _timed(argv, cenv, work)
        times: dict[str, list[float]] = {label: [] for label, _a, _e in cases}
        rss: dict[str, list[int]] = {label: [] for label, _a, _e in cases}
        cpu: dict[str, list[float]] = {label: [] for label, _a, _e in cases}
        for _ in range(reps):
            for label, argv, cenv in cases:
                elapsed, peak, used = _timed(argv, cenv, work)
                times[label].append(elapsed)
                rss[label].append(peak)
                cpu[label].append(used)
        sizes = {
            name: os.path.getsize(os.path.join(work, "after", f"r.{name}"))
            for name in ("json", "html")
        }
        facts_path = os.path.join(work, "facts.json")
        subprocess.run(
            [*_exe(), "collect", "--no-upnp", "--no-probe", "-o", facts_path], env=env, check=True
        )
        engine = subprocess.run(
            [sys.executable, __file__, "--rules-on", facts_path, "--reps", str(max(reps, 5))],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return {
            "n": n,
            "rules_on_collected": json.loads(engine.stdout),
            "sockets_seen": len(seen.stdout.splitlines()),
            "median_ms": {k: statistics.median(v) * 1000 for k, v in times.items()},
            "cpu_ms": {k: statistics.median(v) * 1000 for k, v in cpu.items()},
            "peak_rss_mb": {k: max(v) / 1024 for k, v in rss.items()},
            "out_bytes": sizes,
        }
    finally:
        _stop_children(children)
        shutil.rmtree(work, ignore_errors=True)


def run_in_namespace(
    n: int, reps: int, baseline: str | None, save_facts: str | None = None
) -> dict[str, object]:
    from nsbench import run_inner  # type: ignore[import-not-found]

    argv = [__file__, "--inner", str(n), "--reps", str(reps)]
    if baseline:
        argv += ["--baseline", baseline]
    if save_facts:
        argv += ["--save-facts", save_facts]
    return run_inner("eaR-bench", argv, n, timeout=3600)  # type: ignore[no-any-return]


def report(results: list[dict[str, object]], baseline: bool) -> list[str]:
    failures: list[str] = []
    trees = ["after", "before"] if baseline else [""]
    print(
        "median wall ms (ratio to collect of the same tree), peak RSS MB of the run "
        "commands; CPU: median user+system ms of the same runs"
    )
    print(
        f"{'listeners':>14} {'tree':>6} {'collect':>8} {'run':>15} {'run -o json':>15} "
        f"{'run -o html':>15} {'RSS run/json/html':>18}"
    )
    for r in results:
        n = int(r["n"])  # type: ignore[call-overload]
        med: dict[str, float] = r["median_ms"]  # type: ignore[assignment]
        mem: dict[str, float] = r["peak_rss_mb"]  # type: ignore[assignment]
        cpu: dict[str, float] = r["cpu_ms"]  # type: ignore[assignment]
        label = f"{n - n // UDP_SHARE:,}+{n // UDP_SHARE:,}"
        for tree in trees:

            def key(name: str, tree: str = tree) -> str:
                return f"{name} [{tree}]" if tree else name

            c = med[key("collect")]
            cells = [f"{med[key(k)]:7.0f} ({med[key(k)] / c:4.1f}x)" for k in _RUNS]
            rss = "/".join(f"{mem[key(k)]:.0f}" for k in _RUNS)
            print(f"{label:>14} {tree or '-':>6} {c:8.0f} " + " ".join(cells) + f" {rss:>18}")
            cc = cpu[key("collect")]
            cells = [f"{cpu[key(k)]:7.0f} ({cpu[key(k)] / cc:4.1f}x)" for k in _RUNS]
            print(f"{'':>14} {'CPU':>6} {cc:8.0f} " + " ".join(cells))
            if tree == "before":
                continue
            ratios = {k: med[key(k)] / c for k in _RUNS}
            if n >= 10000:
                for k, limit in (("run", 3.0), ("run json", 3.0), ("run html", 4.0)):
                    if ratios[k] > limit:
                        failures.append(f"N={n}: {k} {ratios[k]:.2f}x collect (<= {limit}x)")
                peak = max(mem[key(k)] for k in _RUNS)
                if peak > 80:
                    failures.append(f"N={n}: peak RSS {peak:.0f} MB (<= 80 MB)")
            if n <= 110 and ratios["run"] > 2.5:
                failures.append(f"N={n}: run {ratios['run']:.2f}x collect (<= 2.5x)")
        print(f"{'':>14} sockets seen {r['sockets_seen']}, outputs {r['out_bytes']}")
        eng: dict[str, float] = r["rules_on_collected"]  # type: ignore[assignment]
        print(
            f"{'':>14} rules engine on these Facts (CPU ms, min): run_rules "
            f"{eng['run_rules_ms']:.1f} ({eng['findings']:.0f} findings), "
            f"resolve + firewall annotate {eng['resolve_annotate_ms']:.1f}"
        )
        if n >= 10000 and eng["run_rules_ms"] > 100:
            failures.append(f"N={n}: run_rules {eng['run_rules_ms']:.0f} ms (<= 100)")
    return failures


_RUNS = ("run", "run json", "run html")


def engine_only(sizes: list[int], reps: int) -> list[str]:
    """resolve + run_rules, and the whole `run --facts` pipeline, over synthetic Facts."""
    sys.path.insert(0, str(HERE))
    from bench_engine import synthetic_facts  # type: ignore[import-not-found]

    from exposure_audit.analysis.engine import run_rules
    from exposure_audit.analysis.exposure import resolve
    from exposure_audit.core.jsonout import json_bytes
    from exposure_audit.policy.config import load_config
    from exposure_audit.policy.loader import load_ruleset

    ruleset = load_ruleset([])
    waivers = load_config(None).waivers
    today = dt.date(2026, 11, 27)
    failures: list[str] = []
    print()
    print(
        f"engine only, synthetic Facts (bench_engine, 50 processes), {len(ruleset.rules)} "
        "rules; CPU ms (median), us per listener"
    )
    print(
        f"{'listeners':>10} {'findings':>9} {'run_rules':>10} {'us/lst':>7} "
        f"{'resolve+rules':>14} {'us/lst':>7} {'run --facts -o json (CPU)':>26} {'us/lst':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="eaR-bench-") as work:
        for n in sizes:
            facts = synthetic_facts(n, processes=50)
            res = resolve(facts)

            def rules(res: object = res, facts: object = facts) -> list[object]:
                return run_rules(ruleset, facts, res.exposures, res.dangling, waivers, today)  # type: ignore[attr-defined,arg-type]

            def both(facts: object = facts) -> list[object]:
                r = resolve(facts)  # type: ignore[arg-type]
                return run_rules(ruleset, facts, r.exposures, r.dangling, waivers, today)  # type: ignore[arg-type]

            findings = len(rules())
            t_rules = _cpu_median(rules, reps)
            t_both = _cpu_median(both, reps)
            path = os.path.join(work, f"facts-{n}.json")
            Path(path).write_bytes(json_bytes(facts))
            out = os.path.join(work, f"r-{n}.json")
            argv = [*_exe(), "run", "--facts", path, "--fail-on", "none", "-o", out]
            env = dict(os.environ, XDG_CONFIG_HOME=work, XDG_STATE_HOME=work)
            walls = [_timed(argv, env, work)[2] for _ in range(reps if n < 100000 else 1)]
            t_cli = statistics.median(walls)
            print(
                f"{n:>10,} {findings:>9,} {t_rules * 1000:>10.1f} {t_rules / n * 1e6:>7.1f} "
                f"{t_both * 1000:>14.1f} {t_both / n * 1e6:>7.1f} {t_cli * 1000:>26.0f} "
                f"{t_cli / n * 1e6:>7.1f}"
            )
            if n == 10000 and t_rules > 0.1:
                failures.append(f"run_rules over 10,000 listeners {t_rules * 1000:.0f} ms (<= 100)")
    return failures


def rules_on(path: str, reps: int) -> dict[str, float]:
    """run_rules over collected Facts (the minimum CPU time of ``reps``), in process."""
    from exposure_audit.analysis.engine import run_rules
    from exposure_audit.analysis.exposure import resolve
    from exposure_audit.analysis.firewall.annotate import annotate
    from exposure_audit.core.serialize import load_facts
    from exposure_audit.policy.config import load_config
    from exposure_audit.policy.loader import load_ruleset

    facts = load_facts(path)
    ruleset, waivers = load_ruleset([]), load_config(None).waivers
    today = dt.date(2026, 11, 27)

    def prepare() -> tuple[object, object]:
        r = resolve(facts)
        return annotate(facts, list(r.exposures)), r.dangling

    exposures, dangling = prepare()
    t_prepare = min(_cpu(prepare) for _ in range(reps))
    t_rules = min(
        _cpu(lambda: run_rules(ruleset, facts, exposures, dangling, waivers, today))  # type: ignore[arg-type]
        for _ in range(reps)
    )
    found = run_rules(ruleset, facts, exposures, dangling, waivers, today)  # type: ignore[arg-type]
    return {
        "run_rules_ms": t_rules * 1000,
        "resolve_annotate_ms": t_prepare * 1000,
        "findings": len(found),
    }


def _cpu(fn: object) -> float:
    return _cpu_median(fn, 1)


def _cpu_median(fn: object, reps: int) -> float:
    """Median CPU seconds of ``fn()``, timed as bench_engine times it (the collector
    off, as cli.main runs every command)."""
    from bench_engine import median_seconds  # type: ignore[import-not-found]

    cpu: float = median_seconds(fn, reps)[1]
    return cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sizes", default="110,1100,11000", help="total listeners (TCP + UDP)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--baseline", metavar="TREE", help="also time these commands on TREE")
    ap.add_argument("--engine-sizes", default="100,1000,10000,100000")
    ap.add_argument("--engine-only", action="store_true", help="no sockets, no root needed")
    ap.add_argument(
        "--save-facts",
        metavar="FILE",
        help="write the Facts of the (last) namespace to FILE, e.g. to profile "
        "`run --facts FILE`; with --reps 0, only that",
    )
    ap.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rules-on", help=argparse.SUPPRESS)
    args = ap.parse_args()
    baseline = str(Path(args.baseline).resolve()) if args.baseline else None
    if args.rules_on:
        print(json.dumps(rules_on(args.rules_on, args.reps)))
        return 0
    if args.inner is not None:
        save = str(Path(args.save_facts).resolve()) if args.save_facts else None
        print(json.dumps(inner(args.inner, args.reps, baseline, save)))
        return 0
    failures: list[str] = []
    if not args.engine_only:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            print("needs root and iproute2 (or --engine-only)", file=sys.stderr)
            return 2
        save = str(Path(args.save_facts).resolve()) if args.save_facts else None
        results = [
            run_in_namespace(int(n), args.reps, baseline, save) for n in args.sizes.split(",")
        ]
        if args.reps == 0:
            return 0
        failures += report(results, baseline is not None)
    if args.engine_sizes:
        failures += engine_only([int(n) for n in args.engine_sizes.split(",")], args.reps)
    print("targets: " + ("all met" if not failures else "MISSED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
