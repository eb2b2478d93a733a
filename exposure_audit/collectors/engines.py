"""Which bridges the container engines on this machine say are theirs.

A bridge is the containers' only when an engine's own state names it; its name alone
says nothing (``br-lan`` is OpenWrt's LAN, a hand-made ``br0`` is the host's). Cheap
evidence, read once per collection:

- Docker: the bridge is ``docker0`` or ``br-<12 hex>`` (the names Docker gives its
  networks) *and* the Docker engine is present (``/run/docker.sock``, ``/run/docker``);
- Podman (netavark): a network file (``/etc/containers/networks/*.json``,
  ``/var/lib/containers/storage/networks/*.json``) names it as ``network_interface``;
  ``podman0`` (the default network, never written to a file) with Podman's storage
  present;
- CNI (Kubernetes, Podman 3, containerd): a ``bridge`` plugin in ``/etc/cni/net.d``
  names it (``cni0`` when it gives no name; flannel delegates to ``cni0``);
- libvirt ``virbrN`` with ``/etc/libvirt``; LXC ``lxcbrN`` with ``/etc/lxc`` or
  ``/var/lib/lxc``; LXD ``lxdbrN`` with its state directory.

``root`` is the file-system root the paths are read under: ``/`` on a real run; tests
point it at a temporary tree (the engines' files cannot be made in the real ``/etc``).
"""

from __future__ import annotations

import json
import os
import re

from exposure_audit.core.records import record

_MAX_FILE = 256 * 1024  # a network file is a few hundred bytes
_MAX_FILES = 512  # per directory

_DOCKER_NAME = re.compile(r"(docker0|br-[0-9a-f]{12})\Z")
_DOCKER_STATE = ("run/docker.sock", "var/run/docker.sock", "run/docker")
_PODMAN_NETWORKS = ("etc/containers/networks", "var/lib/containers/storage/networks")
_PODMAN_STATE = ("var/lib/containers/storage", "run/containers", "etc/containers")
_CNI_DIRS = ("etc/cni/net.d",)
# name pattern -> (engine, directories whose presence says the engine is installed)
_BY_NAME: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (re.compile(r"virbr\d+\Z"), "libvirt", ("etc/libvirt", "var/lib/libvirt")),
    (re.compile(r"lxcbr\d+\Z"), "lxc", ("etc/lxc", "var/lib/lxc")),
    (re.compile(r"lxdbr\d+\Z"), "lxd", ("var/snap/lxd", "var/lib/lxd")),
)


@record
class Owner:
    """The engine that owns a bridge, and what says so."""

    engine: str
    evidence: str


class Engines:
    """The engines' state under ``root``, read once; ``owner(name)`` per bridge."""

    def __init__(self, root: str = "/") -> None:
        self.root = root
        self._named: dict[str, Owner] = {}
        for directory in _PODMAN_NETWORKS:
            for path, doc in self._json_files(directory, (".json",)):
                name = doc.get("network_interface") if isinstance(doc, dict) else None
                if isinstance(name, str) and name:
                    self._named.setdefault(name, Owner("podman", f"{path} names it"))
        for directory in _CNI_DIRS:
            for path, doc in self._json_files(directory, (".conflist", ".conf")):
                for name in _cni_bridges(doc):
                    self._named.setdefault(name, Owner("cni", f"{path} names it"))
        self._docker = self._first(_DOCKER_STATE)
        self._podman = self._first(_PODMAN_STATE)

    def owner(self, name: str) -> Owner | None:
        """The engine whose state claims bridge ``name``, or None."""
        if name in self._named:
            return self._named[name]
        if self._docker and _DOCKER_NAME.match(name):
            return Owner("docker", f"a Docker network's bridge name, and {self._docker} exists")
        if self._podman and name == "podman0":
            return Owner("podman", f"Podman's default bridge, and {self._podman} exists")
        for pattern, engine, dirs in _BY_NAME:
            found = self._first(dirs) if pattern.match(name) else None
            if found:
                return Owner(engine, f"{engine}'s bridge name, and {found} exists")
        return None

    def _path(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def _first(self, rels: tuple[str, ...]) -> str | None:
        """The first of ``rels`` that exists, as an absolute path under ``root``."""
        for rel in rels:
            if os.path.lexists(self._path(rel)):
                return "/" + rel
        return None

    def _json_files(self, rel: str, suffixes: tuple[str, ...]) -> list[tuple[str, object]]:
        directory = self._path(rel)
        try:
            names = sorted(os.listdir(directory))[:_MAX_FILES]
        except OSError:
            return []
        out: list[tuple[str, object]] = []
        for name in names:
            if not name.endswith(suffixes):
                continue
            try:
                fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as fh:
                    raw = fh.read(_MAX_FILE + 1)
                doc = json.loads(raw) if len(raw) <= _MAX_FILE else None
            except (OSError, ValueError, RecursionError):
                continue
            out.append((f"/{rel}/{name}", doc))
        return out


def _cni_bridges(doc: object) -> list[str]:
    """Bridge names a CNI config (.conflist or single .conf) creates."""
    if not isinstance(doc, dict):
        return []
    listed = doc.get("plugins")
    plugins: list[object] = listed if isinstance(listed, list) else [doc]
    out: list[str] = []
    for plugin in plugins:
        if not isinstance(plugin, dict):
            continue
        kind = plugin.get("type")
        if kind == "bridge":
            name = plugin.get("bridge")
            out.append(name if isinstance(name, str) and name else "cni0")
        elif kind == "flannel":
            out.append("cni0")
    return out
