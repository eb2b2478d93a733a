"""JSON text of a record tree (Facts, a report), as collect and the renderers write it.

Apart from serialize.py (which reads and validates documents and imports typing) so
that ``collect`` imports no more than json and the model.
"""

from __future__ import annotations

import io
import json
import operator

from exposure_audit.core.model import Facts
from exposure_audit.core.records import is_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, BinaryIO

# From this many rows (listeners, exposures, findings) a document is written compact:
# indent= makes json use its pure-Python encoder (about 3x slower); `jq .`
# pretty-prints them.
LARGE_DOCUMENT_ROWS = 500


def json_text(data: Any) -> str:
    """Indented JSON text that is always valid UTF-8.

    ``data`` is JSON-able, or a record tree (the same text as
    ``serialize.to_jsonable(data)`` gives, in half the time at 10,000 listeners: json's
    C encoder walks the tree). Bytes that were not UTF-8 in a process name or cmdline
    are kept as lone surrogates; they cannot be encoded, so such a document is written
    with ASCII escapes instead.
    """
    text = "".join([*_pieces(data, ensure_ascii=False), "\n"])
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join([*_pieces(data, ensure_ascii=True), "\n"])
    return text


def json_bytes(data: Any) -> bytes:
    """``json_text(data)`` encoded as UTF-8, for writing: encoded piece by piece (a row
    of a large document at a time), so neither the whole text nor the encoder's list of
    every token of it is ever held beside the bytes."""
    try:
        return _encoded(data, ensure_ascii=False)
    except UnicodeEncodeError:
        return _encoded(data, ensure_ascii=True)


def _encoded(data: Any, ensure_ascii: bool) -> bytes:
    out = io.BytesIO()
    _write(data, out, ensure_ascii)
    return out.getvalue()


def write_json(data: Any, fh: BinaryIO) -> int:
    """Write ``json_bytes(data)`` to ``fh``, a binary file at its start that can seek
    (a staged file: see atomicio.Streamed), piece by piece: the bytes of a large report
    are never held whole. Returns the number of bytes written."""
    try:
        return _write(data, fh, ensure_ascii=False)
    except UnicodeEncodeError:  # a lone surrogate: all again, with ASCII escapes
        fh.seek(0)
        fh.truncate()
        return _write(data, fh, ensure_ascii=True)


def _write(data: Any, fh: BinaryIO, ensure_ascii: bool) -> int:
    size = 0
    for piece in _pieces(data, ensure_ascii):
        size += fh.write(piece.encode("utf-8"))
    return size + fh.write(b"\n")


def _dumps(data: Any, ensure_ascii: bool) -> str:
    indent = 2 if _rows(data) < LARGE_DOCUMENT_ROWS else None
    return json.dumps(
        data,
        indent=indent,
        ensure_ascii=ensure_ascii,
        default=_fields_dict,
        check_circular=CHECK_CIRCULAR,
    )


# The documents written here are trees built by this program (a part may be shared by
# several parents, never contain itself): json's check for cycles, which keeps an id()
# of every list and dict while encoding, is a third of the time of a 10,000-listener
# report and can never fire.
CHECK_CIRCULAR = False

# A list this long in a large document is encoded item by item.
_SPLIT_ITEMS = 64


def _pieces(data: Any, ensure_ascii: bool) -> Iterator[str]:
    """``_dumps(data)`` as consecutive pieces: one piece for a small (indented)
    document; a large (compact) one split at its top-level keys and, one level down,
    at the items of long lists; the same text when joined."""
    if _rows(data) < LARGE_DOCUMENT_ROWS:
        yield _dumps(data, ensure_ascii)
        return
    encoder = json.JSONEncoder(
        ensure_ascii=ensure_ascii, default=_fields_dict, check_circular=CHECK_CIRCULAR
    )
    yield from _split(data, encoder, 2, "")


