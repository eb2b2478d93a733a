"""The rules engine: exposures + rules + waivers -> findings. Pure: no I/O, no clock.

One finding per (rule, listener) and per (rule, dangling mapping). Findings come
grouped by listener: the worst exposure first (widest scope, then worst severity),
and within a listener the worst severity first.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import fnmatch
import functools
import ipaddress
import itertools
import operator
import re
import string
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from exposure_audit.analysis import identity as ident
from exposure_audit.analysis.fingerprint import (
    dangling_fingerprint,
    listener_fingerprint_head,
    listener_fingerprint_of,
    listener_fingerprint_parts,
    listener_fingerprint_tail,
)
from exposure_audit.core import records
from exposure_audit.core.addresses import parse_ip
from exposure_audit.core.model import (
    SCOPE_RANK,
    SEVERITY_RANK,
    DanglingMapping,
    Exposure,
    Facts,
    Finding,
    Identity,
    Listener,
    ProbeResult,
    ProcessInfo,
    Reach,
    UpnpMapping,
    Waiver,
)
from exposure_audit.core.records import record
from exposure_audit.core.wording import Wording, and_list, likely, sentence
from exposure_audit.policy.conditions import (
    CMDLINE_MATCH_LIMIT,
    OPERATORS,
    Framework,
    PortEntry,
    Rule,
    RuleSet,
    Subject,
)
from exposure_audit.policy.values import PortSet

_EMPTY: frozenset[str] = frozenset()
_PROTOCOLS = {p: p.lower() for p in ("tcp", "udp", "TCP", "UDP")}
# How a blocked UPnP path is named where blocked interfaces are ("blocks this on ...").
UPNP_BLOCKED = "what the router's UPnP mappings forward"
_CMDLINE_SHOWN = 200

_Tests = tuple[tuple[Callable[[Any, Subject], bool], Any], ...]
_F = TypeVar("_F", bound=dict[str, str])


@record
class _Compiled:
    rule: Rule
    tests: _Tests  # the conditions the index does not decide, cheapest first
    unless: tuple[_Tests, ...]
    indexed: _Tests = ()  # port, protocol and tags conditions: decided by _RuleIndex


# Conditions whose outcome depends on the subject's port, protocol or tags alone: the
# index decides them once per (port signature, protocol, tags) instead of per listener.
_PORT_TEST = OPERATORS["port"].test
_INDEXED_TESTS = (_PORT_TEST, OPERATORS["protocol"].test, OPERATORS["tags"].test)


def _compile(rule: Rule) -> _Compiled:
    indexed = tuple((c.test, c.value) for c in rule.conditions if c.test in _INDEXED_TESTS)
    return _Compiled(
        rule,
        tuple((c.test, c.value) for c in rule.conditions if c.test not in _INDEXED_TESTS),
        tuple(tuple((c.test, c.value) for c in group) for group in rule.unless),
        indexed,
    )


def _all(tests: _Tests, s: Subject) -> bool:
    for test, value in tests:
        if not test(value, s):
            return False
    return True


def _matches(c: _Compiled, s: Subject) -> bool:
    """The conditions the index leaves (and ``unless``): call on candidates only."""
    if not _all(c.tests, s):
        return False
    for group in c.unless:
        if _all(group, s):
            return False
    return True


class _RuleIndex:
    """Rules by port, protocol and tags: the candidates for a subject are the rules
    whose port, protocol and tags conditions all hold for it; only the candidates'
    other conditions and ``unless`` groups are tested. Candidates depend on a subject's
    protocol, tags and which port conditions its port meets (its port signature), so
    they are worked out once per such key, with the conditions' own tests, in rule
    order. (The engine asks once per plan: _Context.plan.)"""

    def __init__(self, compiled: Sequence[_Compiled]) -> None:
        self.compiled = tuple(compiled)
        tests = [t for c in compiled for t in (*c.indexed, *c.tests)]
        tests += [t for c in compiled for group in c.unless for t in group]
        self.port_tests = tuple(dict.fromkeys(tv for tv in tests if tv[0] is _PORT_TEST))
        self.signatures: dict[int | None, tuple[bool, ...]] = {}  # without _bounds
        self._stretches: dict[int, tuple[bool, ...]] = {}
        self._bounds: list[int] | None = None
        if all(isinstance(v, PortSet) for _t, v in self.port_tests):
            self._bounds = sorted(
                {b for _t, v in self.port_tests for lo, hi in v.intervals for b in (lo, hi + 1)}
            )
        self._candidates: dict[tuple[Any, ...], tuple[_Compiled, ...]] = {}

    def _signature(self, s: Subject) -> tuple[bool, ...]:
        return self.port_signature(s.port)

    def port_signature(self, port: int | None) -> tuple[bool, ...]:
        """Which port conditions ``port`` meets: what the port stands for in matching.
        Ports between two consecutive bounds of the conditions' intervals meet the same
        ones: worked out once per such stretch, not per port."""
        if self._bounds is not None and type(port) is int:
            stretch = bisect.bisect_right(self._bounds, port)
            sig = self._stretches.get(stretch)
            if sig is None:
                sig = self._stretches[stretch] = tuple(port in v for _t, v in self.port_tests)
            return sig
        sig = self.signatures.get(port)
        if sig is None:
            s = Subject(port=port)
            sig = self.signatures[port] = tuple(t(v, s) for t, v in self.port_tests)
        return sig

    def candidates(self, s: Subject) -> tuple[_Compiled, ...]:
        key = (self._signature(s), s.protocol, s.tags)
        found = self._candidates.get(key)
        if found is None:
            found = self._candidates[key] = tuple(c for c in self.compiled if _all(c.indexed, s))
        return found

    def matching(self, s: Subject) -> list[Rule]:
        """The rules that match ``s``, in rule order."""
        return [c.rule for c in self.candidates(s) if _matches(c, s)]


# --------------------------------------------------------------------------- waivers


# What a built-in default waiver never hides, whatever it matches: debuggers, notebooks
# and data stores (remote code execution or data theft), by rule, tag and framework.
_NEVER_DEFAULT_WAIVED_RULES = re.compile(r"EA-(DBG|DATA|ML)-|EA-LOCAL-001$|EA-DEV-003$")
_NEVER_DEFAULT_WAIVED_TAGS = frozenset(
    {"debugger", "notebook", "database", "search", "cache", "message-broker", "unauthenticated"}
)
_NEVER_DEFAULT_WAIVED_FRAMEWORKS = frozenset(
    {
        "node-inspect",
        "debugpy",
        "chrome-devtools",
        "jupyter",
        "flask-debug",
        "redis",
        "postgres",
        "mysql",
        "mongodb",
        "memcached",
        "elasticsearch",
    }
)


def _protected(rule_id: str, tags: Sequence[str], framework: str | None) -> bool:
    return bool(
        _NEVER_DEFAULT_WAIVED_RULES.match(rule_id)
        or _NEVER_DEFAULT_WAIVED_TAGS.intersection(tags)
        or framework in _NEVER_DEFAULT_WAIVED_FRAMEWORKS
    )


def _path_glob(pattern: str) -> re.Pattern[str]:
    """A path glob whose ``*`` and ``?`` never cross a ``/``."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z")


