"""The firewall collector: the live inbound ruleset and container port publishing.

Reads ``nft -j list ruleset`` (plus ``nft -a list ruleset`` for the rule text quoted as
evidence), ``iptables-save`` / ``ip6tables-save`` for tables written by iptables-nft
(their extensions, e.g. ``-m addrtype``, are opaque in nft's JSON; a table without any,
or with nft-only sets and maps that a save would misprint, is read from the JSON) and
``iptables-legacy-save`` / ``ip6tables-legacy-save`` for the legacy backend (both may be
active at once: a packet must pass both). Only what exists is read: the kernel's
nftables table list (nftlist.py, one netlink request) and /proc/net/ip_tables_names
decide which commands start. Needs root; otherwise the backend is "unavailable" with a
warning and every exposure stays ``unknown``. Never changes a rule.
"""

from __future__ import annotations

import json
import os

from exposure_audit.collectors.firewall import containers, nftlist
from exposure_audit.collectors.spawn import Spawned, which
from exposure_audit.core.model import (
    CollectorWarning,
    FirewallChain,
    FirewallFacts,
    FirewallRule,
    PublishedPort,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TIMEOUT = 5.0
_MAX_OUTPUT = 64 * 1024 * 1024


class _Command:
    """A command started at once (the collector's commands run side by side: each takes
    a few ms, mostly its own start-up); ``result()`` waits for it."""

    def __init__(self, argv: list[str], timeout: float) -> None:
        self.argv = argv
        self._spawned = Spawned(argv, timeout, _MAX_OUTPUT, env={**os.environ, "LC_ALL": "C"})

    def result(self) -> tuple[str | None, str]:
        """(stdout, error message). stdout None when the command could not run or failed."""
        out, _err, error = self._spawned.result()
        if out is None:
            return None, error
        return out.decode("utf-8", "backslashreplace"), ""


def _run(argv: list[str], timeout: float) -> tuple[str | None, str]:
    """(stdout, error message). stdout None when the command could not run or failed."""
    return _Command(argv, timeout).result()


def _save_tables(text: str) -> set[str]:
    """Tables an iptables-save output can represent (not marked incompatible)."""
    tables = {line[1:].strip() for line in text.splitlines() if line.startswith("*")}
    for line in text.splitlines():
        if "incompatible" in line and "`" in line:
            bad = line.split("`", 1)[1].split("'", 1)[0]
            tables.discard(bad)
    return tables


_FAMILIES = (("ip", "iptables"), ("ip6", "ip6tables"))
# The tables iptables-nft creates (ufw, Docker).
_IPTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})
# nftables families on the inbound path modelled here (as nftables.INET_FAMILIES, which
# is not imported unless a command ran)
_INBOUND_FAMILIES = ("ip", "ip6", "inet")


def _save_commands(prefix: str, timeout: float) -> tuple[str | None, str | None]:
    """(the nft-backend save command, the legacy one) for iptables or ip6tables.

    iptables >= 1.8 installs both as ``*-nft-save`` / ``*-legacy-save``; older ones
    only ``*-save``, whose --version says "(nf_tables)" for the nft backend."""
    nft = f"{prefix}-nft-save" if which(f"{prefix}-nft-save") else None
    legacy = f"{prefix}-legacy-save" if which(f"{prefix}-legacy-save") else None
    generic = f"{prefix}-save"
    if (nft is None or legacy is None) and which(generic):
        version, _ = _run([generic, "--version"], timeout)
        if version is not None and "nf_tables" in version:
            nft = nft or generic
        elif version is not None:
            legacy = legacy or generic
    if legacy is not None and not _legacy_tables_in_use(prefix):
        legacy = None  # nothing to read: save a process start (and a modprobe) per run
    return nft, legacy


_LEGACY_TABLE_NAMES = {
    "iptables": "/proc/net/ip_tables_names",
    "ip6tables": "/proc/net/ip6_tables_names",
}


def _legacy_tables_in_use(prefix: str) -> bool:
    """Whether the legacy (x_tables) backend has a table in this network namespace: the
    kernel lists them in /proc/net/ip_tables_names, and the file is missing while the
    module is not loaded (then there is none). When unsure, yes."""
    try:
        with open(_LEGACY_TABLE_NAMES[prefix], "rb") as fh:
            return bool(fh.read(4096).strip())
    except FileNotFoundError:
        return False
    except (OSError, KeyError):
        return True


