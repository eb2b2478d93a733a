#!/usr/bin/env python3
"""Benchmark: start-up cost of the commands people run, this tree against another
(``--baseline TREE``), interleaved in one run so the machine's noise hits both alike.

Timed, each as a fresh process with bytecode caching on (a temporary
PYTHONPYCACHEPREFIX, warmed first), as an installed tool runs:
  collect      exposure-audit collect --no-upnp --no-probe -o /dev/null  (read only)
  run --facts  exposure-audit run --facts FIXTURE --no-upnp --no-probe  (no collection)
  run          exposure-audit run --no-upnp --no-probe --fail-on critical  (terminal)
  python       python3 -c pass                                    (the floor)
  modules      python3 -c "import <what run imports but jinja2>"
  + jinja2     the same and jinja2                   (what the HTML report's runtime costs)
No traffic leaves the host: UPnP is off and nothing is probed.

Usage:
    git worktree add --detach /tmp/before HEAD~5
    .venv/bin/python bench/bench_startup.py --baseline /tmp/before [--reps 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
FIXTURE = HERE / "tests" / "fixtures" / "facts" / "laptop_cafe.json"
RUN_MODULES = (
    "import exposure_audit.cli, exposure_audit.commands.run, exposure_audit.commands.cron, "
    "exposure_audit.policy.loader, exposure_audit.policy.config, exposure_audit.analysis.evaluate, "
    "exposure_audit.reporting.document, exposure_audit.collectors.collect"
)
# never discovery or probes on this machine's network: --no-upnp --no-probe everywhere
OFFLINE = ["--no-upnp", "--no-probe"]
COMMANDS = {
    "collect": ["collect", *OFFLINE, "-o", "/dev/null"],
    "run --facts": ["run", "--facts", str(FIXTURE), *OFFLINE, "--fail-on", "critical"],
    "run": ["run", *OFFLINE, "--fail-on", "critical"],
}


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    # cwd: not a source tree (python -m puts the working directory before PYTHONPATH)
    res = subprocess.run(
        argv, env=env, cwd=env["XDG_CONFIG_HOME"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = (time.perf_counter() - start) * 1000
    if res.returncode not in (0, 1):  # 1: findings at or above --fail-on
        raise SystemExit(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.decode()}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--baseline", type=Path, help="another source tree to time beside this one")
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    trees = {"this tree": HERE}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    with tempfile.TemporaryDirectory() as cache:
        envs = {}
        for label, tree in trees.items():
            # No UPnP, no probe: this runs on the host, whose real interfaces are off limits.
            env = dict(
                os.environ,
                PYTHONPATH=str(tree),
                EXPOSURE_AUDIT_NO_UPNP="1",
                EXPOSURE_AUDIT_NO_PROBE="1",
            )
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # else every run compiles everything
            env["PYTHONPYCACHEPREFIX"] = os.path.join(cache, label.replace(" ", "_"))
            env["XDG_CONFIG_HOME"] = cache  # no user config changes what is timed
            envs[label] = env
        cases = [("python", [sys.executable, "-c", "pass"], None)]
        # what importing jinja2 adds to what a run imports anyway: paid by the HTML report
        # and the user's templates (the terminal report runs on reporting/compiled.py)
        cases.append(("modules", [sys.executable, "-c", RUN_MODULES], None))
        cases.append(("+ jinja2", [sys.executable, "-c", RUN_MODULES + ", jinja2.sandbox"], None))
        for name, cmd in COMMANDS.items():
            for label in trees:
                cases.append((name, [sys.executable, "-m", "exposure_audit", *cmd], label))
        for _, argv, label in cases:  # warm the bytecode caches
            timed(argv, envs[label or "this tree"])
        results: dict[tuple[str, str | None], list[float]] = {}
        for _ in range(args.reps):
            for name, argv, label in cases:
                results.setdefault((name, label), []).append(
                    timed(argv, envs[label or "this tree"])
                )
    print(f"median of {args.reps} interleaved runs, ms")
    print(
        f"{'command':<14}"
        + "".join(f"{t:>12}" for t in trees)
        + ("   ratio" if len(trees) > 1 else "")
    )
    floor = statistics.median(results[("python", None)])
    print(f"{'python -c pass':<14}{floor:>12.1f}")
    modules = statistics.median(results[("modules", None)])
    jinja = statistics.median(results[("+ jinja2", None)])
    print(f"{'run modules':<14}{modules:>12.1f}   (importing what `run` does, but jinja2)")
    print(f"{'+ jinja2':<14}{jinja:>12.1f}   (+{jinja - modules:.1f} ms: HTML, --template)")
    for name in COMMANDS:
        meds = [statistics.median(results[(name, t)]) for t in trees]
        ratio = f"   {meds[0] / meds[1]:.2f}x" if len(meds) > 1 else ""
        print(f"{name:<14}" + "".join(f"{m:>12.1f}" for m in meds) + ratio)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