@record
class _WaiverMatcher:
    waiver: Waiver
    rule: re.Pattern[str]
    process: re.Pattern[str] | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    expires: _dt.date | None
    exe: tuple[re.Pattern[str], ...] = ()

    def applies(
        self,
        rule_id: str,
        protocol: str,
        port: int,
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
        process: str | None,
        exe: str | None = None,
        protected: bool = False,
    ) -> bool:
        w = self.waiver
        if not self.rule.match(rule_id):
            return False
        if w.source == "builtin" and (protected or not self.exe):
            return False
        if self.exe and (exe is None or not any(p.match(exe) for p in self.exe)):
            return False
        if w.port is not None and w.port != port:
            return False
        if w.protocol is not None and w.protocol != protocol:
            return False
        if self.process is not None and (process is None or not self.process.match(process)):
            return False
        if self.network is not None:
            if ip is None or ip.version != self.network.version or ip not in self.network:
                return False
        return True


# one normalisation (zone dropped, v4-mapped as v4): core.addresses; a few addresses
# stand for thousands of listeners, so each is parsed once
_ip = functools.lru_cache(maxsize=4096)(parse_ip)


def _waiver_matcher(w: Waiver) -> _WaiverMatcher:
    network = None
    if w.address is not None:
        try:
            network = ipaddress.ip_network(w.address, strict=False)
        except ValueError:
            network = None  # validated at load; a hand-built Waiver may skip that
    expires = None
    if w.expires is not None:
        try:
            expires = _dt.date.fromisoformat(w.expires)
        except ValueError:
            expires = _dt.date.min  # unreadable expiry: treat as expired, never as forever
    return _WaiverMatcher(
        waiver=w,
        rule=re.compile(fnmatch.translate(w.rule), re.IGNORECASE),
        process=re.compile(fnmatch.translate(w.process), re.IGNORECASE) if w.process else None,
        network=network,
        expires=expires,
        exe=tuple(_path_glob(p) for p in w.exe),
    )


def _waivers_for(waivers: Sequence[Waiver], host_os: str) -> list[_WaiverMatcher]:
    """Matchers of the waivers that apply on this host's OS."""
    system = host_os.lower()
    return [_waiver_matcher(w) for w in waivers if w.os is None or w.os.lower() == system]


@record
class _Verdict:
    waived: bool = False
    reason: str | None = None
    expired: bool = False
    expired_on: str | None = None


def _verdict(
    matchers: Sequence[_WaiverMatcher],
    today: _dt.date,
    rule_id: str,
    protocol: str,
    port: int,
    address: str,
    process: str | None,
    exe: str | None = None,
    protected: bool = False,
) -> _Verdict:
    expired: _WaiverMatcher | None = None
    ip = _ip(address) if matchers else None
    for m in matchers:
        if not m.applies(rule_id, protocol, port, ip, process, exe, protected):
            continue
        if m.expires is not None and today > m.expires:
            expired = expired or m
            continue
        reason = m.waiver.reason
        if m.waiver.source == "builtin":
            reason = f"built-in default waiver: {reason}"
        return _Verdict(waived=True, reason=reason)
    if expired is not None:
        on = expired.waiver.expires or "?"
        return _Verdict(
            reason=f"waiver expired on {on}: {expired.waiver.reason}", expired=True, expired_on=on
        )
    return _Verdict()


# --------------------------------------------------------------------------- text


def _endpoint(address: str, port: int) -> str:
    return f"{_endpoint_prefix(address)}{port}"


def _endpoint_prefix(address: str) -> str:
    """What goes before the port in an endpoint on ``address``."""
    return f"[{address}]:" if ":" in address else f"{address}:"


@record
class _ProcText:
    argv: tuple[str, ...]
    cmdline: str  # argv joined
    match: str | None  # what cmdline conditions search (cut to CMDLINE_MATCH_LIMIT)
    env: str
    started: tuple[str, ...]
    command: str
    python: str


@record
class _Frameworks:
    candidates: tuple[Framework, ...]  # matched on process, command line, environment
    # those that need no probe: (framework, its ports, has a listen flag, the flag's port)
    unprobed: tuple[tuple[Framework, PortSet | None, bool, int | None], ...]
    # without a probe: whether the framework depends on the port, and if not, which
    by_port: bool = False
    fixed: Framework | None = None


def _frameworks_table(
    candidates: tuple[Framework, ...],
    unprobed: tuple[tuple[Framework, PortSet | None, bool, int | None], ...],
) -> _Frameworks:
    if not unprobed:
        return _Frameworks(candidates, unprobed)
    f, ports, flagged, _flag_port = unprobed[0]
    if ports is None and not flagged:
        return _Frameworks(candidates, unprobed, fixed=f)
    return _Frameworks(candidates, unprobed, by_port=True)


