"""Churn: processes that open and close listeners continuously while the collector
runs never crash it. Runs inside a namespace of our own (eaL prefix)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap

from netns import cli_argv, namespaces, requires_netns, unique

CHURN = textwrap.dedent(
    """
    import os, random, select, socket, sys, threading, time
    stop = time.monotonic() + float(sys.argv[1])
    started = 0
    # children report "a listener is open" here; the parent then prints "ready" once
    ready_r, ready_w = os.pipe()
    os.set_blocking(ready_w, False)  # nobody reads after "ready": never block a child

    def child():
        held = []
        for i in range(random.randint(1, 6)):
            fam = random.choice((socket.AF_INET, socket.AF_INET6))
            kind = random.choice((socket.SOCK_STREAM, socket.SOCK_DGRAM))
            v4 = fam == socket.AF_INET
            host = random.choice(("127.0.0.1", "0.0.0.0") if v4 else ("::1", "::"))
            try:
                s = socket.socket(fam, kind)
                s.bind((host, 0))
                if kind == socket.SOCK_STREAM:
                    s.listen()
                held.append(s)
            except OSError:
                pass
        if held:
            try:
                os.write(ready_w, b"x")
            except OSError:
                pass
        time.sleep(random.random() * 0.004)
        if random.random() < 0.5:
            for s in held:
                s.close()  # close before exit: sockets vanish mid-scan both ways
        os._exit(0)

    def flapper():  # one long-lived process whose fds open and close all the time
        while time.monotonic() < stop:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            s.close()

    threading.Thread(target=flapper, daemon=True).start()
    # One listener held all along: the churn ones live for milliseconds, and on a loaded
    # machine every one of them can be gone before its process is read, so this one is
    # what shows attribution still works amid the churn.
    keep = socket.socket()
    keep.bind(("127.0.0.1", 0))
    keep.listen()
    live = set()
    announced = False
    while time.monotonic() < stop:
        while len(live) < 8:
            pid = os.fork()
            if pid == 0:
                child()
            live.add(pid)
            started += 1
        if not announced and select.select([ready_r], [], [], 0)[0]:
            print("ready", flush=True)
            announced = True
        pid, _ = os.wait()
        live.discard(pid)
    for pid in live:
        os.waitpid(pid, 0)
    print(started, flush=True)
    """
)

COLLECT_LOOP = textwrap.dedent(
    """
    import json, sys
    from exposure_audit.collectors.listeners import collect_listeners
    from exposure_audit.core.model import Listener, ProcessInfo
    seen = attributed = unattributed = 0
    for _ in range(int(sys.argv[1])):
        res = collect_listeners()
        for lst in res.listeners:
            assert isinstance(lst, Listener) and 0 <= lst.port < 65536
            assert lst.protocol in ("tcp", "udp") and lst.family in ("ipv4", "ipv6")
            if lst.process is None:
                assert lst.notes, lst
                unattributed += 1
            else:
                assert isinstance(lst.process, ProcessInfo) and lst.process.pid
                attributed += 1
            seen += 1
    print(json.dumps({"seen": seen, "attributed": attributed, "unattributed": unattributed}))
    """
)


@requires_netns
def test_collector_survives_200_runs_against_listener_churn() -> None:
    """While processes start, open 1-6 listeners (TCP/UDP, v4/v6, loopback and
    wildcard), and exit (half of them closing first), and another process opens and
    closes a listener in a tight loop, 200 collector runs and 3 real
    `exposure-audit collect --no-upnp` runs all succeed with well-formed results; the
    test checks that churn listeners were actually seen, so it cannot pass idly. The
    collector starts only once the churn process says a churn listener is open."""
    with namespaces(unique("eaL-churn")) as (ns,):
        churn = ns.popen([sys.executable, "-c", CHURN, "60"], stdout=subprocess.PIPE, text=True)
        try:
            assert churn.stdout is not None
            readable, _, _ = select.select([churn.stdout], [], [], 30)
            first = churn.stdout.readline().strip() if readable else "(nothing in 30 s)"
            assert first == "ready", f"the churn process did not start: {first!r}"
            loop = ns.run([sys.executable, "-c", COLLECT_LOOP, "200"], timeout=120)
            assert loop.returncode == 0, loop.stderr[-2000:]
            stats = json.loads(loop.stdout)
            cli_runs = [
                ns.run(
                    [*cli_argv(), "collect", "--no-upnp"],
                    env={**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1"},
                    timeout=60,
                )
                for _ in range(3)
            ]
        finally:
            churn.terminate()
            churn.wait(timeout=10)
    assert churn.returncode is not None
    assert stats["seen"] > 200 and stats["attributed"] > 0, stats
    for run in cli_runs:
        assert run.returncode == 0, run.stderr[-2000:]
        assert isinstance(json.loads(run.stdout)["listeners"], list)
        assert "Traceback" not in run.stderr
