"""Command-line entry point: argument parsing and error-to-exit-code mapping only."""

from __future__ import annotations

import atexit
import contextlib
import errno
import gc
import importlib
import os
import sys

from exposure_audit import __version__
from exposure_audit.core.errors import EXIT_COLLECTION, EXIT_USAGE, AuditError, Terminated

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, NoReturn

# Subcommand modules under exposure_audit.commands, in --help order. Each defines
# ``register(subparsers) -> None`` which sets ``func`` (args -> exit code) on its parser.
COMMANDS = ("run", "collect", "port", "upnp", "rules", "diff", "schedule", "fleet")

EPILOG = """\
exit codes:
  0  no unwaived finding at or above --fail-on
  1  an unwaived finding at or above --fail-on (default: high)
  2  usage, configuration, rule or input-file error (nothing was written)
  3  collection failed outright
  4  the webhook could not be delivered (only with --webhook-strict)
  5  another run holds the state directory's lock (cron overlap)

environment:
  EXPOSURE_AUDIT_NO_UPNP=1  never send UPnP/SSDP traffic (same as --no-upnp)
  NO_COLOR                  no colour in terminal output

Run 'exposure-audit COMMAND --help' for each command's options.
"""


class BrokenInstallError(AuditError):
    """A command module of this package fails to import: never a silently missing
    command."""

    exit_code = EXIT_COLLECTION


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that subcommand (imports are most of a start-up)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            self.print_usage(sys.stderr)
            self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    parser = _Parser(
        prog="exposure-audit",
        description=(
            "Which services on this machine can someone other than me reach, from where, "
            "and what should I do about it? Inspects interfaces, listening sockets and the "
            "router's UPnP port mappings, and reports each exposure with the fix."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"exposure-audit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(f"exposure_audit.commands.{name}")
        except ImportError as exc:
            raise BrokenInstallError(
                f"the {name!r} command cannot be loaded ({type(exc).__name__}: {exc}); "
                "the installation is broken: reinstall exposure-audit"
            ) from exc
        module.register(sub)
    return parser


# The cyclic garbage collector costs a short command more than it saves (~6 ms of an
# ~85 ms `collect`): imports create many objects, each batch setting off a collection
# over everything imported so far, and at exit the interpreter's last collections walk
# it all again just before the process ends. So: off while a command runs (the caller's
# setting is restored: tests call main in-process), and everything alive at exit frozen
# out of the final collections (their memory goes back with the process).
atexit.register(gc.freeze)


def main(argv: Sequence[str] | None = None) -> int:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if gc_was_enabled:
            gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    _guard_standard_fds()
    av = list(sys.argv[1:] if argv is None else argv)
    args: Any = fast_collect_args(av)
    if args is None:
        first = next((a for a in av if not a.startswith("-")), None)
        try:
            parser = build_parser(first if first in COMMANDS else None)
        except BrokenInstallError as exc:
            print(f"exposure-audit: error: {exc}", file=sys.stderr)
            return exc.exit_code
        args = parser.parse_args(av)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
    try:
        code = int(args.func(args))
        problem = _flush_stdout()
        if problem is not None:
            print(
                f"exposure-audit: error: cannot write standard output: {problem}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        return code
    except AuditError as exc:
        print(f"exposure-audit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("exposure-audit: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"exposure-audit: stopped by signal {exc.signum}", file=sys.stderr)
        return 128 + exc.signum
    except BrokenPipeError:
        # Output piped into `head` and closed: not an error worth a traceback.
        _silence_stdout()
        return 0
    except OSError as exc:
        if exc.errno not in _STDOUT_ERRNOS:
            return _internal(args, exc)
        # File outputs raise OutputError: a bare one of these is standard output
        # (closed with >&-, a full disk, /dev/full).
        _silence_stdout()
        print(
            f"exposure-audit: error: cannot write standard output: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except Exception as exc:  # last resort: never a bare traceback for users
        return _internal(args, exc)


def _internal(args: Any, exc: Exception) -> int:
    if args.debug or os.environ.get("EXPOSURE_AUDIT_DEBUG"):
        raise exc
    print(
        f"exposure-audit: internal error: {type(exc).__name__}: {exc}\n"
        "  (re-run with --debug for a traceback, and please report it)",
        file=sys.stderr,
    )
    return EXIT_COLLECTION


_STDOUT_ERRNOS = frozenset({errno.EBADF, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG})


class _ClosedStdout:
    """sys.stdout when the process started with fd 1 closed (``>&-``): every write is
    an OSError, which the command reports as one line (and nothing else is lost)."""

    encoding = "utf-8"

    @property
    def buffer(self) -> _ClosedStdout:
        return self

    def write(self, _data: object) -> int:
        raise OSError(errno.EBADF, "it is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "it is closed")


def _guard_standard_fds() -> None:
    """Started with fd 0, 1 or 2 closed: put /dev/null there, so no file this run opens
    (a report, the state lock) becomes 'standard output' for a child process; a closed
    stdout still reports its writes as failed (_ClosedStdout)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()


def _flush_stdout() -> str | None:
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except (OSError, ValueError) as exc:
        _silence_stdout()
        return getattr(exc, "strerror", None) or str(exc)
    return None


def _silence_stdout() -> None:
    """fd 1 to /dev/null, so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


# `collect` as cron and scripts run it, parsed without argparse: importing argparse and
# building the parser (gettext, locale, shutil for the help formatter) is ~4 ms of a
# start-up that issue 2 bounds at 4x `python -c pass`. Only exact spellings of the
# collect options are taken here; anything else (help, abbreviations, -oFILE, errors)
# goes to argparse. tests/test_cli_fastpath.py checks that every argv taken here gives
# what argparse gives.
_FAST_FLAGS = {"--no-upnp": "no_upnp", "--no-firewall": "no_firewall", "--no-probe": "no_probe"}
_FAST_VALUES = {
    "-o": "output",
    "--output": "output",
    "--igd": "igd",
    "--upnp-timeout": "upnp_timeout",
}


def fast_collect_args(av: list[str]) -> Any:
    """The parsed arguments of a plain ``collect ...`` command line, or None."""
    if not av or av[0] != "collect":
        return None
    from exposure_audit.commands.options import env_no_probe, env_no_upnp

    values: dict[str, Any] = {
        "command": "collect",
        "debug": False,
        "output": "-",
        "no_upnp": env_no_upnp(),
        "no_probe": env_no_probe(),
        "igd": None,
        "upnp_timeout": 2.0,
        "no_firewall": False,
        "backend": None,  # --backend goes to argparse; EXPOSURE_AUDIT_BACKEND is read later
    }
    i = 1
    while i < len(av):
        token = av[i]
        if token in _FAST_FLAGS:
            values[_FAST_FLAGS[token]] = True
            i += 1
            continue
        name, sep, value = token.partition("=")
        if name not in _FAST_VALUES or (sep and name == "-o"):
            return None
        if not sep:
            if i + 1 >= len(av):
                return None
            value = av[i + 1]
            i += 1
        i += 1
        if not value or (value.startswith("-") and value != "-"):
            return None
        if name == "--upnp-timeout":
            try:
                values["upnp_timeout"] = float(value)
            except ValueError:
                return None
        else:
            values[_FAST_VALUES[name]] = value
    import types

    from exposure_audit.commands.collect import run

    return types.SimpleNamespace(func=run, **values)