def _framework_in(
    table: _Frameworks,
    cmdline: str | None,
    env: str,
    port: int,
    probe: ProbeResult | None,
) -> Framework | None:
    """The framework of a listener on ``port`` of a process whose table is ``table``."""
    if probe is not None:
        return ident.matching(table.candidates, cmdline, env, port, probe)
    if not table.by_port:
        return table.fixed
    for f, ports, flagged, flag_port in table.unprobed:
        if ports is not None and port not in ports:
            continue
        if flagged and flag_port != port:
            continue
        return f
    return None


class _Proc:
    """One process as findings show it, worked out once for all its listeners (keyed by
    every field of the process, and the socket's uid where the process names no user)."""

    __slots__ = (
        "container_id",
        "evidence",
        "exe",
        "fields",
        "frameworks",
        "name",
        "proc",
        "seen",
        "text",
        "user",
    )

    def __init__(self, proc: ProcessInfo | None, uid: int | None, text: _ProcText) -> None:
        self.proc = proc
        self.text = text
        self.seen = 0  # listeners planned (_Context.plan)
        self.name = proc.name if proc else None
        self.user = proc.username if proc else None
        self.exe = proc.exe if proc else None
        self.container_id = proc.container_id if proc else None
        user = proc.username if proc and proc.username else None
        if user is None:
            uid = proc.uid if proc and proc.uid is not None else uid
            user = f"uid {uid}" if uid is not None else "an unknown user"
        cmdline = text.cmdline
        self.fields = dict(
            process=(proc.name if proc and proc.name else "an unidentified process"),
            pid=str(proc.pid) if proc and proc.pid is not None else "?",
            user=user,
            cmdline=cmdline[:_CMDLINE_SHOWN] + ("..." if len(cmdline) > _CMDLINE_SHOWN else ""),
            command=text.command,
            python=text.python,
        )
        # ident.process_evidence by framework (the ruleset's, held for the run)
        self.evidence: dict[int, tuple[str, ...]] = {}
        # _Context.frameworks_of, by whether the listener is in a container
        self.frameworks: list[_Frameworks | None] = [None, None]

    def identity(
        self,
        framework: Framework | None,
        port: int,
        entry: PortEntry | None,
        probe: ProbeResult | None,
    ) -> Identity | None:
        evidence = None
        if framework is not None and self.proc is not None:
            evidence = self.evidence.get(id(framework))
            if evidence is None:
                evidence = ident.process_evidence(framework, self.proc)
                self.evidence[id(framework)] = evidence
        return ident.identity(framework, self.proc, port, entry, probe, evidence)


