"""``exposure-audit collect``: run the collectors and write the Facts document (JSON)."""

from __future__ import annotations

import math
import sys

from exposure_audit.collectors.collect import CollectOptions, collect_facts
from exposure_audit.commands.options import add_collect_options, no_upnp_cause
from exposure_audit.core.atomicio import write_atomic
from exposure_audit.core.errors import EXIT_OK, UsageError
from exposure_audit.core.jsonout import json_bytes, json_text
from exposure_audit.core.model import Facts

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

MAX_UPNP_TIMEOUT = 300.0

DESCRIPTION = """\
Collect what this machine exposes — interfaces and addresses, default gateways,
every listening TCP socket and bound UDP socket with the process behind it, and
(unless --no-upnp) the router's UPnP port mappings — and write it as one JSON
Facts document. Nothing is judged here: evaluate the file later, here or on
another machine, with 'exposure-audit run --facts FILE'.
"""

EPILOG = """\
examples:
  exposure-audit collect --no-upnp                 print the Facts to standard output
  sudo exposure-audit collect -o facts.json        full process attribution, to a file
  exposure-audit run --facts facts.json            evaluate them later, offline

The file is written atomically: a reader never sees half of it, and a failed run
leaves any previous file untouched. Without root, sockets of other users' processes
are still listed (with their owner uid) but without the process.

exit codes:
  0  the Facts were written (collector warnings are inside them)
  2  usage error, or the output file could not be written
  3  collection failed outright
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import argparse  # here, not at the top: cli.fast_collect_args runs collect without it

    p = subparsers.add_parser(
        "collect",
        help="collect interfaces, listeners and UPnP mappings into a JSON Facts file",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="-",
        help="write the Facts to FILE (atomically); '-' or absent: standard output",
    )
    add_collect_options(p)
    p.set_defaults(func=run)


def options_from_args(args: argparse.Namespace, probe: bool | None = None) -> CollectOptions:
    """CollectOptions from the shared collection flags, validated. ``probe``: the config
    file's [defaults] probe (None: read the default config file when it matters)."""
    timeout = args.upnp_timeout
    if not math.isfinite(timeout) or timeout <= 0 or timeout > MAX_UPNP_TIMEOUT:
        raise UsageError(
            f"--upnp-timeout must be a number of seconds above 0 and at most "
            f"{MAX_UPNP_TIMEOUT:g} (got {timeout:g})"
        )
    if args.no_upnp and args.igd:
        from exposure_audit.commands.options import env_no_upnp

        why = "EXPOSURE_AUDIT_NO_UPNP is set" if env_no_upnp() else "--no-upnp"
        print(f"exposure-audit: note: --igd ignored: UPnP is off ({why})", file=sys.stderr)
    from exposure_audit.collectors.backend import choose_backend

    return CollectOptions(
        backend=choose_backend(getattr(args, "backend", None)),
        upnp=not args.no_upnp,
        upnp_off_by=no_upnp_cause(),
        igd_url=None if args.no_upnp else args.igd,
        upnp_timeout=timeout,
        firewall=not getattr(args, "no_firewall", False),  # if a --no-firewall flag exists
        probe=not getattr(args, "no_probe", False) and _config_probe(probe),
    )


def _config_probe(probe: bool | None) -> bool:
    """[defaults] probe of the config file (run passes the one it loaded; collect reads
    the default file, which it needs for nothing else)."""
    if probe is not None:
        return probe
    from exposure_audit.policy.config import load_config

    return load_config(None, builtin_waivers=False).probe


def facts_json(facts: Facts) -> str:
    return json_text(facts)  # the same text as json_text(facts_to_dict(facts)), faster


def run(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    facts = collect_facts(opts)
    write_atomic(args.output, json_bytes(facts))  # facts_json's text, encoded
    if args.output != "-":
        print(
            f"exposure-audit: wrote {args.output}: "
            f"{_count(len(facts.interfaces), 'interface')}, "
            f"{_count(len(facts.listeners), 'listener')}, {_count(len(facts.warnings), 'warning')}",
            file=sys.stderr,
        )
    return EXIT_OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
