"""JSON text of a record tree (Facts, a report), as collect and the renderers write it.

Apart from serialize.py (which reads and validates documents and imports typing) so
that ``collect`` imports no more than json and the model.
"""

from __future__ import annotations

import io
import json

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
    encode = json.JSONEncoder(
        ensure_ascii=ensure_ascii, default=_fields_dict, check_circular=CHECK_CIRCULAR
    ).encode
    yield from _split(data, encode, 2)


def _split(data: Any, encode: Callable[[Any], str], depth: int) -> Iterator[str]:
    if is_record(data):
        data = _fields_dict(data)
    if depth and type(data) is dict and all(type(k) is str for k in data):
        yield "{"
        for i, (key, value) in enumerate(data.items()):
            yield f"{', ' if i else ''}{encode(key)}: "
            yield from _split(value, encode, depth - 1)
        yield "}"
    elif depth and type(data) in (list, tuple) and len(data) >= _SPLIT_ITEMS:
        yield "["
        for i, item in enumerate(data):
            yield f", {encode(item)}" if i else encode(item)
        yield "]"
    else:
        yield encode(data)


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
