"""Benchmark: `exposure-audit upnp` against `upnpc -l` on a real miniupnpd.

Builds the testbed (tests/testbed/igd-netns.sh, prefix ``ew`` by default), fills the
router with N mappings through our own SOAP client (AddPortMapping over kept-alive
HTTP where the router allows it; upnpc would take ~N process starts), then times,
from inside the LAN namespace:

  discovery:  exposure-audit upnp             vs  upnpc -l
  direct:     exposure-audit upnp --igd URL   vs  upnpc -u URL -l

and prints medians and the per-mapping cost ((t(N2) - t(N1)) / (N2 - N1)).

Neither tool uses GetListOfPortMappings (miniupnpd 2.3.1 aborts on a range holding
>128 mappings of one protocol); both walk GetGenericPortMappingEntry, which has no
such limit. Run as root: ``.venv/bin/python bench/bench_upnp.py [--sizes 200,1000]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from netns import cli_argv  # noqa: E402
from upnp_testbed import IgdTestbed, IgdUnavailable, add_mapping_args  # noqa: E402

WANIP2 = "urn:schemas-upnp-org:service:WANIPConnection:2"
CLIENT = "10.233.0.2"


def timed(tb: IgdTestbed, argv: list[str], check: str | None = None) -> float:
    t0 = time.perf_counter()
    proc = tb.run_lan(argv)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed: {proc.stdout[-500:]} {proc.stderr[-500:]}")
    if check is not None and check not in proc.stdout:
        raise RuntimeError(f"{argv}: expected {check!r} in the output")
    return elapsed


def fill(tb: IgdTestbed, total: int, have: int) -> None:
    calls = [
        (
            "AddPortMapping",
            add_mapping_args(20000 + i, CLIENT, 20000 + i, "TCP" if i % 2 else "UDP", f"bench {i}"),
        )
        for i in range(have, total)
    ]
    if calls:
        results = tb.soap_lan(calls, WANIP2)
        errors = [r for r in results if "error" in r]
        if errors:
            raise RuntimeError(f"AddPortMapping failed: {errors[:3]}")


def count_ours(tb: IgdTestbed) -> int:
    proc = tb.run_lan([*cli_argv(), "upnp", "--igd", tb.url, "--format", "json"])
    return len(json.loads(proc.stdout)["upnp"]["mappings"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="200,1000", help="mapping counts (default: 200,1000)")
    ap.add_argument("--repeat", type=int, default=7, help="runs per direct measurement")
    ap.add_argument("--repeat-discovery", type=int, default=5, help="runs with discovery")
    ap.add_argument(
        "--prefix", default="ew", help="testbed prefix (default: ew; a per-run tag is appended)"
    )
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))

    try:
        tb = IgdTestbed.up(args.prefix)
    except IgdUnavailable as exc:
        print(f"skipped: {exc}")
        return 77
    results: dict[int, dict[str, float]] = {}
    try:
        have = 0
        for n in sizes:
            t0 = time.perf_counter()
            fill(tb, n, have)
            have = n
            fill_s = time.perf_counter() - t0
            got = count_ours(tb)
            if got != n:
                raise RuntimeError(f"router holds {got} mappings, expected {n}")
            # interleaved, so background load hits every command alike; median and min
            commands = {
                "ours_igd": ([*cli_argv(), "upnp", "--igd", tb.url], args.repeat),
                "upnpc_igd": (["upnpc", "-u", tb.url, "-l"], args.repeat),
                "ours_disc": ([*cli_argv(), "upnp"], args.repeat_discovery),
                "upnpc_disc": (["upnpc", "-l"], args.repeat_discovery),
            }
            samples: dict[str, list[float]] = {k: [] for k in commands}
            for r in range(args.repeat):
                for name, (argv, times) in commands.items():
                    if r < times:
                        samples[name].append(timed(tb, argv, "20000"))
            row = {k: statistics.median(v) for k, v in samples.items()}
            row.update({f"{k}_min": min(v) for k, v in samples.items()})
            results[n] = row
            print(f"{n} mappings (added in {fill_s:.1f} s):", flush=True)
            for k in commands:
                v, lo = row[k], row[f"{k}_min"]
                print(
                    f"  {k:<11} median {v * 1000:8.1f} ms  min {lo * 1000:8.1f} ms  "
                    f"({v / n * 1000:.3f} ms/mapping overall)"
                )
        if not tb.status_ok():
            print("WARNING: miniupnpd is no longer running after the benchmark")
    finally:
        tb.down()

    print()
    print(
        f"{'mappings':>8} {'ours --igd':>11} {'upnpc -u -l':>12} {'ours disc':>10} {'upnpc -l':>9}"
    )
    for n, r in results.items():
        print(
            f"{n:>8} {r['ours_igd'] * 1e3:>9.1f}ms {r['upnpc_igd'] * 1e3:>10.1f}ms "
            f"{r['ours_disc'] * 1e3:>8.1f}ms {r['upnpc_disc'] * 1e3:>7.1f}ms"
        )
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        span = hi - lo
        for stat in ("", "_min"):
            ours = (results[hi][f"ours_igd{stat}"] - results[lo][f"ours_igd{stat}"]) / span
            theirs = (results[hi][f"upnpc_igd{stat}"] - results[lo][f"upnpc_igd{stat}"]) / span
            print(
                f"per-mapping cost ({lo}->{hi}, --igd, {'min' if stat else 'median'}): "
                f"ours {ours * 1e3:.3f} ms, upnpc {theirs * 1e3:.3f} ms, "
                f"ratio {ours / theirs:.2f}x"
            )
        for n in sizes:
            r = results[n]
            print(
                f"discovery at {n}: ours {r['ours_disc']:.2f} s vs upnpc {r['upnpc_disc']:.2f} s "
                f"({r['upnpc_disc'] / r['ours_disc']:.1f}x faster)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