class _Context:
    """Per-run lookups shared by every listener: catalogue, frameworks, interfaces."""

    def __init__(self, ruleset: RuleSet, facts: Facts) -> None:
        self.catalogue = ruleset.catalogue
        self.entries = ruleset.catalogue.entries
        self.frameworks = ruleset.frameworks
        self.iface_kind = {i.name: i.kind for i in facts.interfaces}
        self.words = Wording.of(facts)
        self.external_ip = self.words.external_ip()
        self.upnp_audience = self.words.upnp_audience()[0]
        self._fw_cache: dict[tuple[str | None, str | None, str, bool], _Frameworks] = {}
        self._set_cache: dict[tuple[str, ...], frozenset[str]] = {}
        self._reach_cache: dict[tuple[Any, ...], tuple[tuple[Reach, ...], str]] = {}
        self.probes = {(p.protocol, p.address, p.port): p for p in facts.probes}
        # by command line and environment: what listeners of one process share
        self._proc_cache: dict[Any, _ProcText] = {}
        self._rebound_cache: dict[tuple[Any, str], tuple[tuple[str, ...] | None, str]] = {}
        # Memos of what listeners share (a process, a bind address, a rule's references
        # and waivers): a value is worked out the first time its inputs are seen, with
        # the same code, and is the same for every listener with those inputs.
        self._procs: dict[tuple[Any, ...], _Proc] = {}
        self._procs_by_id: dict[int, tuple[object, int | None, _Proc]] = {}
        self._places: dict[
            tuple[Any, ...], tuple[object, dict[str, str], tuple[str, ...] | None]
        ] = {}
        self._sorted: dict[frozenset[str], tuple[str, ...]] = {}
        # key -> (the reach, kept: its id is in the key; the plan)
        self._plans: dict[tuple[Any, ...], tuple[tuple[Reach, ...], _Plan]] = {}
        self.slots: dict[str, _Slots | None] = {}  # templates, by _slots
        self._per_rule: dict[
            tuple[int, int, int, str | None],
            tuple[tuple[str, ...], tuple[_WaiverMatcher, ...], bool],
        ] = {}
        self._matchers: dict[tuple[int, bool, str | None], tuple[_WaiverMatcher, ...]] = {}
        self.matchers: Sequence[_WaiverMatcher] = ()

    def proc_text(self, proc: ProcessInfo | None) -> _ProcText:
        """What the engine derives from a process's command line, once per process."""
        key = (proc.cmdline, proc.environment) if proc else None
        got = self._proc_cache.get(key)
        if got is None:
            argv = ident.words(proc.cmdline) if proc and proc.cmdline else ()
            full = " ".join(argv)
            started = ident.command(argv)
            got = self._proc_cache[key] = _ProcText(
                argv=argv,
                cmdline=full,
                match=full[:CMDLINE_MATCH_LIMIT] if argv else None,
                env=ident.env_text(proc),
                started=started,
                command=_shlex_join(started),
                python=ident.python_of(argv),
            )
        return got

    def rebound(self, p: _ProcText, address: str) -> tuple[tuple[str, ...] | None, str]:
        """The started command with ``address`` rebound to loopback, and its text."""
        key = (p.argv, address)
        got = self._rebound_cache.get(key)
        if got is None:
            moved = ident.rebound(p.started, address) if p.started else None
            got = self._rebound_cache[key] = (moved, _shlex_join(moved) if moved else "")
        return got

    def _set(self, items: tuple[str, ...]) -> frozenset[str]:
        s = self._set_cache.get(items)
        if s is None:
            s = self._set_cache[items] = frozenset(items)
        return s

    def _frameworks(
        self, process: str | None, cmdline: str | None, env: str, container: bool
    ) -> _Frameworks:
        """The frameworks a process may be: framework()'s port-independent part."""
        key = (process, cmdline, env, container)
        table = self._fw_cache.get(key)
        if table is None:
            candidates = tuple(
                f for f in self.frameworks if f.matches_process(process, cmdline, container, env)
            )
            # ident.matching with no probe, its port-independent work done once: only the
            # candidates that need no probe, each with its ports and its flag's port
            unprobed = tuple(
                (f, f.ports, f.listen_flag is not None, f.flag_port(cmdline, env))
                for f in candidates
                if f.matches_probe(None, None)
            )
            table = self._fw_cache[key] = _frameworks_table(candidates, unprobed)
        return table

    def frameworks_of(self, pv: _Proc, container: bool) -> _Frameworks:
        """``_frameworks`` of ``pv``'s process, kept with the process."""
        table = pv.frameworks[container]
        if table is None:
            text = pv.text
            table = self._frameworks(pv.name, text.match, text.env, container)
            pv.frameworks[container] = table
        return table

    def effective(self, exp: Exposure) -> tuple[Exposure, tuple[str, ...]]:
        """The exposure as rules see it, and the interfaces the firewall blocks.

        With firewall verdicts (firewall.annotate), reach beyond loopback that the
        firewall provably blocks (``filtered``) does not count: its scope leaves
        ``scopes``/``widest_scope`` and ``reach_desc``. ``open``, ``unknown`` and
        not-evaluated reach all count (never claim less exposure than proven). The
        finding keeps the original exposure, verdicts and all, as evidence.
        """
        if exp.firewall is None and exp.upnp_firewall is None:
            return exp, ()
        kept: list[Reach] = []
        blocked: list[str] = []
        for r in exp.reach:
            if r.up and r.scope != "loopback" and r.firewall == "filtered":
                if r.interface not in blocked:
                    blocked.append(r.interface)
            else:
                kept.append(r)
        # What the router's UPnP mappings forward here, when the host drops all of it.
        upnp_blocked = bool(exp.upnp_mappings) and exp.upnp_firewall == "filtered"
        if upnp_blocked:
            blocked.append(UPNP_BLOCKED)
        if not blocked:
            return exp, ()
        up = [r for r in kept if r.up]
        scopes = sorted({r.scope for r in up}, key=lambda sc: SCOPE_RANK.get(sc, 0))
        if exp.upnp_mappings and not upnp_blocked and "internet" not in scopes:
            scopes.append("internet")
        kinds = sorted({self.iface_kind.get(r.interface, "other") for r in up})
        view = records.replace(
            exp,
            reach=tuple(kept),
            scopes=tuple(scopes),
            widest_scope=scopes[-1] if scopes else "loopback",
            interface_kinds=tuple(kinds),
            # mappings whose traffic the host drops do not make rules fire (info instead)
            upnp_mappings=() if upnp_blocked else exp.upnp_mappings,
        )
        return view, tuple(blocked)

    def proc(self, proc: ProcessInfo | None, uid: int | None) -> _Proc:
        # by identity first: a process's listeners share its ProcessInfo (hashing every
        # field of it, command line and all, for each of thousands of sockets cost more)
        hit = self._procs_by_id.get(id(proc))
        if hit is not None and hit[0] is proc and hit[1] == uid:
            return hit[2]
        got = self._proc(proc, uid)
        self._procs_by_id[id(proc)] = (proc, uid, got)
        return got

    def _proc(self, proc: ProcessInfo | None, uid: int | None) -> _Proc:
        key = (
            (
                proc.pid,
                proc.name,
                proc.exe,
                proc.cmdline,
                proc.username,
                proc.uid,
                proc.container_id,
                proc.environment,
                uid,
            )
            if proc is not None
            else (uid,)
        )
        got = self._procs.get(key)
        if got is None:
            got = self._procs[key] = _Proc(proc, uid, self.proc_text(proc))
        return got

    def listener_subject(
        self,
        exp: Exposure,
        pv: _Proc,
        protocol: str,
        entry: PortEntry | None,
        container: str | None,
        framework: Framework | None,
    ) -> Subject:
        """The subject rules test, from what plan() worked out of the listener: its
        process, its port's catalogue entry, its container and its framework."""
        lst = exp.listener
        # What the process says it is wins over the catalogue's guess for the port.
        tags = (
            self._set(framework.tags)
            if framework is not None and framework.tags is not None
            else self._set(entry.tags)
            if entry
            else _EMPTY
        )

        def find_framework() -> Framework | None:
            return framework

        return Subject(
            port=lst.port,
            protocol=protocol,
            family=lst.family,
            tags=tags,
            catalogued=entry is not None,
            widest=exp.widest_scope,
            widest_rank=SCOPE_RANK.get(exp.widest_scope, 0) if exp.scopes else -1,
            scopes=self._set(exp.scopes),
            kinds=self._set(exp.interface_kinds),
            process=pv.name,
            cmdline=pv.text.match,
            user=pv.user,
            container=container,
            upnp_mapped=bool(exp.upnp_mappings),
            firewall=exp.firewall,
            published_by=exp.published_by,
            find_framework=find_framework,
        )

    def dangling_subject(self, d: DanglingMapping) -> tuple[Subject, PortEntry | None]:
        m = d.mapping
        protocol = m.protocol.lower()
        entry = self.catalogue.get(protocol, m.internal_port)
        subject = Subject(
            port=m.internal_port,
            external_port=m.external_port,
            protocol=protocol,
            tags=self._set(entry.tags) if entry else _EMPTY,
            catalogued=entry is not None,
            scopes=_EMPTY,
            kinds=_EMPTY,
            upnp_mapped=True,
        )
        return subject, entry

    # ------------------------------------------------------------------ reach_desc

    def reach_desc(self, exp: Exposure, blocked: tuple[str, ...] = ()) -> str:
        # resolve() shares one reach tuple between listeners bound alike: describe it
        # once (keyed by identity, and kept in the value so no other tuple takes its id)
        key = (id(exp.reach), exp.upnp_mappings, exp.widest_scope, bool(exp.scopes), blocked)
        got = self._reach_cache.get(key)
        if got is None or got[0] is not exp.reach:
            got = self._reach_cache[key] = (exp.reach, self.words.reach_sentence(exp, blocked))
        return got[1]

    def mapping_desc(self, mappings: Sequence[UpnpMapping]) -> str:
        return self.words.mappings_desc(mappings)

    def place_fields(
        self,
        pv: _Proc,
        lst: Listener,
        view: Exposure,
        container: str | None,
        blocked: tuple[str, ...],
    ) -> tuple[dict[str, str], tuple[str, ...] | None]:
        """The fields set by the process, its bind address and its reach (the same for
        thousands of a process's ports), and the command rebound to loopback."""
        # resolve() shares one reach tuple between listeners bound alike: it is keyed by
        # identity, and kept in the value so that no other tuple can take its id
        key = (
            id(pv),
            lst.address,
            lst.family,
            id(view.reach),
            view.upnp_mappings,
            view.widest_scope,
            bool(view.scopes),
            container,
            blocked,
        )
        got = self._places.get(key)
        if got is None or got[0] is not view.reach:
            moved, rebound = self.rebound(pv.text, lst.address)
            fields = dict(pv.fields)
            fields.update(
                address=lst.address,
                family=lst.family,
                widest=view.widest_scope,
                container=container or "",
                mapping_desc=self.mapping_desc(view.upnp_mappings),
                delete_cmd=_delete_cmd(view.upnp_mappings),
                external_ip=self.external_ip,
                upnp_audience=self.upnp_audience,
                reach_desc=self.reach_desc(view, blocked),
                rebound=rebound,
            )
            got = (view.reach, fields, moved)
            if pv.seen > 1:
                self._places[key] = got
        return got[1], got[2]

    def plan(
        self, view: Exposure, blocked: tuple[str, ...], index: _RuleIndex
    ) -> tuple[_Plan, _Proc]:
        """The rules that match the listener of ``view`` and what their findings share,
        worked out once for listeners alike in everything but their port: one process,
        protocol and bind address, one reach, and ports alike to the rules (the same
        port conditions met, catalogue entry, framework and probe result). The objects
        in the key by identity are the run's own (the ruleset's, the Facts'), or kept
        in the value (the reach), so no other object can take their id meanwhile."""
        lst = view.listener
        proc, uid = lst.process, lst.uid
        hit = self._procs_by_id.get(id(proc))  # self.proc, inlined
        pv = (
            hit[2] if hit is not None and hit[0] is proc and hit[1] == uid else self.proc(proc, uid)
        )
        pv.seen += 1
        # one string object per protocol: its hash is worked out once, not per listener
        protocol = _PROTOCOLS.get(lst.protocol) or lst.protocol.lower()
        port = lst.port
        entry = self.entries.get((protocol, port))  # self.catalogue.get, inlined
        probe = self.probes.get((protocol, lst.address, port)) if self.probes else None
        container = view.container or pv.container_id
        table = pv.frameworks[container is not None] or self.frameworks_of(
            pv, container is not None
        )
        framework = _framework_in(table, pv.text.match, pv.text.env, port, probe)
        if pv.seen == 1 or entry is not None:
            # Its process's first: nothing to share yet, and a process with one socket
            # (each its own command line) would only fill the memos. A catalogued port
            # has an entry of its own: no other socket of the process and bind address
            # has the same (but an SO_REUSEPORT sibling, worked out again).
            subject = self.listener_subject(view, pv, protocol, entry, container, framework)
            hits = index.matching(subject)
            return _make_plan(self, hits, view, blocked, subject, entry, pv, probe), pv
        signature = index.port_signature(port)
        # (the bind address stands for the family too)
        key = (
            id(pv),
            protocol,
            lst.address,
            id(view.reach),
            view.widest_scope,
            view.scopes,
            view.interface_kinds,
            view.upnp_mappings,
            view.firewall,
            view.published_by,
            container,
            blocked,
            signature,
            id(framework),
            id(probe),
        )
        got = self._plans.get(key)
        if got is None or got[0] is not view.reach:
            subject = self.listener_subject(view, pv, protocol, entry, container, framework)
            hits = index.matching(subject)
            plan = _make_plan(self, hits, view, blocked, subject, entry, pv, probe)
            got = self._plans[key] = (view.reach, _exact(self, plan))
        return got[1], pv

    def sorted_tags(self, tags: frozenset[str]) -> tuple[str, ...]:
        got = self._sorted.get(tags)
        if got is None:
            got = self._sorted[tags] = tuple(sorted(tags))
        return got

    def per_rule(
        self, rule: Rule, entry: PortEntry | None, framework: Framework | None, exe: str | None
    ) -> tuple[tuple[str, ...], tuple[_WaiverMatcher, ...], bool]:
        """A finding's references, the waivers that may apply to it (not the others:
        another rule, a built-in waiver it is protected from, another executable) and
        whether it is protected from built-in waivers."""
        key = (id(rule), id(entry), id(framework), exe)
        got = self._per_rule.get(key)
        if got is None:
            fid = framework.id if framework else None
            protected = _protected(rule.id, entry.tags if entry else (), fid)
            mkey = (id(rule), protected, exe)
            matchers = self._matchers.get(mkey)
            if matchers is None:
                # the checks of _WaiverMatcher.applies that read none of these, in its order
                matchers = self._matchers[mkey] = tuple(
                    m
                    for m in self.matchers
                    if m.rule.match(rule.id)
                    and not (m.waiver.source == "builtin" and (protected or not m.exe))
                    and not (m.exe and (exe is None or not any(p.match(exe) for p in m.exe)))
                )
            got = self._per_rule[key] = (_references(rule, entry, framework), matchers, protected)
        return got


