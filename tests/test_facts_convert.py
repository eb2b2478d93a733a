"""Reading a Facts document into the model (serialize.from_jsonable, check_values): every
wrong value is a FormatError naming where it is, however deep, and every right one
reads back as it was written, whichever way the converter takes (values taken as they
are, or checked one by one)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exposure_audit.core.errors import FormatError
from exposure_audit.core.model import Facts, Interface, Listener, ProcessInfo
from exposure_audit.core.serialize import check_values, from_jsonable, to_jsonable


def _listener(i: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "protocol": "tcp",
        "family": "ipv4",
        "address": "0.0.0.0",
        "port": 8000 + i,
        "v6only": None,
        "uid": 1000,
        "process": {
            "pid": 40 + i,
            "name": "node",
            "cmdline": ["node", "server.js", f"--port={8000 + i}"],
            "environment": [["NODE_OPTIONS", "--inspect"]],
        },
        "notes": ["note"],
    }
    row.update(changes)
    return row


def _facts(listeners: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "host": {
            "hostname": "h",
            "os": "Linux",
            "os_release": "Debian",
            "kernel": "6.1",
            "privileged": True,
            "uid": 0,
            "tool_version": "0.1.0",
            "python": "3.11",
        },
        "collected_at": "2026-12-04T10:00:00Z",
        "interfaces": [
            {
                "name": "lo",
                "up": True,
                "kind": "loopback",
                "addresses": [
                    {
                        "address": "127.0.0.1",
                        "prefixlen": 8,
                        "family": "ipv4",
                        "scope": "loopback",
                        "network": "127.0.0.0/8",
                    }
                ],
            }
        ],
        "listeners": listeners,
    }


def test_a_document_reads_back_as_written() -> None:
    doc = _facts([_listener(i) for i in range(5)])
    facts = from_jsonable(Facts, copy.deepcopy(doc), "facts")
    check_values(facts)
    assert facts.listeners[3] == Listener(
        "tcp",
        "ipv4",
        "0.0.0.0",
        8003,
        uid=1000,
        process=ProcessInfo(
            pid=43,
            name="node",
            cmdline=("node", "server.js", "--port=8003"),
            environment=(("NODE_OPTIONS", "--inspect"),),
        ),
        notes=("note",),
    )
    assert type(facts.listeners[0].process.cmdline) is tuple  # type: ignore[union-attr]
    assert facts.interfaces[0].addresses[0].prefixlen == 8
    again = to_jsonable(facts)
    assert again["processes"][3]["cmdline"] == ["node", "server.js", "--port=8003"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": "8000"}, "facts.listeners[2].port: expected an integer, got str"),
        ({"port": True}, "facts.listeners[2].port: expected an integer, got bool"),
        ({"port": 80.0}, "facts.listeners[2].port: expected an integer, got float"),
        ({"v6only": 1}, "facts.listeners[2].v6only: expected true/false, got int"),
        ({"uid": "root"}, "facts.listeners[2].uid: expected an integer, got str"),
        ({"notes": "x"}, "facts.listeners[2].notes: expected a list, got str"),
        ({"notes": ["a", 5]}, "facts.listeners[2].notes[1]: expected a string, got int"),
        ({"process": []}, "facts.listeners[2].process: expected an object, got list"),
        ({"process": {"pid": "7"}}, "facts.listeners[2].process.pid: expected an integer"),
        ({"process": {"name": "x"}}, "facts.listeners[2].process: missing key 'pid'"),
        ({"process": {"pid": 1, "nam": "x"}}, "facts.listeners[2].process: unknown key 'nam'"),
        (
            {"process": {"pid": 1, "cmdline": ["a", None]}},
            "facts.listeners[2].process.cmdline[1]: expected a string, got NoneType",
        ),
        (
            {"process": {"pid": 1, "environment": [["A", "1"], ["B", 2]]}},
            "facts.listeners[2].process.environment[1][1]: expected a string, got int",
        ),
        ({"prot": "tcp"}, "facts.listeners[2]: unknown key 'prot'"),
        ({"protocol": None}, "facts.listeners[2].protocol: expected a string, got NoneType"),
    ],
)
def test_a_wrong_value_is_named_where_it_is(change: dict[str, Any], message: str) -> None:
    doc = _facts([_listener(i) for i in range(2)] + [_listener(2, **change)])
    with pytest.raises(FormatError) as err:
        check_values(from_jsonable(Facts, doc, "facts"))
    assert str(err.value).startswith(message), str(err.value)


def test_values_checked_once_for_many_listeners_still_name_a_bad_one() -> None:
    # check_values takes an address it has seen as good: the other values of a later
    # listener on it are still checked, and named by that listener's index
    rows = [_listener(i) for i in range(6)]
    rows[4]["protocol"] = "sctp"
    rows[5]["port"] = 70000
    with pytest.raises(FormatError, match=r"facts\.listeners\[4\]\.protocol: 'sctp'"):
        check_values(from_jsonable(Facts, _facts(rows), "facts"))
    rows[4]["protocol"] = "tcp"
    with pytest.raises(FormatError, match=r"facts\.listeners\[5\]\.port: port 70000"):
        check_values(from_jsonable(Facts, _facts(rows), "facts"))
    rows[5]["port"] = 80
    rows[5]["family"] = "ipv5"
    with pytest.raises(FormatError, match=r"facts\.listeners\[5\]\.family"):
        check_values(from_jsonable(Facts, _facts(rows), "facts"))


def test_the_root_name_is_the_caller_s() -> None:
    with pytest.raises(FormatError, match=r"^Interface\.up: expected true/false"):
        from_jsonable(Interface, {"name": "lo", "up": "yes", "kind": "loopback"})
    with pytest.raises(FormatError, match=r"^ifaces\[0\]: expected an object"):
        from_jsonable(Interface, [], "ifaces[0]")
