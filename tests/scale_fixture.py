"""A host with 10,000 TCP and 1,000 UDP listeners, for the grouped terminal and HTML
output (issue 16) and bench/bench_render.py. Deterministic, built from the model (no
file in git: the Facts document would be megabytes).

Most sockets belong to a few processes on wide port ranges, as on a load-test or media
host; a handful are single services, rendered as on any small host:

- node (pid 812) on 0.0.0.0, TCP 20000-23999, a vite dev server (EA-DEV-001 on each);
  port 20500 also has a UPnP mapping, so it is a block of its own;
- java (pid 1500) on 127.0.0.1, TCP 30000-32999: loopback only;
- python3 (pid 2100) on [::], 2,689 TCP ports from 40000 with a hole every 50 ports
  (many ranges);
- myservice (pid 2500) on 192.168.1.23, TCP 9100-9399 (wlan0 only, no rule);
- rtpengine (pid 3000) on 0.0.0.0, UDP 50000-50997;
- five sockets of one unreadable owner (uid 0) on 0.0.0.0, TCP 7000-7004;
- single services: sshd 22, nginx 80 and 443 (one process, two ports), redis 6379,
  jupyter 8888, postgres 5432 on loopback, avahi 5353/udp, systemd-resolved 53/udp.
"""

from __future__ import annotations

from typing import Any

from exposure_audit.core.model import (
    Address,
    Facts,
    Gateway,
    HostInfo,
    Interface,
    Listener,
    ProcessInfo,
    UpnpFacts,
    UpnpMapping,
)

TCP_TOTAL = 10_000
UDP_TOTAL = 1_000
NODE_PORTS = range(20000, 24000)
UPNP_NODE_PORT = 20500

HOST = HostInfo(
    hostname="loadgen-01",
    os="Linux",
    os_release="Debian GNU/Linux 12 (bookworm)",
    kernel="6.1.0-21-amd64",
    privileged=True,
    uid=0,
    tool_version="0.1.0",
    python="3.11.7",
)
INTERFACES = (
    Interface(
        "lo",
        True,
        "loopback",
        (
            Address("127.0.0.1", 8, "ipv4", "loopback", "127.0.0.0/8"),
            Address("::1", 128, "ipv6", "loopback", "::1/128"),
        ),
        index=1,
    ),
    Interface(
        "wlan0",
        True,
        "physical",
        (Address("192.168.1.23", 24, "ipv4", "lan", "192.168.1.0/24"),),
        index=3,
    ),
    Interface(
        "tailscale0",
        True,
        "vpn",
        (Address("100.101.102.103", 32, "ipv4", "vpn", "100.101.102.103/32"),),
        index=5,
    ),
)


def _proc(pid: int, name: str, cmdline: str, user: str = "alice") -> ProcessInfo:
    return ProcessInfo(
        pid=pid,
        name=name,
        exe=None,
        cmdline=tuple(cmdline.split()),
        username=user,
        uid=0 if user == "root" else 1000,
    )


def _listener(protocol: str, address: str, port: int, p: ProcessInfo | None) -> Listener:
    family = "ipv6" if ":" in address else "ipv4"
    return Listener(protocol, family, address, port, v6only=False, uid=0, process=p)


def python_ports(count: int) -> list[int]:
    """``count`` ports from 40000, skipping every 50th (a hole per 49 ports)."""
    out: list[int] = []
    port = 40000
    while len(out) < count:
        if port % 50 != 49:
            out.append(port)
        port += 1
    return out


def build() -> Facts:
    node = _proc(812, "node", "node /home/alice/app/node_modules/.bin/vite --host")
    java = _proc(1500, "java", "java -jar /opt/loadtest/agent.jar", "root")
    py = _proc(2100, "python3", "python3 manage.py runserver --nothreading")
    mine = _proc(2500, "myservice", "/opt/myservice/bin/myservice --listen 192.168.1.23")
    rtp = _proc(3000, "rtpengine", "/usr/sbin/rtpengine --config-file=/etc/rtpengine.conf", "root")
    nginx = _proc(1200, "nginx", "nginx: master process /usr/sbin/nginx", "root")
    singles_tcp = [
        _listener("tcp", "0.0.0.0", 22, _proc(700, "sshd", "sshd: /usr/sbin/sshd -D", "root")),
        _listener("tcp", "0.0.0.0", 80, nginx),
        _listener("tcp", "0.0.0.0", 443, nginx),
        _listener(
            "tcp",
            "0.0.0.0",
            6379,
            _proc(1300, "redis-server", "/usr/bin/redis-server *:6379", "redis"),
        ),
        _listener(
            "tcp",
            "0.0.0.0",
            8888,
            _proc(
                4700,
                "jupyter-lab",
                "/usr/bin/python3 /home/alice/.local/bin/jupyter-lab --ip=0.0.0.0",
            ),
        ),
        _listener(
            "tcp",
            "127.0.0.1",
            5432,
            _proc(1400, "postgres", "/usr/lib/postgresql/15/bin/postgres", "postgres"),
        ),
    ]
    unknown = [
        Listener(
            "tcp", "ipv4", "0.0.0.0", port, uid=0, notes=("no process found holding this socket",)
        )
        for port in range(7000, 7005)
    ]
    tcp = [_listener("tcp", "0.0.0.0", port, node) for port in NODE_PORTS]
    tcp += [_listener("tcp", "127.0.0.1", port, java) for port in range(30000, 33000)]
    tcp += [_listener("tcp", "192.168.1.23", port, mine) for port in range(9100, 9400)]
    tcp += singles_tcp + unknown
    tcp += [_listener("tcp", "::", port, py) for port in python_ports(TCP_TOTAL - len(tcp))]
    udp = [
        _listener(
            "udp", "0.0.0.0", 5353, _proc(650, "avahi-daemon", "avahi-daemon: running", "avahi")
        ),
        _listener(
            "udp",
            "127.0.0.53",
            53,
            _proc(610, "systemd-resolve", "/lib/systemd/systemd-resolved", "systemd-resolve"),
        ),
    ]
    udp += [_listener("udp", "0.0.0.0", 50000 + i, rtp) for i in range(UDP_TOTAL - len(udp))]
    assert len(tcp) == TCP_TOTAL and len(udp) == UDP_TOTAL
    return Facts(
        host=HOST,
        collected_at="2026-11-27T10:00:00Z",
        interfaces=INTERFACES,
        gateways=(Gateway("ipv4", "192.168.1.1", "wlan0", True),),
        listeners=tuple(tcp + udp),
        ipv6_bindv6only=False,
        upnp=UpnpFacts(
            status="ok",
            location="http://192.168.1.1:5000/rootDesc.xml",
            friendly_name="HomeRouter",
            external_ip="203.0.113.7",
            external_scope="public",
            mappings=(
                UpnpMapping(
                    "tcp", UPNP_NODE_PORT, "192.168.1.23", UPNP_NODE_PORT, description="vite"
                ),
            ),
        ),
    )