def collect_firewall(
    timeout: float = TIMEOUT,
) -> tuple[FirewallFacts, list[PublishedPort], list[CollectorWarning]]:
    """The inbound ruleset (normalised) and DNAT-published container ports."""
    return start_firewall(timeout).finish()


def start_firewall(timeout: float = TIMEOUT) -> FirewallRead:
    """Start the firewall commands; ``finish()`` on the result reads and normalises their
    output. In between, the caller collects the rest: the commands take a few ms each,
    mostly their own start-up."""
    return FirewallRead(timeout)


class FirewallRead:
    """The firewall commands, started (see start_firewall)."""

    def __init__(self, timeout: float) -> None:
        self.privileged = os.geteuid() == 0
        if not self.privileged:
            return
        commands = {fam: _save_commands(prefix, timeout) for fam, prefix in _FAMILIES}
        # Only what has something to read: the kernel lists its nftables tables in one
        # netlink round trip (None: it could not be asked, so every command runs).
        flags = nftlist.table_flags(timeout)
        tables = None if flags is None else list(flags)
        # dormant tables (``flags dormant``): registered no hook, so none of their rules
        # applies. None: the kernel could not be asked; the text listing says then.
        self.dormant: set[tuple[str, str]] | None = None
        if flags is not None:
            self.dormant = {t for t, f in flags.items() if f & nftlist.NFT_TABLE_F_DORMANT}
        families = None if tables is None else {family for family, _name in tables}
        # No ip, ip6 or inet table at all: nothing inbound to read (legacy aside).
        self.no_nft_tables = families is not None and not families & set(_INBOUND_FAMILIES)
        # All at once; read in finish() in this order, which is what decides precedence.
        self.nft_saves = {
            fam: _Command([cmd], timeout)
            for fam, (cmd, _) in commands.items()
            if cmd and (families is None or fam in families)
        }
        self.nft_json: _Command | None = None
        # with a dormant table, one ``nft -j list table`` per other table instead: nft
        # 1.0.6 prints a dormant table's flags as garbage, or cuts the JSON short there
        self.nft_json_tables: list[_Command] = []
        self.nft_text: _Command | None = None
        self.timeout = timeout
        if not self.no_nft_tables and self.dormant:
            self.nft_json_tables = [
                _Command(["nft", "-j", "list", "table", f, n], timeout)
                for f, n in tables or ()
                if f in _INBOUND_FAMILIES and (f, n) not in self.dormant
            ]
        elif not self.no_nft_tables:
            self.nft_json = _Command(["nft", "-j", "list", "ruleset"], timeout)
            # The rule text quoted as evidence, for tables read from the JSON. Only
            # iptables-named tables (ufw, Docker) are usually read from the saves
            # instead: then it starts later, and only if the JSON is needed after all.
            inbound = [(f, n) for f, n in tables or () if f in _INBOUND_FAMILIES]
            if tables is None or not all(f != "inet" and n in _IPTABLES_TABLES for f, n in inbound):
                self.start_nft_text()
        self.legacy_saves = {
            fam: _Command([cmd], timeout) for fam, (_, cmd) in commands.items() if cmd
        }

    def start_nft_text(self) -> None:
        if self.nft_text is None:
            self.nft_text = _Command(["nft", "-a", "list", "ruleset"], self.timeout)

    def finish(self) -> tuple[FirewallFacts, list[PublishedPort], list[CollectorWarning]]:
        """The inbound ruleset (normalised) and DNAT-published container ports."""
        warnings: list[CollectorWarning] = []
        if not self.privileged:
            msg = "firewall rules not read: reading nftables/iptables needs root"
            warnings.append(
                CollectorWarning(
                    "firewall",
                    msg,
                    hint="run exposure-audit as root (sudo) to check firewall rules",
                )
            )
            return FirewallFacts(backend="unavailable", message=msg), [], warnings
        return _finish(self, warnings)


