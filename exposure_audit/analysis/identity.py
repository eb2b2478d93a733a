"""Which service a listener is, from evidence ranked strongest first. Pure: no I/O.

0. The service itself: what it answered to a probe (collectors/probe.py, recorded in the
   Facts). A recognised answer is the identity, whatever the process or the port say;
   an answer that names no particular service (a plain HTTP server, a timeout) is one
   more line of evidence. A framework with ``probe`` applies only to such an answer.
1. The process: its argv read as a shell would not (a rewritten process title split
   back into words, an entry-point wrapper seen through its interpreter), matched against
   the ``[[framework]]`` tables; a framework with a ``listen_flag`` is only the listener
   on the port that flag names (``--inspect=HOST:PORT``, ``--listen HOST:PORT``).
2. The environment: the named variables that switch a debugger on (``FLASK_DEBUG``,
   ``NODE_OPTIONS``), as the collector read them.
3. The port catalogue, last, and only as a likelihood ("port 8888 is usually Jupyter"):
   never against what the process says.

Also the words a fix needs: the command as it was started (``{command}``, with the
interpreter the user ran: ``python3``, a venv path), that command bound to loopback
instead (``{rebound}``) and the Python interpreter (``{python}``).
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence

from exposure_audit.core.model import Identity, ProbeResult, ProcessInfo
from exposure_audit.policy.conditions import Framework, PortEntry

_SHOWN = 200  # characters of a command line quoted as evidence
_INTERPRETERS = ("python", "node", "ruby", "perl")


def words(cmdline: Sequence[str]) -> tuple[str, ...]:
    """argv as meant: a rewritten process title (one string, from Facts written before
    the collector split it: ``'redis-server *:6379', '', ''``) back into words."""
    parts = list(cmdline)
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if len(parts) == 1 and " " in parts[0].strip() and not parts[0].startswith("/"):
        return tuple(parts[0].split())
    return tuple(parts)


def _is_interpreter(word: str) -> bool:
    return posixpath.basename(word).startswith(_INTERPRETERS)


def command(argv: Sequence[str]) -> tuple[str, ...]:
    """The command as the user typed it: an entry-point wrapper run through its
    interpreter (``/venv/bin/python3 /venv/bin/flask run``) is ``/venv/bin/flask run``."""
    if (
        len(argv) > 1
        and _is_interpreter(argv[0])
        and argv[1].startswith("/")
        and posixpath.basename(posixpath.dirname(argv[1])) == "bin"
        and not argv[1].endswith((".py", ".js", ".mjs", ".cjs"))
    ):
        return tuple(argv[1:])
    return tuple(argv)


def python_of(argv: Sequence[str]) -> str:
    """The Python interpreter as the process was started; an entry-point wrapper's own
    venv (``/venv/bin/flask`` -> ``/venv/bin/python``); else ``python3``."""
    if argv and posixpath.basename(argv[0]).startswith("python"):
        return argv[0]
    if len(argv) > 1 and posixpath.basename(argv[1]).startswith("python"):
        return argv[1]
    if argv and argv[0].startswith("/") and posixpath.basename(posixpath.dirname(argv[0])) == "bin":
        return posixpath.join(posixpath.dirname(argv[0]), "python")
    return "python3"


def _loopback_for(address: str) -> str:
    return "::1" if ":" in address else "127.0.0.1"


def rebound(argv: Sequence[str], address: str) -> tuple[str, ...] | None:
    """argv with the bound address (as a word, a flag's ``=value`` or a ``HOST:PORT``)
    replaced by loopback; None when the address is not in argv (the program's default
    or its configuration chose it, and the fix must say what to change instead)."""
    lo = _loopback_for(address)
    forms = [address]
    if ":" in address:
        forms = [f"[{address}]", address]
        lo_forms = [f"[{lo}]", lo]
    else:
        lo_forms = [lo]
    out: list[str] = []
    changed = False
    for w in argv:
        new = w
        for form, lo_form in zip(forms, lo_forms, strict=True):
            if new == form:
                new = lo_form
            elif new.endswith("=" + form):
                new = new[: -len(form)] + lo_form
            elif f"{form}:" in new and (new.startswith(form) or f"={form}:" in new):
                new = new.replace(f"{form}:", f"{lo_form}:", 1)
            if new != w:
                break
        changed = changed or new != w
        out.append(new)
    return tuple(out) if changed else None


def env_text(proc: ProcessInfo | None) -> str:
    """The named debugger variables as "NAME=value" lines (what ``env`` regexes search)."""
    if proc is None or not proc.environment:
        return ""
    return "\n".join(f"{name}={value}" for name, value in proc.environment)


def matching(
    candidates: Sequence[Framework],
    cmdline: str | None,
    env: str,
    port: int,
    probe: ProbeResult | None = None,
) -> Framework | None:
    """The first of ``candidates`` (already matched on process, command line,
    environment and container) that is the listener on ``port`` (and fits what its
    probe verified)."""
    answered = probe is not None and probe.outcome == "answered"
    service = probe.service if probe is not None and answered else None
    state = probe.state if probe is not None and answered else None
    for f in candidates:
        if not f.matches_probe(service, state):
            continue
        if f.ports is not None and port not in f.ports:
            continue
        if f.listen_flag is not None and f.flag_port(cmdline, env) != port:
            continue
        return f
    return None


def agrees(framework: Framework, entry: PortEntry) -> bool:
    """Whether the port catalogue's guess fits what the process says it is (same kind
    of service): its tags and references then still apply."""
    if not framework.describes or framework.tags is None:
        return True
    return framework.name in entry.service or not set(framework.tags).isdisjoint(entry.tags)


def _shown(text: str) -> str:
    return text[:_SHOWN] + ("..." if len(text) > _SHOWN else "")


# What a probe's answer showed, in words (the identity's name when nothing names it better).
PROBED: dict[str, str] = {
    "redis": "Redis",
    "memcached": "memcached",
    "postgresql": "PostgreSQL",
    "mongodb": "MongoDB",
    "werkzeug-debugger": "the Werkzeug debugger",
    "werkzeug": "a Werkzeug server",
    "jupyter": "Jupyter",
    "node-inspector": "the Node.js inspector",
    "docker-api": "the Docker API",
    "elasticsearch": "Elasticsearch",
    "metrics": "a Prometheus metrics endpoint",
    "http": "an HTTP server",
}


def probe_evidence(probe: ProbeResult) -> tuple[str, ...]:
    """The probe's answer as evidence lines, the first naming where it was asked."""
    where = (
        f"[{probe.target}]:{probe.port}" if ":" in probe.target else f"{probe.target}:{probe.port}"
    )
    lines = list(probe.evidence) or [probe.outcome]
    return (f"asked over {where} ({probe.probe} probe): {lines[0]}", *lines[1:])


