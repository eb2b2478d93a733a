"""Records (the model) <-> JSON-able dicts, with validation on the way in.

``load`` is strict: a Facts file may come from another host or a bug report, so a
wrong type or unknown key is a ``FormatError`` naming the path (``listeners[3].port``),
never a traceback deep in the pipeline.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from exposure_audit.core import records
from exposure_audit.core.addresses import split_zone
from exposure_audit.core.errors import FormatError
from exposure_audit.core.jsonout import LARGE_DOCUMENT_ROWS, facts_document, json_bytes, json_text
from exposure_audit.core.model import (
    FACTS_SCHEMA_VERSION,
    INTERFACE_KINDS,
    PROBE_OUTCOMES,
    PROBE_STATES,
    SCOPES,
    Facts,
    ProcessInfo,
)

T = TypeVar("T")

MAX_JSON_BYTES = 256 * 1024 * 1024


_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(tp: type) -> tuple[str, ...] | None:
    if tp not in _FIELD_NAMES:
        _FIELD_NAMES[tp] = (
            tuple(f.name for f in records.fields(tp)) if records.is_record(tp) else None
        )
    return _FIELD_NAMES[tp]


def to_jsonable(obj: Any) -> Any:
    """A record tree as plain dicts/lists (tuples become lists).

    Hot at 10,000 listeners: field names are cached per class and scalars skipped
    without a call (4x faster than asdict-style recursion).
    """
    tp = type(obj)
    if tp in _SCALARS:
        return obj
    if tp is Facts:
        return _facts_jsonable(obj)
    names = _field_names(tp)
    if names is not None:
        out = {}
        for name in names:
            v = getattr(obj, name)
            out[name] = v if type(v) in _SCALARS else to_jsonable(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [v if type(v) in _SCALARS else to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {
            k if type(k) is str else str(k): v if type(v) in _SCALARS else to_jsonable(v)
            for k, v in obj.items()
        }
    return obj


def _facts_jsonable(facts: Facts) -> dict[str, Any]:
    """to_jsonable(facts_document(facts)), with the listener rows (10,000 on a busy
    host) converted in place: each is a fresh dict of scalars but for a field or two."""
    out = {}
    for key, value in facts_document(facts).items():
        if key == "listeners":
            for row in value:
                for name, v in row.items():
                    if type(v) not in _SCALARS:
                        row[name] = to_jsonable(v)
            out[key] = value
        else:
            out[key] = value if type(value) in _SCALARS else to_jsonable(value)
    return out


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def from_jsonable(cls: type[T], data: Any, path: str = "") -> T:
    """Build ``cls`` from ``data``, checking every field's type."""
    return typing.cast(T, _converter(cls)(data, path or cls.__name__))


_RECORDS: dict[type, tuple[dict[str, Any], frozenset[str], tuple[Any, ...]]] = {}


def _record_info(tp: type) -> tuple[dict[str, Any], frozenset[str], tuple[Any, ...]]:
    """A record class's type hints, field names and fields, once per class."""
    got = _RECORDS.get(tp)
    if got is None:
        fields = tuple(records.fields(tp))
        got = _RECORDS[tp] = (_hints(tp), frozenset(f.name for f in fields), fields)
    return got


# Where a value is, for an error message: the root's name, or (where its container is,
# key or index). Written out only for an error: a Facts file of 10,000 listeners holds
# ~400,000 values, and formatting each one's path cost more than checking it.
_Path = Any
_Conv = Callable[[Any, _Path], Any]


def _path_text(path: _Path) -> str:
    parts = []
    while type(path) is tuple:
        path, key = path
        parts.append(f"[{key}]" if type(key) is int else f".{key}")
    return str(path) + "".join(reversed(parts))


def _error(path: _Path, what: str) -> FormatError:
    return FormatError(f"{_path_text(path)}: {what}")


_CONVERTERS: dict[Any, _Conv] = {}


