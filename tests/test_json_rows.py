"""Large documents are written with their rows encoded once per shape
(core/jsonout.py ``_rows_texts``): the bytes are exactly json.dumps' compact text.

Every expectation here is json.dumps' own text of the document (default separators,
ensure_ascii as the document needs), worked out without jsonout.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import scale_fixture

from exposure_audit.analysis.evaluate import EvaluateOptions, evaluate
from exposure_audit.core import jsonout, records
from exposure_audit.core.jsonout import json_bytes, json_text, write_json
from exposure_audit.core.model import Facts, Listener, ProcessInfo
from exposure_audit.core.serialize import load_facts, to_jsonable
from exposure_audit.reporting import document
from exposure_audit.reporting.document import build_report

FIXTURES = sorted(Path(__file__).resolve().parent.joinpath("fixtures", "facts").glob("*.json"))
STAMP = "2026-12-04T14:00:00Z"


def _expected(doc: Any) -> bytes:
    """json.dumps' compact text, with ASCII escapes when it cannot be UTF-8 (a lone
    surrogate: a process name that was not UTF-8)."""
    text = json.dumps(doc, ensure_ascii=False, default=_plain) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(doc, default=_plain) + "\n").encode("ascii")


def _plain(obj: Any) -> dict[str, Any]:
    """json.dumps' hook for a record put in a document: its fields, in order."""
    return {f.name: getattr(obj, f.name) for f in records.fields(type(obj))}


def _check(doc: Any) -> bytes:
    want = _expected(doc)
    assert json_bytes(doc) == want
    fh = io.BytesIO()
    assert write_json(doc, fh) == len(want)
    assert fh.getvalue() == want
    assert json_text(doc) == want.decode("utf-8")
    return want


@pytest.fixture(scope="module")
def scale_report() -> dict[str, Any]:
    return scale_fixture.report()


def _copy(report: dict[str, Any]) -> dict[str, Any]:
    """A copy to change rows of; the rest still shares containers as built."""
    out = dict(report)
    out["exposures"] = [dict(x) for x in report["exposures"]]
    return out


def test_a_10000_listener_report_is_json_dumps_text(scale_report: dict[str, Any]) -> None:
    assert len(scale_report["exposures"]) >= 11_000
    want = _check(scale_report)
    assert b"\n" not in want[:-1]  # compact: the row path, not the indented one


def test_rows_alike_share_their_parts(scale_report: dict[str, Any]) -> None:
    """What makes rows alike one shape: one list per distinct notes / interface_kinds
    (and places, process) across all exposures, not one per row."""
    rows = scale_report["exposures"]
    for key in ("notes", "interface_kinds", "process", "reach", "scopes"):
        assert len({id(x[key]) for x in rows}) < 40, key
    # every value but id, port and findings: rows alike are copies of one row
    fixed = [k for k in rows[0] if k not in ("id", "port", "findings")]
    assert len({tuple(id(x[k]) for k in fixed) for x in rows}) < 40
    assert len({id(x["findings"]) for x in rows}) == len(rows)  # differs: fresh
    findings = scale_report["findings"]
    assert len(findings) > 5000
    for key in ("exposure", "references", "tags", "identity", "upnp_mappings"):
        assert len({id(f[key]) for f in findings}) < 40, key


def test_rows_alike_are_the_rows_built_one_by_one() -> None:
    """Each exposure's row is a copy of one made for the rows alike: the same as the row
    built for it alone, for every listener of the 11,000 and of a host whose listeners
    differ from their alikes in one field each."""
    facts = scale_fixture.build()
    odd: list[Listener] = []
    for n, lst in enumerate(facts.listeners[:400]):
        change: dict[str, Any] = [
            {"v6only": True},
            {"v6only": 1},  # equal to True, written otherwise
            {"uid": 1},
            {"uid": True},
            {"zone": "eth0"},
            {"bound_interface": "wlan0"},
            {"notes": ("a note",)},
            {"family": "ipv6", "address": "::"},
            {"process": None},
            {},
        ][n % 10]
        odd.append(records.replace(lst, **change))
    for f in (facts, records.replace(facts, listeners=tuple(odd))):
        evaluation = evaluate(f, EvaluateOptions())
        report = build_report(evaluation, generated_at=STAMP)
        words = document.Wording.of(f)
        ids = document._exposure_ids(evaluation.exposures)
        by_id = {x["id"]: x for x in report["exposures"]}
        for i, x in enumerate(evaluation.exposures):
            mine = [g for g in evaluation.findings if g.exposure is x]
            alone = document._exposure_doc(x, ids[i], mine, words)
            assert json.dumps(by_id[ids[i]]) == json.dumps(alone)


