"""jinja2 environments for the report templates.

Both run sandboxed with StrictUndefined: a template (possibly the user's own, possibly
run as root) can read the report and nothing else, and a typo is an error naming the
template and line, not a silently blank report. HTML autoescapes everything; terminal
output passes every value through :func:`clean_text`, its equivalent for terminals.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from markupsafe import Markup

from exposure_audit.core.errors import ConfigError, shown
from exposure_audit.core.resources import reports_dir

# C0/C1 controls, DEL, and the Unicode bidi/format controls that can reorder or hide
# text on a terminal ("Trojan Source"). Shown escaped, never passed through.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def clean_text(value: object) -> str:
    """``value`` as text that cannot drive a terminal: controls shown as ``\\x1b``."""
    return _CONTROL.sub(lambda m: _escape(m.group()), str(value))


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class Safe(str):
    """Terminal text already cleaned (and maybe coloured) by a filter: not re-cleaned."""

    __slots__ = ()


def _finalize_terminal(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, Safe):
        return value
    return clean_text(value)


def _finalize_html(value: object) -> object:
    # Escaping comes after this; controls become visible text rather than tofu or a
    # carriage return that reflows a command line. Markup (our macros, our CSS) is kept.
    if isinstance(value, str) and not isinstance(value, Markup):
        return clean_text(value)
    return value


MAX_TEMPLATE_BYTES = 1024 * 1024


class ConfinedLoader(jinja2.BaseLoader):
    """Loads ``{% include %}``/``{% extends %}`` names from the search directories only:
    each name walked below its directory without following any symlink (core/safefs),
    a regular file of bounded size. A template reads the report and nothing else, even
    when root renders a template from a directory another user can write to."""

    def __init__(self, searchpath: list[str]) -> None:
        self.searchpath = searchpath

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        from jinja2.loaders import split_template_path

        from exposure_audit.core.safefs import read_confined

        pieces = split_template_path(template)
        for base in self.searchpath:
            try:
                raw = read_confined(base, pieces, MAX_TEMPLATE_BYTES)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ConfigError(
                    f"template include {shown(template)}: {exc.strerror or exc}"
                ) from None
            if len(raw) > MAX_TEMPLATE_BYTES:
                raise ConfigError(f"template include {shown(template)}: larger than 1 MiB")
            try:
                return raw.decode("utf-8"), None, lambda: True
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"template include {shown(template)}: not UTF-8 (byte {exc.start})"
                ) from None
        raise jinja2.TemplateNotFound(template)


def environment(
    kind: str, user_template: Path | None, filters: Mapping[str, Callable[..., Any]]
) -> jinja2.Environment:
    """``kind`` is "html" or "terminal"."""
    search = [str(reports_dir())]
    if user_template is not None:
        search.insert(0, str(user_template.parent))
    common: dict[str, Any] = {
        "loader": ConfinedLoader(search),
        "undefined": jinja2.StrictUndefined,
        "keep_trailing_newline": True,
        "extensions": ["jinja2.ext.loopcontrols"],
    }
    env: jinja2.Environment
    if kind == "html":
        env = jinja2.sandbox.SandboxedEnvironment(
            autoescape=True, finalize=_finalize_html, **common
        )
    else:
        env = jinja2.sandbox.SandboxedEnvironment(
            autoescape=False, finalize=_finalize_terminal, **common
        )
    env.filters.update(filters)
    return env


def render_template(
    env: jinja2.Environment, name: str, user_template: Path | None, context: Mapping[str, Any]
) -> str:
    """Render the built-in template ``name``, or the user's; template errors -> ConfigError."""
    label = str(user_template) if user_template else name
    try:
        if user_template is not None:
            from exposure_audit.core.safefs import read_input

            try:
                raw = read_input(user_template, MAX_TEMPLATE_BYTES)
                if len(raw) > MAX_TEMPLATE_BYTES:
                    raise ConfigError(f"template {user_template}: larger than 1 MiB")
                source = raw.decode("utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"cannot read template {user_template}: {exc.strerror or exc}"
                ) from None
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"template {user_template}: not UTF-8 (byte {exc.start})"
                ) from None
            template = env.from_string(source)
        else:
            template = env.get_template(name)
        return template.render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"template {label}, line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        line = _template_line(exc)
        where = f", line {line}" if line else ""
        raise ConfigError(f"template {label}{where}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError) as exc:
        raise ConfigError(f"template {label}: {type(exc).__name__}: {exc}") from None


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
