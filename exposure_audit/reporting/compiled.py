"""The built-in terminal template, run from its precompiled code without jinja2.

scripts/precompile_templates.py has jinja2 compile reports/terminal.txt.j2 into
reporting/precompiled/tpl_terminal_txt.py. That code needs a runtime; jinja2's would
import all of jinja2, about 26 ms, a quarter of a 100-listener ``run``. This module is
the part of the runtime that code uses, with the rules of the environment templating.py
gives jinja2 for the terminal:

- the sandbox's: no attribute starting with ``_`` nor any of Python's internals
  (frames, code, ``mro``); ``str.format`` and ``format_map`` are refused
  (templating's sandbox bounds them; the built-in template calls neither);
- StrictUndefined's: any use of an undefined value is an error naming it;
- the same filters and tests: the report's own (terminal._filters, ``privilege``),
  and jinja2's ``format`` (bounded), ``length``, ``list``, ``selectattr``, ``upper``,
  ``false``, ``none`` and ``equalto``.

The generator script refuses to write code that asks for anything else (NAMES_USED),
and the code is used only while it is the current template's (its digest); otherwise,
and for the user's templates, jinja2 renders as before. tests/test_compiled_runtime.py
renders the fixtures both ways and compares.
"""

from __future__ import annotations

import operator
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from exposure_audit.core.privilege import report_wording
from exposure_audit.reporting.rendering import (
    MAX_TEMPLATE_BYTES,
    TemplateRuntimeError,
    check_str_call,
    check_widths,
    module_code,
    render_bounded,
    render_limits,
    source_digest,
    template_errors,
)

# The "jinja2 version" of a template in precompiled.TEMPLATES whose code imports this
# runtime instead of jinja2's (jinja2's environments never use it: templating.py).
RUNTIME = "exposure-audit"

# What the generated code may use of the runtime and the environment, besides the
# names imported by its first line (some only there, never called): checked by the
# generator (scripts/precompile_templates.py).
ENVIRONMENT_USED = frozenset(
    {"getattr", "getitem", "call", "finalize", "filters", "tests", "undefined", "concat"}
)
CONTEXT_USED = frozenset({"resolve_or_missing", "vars", "exported_vars", "eval_ctx"})
FILTERS = frozenset({"format", "length", "list", "privilege", "selectattr", "upper"})
TESTS = frozenset({"false", "none", "equalto"})
# Imported by the first line of every generated module, not to be used by ours.
UNAVAILABLE = ("Macro", "Markup", "TemplateReference", "TemplateNotFound", "escape", "markup_join")


class UndefinedError(TemplateRuntimeError):
    """A template used a value that is not there."""


class SecurityError(TemplateRuntimeError):
    """A template asked for what the sandbox does not allow."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "missing"


missing: Any = _Missing()


def internalcode(f: Any) -> Any:
    return f


def identity(x: Any) -> Any:
    return x


def str_join(seq: Iterable[Any]) -> str:
    return "".join(map(str, seq))


def _unavailable(name: str) -> Callable[..., Any]:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise TemplateRuntimeError(f"{name} is not available to the built-in template runtime")

    return refuse


Macro = _unavailable("Macro")
Markup = _unavailable("Markup")
TemplateReference = _unavailable("TemplateReference")
escape = _unavailable("escape")
markup_join = _unavailable("markup_join")


class TemplateNotFound(TemplateRuntimeError):
    pass


def _type_repr(obj: Any) -> str:
    """jinja2.utils.object_type_repr: how an undefined value's owner is named."""
    if obj is None:
        return "None"
    if obj is Ellipsis:
        return "Ellipsis"
    cls = type(obj)
    if cls.__module__ == "builtins":
        return f"{cls.__name__} object"
    return f"{cls.__module__}.{cls.__name__} object"


class Undefined:
    """A value that is not there (jinja2's StrictUndefined): any use is an error."""

    __slots__ = ("_exc", "_hint", "_name", "_obj")

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: Any = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        self._hint, self._obj, self._name, self._exc = hint, obj, name, exc

    def _message(self) -> str:
        if self._hint:
            return self._hint
        if self._obj is missing:
            return f"{self._name!r} is undefined"
        if not isinstance(self._name, str):
            return f"{_type_repr(self._obj)} has no element {self._name!r}"
        return f"{_type_repr(self._obj)!r} has no attribute {self._name!r}"

    def _fail(self, *_args: Any, **_kwargs: Any) -> Any:
        raise self._exc(self._message())

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self._fail()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _fail
    __mod__ = __rmod__ = __pos__ = __neg__ = __call__ = __getitem__ = _fail
    __lt__ = __le__ = __gt__ = __ge__ = __int__ = __float__ = __complex__ = _fail
    __pow__ = __rpow__ = __iter__ = __str__ = __len__ = _fail
    __eq__ = __ne__ = __bool__ = __hash__ = __contains__ = _fail


