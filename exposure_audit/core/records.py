"""Frozen records: the model's dataclasses, without dataclasses' start-up cost.

``@record`` gives a class what ``@dataclass(frozen=True)`` gives it — ``__init__``
from the annotated fields and their defaults, ``__repr__``, ``__eq__`` and ``__hash__``
over the fields, ``__match_args__``, assignment refused — and ``fields`` / ``replace``
(and ``asdict``) work as dataclasses' do; ``dataclasses.replace``/``asdict`` do not
accept records, so code uses ``records.replace``/``records.asdict`` — the package has no
other record system. The difference is when the methods are made. ``@dataclass``
compiles five or six functions per class at import: with ``import dataclasses``
(which imports inspect) that was ~25 ms of every command's start-up on the model's 23
classes, a third of a whole ``collect``. A record compiles ``__init__`` the first time
an instance is made, and the comparison methods the first time one of them is called,
so a command pays only for what it uses.

tests/test_records.py checks the behaviour against ``dataclasses`` class by class.
Inheritance between records is not supported (the model does not use it).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T")
else:

    def dataclass_transform(**_kwargs: object) -> Callable[[_T], _T]:
        return lambda f: f


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# Field names that would clash with the generated code's own names.
_RESERVED = frozenset({"self", "other"})


class FrozenInstanceError(AttributeError):
    """Raised on assignment to (or deletion of) a field of a record."""


class Field:
    """One field of a record: its name, annotation (a string) and default."""

    __slots__ = ("default", "default_factory", "name", "type")

    def __init__(self, name: str, type: str, default: Any, default_factory: Any) -> None:
        self.name = name
        self.type = type
        self.default = default
        self.default_factory = default_factory

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, type={self.type!r}, default={self.default!r})"


class _Factory:
    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING) -> Any:
    """A field's default: ``x: T = field(default_factory=list)``, as in dataclasses."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return _Factory(default_factory) if default_factory is not MISSING else default


def _is_classvar(annotation: str) -> bool:
    return annotation.startswith(("ClassVar", "typing.ClassVar"))


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a frozen record of its annotated fields (see the module docstring)."""
    for base in cls.__mro__[1:]:
        if "__record_fields__" in base.__dict__:
            raise TypeError(f"{cls.__name__}: records cannot inherit from records")
    fields = []
    seen_default = False
    # (not inspect.get_annotations: importing inspect is the cost this module avoids)
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in annotations.items():
        annotation = str(annotation)
        if _is_classvar(annotation):
            continue
        if not name.isidentifier() or name in _RESERVED or name.startswith("__"):
            raise TypeError(f"{cls.__name__}: {name!r} cannot be a field name")
        value = cls.__dict__.get(name, MISSING)
        factory = MISSING
        if isinstance(value, _Factory):
            factory, value = value.factory, MISSING
            delattr(cls, name)
        elif isinstance(value, (list, dict, set)):
            raise ValueError(
                f"{cls.__name__}.{name}: mutable default {type(value).__name__} is not "
                "allowed: use field(default_factory=...)"
            )
        has_default = value is not MISSING or factory is not MISSING
        if seen_default and not has_default:
            raise TypeError(f"{cls.__name__}: non-default field {name!r} follows a default one")
        seen_default = seen_default or has_default
        fields.append(Field(name, annotation, value, factory))
    # Set on a class mypy sees as a plain ``type[_T]``; the dataclass_transform above
    # tells mypy the class is frozen and has these, so the ignores are for this one site.
    cls.__record_fields__ = tuple(fields)  # type: ignore[attr-defined]  # added here
    cls.__match_args__ = tuple(f.name for f in fields)  # type: ignore[attr-defined,misc]  # see above
    cls.__setattr__ = _frozen_setattr  # type: ignore[method-assign]  # frozen on purpose
    cls.__delattr__ = _frozen_delattr  # type: ignore[method-assign]  # frozen on purpose
    for method in ("__init__", "__repr__", "__eq__", "__hash__"):
        if method in cls.__dict__:
            raise TypeError(f"{cls.__name__}: a record makes its own {method}")
        setattr(cls, method, _stub(cls, method))
    return cls


# Compiled together on first use of either. Compiling costs by the byte (~0.35 ms for all
# four methods of a model class, ~0.1 ms for __init__ alone), and most classes only
# ever need their __init__ in a given run.
_GROUPS = {"__init__": ("__init__",)}
_COMPARE = ("__repr__", "__eq__", "__hash__")


def _stub(cls: type, method: str) -> Callable[..., Any]:
    """A stand-in that compiles the class's methods, then calls the real one."""
    group = _GROUPS.get(method, _COMPARE)

    def stub(self: Any, *args: Any, **kwargs: Any) -> Any:
        _compile(cls, group)
        return getattr(cls, method)(self, *args, **kwargs)

    stub.__name__ = stub.__qualname__ = method
    return stub


