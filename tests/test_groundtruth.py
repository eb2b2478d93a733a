"""Ground truth: what `exposure-audit collect` says is reachable, the kernel confirms.

Two namespaces, "host" and "peer", joined by a veth pair (10.200.0.0/24 and the ULA
fd00:200::/64, plus link-local). Real listeners start inside "host"; the CLI collects
there with --no-upnp; then "peer" connects to every (host address, port). Every
listener the tool calls reachable from the LAN side must accept, every one it calls
unreachable from there must refuse: case by case.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from netns import cli_argv, link, namespaces, requires_netns, unique, wait_for

from exposure_audit.analysis.exposure import resolve
from exposure_audit.core.serialize import facts_from_dict

HOST_V4, PEER_V4 = "10.200.0.1", "10.200.0.2"
HOST_V6, PEER_V6 = "fd00:200::1", "fd00:200::2"

# (name, protocol, family, address, port, options)
LISTENERS = [
    ("tcp any4", "tcp", "ipv4", "0.0.0.0", 8000, {}),
    ("tcp loopback4", "tcp", "ipv4", "127.0.0.1", 8001, {}),
    ("tcp any6 dual-stack", "tcp", "ipv6", "::", 8002, {"v6only": 0}),
    ("tcp any6 v6only", "tcp", "ipv6", "::", 8003, {"v6only": 1}),
    ("tcp loopback6", "tcp", "ipv6", "::1", 8004, {"v6only": 1}),
    ("tcp veth address only", "tcp", "ipv4", HOST_V4, 8005, {}),
    ("tcp ULA only", "tcp", "ipv6", HOST_V6, 8006, {"v6only": 1}),
    ("tcp any4 bound to lo", "tcp", "ipv4", "0.0.0.0", 8007, {"device": "lo"}),
    ("tcp link-local with zone", "tcp", "ipv6", "LINKLOCAL", 8008, {"v6only": 1, "zone": 1}),
    # No IPV6_V6ONLY set: the namespace's net.ipv6.bindv6only=1 makes it v6-only.
    ("tcp any6 by sysctl", "tcp", "ipv6", "::", 8009, {}),
    ("udp any4 (echo)", "udp", "ipv4", "0.0.0.0", 8010, {}),
    ("udp loopback4 (echo)", "udp", "ipv4", "127.0.0.1", 8011, {}),
]

SERVER = textwrap.dedent(
    """
    import json, selectors, socket, sys
    spec, linklocal, ifname = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    sel = selectors.DefaultSelector()
    for _name, proto, family, address, port, opts in spec:
        af = socket.AF_INET if family == "ipv4" else socket.AF_INET6
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        s = socket.socket(af, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if "v6only" in opts:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, opts["v6only"])
        if "device" in opts:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opts["device"].encode())
        if address == "LINKLOCAL":
            s.bind((linklocal, port, 0, socket.if_nametoindex(ifname)))
        else:
            s.bind((address, port))
        if proto == "tcp":
            s.listen(16)
        sel.register(s, selectors.EVENT_READ, proto)
    print("ready", flush=True)
    while True:
        for key, _ev in sel.select():
            s = key.fileobj
            if key.data == "tcp":
                conn, _ = s.accept()
                conn.close()
            else:
                data, peer = s.recvfrom(2048)
                s.sendto(data, peer)
    """
)

PROBE = textwrap.dedent(
    """
    import json, socket, sys
    results = []
    for proto, address, port, scope_if in json.loads(sys.argv[1]):
        af = socket.AF_INET6 if ":" in address else socket.AF_INET
        target = (address, port) if af == socket.AF_INET else (
            address, port, 0, socket.if_nametoindex(scope_if) if scope_if else 0)
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        s = socket.socket(af, kind)
        s.settimeout(2.0)
        try:
            s.connect(target)
            if proto == "udp":
                s.send(b"ping")
                ok = s.recv(16) == b"ping"
            else:
                ok = True
            verdict = "accept" if ok else "other"
        except ConnectionRefusedError:
            verdict = "refused"
        except OSError as exc:
            verdict = "error: " + type(exc).__name__
        finally:
            s.close()
        results.append(verdict)
    print(json.dumps(results))
    """
)


def _link_local(ns, ifname: str) -> str | None:  # type: ignore[no-untyped-def]
    out = ns.run(["ip", "-6", "-j", "addr", "show", "dev", ifname, "scope", "link"]).stdout
    for entry in json.loads(out or "[]"):
        for a in entry.get("addr_info", []):
            if a.get("local") and not a.get("tentative"):
                return str(a["local"])
    return None


@requires_netns
def test_tool_and_kernel_agree_on_every_listener_and_address(show_table) -> None:
    with namespaces(unique("eaG-host"), unique("eaG-peer")) as (host, peer):
        for ns in (host, peer):
            ns.run(["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"], check=True)
            ns.run(["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"], check=True)
        host.run(["sysctl", "-qw", "net.ipv6.bindv6only=1"], check=True)
        link(host, "eaGh0", peer, "eaGp0")
        host.ip("addr", "add", f"{HOST_V4}/24", "dev", "eaGh0")
        host.ip("addr", "add", f"{HOST_V6}/64", "dev", "eaGh0", "nodad")
        peer.ip("addr", "add", f"{PEER_V4}/24", "dev", "eaGp0")
        peer.ip("addr", "add", f"{PEER_V6}/64", "dev", "eaGp0", "nodad")
        assert wait_for(lambda: _link_local(host, "eaGh0") is not None), "no link-local"
        host_ll = _link_local(host, "eaGh0")
        assert host_ll is not None

        server = host.popen(
            [sys.executable, "-c", SERVER, json.dumps(LISTENERS), host_ll, "eaGh0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = server.stdout.readline()
        assert line.strip() == "ready", server.stderr.read()

        # The tool's answer, from the installed CLI, inside "host".
        res = host.run([*cli_argv(), "collect", "--no-upnp"], timeout=60)
        assert res.returncode == 0, res.stderr
        facts = facts_from_dict(json.loads(res.stdout))
        assert facts.upnp is not None and facts.upnp.status == "disabled"
        exposures = resolve(facts).exposures
        assert facts.ipv6_bindv6only is True
        ours = {port for *_x, port, _o in LISTENERS}
        mine = [e for e in exposures if e.listener.port in ours]
        assert {(e.listener.protocol, e.listener.port) for e in mine} == {
            (p, port) for _n, p, _f, _a, port, _o in LISTENERS
        }
        assert all(e.listener.process and e.listener.process.pid == server.pid for e in mine)

        # Every (host address on the veth, listener): the tool's claim, then the kernel's.
        targets = [(HOST_V4, None), (HOST_V6, None), (host_ll, "eaGp0")]
        cases = []
        for name, proto, _family, _address, port, _opts in LISTENERS:
            exps = [e for e in mine if e.listener.protocol == proto and e.listener.port == port]
            for target, zone in targets:
                claimed = any(
                    r.up and r.interface == "eaGh0" and r.address == target
                    for e in exps
                    for r in e.reach
                )
                cases.append((name, proto, port, target, zone, claimed, exps))

        probe = peer.run(
            [sys.executable, "-c", PROBE, json.dumps([[c[1], c[3], c[2], c[4]] for c in cases])],
            timeout=60,
        )
        assert probe.returncode == 0, probe.stderr
        verdicts = json.loads(probe.stdout)

        rows = []
        disagreements = []
        for (name, proto, port, target, _zone, claimed, exps), verdict in zip(
            cases, verdicts, strict=True
        ):
            widest = ",".join(sorted({e.widest_scope for e in exps}))
            expected = "accept" if claimed else "refused"
            ok = verdict == expected
            rows.append(
                f"{name:<26} {proto}/{port:<5} {target:<28} tool={'reach' if claimed else 'no':<5}"
                f" widest={widest:<10} kernel={verdict:<8} {'ok' if ok else 'DISAGREE'}"
            )
            if not ok:
                disagreements.append(rows[-1])
        show_table("\n" + "\n".join(rows))
        assert not disagreements, "tool and kernel disagree:\n" + "\n".join(disagreements)

        # The loopback-only ones are called loopback; the LAN-reachable ones lan+.
        widest_by_port = {e.listener.port: e.widest_scope for e in mine}
        for port in (8001, 8004, 8007, 8011):
            assert widest_by_port[port] == "loopback", port
        for port in (8000, 8002, 8003, 8005, 8006, 8009, 8010):
            assert widest_by_port[port] == "lan", port
        assert widest_by_port[8008] == "link_local"
        # And it was not trivially true: some accepted, some refused.
        assert "accept" in verdicts and "refused" in verdicts
