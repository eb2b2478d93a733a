"""Options shared by several subcommands, so each is spelt and documented once."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


def env_no_upnp() -> bool:
    return os.environ.get("EXPOSURE_AUDIT_NO_UPNP", "").strip().lower() in (
        "1",
        "yes",
        "true",
        "on",
    )


def env_no_probe() -> bool:
    return os.environ.get("EXPOSURE_AUDIT_NO_PROBE", "").strip().lower() in (
        "1",
        "yes",
        "true",
        "on",
    )


def no_upnp_cause() -> str:
    """What turned UPnP off, as the user would type it: the variable, else the flag."""
    if env_no_upnp():
        return "EXPOSURE_AUDIT_NO_UPNP=" + os.environ["EXPOSURE_AUDIT_NO_UPNP"].strip()
    return "--no-upnp"


def add_collect_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("collection")
    g.add_argument(
        "--no-upnp",
        action="store_true",
        default=env_no_upnp(),
        help="send no UPnP/SSDP traffic (also: EXPOSURE_AUDIT_NO_UPNP=1)",
    )
    g.add_argument(
        "--no-probe",
        action="store_true",
        default=env_no_probe(),
        help="do not ask listening services what they are (also: EXPOSURE_AUDIT_NO_PROBE=1, "
        "or [defaults] probe = false in the config file). Otherwise each TCP listener whose "
        "process or port names a protocol from a closed list gets one side-effect-free "
        "question, sent only to this host's own address (loopback for a wildcard "
        "listener): HTTP GET of /, /console (Werkzeug debugger), /api/status (Jupyter), "
        "/json/version (Node inspector), /version (Docker API), /metrics; Redis PING; "
        "memcached version; a PostgreSQL SSLRequest; a MongoDB hello. Never to a debugger "
        "(debugpy and other debug adapters) or an unknown protocol; 0.3 s per connection, "
        "1 s for all, 4 KiB read per answer",
    )
    g.add_argument(
        "--igd",
        metavar="URL",
        help="the router's IGD description URL (skips SSDP discovery)",
    )
    g.add_argument(
        "--upnp-timeout",
        metavar="SECONDS",
        type=float,
        default=2.0,
        help="bound on UPnP discovery and on each request (default: 2)",
    )
    g.add_argument(
        "--backend",
        choices=("auto", "native", "portable"),
        default=None,
        help="collector backend: native (Linux kernel interfaces) or portable (psutil and "
        "netifaces, any OS); default: EXPOSURE_AUDIT_BACKEND, else native on Linux",
    )
    g.add_argument(
        "--no-firewall",
        action="store_true",
        help="do not read the firewall ruleset (nftables/iptables); every exposure is then "
        "reported as if unfiltered",
    )


def add_rules_options(parser: argparse.ArgumentParser) -> None:
    """--rules DIR (repeatable), --no-builtin-rules, --config PATH, --no-default-waivers."""
    from pathlib import Path

    g = parser.add_argument_group("rules and waivers")
    g.add_argument(
        "--rules",
        metavar="DIR",
        dest="rule_dirs",
        action="append",
        type=Path,
        default=[],
        help="also load the rule files in DIR (repeatable; a single .toml file works too)",
    )
    g.add_argument(
        "--no-builtin-rules",
        dest="builtin_rules",
        action="store_false",
        help="use only the rules given with --rules",
    )
    g.add_argument(
        "--config",
        metavar="PATH",
        dest="config_path",
        type=Path,
        default=None,
        help="config file with waivers (default: ~/.config/exposure-audit/config.toml if present)",
    )
    g.add_argument(
        "--no-default-waivers",
        dest="builtin_waivers",
        action="store_false",
        help="do not apply the built-in waivers for expected OS listeners",
    )


def rules_options(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options above as keyword arguments for analysis.evaluate.EvaluateOptions
    (and the report's record of the options a run used)."""
    return {
        "rule_dirs": tuple(args.rule_dirs),
        "builtin_rules": args.builtin_rules,
        "config_path": args.config_path,
        "builtin_waivers": args.builtin_waivers,
    }