STAMP = "2026-11-27T14:00:05Z"


def report(facts: Facts | None = None) -> dict[str, Any]:
    """The report document of ``facts`` (:func:`build` by default), as `run --facts`
    makes it: the built-in rules and default waivers, no user config file, a fixed date."""
    import datetime as dt

    from exposure_audit.analysis.evaluate import EvaluateOptions, evaluate
    from exposure_audit.policy.config import Config, read_default_waivers
    from exposure_audit.reporting.document import build_report

    opts = EvaluateOptions(
        today=dt.date(2026, 11, 27), config=Config(waivers=read_default_waivers())
    )
    return build_report(evaluate(facts or build(), opts), generated_at=STAMP)


# Alike processes (issue 16): Docker publishes `-p 20000-23999:20000-23999` with one
# docker-proxy process per port; pre-fork workers and copies of a dev server likewise.
PROXY_PORTS = range(20000, 24000)
PROXY_PIDS = [*range(10000, 12000), *range(12100, 14100)]  # two runs of pids


def _proxy(pid: int, port: int, user: str = "root", exe: str = "/usr/bin/docker-proxy",
           container_ip: str = "172.17.0.2") -> ProcessInfo:  # fmt: skip
    cmdline = (
        f"{exe} -proto tcp -host-ip 0.0.0.0 -host-port {port}"
        f" -container-ip {container_ip} -container-port {port}"
    )
    return ProcessInfo(
        pid=pid,
        name="docker-proxy",
        exe=exe,
        cmdline=tuple(cmdline.split()),
        username=user,
        uid=0 if user == "root" else 1000,
    )


def build_proxies() -> Facts:
    """4,000 docker-proxy processes with a port each (one entry), 8 PHP built-in servers
    with a port each (one entry), and processes that are not alike, each its own entry:
    docker-proxies of another user (24000), another executable (24001), another container
    address (24002), and two node processes whose command line names no port (6100,
    6101). nginx (one process, ports 80 and 443) and sshd render as on a small host."""
    tcp = [
        _listener("tcp", "0.0.0.0", port, _proxy(pid, port))
        for pid, port in zip(PROXY_PIDS, PROXY_PORTS, strict=True)
    ]
    tcp += [
        _listener("tcp", "0.0.0.0", 24000, _proxy(15000, 24000, user="alice")),
        _listener("tcp", "0.0.0.0", 24001, _proxy(15001, 24001, exe="/opt/docker/docker-proxy")),
        _listener("tcp", "0.0.0.0", 24002, _proxy(15002, 24002, container_ip="172.17.0.3")),
    ]
    tcp += [
        _listener(
            "tcp",
            "0.0.0.0",
            8001 + i,
            _proc(3100 + i, "php", f"php -S 0.0.0.0:{8001 + i} -t /srv/www", "www"),
        )
        for i in range(8)
    ]
    # one command line that names no port: two services, not two copies of one
    tcp += [
        _listener("tcp", "0.0.0.0", 6100 + i, _proc(3200 + i, "node", "node server.js"))
        for i in range(2)
    ]
    nginx = _proc(1200, "nginx", "nginx: master process /usr/sbin/nginx", "root")
    tcp += [
        _listener("tcp", "0.0.0.0", 22, _proc(700, "sshd", "sshd: /usr/sbin/sshd -D", "root")),
        _listener("tcp", "0.0.0.0", 80, nginx),
        _listener("tcp", "0.0.0.0", 443, nginx),
    ]
    return Facts(
        host=HOST,
        collected_at="2026-11-27T10:00:00Z",
        interfaces=INTERFACES,
        gateways=(Gateway("ipv4", "192.168.1.1", "wlan0", True),),
        listeners=tuple(tcp),
        ipv6_bindv6only=False,
        upnp=UpnpFacts(status="not_found", message="no UPnP router answered"),
    )