def test_tricky_findings(scale_report: dict[str, Any]) -> None:
    doc = dict(scale_report)
    rows = doc["findings"] = [dict(f) for f in scale_report["findings"]]
    rows[10]["waived"] = 0
    rows[11]["listener"] = None
    rows[12]["message"] = ["a", "list"]
    rows[13]["exposure"] = dict(rows[13]["exposure"], widest_scope="lan")
    rows[14] = dict(reversed(list(rows[14].items())))
    rows[15]["title"] = "Ünïcode title"
    rows[16]["tags"] = 1
    rows[17]["tags"] = True
    _check(doc)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_hosts_grown_to_a_large_report(path: Path) -> None:
    """Each fixture host's listeners repeated on more ports (and a copy of each process
    per block), through the real resolution and rules, past LARGE_DOCUMENT_ROWS."""
    facts = load_facts(path)
    grown: list[Listener] = []
    block = 0
    while len(grown) < jsonout.LARGE_DOCUMENT_ROWS + 100:
        block += 1
        for lst in facts.listeners:
            proc = lst.process
            if proc is not None and block % 3 == 0:
                proc = records.replace(proc, pid=(proc.pid or 0) + 100_000 * block)
            port = (lst.port + 97 * block) % 65536
            grown.append(records.replace(lst, port=port, process=proc))
    big = records.replace(facts, listeners=tuple(grown))
    report = build_report(evaluate(big, EvaluateOptions()), generated_at=STAMP)
    assert len(report["exposures"]) >= jsonout.LARGE_DOCUMENT_ROWS
    _check(report)
    # the Facts document (collect's): rows of listeners by pid
    assert json_bytes(big) == _expected(to_jsonable(big))


def test_non_ascii_and_lone_surrogates(scale_report: dict[str, Any]) -> None:
    doc = _copy(scale_report)
    rows = doc["exposures"]
    for i in (3, 500, 9000):
        rows[i]["process"] = dict(rows[i]["process"] or {}, name="nöde ✓", cmdline=["ü", "x"])
    assert "nöde ✓".encode() in _check(doc)
    # one lone surrogate anywhere: the whole document again with ASCII escapes
    rows[7000]["process"] = dict(rows[7000]["process"] or {}, cmdline=["bad\udcff"])
    want = _check(doc)
    assert b"bad\\udcff" in want and b"n\\u00f6de" in want
    # and in a varying value (the id), in a row whose shape is met before and after
    doc2 = _copy(scale_report)
    doc2["exposures"][20]["id"] = "tcp/0.0.0.0/\udcfe"
    assert b"\\udcfe" in _check(doc2)


def test_values_that_look_like_the_sentinels(scale_report: dict[str, Any]) -> None:
    """A row whose fixed text holds a sentinel's text cannot be cut: encoded whole."""
    doc = _copy(scale_report)
    rows = doc["exposures"]
    for i, n in ((0, 0), (1, 1), (2, 2), (40, 0)):
        rows[i]["firewall_evidence"] = jsonout._SENTINEL.format(n)
    rows[41]["id"] = jsonout._SENTINEL.format(0)  # a varying value: fine as well
    rows[42]["findings"] = [jsonout._SENTINEL.format(2), "x"]
    want = _check(doc)
    assert want.count(json.dumps(jsonout._SENTINEL.format(0)).encode()) == 3


