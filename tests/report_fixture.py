"""Hand-built Evaluations for the renderer tests: a laptop on Wi-Fi with a VPN, Docker,
a router forwarding one port by UPnP, and a mix of findings (one waived).

Built by hand, not through the rules engine, so the golden outputs test the renderers
alone and do not change whenever a rule's wording does.
"""

from __future__ import annotations

from exposure_audit.core.model import (
    SCOPE_RANK,
    Address,
    CollectorWarning,
    DanglingMapping,
    Evaluation,
    Exposure,
    Facts,
    Finding,
    Gateway,
    HostInfo,
    Interface,
    Listener,
    ProcessInfo,
    Reach,
    UpnpFacts,
    UpnpMapping,
)

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "</script><script>alert(2)</script>"
ANSI_EVIL = "\x1b[2J\x1b]0;pwned\x07evil\rOVERWRITE\x1b[31m"

HOST = HostInfo(
    hostname="laptop",
    os="Linux",
    os_release="Debian GNU/Linux 12 (bookworm)",
    kernel="6.1.0-18-amd64",
    privileged=True,
    uid=0,
    tool_version="0.1.0",
    python="3.11.2",
)

LO = Interface(
    "lo",
    True,
    "loopback",
    (
        Address("127.0.0.1", 8, "ipv4", "loopback", "127.0.0.0/8"),
        Address("::1", 128, "ipv6", "loopback", "::1/128"),
    ),
    index=1,
)
WLAN = Interface(
    "wlan0",
    True,
    "physical",
    (
        Address("192.168.1.23", 24, "ipv4", "lan", "192.168.1.0/24"),
        Address("fe80::1c2d:3eff:fe4f:5a6b", 64, "ipv6", "link_local", "fe80::/64", zone="wlan0"),
    ),
    index=3,
    mac="1e:2d:3e:4f:5a:6b",
)
TS = Interface(
    "tailscale0",
    True,
    "vpn",
    (Address("100.101.102.103", 32, "ipv4", "vpn", "100.101.102.103/32"),),
    index=5,
)
DOCKER = Interface(
    "docker0",
    False,
    "container_bridge",
    (Address("172.17.0.1", 16, "ipv4", "lan", "172.17.0.0/16"),),
    index=4,
)
INTERFACES = (LO, WLAN, TS, DOCKER)


def _reach_all(family: str) -> tuple[Reach, ...]:
    out = []
    for iface in INTERFACES:
        for a in iface.addresses:
            if a.family == family:
                out.append(Reach(iface.name, a.address, a.scope, a.network, up=iface.up))
    return tuple(out)


def _reach_one(address: str) -> tuple[Reach, ...]:
    for iface in INTERFACES:
        for a in iface.addresses:
            if a.address == address:
                return (Reach(iface.name, a.address, a.scope, a.network, up=iface.up),)
    raise KeyError(address)


def _exposure(lst: Listener, mappings: tuple[UpnpMapping, ...] = ()) -> Exposure:
    if lst.address in ("0.0.0.0", "::"):
        reach = _reach_all(lst.family)
        if lst.address == "::" and lst.v6only is False:
            reach += _reach_all("ipv4")
    else:
        reach = _reach_one(lst.address)
    scopes = sorted({r.scope for r in reach if r.up}, key=SCOPE_RANK.__getitem__)
    widest = "internet" if mappings else scopes[-1]
    kinds = tuple(dict.fromkeys(i.kind for i in INTERFACES for r in reach if r.interface == i.name))
    return Exposure(lst, reach, widest, tuple(scopes), kinds, mappings)


def _proc(pid: int, name: str, cmd: tuple[str, ...], user: str = "alice") -> ProcessInfo:
    return ProcessInfo(pid, name, cmd[0], cmd, user, 1000 if user == "alice" else 0)