class Namespace:
    """``namespace()``: attributes a loop may set (jinja2.utils.Namespace)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_Namespace__attrs", dict(*args, **kwargs))

    def __getattribute__(self, name: str) -> Any:
        if name in {"_Namespace__attrs", "__class__"}:
            return object.__getattribute__(self, name)
        try:
            return object.__getattribute__(self, "_Namespace__attrs")[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setitem__(self, name: str, value: Any) -> None:
        object.__getattribute__(self, "_Namespace__attrs")[name] = value


class LoopContext:
    """``loop`` in a for loop: the item and where it is (first, last, index...)."""

    def __init__(
        self, iterable: Iterable[Any], undefined: Any, recurse: Any = None, depth0: int = 0
    ) -> None:
        self._iterable = iterable
        self._iterator = iter(iterable)
        self._after: Any = missing
        self._before: Any = missing
        self._current: Any = missing
        self._length: int | None = None
        self.index0 = -1
        self.depth0 = depth0

    def __iter__(self) -> LoopContext:
        return self

    def __next__(self) -> tuple[Any, LoopContext]:
        if self._after is not missing:
            item, self._after = self._after, missing
        else:
            item = next(self._iterator)
        self.index0 += 1
        self._before, self._current = self._current, item
        return item, self

    def _peek(self) -> Any:
        if self._after is missing:
            self._after = next(self._iterator, missing)
        return self._after

    @property
    def first(self) -> bool:
        return self.index0 == 0

    @property
    def last(self) -> bool:
        return self._peek() is missing

    @property
    def index(self) -> int:
        return self.index0 + 1

    @property
    def depth(self) -> int:
        return self.depth0 + 1

    @property
    def length(self) -> int:
        if self._length is None:
            try:
                self._length = len(self._iterable)  # type: ignore[arg-type]
            except TypeError:
                rest = list(self._iterator)
                after = 0 if self._after is missing else 1
                self._iterator = iter(([self._after] if after else []) + rest)
                self._after = missing
                self._length = self.index0 + 1 + after + len(rest)
        return self._length

    @property
    def revindex(self) -> int:
        return self.length - self.index0

    @property
    def revindex0(self) -> int:
        return self.length - self.index


class _EvalContext:
    __slots__ = ("autoescape", "volatile")

    def __init__(self) -> None:
        self.autoescape = False
        self.volatile = False


class Context:
    """What a template's code reads its names from and records ``{% set %}`` in."""

    __slots__ = ("environment", "eval_ctx", "exported_vars", "parent", "vars")

    def __init__(self, environment: Environment, parent: Mapping[str, Any]) -> None:
        self.environment = environment
        self.parent = parent
        self.vars: dict[str, Any] = {}
        self.exported_vars: set[str] = set()
        self.eval_ctx = _EvalContext()

    def resolve_or_missing(self, key: str) -> Any:
        value = self.vars.get(key, missing)
        if value is missing:
            value = self.parent.get(key, missing)
        return value


_FORMAT_METHODS = ("format", "format_map")
_UNSAFE_ATTRIBUTES = (
    (types.GeneratorType, frozenset({"gi_frame", "gi_code"})),
    (types.CoroutineType, frozenset({"cr_frame", "cr_code"})),
    (types.AsyncGeneratorType, frozenset({"ag_code", "ag_frame"})),
)


def _internal(obj: Any, name: str) -> bool:
    """jinja2.sandbox.is_internal_attribute (less its ``__`` rule: no ``_`` at all here)."""
    if isinstance(obj, type):
        return name == "mro"
    if isinstance(obj, (types.CodeType, types.TracebackType, types.FrameType)):
        return True
    return any(isinstance(obj, kind) and name in names for kind, names in _UNSAFE_ATTRIBUTES)