def _split(data: Any, encoder: json.JSONEncoder, depth: int, name: str) -> Iterator[str]:
    encode = encoder.encode
    if is_record(data):
        data = _fields_dict(data)
    if depth and type(data) is dict and all(type(k) is str for k in data):
        yield "{"
        for i, (key, value) in enumerate(data.items()):
            yield f"{', ' if i else ''}{encode(key)}: "
            yield from _split(value, encoder, depth - 1, key)
        yield "}"
    elif depth and type(data) in (list, tuple) and len(data) >= _SPLIT_ITEMS:
        yield "["
        varying = _VARYING.get(name)
        if varying:
            yield from _rows_texts(data, encoder, varying)
        else:
            for i, item in enumerate(data):
                yield f", {encode(item)}" if i else encode(item)
        yield "]"
    else:
        yield encode(data)


# The keys of a long list's rows whose values differ from row to row. The rest of an
# exposure's or finding's document is the same for all listeners of one process bound
# alike (the same objects: reporting/document.py shares them), and is encoded once per
# such shape (_rows_texts): at 11,000 exposures, half the time of encoding each row.
# Named here rather than found out: which keys differ is known where the rows are
# built, and guessing it from a sample would fail on the first rows of a sorted list.
_VARYING: dict[str, tuple[str, ...]] = {
    "exposures": ("id", "port", "findings"),
    "findings": ("message", "remediation", "fingerprint", "exposure_id", "listener"),
}

# Values of these types are part of a row's shape by value and type (equal values of
# one type, the same text: True == 1 but is written otherwise); any other by identity
# (the object is alive in the document while it is encoded, so an id is never reused:
# the same id, the same object, the same text).
_BY_VALUE = frozenset({str, int, bool, type(None)})

# Stands for a varying value in a shape's text, which is then cut where it occurs.
_SENTINEL = "\x00exposure-audit row value {}\x00"

_UNSEEN: list[str] = []  # a shape not met yet

# A list whose rows are mostly unlike (more shapes than this, and than a quarter of
# its rows so far) is not worth it: the rest is encoded row by row.
_MAX_SHAPES = 64


def _rows_texts(
    rows: list[Any] | tuple[Any, ...], encoder: json.JSONEncoder, varying: tuple[str, ...]
) -> Iterator[str]:
    """``encoder.encode(row)`` for each of ``rows`` (after ", " but for the first), the
    same text: for a dict with the first row's keys (in order), its shape's text (all
    keys but ``varying``; its scalars by value, containers by identity) with the row's
    values of ``varying`` put in. Anything else (other keys, a record, a row the shape
    cannot be taken of) is encoded as it is."""
    encode = encoder.encode
    first = rows[0]
    if type(first) is not dict or not set(varying) <= set(first):
        for n, row in enumerate(rows):
            yield f", {encode(row)}" if n else encode(row)
        return
    keys = list(first)
    varied = [k for k in keys if k in varying]  # in the order of the text
    fixed = [k for k in keys if k not in varying]
    by_id = {k for k in fixed if type(first[k]) not in _BY_VALUE}
    strenc = (
        json.encoder.encode_basestring_ascii
        if encoder.ensure_ascii
        else json.encoder.encode_basestring
    )
    shapes: dict[Any, list[str] | None] = {}
    made = 0
    get_value, get_id = _getters(fixed, by_id)
    sep = ""
    for n, row in enumerate(rows):
        if n == 1:
            sep = ", "
        if type(row) is not dict or list(row) != keys:
            yield sep + encode(row)
            continue
        values = get_value(row)
        shape: Any = (values, tuple(map(type, values)), tuple(map(id, get_id(row))))
        try:
            pieces = shapes.get(shape, _UNSEEN)
        except TypeError:  # an unhashable value where the first row had a scalar
            pieces = _UNSEEN
        if pieces is _UNSEEN:
            if not set(map(type, values)) <= _BY_VALUE:  # a list, a float, a record...
                by_id |= {k for k in fixed if type(row[k]) not in _BY_VALUE}
                get_value, get_id = _getters(fixed, by_id)
                shapes.clear()  # keys of the other kind
                yield sep + encode(row)
                continue
            made += 1
            if made > _MAX_SHAPES and made * 4 > n:  # mostly unlike: not worth it
                for rest in rows[n:]:
                    yield sep + encode(rest)
                    sep = ", "
                return
            pieces = shapes[shape] = _template(row, varied, encode, strenc)
        if pieces is None:
            yield sep + encode(row)
            continue
        out = [sep, pieces[0]]
        for i, key in enumerate(varied):
            v = row[key]
            tp = type(v)
            if tp is str:
                out.append(strenc(v))
            elif tp is int:
                out.append(int.__repr__(v))
            elif tp is list and all(type(s) is str for s in v):
                out.append(f"[{', '.join(map(strenc, v))}]")
            else:
                out.append(encode(v))
            out.append(pieces[i + 1])
        yield "".join(out)


