"""Process attribution with and without privilege, in a namespace of our own.

- a listener owned by `nobody` is attributed (pid, name, cmdline, user) when the
  collector runs as root;
- when the collector runs as `nobody`, a root-owned listener is still reported, with
  its owner uid, no process, a note, and one warning naming how to get full attribution
  (checked through the collector and through the real `exposure-audit collect`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from netns import Netns, cli_argv, namespaces, requires_netns, unique

from exposure_audit.collectors.listeners import ROOT_HINT

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _nobody_skip_reason() -> str | None:
    if shutil.which("setpriv") is None:
        return "needs setpriv (util-linux)"
    if os.geteuid() != 0:
        return "needs root to switch to the nobody user"
    probe = subprocess.run(
        [*NOBODY, sys.executable, "-c", "import exposure_audit.collectors.listeners"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"user nobody cannot run this interpreter/checkout: {probe.stderr[-200:]}"
    return None


_NOBODY_SKIP = _nobody_skip_reason()
pytestmark = [
    requires_netns,
    pytest.mark.skipif(_NOBODY_SKIP is not None, reason=_NOBODY_SKIP or ""),
]

HOLD = textwrap.dedent(
    """
    import socket, sys
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", int(sys.argv[1])))
    s.listen()
    print("ready", flush=True)
    sys.stdin.read()
    """
)

COLLECT = textwrap.dedent(
    """
    import json
    from exposure_audit.collectors.listeners import collect_listeners
    from exposure_audit.core.serialize import to_jsonable
    r = collect_listeners()
    print(json.dumps({"listeners": to_jsonable(r.listeners), "warnings": to_jsonable(r.warnings)}))
    """
)


def _hold(ns: Netns, port: int, as_nobody: bool) -> int:
    """Start a dual-stack listener on [::]:port inside ns; return its pid."""
    argv = [sys.executable, "-c", HOLD, str(port), "eaL-marker"]
    proc = ns.popen(
        ([*NOBODY, *argv] if as_nobody else argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    # `ip netns exec` execs (no fork) and setpriv execs too: the pid is the listener's.
    return proc.pid


def _collect(ns: Netns, as_nobody: bool) -> dict:  # type: ignore[type-arg]
    argv = [sys.executable, "-c", COLLECT]
    out = ns.run([*NOBODY, *argv] if as_nobody else argv, check=True)
    return json.loads(out.stdout)


def test_nobody_listener_is_fully_attributed_when_the_collector_is_root() -> None:
    with namespaces(unique("eaL-at")) as (ns,):
        pid = _hold(ns, 7001, as_nobody=True)
        data = _collect(ns, as_nobody=False)
    (lst,) = [x for x in data["listeners"] if x["port"] == 7001]
    assert lst["address"] == "::" and lst["v6only"] is False
    assert lst["uid"] == 65534
    proc = lst["process"]
    assert proc["pid"] == pid
    assert proc["username"] == "nobody" and proc["uid"] == 65534
    assert proc["name"].startswith("python")
    assert proc["cmdline"][-1] == "eaL-marker" and proc["cmdline"][-2] == "7001"
    assert lst["notes"] == []
    assert data["warnings"] == []


def test_root_listener_is_reported_without_process_when_the_collector_is_nobody() -> None:
    """Unprivileged: the root-owned listener stays in the facts with uid 0, process
    None and a note; nobody's own listener is still attributed; exactly one warning,
    with the run-as-root hint."""
    with namespaces(unique("eaL-at")) as (ns,):
        _hold(ns, 7002, as_nobody=False)
        own_pid = _hold(ns, 7003, as_nobody=True)
        data = _collect(ns, as_nobody=True)
    by_port = {x["port"]: x for x in data["listeners"]}
    root_lst = by_port[7002]
    assert root_lst["uid"] == 0 and root_lst["process"] is None
    assert root_lst["inode"] and root_lst["v6only"] is False
    assert any("run as root" in n for n in root_lst["notes"])
    assert by_port[7003]["process"]["pid"] == own_pid
    (warning,) = data["warnings"]
    assert warning["collector"] == "listeners" and warning["hint"] == ROOT_HINT
    assert "1 listener(s)" in warning["message"]


def test_cli_collect_as_nobody_reports_the_root_listener_and_the_hint() -> None:
    """The real `exposure-audit collect --no-upnp`, run as nobody: the Facts list the
    root-owned listener with uid 0 and no process, and carry the warning."""
    with namespaces(unique("eaL-at")) as (ns,):
        _hold(ns, 7004, as_nobody=False)
        out = ns.run(
            [*NOBODY, *cli_argv(), "collect", "--no-upnp"],
            env={**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1"},
        )
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    (lst,) = [x for x in facts["listeners"] if x["port"] == 7004]
    assert lst["uid"] == 0 and lst["pid"] is None
    assert facts["host"]["privileged"] is False and facts["host"]["uid"] == 65534
    hints = [w.get("hint") for w in facts["warnings"] if w["collector"] == "listeners"]
    assert hints == [ROOT_HINT]


def test_only_the_named_debugger_variables_are_read_and_titles_are_split() -> None:
    import subprocess as _sp
    import sys as _sys
    import time as _time

    from exposure_audit.collectors import procinfo as _pi

    code = "import sys,time;sys.stdout.write('x');sys.stdout.flush();time.sleep(30)"
    env = {"FLASK_DEBUG": "1", "API_TOKEN": "s3cret", "PATH": "/usr/bin:/bin"}
    p = _sp.Popen([_sys.executable, "-c", code], env=env, stdout=_sp.PIPE)
    try:
        assert p.stdout is not None and p.stdout.read(1) == b"x"
        info, alive = _pi.process_info(p.pid)
        assert alive and info.environment == (("FLASK_DEBUG", "1"),)
        assert "s3cret" not in repr(info) and "API_TOKEN" not in repr(info)
    finally:
        p.kill()
        p.wait()
    _time.sleep(0)
    assert _pi.split_title(b"redis-server *:6379\0\0\0".split(b"\0")) == [
        b"redis-server",
        b"*:6379",
    ]
    assert _pi.split_title([b"/opt/My App/bin/x"]) == [b"/opt/My App/bin/x"]