def _converter(tp: Any) -> _Conv:
    """The function that checks a JSON value and converts it to ``tp``, made once per
    type (its hints, fields and arguments are looked up then, not for every value)."""
    got = _CONVERTERS.get(tp)
    if got is None:
        got = _CONVERTERS[tp] = _make_converter(tp)
    return got


def _any(data: Any, path: _Path) -> Any:
    return data


def _bool(data: Any, path: _Path) -> Any:
    if not isinstance(data, bool):
        raise _error(path, f"expected true/false, got {type(data).__name__}")
    return data


def _int(data: Any, path: _Path) -> Any:
    if type(data) is int:
        return data
    if isinstance(data, bool) or not isinstance(data, int):
        raise _error(path, f"expected an integer, got {type(data).__name__}")
    return data


def _float(data: Any, path: _Path) -> Any:
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise _error(path, f"expected a number, got {type(data).__name__}")
    return float(data)


def _str(data: Any, path: _Path) -> Any:
    if type(data) is str or isinstance(data, str):
        return data
    raise _error(path, f"expected a string, got {type(data).__name__}")


_SCALAR_CONVERTERS: dict[Any, _Conv] = {
    Any: _any,
    bool: _bool,
    int: _int,
    float: _float,
    str: _str,
}


def _make_converter(tp: Any) -> _Conv:
    scalar = _SCALAR_CONVERTERS.get(tp)
    if scalar is not None:
        return scalar
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return _union(args)
    if origin is tuple:
        return _tuple(args[0])
    if origin is dict:
        return _dict(args[1])
    if records.is_record(tp):
        return _record(tp)

    def cannot(data: Any, path: _Path) -> Any:
        raise _error(path, f"cannot read a value of type {_type_name(tp)}")

    return cannot


def _as_is(tp: Any) -> frozenset[type]:
    """The exact types of JSON values that are a ``tp`` as they are, with nothing to
    check or convert (a record's str, int, bool and optional fields): no call for
    them."""
    if tp in (str, int, bool):
        return frozenset({tp})
    if get_origin(tp) in (Union, types.UnionType):
        args = get_args(tp)
        if all(a in (str, int, bool, type(None)) for a in args):
            return frozenset(args)
    return frozenset()


def _union(args: tuple[Any, ...]) -> _Conv:
    nullable = type(None) in args
    options = [a for a in args if a is not type(None)]
    if nullable and len(options) == 1:  # X | None: most unions of the model
        one = _converter(options[0])  # (a record's converter makes its fields' later)

        def optional(data: Any, path: _Path) -> Any:
            return None if data is None else one(data, path)

        return optional

    def union(data: Any, path: _Path) -> Any:
        if data is None and nullable:
            return None
        errors = []
        for arg in options:
            try:
                return _converter(arg)(data, path)
            except FormatError as exc:
                errors.append(exc)
        raise errors[0] if errors else _error(path, "unexpected null")

    return union


def _tuple(item_tp: Any) -> _Conv:
    item = _converter(item_tp)

    def items(data: Any, path: _Path) -> Any:
        if not isinstance(data, list):
            raise _error(path, f"expected a list, got {type(data).__name__}")
        if item is _str and all(type(v) is str for v in data):
            return tuple(data)  # a command line, a list of names: checked at once
        return tuple(item(v, (path, i)) for i, v in enumerate(data))

    return items


def _dict(value_tp: Any) -> _Conv:
    value = _converter(value_tp)

    def mapping(data: Any, path: _Path) -> Any:
        if not isinstance(data, dict):
            raise _error(path, f"expected an object, got {type(data).__name__}")
        return {str(k): value(v, (path, str(k))) for k, v in data.items()}

    return mapping