def _delete_cmd(mappings: Sequence[UpnpMapping]) -> str:
    return " ; ".join(f"upnpc -d {m.external_port} {m.protocol.upper()}" for m in mappings)


class _SafeFields(dict[str, str]):
    """format_map mapping: templates are validated at load, so a missing field is a bug
    in the engine; show it rather than crash the run."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _generic_fix(address: str, port: int) -> str:
    return str(port).join(_generic_fix_pieces(address))


def _generic_fix_pieces(address: str) -> tuple[str, ...]:
    """The fix where no framework or catalogue entry has one, as the text between the
    ports (see _pieces)."""
    ip = _ip(address)
    if ip is not None and ip.is_loopback:
        return ("stop it when you are not using it (port ", ")")
    return (f"bind it to 127.0.0.1 (or ::1) instead of {address}",)


# --------------------------------------------------------------------------- findings


def _severity(rule: Rule, widest: str) -> str:
    if rule.internet_severity is not None and widest == "internet":
        return rule.internet_severity
    return rule.severity


def _shlex_join(argv: Sequence[str]) -> str:
    import shlex

    return shlex.join(argv)


def _expired_note(message: str, verdict: _Verdict) -> str:
    if verdict.expired:
        return f"{message} (The waiver for this finding expired on {verdict.expired_on}.)"
    return message


@record
class _Slots:
    """Where a template's text varies between the listeners of a plan: how many fields
    name the port ({port}, {endpoint}) and the fix, and whether it names the evidence."""

    port: int
    fix: int
    evidence: bool


def _slots(template: str) -> _Slots | None:
    """None where a field has a format spec, a conversion, an index or an attribute
    (the loader rejects them), or the template does not parse."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is not None:
            if spec or conversion or not name.isidentifier():
                return None
            names.append(name)
    return _Slots(
        names.count("port") + names.count("endpoint"), names.count("fix"), "evidence" in names
    )