class Environment:
    """The terminal environment's rules (templating.environment("terminal")), for the
    generated code: attribute and item lookup, calls, filters, tests, finalize."""

    def __init__(self, filters: Mapping[str, Any], finalize: Callable[[Any], Any]) -> None:
        self.filters: dict[str, Any] = {
            "format": _format,
            "length": len,
            "list": _list,
            "selectattr": _selectattr,
            "upper": _upper,
            "privilege": report_wording,
            **filters,
        }
        self.tests: dict[str, Any] = {
            "false": _false,
            "none": _none,
            "equalto": operator.eq,
        }
        self.finalize = finalize
        self.undefined = Undefined
        self.concat = "".join

    def _checked(self, obj: Any, name: Any, value: Any) -> Any:
        if isinstance(value, (types.MethodType, types.BuiltinMethodType)):
            if getattr(value, "__name__", "") in _FORMAT_METHODS and isinstance(
                getattr(value, "__self__", None), str
            ):
                return _unavailable("str.format in the built-in template")
        if isinstance(name, str) and (name.startswith("_") or _internal(obj, name)):
            return Undefined(
                f"access to attribute {name!r} of {type(obj).__name__!r} object is unsafe.",
                obj,
                name,
                SecurityError,
            )
        return value

    def getattr(self, obj: Any, attribute: str) -> Any:
        try:
            value = getattr(obj, attribute)
        except AttributeError:
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                pass
        else:
            return self._checked(obj, attribute, value)
        return Undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        try:
            return obj[argument]
        except (TypeError, LookupError):
            if isinstance(argument, str):
                try:
                    value = getattr(obj, argument)
                except AttributeError:
                    pass
                else:
                    return self._checked(obj, argument, value)
        return Undefined(obj=obj, name=argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(__obj, "unsafe_callable", False) or getattr(__obj, "alters_data", False):
            raise SecurityError(f"{__obj!r} is not safely callable")
        if isinstance(getattr(__obj, "__self__", None), str):
            check_str_call(getattr(__obj, "__name__", ""), (*args, *kwargs.values()))
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return Undefined("value was undefined because a callable raised a StopIteration")


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    """jinja2's ``format`` filter, its format string bounded (templating's sandbox)."""
    if isinstance(value, str):
        check_widths(value)
    if args and kwargs:
        raise TemplateRuntimeError("can't handle positional and keyword arguments at the same time")
    return str(value) % (kwargs or args)


def _list(_eval_ctx: Any, value: Iterable[Any]) -> list[Any]:
    return list(value)


def _upper(value: Any) -> str:
    return str(value).upper()


def _false(value: Any) -> bool:
    return value is False


def _none(value: Any) -> bool:
    return value is None


def _selectattr(context: Context, value: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
    """jinja2's ``selectattr``: the items whose attribute (dotted: a path) passes a
    test (none: is true)."""
    if not value:
        return
    env = context.environment
    if not args:
        raise TemplateRuntimeError("Missing parameter for attribute name")
    parts = [int(p) if p.isdigit() else p for p in str(args[0]).split(".")]
    test: Callable[[Any], Any] = bool
    if len(args) > 1:
        name, more = args[1], args[2:]
        func = env.tests.get(name)
        if func is None:
            raise TemplateRuntimeError(f"No test named {name!r}.")

        def test(v: Any) -> Any:
            return func(v, *more, **kwargs)

    for item in value:
        got = item
        for part in parts:
            got = env.getitem(got, part)
        if test(got):
            yield item


def render_builtin(
    name: str,
    variables: Mapping[str, Any],
    filters: Mapping[str, Any],
    finalize: Callable[[Any], Any],
) -> str | None:
    """The built-in template ``name`` rendered by this runtime from its precompiled code;
    None when there is none for it, or it is not the template's as it is now (edited
    since, or a module from another version): then render it with jinja2."""
    from exposure_audit.core.resources import reports_dir
    from exposure_audit.core.safefs import read_confined
    from exposure_audit.reporting.precompiled import TEMPLATES

    entry = TEMPLATES.get(name)
    if entry is None or entry[0] != RUNTIME:
        return None
    try:
        raw = read_confined(reports_dir(), [name], MAX_TEMPLATE_BYTES)
        source = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # jinja2's loader says what is wrong with it
    if len(raw) > MAX_TEMPLATE_BYTES or source_digest(source) != entry[1]:
        return None
    code = module_code(f"exposure_audit.reporting.precompiled.{entry[3]}")
    if code is None:
        return None
    with template_errors(name), render_limits():
        text = render_bounded(run(code, filters, finalize, variables))
    return text


def run(code: Any, filters: Mapping[str, Any], finalize: Callable[[Any], Any],
        variables: Mapping[str, Any]) -> Iterator[str]:  # fmt: skip
    """The text the template's code (the module's code object) yields for
    ``variables``, piece by piece."""
    namespace: dict[str, Any] = {"environment": None, "__file__": code.co_filename}
    exec(code, namespace)  # noqa: S102 (the generated module, shipped: defines root())
    env = Environment(filters, finalize)
    context = Context(env, {"namespace": Namespace, **variables})
    try:
        yield from namespace["root"](context, environment=env)
    except TemplateRuntimeError as exc:
        exc.line = _line(exc, code.co_filename, namespace.get("debug_info", ""))
        raise


_DEBUG_PAIR = re.compile(r"(\d+)=(\d+)")


def _line(exc: BaseException, filename: str, debug_info: str) -> int | None:
    """The template line of the innermost frame of ``exc`` in the generated code
    (jinja2's debug_info maps its lines to the template's)."""
    pairs = [(int(c), int(t)) for t, c in _DEBUG_PAIR.findall(debug_info)]
    tb = exc.__traceback__
    code_line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            code_line = tb.tb_lineno
        tb = tb.tb_next
    if code_line is None:
        return None
    line = None
    for code_at, template_at in sorted(pairs):
        if code_at > code_line:
            break
        line = template_at
    return line