def _getters(
    fixed: list[str], by_id: set[str]
) -> tuple[
    Callable[[dict[str, Any]], tuple[Any, ...]], Callable[[dict[str, Any]], tuple[Any, ...]]
]:
    return _getter([k for k in fixed if k not in by_id]), _getter([k for k in fixed if k in by_id])


def _getter(keys: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A row's values of ``keys``, as a tuple."""
    if len(keys) >= 2:
        return operator.itemgetter(*keys)
    return lambda row: tuple(row[k] for k in keys)


def _template(
    row: dict[str, Any],
    varied: list[str],
    encode: Callable[[Any], str],
    strenc: Callable[[str], str],
) -> list[str] | None:
    """The text of ``row`` cut where its values of ``varied`` go, or None when that
    cannot be told (the text has a sentinel's text elsewhere too)."""
    stand_in = dict(row)
    marks = []
    for i, key in enumerate(varied):
        stand_in[key] = _SENTINEL.format(i)
        marks.append(strenc(stand_in[key]))
    text = encode(stand_in)
    pieces = []
    start = 0
    for mark in marks:
        at = text.find(mark, start)
        if at < 0 or text.count(mark) != 1:
            return None
        pieces.append(text[start:at])
        start = at + len(mark)
    pieces.append(text[start:])
    return pieces


def facts_document(facts: Facts) -> dict[str, Any]:
    """The Facts as written (schema 2.x): each process once, in ``processes``, and each
    listener pointing at its process by ``pid`` (null: not attributed).

    Values are records or JSON-able. Many sockets often share one process (a server's
    workers, a Java process with a long command line): written once each, the document
    for 10,000 listeners is a fifth of the size and written in a third of the time. Two
    different ProcessInfo for one pid (only possible in a hand-edited file: a scan
    reads each process once) keep the first.
    """
    doc = facts.__dict__.copy()
    processes: dict[int, Any] = {}
    listeners = []
    for lst in facts.listeners:
        row = lst.__dict__.copy()
        proc = row.pop("process")
        if proc is None or proc.pid is None:
            row["pid"] = None
        else:
            row["pid"] = proc.pid
            if proc.pid not in processes:
                processes[proc.pid] = proc
        listeners.append(row)
    doc["listeners"] = listeners
    doc["processes"] = sorted(processes.values(), key=_pid)
    return doc


def _pid(proc: Any) -> int:
    pid: int = proc.pid
    return pid


def _fields_dict(obj: Any) -> dict[str, Any]:
    """json.dumps' hook for a record: its fields, in order, as a dict (Facts: see
    facts_document).

    A record's ``__dict__`` is exactly that: its __init__ sets each field in
    declaration order (and collectors that build one without __init__ keep that order;
    tests compare this text with to_jsonable's).
    """
    if type(obj) is Facts:
        return facts_document(obj)
    if not is_record(obj):
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
    doc: dict[str, Any] = obj.__dict__
    return doc


def _rows(data: Any) -> int:
    """Roughly how many rows a document has (listeners, exposures, findings)."""
    if is_record(data):
        data = data.__dict__  # a record tree: the same keys as its JSON object
    if not isinstance(data, dict):
        return 0
    lists = (data.get(k) for k in ("listeners", "exposures", "findings"))
    rows = sum(len(v) for v in lists if isinstance(v, (list, tuple)))
    return rows + _rows(data.get("facts"))
