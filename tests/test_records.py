"""records.record behaves as @dataclass(frozen=True) does, for every model class."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import subprocess
import sys

import pytest

from exposure_audit.core import model, records
from exposure_audit.core.serialize import load_facts

MODEL_CLASSES = [
    obj for obj in vars(model).values() if isinstance(obj, type) and records.is_record(obj)
]
FIXTURE = "tests/fixtures/facts/upnp_home.json"


def _twin(cls: type) -> type:
    """The same class as a real frozen dataclass."""
    specs = []
    for f in records.fields(cls):
        if f.default_factory is not records.MISSING:
            specs.append((f.name, f.type, dataclasses.field(default_factory=f.default_factory)))
        elif f.default is not records.MISSING:
            specs.append((f.name, f.type, dataclasses.field(default=f.default)))
        else:
            specs.append((f.name, f.type))
    twin = dataclasses.make_dataclass(cls.__name__, specs, frozen=True)
    twin.__qualname__ = cls.__qualname__
    return twin


def _walk(obj: object):
    if records.is_record(obj):
        yield obj
        for f in records.fields(obj):
            yield from _walk(getattr(obj, f.name))
    elif isinstance(obj, tuple):
        for v in obj:
            yield from _walk(v)


def test_the_model_is_all_records() -> None:
    assert len(MODEL_CLASSES) >= 20
    names = {c.__name__ for c in MODEL_CLASSES}
    assert {"Facts", "Listener", "ProcessInfo", "Exposure", "Finding", "Evaluation"} <= names


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_init_signature_matches_dataclass(cls: type) -> None:
    twin = _twin(cls)
    records._compile(cls)  # normally on first use: the stub's signature is (*args, **kwargs)
    got = inspect.signature(cls.__init__).parameters
    want = inspect.signature(twin.__init__).parameters
    assert list(got) == list(want)
    for name in want:
        assert got[name].default == want[name].default, name
    assert cls.__match_args__ == twin.__match_args__


def test_instances_behave_like_dataclass_instances() -> None:
    facts = load_facts(FIXTURE)
    seen: set[type] = set()
    for obj in _walk(facts):
        cls = type(obj)
        seen.add(cls)
        twin = _twin(cls)(**{f.name: getattr(obj, f.name) for f in records.fields(obj)})
        assert repr(obj) == repr(twin)
        assert hash(obj) == hash(twin)
        assert obj.__dict__ == twin.__dict__
        assert list(obj.__dict__) == list(twin.__dict__)  # JSON key order
        same = records.replace(obj)
        assert same == obj and same is not obj and hash(same) == hash(obj)
        assert obj != twin  # a different class, as with dataclasses
        assert (obj == 1) is False
        assert copy.copy(obj) == obj and copy.deepcopy(obj) == obj
        assert pickle.loads(pickle.dumps(obj)) == obj
        first = records.fields(obj)[0].name
        with pytest.raises(records.FrozenInstanceError):
            setattr(obj, first, None)
        with pytest.raises(AttributeError):
            delattr(obj, first)
        with pytest.raises(records.FrozenInstanceError):
            obj.not_a_field = 1  # type: ignore[attr-defined]
    assert len(seen) >= 8


def _twin_tree(obj: object) -> object:
    if records.is_record(obj):
        return _twin(type(obj))(
            **{f.name: _twin_tree(getattr(obj, f.name)) for f in records.fields(obj)}
        )
    if isinstance(obj, (tuple, list)):
        return type(obj)(_twin_tree(v) for v in obj)
    if isinstance(obj, dict):
        return {k: _twin_tree(v) for k, v in obj.items()}
    return obj


def test_asdict_matches_dataclasses_asdict() -> None:
    facts = load_facts(FIXTURE)
    got = records.asdict(facts)
    assert got == dataclasses.asdict(_twin_tree(facts))
    assert got["listeners"] and isinstance(got["listeners"][0], dict)
    with pytest.raises(TypeError):
        records.asdict(model.Facts)
    with pytest.raises(TypeError):
        records.asdict({"a": 1})


def test_replace_changes_one_field_and_checks_names() -> None:
    p = model.ProcessInfo(pid=1, name="a", cmdline=("a", "b"))
    q = records.replace(p, name="b")
    assert (q.pid, q.name, q.cmdline, p.name) == (1, "b", ("a", "b"), "a")
    assert q != p and hash(q) != hash(p)
    with pytest.raises(TypeError):
        records.replace(p, nope=1)
    with pytest.raises(TypeError):
        model.Gateway("ipv4", "10.0.0.1")  # type: ignore[call-arg]  (missing fields)
    with pytest.raises(TypeError):
        records.replace(object())


def test_from_values_is_the_record_the_class_makes() -> None:
    """The engine's way of making thousands of findings: another's values copied, the
    differing fields set. The result is the record calling the class gives, and as
    frozen, hashable, picklable and copyable as it."""
    proto = model.Finding("EA-1", "high", "t", "", "", "", ("r",), tags=("x",))
    values = proto.__dict__.copy()
    values["message"] = "m"
    values["fingerprint"] = "f" * 16
    values["waived"] = True
    made = records.from_values(model.Finding, values)
    called = model.Finding("EA-1", "high", "t", "m", "", "f" * 16, ("r",), waived=True, tags=("x",))
    assert type(made) is model.Finding
    assert made == called and hash(made) == hash(called) and repr(made) == repr(called)
    assert records.asdict(made) == records.asdict(called)
    assert list(made.__dict__) == [f.name for f in records.fields(model.Finding)]
    assert pickle.loads(pickle.dumps(made)) == called and copy.deepcopy(made) == called
    assert records.replace(made, message="n").message == "n" and made.message == "m"
    assert proto.message == ""  # the values were a copy
    with pytest.raises(records.FrozenInstanceError):
        made.message = "x"  # type: ignore[misc]  (frozen on purpose)


def test_defaults_factories_and_declaration_errors() -> None:
    @records.record
    class Box:
        """A test record."""

        name: str
        items: list[int] = records.field(default_factory=list)
        size: int = 3

    a, b = Box("a"), Box("b", size=4)
    assert a.items == [] and a.items is not b.items and (a.size, b.size) == (3, 4)
    assert (
        repr(b)
        == "test_defaults_factories_and_declaration_errors.<locals>.Box(name='b', items=[], size=4)"
    )
    assert Box.__doc__ == "A test record."

    with pytest.raises(ValueError, match="mutable default"):

        @records.record
        class Bad:
            xs: list[int] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="non-default field"):

        @records.record
        class Order:
            a: int = 1
            b: int  # type: ignore[misc]

    with pytest.raises(TypeError, match="cannot inherit"):

        @records.record
        class Child(Box):
            extra: int = 0


def test_importing_the_model_compiles_nothing_and_imports_no_dataclasses() -> None:
    """The point of records: start-up pays for neither dataclasses nor the methods."""
    code = (
        "import sys; import exposure_audit.core.model as m; "
        "assert 'dataclasses' not in sys.modules and 'inspect' not in sys.modules; "
        "assert m.Listener.__init__.__code__.co_name == 'stub'; "
        "m.Listener('tcp', 'ipv4', '0.0.0.0', 80); "
        "assert m.Listener.__init__.__code__.co_filename == '<record Listener>'; "
        "assert m.Listener.__repr__.__code__.co_name == 'stub'; "  # compiled when first used
        "assert repr(m.Gateway('ipv4', '10.0.0.1', 'eth0', True)).startswith('Gateway('); "
        "assert m.Gateway.__hash__.__code__.co_filename == '<record Gateway>'; "
        "assert m.Facts.__init__.__code__.co_name == 'stub'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
