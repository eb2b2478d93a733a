"""Interface kinds from facts, not names (issue 13): a bridge or veth is the containers'
only when a container engine's own state says so; otherwise it is a network, and a
database reached over it is a finding.

Real kernels in throw-away namespaces. The engines' state (Docker's socket, a Podman
network file) cannot be made in the real /etc and /run, so the collector is pointed at
a temporary tree standing for ``/`` (``collect_interfaces(engine_root)``,
``CollectOptions.engine_root``): the only thing not real here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from netns import Netns, cli_argv, link, namespaces, requires_netns, unique, wait_for

from exposure_audit.collectors.engines import Engines
from exposure_audit.core.model import Interface
from exposure_audit.core.serialize import from_jsonable

COLLECT = (
    "import json, sys; from exposure_audit.collectors.interfaces import collect_interfaces;"
    "from exposure_audit.core.serialize import to_jsonable;"
    "print(json.dumps(to_jsonable(collect_interfaces(sys.argv[1]))))"
)
FACTS = (
    "import sys; from exposure_audit.collectors.collect import CollectOptions, collect_facts;"
    "from exposure_audit.core.jsonout import json_bytes;"
    "o = CollectOptions(upnp=False, firewall=False, engine_root=sys.argv[1]);"
    "open(sys.argv[2], 'wb').write(json_bytes(collect_facts(o)))"
)


def kinds_in(ns: Netns, root: Path) -> dict[str, Interface]:
    res = ns.run([sys.executable, "-c", COLLECT, str(root)], timeout=30)
    assert res.returncode == 0, res.stderr
    return {i["name"]: from_jsonable(Interface, i) for i in json.loads(res.stdout)["interfaces"]}


def podman_network(root: Path, bridge: str) -> Path:
    """A Podman (netavark) network file naming ``bridge``, as `podman network create` writes."""
    path = root / "etc/containers/networks" / f"{bridge}net.json"
    path.parent.mkdir(parents=True)
    doc = {
        "name": f"{bridge}net",
        "id": "0" * 64,
        "driver": "bridge",
        "network_interface": bridge,
        "subnets": [{"subnet": "10.89.7.0/24", "gateway": "10.89.7.1"}],
        "ipv6_enabled": False,
        "internal": False,
        "dns_enabled": True,
    }
    path.write_text(json.dumps(doc))
    return path


@requires_netns
def test_kinds_follow_the_engines_state_not_the_names(tmp_path: Path) -> None:
    empty, engines = tmp_path / "empty", tmp_path / "engines"
    empty.mkdir()
    podman_file = podman_network(engines, "eaKpod0")
    (engines / "run").mkdir()
    sock = socket.socket(socket.AF_UNIX)  # Docker's API socket: present, as dockerd leaves it
    sock.bind(str(engines / "run/docker.sock"))
    sock.close()
    with namespaces(unique("eaK-h"), unique("eaK-c")) as (host, other):
        for bridge in ("br-lan", "docker0", "br-0123456789ab", "eaKpod0"):
            host.ip("link", "add", bridge, "type", "bridge")
            host.ip("link", "set", bridge, "up")
        # A veth on docker0 whose peer is in another namespace (a container, for Docker).
        link(host, "eaKc0", other, "eth0")
        host.ip("link", "set", "eaKc0", "master", "docker0")
        # A veth on br-lan, and one on no bridge, peers elsewhere: networks.
        link(host, "eaKl0", other, "eth1")
        host.ip("link", "set", "eaKl0", "master", "br-lan")
        link(host, "eaKn0", other, "eth2")
        host.ip("link", "add", "eaKin0", "type", "veth", "peer", "name", "eaKin1")

        plain = kinds_in(host, empty)
        for name in ("br-lan", "docker0", "br-0123456789ab", "eaKpod0"):
            assert (plain[name].kind, plain[name].link_kind) == ("bridge", "bridge"), name
            assert plain[name].engine is None and plain[name].evidence is None
        for name in ("eaKc0", "eaKl0", "eaKn0"):
            assert plain[name].kind == "veth" and plain[name].peer_netns is True, name
        assert plain["eaKin0"].peer_netns is False  # both ends here
        assert plain["eaKc0"].master == "docker0" and plain["eaKn0"].master is None

        got = kinds_in(host, engines)
        assert got["br-lan"].kind == "bridge"  # OpenWrt's LAN name: no engine claims it
        assert got["eaKl0"].kind == "veth"
        assert got["eaKn0"].kind == "veth"
        for name in ("docker0", "br-0123456789ab"):
            assert got[name].kind == "container_bridge" and got[name].engine == "docker"
            assert "/run/docker.sock" in (got[name].evidence or "")
        pod = got["eaKpod0"]
        assert (pod.kind, pod.engine) == ("container_bridge", "podman")
        assert pod.evidence == f"/etc/containers/networks/{podman_file.name} names it"
        veth = got["eaKc0"]
        assert (veth.kind, veth.engine, veth.master) == ("container_veth", "docker", "docker0")
        assert (veth.evidence or "").startswith("a port of docker0")


def _listen_script(port: int) -> str:
    # A PostgreSQL-like listener: a real socket on 5432 that answers nothing.
    return (
        "import socket, time\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('0.0.0.0', {port})); s.listen(8); print('up', flush=True)\n"
        "while True:\n"
        "    c, _ = s.accept(); c.close()\n"
    )


def _run_facts(facts: Path) -> dict:
    res = subprocess.run(
        [*cli_argv(), "run", "--facts", str(facts), "--format", "json", "--no-color"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode in (0, 1, 2), res.stderr
    return json.loads(res.stdout)


@requires_netns
@pytest.mark.parametrize("over", ["veth", "podman_bridge"])
def test_database_over_a_plain_veth_or_bridge_is_a_finding_unless_an_engine_owns_it(
    tmp_path: Path, over: str
) -> None:
    """A database reached over a veth whose peer is in another namespace that is no
    container, or over a bridge no engine claims: EA-DATA-002 fires (the peer really
    connects). The same bridge named by a Podman network file: the containers' bridge,
    no finding, and the words say "containers on"."""
    empty, engines = tmp_path / "empty", tmp_path / "engines"
    empty.mkdir()
    port = 5432
    with namespaces(unique("eaK-db"), unique("eaK-pe")) as (host, peer):
        if over == "veth":
            link(host, "eaKdb0", peer, "eaKpe0")
            host.ip("addr", "add", "10.213.0.1/24", "dev", "eaKdb0")
            iface = "eaKdb0"
        else:
            podman_network(engines, "eaKbr0")
            host.ip("link", "add", "eaKbr0", "type", "bridge")
            host.ip("link", "set", "eaKbr0", "up")
            link(host, "eaKdb0", peer, "eaKpe0")
            host.ip("link", "set", "eaKdb0", "master", "eaKbr0")
            host.ip("addr", "add", "10.213.0.1/24", "dev", "eaKbr0")
            iface = "eaKbr0"
        peer.ip("addr", "add", "10.213.0.2/24", "dev", "eaKpe0")
        proc = host.python(_listen_script(port))
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"

        def reaches() -> bool:
            res = peer.run(
                [
                    sys.executable,
                    "-c",
                    f"import socket; socket.create_connection(('10.213.0.1', {port}), 1)",
                ],
                timeout=10,
            )
            return res.returncode == 0

        assert wait_for(reaches, timeout=10)  # the peer namespace really connects

        plain = tmp_path / "plain.json"
        res = host.run([sys.executable, "-c", FACTS, str(empty), str(plain)], timeout=60)
        assert res.returncode == 0, res.stderr
        report = _run_facts(plain)
        data = [f for f in report["findings"] if f["rule_id"] == "EA-DATA-002"]
        assert [f["listener"]["port"] for f in data] == [port]
        assert f"everyone on {iface} (10.213.0.0/24)" in data[0]["message"]

        if over == "podman_bridge":
            owned = tmp_path / "owned.json"
            res = host.run([sys.executable, "-c", FACTS, str(engines), str(owned)], timeout=60)
            assert res.returncode == 0, res.stderr
            report = _run_facts(owned)
            assert not [f for f in report["findings"] if f["rule_id"] == "EA-DATA-002"]
            (exp,) = [e for e in report["exposures"] if e["port"] == port]
            assert "containers on eaKbr0 (10.213.0.0/24)" in exp["reachable_from"]
            assert exp["interface_kinds"] == ["loopback", "container_bridge"]
            # --facts replays the evidence: it is in the Facts document.
            (br,) = [i for i in report["facts"]["interfaces"] if i["name"] == "eaKbr0"]
            assert (br["kind"], br["engine"]) == ("container_bridge", "podman")


def test_engine_state_readers(tmp_path: Path) -> None:
    """Each engine's evidence, from files as the engines write them; a broken, huge or
    non-regular file is no evidence and no error."""
    assert Engines(str(tmp_path)).owner("docker0") is None  # nothing installed
    cni = tmp_path / "etc/cni/net.d"
    cni.mkdir(parents=True)
    (cni / "10-k8s.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "k8s",
        "plugins": [{"type": "bridge", "bridge": "eaKcni7"}, {"type": "portmap"}],
    }))  # fmt: skip
    (cni / "20-flannel.conflist").write_text(json.dumps({"plugins": [{"type": "flannel"}]}))
    (cni / "30-single.conf").write_text(json.dumps({"type": "bridge"}))  # unnamed: cni0
    (cni / "40-broken.conflist").write_text("{not json")
    (cni / "50-huge.conflist").write_text(" " * (300 * 1024) + "{}")
    os.mkfifo(cni / "60-fifo.conflist")  # must not block the collector
    for d in ("etc/libvirt", "var/lib/lxc"):
        (tmp_path / d).mkdir(parents=True)
    engines = Engines(str(tmp_path))
    owner = engines.owner("eaKcni7")
    assert owner is not None and owner.engine == "cni"
    assert owner.evidence == "/etc/cni/net.d/10-k8s.conflist names it"
    cni0 = engines.owner("cni0")
    assert cni0 is not None and cni0.evidence == "/etc/cni/net.d/20-flannel.conflist names it"
    virbr = engines.owner("virbr0")
    assert virbr is not None and virbr.engine == "libvirt" and "/etc/libvirt" in virbr.evidence
    lxc = engines.owner("lxcbr0")
    assert lxc is not None and lxc.engine == "lxc"
    for name in ("lxdbr0", "docker0", "br-0123456789ab", "podman0", "br-lan", "virbr0x"):
        assert engines.owner(name) is None, name
