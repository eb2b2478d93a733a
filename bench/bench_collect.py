#!/usr/bin/env python3
"""Benchmark: `exposure-audit collect --no-upnp` against `ss -tulnp`, `lsof -nP -i` and
`python3 -c pass`, with N = 100, 1,000, 10,000 real listening sockets.

Each N gets a fresh network namespace of its own (named eaL-bench-*, loopback only:
nothing is linked to it), so thousands of listeners never show up in the host's socket
table. Inside it, a few child processes open the listeners (TCP and UDP, IPv4 and IPv6,
on 127.0.0.1 and ::1); then every command runs in turn, interleaved, for several
repetitions, and the script prints medians, ratios against the targets of issue 2, and
the peak RSS of the collect runs (from wait4's rusage). ``--stages`` adds where the
time goes inside one collect (imports, each collector, serialisation). The "attrib"
column counts listeners the collect output attributes to a process (all N expected), and
"MB" is the size of the Facts document it writes.

Every command runs with bytecode caching on (under a temporary PYTHONPYCACHEPREFIX),
as an installed tool would; a PYTHONPATH in the environment is passed through, so
`PYTHONPATH=/some/patched/tree` times a candidate change; ``--baseline TREE`` times
the same collect on TREE in a "before" column of the same run, e.g.
    git archive HEAD~3 exposure_audit | tar -x -C /tmp/before
    sudo .venv/bin/python bench/bench_collect.py --baseline /tmp/before

``--ruleset FILE`` loads a firewall ruleset in the namespace first, so that collect has
rules to read as on a host with ufw or Docker (without one, the namespace has no
table and collect starts no firewall command).

Needs root (ip netns). Usage:
    sudo .venv/bin/python bench/bench_collect.py [--sizes 100,1000,10000] [--reps 7] [--stages]
        [--baseline TREE] [--ruleset tests/fixtures/firewall/ufw.rules]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROCS = 4  # listener-holding child processes per N
UDP_SHARE = 5  # one socket in UDP_SHARE is UDP

CHILD = r"""
import os, resource, socket, sys
n, offset = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 64
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
held = []
for i in range(n):
    k = offset + i
    fam = socket.AF_INET6 if k % 2 else socket.AF_INET
    host = "::1" if fam == socket.AF_INET6 else "127.0.0.1"
    udp = k % %(udp_share)d == 0
    s = socket.socket(fam, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    s.bind((host, 0))
    if not udp:
        s.listen(1)
    held.append(s)
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()  # hold until the parent closes our stdin
""".replace("%(udp_share)d", str(UDP_SHARE))


def _collect_argv() -> tuple[list[str], str]:
    """The real CLI when `collect` exists; else the listeners+host collectors alone."""
    exe = Path(sys.executable).with_name("exposure-audit")
    if exe.exists():
        probe = subprocess.run(
            [str(exe), "collect", "--help"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            # Standard output (sent to /dev/null by _timed), not `-o /dev/null`: before
            # atomicio wrote devices in place, `-o /dev/null` as root replaced /dev/null
            # with a regular file, and --baseline may time such a tree.
            return [str(exe), "collect", "--no-upnp"], "exposure-audit collect"
    code = (
        "from exposure_audit.collectors.host import collect_host;"
        "from exposure_audit.collectors.listeners import collect_listeners;"
        "collect_host(); collect_listeners()"
    )
    return [sys.executable, "-c", code], "collectors only (collect command not built yet)"


def _attributed(collect_argv: list[str]) -> tuple[int | None, float | None]:
    """How many listeners the collect output attributes to a process (the timed runs
    did the real work, not a shortcut), and the size of that output in MB."""
    if "collect" not in collect_argv:
        return None, None
    proc = subprocess.run(collect_argv, capture_output=True, text=True, check=False)
    try:
        facts = json.loads(proc.stdout)
    except ValueError:
        return None, None
    size = len(proc.stdout.encode()) / 1e6
    # Facts 2.x: a listener's "pid" points into "processes"; 1.x: "process" inline
    pids = {p.get("pid") for p in facts.get("processes", [])}
    attributed = sum(
        1 for lst in facts.get("listeners", []) if lst.get("process") or lst.get("pid") in pids
    )
    return attributed, size


def _timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit status) of one run, output discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        sys.stderr.write(f"warning: {argv[0]} exited {proc.returncode}: {err[-300:]!r}\n")
    return elapsed, usage.ru_maxrss, proc.returncode


STAGES = r"""
import json, time
T = [("start", time.perf_counter())]
def mark(name):
    T.append((name, time.perf_counter()))
from exposure_audit import cli
cli.build_parser("collect")
mark("import cli + build the collect parser")
from exposure_audit.collectors.host import collect_host
from exposure_audit.collectors.interfaces import collect_interfaces
from exposure_audit.collectors.listeners import collect_listeners
from exposure_audit.collectors.firewall import start_firewall
from exposure_audit.collectors.collect import CollectOptions, collect_facts
from exposure_audit.core.jsonout import json_bytes
mark("import collectors, pipeline, jsonout")
collect_listeners()
mark("collect_listeners")
read = start_firewall()
mark("start_firewall (spawn nft, iptables-save)")
read.finish()
mark("finish firewall (wait, read, parse)")
facts = collect_facts(CollectOptions(upnp=False))
mark("collect_facts (all collectors; firewall alongside)")
json_bytes(facts)
mark("json_bytes (the Facts JSON collect writes)")
print(json.dumps({b[0]: (b[1] - a[1]) * 1000 for a, b in zip(T, T[1:])}))
"""


def _stages(reps: int) -> dict[str, float]:
    """Median time of each stage of a collect, in one process (where the time goes)."""
    runs: list[dict[str, float]] = []
    for _ in range(reps):
        proc = subprocess.run(
            [sys.executable, "-c", STAGES], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            sys.stderr.write(f"stage breakdown failed: {proc.stderr[-500:]}\n")
            return {}
        runs.append(json.loads(proc.stdout))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def load_ruleset(path: str) -> None:
    """Load a firewall ruleset into the current namespace: ``*.nft`` with nft, anything
    else as iptables-save text with iptables-nft-restore (ufw, Docker)."""
    if path.endswith(".nft"):
        subprocess.run(["nft", "-f", path], check=True)
    else:
        with open(path, "rb") as fh:
            subprocess.run(["iptables-nft-restore"], stdin=fh, check=True)


def inner(
    n: int, reps: int, stages: bool = False, baseline: str | None = None, ruleset: str | None = None
) -> dict[str, object]:
    """Runs inside the namespace: open n listeners, time every command."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if ruleset:
        load_ruleset(ruleset)
    children: list[subprocess.Popen[str]] = []
    per = [n // PROCS + (1 if i < n % PROCS else 0) for i in range(PROCS)]
    offset = 0
    try:
        for count in per:
            children.append(
                subprocess.Popen(
                    [sys.executable, "-c", CHILD, str(count), str(offset)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            offset += count
        for child in children:
            line = child.stdout.readline() if child.stdout else ""
            if line.strip() != "ready":
                raise SystemExit(f"a listener child failed to start (pid {child.pid})")
        # Children hold the sockets: the namespace is ready.
        collect_argv, collect_label = _collect_argv()
        commands: dict[str, list[str]] = {"collect": collect_argv}
        envs: dict[str, dict[str, str]] = {}
        if baseline:  # the same command on another tree, e.g. `git archive` of a commit
            commands["before"] = collect_argv
            envs["before"] = {**os.environ, "PYTHONPATH": baseline}
        commands["ss"] = ["ss", "-tulnp"]
        if shutil.which("lsof"):
            commands["lsof"] = ["lsof", "-nP", "-i"]
        commands["python"] = [sys.executable, "-c", "pass"]
        # Check the socket count the kernel sees (ss without -p is cheap).
        seen = subprocess.run(["ss", "-Htuln"], capture_output=True, text=True, check=True)
        times: dict[str, list[float]] = {k: [] for k in commands}
        rss: list[int] = []
        for name, argv in commands.items():  # one warm-up run each (page, bytecode cache)
            _timed(argv, envs.get(name))
        for _ in range(reps):
            for name, argv in commands.items():
                elapsed, peak, _rc = _timed(argv, envs.get(name))
                times[name].append(elapsed)
                if name == "collect":
                    rss.append(peak)
        attributed, facts_mb = _attributed(collect_argv)
        return {
            "n": n,
            "sockets_seen": len(seen.stdout.splitlines()),
            "collect_attributed": attributed,
            "facts_mb": facts_mb,
            "collect_label": collect_label,
            "median_ms": {k: statistics.median(v) * 1000 for k, v in times.items()},
            "min_ms": {k: min(v) * 1000 for k, v in times.items()},
            "collect_peak_rss_mb": max(rss) / 1024,
            "stages_ms": _stages(reps) if stages else {},
        }
    finally:
        for child in children:
            if child.stdin:
                child.stdin.close()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _bench_env() -> dict[str, str]:
    """The environment of every timed command. An installed tool has its bytecode
    compiled (pip does it at install); a checkout run with PYTHONDONTWRITEBYTECODE=1
    recompiles every module on every start (~20 ms here). So: bytecode allowed, cached
    under a temporary prefix rather than in the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "eaL-bench-pycache")
    env["EXPOSURE_AUDIT_NO_UPNP"] = "1"
    return env


def run_in_namespace(
    n: int, reps: int, stages: bool, baseline: str | None = None, ruleset: str | None = None
) -> dict[str, object]:
    from nsbench import run_inner  # type: ignore[import-not-found]

    argv = [
        __file__, "--inner", str(n), "--reps", str(reps),
        *(["--stages"] if stages else []),
        *(["--baseline", baseline] if baseline else []),
        *(["--ruleset", ruleset] if ruleset else []),
    ]  # fmt: skip
    return run_inner("eaL-bench", argv, n, env=_bench_env())  # type: ignore[no-any-return]


def report(results: list[dict[str, object]]) -> int:
    print(f"collect = {results[0]['collect_label']}")
    names = list(results[0]["median_ms"])  # type: ignore[call-overload]
    head = f"{'N':>6} {'seen':>6} {'attrib':>6} " + " ".join(f"{k + ' ms':>11}" for k in names)
    head += f" {'/ss':>6} {'/lsof':>6} {'/python':>8} {'RSS MB':>7} {'out MB':>7}"
    print(head)
    failures: list[str] = []
    for r in results:
        med: dict[str, float] = r["median_ms"]  # type: ignore[assignment]
        n = int(r["n"])  # type: ignore[call-overload]
        attributed = r.get("collect_attributed")
        row = f"{n:>6} {r['sockets_seen']:>6} {attributed if attributed is not None else '-':>6} "
        row += " ".join(f"{med[k]:>11.1f}" for k in names)
        c = med["collect"]
        vs_ss = c / med["ss"]
        vs_lsof = c / med["lsof"] if "lsof" in med else float("nan")
        vs_py = c / med["python"]
        mem = float(r["collect_peak_rss_mb"])  # type: ignore[arg-type]
        out_mb = r.get("facts_mb")
        size = f"{out_mb:>7.2f}" if isinstance(out_mb, float) else f"{'-':>7}"
        print(row + f" {vs_ss:>6.2f} {vs_lsof:>6.2f} {vs_py:>8.2f} {mem:>7.1f} {size}")
        if n >= 10000 and vs_ss > 1.5:
            failures.append(f"N={n}: {vs_ss:.2f}x ss (target <= 1.5x)")
        if n >= 1000 and "lsof" in med and vs_lsof >= 1.0:
            failures.append(f"N={n}: {vs_lsof:.2f}x lsof (target < 1x)")
        if n <= 100 and vs_py > 4.0:
            failures.append(f"N={n}: {vs_py:.2f}x python -c pass (target <= 4x)")
        if n >= 10000 and mem >= 80:
            failures.append(f"N={n}: peak RSS {mem:.1f} MB (target < 80 MB)")
    print(
        "min ms:  "
        + "; ".join(
            f"N={r['n']}: " + ", ".join(f"{k} {v:.1f}" for k, v in r["min_ms"].items())  # type: ignore[attr-defined]
            for r in results
        )
    )
    for r in results:
        if r.get("stages_ms"):
            print(f"stages at N={r['n']} (median ms, in one process):")
            for k, v in r["stages_ms"].items():  # type: ignore[attr-defined]
                print(f"  {v:8.1f}  {k}")
    print("targets: " + ("all met" if not failures else "MISSED: " + "; ".join(failures)))
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    parser.add_argument(
        "--baseline",
        metavar="TREE",
        help="also time collect with PYTHONPATH=TREE (a checkout or `git archive` of an "
        "older commit) in a 'before' column",
    )
    parser.add_argument(
        "--stages", action="store_true", help="also time each stage of a collect in-process"
    )
    parser.add_argument(
        "--ruleset",
        metavar="FILE",
        help="load this firewall ruleset in the namespace first (*.nft: nft -f; else "
        "iptables-save text, e.g. tests/fixtures/firewall/ufw.rules): collect then reads "
        "it, as on a host with a firewall",
    )
    args = parser.parse_args()
    if args.inner is not None:
        result = inner(args.inner, args.reps, args.stages, args.baseline, args.ruleset)
        print(json.dumps(result))
        return 0
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("needs root and iproute2 (ip netns) to build its own namespace", file=sys.stderr)
        return 2
    baseline = str(Path(args.baseline).resolve()) if args.baseline else None
    ruleset = str(Path(args.ruleset).resolve()) if args.ruleset else None
    results = [
        run_in_namespace(int(n), args.reps, args.stages, baseline, ruleset)
        for n in args.sizes.split(",")
    ]
    if args.json:
        print(json.dumps(results, indent=2))
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
