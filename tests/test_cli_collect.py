"""`exposure-audit collect`: the installed CLI, on this host (--no-upnp) and in namespaces."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netns import cli_argv, namespaces, requires_netns, unique

from exposure_audit.commands.collect import facts_json
from exposure_audit.core import records
from exposure_audit.core.model import ProcessInfo
from exposure_audit.core.serialize import facts_to_dict, json_bytes, load_facts

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def cli(*args: str, **kw: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1"}
    return subprocess.run(  # type: ignore[call-overload]
        [*cli_argv(), *args], capture_output=True, text=True, timeout=60, env=env, **kw
    )


def test_collect_to_stdout_is_facts_json() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = cli("collect", "--no-upnp")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["schema_version"]
    assert data["upnp"]["status"] == "disabled"
    mine = [
        lst for lst in data["listeners"] if lst["port"] == port and lst["address"] == "127.0.0.1"
    ]
    assert len(mine) == 1
    assert mine[0]["pid"] in (os.getpid(), None)
    assert [p["pid"] for p in data["processes"]] == sorted(
        {x["pid"] for x in data["listeners"]} - {None}
    )
    assert any(i["name"] == "lo" for i in data["interfaces"])


def test_collect_output_file_reads_back_identically(tmp_path: Path) -> None:
    out = tmp_path / "facts.json"
    res = cli("collect", "--no-upnp", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert f"wrote {out}" in res.stderr
    raw = json.loads(out.read_text(encoding="utf-8"))
    facts = load_facts(out)
    assert facts_to_dict(facts) == raw
    assert [p.name for p in tmp_path.iterdir()] == ["facts.json"]  # no temporary left


def test_collect_dash_means_stdout(tmp_path: Path) -> None:
    res = cli("collect", "--no-upnp", "-o", "-", cwd=tmp_path)
    assert res.returncode == 0
    json.loads(res.stdout)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "facts.json"
    res = cli("collect", "--no-upnp", "-o", str(missing))
    assert res.returncode == 2
    assert "cannot write" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "no").exists()

    target = tmp_path / "a-directory"
    target.mkdir()
    res = cli("collect", "--no-upnp", "-o", str(target))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left beside it
    assert list(target.iterdir()) == []


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare(1) to mount a full tmpfs in a private mount namespace",
)
def test_full_disk_keeps_the_previous_file_whole(tmp_path: Path) -> None:
    """A real ENOSPC: a one-page tmpfs (private mount namespace) already holding the old
    file. The new write fails; the old file is untouched and no temporary remains."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    old = '{"old": "' + "x" * 3000 + '"}\n'
    script = (
        f"mount -t tmpfs -o size=4k tmpfs {mnt} && "
        f"printf '%s' '{old}' > {mnt}/facts.json && "
        f"{' '.join(cli_argv())} collect --no-upnp -o {mnt}/facts.json; "
        f"echo rc=$?; ls -a {mnt}; cat {mnt}/facts.json"
    )
    res = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1"},
    )
    assert "rc=2" in res.stdout, res.stdout + res.stderr
    assert "cannot write" in res.stderr
    listing = res.stdout.split("rc=2", 1)[1]
    assert ".tmp" not in listing
    assert old in res.stdout


def test_garbage_igd_is_never_reached_with_no_upnp() -> None:
    start = time.monotonic()
    res = cli("collect", "--no-upnp", "--igd", "http://[garbage::/x", "--upnp-timeout", "30")
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - start < 15
    data = json.loads(res.stdout)
    assert data["upnp"]["status"] == "disabled"
    assert data["upnp"]["location"] is None
    assert "--igd ignored" in res.stderr