# What stands for the port while a template is filled in for a whole plan (_pieces).
# No character repeats in it, so two of it never overlap: where it is found as often as
# the template places it, it is found only where it was placed.
_PORT_MARK = "\x00\x01\x02\x03\x04\x05\x06"


def _pieces(
    ctx: _Context, template: str, values: _SafeFields, fix: tuple[str, ...]
) -> tuple[str, ...] | None:
    """``template`` filled in for every listener of a plan (they differ in their port
    alone), as the text between the ports: ``str(port).join(pieces)`` is what
    formatting it for the listener on ``port`` gives. ``values``: _plan_values', its
    ``fix`` set here to ``fix``, the fix's own pieces. None for a template ``_slots``
    cannot do, one naming the evidence where it is not the same for all, or a value
    holding _PORT_MARK."""
    if template in ctx.slots:
        slots = ctx.slots[template]
    else:
        slots = ctx.slots[template] = _slots(template)
    if slots is None or (slots.evidence and values.get("evidence") is None):
        return None
    values["fix"] = _PORT_MARK.join(fix)
    pieces = template.format_map(values).split(_PORT_MARK)
    if len(pieces) != 1 + slots.port + slots.fix * (len(fix) - 1):
        return None
    return tuple(pieces)


def _plan_values(rp: _RulePlan, plan: _Plan) -> _SafeFields:
    """A rule plan's fields with _PORT_MARK for the port, for _pieces (no evidence
    where it is not the same for all the plan's listeners)."""
    values = _rule_fields(rp, _SafeFields())
    values["port"] = _PORT_MARK
    values["endpoint"] = plan.endpoint + _PORT_MARK
    if plan.evidence is not None:
        values["evidence"] = plan.evidence
    return values


@record
class _RulePlan:
    """One matched rule's part of a plan: its message and remediation filled in for all
    the plan's ports (``message``/``remediation``: _pieces; from _exact on), else its
    own templates and ``fields``: the plan's, every field but the rule's and the
    listener's own (_rule_fields, the varying ones)."""

    rule: Rule
    severity: str
    references: tuple[str, ...]
    matchers: tuple[_WaiverMatcher, ...]
    protected: bool
    fix: str | None  # None: the generic fix
    fields: dict[str, str]
    fingerprint: bytes  # what its fingerprints hash before the port
    # its findings' fields but the listener's own (records.from_values of a copy)
    finding: dict[str, Any]
    message: tuple[str, ...] | None = None
    remediation: tuple[str, ...] | None = None


@record
class _Plan:
    """What the findings of listeners alike in all but their port share (see
    _Context.plan)."""

    rules: tuple[_RulePlan, ...]
    protocol: str
    framework: Framework | None
    entry: PortEntry | None
    probe: ProbeResult | None
    tags: tuple[str, ...]
    service: str | None  # the finding's service
    who: Identity | None  # when the same for all (no catalogue entry names the port)
    evidence: str | None  # who's evidence as a field; None: per listener
    # the text before the port in the endpoint, and after it in the fingerprinted text:
    # a plan's listeners share protocol, bind address and process (see _Context.plan)
    endpoint: str = ""
    after: str = ""
    address: str = ""
    # where its listeners' findings go in the run's order (widest scope, worst severity
    # first), unless the firewall blocks some of their reach (run_rules)
    order: tuple[int, int] = (0, 0)


_NO_FINDINGS = _Plan((), "", None, None, None, (), None, None, None)  # no rule matches


