#!/usr/bin/env python3
"""Benchmark: the terminal and HTML reports of a host with 10,000 TCP + 1,000 UDP
listeners (tests/scale_fixture.py), grouped as issue 16 asks, and its JSON report.

Two measures, medians of several repetitions:
- the renderers alone, in this process, on a report document built once
  (``render(Format.TERMINAL|HTML, report)``: the view, grouping, template compile and
  rendering);
- the whole command, ``run --facts FILE -f terminal`` and ``run --facts FILE -o
  report.html`` (the latter also prints the terminal summary), as a user runs it.

Pure computation over saved Facts: no socket, no network. ``--baseline TREE`` times the
same commands on another tree in a "before" column (PYTHONPATH=TREE), e.g.
    git archive HEAD~2 exposure_audit reports rules | tar -x -C /tmp/before
    .venv/bin/python bench/bench_render.py --baseline /tmp/before

Usage:
    .venv/bin/python bench/bench_render.py [--reps 5] [--baseline TREE]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import scale_fixture  # noqa: E402

from exposure_audit.core.jsonout import write_json  # noqa: E402
from exposure_audit.core.serialize import facts_to_dict  # noqa: E402
from exposure_audit.reporting import Format, RenderContext, render  # noqa: E402


def median_ms(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def in_process(reps: int) -> None:
    report = scale_fixture.report()
    print(f"renderers alone, in this process (median of {reps}):")
    for fmt in (Format.TERMINAL, Format.HTML):
        out = render(fmt, report, RenderContext(width=100))
        ms = median_ms(lambda fmt=fmt: render(fmt, report, RenderContext(width=100)), reps)
        print(f"  {fmt.value:9} {ms:7.1f} ms   output {len(out) / 1024:8.1f} KB")
    # JSON: the bytes of ``-o report.json``, compact (rows encoded once per shape:
    # core/jsonout.py), timed with the collector off as cli.main runs every command
    gc.disable()
    try:
        size = write_json(report, io.BytesIO())
        ms = median_ms(lambda: write_json(report, io.BytesIO()), reps)
    finally:
        gc.enable()
    print(f"  {'json':9} {ms:7.1f} ms   output {size / 1024:8.1f} KB")


def command(
    tree: Path | None, tmp: Path, facts: Path, args: list[str], reps: int
) -> tuple[float, float]:
    """Median wall-clock and median CPU (user + system, from wait4) milliseconds: CPU
    time is steadier on a machine other work shares."""
    env = {
        **os.environ,
        "EXPOSURE_AUDIT_NO_UPNP": "1",
        "XDG_CONFIG_HOME": str(tmp / "xdg"),  # no user config file
        "COLUMNS": "100",
        "PYTHONPATH": str(tree) if tree else os.environ.get("PYTHONPATH", ""),
    }
    argv = [sys.executable, "-m", "exposure_audit", "run", "--facts", str(facts), *args]
    wall: list[float] = []
    cpu: list[float] = []
    for i in range(reps + 1):  # the first warms bytecode and page caches
        with open(tmp / "stderr", "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=err)
            _pid, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            text = (tmp / "stderr").read_text(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(argv)} failed: {text}")
        if i:
            wall.append(elapsed * 1000)
            cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--baseline", type=Path, help="another tree to time the commands on")
    args = ap.parse_args()

    in_process(args.reps)
    with tempfile.TemporaryDirectory(prefix="ea-bench-render-") as name:
        tmp = Path(name)
        facts = tmp / "scale.facts.json"
        facts.write_text(json.dumps(facts_to_dict(scale_fixture.build())), encoding="utf-8")
        print(f"whole command, 11,000 listeners from saved facts (median of {args.reps}):")
        cases = [
            ("run -f terminal", ["--no-color", "-f", "terminal"]),
            ("run -o report.html", ["--no-color", "-o", str(tmp / "report.html")]),
            ("run -f json", ["-f", "json"]),
            ("run -o report.json", ["--no-color", "-o", str(tmp / "report.json")]),
        ]
        head = "  {:22} {:>22}" + ("  {:>22}" if args.baseline else "")
        print(head.format("", "this tree", *(["baseline"] if args.baseline else [])))
        for label, extra in cases:
            cols = []
            for tree in [None] + ([args.baseline] if args.baseline else []):
                wall, cpu = command(tree, tmp, facts, extra, args.reps)
                cols.append(f"{wall:6.0f} ms ({cpu:5.0f} CPU)")
            print(head.format(label, *cols))


if __name__ == "__main__":
    main()
