"""Error types. Each maps to an exit code; none should escape as a traceback."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1  # an unwaived finding at or above --fail-on
EXIT_USAGE = 2  # usage, configuration, rule or input-file errors
EXIT_COLLECTION = 3  # collection failed outright


class AuditError(Exception):
    """Base class: a message for the user, and the exit code it means."""

    exit_code = EXIT_USAGE


class UsageError(AuditError):
    exit_code = EXIT_USAGE


class FormatError(AuditError):
    """A Facts, report or baseline file that is not what it claims to be."""

    exit_code = EXIT_USAGE


class ConfigError(AuditError):
    """A broken rule, catalogue, template or config file."""

    exit_code = EXIT_USAGE


class OutputError(AuditError):
    exit_code = EXIT_USAGE


class Terminated(BaseException):
    """SIGTERM/SIGHUP while output files are staged (core/atomicio): raised so that the
    staged files are removed before the process exits (exit 128 + the signal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def shown(text: object) -> str:
    """``text`` safe inside a one-line error message: control and other non-printable
    characters (a hostile TOML key may hold a newline or an escape sequence) become
    visible escapes."""
    from exposure_audit.core.termtext import terminal_text

    return terminal_text(text, 2000)