def _record(tp: type) -> _Conv:
    # Its fields' converters are made at its first value, not here: a record may hold
    # (through its fields) a record of its own kind.
    specs: list[tuple[str, _Conv, bool, frozenset[type]]] = []
    names: frozenset[str] = frozenset()

    def record(data: Any, path: _Path) -> Any:
        nonlocal names
        if type(data) is tp:  # built already: a 2.x listener's process (_inline_processes)
            return data
        if not isinstance(data, dict):
            raise _error(path, f"expected an object, got {type(data).__name__}")
        if not specs:
            hints, names, fields = _record_info(tp)
            specs.extend(
                (
                    f.name,
                    _converter(hints[f.name]),
                    f.default is records.MISSING and f.default_factory is records.MISSING,
                    _as_is(hints[f.name]),
                )
                for f in fields
            )
        if not names.issuperset(data):
            raise _error(path, f"unknown key {sorted(set(data) - names)[0]!r}")
        kwargs = {}
        for name, convert, required, as_is in specs:
            if name in data:
                value = data[name]
                kwargs[name] = value if type(value) in as_is else convert(value, (path, name))
            elif required:
                raise _error(path, f"missing key {name!r}")
        return tp(**kwargs)

    return record


def facts_to_dict(facts: Facts) -> dict[str, Any]:
    return typing.cast(dict[str, Any], to_jsonable(facts))


def facts_from_dict(data: Any, source: str = "facts") -> Facts:
    if not isinstance(data, dict):
        raise FormatError(f"{source}: not a Facts document (expected a JSON object)")
    # A full JSON report embeds the facts under "facts": accept it too.
    tool = data.get("tool")
    is_report = isinstance(tool, dict) and tool.get("name") == "exposure-audit"
    if isinstance(data.get("facts"), dict) and (is_report or "host" not in data):
        data = data["facts"]
    version = data.get("schema_version")
    if not isinstance(version, str):
        raise FormatError(f"{source}: no schema_version: not an exposure-audit Facts document")
    major = version.split(".", 1)[0]
    if major not in READABLE_FACTS_MAJORS:
        raise FormatError(
            f"{source}: Facts schema_version {version} is not supported "
            f"(this exposure-audit reads {' and '.join(f'{m}.x' for m in READABLE_FACTS_MAJORS)})"
        )
    data = dict(data)
    data["schema_version"] = FACTS_SCHEMA_VERSION
    if _older_than(version, (2, 2)):
        data = _ambiguous_iface_patterns(data)
    if _older_than(version, (2, 3)):
        data = _kinds_without_evidence(data)
    if major != "1":
        try:
            data = _inline_processes(data)
        except FormatError as exc:
            raise FormatError(f"{source}: {exc}") from None
    try:
        facts = from_jsonable(Facts, data, "facts")
        check_values(facts)
    except FormatError as exc:
        raise FormatError(f"{source}: {exc}") from None
    return facts


