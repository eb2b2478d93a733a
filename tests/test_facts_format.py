"""Facts documents 2.x: a process table, listeners pointing into it by pid; 1.x still read."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from netns import cli_argv

from exposure_audit.core import records
from exposure_audit.core.errors import FormatError
from exposure_audit.core.jsonout import json_bytes
from exposure_audit.core.model import FACTS_SCHEMA_VERSION, Listener, ProcessInfo
from exposure_audit.core.serialize import facts_from_dict, load_facts, to_jsonable

FIXTURES = sorted(Path("tests/fixtures/facts").glob("*.json"))


def _shared(n: int) -> tuple:
    """n listeners over 4 processes with long command lines, one listener unattributed."""
    procs = [
        ProcessInfo(
            pid=900 + i, name="java", exe="/usr/bin/java", cmdline=("java", "-cp", "x" * 600)
        )
        for i in range(4)
    ]
    return tuple(
        Listener("tcp", "ipv4", "0.0.0.0", 20000 + i, uid=0, inode=5000 + i,
                 process=None if i == 0 else procs[i % 4])
        for i in range(n)
    )  # fmt: skip


def test_fixtures_are_1x_and_round_trip_through_2x() -> None:
    assert FACTS_SCHEMA_VERSION.startswith("2.")
    assert FIXTURES
    for path in FIXTURES:
        raw = json.loads(path.read_text())
        assert raw["schema_version"].startswith("1."), path  # the old layout stays readable
        facts = load_facts(path)
        doc = json.loads(json_bytes(facts))
        assert doc["schema_version"] == FACTS_SCHEMA_VERSION
        assert facts_from_dict(doc) == facts, path
        assert to_jsonable(facts) == doc  # the same document both ways of writing it


def test_processes_are_written_once_and_listeners_point_at_them() -> None:
    facts = records.replace(load_facts(FIXTURES[0]), listeners=_shared(1000))
    doc = json.loads(json_bytes(facts))
    assert [p["pid"] for p in doc["processes"]] == [900, 901, 902, 903]
    assert all("process" not in row for row in doc["listeners"])
    assert doc["listeners"][0]["pid"] is None and doc["listeners"][5]["pid"] == 901
    assert facts_from_dict(doc) == facts
    # Written inline (1.x), the 600-character command line repeats for every socket.
    inline = dict(doc, schema_version="1.0", processes=None)
    inline.pop("processes")
    inline["listeners"] = [to_jsonable(lst) for lst in facts.listeners]
    assert facts_from_dict(inline) == facts
    assert len(json.dumps(doc)) * 4 < len(json.dumps(inline))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["listeners"][1].update(pid=4242), "listeners[1].pid: no process 4242"),
        (lambda d: d["listeners"][1].update(pid=True), "listeners[1].pid: expected an integer"),
        (lambda d: d["listeners"][1].update(process={}), "unknown key 'process' (2.x: 'pid')"),
        (lambda d: d["processes"].append(dict(d["processes"][0])), "pid 900 is listed twice"),
        (lambda d: d["processes"].append({"pid": "9"}), "processes[4].pid: expected an integer"),
        (lambda d: d.update(processes={}), "facts.processes: expected a list"),
        (lambda d: d["processes"][0].update(cmdline="java"), "cmdline: expected a list"),
        (lambda d: d.update(schema_version="3.0"), "reads 1.x and 2.x"),
    ],
)
def test_broken_2x_documents_are_clear_errors(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    facts = records.replace(load_facts(FIXTURES[0]), listeners=_shared(8))
    doc = json.loads(json_bytes(facts))
    mutate(doc)
    with pytest.raises(FormatError, match=re.escape(message)):
        facts_from_dict(doc, "f.json")


def test_run_facts_reads_a_written_2x_file_and_rejects_a_broken_one(tmp_path: Path) -> None:
    facts = records.replace(load_facts(FIXTURES[0]), listeners=_shared(8))
    good = tmp_path / "good.json"
    good.write_bytes(json_bytes(facts))
    out = subprocess.run([*cli_argv(), "run", "--facts", str(good), "--fail-on", "none"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "java" in out.stdout
    doc = json.loads(good.read_text())
    doc["listeners"][2]["pid"] = 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    out = subprocess.run([*cli_argv(), "run", "--facts", str(bad)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert out.returncode == 2
    assert "listeners[2].pid: no process 1 in facts.processes" in out.stderr
    assert "Traceback" not in out.stderr


def test_kinds_from_before_2_3_are_unknown_unless_the_document_shows_a_container() -> None:
    """Facts before 2.3 named a bridge the containers' from its name alone; with no
    engine state recorded, such a bridge loads as a plain ``bridge`` (a network), unless
    the document itself shows a container's address in its network."""
    raw = json.loads(Path("tests/fixtures/facts/docker_host.json").read_text())
    facts = facts_from_dict(raw)
    kinds = {i.name: i.kind for i in facts.interfaces}
    assert kinds["docker0"] == "bridge" and kinds["br-5b1f0e2d9c3a"] == "bridge"
    assert kinds["veth1a2b3c4"] == "veth"
    assert all(i.evidence is None for i in facts.interfaces)

    raw["published"] = [
        {"protocol": "tcp", "host_port": 8080, "target_address": "172.17.0.2",
         "target_port": 80, "published_by": "docker"}
    ]  # fmt: skip
    facts = facts_from_dict(raw)
    (docker0,) = [i for i in facts.interfaces if i.name == "docker0"]
    assert docker0.kind == "container_bridge"
    assert docker0.evidence and "container's address" in docker0.evidence
    kinds = {i.name: i.kind for i in facts.interfaces}
    assert kinds["br-5b1f0e2d9c3a"] == "bridge"  # no container shown on it

    # A 2.3 document is taken as written: its kinds were decided from the evidence.
    doc = json.loads(json_bytes(facts))
    assert facts_from_dict(doc) == facts


def test_listeners_of_one_pid_share_one_process_when_read() -> None:
    """As a scan makes them (one ProcessInfo per process): the report then holds one
    process document per process, and its rows alike encode once (core/jsonout.py)."""
    facts = records.replace(load_facts(FIXTURES[0]), listeners=_shared(40))
    back = facts_from_dict(json.loads(json_bytes(facts)))
    assert back == facts
    procs = [lst.process for lst in back.listeners]
    assert procs[0] is None
    assert len({id(p) for p in procs[1:]}) == 4
    assert procs[1] is procs[5] is procs[37]
    # A process's error still names the first listener that reads it; a process no
    # listener points at is dropped unread, as before.
    doc = json.loads(json_bytes(facts))
    doc["processes"][1]["name"] = 5
    doc["processes"].append({"pid": 77, "name": 5})
    with pytest.raises(FormatError, match=re.escape("f.json: facts.listeners[1].process.name:")):
        facts_from_dict(doc, "f.json")
    doc["processes"][1]["name"] = "java"
    assert facts_from_dict(doc, "f.json") == facts