def _finish(
    read: FirewallRead, warnings: list[CollectorWarning]
) -> tuple[FirewallFacts, list[PublishedPort], list[CollectorWarning]]:
    nft_saves, nft_json, legacy_saves = read.nft_saves, read.nft_json, read.legacy_saves
    if nft_saves or legacy_saves or nft_json is not None or read.dormant:
        # the parser, only when there is something to parse (no table: nothing ran)
        from exposure_audit.collectors.firewall import nftables
    chains: list[FirewallChain] = []
    published: list[PublishedPort] = []
    sources: list[str] = []
    tools_found = read.no_nft_tables  # the kernel itself said there is nothing to read

    # nft's JSON first: it decides which tables the saves may speak for.
    nft_data: Any = None
    out, err = None, ""
    if nft_json is not None:  # else: no table to read
        out, err = nft_json.result()
    elif read.dormant:
        out, err = _json_of_tables(read.nft_json_tables)
    if out is None:
        if err and "not found" not in err:
            warnings.append(CollectorWarning("firewall", err))
    else:
        tools_found = True
        try:
            nft_data = json.loads(out)
        except ValueError as exc:
            warnings.append(CollectorWarning("firewall", f"nft -j list ruleset: {exc}"))
    traits = nftables.table_traits(nft_data) if nft_data is not None else {}
    dormant = _dormant_tables(read, nft_data)

    # iptables-nft tables: read as iptables-save text, which shows the iptables
    # extensions nft's JSON cannot ("xt" expressions), and skipped in the JSON. But a
    # save prints what it does not understand as if it were not there (iptables 1.8.9:
    # "tcp dport { 22, 80 } drop" as "-p tcp -j DROP", all of TCP), so a table with
    # nft-only constructs (sets, maps), or without any extension, is read from the JSON.
    skip: set[tuple[str, str]] = set(dormant)
    saves = _read_saves(nft_saves, warnings)
    tools_found = tools_found or saves.ran
    for fam, out, got, pub in saves.parsed:
        tables = _save_tables(out)
        if nft_data is not None:
            tables = {t for t in tables if traits.get((fam, t), (False, False)) == (True, False)}
        got = [c for c in got if c.table in tables and (fam, c.table) not in dormant]
        if "nat" not in tables:
            pub = []  # DNAT publishes come from the nat table: read from the JSON then
        if any(c.rules or c.policy not in (None, "accept") for c in got) or pub:
            sources.append("iptables-nft")
        chains.extend(got)
        published.extend(pub)
        skip.update((fam, t) for t in tables)

    if nft_data is not None:
        text = None
        # a rule in a table read from the JSON: its evidence text is needed after all
        if any(f in _INBOUND_FAMILIES and (f, t) not in skip for f, t in traits):
            read.start_nft_text()
            assert read.nft_text is not None
            text, _ = read.nft_text.result()
        try:
            got, pub = nftables.parse_ruleset(nft_data, text, skip)
        except nftables.NftFormatError as exc:
            warnings.append(CollectorWarning("firewall", f"nft -j list ruleset: {exc}"))
        else:
            if got or pub:
                sources.append("nftables")
            chains.extend(got)
            published.extend(pub)

    saves = _read_saves(legacy_saves, warnings, table_suffix="-legacy")
    tools_found = tools_found or saves.ran
    for _fam, _out, got, pub in saves.parsed:
        if any(c.rules or c.policy not in (None, "accept") for c in got) or pub:
            sources.append("iptables-legacy")
            chains.extend(got)
            published.extend(pub)

    found = containers.docker_containers() + containers.podman_containers()
    published = containers.attach_containers(published, found)
    if warnings and not chains:
        tools_found = False  # nothing read, something failed: no verdict can be trusted
    if not tools_found:
        if warnings:  # the tools exist but failed (no CAP_NET_ADMIN, ...)
            msg = f"firewall rules could not be read: {warnings[0].message}"
            hint = "run as root with CAP_NET_ADMIN (not inside an unprivileged container)"
        else:
            msg = "no firewall tool found (nft, iptables-save): rules not read"
            hint = "install nftables or iptables to let the audit read rules"
        warnings.append(CollectorWarning("firewall", msg, hint=hint))
        return FirewallFacts("unavailable", containers=tuple(found), message=msg), [], warnings
    for i, w in enumerate(warnings):
        # What was not read may drop more: "filtered" stays proven, "open" becomes unknown.
        chains.append(FirewallChain(
            table="not-read", family="inet", name=f"source-{i}", hook="input", type="filter",
            rules=(FirewallRule(f"rules not read ({w.message})", (), "unknown"),),
        ))  # fmt: skip
    uniq = list(dict.fromkeys(sources))
    backend = "none"
    if "nftables" in uniq:
        backend = "nftables"
    elif uniq:
        backend = uniq[0]
    notes = []
    if len(uniq) > 1:
        notes.append(f"rules read from: {', '.join(uniq)}")
    if dormant:
        shown = ", ".join(f"{f} {t}" for f, t in sorted(dormant))
        notes.append(f"dormant (flags dormant, not applied): table {shown}")
    if warnings:
        # chains not read can only drop more: "filtered" stays proven, "open" may overstate
        notes.append("partly read: " + "; ".join(w.message for w in warnings[:3]))
    message = " | ".join(notes) or None
    return (
        FirewallFacts(backend, tuple(chains), tuple(found), message, route_localnet()),
        published,
        warnings,
    )