def _older_than(version: str, than: tuple[int, int]) -> bool:
    parts = version.split(".")
    try:
        got = (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
    except ValueError:
        return True
    return got < than


def _ambiguous_iface_patterns(data: dict[str, Any]) -> dict[str, Any]:
    """Facts before 2.2 held interface patterns in each backend's own form: "eth+" was
    iptables' wildcard or nftables' literal name, "eth*" the other way round, and which
    backend wrote a rule is not recorded. Such a match becomes ``?iifname``, a condition
    the evaluator does not claim to understand (its verdicts then stay ``unknown`` where
    it matters, never a wrong ``filtered``); names without a trailing ``+``/``*`` mean
    the same in both and are kept."""
    fw = data.get("firewall")
    if not isinstance(fw, dict) or not isinstance(fw.get("chains"), list):
        return data
    chains = []
    for chain in fw["chains"]:
        if isinstance(chain, dict) and isinstance(chain.get("rules"), list):
            rules = []
            for rule in chain["rules"]:
                if isinstance(rule, dict) and isinstance(rule.get("matches"), list):
                    matches = [_ambiguous_match(m) for m in rule["matches"]]
                    rule = {**rule, "matches": matches}
                rules.append(rule)
            chain = {**chain, "rules": rules}
        chains.append(chain)
    return {**data, "firewall": {**fw, "chains": chains}}


def _kinds_without_evidence(data: dict[str, Any]) -> dict[str, Any]:
    """Facts before 2.3 called a bridge or veth the containers' from its name alone
    ("br-lan" was a container bridge). Nothing of the engines' state was recorded, so
    such an interface is read as unknown, that is a network like any other: a
    ``container_bridge`` becomes ``bridge`` and a ``veth`` stays ``veth``, unless the
    document itself shows a container on the bridge (a published port's target or a
    container's address in one of its networks), which is kept as the evidence."""
    ifaces = data.get("interfaces")
    if not isinstance(ifaces, list):
        return data
    shown = _container_addresses(data)
    out = []
    for iface in ifaces:
        if isinstance(iface, dict) and iface.get("kind") == "container_bridge":
            nets = []
            for a in iface.get("addresses") or ():
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    nets.append(ipaddress.ip_network(a.get("network"), strict=False))
            if any(ip.version == n.version and ip in n for ip in shown for n in nets):
                iface = {
                    **iface,
                    "evidence": "a container's address is in its network "
                    "(recorded before Facts 2.3, which keep the engines' own state)",
                }
            else:
                iface = {**iface, "kind": "bridge"}
        out.append(iface)
    return {**data, "interfaces": out}


def _container_addresses(
    data: dict[str, Any],
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    texts: list[Any] = [
        p.get("target_address") for p in data.get("published") or () if isinstance(p, dict)
    ]
    fw = data.get("firewall")
    if isinstance(fw, dict):
        for c in fw.get("containers") or ():
            if isinstance(c, dict) and isinstance(c.get("addresses"), list):
                texts.extend(c["addresses"])
    ips = []
    for text in texts:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            ips.append(ipaddress.ip_address(text))
    return ips


def _ambiguous_match(m: Any) -> Any:
    if not isinstance(m, dict) or m.get("field") != "iifname":
        return m
    values = m.get("values")
    if isinstance(values, list) and any(
        isinstance(v, str) and v.endswith(("+", "*")) for v in values
    ):
        return {**m, "field": "?iifname"}
    return m


# 1.x: each listener's process inline; 2.x: a processes table, listeners by pid.
READABLE_FACTS_MAJORS = ("1", "2")


def _inline_processes(data: dict[str, Any]) -> dict[str, Any]:
    """A 2.x document in the model's shape: each listener's ``pid`` replaced by its
    process from ``processes`` (the shape 1.x documents have), built once (where its
    first listener is read) and shared by all its listeners, as a scan makes them: a
    report then holds one process document per process (reporting/document.py), and a
    process unused by any listener is dropped unread, as before."""
    procs = data.pop("processes", [])
    if not isinstance(procs, list):
        raise FormatError(f"facts.processes: expected a list, got {type(procs).__name__}")
    by_pid: dict[int, Any] = {}
    built: dict[int, ProcessInfo] = {}
    for i, proc in enumerate(procs):
        pid = proc.get("pid") if isinstance(proc, dict) else None
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise FormatError(f"facts.processes[{i}].pid: expected an integer")
        if pid in by_pid:
            raise FormatError(f"facts.processes[{i}].pid: pid {pid} is listed twice")
        by_pid[pid] = proc
    listeners = data.get("listeners", [])
    if not isinstance(listeners, list):
        return data  # from_jsonable reports it
    rows = []
    for i, row in enumerate(listeners):
        if not isinstance(row, dict):
            rows.append(row)  # from_jsonable reports it
            continue
        if "process" in row:
            raise FormatError(f"facts.listeners[{i}]: unknown key 'process' (2.x: 'pid')")
        row = dict(row)
        pid = row.pop("pid", None)
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
            raise FormatError(f"facts.listeners[{i}].pid: expected an integer or null")
        if pid is not None and pid not in by_pid:
            raise FormatError(f"facts.listeners[{i}].pid: no process {pid} in facts.processes")
        if pid is not None and pid not in built:
            built[pid] = from_jsonable(ProcessInfo, by_pid[pid], f"facts.listeners[{i}].process")
        row["process"] = built[pid] if pid is not None else None
        rows.append(row)
    data["listeners"] = rows
    return data


_FAMILIES = ("ipv4", "ipv6")
_PROTOCOLS = ("tcp", "udp")


def _one_of(path: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise FormatError(f"{path}: {value!r} is not one of {', '.join(allowed)}")


def _address(path: str, value: str) -> None:
    try:
        ipaddress.ip_address(split_zone(value)[0])
    except ValueError:
        raise FormatError(f"{path}: {value!r} is not an IP address") from None


def _port(path: str, value: int) -> None:
    if not 0 <= value <= 65535:
        raise FormatError(f"{path}: port {value} is out of range 0-65535")


def check_values(facts: Facts) -> None:
    """The values the pipeline relies on (enumerations, addresses, ports) are sane.

    Types are checked by from_jsonable; this catches a hand-edited or corrupt file
    before it reaches exposure resolution.
    """
    for i, iface in enumerate(facts.interfaces):
        _one_of(f"facts.interfaces[{i}].kind", iface.kind, INTERFACE_KINDS)
        for j, a in enumerate(iface.addresses):
            path = f"facts.interfaces[{i}].addresses[{j}]"
            _one_of(f"{path}.scope", a.scope, SCOPES[:-1])
            _one_of(f"{path}.family", a.family, _FAMILIES)
            _address(f"{path}.address", a.address)
            if not 0 <= a.prefixlen <= (32 if a.family == "ipv4" else 128):
                raise FormatError(f"{path}.prefixlen: {a.prefixlen} is out of range")
    addresses: set[str] = set()  # each checked once: thousands of listeners share a few
    for i, lst in enumerate(facts.listeners):
        if (
            lst.address in addresses
            and lst.protocol in _PROTOCOLS
            and lst.family in _FAMILIES
            and 0 <= lst.port <= 65535
        ):
            continue
        path = f"facts.listeners[{i}]"
        _one_of(f"{path}.protocol", lst.protocol, _PROTOCOLS)
        _one_of(f"{path}.family", lst.family, _FAMILIES)
        _address(f"{path}.address", lst.address)
        _port(f"{path}.port", lst.port)
        addresses.add(lst.address)
    for i, pr in enumerate(facts.probes):
        path = f"facts.probes[{i}]"
        _one_of(f"{path}.protocol", pr.protocol, _PROTOCOLS)
        _address(f"{path}.address", pr.address)
        _address(f"{path}.target", pr.target)
        _port(f"{path}.port", pr.port)
        _one_of(f"{path}.outcome", pr.outcome, PROBE_OUTCOMES)
        if pr.state is not None:
            _one_of(f"{path}.state", pr.state, PROBE_STATES)
        if len(pr.evidence) > 20 or any(len(e) > 400 for e in pr.evidence):
            raise FormatError(f"{path}.evidence: more than 20 lines or a line over 400 characters")
    if facts.upnp is not None:
        for i, m in enumerate(facts.upnp.mappings):
            path = f"facts.upnp.mappings[{i}]"
            _one_of(f"{path}.protocol", m.protocol.lower(), _PROTOCOLS)
            _port(f"{path}.external_port", m.external_port)
            _port(f"{path}.internal_port", m.internal_port)


def read_json_file(path: str | Path, what: str, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse a JSON file from elsewhere: bounded size, every failure a FormatError."""
    from exposure_audit.core.safefs import read_input

    p = Path(path)
    try:
        raw = read_input(p, max_bytes)
    except OSError as exc:
        raise FormatError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise FormatError(f"{p}: larger than {max_bytes // (1024 * 1024)} MiB")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{p}: not valid JSON ({exc})") from None
    except RecursionError:
        raise FormatError(f"{p}: JSON nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits, and the like
        why = "a number of more than 4300 digits" if "4300" in str(exc) else str(exc)[:120]
        raise FormatError(f"{p}: not readable JSON ({why})") from None


def load_facts(path: str | Path) -> Facts:
    return facts_from_dict(read_json_file(path, "facts file"), str(path))


__all__ = ["LARGE_DOCUMENT_ROWS", "json_bytes", "json_text"]  # re-exported for callers
