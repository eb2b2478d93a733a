"""Ground truth for local routes and route_localnet. ``ip route add local 10.50.0.0/24
dev lo`` ("AnyIP") makes every address of the prefix this host's own: a socket bound to
10.50.0.7 (no interface holds it) is reached by a peer that routes the prefix to the
host. ``dnat to 127.0.0.1:PORT`` with ``route_localnet=1`` on the incoming interface
(the kube-proxy pattern, CVE-2020-8558) makes a loopback socket reachable from the LAN.
The tool must call neither "this machine only". The full CLI runs inside the host
namespace (collectors included); every claim is checked by real connects from the peer
(to the socket's own address and to the ports NAT leads to it from)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from netns import cli_argv, link, namespaces, netns_skip_reason, unique

# (port, bound address, address the peer connects to)
LISTENERS = (
    (7100, "10.50.0.7", "10.50.0.7"),  # AnyIP address: reachable
    (7101, "127.0.0.1", "10.1.0.1"),  # loopback: this machine only (peer is refused)
    (7102, "10.1.0.1", "10.1.0.1"),  # an interface address
    (7103, "10.60.0.9", "10.60.0.9"),  # no interface, no local route: nowhere
)
LISTENER = """
import socket, time
socks = []
for port, addr in %r:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if addr == "10.60.0.9":
        s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: bind to an address not held
    s.bind((addr, port)); s.listen(8); socks.append(s)
print("ready", flush=True)
time.sleep(600)
"""
PROBE = """
import json, socket, sys
out = []
for addr, port in json.loads(sys.argv[1]):
    try:
        socket.create_connection((addr, port), timeout=1.0).close(); out.append("ok")
    except OSError as e:
        out.append(type(e).__name__)
print(json.dumps(out))
"""
DNAT_TO_LOOPBACK = """
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "vA" tcp dport 81 dnat to 127.0.0.1:7101
	}
}
"""
# ruleset name -> (route_localnet on vA, (listener port, address, port) NAT leads in on)
NAT: dict[str, tuple[int, tuple[tuple[int, str, int], ...]]] = {
    "dnat to 127.0.0.1, route_localnet=1": (1, ((7101, "10.1.0.1", 81),)),
    "dnat to 127.0.0.1, route_localnet=0": (0, ((7101, "10.1.0.1", 81),)),
}
RULESETS = {
    "no firewall": "",
    "dnat to 127.0.0.1, route_localnet=1": DNAT_TO_LOOPBACK,
    "dnat to 127.0.0.1, route_localnet=0": DNAT_TO_LOOPBACK,
    "default drop, accept 7100": """
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport 7100 accept
	}
}
""",
    "default drop, accept 7102": """
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport 7102 accept
	}
}
""",
}


def _skip() -> str | None:
    return netns_skip_reason() or (None if shutil.which("nft") else "needs nft")


def _probe_until_stable(peer, targets: list[tuple[str, int]]) -> list[str]:  # type: ignore[no-untyped-def]
    """The peer's connects (the first try may race the ruleset and the neighbour cache:
    the same answer twice in a row is taken)."""
    last: list[str] = []
    for _ in range(5):
        res = peer.run([sys.executable, "-c", PROBE, json.dumps(targets)], check=True)
        now = list(json.loads(res.stdout))
        if now == last:
            return now
        last = now
    return last


def _claim(x: dict) -> str:
    if x["reachable"]:
        return "reachable"
    if x["blocked_by_firewall"]:
        return "filtered"
    return "this machine only"


@pytest.mark.skipif(_skip() is not None, reason=_skip() or "")
def test_anyip_local_route_listener_is_reachable(tmp_path, show_table) -> None:  # type: ignore[no-untyped-def]
    with namespaces(unique("eaV-ah"), unique("eaV-ap")) as (host, peer):
        link(host, "vA", peer, "eth0")
        host.ip("addr", "add", "10.1.0.1/24", "dev", "vA")
        host.ip("route", "add", "local", "10.50.0.0/24", "dev", "lo")
        peer.ip("addr", "add", "10.1.0.2/24", "dev", "eth0")
        peer.ip("route", "add", "10.50.0.0/24", "via", "10.1.0.1")
        peer.ip("route", "add", "10.60.0.0/24", "via", "10.1.0.1")
        proc = host.python(LISTENER % (tuple((p, a) for p, a, _ in LISTENERS),))
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        table = [f"{'ruleset':36} {'port':5} {'bound':10} {'tool':18} {'peer':22} agree"]
        wrong: list[str] = []
        for name, ruleset in RULESETS.items():
            host.run(["nft", "flush", "ruleset"], check=True)
            if ruleset:
                host.run(["nft", "-f", "-"], input=ruleset, check=True)
            localnet, extra = NAT.get(name, (0, ()))
            host.run(["sysctl", "-qw", f"net.ipv4.conf.vA.route_localnet={localnet}"],
                     check=True)  # fmt: skip
            targets = [(dest, port) for port, _, dest in LISTENERS]
            targets += [(addr, ext) for _, addr, ext in extra]
            got_all = dict(zip(targets, _probe_until_stable(peer, targets), strict=True))
            results = []
            for port, _, dest in LISTENERS:
                mine = [got_all[(dest, port)]]
                mine += [got_all[(a, e)] for p, a, e in extra if p == port]
                results.append("ok" if "ok" in mine else mine[0])
            out = tmp_path / f"{len(table)}.json"
            env = {"EXPOSURE_AUDIT_NO_UPNP": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            res = host.run([*cli_argv(), "run", "--no-upnp", "--fail-on", "none", "-o",
                            str(out)], timeout=120, env=env)  # fmt: skip
            assert res.returncode == 0, res.stderr
            report = json.loads(out.read_text())
            by_port = {x["port"]: x for x in report["exposures"]}
            for (port, bound, _dest), got in zip(LISTENERS, results, strict=True):
                claim = _claim(by_port[port])
                ok = got == "ok"
                agree = ok if claim == "reachable" else not ok
                table.append(f"{name:36} {port:<5} {bound:10} {claim:18} {got:22} "
                             f"{'yes' if agree else 'NO'}")  # fmt: skip
                if not agree:
                    wrong.append(f"{name}: {port} on {bound}: tool {claim}, peer {got}")
        show_table("\n".join(table))
        assert not wrong, "\n".join(wrong)