def build(hostile: bool = False) -> Evaluation:
    """The laptop. ``hostile`` puts HTML/ANSI payloads in a cmdline and a UPnP description."""
    jupyter_cmd: tuple[str, ...] = (
        "/usr/bin/python3",
        "-m",
        "jupyter",
        "notebook",
        "--ip=0.0.0.0",
        "--NotebookApp.token=",
        "--notebook-dir=/home/alice/projects/very/long/path/to/the/notebooks",
    )
    upnp_desc = "jupyter"
    if hostile:
        jupyter_cmd = (*jupyter_cmd, XSS_IMG, XSS_SCRIPT, ANSI_EVIL)
        upnp_desc = f"{XSS_IMG}{XSS_SCRIPT}"
    jupyter_map = UpnpMapping("tcp", 8888, "192.168.1.23", 8888, upnp_desc, True, 0)
    rdp_map = UpnpMapping("tcp", 3389, "192.168.1.23", 3389, "old rdp", True, 86400)

    jupyter = Listener(
        "tcp",
        "ipv4",
        "0.0.0.0",
        8888,
        uid=1000,
        inode=1001,
        process=_proc(4242, "jupyter-notebook" + (ANSI_EVIL if hostile else ""), jupyter_cmd),
    )
    vite = Listener(
        "tcp",
        "ipv6",
        "::",
        5173,
        v6only=False,
        uid=1000,
        inode=1002,
        process=_proc(5150, "node", ("node", "/home/alice/app/node_modules/.bin/vite", "--host")),
    )
    sshd = Listener(
        "tcp",
        "ipv4",
        "0.0.0.0",
        22,
        uid=0,
        inode=1003,
        process=_proc(
            812, "sshd", ("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",), "root"
        ),
    )
    prom = Listener(
        "tcp",
        "ipv4",
        "100.101.102.103",
        9090,
        uid=1000,
        inode=1004,
        process=_proc(
            2020, "prometheus", ("/usr/bin/prometheus", "--web.listen-address=100.101.102.103:9090")
        ),
    )
    mdns = Listener(
        "udp",
        "ipv4",
        "0.0.0.0",
        5353,
        uid=108,
        inode=1005,
        process=ProcessInfo(
            640,
            "avahi-daemon",
            "/usr/sbin/avahi-daemon",
            ("avahi-daemon: running [laptop.local]",),
            "avahi",
            108,
        ),
    )
    unknown = Listener(
        "tcp",
        "ipv4",
        "0.0.0.0",
        6000,
        uid=1001,
        inode=1006,
        process=None,
        notes=("process not visible to this user (socket owner uid 1001); run as root to see it",),
    )
    pg = Listener(
        "tcp",
        "ipv4",
        "127.0.0.1",
        5432,
        uid=105,
        inode=1007,
        process=_proc(901, "postgres", ("/usr/lib/postgresql/15/bin/postgres",), "postgres"),
    )
    dns = Listener(
        "udp",
        "ipv6",
        "::1",
        53,
        v6only=True,
        uid=102,
        inode=1008,
        process=_proc(
            700, "systemd-resolve", ("/lib/systemd/systemd-resolved",), "systemd-resolve"
        ),
    )
    listeners = (jupyter, vite, sshd, prom, mdns, unknown, pg, dns)

    upnp = UpnpFacts(
        status="ok",
        location="http://192.168.1.1:5000/rootDesc.xml",
        control_url="http://192.168.1.1:5000/ctl/IPConn",
        service_type="urn:schemas-upnp-org:service:WANIPConnection:1",
        friendly_name="HomeRouter" + (XSS_IMG if hostile else ""),
        manufacturer="ACME",
        model_name="AR-9000",
        external_ip="203.0.113.7",
        external_scope="public",
        mappings=(jupyter_map, rdp_map),
    )
    facts = Facts(
        host=HOST,
        collected_at="2026-11-27T14:00:00Z",
        interfaces=INTERFACES,
        gateways=(Gateway("ipv4", "192.168.1.1", "wlan0", True),),
        listeners=listeners,
        upnp=upnp,
        warnings=(
            CollectorWarning(
                "listeners",
                "1 listener's process could not be read (owner uid 1001)",
                "run as root for full attribution",
            ),
        ),
        ipv6_bindv6only=False,
    )
    x_jup = _exposure(jupyter, (jupyter_map,))
    x_vite = _exposure(vite)
    x_ssh = _exposure(sshd)
    x_prom = _exposure(prom)
    x_mdns = _exposure(mdns)
    x_unknown = _exposure(unknown)
    x_pg = _exposure(pg)
    x_dns = _exposure(dns)
    dangling = DanglingMapping(rdp_map)

    def finding(
        rule: str, sev: str, title: str, msg: str, fix: str, x: Exposure | None, **kw: object
    ) -> Finding:
        key = x.key if x else "dangling"
        return Finding(rule, sev, title, msg, fix, f"{rule}:{key}", exposure=x, **kw)  # type: ignore[arg-type]

    findings = (
        finding(
            "EA-UPNP-001",
            "critical",
            "Port forwarded from the internet by UPnP",
            "The router forwards 203.0.113.7:8888/tcp to jupyter-notebook on 0.0.0.0:8888",
            "Delete the mapping: upnpc -d 8888 TCP; then turn UPnP off on the router.",
            x_jup,
            references=("https://www.rfc-editor.org/rfc/rfc6970",),
        ),
        finding(
            "EA-DEV-003",
            "high",
            "Jupyter reachable beyond this machine",
            f"jupyter-notebook listens on 0.0.0.0:8888 ({upnp_desc}) and is reachable from the LAN",
            "Bind it to 127.0.0.1: jupyter notebook --ip=127.0.0.1",
            x_jup,
            tags=("dev-server", "notebook"),
            service="jupyter",
            references=("https://jupyter-server.readthedocs.io/en/latest/operators/security.html",),
        ),
        finding(
            "EA-DEV-001",
            "high",
            "Development server reachable beyond this machine",
            "node listens on [::]:5173 and is reachable from wlan0, tailscale0",
            "Bind it to 127.0.0.1 (vite: remove --host, or server.host = 'localhost').",
            x_vite,
            tags=("dev-server",),
            service="vite",
        ),
        finding(
            "EA-ADMIN-001",
            "medium",
            "Remote administration reachable from the network",
            "sshd listens on 0.0.0.0:22 and is reachable from wlan0, tailscale0",
            "If you do not need SSH from other machines: sudo systemctl disable --now ssh",
            x_ssh,
            tags=("remote-admin",),
            service="ssh",
        ),
        finding(
            "EA-VPN-001",
            "low",
            "Service reachable from VPN peers",
            "prometheus listens on 100.101.102.103:9090, reachable by every peer on tailscale0",
            "Check your VPN's access controls, or bind it to 127.0.0.1.",
            x_prom,
            service="prometheus",
        ),
        finding(
            "EA-MDNS-001",
            "info",
            "mDNS responder",
            "avahi-daemon answers mDNS on 0.0.0.0:5353/udp",
            "Expected on a desktop; disable avahi-daemon on servers.",
            x_mdns,
            waived=True,
            waiver_reason="desktop mDNS is expected",
        ),
        finding(
            "EA-UPNP-002",
            "high",
            "UPnP mapping with nothing listening",
            "The router forwards 203.0.113.7:3389/tcp to 192.168.1.23:3389, where nothing listens",
            "Delete the mapping: upnpc -d 3389 TCP",
            None,
            dangling=dangling,
        ),
    )
    return Evaluation(
        facts=facts,
        exposures=(x_jup, x_vite, x_ssh, x_prom, x_mdns, x_unknown, x_pg, x_dns),
        findings=findings,
        dangling=(dangling,),
        rules_evaluated=(
            "EA-ADMIN-001",
            "EA-DEV-001",
            "EA-DEV-003",
            "EA-MDNS-001",
            "EA-UPNP-001",
            "EA-UPNP-002",
            "EA-VPN-001",
        ),
        warnings=facts.warnings,
    )


def quiet_host() -> Evaluation:
    """Nothing reachable beyond loopback."""
    pg = Listener(
        "tcp",
        "ipv4",
        "127.0.0.1",
        5432,
        uid=105,
        process=_proc(901, "postgres", ("/usr/lib/postgresql/15/bin/postgres",), "postgres"),
    )
    facts = Facts(
        host=HOST,
        collected_at="2026-11-27T14:00:00Z",
        interfaces=INTERFACES,
        listeners=(pg,),
        upnp=UpnpFacts(status="disabled", message="UPnP not checked (--no-upnp)"),
    )
    return Evaluation(facts=facts, exposures=(_exposure(pg),), findings=())