_CONF = "/proc/sys/net/ipv4/conf"


def route_localnet() -> tuple[str, ...] | None:
    """The interfaces (and "all") with net.ipv4.conf.*.route_localnet = 1, sorted; None
    when the settings cannot be read."""
    try:
        names = os.listdir(_CONF)
    except OSError:
        return None
    out = []
    for name in names:
        if name == "default":
            continue  # for interfaces yet to come: each existing one has its own
        try:
            with open(os.path.join(_CONF, name, "route_localnet"), "rb") as fh:
                value = fh.read(16).strip()
        except FileNotFoundError:
            continue  # the interface went away meanwhile
        except OSError:
            return None
        if value not in (b"0", b""):
            out.append(name)
    return tuple(sorted(out))


def _json_of_tables(jobs: list[_Command]) -> tuple[str | None, str]:
    """One ``nft -j list ruleset``-shaped document from ``nft -j list table`` outputs."""
    objects: list[Any] = []
    for job in jobs:
        out, err = job.result()
        if out is None:
            return None, err
        try:
            data = json.loads(out)
        except ValueError as exc:
            return None, f"{' '.join(job.argv)}: {exc}"
        part = data.get("nftables") if isinstance(data, dict) else None
        if not isinstance(part, list):
            return None, f"{' '.join(job.argv)}: not nft JSON output"
        objects.extend(part)
    return json.dumps({"nftables": objects}), ""


def _dormant_tables(read: FirewallRead, nft_data: Any) -> set[tuple[str, str]]:
    """(family, table) of the dormant nftables tables. From the kernel's own table flags
    when it could be asked (nft 1.0.6's JSON misprints the flag); else from nft's text
    listing (``flags dormant``), which prints it right; and what a newer nft's JSON
    says on top."""
    from exposure_audit.collectors.firewall import nftables

    found = set(read.dormant or ())
    if read.dormant is None and read.nft_text is not None:
        text, _ = read.nft_text.result()
        if text is not None:
            found |= nftables.dormant_tables_in_text(text)
    if nft_data is not None:
        found |= nftables.dormant_tables_in_json(nft_data)
    return found


class _Saves:
    """What a set of iptables-save commands gave (see _read_saves)."""

    __slots__ = ("parsed", "ran")

    def __init__(self) -> None:
        self.ran = False  # some command ran (even if its output did not parse)
        # (family, save text, its chains, its DNAT publishes), in the commands' order
        self.parsed: list[tuple[str, str, list[FirewallChain], list[PublishedPort]]] = []


def _read_saves(
    jobs: dict[str, _Command], warnings: list[CollectorWarning], table_suffix: str = ""
) -> _Saves:
    """Wait for each save command in turn and parse its output (iptables.parse_save with
    ``table_suffix``); a command that failed (other than not being installed) or printed
    what does not parse is a warning."""
    saves = _Saves()
    for fam, job in jobs.items():
        out, err = job.result()
        if out is None:
            if "not found" not in err:
                warnings.append(CollectorWarning("firewall", err))
            continue
        saves.ran = True
        from exposure_audit.collectors.firewall import iptables  # (only with a save to read)

        try:
            got, pub = iptables.parse_save(out, fam, table_suffix=table_suffix)
        except iptables.IptablesFormatError as exc:
            warnings.append(CollectorWarning("firewall", f"{job.argv[0]}: {exc}"))
            continue
        saves.parsed.append((fam, out, got, pub))
    return saves