def _make_plan(
    ctx: _Context,
    hits: Sequence[Rule],
    view: Exposure,
    blocked: tuple[str, ...],
    subject: Subject,
    entry: PortEntry | None,
    pv: _Proc,
    probe: ProbeResult | None,
) -> _Plan:
    if not hits:
        return _NO_FINDINGS
    lst = view.listener
    framework = subject.framework
    protocol = lst.protocol.lower()
    if framework is not None and (framework.describes or entry is None):
        service = framework.name
    elif entry is not None:
        # The process's word names it; the port catalogue alone is only a likelihood.
        service = entry.service if framework is not None else likely(entry.service)
    else:
        service = "an unrecognised service"
    # Without a catalogue entry, the identity does not name the port.
    who = pv.identity(framework, lst.port, entry, probe) if entry is None else None
    evidence = None
    if entry is None:
        evidence = "; ".join(who.evidence) if who else "nothing identifies it"
    place, moved = ctx.place_fields(pv, lst, view, subject.container, blocked)
    fields = dict(place)
    fields["protocol"] = protocol
    fields["service"] = service
    fields["framework"] = service
    fix: str | None = None
    if framework is not None:
        fix = framework.rebind_fix if framework.rebind_fix and moved else framework.fix
    elif entry and entry.fix:
        fix = entry.fix
    before, after = listener_fingerprint_parts(protocol, lst.address, pv.name)
    tags = ctx.sorted_tags(subject.tags)
    shown = service if framework or entry else None
    rules = []
    for rule in hits:
        severity = _severity(rule, view.widest_scope)
        references, matchers, protected = ctx.per_rule(rule, entry, framework, pv.exe)
        finding = Finding(
            rule.id,
            severity,
            rule.title,
            "",
            "",
            "",
            references,
            tags=tags,
            service=shown,
            identity=who,
        )
        rules.append(
            _RulePlan(
                rule,
                severity,
                references,
                matchers,
                protected,
                fix,
                fields,
                listener_fingerprint_head(rule.id, before),
                finding.__dict__,
            )
        )
    # worst first (as the findings of one listener are listed): no sorting per listener
    if len(rules) > 1:
        rules.sort(key=lambda rp: (-SEVERITY_RANK.get(rp.severity, 0), rp.rule.id))
    return _Plan(
        tuple(rules),
        protocol,
        framework,
        entry,
        probe,
        tags,
        shown,
        who,
        evidence,
        _endpoint_prefix(lst.address),
        after,
        lst.address,
        (-SCOPE_RANK.get(view.widest_scope, 0), -SEVERITY_RANK.get(rules[0].severity, 0)),
    )


def _rule_fields(rp: _RulePlan, fields: _F) -> _F:
    """``fields`` (empty) filled in with a rule plan's fields, the plan's and the
    rule's own."""
    fields.update(rp.fields)
    fields["rule_id"] = rp.rule.id
    fields["severity"] = rp.severity
    fields["title"] = rp.rule.title
    return fields


def _exact(ctx: _Context, plan: _Plan) -> _Plan:
    """``plan`` with its messages and remediations filled in for all its ports
    (``_pieces``): for the plans that serve many listeners (see _Context.plan)."""
    if not plan.rules:
        return plan
    rules = []
    for rp in plan.rules:
        values = _plan_values(rp, plan)
        fix: tuple[str, ...] | None = _generic_fix_pieces(plan.address)
        if rp.fix is not None:  # {fix} in a fix stays as it is
            fix = _pieces(ctx, rp.fix, values, ("{fix}",))
        message = remediation = None
        if fix is not None:
            message = _pieces(ctx, rp.rule.message, values, fix)
            remediation = _pieces(ctx, rp.rule.remediation, values, fix)
        if message is None or remediation is None:
            rules.append(rp)
            continue
        # (sentence() of the whole text is sentence() of its first piece: a port is
        # digits, never part of the words sentence() looks for)
        message = (sentence(message[0]), *message[1:])
        rules.append(records.replace(rp, message=message, remediation=remediation))
    return records.replace(plan, rules=tuple(rules))


def _plan_findings(
    plan: _Plan,
    rules: Sequence[_RulePlan],
    exp: Exposure,
    pv: _Proc,
    today: _dt.date,
    note: str | None = None,
) -> list[Finding]:
    """The findings of ``rules`` (of ``plan``) on the listener of ``exp``; ``note``:
    they match only because of reach the firewall blocks (info, the note appended)."""
    lst = exp.listener
    port = lst.port
    address = lst.address
    protocol = plan.protocol
    who = plan.who
    evidence = plan.evidence
    if evidence is None:
        who = pv.identity(plan.framework, port, plan.entry, plan.probe)
        evidence = "; ".join(who.evidence) if who else "nothing identifies it"
    sport = str(port)
    tail = listener_fingerprint_tail(sport, plan.after)
    varying: dict[str, str] | None = None
    out = []
    for rp in rules:
        rule = rp.rule
        pieces = rp.message
        if pieces is not None and rp.remediation is not None:
            message = sport.join(pieces)
            remediation = sport.join(rp.remediation)
        else:
            if varying is None:
                varying = {"port": sport, "endpoint": plan.endpoint + sport, "evidence": evidence}
            fields = _rule_fields(rp, _SafeFields())
            fields.update(varying)
            fields.pop("fix", None)
            fields["fix"] = (
                rp.fix.format_map(fields) if rp.fix is not None else _generic_fix(address, port)
            )
            message = sentence(rule.message.format_map(fields))
            remediation = rule.remediation.format_map(fields)
        values = rp.finding.copy()
        if rp.matchers:
            verdict = _verdict(
                rp.matchers, today, rule.id, protocol, port, address, pv.name, pv.exe, rp.protected
            )
            if verdict.expired:
                message = _expired_note(message, verdict)
            values["waived"] = verdict.waived
            values["waiver_reason"] = verdict.reason
            values["waiver_expired"] = verdict.expired
        if note is not None:
            message += note
            values["severity"] = "info"
        values["message"] = message
        values["remediation"] = remediation
        values["fingerprint"] = listener_fingerprint_of(rp.fingerprint, tail)
        values["exposure"] = exp
        if who is not plan.who:
            values["identity"] = who
        out.append(records.from_values(Finding, values))
    return out


