"""What rendering a report template needs, whichever runtime runs it (jinja2 for the
HTML report and the user's templates, reporting/compiled.py for the built-in terminal
template): text that cannot drive a terminal, the resource limits of a render, and
its errors as ConfigError naming the template and line. No jinja2 here: a terminal
run does not import it.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterable, Iterator
from types import CodeType
from typing import Any

from exposure_audit.core.errors import ConfigError
from exposure_audit.core.termtext import terminal_text


def clean_text(value: object) -> str:
    """``value`` as text that cannot drive a terminal (core/termtext.terminal_text)."""
    return terminal_text(value)


class Safe(str):
    """Terminal text already cleaned (and maybe coloured) by a filter: not re-cleaned."""

    __slots__ = ()


def finalize_terminal(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, Safe):
        return value
    return clean_text(value)


MAX_TEMPLATE_BYTES = 1024 * 1024

# Resource limits of a render (a template may be anyone's, rendered as root from cron).
MAX_OUTPUT_CHARS = 128 * 1024 * 1024  # a 10,000-listener HTML report is ~20 MB
MAX_VALUE_CHARS = 16 * 1024 * 1024  # one string or list made by * or % or a filter
MAX_INT_BITS = 64 * 1024  # ** and * on integers
MAX_RENDER_SECONDS = 30.0
MAX_RENDER_MEMORY = 1024 * 1024 * 1024  # address space a render may add
_WIDTH = re.compile(r"%[-#0 +]*(\*|\d{7,})|\{[^{}]*?(\d{7,})[^{}]*\}")


class TemplateLimitError(Exception):
    """A template went over a resource limit (see MAX_*)."""


def check_widths(fmt: str) -> None:
    if _WIDTH.search(fmt):
        raise TemplateLimitError("a format width that is too large (or given by *)")


def check_str_call(name: str, args: Iterable[Any]) -> None:
    """The bounds on calling a str method ``name`` (its format string checked apart)."""
    for v in args:
        if isinstance(v, int) and not isinstance(v, bool) and v > MAX_VALUE_CHARS:
            raise TemplateLimitError(f"str.{name} with a size over 16 MiB")


def render_bounded(chunks: Iterable[str]) -> str:
    """The rendered text, joined; an error once it is larger than MAX_OUTPUT_CHARS."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise TemplateLimitError(f"output larger than {MAX_OUTPUT_CHARS >> 20} MiB")
        parts.append(chunk)
    return "".join(parts)


@contextlib.contextmanager
def render_limits() -> Iterator[None]:
    """A time bound (SIGALRM, main thread only) and an address-space bound (the soft
    RLIMIT_AS lowered to what the process uses now plus MAX_RENDER_MEMORY, restored
    after: an unprivileged process may raise its soft limit back up to the hard one)."""
    import resource
    import signal

    def expired(_signum: int, _frame: Any) -> None:
        raise TemplateLimitError(f"rendering took longer than {MAX_RENDER_SECONDS:g} s")

    old_handler = None
    with contextlib.suppress(ValueError):  # not the main thread: no time bound
        old_handler = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, MAX_RENDER_SECONDS)
    old_as = None
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm", "rb") as fh:
            in_use = int(fh.read().split()[0]) * resource.getpagesize()
        bound = in_use + MAX_RENDER_MEMORY
        if (soft == resource.RLIM_INFINITY or soft > bound) and (
            hard == resource.RLIM_INFINITY or hard >= bound
        ):
            resource.setrlimit(resource.RLIMIT_AS, (bound, hard))
            old_as = (soft, hard)
    except (OSError, ValueError):
        pass
    try:
        yield
    finally:
        if old_as is not None:
            with contextlib.suppress(OSError, ValueError):
                resource.setrlimit(resource.RLIMIT_AS, old_as)
        if old_handler is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)


class TemplateRuntimeError(Exception):
    """An error of the built-in runtime (reporting/compiled.py), as jinja2's
    TemplateRuntimeError is of jinja2's; ``line`` is the template's, when known."""

    line: int | None = None


@contextlib.contextmanager
def template_errors(label: str) -> Iterator[None]:
    """A template's errors (over a limit, syntax, undefined values, a failing filter)
    as ConfigError naming the template (``label``) and, when known, its line."""
    try:
        yield
    except ConfigError:
        raise
    except TemplateLimitError as exc:
        raise ConfigError(f"template {label}: over a limit: {exc}") from None
    except RecursionError:
        raise ConfigError(f"template {label}: recursion too deep") from None
    except MemoryError:
        raise ConfigError(
            f"template {label}: over a limit: more than {MAX_RENDER_MEMORY >> 20} MiB of memory"
        ) from None
    except OverflowError as exc:
        raise ConfigError(f"template {label}: over a limit: {exc}") from None
    except Exception as exc:
        jinja2 = sys.modules.get("jinja2")  # imported by whoever rendered with it
        if jinja2 is not None and isinstance(exc, jinja2.TemplateSyntaxError):
            raise ConfigError(f"template {label}, line {exc.lineno}: {exc.message}") from None
        if isinstance(exc, TemplateRuntimeError) or (
            jinja2 is not None and isinstance(exc, jinja2.TemplateError)
        ):
            line = getattr(exc, "line", None) or _template_line(exc)
            where = f", line {line}" if line else ""
            raise ConfigError(f"template {label}{where}: {exc}") from None
        if isinstance(exc, (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError)):
            raise ConfigError(f"template {label}: {type(exc).__name__}: {exc}") from None
        raise


def _template_line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in (
            "<template>",
        ) or tb.tb_frame.f_code.co_filename.endswith(".j2"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def source_digest(source: str) -> str:
    import hashlib

    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def module_code(module: str) -> CodeType | None:
    """The code object of ``module`` (from its cached bytecode when current), not run."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    get_code = getattr(spec.loader if spec is not None else None, "get_code", None)
    code = get_code(module) if get_code is not None else None
    return code if isinstance(code, CodeType) else None
