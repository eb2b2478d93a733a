"""``exposure-audit schedule``: print or install a cron, systemd, launchd or schtasks job."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exposure_audit.automation.schedule import (
    SYSTEM_UNIT_DIR,
    UNIT_NAME,
    Plan,
    crontab_entry,
    install_crontab,
    install_file,
    install_systemd,
    launchctl_steps,
    launchd_dir,
    launchd_label,
    launchd_plist,
    make_plan,
    schtasks_steps,
    schtasks_xml,
    systemd_units,
    user_unit_dir,
)
from exposure_audit.commands.options import env_no_upnp
from exposure_audit.core import paths, privilege
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
  exposure-audit schedule --every 1h --launchd        print a macOS launchd job (plist)
  exposure-audit schedule --every 1h --schtasks       print a Windows Task Scheduler task
  exposure-audit schedule --every 1h -- --webhook
                                                      extra 'run' options after --
                                                      (here: the URL from the config
                                                      file's [webhook], not the crontab)

Nothing is installed without --install.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "schedule",
        help="print or install a crontab line, systemd timer, launchd job or Windows task",
        description="Print (or, with --install, install) a periodic 'exposure-audit run'.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--every", required=True, metavar="INTERVAL", help="e.g. 15m, 1h, 6h, 1d, 1w")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--cron", action="store_true", help="a crontab line (the default)")
    kind.add_argument("--systemd", action="store_true", help="a systemd service + timer pair")
    kind.add_argument(
        "--launchd",
        action="store_true",
        help="a macOS launchd job: a LaunchAgent plist (with --system, a LaunchDaemon)",
    )
    kind.add_argument(
        "--schtasks",
        action="store_true",
        help="a Windows Task Scheduler task (XML for 'schtasks /Create /XML')",
    )
    p.add_argument(
        "--system",
        action="store_true",
        help="with --systemd: system units for /etc/systemd/system, run as root "
        "(state in /var/lib/exposure-audit unless --state-dir); with --launchd: a "
        "LaunchDaemon for /Library/LaunchDaemons (state in "
        "'/Library/Application Support/exposure-audit'); with --schtasks: a task run "
        "as SYSTEM with the highest privileges (state in SYSTEM's own "
        "%%LOCALAPPDATA%%: %%SystemRoot%%\\System32\\config\\systemprofile\\AppData\\Local\\"
        "exposure-audit)",
    )
    p.add_argument(
        "--install",
        action="store_true",
        help="write it: your crontab (crontab -l / crontab -), "
        "~/.config/systemd/user/ for --systemd, ~/Library/LaunchAgents/ for --launchd "
        "(the launchctl command to load it is printed, not run), NAME.xml in the "
        "current directory for --schtasks (the schtasks command is printed, not run)",
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
        help="where runs keep their reports (default: the target OS's: "
        "$XDG_STATE_HOME/exposure-audit or ~/.local/state/exposure-audit; with --launchd "
        "~/Library/Application Support/exposure-audit; with --schtasks "
        "%%LOCALAPPDATA%%\\exposure-audit; made absolute now)",
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
    if args.system and not (args.systemd or args.launchd or args.schtasks):
        raise UsageError("--system goes with --systemd, --launchd or --schtasks")
    # The job runs on the OS it is written for: that OS's default state directory.
    target = "darwin" if args.launchd else "win32" if args.schtasks else None
    if args.systemd:
        target = "linux"
    if args.state_dir:
        state = Path(args.state_dir).expanduser().absolute()
    elif args.system:
        state = paths.system_state_dir(target)
    else:
        state = paths.state_dir(target, elevated=False)
    plan = make_plan(
        args.every,
        state,
        args.fail_on,
        args.no_upnp,
        extra=args.run_args,
        executable=args.executable,
    )
    if args.launchd:
        return _launchd(args, plan)
    if args.schtasks:
        return _schtasks(args, plan)
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
        if not args.system and not privilege.is_elevated():
            print("  loginctl enable-linger   # so it runs while you are logged out")
        return EXIT_OK
    entry = crontab_entry(plan)
    if not args.install:
        sys.stdout.write(entry)
        return EXIT_OK
    install_crontab(entry)
    print(f"installed in your crontab (replacing any earlier managed entry):\n{entry}", end="")
    return EXIT_OK


def _launchd(args: argparse.Namespace, plan: Plan) -> int:
    plist = launchd_plist(plan, args.unit_name, system=args.system)
    directory = launchd_dir(args.system)
    path = directory / f"{launchd_label(args.unit_name)}.plist"
    steps = launchctl_steps(path, args.unit_name, system=args.system)
    if not args.install:
        # stdout is the plist alone (so '> job.plist' is a valid file); hints on stderr.
        sys.stdout.write(plist.decode("utf-8"))
        sys.stderr.write(f"# Install with --install (writes {path}), then:\n")
        sys.stderr.write("".join(f"#   {line}\n" for line in steps))
        return EXIT_OK
    if args.system and sys.platform != "darwin":
        raise UsageError(
            "--launchd --system --install writes /Library/LaunchDaemons: only on macOS "
            "(without --install it prints the plist)"
        )
    print(f"wrote {install_file(directory, path.name, plist)}")
    print("next:\n" + "".join(f"  {line}\n" for line in steps), end="")
    return EXIT_OK


def _schtasks(args: argparse.Namespace, plan: Plan) -> int:
    path = Path.cwd() / f"{args.unit_name}.xml"
    steps = schtasks_steps(path, args.unit_name)
    if not args.install:
        # stdout is the task alone (UTF-8 here; --install writes the UTF-16 schtasks
        # reads best); hints on stderr.
        sys.stdout.write(
            schtasks_xml(plan, args.unit_name, system=args.system, encoding="utf-8").decode()
        )
        sys.stderr.write(f"# Install with --install (writes {path}), then:\n")
        sys.stderr.write("".join(f"#   {line}\n" for line in steps))
        return EXIT_OK
    xml = schtasks_xml(plan, args.unit_name, system=args.system)
    print(f"wrote {install_file(path.parent, path.name, xml)}")
    where = f" ({privilege.elevate_short('win32')})" if args.system else ""
    print(f"next{where}:\n" + "".join(f"  {line}\n" for line in steps), end="")
    return EXIT_OK