def _compile(cls: type, methods: tuple[str, ...] = ("__init__", *_COMPARE)) -> None:
    fields: tuple[Field, ...] = cls.__dict__["__record_fields__"]
    names = [f.name for f in fields]
    namespace: dict[str, Any] = {"MISSING": MISSING, "_cls": cls}
    params = []
    items = []
    for f in fields:
        if f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=MISSING")
            items.append(f"{f.name!r}: _factory_{f.name}() if {f.name} is MISSING else {f.name}")
            continue
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
        items.append(f"{f.name!r}: {f.name}")
    # One dict literal merged in, not a store per field: CPython 3.11 then reads the
    # fields faster (the engine over 10,000 listeners: 16% fewer instructions), for
    # about 170 more bytes of dict per record.
    body = ["    self.__dict__.update({" + ", ".join(items) + "})"]
    values = "".join(f"self.{n}, " for n in names)
    other_values = "".join(f"other.{n}, " for n in names)
    shown = ", ".join(f"{n}={{self.{n}!r}}" for n in names)
    sources = {
        "__init__": [
            f"def __init__(self, {', '.join(params)}):" if params else "def __init__(self):",
            *(body if names else ["    pass"]),
        ],
        "__repr__": [
            "def __repr__(self):",
            f"    return f'{{type(self).__qualname__}}({shown})'",
        ],
        "__eq__": [
            "def __eq__(self, other):",
            "    if other.__class__ is self.__class__:",
            f"        return ({values}) == ({other_values})",
            "    return NotImplemented",
        ],
        "__hash__": ["def __hash__(self):", f"    return hash(({values}))"],
    }
    source = "\n".join(line for method in methods for line in sources[method])
    # The source is made of field names only, each checked to be an identifier.
    exec(compile(source, f"<record {cls.__qualname__}>", "exec"), namespace)  # noqa: S102
    for method in methods:
        function = namespace[method]
        function.__qualname__ = f"{cls.__qualname__}.{method}"
        type.__setattr__(cls, method, function)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def is_record(obj: object) -> bool:
    """True for a record class or an instance of one."""
    cls = obj if isinstance(obj, type) else type(obj)
    return "__record_fields__" in cls.__dict__


def fields(class_or_instance: object) -> tuple[Field, ...]:
    """The record's fields, in order (like dataclasses.fields)."""
    cls = class_or_instance if isinstance(class_or_instance, type) else type(class_or_instance)
    try:
        found: tuple[Field, ...] = cls.__dict__["__record_fields__"]
    except KeyError:
        raise TypeError(f"{cls.__name__} is not a record") from None
    return found


def replace(obj: _T, **changes: Any) -> _T:
    """A copy of the record ``obj`` with ``changes`` (like dataclasses.replace)."""
    cls = type(obj)
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = frozenset(f.name for f in fields(cls))
    if not names.issuperset(changes):
        unknown = sorted(set(changes) - names)
        raise TypeError(
            f"{cls.__name__}.__init__() got an unexpected keyword argument {unknown[0]!r}"
        )
    # The fields as __init__ would set them, in declaration order, without calling it
    # (hot: 10,000 listeners each annotated once)
    copy = object.__new__(cls)
    values = copy.__dict__
    values.update(obj.__dict__)
    values.update(changes)
    return copy


_NAMES: dict[type, frozenset[str]] = {}


def from_values(cls: type[_T], values: dict[str, Any]) -> _T:
    """A record of ``cls`` whose fields are ``values``: a dict of every field of ``cls``,
    by name, in their order (as a record's ``__dict__``: a copy of another's, fields
    then set in it), which the record takes over. For the few places that make
    thousands of records alike: copying one's values and setting the fields that differ
    costs about half of calling the class with every field."""
    made = object.__new__(cls)
    object.__setattr__(made, "__dict__", values)
    return made


def asdict(obj: object) -> dict[str, Any]:
    """The record as a dict, recursing into records, lists, tuples and dicts (like
    dataclasses.asdict)."""
    if not is_record(obj) or isinstance(obj, type):
        raise TypeError("asdict() should be called on record instances")
    return {f.name: _asdict_value(obj.__dict__[f.name]) for f in fields(obj)}


def _asdict_value(value: Any) -> Any:
    if is_record(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_asdict_value(v) for v in value)
    if isinstance(value, dict):
        return {_asdict_value(k): _asdict_value(v) for k, v in value.items()}
    return value
