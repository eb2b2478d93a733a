"""Ground truth: what the evaluator says against what a real peer actually gets.

A "host" namespace with real listeners (TCP and a UDP echo, dual-stack) on two
subnets, one peer namespace on each (A: 10.1.0.0/24 + fd01::/64, B: 10.2.0.0/24).
For each real ruleset applied inside the host (nft -f, iptables-legacy-restore,
iptables-nft-restore) the firewall collector runs inside the host, the evaluator
answers for every (port, reach), and the peers connect. Whenever the tool says
``filtered`` the connection must fail; whenever it says ``open`` it must succeed.
Nothing here touches the root namespace's rules.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from netns import Netns, link, namespaces, netns_skip_reason, unique, wait_for

from exposure_audit.analysis.firewall.evaluate import evaluate
from exposure_audit.core.model import CollectorWarning, FirewallFacts, PublishedPort
from exposure_audit.core.serialize import from_jsonable

FIX = Path(__file__).resolve().parent / "fixtures" / "firewall"
TCP_PORTS = (22, 2222, 8000, 8001, 8002, 9000, 9090)
UDP_PORTS = (5353,)
# (label, interface in host, host address, network, peer)
REACHES = (
    ("A", "vA", "10.1.0.1", "10.1.0.0/24", "A"),
    ("B", "vB", "10.2.0.1", "10.2.0.0/24", "B"),
    ("A6", "vA", "fd01::1", "fd01::/64", "A"),
)

# (name, loader, file, expected verdicts that pin the evaluator down: (reach, proto, port))
SCENARIOS = (
    ("default drop + accept 22", "nft", "gt-default-drop.nft", {
        ("A", "tcp", 22): "open", ("B", "tcp", 22): "open", ("A6", "tcp", 22): "open",
        ("A", "tcp", 8000): "filtered", ("A6", "udp", 5353): "filtered",
    }),
    ("accept 8000 from one subnet", "nft", "gt-subnet.nft", {
        ("A", "tcp", 8000): "open", ("B", "tcp", 8000): "filtered",
        ("A6", "tcp", 8001): "open", ("A", "tcp", 8001): "filtered",
        ("A", "tcp", 9000): "open", ("B", "tcp", 9000): "filtered",
    }),
    ("reject vs drop", "nft", "gt-reject-drop.nft", {
        ("A", "tcp", 8000): "filtered", ("A", "tcp", 8001): "filtered",
        ("A", "tcp", 8002): "filtered", ("A", "udp", 5353): "filtered",
        ("A", "tcp", 9090): "filtered", ("A6", "tcp", 9090): "open",
        ("A", "tcp", 22): "open", ("B", "tcp", 22): "filtered", ("B", "tcp", 2222): "open",
        ("B", "tcp", 9000): "open",
    }),
    ("iptables-legacy", "iptables-legacy", "gt-legacy.rules", {
        ("A", "tcp", 22): "open", ("A", "tcp", 8000): "filtered", ("B", "tcp", 8000): "open",
        ("B", "tcp", 9000): "open", ("A", "tcp", 9000): "filtered",
        ("B", "udp", 5353): "filtered", ("A6", "tcp", 8000): "open",
    }),
    ("unknown construct (meta mark, dscp)", "nft", "gt-unknown.nft", {
        ("A", "tcp", 22): "open", ("A", "tcp", 8000): "unknown", ("A", "tcp", 9000): "unknown",
        ("A", "tcp", 8001): "filtered",
    }),
    ("ufw (iptables-nft)", "iptables-nft", "ufw.rules", {
        ("A", "tcp", 22): "open", ("A", "tcp", 2222): "open", ("A", "tcp", 8000): "open",
        ("B", "tcp", 8000): "filtered", ("A", "tcp", 8001): "filtered",
        ("A", "tcp", 8002): "filtered", ("A", "tcp", 9000): "filtered",
        ("A", "udp", 5353): "filtered",
    }),
    ("nft set in an iptables-named table", "nft", "gt-ip-filter-set.nft", {
        ("A", "tcp", 8000): "filtered", ("B", "tcp", 8001): "filtered",
        ("A", "tcp", 9000): "open", ("B", "tcp", 22): "open", ("A6", "tcp", 8000): "open",
    }),
    ("firewalld zones (nft)", "nft", "firewalld.nft", {
        ("A", "tcp", 22): "open", ("A", "tcp", 9090): "open", ("B", "tcp", 9090): "filtered",
        ("B", "tcp", 8000): "open", ("A", "tcp", 8000): "filtered", ("A6", "tcp", 22): "open",
        ("B", "udp", 5353): "filtered",
    }),
)  # fmt: skip

LISTENER = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in %(tcp)r:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(64); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, "tcp")
for port in %(udp)r:
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind(("::", port)); u.setblocking(False)
    sel.register(u, selectors.EVENT_READ, "udp")
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            if key.data == "tcp":
                c, _ = s.accept(); c.close()
            else:
                data, peer = s.recvfrom(512); s.sendto(data, peer)
        except OSError:
            pass
"""

PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def probe(t):
    proto, addr, port = t
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        if proto == "tcp":
            with socket.create_connection((addr, port), timeout=1.0):
                return "ok"
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.settimeout(1.0); s.connect((addr, port)); s.send(b"ping")
            return "ok" if s.recv(64) == b"ping" else "bad"
    except ConnectionRefusedError:
        return "refused"
    except (TimeoutError, socket.timeout):
        return "timeout"
    except OSError as e:
        return type(e).__name__
targets = [tuple(t) for t in json.loads(sys.argv[1])]
with ThreadPoolExecutor(len(targets)) as ex:
    print(json.dumps(list(ex.map(probe, targets))))
"""

COLLECT = """
import json
from exposure_audit.collectors.firewall import collect_firewall
from exposure_audit.core.serialize import to_jsonable
fw, pub, warnings = collect_firewall()
print(json.dumps({"fw": to_jsonable(fw), "pub": to_jsonable(pub), "w": to_jsonable(warnings)}))
"""


def _skip_reason() -> str | None:
    reason = netns_skip_reason()
    if reason:
        return reason
    for tool in ("nft", "iptables-legacy-restore", "iptables-nft-restore"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install nftables iptables)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def collect_in(ns: Netns) -> tuple[FirewallFacts, list[PublishedPort], list[CollectorWarning]]:
    out = ns.run([sys.executable, "-c", COLLECT], check=True, timeout=60)
    data = json.loads(out.stdout)
    return (
        from_jsonable(FirewallFacts, data["fw"]),
        [from_jsonable(PublishedPort, p) for p in data["pub"]],
        [from_jsonable(CollectorWarning, w) for w in data["w"]],
    )


def apply(ns: Netns, loader: str, path: Path) -> None:
    text = path.read_text()
    if loader == "nft":
        argv = ["nft", "-f", "-"]
    elif loader == "iptables-legacy":
        argv = ["iptables-legacy-restore"]
    else:
        argv = ["iptables-nft-restore"]
    res = ns.run(argv, input=text)
    assert res.returncode == 0, f"{loader} {path.name}: {res.stderr}"


def reset(ns: Netns) -> None:
    ns.run(["nft", "flush", "ruleset"], check=True)
    empty = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    for tool in ("iptables-legacy-restore", "ip6tables-legacy-restore"):
        if shutil.which(tool):
            ns.run([tool], input=empty)


@pytest.fixture(scope="module")
def lab():
    host_n, a_n, b_n = unique("eaF-host"), unique("eaF-pa"), unique("eaF-pb")
    with namespaces(host_n, a_n, b_n) as (host, pa, pb):
        link(host, "vA", pa, "eth0")
        link(host, "vB", pb, "eth0")
        host.ip("addr", "add", "10.1.0.1/24", "dev", "vA")
        host.ip("addr", "add", "fd01::1/64", "dev", "vA", "nodad")
        host.ip("addr", "add", "10.2.0.1/24", "dev", "vB")
        pa.ip("addr", "add", "10.1.0.2/24", "dev", "eth0")
        pa.ip("addr", "add", "fd01::2/64", "dev", "eth0", "nodad")
        pb.ip("addr", "add", "10.2.0.2/24", "dev", "eth0")
        proc = host.python(LISTENER % {"tcp": TCP_PORTS, "udp": UDP_PORTS})
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        peers = {"A": pa, "B": pb}
        assert wait_for(lambda: probe(pa, [("tcp", "10.1.0.1", 22)]) == ["ok"])
        yield host, peers


def probe(ns: Netns, targets: list[tuple[str, str, int]]) -> list[str]:
    res = ns.run([sys.executable, "-c", PROBE, json.dumps(targets)], check=True, timeout=30)
    return json.loads(res.stdout)


def run_scenario(host: Netns, peers: dict[str, Netns], loader: str, path: Path) -> list[dict]:
    reset(host)
    apply(host, loader, path)
    fw, _pub, warnings = collect_in(host)
    assert fw.backend != "unavailable", warnings
    cells = []
    for label, iface, addr, net, peer in REACHES:
        for proto, ports in (("tcp", TCP_PORTS), ("udp", UDP_PORTS)):
            for port in ports:
                v = evaluate(fw, proto, port, addr, iface, net)
                cells.append({
                    "reach": label, "peer": peer, "proto": proto, "port": port, "addr": addr,
                    "tool": v.result, "evidence": v.evidence,
                })  # fmt: skip
    for name, ns in peers.items():
        mine = [c for c in cells if c["peer"] == name]
        results = probe(ns, [(c["proto"], c["addr"], c["port"]) for c in mine])
        for c, r in zip(mine, results, strict=True):
            c["peer_result"] = r
    return cells


def test_ground_truth_agreement(lab, show_table) -> None:
    host, peers = lab
    table: list[str] = []
    disagreements: list[str] = []
    expectation_misses: list[str] = []
    totals = {"open": [0, 0], "filtered": [0, 0], "unknown": [0, 0]}
    try:
        for name, loader, fname, expected in SCENARIOS:
            cells = run_scenario(host, peers, loader, FIX / fname)
            table.append(f"\n## {name} ({loader} {fname})")
            table.append(f"{'reach':5} {'port':9} {'tool':9} {'peer':8} agree  evidence")
            for c in cells:
                ok = c["peer_result"] == "ok"
                agree = {"open": ok, "filtered": not ok}.get(c["tool"])
                totals[c["tool"]][0] += 1
                totals[c["tool"]][1] += 1 if agree in (True, None) else 0
                mark = {True: "yes", False: "NO", None: "-"}[agree]
                cell = f"{c['proto']}/{c['port']}"
                table.append(
                    f"{c['reach']:5} {cell:9} {c['tool']:9} {c['peer_result']:8} {mark:5}  "
                    f"{c['evidence'][:90]}"
                )
                if agree is False:
                    disagreements.append(f"{name}: {c}")
                want = expected.get((c["reach"], c["proto"], c["port"]))
                if want is not None and want != c["tool"]:
                    expectation_misses.append(
                        f"{name}: {cell} via {c['reach']}: want {want}, tool said {c['tool']}"
                    )
    finally:
        reset(host)
    table.append(
        "\nsummary: "
        + ", ".join(f"{k} {v[1]}/{v[0]} agree" for k, v in totals.items())
        + " (unknown: no claim to check)"
    )
    show_table("\n".join(table))
    assert not disagreements, "\n".join(disagreements)
    assert not expectation_misses, "\n".join(expectation_misses)


@pytest.mark.parametrize(
    ("loader", "fname"), [("iptables-nft", "docker.rules"), ("nft", "docker-nft.nft")]
)
def test_docker_dnat_publish_without_listener(loader: str, fname: str) -> None:
    """Docker's NAT publish rule in a "host" namespace, the container's listener in a
    third: reported as a published port with no host listener, and reachable from a
    peer although the host's INPUT policy drops everything else."""
    host_n, c_n, p_n = unique("eaF-dh"), unique("eaF-dc"), unique("eaF-dp")
    with namespaces(host_n, c_n, p_n) as (host, ctr, peer):
        link(host, "docker0", ctr, "eth0")
        link(host, "vA", peer, "eth0")
        host.ip("addr", "add", "172.17.0.1/16", "dev", "docker0")
        host.ip("addr", "add", "10.1.0.1/24", "dev", "vA")
        ctr.ip("addr", "add", "172.17.0.2/16", "dev", "eth0")
        ctr.ip("route", "add", "default", "via", "172.17.0.1")
        peer.ip("addr", "add", "10.1.0.2/24", "dev", "eth0")
        host.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        apply(host, loader, FIX / fname)
        web = ctr.python(LISTENER % {"tcp": (80,), "udp": ()})
        assert web.stdout is not None and web.stdout.readline().strip() == "ready"

        fw, published, _w = collect_in(host)
        published = [p for p in published if p.published_by == "docker"]
        assert [(p.protocol, p.host_port, p.target_address, p.target_port) for p in published] == [
            ("tcp", 8080, "172.17.0.2", 80)
        ]
        pub = published[0]
        assert pub.bypasses_input_filter and pub.excluded_interface == "docker0"
        assert "172.17.0.2:80" in pub.evidence
        # no host listener on 8080: the socket table alone would never show this port
        host_listeners = host.run(["ss", "-Hltn", "sport = :8080"]).stdout.strip()
        assert host_listeners == ""
        # the input filter drops 8080 ...
        assert evaluate(fw, "tcp", 8080, "10.1.0.1", "vA", "10.1.0.0/24").result == "filtered"
        # ... yet the peer reaches the container: DNAT'ed traffic is forwarded, not input
        assert probe(peer, [("tcp", "10.1.0.1", 8080), ("tcp", "10.1.0.1", 9999)]) == [
            "ok",
            "timeout",
        ]