def test_tricky_rows(scale_report: dict[str, Any]) -> None:
    """Rows whose text differs from a shape already met in ways a wrong shape key
    would miss: equal values of other types (True == 1 == 1.0, 0.0 == -0.0), keys in
    another order, keys added or missing, a record or a non-dict as a row, a container
    where others have a scalar, a container equal to but not the one of its alikes."""
    doc = _copy(scale_report)
    rows = doc["exposures"]
    base = rows[100]
    fixed = [k for k in base if k not in ("id", "port", "findings")]
    alike = [
        i for i, x in enumerate(rows) if all(x[k] is base[k] or x[k] == base[k] for k in fixed)
    ]
    assert len(alike) > 50
    i = iter(alike[1:])
    rows[next(i)]["uid"] = 1
    rows[next(i)]["uid"] = True
    rows[next(i)]["uid"] = 1.0
    rows[next(i)]["uid"] = 0.0
    rows[next(i)]["uid"] = -0.0
    rows[next(i)]["v6only"] = 0
    rows[next(i)]["port"] = True  # a varying value of another type
    rows[next(i)]["port"] = 8.5
    rows[next(i)]["findings"] = ["a", 1, None]
    rows[next(i)]["findings"] = ("t",)
    k = next(i)
    rows[k] = dict(reversed(list(rows[k].items())))  # the same keys, another order
    k = next(i)
    rows[k] = {**rows[k], "extra": [1]}
    k = next(i)
    del rows[k]["zone"]
    k = next(i)
    rows[k] = {"id": rows[k]["id"]}
    k = next(i)
    rows[k]["address"] = ["not", "a", "scalar"]  # reclassified: by identity from here on
    rows[next(i)]["address"] = "10.0.0.1"
    k = next(i)
    rows[k]["notes"] = [*rows[k]["notes"], "a note"]  # equal-looking, new list
    k = next(i)
    rows[k]["process"] = None
    k = next(i)
    rows[k]["process"] = dict(rows[k]["process"] or {}, pid=-1)
    k = next(i)
    rows[k] = ProcessInfo(pid=5, name="a record as a row")  # type: ignore[assignment]
    k = next(i)
    rows[k] = "a string row"  # type: ignore[assignment]
    k = next(i)
    rows[k]["severity"] = "critical\u2028"
    want = _check(doc)
    assert b'"uid": true' in want and b'"uid": 1.0' in want and b'"uid": -0.0' in want


def test_tricky_values_shared_by_rows(scale_report: dict[str, Any]) -> None:
    """Rows alike share their values (document.py copies one row for all): values that
    equal another's but are written otherwise (True, 1.0, -0.0, a list equal to
    another), non-ASCII text and a lone surrogate, each the same object in several rows
    alike, before and after rows that share nothing."""
    doc = _copy(scale_report)
    rows = doc["exposures"]
    base = rows[100]
    fixed = [k for k in base if k not in ("id", "port", "findings")]
    alike = [i for i, x in enumerate(rows) if all(x[k] is base[k] for k in fixed)]
    assert len(alike) > 200
    shared: list[dict[str, Any]] = [
        {"uid": True},
        {"uid": 1.0},
        {"uid": -0.0},
        {"uid": 1},
        {"notes": list(base["notes"])},
        {"firewall_evidence": "Ünïcode ✓"},
        {"firewall_evidence": "bad\udcff"},
        {"firewall_evidence": jsonout._SENTINEL.format(1)},
        {"process": None},
    ]
    for n, i in enumerate(alike[1:]):
        if n < 9 * 12:
            rows[i].update(shared[n % 9])  # the same objects, each in 12 rows
        elif n < 9 * 12 + 80:
            rows[i]["address"] = f"10.0.0.{n}"  # a shape of its own
    want = _check(doc)
    assert b'"uid": true' in want and b'"uid": 1.0' in want and b"\\udcff" in want


def test_first_row_unlike_the_rest(scale_report: dict[str, Any]) -> None:
    """The first row sets the keys (and which are scalars): here it has no process and
    an int where the rest have a string."""
    doc = _copy(scale_report)
    rows = doc["exposures"]
    rows[0]["process"] = None
    rows[0]["firewall_evidence"] = 7
    rows[1] = dict(rows[1], extra=True)
    _check(doc)
    doc["exposures"] = [ProcessInfo(pid=1), *rows[1:]]  # a record: the first row
    _check(doc)


def test_rows_all_unlike(scale_report: dict[str, Any]) -> None:
    """Every row its own shape: given up on after a few, still the same text."""
    doc = _copy(scale_report)
    for n, row in enumerate(doc["exposures"]):
        row["address"] = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
    _check(doc)


def test_short_lists_and_small_documents(scale_report: dict[str, Any]) -> None:
    short = {
        "exposures": copy.deepcopy(scale_report["exposures"][:63]),
        "findings": scale_report["findings"][:5],
        "facts": scale_report["facts"],  # 11,000 listener rows: a large document
    }
    assert b"\n" not in _check(short)[:-1]
    small = {"exposures": scale_report["exposures"][:300]}
    text = json_text(small)
    assert text == json.dumps(small, indent=2, ensure_ascii=False) + "\n"


def test_a_live_shaped_facts_document() -> None:
    """collect's document for the 11,000-listener host (rows of listeners by pid)."""
    facts: Facts = scale_fixture.build()
    assert json_bytes(facts) == _expected(to_jsonable(facts))
