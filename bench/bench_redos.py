"""Rule regexes and port sets under hostile rules and command lines: time and memory.

    .venv/bin/python bench/bench_redos.py

Compares Python's re (backtracking) with RE2 (google-re2, what rules use) on the
issue's patterns, each search stopped after a budget; and a port range "1-65535" as a
frozenset of ports (the old representation) with the interval PortSet. Prints a table;
asserts nothing.
"""

from __future__ import annotations

import re
import resource
import signal
import time
import tracemalloc
from collections.abc import Callable

from exposure_audit.policy.values import LinearRegex, PortSet

BUDGET = 5.0
CASES = [
    (r"(a+)+$", "a" * 40 + "!", "the issue's rule, a 41-character command line"),
    (r"\bflask\b.*\brun\b", "flask " * 40_000, "a built-in framework pattern, 240 KB"),
    (r"a.*b", "a" * 240_000, "no nested quantifier, 240 KB"),
    (r"--inspect(-brk|-wait)?\b", "x " * 120_000, "a built-in pattern, no match, 240 KB"),
]


def timed(fn: Callable[[], object]) -> str:
    def expired(*_: object) -> None:
        raise TimeoutError

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, BUDGET)
    t0 = time.perf_counter()
    try:
        fn()
        return f"{(time.perf_counter() - t0) * 1000:9.2f} ms"
    except TimeoutError:
        return f"   >{BUDGET:.0f} s (stopped)"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main() -> None:
    print(f"{'pattern':<28} {'text':<44} {'Python re':>18} {'RE2':>12}")
    for pattern, text, what in CASES:
        py, lin = re.compile(pattern), LinearRegex(pattern)
        slow = timed(lambda p=py, t=text: p.search(t))  # type: ignore[misc]
        fast = timed(lambda p=lin, t=text: p.search(t))  # type: ignore[misc]
        print(f"{pattern:<28} {what:<44} {slow:>18} {fast:>12}")
    print()
    for n in (10, 100):
        tracemalloc.start()
        sets = [frozenset(range(1, 65536)) for _ in range(n)]
        size, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del sets
        print(f'{n:5d} rules of "1-65535" as frozensets: {size / 2**20:8.1f} MiB')
    tracemalloc.start()
    intervals = [PortSet.of([range(1, 65536)]) for _ in range(1000)]
    size, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert 80 in intervals[0]
    print(f' 1000 rules of "1-65535" as PortSet:    {size / 2**20:8.3f} MiB')
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak RSS of this process: {rss} MiB")


if __name__ == "__main__":
    main()