def test_env_no_upnp_is_the_default() -> None:
    res = cli("collect", "--igd", "http://169.254.169.254/rootDesc.xml")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["upnp"]["status"] == "disabled"
    assert "--igd ignored: UPnP is off (EXPOSURE_AUDIT_NO_UPNP is set)" in res.stderr


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e9", "soon"])
def test_bad_upnp_timeout_is_a_usage_error(value: str) -> None:
    res = cli("collect", "--no-upnp", f"--upnp-timeout={value}")
    assert res.returncode == 2
    assert "upnp-timeout" in res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout == ""


def test_help() -> None:
    res = cli("collect", "--help")
    assert res.returncode == 0
    for word in ("--no-upnp", "--igd", "--upnp-timeout", "-o FILE", "atomically", "run --facts"):
        assert word in res.stdout


def test_non_utf8_text_is_still_written_as_valid_json(tmp_path: Path) -> None:
    facts = load_facts(FIXTURES / "laptop_cafe.json")
    bad = ProcessInfo(pid=1, name="bad\udcff", cmdline=("x\udcfe",))
    lst = records.replace(facts.listeners[0], process=bad)
    facts = records.replace(facts, listeners=(lst,))
    text = facts_json(facts)
    assert json_bytes(facts) == text.encode("utf-8")
    path = tmp_path / "f.json"
    path.write_bytes(text.encode("utf-8"))
    back = load_facts(path)
    assert back.listeners[0].process is not None
    assert back.listeners[0].process.name == "bad\udcff"


def test_facts_json_is_the_text_of_to_jsonable() -> None:
    """facts_json lets json's encoder walk the dataclasses (faster at 10,000 listeners);
    the text must be the one to_jsonable gives, indented or (>= 500 rows) compact, for
    facts as collected here (listeners built without __init__) and as loaded."""
    from exposure_audit.collectors.collect import CollectOptions, collect_facts
    from exposure_audit.core.serialize import LARGE_DOCUMENT_ROWS, json_text

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        live = collect_facts(CollectOptions(upnp=False))
    assert live.listeners
    loaded = load_facts(FIXTURES / "laptop_cafe.json")
    many = records.replace(loaded, listeners=loaded.listeners * LARGE_DOCUMENT_ROWS)
    for facts in (live, loaded, many):
        text = facts_json(facts)
        assert text == json_text(facts_to_dict(facts))
        assert json_bytes(facts) == text.encode("utf-8")  # what collect writes
    assert "\n  " in facts_json(loaded) and "\n  " not in facts_json(many)


def test_output_to_a_fifo_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    """`-o /dev/null` as root once renamed a regular file over /dev/null: a device or
    FIFO is written in place. (A FIFO stands in for /dev/null here: safe to break.)"""
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    res = cli("collect", "--no-upnp", "-o", str(fifo))
    reader.join(timeout=30)
    assert res.returncode == 0, res.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(got[0])["schema_version"]
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]  # no temporary left


def test_dev_paths_are_written_in_place() -> None:
    """/dev/stdout is a symlink to /proc/self/fd/1: with stdout sent to a regular file, a
    rename would replace the machine's /dev/stdout link itself."""
    from exposure_audit.core.atomicio import is_special

    assert is_special("/dev/stdout") and is_special("/dev/null")
    assert is_special("/proc/self/fd/1")
    # Other paths under /dev or /proc are no longer written in place following links
    # (/dev/shm is world-writable): only the names above, or one's own FIFO or device.
    assert not is_special("/tmp/report.json") and not is_special("/proc/x")


