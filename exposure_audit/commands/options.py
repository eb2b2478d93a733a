"""Options shared by several subcommands, so each is spelt and documented once."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def env_no_upnp() -> bool:
    return os.environ.get("EXPOSURE_AUDIT_NO_UPNP", "").strip().lower() in (
        "1",
        "yes",
        "true",
        "on",
    )


def add_collect_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("collection")
    g.add_argument(
        "--no-upnp",
        action="store_true",
        default=env_no_upnp(),
        help="send no UPnP/SSDP traffic (also: EXPOSURE_AUDIT_NO_UPNP=1)",
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
        "--no-firewall",
        action="store_true",
        help="do not read the firewall ruleset (nftables/iptables); every exposure is then "
        "reported as if unfiltered",
    )