def verified(probe: ProbeResult | None) -> bool:
    """The probe's answer names a particular service (not just "an HTTP server")."""
    return (
        probe is not None
        and probe.outcome == "answered"
        and probe.service is not None
        and probe.service != "http"
    )


def identity(
    framework: Framework | None,
    proc: ProcessInfo | None,
    port: int,
    entry: PortEntry | None,
    probe: ProbeResult | None = None,
    evidence: tuple[str, ...] | None = None,
) -> Identity | None:
    """The identity of the listener on ``port`` and its evidence; None when neither
    its probe, the process nor the catalogue says anything. ``evidence``: what
    ``process_evidence(framework, proc)`` gives, when the caller has it already."""
    base = _unprobed(framework, proc, port, entry, evidence)
    if probe is None:
        return base
    asked = probe_evidence(probe)
    if verified(probe) and probe.service is not None:
        if framework is not None and (framework.probe is not None or base is not None):
            name = framework.name
        else:
            name = PROBED.get(probe.service, probe.service)
        rest = base.evidence if base is not None and base.source != "catalogue" else ()
        return Identity(name, "probe", (*asked, *rest), framework.id if framework else None)
    if base is not None:
        return Identity(base.name, base.source, (*base.evidence, *asked), base.framework)
    if probe.outcome == "answered":
        return Identity(PROBED["http"], "probe", asked)
    return None


def process_evidence(framework: Framework, proc: ProcessInfo) -> tuple[str, ...]:
    """What the process shows of ``framework``, the port aside: the same for every
    listener of one process (the engine works it out once per process)."""
    argv = words(proc.cmdline)
    evidence: list[str] = []
    if framework.cmdline is not None or framework.listen_flag is not None:
        evidence.append(f"command line: {_shown(shlex.join(argv))}")
    elif proc.name:
        evidence.append(f"process name: {proc.name}")
    env = env_text(proc)
    if framework.env is not None:
        for line in env.splitlines():
            if framework.env.search(line):
                evidence.append(f"environment: {_shown(line)}")
                break
    flag_port = framework.flag_port(" ".join(argv), env)
    if flag_port is not None:
        evidence.append(f"its debugger flag names port {flag_port}")
    evidence.append(f"recognised as {framework.name} (framework {framework.id})")
    return tuple(evidence)


def _unprobed(
    framework: Framework | None,
    proc: ProcessInfo | None,
    port: int,
    entry: PortEntry | None,
    evidence: tuple[str, ...] | None = None,
) -> Identity | None:
    if framework is not None and proc is not None:
        if evidence is None:
            evidence = process_evidence(framework, proc)
        source = "process" if framework.env is None else "environment"
        if entry is not None and not agrees(framework, entry):
            evidence = (
                *evidence,
                f"port {port} is usually {entry.service}: not this one, the process says",
            )
        return Identity(framework.name, source, evidence, framework.id)
    if entry is not None:
        why = (
            "the process does not say which service it is"
            if proc is not None and proc.name
            else "the process behind it is not known"
        )
        return Identity(
            entry.service, "catalogue", (f"port {port} is usually {entry.service} ({why})",)
        )
    return None