def _dangling_finding(
    ctx: _Context,
    rule: Rule,
    d: DanglingMapping,
    entry: PortEntry | None,
    waivers: Sequence[_WaiverMatcher],
    today: _dt.date,
) -> Finding:
    m = d.mapping
    protocol = m.protocol.lower()
    fields = _SafeFields(
        rule_id=rule.id,
        severity=rule.severity,
        title=rule.title,
        protocol=protocol,
        external_port=str(m.external_port),
        external_ip=ctx.external_ip,
        internal_client=m.internal_client,
        internal_port=str(m.internal_port),
        port=str(m.internal_port),
        endpoint=_endpoint(m.internal_client, m.internal_port),
        description=m.description or "no description",
        service=likely(entry.service) if entry else "an unrecognised service",
        delete_cmd=_delete_cmd((m,)),
        upnp_audience=ctx.upnp_audience,
    )
    protected = _protected(rule.id, entry.tags if entry else (), None)
    verdict = _verdict(
        waivers, today, rule.id, protocol, m.internal_port, m.internal_client, None, None, protected
    )
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        title=rule.title,
        message=_expired_note(sentence(rule.message.format_map(fields)), verdict),
        remediation=rule.remediation.format_map(fields),
        fingerprint=dangling_fingerprint(
            rule.id, protocol, m.external_port, m.internal_client, m.internal_port
        ),
        references=_references(rule, entry),
        dangling=d,
        waived=verdict.waived,
        waiver_reason=verdict.reason,
        waiver_expired=verdict.expired,
        tags=entry.tags if entry else (),
        service=entry.service if entry else None,
    )


def _filtered_findings(
    ctx: _Context,
    listener_rules: _RuleIndex,
    already: Sequence[Rule],
    exp: Exposure,
    today: _dt.date,
) -> list[Finding]:
    """Rules that match only because of reach the firewall provably blocks.

    Such an exposure is not silent: it is reported at ``info`` with the firewall rule
    as evidence (one ruleset change away from being real), under the same fingerprint
    it would have unfiltered.
    """
    plan, pv = ctx.plan(exp, (), listener_rules)
    done = {r.id for r in already}
    extra = [rp for rp in plan.rules if rp.rule.id not in done]
    if not extra:
        return []
    evidence = exp.firewall_evidence or next(
        (
            r.firewall_evidence
            for r in exp.reach
            if r.firewall == "filtered" and r.firewall_evidence
        ),
        None,
    )
    where = list(dict.fromkeys(r.interface for r in exp.reach if r.firewall == "filtered"))
    if exp.upnp_mappings and exp.upnp_firewall == "filtered":
        where.append(UPNP_BLOCKED)
        if exp.firewall != "filtered":  # the LAN reach is open: the UPnP evidence it is
            evidence = exp.upnp_firewall_evidence or evidence
    blocked_on = and_list(where)
    note = f" But the firewall blocks this on {blocked_on}, so it is reported as info only"
    note += f" (evidence: {evidence})." if evidence else "."
    return _plan_findings(plan, extra, exp, pv, today, note)


def _references(
    rule: Rule, entry: PortEntry | None, framework: Framework | None = None
) -> tuple[str, ...]:
    """The framework's references (they replace the rule's: a Django finding cites
    Django), else the rule's; then the port's, unless the process said it is another
    service than the port's usual one."""
    own = framework.references if framework is not None and framework.references else None
    refs = own if own is not None else rule.references
    if entry is None or not entry.references:
        return refs
    if framework is not None and not ident.agrees(framework, entry):
        return refs
    return tuple(dict.fromkeys((*refs, *entry.references)))


def _by_severity(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.rule_id))


_FINGERPRINT = operator.attrgetter("fingerprint")


def run_rules(
    ruleset: RuleSet,
    facts: Facts,
    exposures: Sequence[Exposure],
    dangling: Sequence[DanglingMapping],
    waivers: Sequence[Waiver],
    today: _dt.date,
) -> list[Finding]:
    """Every rule over every exposure and dangling mapping, ``waivers`` applied."""
    ctx = _Context(ruleset, facts)
    listener_rules = _RuleIndex([_compile(r) for r in ruleset.rules if r.kind == "listener"])
    dangling_rules = _RuleIndex(
        [_compile(r) for r in ruleset.rules if r.kind == "dangling_mapping"]
    )
    matchers = _waivers_for(waivers, facts.host.os)
    ctx.matchers = matchers
    groups: list[tuple[tuple[Any, ...], list[Finding]]] = []
    internet = SCOPE_RANK["internet"]
    no_blocked: tuple[str, ...] = ()
    for exp in exposures:
        if exp.firewall is None and exp.upnp_firewall is None:
            view, blocked = exp, no_blocked  # ctx.effective's answer, without the call
        else:
            view, blocked = ctx.effective(exp)
        plan, pv = ctx.plan(view, blocked, listener_rules)
        found = _plan_findings(plan, plan.rules, exp, pv, today) if plan.rules else []
        if blocked:
            hits = [rp.rule for rp in plan.rules]
            found.extend(_filtered_findings(ctx, listener_rules, hits, exp, today))
        if not found:
            continue
        lst = exp.listener
        if blocked:
            # a plan's rules are worst first already: only the info findings of blocked
            # reach join them out of order
            found = _by_severity(found)
            scope, severity = (
                -SCOPE_RANK.get(view.widest_scope, 0),
                -SEVERITY_RANK.get(found[0].severity, 0),
            )
        else:
            scope, severity = plan.order
        groups.append(((scope, severity, 0, lst.port, lst.protocol, lst.address), found))
    for d in dangling:
        subject, entry = ctx.dangling_subject(d)
        hits = dangling_rules.matching(subject)
        if not hits:
            continue
        findings = _by_severity(
            [_dangling_finding(ctx, r, d, entry, matchers, today) for r in hits]
        )
        m = d.mapping
        key = (
            -internet,
            -SEVERITY_RANK.get(findings[0].severity, 0),
            1,
            m.external_port,
            m.protocol,
            m.internal_client,
        )
        groups.append((key, findings))
    groups.sort(key=operator.itemgetter(0))
    flat = list(itertools.chain.from_iterable(findings for _key, findings in groups))
    if len(set(map(_FINGERPRINT, flat))) == len(flat):
        return flat
    # Sockets identical in all the fingerprint covers (SO_REUSEPORT siblings, one socket
    # per interface with SO_BINDTODEVICE) give one finding: the worst exposure's.
    seen: set[str] = set()
    out: list[Finding] = []
    for f in flat:
        if f.fingerprint not in seen:
            seen.add(f.fingerprint)
            out.append(f)
    return out
