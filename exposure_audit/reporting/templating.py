"""jinja2 environments for the report templates.

Both run sandboxed with StrictUndefined: a template (possibly the user's own, possibly
run as root) can read the report and nothing else, and a typo is an error naming the
template and line, not a silently blank report. HTML autoescapes everything; terminal
output passes every value through :func:`clean_text`, its equivalent for terminals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from markupsafe import Markup

from exposure_audit.core.errors import ConfigError, shown
from exposure_audit.core.resources import reports_dir
from exposure_audit.reporting.rendering import (
    MAX_INT_BITS,
    MAX_TEMPLATE_BYTES,
    MAX_VALUE_CHARS,
    TemplateLimitError,
    check_str_call,
    check_widths,
    clean_text,
    finalize_terminal,
    module_code,
    render_bounded,
    render_limits,
    source_digest,
    template_errors,
)


def _finalize_html(value: object) -> object:
    # Escaping comes after this; controls become visible text rather than tofu or a
    # carriage return that reflows a command line. Markup (our macros, our CSS) is kept.
    if isinstance(value, str) and not isinstance(value, Markup):
        return clean_text(value)
    return value


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


class LimitedSandbox(jinja2.sandbox.SandboxedEnvironment):
    """jinja2's sandbox (no attribute escapes, ranges of at most 100,000) with bounds on
    what one expression may allocate: repetition (``"x" * n``), powers, %-formatting and
    padding widths. Output size, time and memory of the whole render are bounded by
    render_template."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    if len(seq) * n > MAX_VALUE_CHARS:
                        raise TemplateLimitError("a repetition larger than 16 MiB")
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise TemplateLimitError("an integer product too large")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
                if right > 0 and right * left.bit_length() > MAX_INT_BITS:
                    raise TemplateLimitError("a power too large")
        elif operator == "%" and isinstance(left, str):
            check_widths(left)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and getattr(value, "__name__", "") in ("format", "format_map"):
            check_widths(owner)
        return super().wrap_str_format(value)

    def call(
        __self,
        __context: jinja2.runtime.Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        name = getattr(__obj, "__name__", "")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            if name in ("format", "format_map"):
                check_widths(owner)
            check_str_call(name, (*args, *kwargs.values()))
        return super().call(__context, __obj, *args, **kwargs)


def _bounded_filter(
    f: Callable[..., Any], size_args: tuple[int, ...], fmt: bool = False
) -> Callable[..., Any]:
    """A built-in filter whose integer arguments (widths) and format strings are bounded."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if fmt and args and isinstance(args[0], str):
            check_widths(args[0])
        for i in size_args:
            if i < len(args) and isinstance(args[i], int) and args[i] > MAX_VALUE_CHARS:
                raise TemplateLimitError("a filter width over 16 MiB")
        for v in kwargs.values():
            if isinstance(v, int) and not isinstance(v, bool) and v > MAX_VALUE_CHARS:
                raise TemplateLimitError("a filter width over 16 MiB")
        return f(*args, **kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(f, attr):
            setattr(wrapper, attr, getattr(f, attr))
    return wrapper


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
        # {% break %} and {% continue %} for the user's templates (the built-in ones do
        # without: importing jinja2.ext is ~1.5 ms of every run)
        "extensions": ["jinja2.ext.loopcontrols"] if user_template is not None else [],
    }
    env: jinja2.Environment
    if kind == "html":
        env = LimitedSandbox(autoescape=True, finalize=_finalize_html, **common)
    else:
        env = LimitedSandbox(autoescape=False, finalize=finalize_terminal, **common)
    for name, size_args, fmt in (
        ("center", (1,), False),
        ("indent", (1,), False),
        ("wordwrap", (2,), False),
        ("truncate", (2,), False),
        ("format", (), True),
    ):
        if name in env.filters:
            env.filters[name] = _bounded_filter(env.filters[name], size_args, fmt)
    from exposure_audit.core.privilege import report_wording

    env.filters["privilege"] = report_wording
    env.filters.update(filters)
    return env


def env_fingerprint(env: jinja2.Environment) -> str:
    """What of an environment shapes the Python code jinja2 compiles a template to."""
    finalize = getattr(env.finalize, "__name__", None)
    binops = sorted(getattr(env, "intercepted_binops", ()))
    return (
        f"{type(env).__name__} autoescape={env.autoescape} finalize={finalize} "
        f"extensions={sorted(env.extensions)} binops={binops} "
        f"newline={env.keep_trailing_newline} trim={env.trim_blocks} lstrip={env.lstrip_blocks}"
    )


def builtin_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """The built-in template ``name``. Parsing and generating its code is ~40 ms a run,
    compiling the generated source ~15 ms more: exposure_audit/reporting/precompiled/
    (made by scripts/precompile_templates.py, shipped with the package like any other
    module, its bytecode kept by Python like theirs; nothing is written at run time)
    holds the code jinja2 generates for it as a module, used only when the template read
    now, this jinja2 version and this environment are the ones it was generated from;
    else the template is compiled as usual."""
    from exposure_audit.reporting.precompiled import TEMPLATES

    entry = TEMPLATES.get(name)
    if entry is not None and env.loader is not None:
        version, digest, fingerprint, module = entry
        if version == jinja2.__version__ and fingerprint == env_fingerprint(env):
            source, _filename, uptodate = env.loader.get_source(env, name)
            if source_digest(source) == digest:
                code = module_code(f"exposure_audit.reporting.precompiled.{module}")
                if code is not None:
                    # from_code runs it in a namespace of this template's own, so the
                    # templates of several environments never share a module's globals
                    template = env.template_class.from_code(
                        env, code, env.make_globals(None), uptodate
                    )
                    # jinja2 names an error's template frames after this (not the
                    # module's path), which _template_line reads the line from
                    template.filename = name
                    return template
    return env.get_template(name)


def render_template(
    env: jinja2.Environment, name: str, user_template: Path | None, context: Mapping[str, Any]
) -> str:
    """Render the built-in template ``name``, or the user's; template errors -> ConfigError."""
    label = str(user_template) if user_template else name
    with template_errors(label):
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
            template = builtin_template(env, name)
        with render_limits():
            text = render_bounded(template.generate(**context))
    return text
