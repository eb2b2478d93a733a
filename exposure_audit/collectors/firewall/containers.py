"""Container port publishing: DNAT rules written by Docker / Podman, container names.

Docker publishes ``-p 8080:80`` with a NAT rule (iptables-save ``-t nat``)::

    -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80

(the same rule through iptables-nft, or in Docker's native nftables tables). Podman
writes NETAVARK-DN-* / CNI-DN-* chains or an ``inet netavark`` table. Such traffic is
forwarded, so it never meets the host's input chains (ufw, firewalld's INPUT zones).

Names come from the runtimes' own files when readable (Docker's
containers/*/config.v2.json, Podman's containers.json): the daemons are never called.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable

from exposure_audit.core import records
from exposure_audit.core.model import ContainerInfo, FirewallMatch, PublishedPort

DOCKER_ROOT = "/var/lib/docker"
PODMAN_CONTAINERS_JSON = "/var/lib/containers/storage/overlay-containers/containers.json"
_MAX_CONFIG_BYTES = 4 * 1024 * 1024
_MAX_CONTAINERS = 2000
_HEX_ID = r"\b([0-9a-f]{64})\b"  # re's own cache compiles it once, when a rule needs it


def nat_owner(table: str, chain: str) -> str | None:
    """Which runtime wrote a NAT chain, from its names; None = not a container runtime."""
    t, c = table.lower(), chain.lower()
    if "docker" in t or c == "docker" or c.startswith("docker-") or c.startswith("docker_"):
        return "docker"
    if "netavark" in t or c.startswith("netavark") or c.startswith("cni-dn-") or "podman" in c:
        return "podman"
    return None


def container_id_in(text: str) -> str | None:
    m = re.search(_HEX_ID, text)
    return m.group(1) if m else None


def _ports(values: tuple[str, ...]) -> list[tuple[int, int]] | None:
    out = []
    for v in values:
        lo, sep, hi = v.replace(":", "-").partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            return None
        out.append((a, b))
    return out


def published_from_dnat(
    *,
    owner: str,
    matches: Iterable[FirewallMatch],
    target_address: str | None,
    target_port: int | None,
    evidence: str,
    container_id: str | None = None,
    family: str = "ipv4",
) -> list[PublishedPort]:
    """PublishedPort entries for one DNAT rule, from its normalised conditions.

    A rule without a destination port (or with conditions we cannot read) publishes
    nothing we can name; it is skipped rather than guessed."""
    if not target_address:
        return []
    protocol = None
    ports: list[tuple[int, int]] | None = None
    host_address = None
    excluded = None
    for m in matches:
        if m.field == "l4proto" and not m.negate and len(m.values) == 1:
            protocol = m.values[0]
        elif m.field == "dport" and not m.negate:
            ports = _ports(m.values)
        elif m.field == "daddr" and not m.negate and len(m.values) == 1:
            host_address = m.values[0].removesuffix("/32").removesuffix("/128")
        elif m.field == "iifname" and m.negate and len(m.values) == 1:
            excluded = m.values[0]
        elif m.field == "nfproto" and m.values:
            family = m.values[0]
    if protocol not in ("tcp", "udp", "sctp") or not ports:
        return []
    out = []
    for lo, hi in ports:
        tport = target_port if target_port is not None else lo
        out.append(
            PublishedPort(
                protocol=protocol,
                host_port=lo,
                host_port_end=hi if hi != lo else None,
                target_address=target_address,
                target_port=tport,
                published_by=owner,
                family=family,
                host_address=host_address,
                excluded_interface=excluded,
                container_id=container_id,
                bypasses_input_filter=True,
                evidence=evidence,
            )
        )
    return out


def _read_json(path: str) -> object | None:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_CONFIG_BYTES + 1)
    except OSError:
        return None
    if len(raw) > _MAX_CONFIG_BYTES:
        return None
    try:
        data: object = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data


def docker_containers(root: str | os.PathLike[str] = DOCKER_ROOT) -> list[ContainerInfo]:
    """Running and stopped containers from Docker's config.v2.json files."""
    out: list[ContainerInfo] = []
    top = os.path.join(root, "containers")
    try:
        names = sorted(os.listdir(top))[:_MAX_CONTAINERS]
    except OSError:
        return out
    for d in names:
        cfg = _read_json(os.path.join(top, d, "config.v2.json"))
        if not isinstance(cfg, dict):
            continue
        raw_id, raw_name = cfg.get("ID"), cfg.get("Name")
        cid = raw_id if isinstance(raw_id, str) else d
        name = raw_name if isinstance(raw_name, str) else None
        addrs: list[str] = []
        nets = (cfg.get("NetworkSettings") or {}).get("Networks") or {}
        if isinstance(nets, dict):
            for net in nets.values():
                if isinstance(net, dict):
                    for key in ("IPAddress", "GlobalIPv6Address"):
                        a = net.get(key)
                        if isinstance(a, str) and a:
                            addrs.append(a)
        out.append(ContainerInfo(cid, "docker", name.lstrip("/") if name else None, tuple(addrs)))
    return out


def podman_containers(
    path: str | os.PathLike[str] = PODMAN_CONTAINERS_JSON,
) -> list[ContainerInfo]:
    data = _read_json(os.fspath(path))
    out: list[ContainerInfo] = []
    if not isinstance(data, list):
        return out
    for item in data[:_MAX_CONTAINERS]:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            names = item.get("names")
            name = names[0] if isinstance(names, list) and names else None
            out.append(ContainerInfo(item["id"], "podman", name if isinstance(name, str) else None))
    return out


def attach_containers(
    published: list[PublishedPort], containers: list[ContainerInfo]
) -> list[PublishedPort]:
    """Fill container id/name on published ports from the target address or id."""
    out = []
    for pp in published:
        found = None
        for c in containers:
            if (pp.container_id and c.id.startswith(pp.container_id)) or (
                pp.target_address in c.addresses
            ):
                found = c
                break
        if found is not None:
            pp = records.replace(pp, container_id=found.id, container_name=found.name)
        out.append(pp)
    return out