def test_output_to_dev_stdout_with_stdout_in_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    link_before = os.readlink("/dev/stdout")
    with out.open("wb") as fh:
        res = subprocess.run(
            [*cli_argv(), "collect", "--no-upnp", "-o", "/dev/stdout"],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert res.returncode == 0, res.stderr
    assert os.path.islink("/dev/stdout") and os.readlink("/dev/stdout") == link_before
    assert json.loads(out.read_text())["schema_version"]


@requires_netns
def test_collect_inside_a_namespace_sees_only_its_listeners() -> None:
    with namespaces(unique("eaG-col")) as (ns,):
        server = ns.python(
            "import socket,time\n"
            "s=socket.socket(); s.bind(('0.0.0.0', 8765)); s.listen()\n"
            "print('ready', flush=True); time.sleep(60)"
        )
        assert server.stdout.readline().strip() == "ready"
        res = ns.run([*cli_argv(), "collect", "--no-upnp"])
        assert res.returncode == 0, res.stderr
        data = json.loads(res.stdout)
        assert [(lst["address"], lst["port"]) for lst in data["listeners"]] == [("0.0.0.0", 8765)]
        assert data["listeners"][0]["pid"] == server.pid
        assert [p["pid"] for p in data["processes"]] == [server.pid]
        assert [i["name"] for i in data["interfaces"]] == ["lo"]
        assert data["gateways"] == []
        assert any("no default IPv4 gateway" in w["message"] for w in data["warnings"])


# What `collect` must not import: each is milliseconds of a start-up that issue 2 bounds
# at 4x `python -c pass` (jinja2, requests and psutil: tens of ms; dataclasses pulls in
# inspect; subprocess pulls in signal's and threading's set-up).
HEAVY = {
    "argparse",
    "socket",
    "selectors",
    "shutil",
    "dataclasses",
    "inspect",
    "typing",
    "subprocess",
    "threading",
    "pathlib",
    "tempfile",
    "jinja2",
    "requests",
    "psutil",
    "defusedxml",
    "concurrent",
    "asyncio",
}
IMPORTS = """
import json, sys
from exposure_audit.cli import main
code = main(["collect", "--no-upnp", "-o", sys.argv[1]])
print(json.dumps(sorted(sys.modules)))
sys.exit(code)
"""


@requires_netns
def test_collect_imports_stay_lean(tmp_path: Path) -> None:
    """Inside a namespace, as root (so the firewall collector runs too): collect never
    imports the heavy modules, nor argparse (cli.fast_collect_args parses a plain
    collect command line)."""
    with namespaces(unique("eaL-lean")) as (ns,):
        res = ns.run([sys.executable, "-c", IMPORTS, str(tmp_path / "f.json")])
    assert res.returncode == 0, res.stderr
    loaded = set(json.loads(res.stdout))
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
    assert json.loads((tmp_path / "f.json").read_text())["firewall"]["backend"] != "unavailable"


@pytest.mark.parametrize(
    ("env", "argv", "cause"),
    [("1", [], "EXPOSURE_AUDIT_NO_UPNP=1"), ("", ["--no-upnp"], "--no-upnp")],
)
def test_upnp_off_names_its_cause(
    monkeypatch: pytest.MonkeyPatch, env: str, argv: list[str], cause: str
) -> None:
    """The Facts say what turned UPnP off: the flag, or the environment variable."""
    import argparse

    from exposure_audit.commands.collect import options_from_args
    from exposure_audit.commands.options import add_collect_options

    monkeypatch.setenv("EXPOSURE_AUDIT_NO_UPNP", env)
    p = argparse.ArgumentParser()
    add_collect_options(p)
    opts = options_from_args(p.parse_args(argv))
    assert not opts.upnp
    assert opts.upnp_off_by == cause


def test_collect_counts_are_singular_when_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'1 warning', not '1 warnings'."""
    import argparse

    from exposure_audit.commands import collect

    facts = load_facts(FIXTURES / "laptop_cafe.json")
    assert len(facts.warnings) == 1
    monkeypatch.setattr(collect, "collect_facts", lambda opts: facts)
    out = tmp_path / "facts.json"
    args = argparse.Namespace(output=str(out), no_upnp=True, igd=None, upnp_timeout=2.0)
    assert collect.run(args) == 0
    err = capsys.readouterr().err
    n_if, n_l = len(facts.interfaces), len(facts.listeners)
    assert err == f"exposure-audit: wrote {out}: {n_if} interfaces, {n_l} listeners, 1 warning\n"
