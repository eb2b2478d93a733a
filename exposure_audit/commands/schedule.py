"""``exposure-audit schedule``: print (or install) a crontab line or systemd timer."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from exposure_audit.automation.history import default_state_dir
from exposure_audit.automation.schedule import (
    SYSTEM_STATE_DIR,
    SYSTEM_UNIT_DIR,
    UNIT_NAME,
    crontab_entry,
    install_crontab,
    install_systemd,
    make_plan,
    systemd_units,
    user_unit_dir,
)
from exposure_audit.commands.options import env_no_upnp
from exposure_audit.core.errors import EXIT_OK, UsageError
from exposure_audit.core.model import SEVERITIES

EPILOG = """\
The scheduled command is 'exposure-audit run --since-last --state-dir DIR --fail-on SEV':
it prints only what changed since the previous run (nothing when nothing did), so cron
mails you only then; exit 1 when a new finding is at or above --fail-on.

examples:
  exposure-audit schedule --every 1h                  print a crontab line
  exposure-audit schedule --every 1h --install        add it to your crontab
  exposure-audit schedule --every 6h --systemd        print a service + timer pair
  exposure-audit schedule --every 1h -- --webhook
                                                      extra 'run' options after --
                                                      (here: the URL from the config
                                                      file's [webhook], not the crontab)

Nothing is installed without --install.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "schedule",
        help="print or install a crontab line or systemd timer for periodic runs",
        description="Print (or, with --install, install) a periodic 'exposure-audit run'.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--every", required=True, metavar="INTERVAL", help="e.g. 15m, 1h, 6h, 1d, 1w")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--cron", action="store_true", help="a crontab line (the default)")
    kind.add_argument("--systemd", action="store_true", help="a systemd service + timer pair")
    p.add_argument(
        "--system",
        action="store_true",
        help="with --systemd: system units for /etc/systemd/system, run as root "
        "(state in /var/lib/exposure-audit unless --state-dir)",
    )
    p.add_argument(
        "--install",
        action="store_true",
        help="write it: your crontab (crontab -l / crontab -), or "
        "~/.config/systemd/user/ for --systemd",
    )
    p.add_argument(
        "--fail-on",
        choices=(*SEVERITIES, "none"),
        default="high",
        metavar="SEVERITY",
        help="passed to run (default: high)",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where runs keep their reports (default: $XDG_STATE_HOME/exposure-audit "
        "or ~/.local/state/exposure-audit, made absolute now)",
    )
    p.add_argument(
        "--no-upnp",
        action="store_true",
        default=env_no_upnp(),
        help="scheduled runs send no UPnP/SSDP traffic (also: EXPOSURE_AUDIT_NO_UPNP=1)",
    )
    p.add_argument(
        "--executable",
        metavar="PATH",
        help="the exposure-audit to run (default: this one, by absolute path)",
    )
    p.add_argument("--unit-name", default=UNIT_NAME, metavar="NAME", help=f"default: {UNIT_NAME}")
    p.add_argument("run_args", nargs="*", metavar="-- RUN_OPTIONS", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not all(c.isalnum() or c in "-_." for c in args.unit_name) or not args.unit_name:
        raise UsageError("--unit-name: letters, digits, '-', '_' and '.' only")
    if args.system and not args.systemd:
        raise UsageError("--system goes with --systemd")
    if args.state_dir:
        state = Path(args.state_dir).expanduser().absolute()
    elif args.system:
        state = SYSTEM_STATE_DIR
    else:
        state = default_state_dir()
    plan = make_plan(
        args.every,
        state,
        args.fail_on,
        args.no_upnp,
        extra=args.run_args,
        executable=args.executable,
    )
    if args.systemd:
        units = systemd_units(plan, args.unit_name, system=args.system)
        unit_dir = SYSTEM_UNIT_DIR if args.system else user_unit_dir()
        ctl = "systemctl" if args.system else "systemctl --user"
        steps = f"{ctl} daemon-reload\n{ctl} enable --now {args.unit_name}.timer\n"
        if not args.install:
            for fname, text in units.items():
                sys.stdout.write(f"# --- {fname}\n{text}\n")
            sys.stdout.write(f"# Install with --install (writes {unit_dir}/), then:\n")
            sys.stdout.write("".join(f"#   {line}\n" for line in steps.splitlines()))
            return EXIT_OK
        for path in install_systemd(units, unit_dir):
            print(f"wrote {path}")
        print("next:\n" + "".join(f"  {line}\n" for line in steps.splitlines()), end="")
        if not args.system and os.geteuid() != 0:
            print("  loginctl enable-linger   # so it runs while you are logged out")
        return EXIT_OK
    entry = crontab_entry(plan)
    if not args.install:
        sys.stdout.write(entry)
        return EXIT_OK
    install_crontab(entry)
    print(f"installed in your crontab (replacing any earlier managed entry):\n{entry}", end="")
    return EXIT_OK
